//! Node face of `dashfeed::breaker`: the `CircuitBreaker` class (`fire`, `call`, `acquire`, `state`,
//! `stats`, `open` / `close` / `reset`, `on` / `off`) and its `Permit`.
//!
//! The state machine is the core's; this file converts and wires. `fire(fn, ...args)` and
//! `call(fn, ...args)` take any number of arguments, which napi-rs methods cannot: they are closures
//! made per breaker by `guarded` (a small JS helper around native hooks) and installed as own
//! properties of the instance by the constructor. The class also has `fire` / `call` getters, which
//! carry the TypeScript types and make a new pair when reached (only if the own property was
//! deleted). The children of this module: `options` (constructor options, `stats`, the event
//! type), `guarded` (the guarded call and the state its hooks share), `events` (listeners) and
//! `slots` (the permits of calls in progress).

mod events;
mod guarded;
pub(crate) mod options;
mod slots;

use crate::error::{guard, Code, Result};
use crate::napi::args;
use dashfeed::breaker::{CircuitBreaker as CoreBreaker, Outcome, OwnedPermit};
use dashfeed::Error;
use events::Kind;
use guarded::Shared;
use napi::bindgen_prelude::{Env, ObjectFinalize, ObjectRef, This, Unknown};
use napi::{JsValue, ValueType};
use napi_derive::napi;
use options::BreakerStats;
use std::cell::RefCell;
use std::rc::Rc;

/// A circuit breaker (states `'closed'`, `'open'`, `'half_open'`) guarding calls to a flaky
/// dependency: `await breaker.fire(fn, ...args)`. A rejected call fails with an `Error` whose
/// `.code` is `"circuit_open"` (and `retryAfter` in ms) without calling `fn`, or resolves with
/// `fallback(...args)` when one is set; the error `fn` throws passes through unchanged.
/// `fire` and `call` are own properties bound to the breaker (`const { fire } = breaker` works).
#[napi]
pub struct CircuitBreaker {
    shared: Rc<Shared>,
}

impl CircuitBreaker {
    /// Delivers queued events, then returns `v`.
    fn flushed<T>(&self, env: &Env, v: T) -> Result<T> {
        self.shared.flush(env.raw())?;
        Ok(v)
    }
}

