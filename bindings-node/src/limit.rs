//! Node face of `dashfeed::limit`: the keyed `RateLimiter` (`check` / `checkN` return a
//! `RateDecision`, `tryAcquire` throws `rate_limited` with `retryAfter` in ms, `await acquire(key)`
//! waits on JS timers until the call is allowed; a napi-rs `JsDeferred` settles its Promise). The
//! limiter itself is the core's (GCRA per key).

use crate::error::{guard, Code, Result};
use crate::napi::{args, js};
use crate::walk;
use dashfeed::codec::Value;
use dashfeed::limit::{LimiterConfig, RateLimiter as CoreLimiter};
use dashfeed::options::{FromOptions, Style};
use dashfeed::Error;
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue, Unknown};
use napi::{Env, JsDeferred, JsValue, ValueType};
use napi_derive::napi;
use std::cell::RefCell;
use std::rc::Rc;

/// Whether a call may go ahead now, and if not, how long to wait. An object, so always truthy:
/// test `.allowed` (`if (limiter.check(id).allowed)`), not the decision itself — unlike Python's
/// `RateDecision`, which is falsy when refused and gives `retry_after` in seconds.
#[napi(object, object_from_js = false)]
pub struct RateDecision {
    /// True when the call was taken.
    pub allowed: bool,
    /// Milliseconds until the call would be allowed (0 when allowed).
    pub retry_after_ms: f64,
}

/// A rate limiter keyed by client or dashboard: `rate` calls per second with bursts of `burst` per
/// key (default: `rate` rounded up). `new RateLimiter(10, 20)`. The rate is per second as in Python;
/// the waits it reports are in milliseconds (`retryAfterMs`, the error's `retryAfter`).
#[napi]
pub struct RateLimiter {
    inner: Rc<CoreLimiter>,
}

/// The decision for a core result: `rate_limited` is a decision, any other error is thrown.
fn decide(r: dashfeed::Result<()>) -> Result<RateDecision> {
    match r {
        Ok(()) => Ok(RateDecision {
            allowed: true,
            retry_after_ms: 0.0,
        }),
        Err(Error::RateLimited { retry_after }) => Ok(RateDecision {
            allowed: false,
            retry_after_ms: crate::units::ms_of(retry_after),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Runs `f` on the text of a string key (`invalid_input` for anything else).
fn with_key<R>(key: &Unknown<'_>, f: impl FnOnce(&str) -> R) -> Result<R> {
    if key.get_type()? != ValueType::String {
        return Err(Error::invalid("the key must be a string").into());
    }
    args::with_text(key.value().env, key.raw(), "the key", f)
}

#[napi]
impl RateLimiter {
    /// `rate` calls per second (in 1e-9..=1e9) with bursts of `burst` (≥ 1); `clock`: a test clock.
    /// `invalid_input` on a bad quota.
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "rate: number, burst?: number | null, clock?: ManualClock | null"
    )]
    pub fn new(
        rate: Unknown<'_>,
        burst: Option<Unknown<'_>>,
        clock: Option<Unknown<'_>>,
    ) -> napi::Result<Self, Code> {
        guard(|| {
            let env = rate.value().env;
            let arg = |v: Option<Unknown<'_>>| {
                v.map_or(Ok(Value::Nil), |v| walk::to_value(env, v.raw(), 1))
            };
            let options = Value::Map(vec![
                ("rate".into(), arg(Some(rate))?),
                ("burst".into(), arg(burst)?),
            ]);
            let config = LimiterConfig::from_value(&options, Style::NODE)?;
            let clock = crate::clock::read(clock)?;
            let inner = CoreLimiter::with_clock(config, clock)?;
            Ok(RateLimiter {
                inner: Rc::new(inner),
            })
        })
    }

    /// Takes one call for `key` if allowed; otherwise says how long to wait. Returns
    /// `{ allowed, retryAfterMs }`, an object even when refused: write
    /// `if (limiter.check(id).allowed)`, never `if (limiter.check(id))` (always true).
    #[napi(catch_unwind, ts_args_type = "key: string")]
    pub fn check(&self, key: Unknown<'_>) -> napi::Result<RateDecision, Code> {
        guard(|| decide(with_key(&key, |k| self.inner.check(k))?))
    }

    /// Takes `n` calls at once for `key`, all or none (weighted limits); `n` above the burst is
    /// `invalid_input`.
    #[napi(catch_unwind, ts_args_type = "key: string, n: number")]
    pub fn check_n(&self, key: Unknown<'_>, n: Unknown<'_>) -> napi::Result<RateDecision, Code> {
        guard(|| {
            let n = args::count("n", args::number(n.value().env, n.raw(), "n")?)?;
            decide(with_key(&key, |k| self.inner.check_n(k, n))?)
        })
    }

    /// Like `check`, but throws the `rate_limited` error (with `retryAfter` in ms) when limited.
    #[napi(catch_unwind, ts_args_type = "key: string")]
    pub fn try_acquire(&self, key: Unknown<'_>) -> napi::Result<(), Code> {
        guard(|| Ok(with_key(&key, |k| self.inner.check(k))??))
    }

    /// Waits until a call for `key` is allowed, then takes it. Each wait is a JS timer of the
    /// reported retry time (a `ManualClock` must be advanced for the wait to end).
    #[napi(
        catch_unwind,
        ts_args_type = "key: string",
        ts_return_type = "Promise<void>"
    )]
    pub fn acquire<'env>(
        &self,
        env: &'env Env,
        key: Unknown<'env>,
    ) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            let key_text = with_key(&key, str::to_owned)?;
            match self.inner.check(&key_text) {
                Ok(()) => Ok(PromiseRaw::resolve(env, ())?.into_unknown(env)?),
                Err(Error::RateLimited { retry_after }) => {
                    let (deferred, promise) = env.create_deferred()?;
                    let waiter = Rc::new(Waiter {
                        limiter: Rc::clone(&self.inner),
                        key: key_text,
                        deferred: RefCell::new(Some(deferred)),
                    });
                    if let Err(e) = waiter.arm(env, crate::units::ms_of(retry_after)) {
                        // The promise is never returned, but an unsettled deferred would keep its
                        // threadsafe function, and with it the event loop, alive.
                        waiter.abandon();
                        return Err(e);
                    }
                    Ok(promise.into_unknown(env)?)
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Drops the keys whose budget is full again (they behave as new keys).
    #[napi(catch_unwind)]
    pub fn retain_recent(&self) {
        self.inner.retain_recent();
    }

    /// Number of keys stored.
    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> u32 {
        u32::try_from(self.inner.len()).unwrap_or(u32::MAX)
    }

    /// Calls per second.
    #[napi(getter, catch_unwind)]
    pub fn rate(&self) -> f64 {
        self.inner.config().rate
    }

    /// Calls allowed at once.
    #[napi(getter, catch_unwind)]
    pub fn burst(&self) -> u32 {
        self.inner.config().burst
    }
}

/// The settling half of a waiting `acquire`'s promise (napi-rs settles it on the JS thread).
type Settle = JsDeferred<(), fn(Env) -> napi::Result<()>>;

/// An `acquire` waiting for its key's budget.
struct Waiter {
    limiter: Rc<CoreLimiter>,
    key: String,
    deferred: RefCell<Option<Settle>>,
}

impl Waiter {
    /// Checks again after `ms` (at least 1 ms: timers are in whole ms), on a JS timer.
    fn arm(self: &Rc<Self>, env: &Env, ms: f64) -> Result<()> {
        let waiter = Rc::clone(self);
        let f = env.create_function_from_closure::<(), (), _>("retryAcquire", move |ctx| {
            if let Err(e) = waiter.retry(ctx.env) {
                crate::error::throw(ctx.env.raw(), e);
            }
            Ok(())
        })?;
        js::set_timeout(env.raw(), f.raw(), ms.ceil().max(1.0)).map(|_| ())
    }

    /// The timer fired: the promise resolves once the call is allowed, else the timer is re-armed.
    fn retry(self: &Rc<Self>, env: &Env) -> Result<()> {
        let outcome = match self.limiter.check(&self.key) {
            Ok(()) => Ok(true),
            Err(Error::RateLimited { retry_after }) => self
                .arm(env, crate::units::ms_of(retry_after))
                .map(|()| false),
            Err(e) => Err(e.into()),
        };
        if let Ok(false) = outcome {
            return Ok(());
        }
        let Some(d) = self.deferred.borrow_mut().take() else {
            return Ok(());
        };
        match outcome {
            Err(e) => match crate::error::rejection(env, e) {
                Ok(err) => d.reject(err),
                Err(e) => {
                    d.reject(napi::Error::from_reason("acquire failed"));
                    return Err(e);
                }
            },
            _ => d.resolve(|_| Ok(())),
        }
        Ok(())
    }

    /// Settles the promise of a wait that cannot go on (its timer could not be set): a deferred
    /// left unsettled would keep the event loop alive.
    fn abandon(&self) {
        if let Some(d) = self.deferred.borrow_mut().take() {
            d.reject(napi::Error::from_reason("acquire could not wait"));
        }
    }
}