#[napi]
impl CircuitBreaker {
    /// A breaker with `options` (see `CircuitBreakerOptions`); `invalid_input` on a bad option.
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "options?: CircuitBreakerOptions"
    )]
    pub fn new(env: &Env, this: This, options: Option<Unknown<'_>>) -> napi::Result<Self, Code> {
        guard(|| {
            let parsed = options::parse(env, options)?;
            let core = CoreBreaker::with_clock(parsed.config, parsed.clock)?;
            let shared = Shared::new(env.raw(), core, parsed.fallback, parsed.error_filter)?;
            guarded::install(env, &this.object, &shared)?;
            Ok(CircuitBreaker { shared })
        })
    }

    /// `fire(fn, ...args)`: runs `fn(...args)` through the breaker and returns a Promise of its
    /// result (sync and async functions alike). See the class docs.
    #[napi(
        getter,
        catch_unwind,
        ts_return_type = "<T, A extends unknown[]>(fn: (...args: A) => T | PromiseLike<T>, ...args: A) => Promise<T>"
    )]
    pub fn fire<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>, Code> {
        guard(|| Ok(guarded::pair(env, &self.shared)?.0))
    }

    /// `call(fn, ...args)`: like `fire`, but synchronous for a synchronous `fn` (returns its
    /// result or throws); when `fn` returns a Promise, returns the guarded Promise.
    #[napi(
        getter,
        catch_unwind,
        ts_return_type = "<T, A extends unknown[]>(fn: (...args: A) => T, ...args: A) => T"
    )]
    pub fn call<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>, Code> {
        guard(|| Ok(guarded::pair(env, &self.shared)?.1))
    }

    /// `'closed'`, `'open'` or `'half_open'`. Reading it moves a due open breaker to half-open.
    #[napi(
        getter,
        catch_unwind,
        ts_return_type = "'closed' | 'open' | 'half_open'"
    )]
    pub fn state(&self, env: &Env) -> napi::Result<&'static str, Code> {
        guard(|| self.flushed(env, self.shared.core.state().name()))
    }

    /// Counters and state.
    #[napi(getter, catch_unwind)]
    pub fn stats(&self, env: &Env) -> napi::Result<BreakerStats, Code> {
        guard(|| {
            let state = self.shared.core.state().name().to_string();
            let c = self.shared.core.counters();
            let stats = BreakerStats {
                state,
                calls: c.calls as f64,
                successes: c.successes as f64,
                failures: c.failures as f64,
                ignored: c.ignored as f64,
                rejections: c.rejections as f64,
                slow_calls: c.slow_calls as f64,
                timeouts: c.timeouts as f64,
                state_changes: c.state_changes as f64,
            };
            self.flushed(env, stats)
        })
    }

    /// Forces the breaker open (every call rejected) until `close()` or `reset()`.
    #[napi(catch_unwind)]
    pub fn open(&self, env: &Env) -> napi::Result<(), Code> {
        guard(|| {
            self.shared.core.open();
            self.flushed(env, ())
        })
    }

    /// Closes the breaker and clears its failure counts.
    #[napi(catch_unwind)]
    pub fn close(&self, env: &Env) -> napi::Result<(), Code> {
        guard(|| {
            self.shared.core.close();
            self.flushed(env, ())
        })
    }

    /// Closes the breaker and zeroes its counters.
    #[napi(catch_unwind)]
    pub fn reset(&self, env: &Env) -> napi::Result<(), Code> {
        guard(|| {
            self.shared.core.reset();
            self.flushed(env, ())
        })
    }

    /// A permit for one call made by hand: report its outcome on the permit. Throws the
    /// `circuit_open` error (with `retryAfter`) when the breaker rejects the call.
    #[napi(catch_unwind)]
    pub fn acquire(&self, env: &Env) -> napi::Result<Permit, Code> {
        guard(|| {
            let granted = self.shared.core.acquire_owned();
            self.shared.flush(env.raw())?;
            Ok(Permit {
                inner: RefCell::new(Some(granted?)),
                shared: Rc::clone(&self.shared),
                holder: self.shared.holder_object(env)?.create_ref()?,
            })
        })
    }

    /// Calls `listener(event)` for every event of that name (see `BreakerEvent`); returns an id
    /// for `off`. Listeners run synchronously on the JS thread, before the call that caused the
    /// event returns. A listener that throws breaks neither the call nor the other listeners; its
    /// exception is re-thrown in a microtask, so it reaches `process.on('uncaughtException')`
    /// (without a handler Node prints it and exits), as with an EventEmitter listener.
    #[napi(
        catch_unwind,
        ts_args_type = "event: 'open' | 'halfOpen' | 'close' | 'stateChange' | 'reject' | 'success' | 'failure' | 'ignored', listener: (event: BreakerEvent) => void"
    )]
    pub fn on(
        &self,
        env: &Env,
        event: Unknown<'_>,
        listener: Unknown<'_>,
    ) -> napi::Result<u32, Code> {
        guard(|| {
            let kind = events::kind_named(&event)?;
            if listener.get_type()? != ValueType::Function {
                return Err(Error::invalid("the listener must be a function").into());
            }
            let mut holder = self.shared.holder_object(env)?;
            let core = &self.shared.core;
            self.shared.events.add(core, &mut holder, kind, listener)
        })
    }

    /// Removes a listener: `off(id)` with the id `on` returned, or `off(event, listener)`. True if
    /// one was removed.
    #[napi(
        catch_unwind,
        ts_args_type = "eventOrId: 'open' | 'halfOpen' | 'close' | 'stateChange' | 'reject' | 'success' | 'failure' | 'ignored' | number, listener?: (event: BreakerEvent) => void"
    )]
    pub fn off(
        &self,
        env: &Env,
        event_or_id: Unknown<'_>,
        listener: Option<Unknown<'_>>,
    ) -> napi::Result<bool, Code> {
        guard(|| {
            let core = &self.shared.core;
            let mut holder = self.shared.holder_object(env)?;
            if event_or_id.get_type()? == ValueType::Number {
                let id = args::number(env.raw(), event_or_id.raw(), "id")?;
                let id = args::count("listener id", id)?;
                return self.shared.events.remove_id(core, &mut holder, id);
            }
            let kind: Kind = events::kind_named(&event_or_id)?;
            match listener {
                Some(f) => self
                    .shared
                    .events
                    .remove_fn(core, env, &mut holder, kind, &f),
                None => Err(Error::invalid("off(event, listener) needs the listener").into()),
            }
        })
    }
}

/// Permission for one call (from `breaker.acquire()`): report exactly one outcome. A permit that
/// is garbage-collected unreported counts as ignored.
#[napi(custom_finalize)]
pub struct Permit {
    inner: RefCell<Option<OwnedPermit>>,
    shared: Rc<Shared>,
    /// Keeps the breaker's listeners alive while the permit is.
    holder: ObjectRef<false>,
}

impl ObjectFinalize for Permit {
    fn finalize(self, env: Env) -> napi::Result<()> {
        self.holder.unref(&env)
    }
}

impl Permit {
    fn report(&self, env: &Env, outcome: Outcome, duration_ms: Option<Unknown<'_>>) -> Result<()> {
        let d = args::opt_number("durationMs", duration_ms)?
            .map(|ms| args::millis("durationMs", ms))
            .transpose()?;
        let permit = self
            .inner
            .borrow_mut()
            .take()
            .ok_or_else(|| Error::invalid("this permit's outcome was already reported"))?;
        match (outcome, d) {
            (Outcome::Ignored, _) => permit.ignore(),
            (_, Some(d)) => permit.report(outcome, d),
            (_, None) => permit.report_elapsed(outcome),
        }
        self.shared.flush(env.raw())
    }
}

#[napi]
impl Permit {
    /// Reports a success; `durationMs` defaults to the time since `acquire()` on the breaker's
    /// clock.
    #[napi(catch_unwind, ts_args_type = "durationMs?: number")]
    pub fn success(&self, env: &Env, duration_ms: Option<Unknown<'_>>) -> napi::Result<(), Code> {
        guard(|| self.report(env, Outcome::Success, duration_ms))
    }

    /// Reports a failure; `durationMs` defaults to the time since `acquire()`.
    #[napi(catch_unwind, ts_args_type = "durationMs?: number")]
    pub fn failure(&self, env: &Env, duration_ms: Option<Unknown<'_>>) -> napi::Result<(), Code> {
        guard(|| self.report(env, Outcome::Failure, duration_ms))
    }

    /// Reports a timeout (a failure); `durationMs` defaults to the time since `acquire()`.
    #[napi(catch_unwind, ts_args_type = "durationMs?: number")]
    pub fn timeout(&self, env: &Env, duration_ms: Option<Unknown<'_>>) -> napi::Result<(), Code> {
        guard(|| self.report(env, Outcome::Timeout, duration_ms))
    }

    /// Reports an outcome that does not count (an excluded error).
    #[napi(catch_unwind)]
    pub fn ignore(&self, env: &Env) -> napi::Result<(), Code> {
        guard(|| self.report(env, Outcome::Ignored, None))
    }

    /// Milliseconds since the permit was granted, on the breaker's clock (0 once reported).
    #[napi(getter, catch_unwind)]
    pub fn elapsed_ms(&self) -> f64 {
        self.inner
            .borrow()
            .as_ref()
            .map_or(0.0, |p| crate::units::ms_of(p.elapsed()))
    }
}
