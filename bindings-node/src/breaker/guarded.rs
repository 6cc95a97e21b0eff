//! The guarded call: `breaker.fire(fn, ...args)` (always a Promise) and `breaker.call(fn, ...args)`
//! (synchronous for synchronous functions).
//!
//! Both are closures of a small JavaScript helper (`bindings-node/js/breaker.js`, compiled into the
//! addon and run once per breaker) around the native hooks defined here; every decision is native:
//! What a call records and what answers it is the core's decision (`dashfeed::breaker::Guard`); the
//! hooks run the user's error filter and fallback and map the core's answer to JavaScript:
//! - `begin(fn)`: checks `fn`, asks the core for a permit and keeps it in a slot (`slots`);
//!   returns its token, or, when rejected, `-1 - retryAfter` (in ms).
//! - `rejected(args, RAISED, token)`: answers a rejected call (`fn` was not called) as the core
//!   decides (`Guard::rejected`): `fallback(...args)` when set, else `RAISED` carrying the
//!   `circuit_open` error (with `retryAfter` in ms), which the helper throws or rejects with (a
//!   throw across the native boundary would cost more than the rest of the rejection).
//! - `hold(token)`: a half-open trial returned a thenable: its permit moves from its slot into an
//!   external the pending call's closures keep. If the thenable never settles and is
//!   garbage-collected (without `timeout`), the external is too, and the dropped permit counts as
//!   ignored, freeing the trial slot (else an abandoned trial would hold the breaker half-open).
//!   Closed-state calls keep their slot token: a GC finalizer per call would cost more than the
//!   rest of the call.
//! - `end(token, kind, value, args)`: reports the outcome and answers. A value is a success
//!   (returned as is). An error is a failure and the original error stands (`RETHROW`: the helper
//!   throws it again, so it passes through unchanged), unless the `errorFilter` excludes it
//!   (ignored, no fallback) or a fallback answers; a filter that throws counts a failure and its
//!   exception is thrown. A timeout (the helper's timer won the race) is a timeout failure,
//!   answered with the `timeout` error or the fallback. A token whose permit was already taken
//!   (the loser of that race) answers `undefined`.
//!
//! Durations are measured on the breaker's clock from `begin`, and the core classifies them too: a
//! call at least `timeout` long, or longer than `slowCallDuration`, is a failure even if it
//! returned.
//!
//! Raw Node-API (the kit's native functions and raw values): the hooks run once or twice per
//! guarded call and take a variable number of arguments. Bench rows: `node bench/breaker.js`, every
//! dashfeed row: "closed, guarded sync no-op", "closed, guarded async no-op", "closed, async no-op,
//! 10 s timeout", "50% failures" and "sync `breaker.call(noop)`" run `begin` and `end`; "open,
//! rejected call" runs `begin` and `rejected`. No row runs `hold` (a half-open trial returning a
//! thenable), an error filter or a fallback: they are answered by the same hooks. The breaker's
//! holder object (made once per breaker, read by the hooks) is kept here too.

use super::events::Events;
use super::slots::Slots;
use crate::error::Result;
use crate::napi::convert;
use crate::napi::js::{self, Env, Ref, Value};
use crate::napi::raw;
use dashfeed::breaker::{Answer, CallEnd, CircuitBreaker, Failure, Guard, OwnedPermit};
use dashfeed::Error;
use napi::bindgen_prelude::{Object, Unknown};
use napi::JsValue;
use std::cell::RefCell;
use std::ffi::CStr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// The helper's source: one function expression (see its header).
const GUARDS: &str = include_str!("../../js/breaker.js");

/// Outcome kinds the helper passes to `end`.
const FULFILLED: f64 = 0.0;
const REJECTED: f64 = 1.0;

/// The state of a breaker that its native hooks share.
///
/// The JS values a breaker keeps (`fallback`, `errorFilter`, the listeners) live in a holder
/// object, not behind GC roots: the instance (a hidden symbol-keyed property), its `fire` / `call`
/// closures and every pending call (the helper's closure scope) reach the holder from
/// JavaScript's side, and `Shared` only weakly. So a listener that captures the breaker does not keep
/// it alive forever, as with an `EventEmitter`.
pub struct Shared {
    /// The core breaker.
    pub core: Arc<CircuitBreaker>,
    /// The call timeout, if set.
    pub timeout: Option<Duration>,
    /// Whether a fallback is set: what the core's decision needs to know.
    guard: Guard,
    has_filter: bool,
    holder: Ref,
    /// Permits of calls between `begin` and `end` / `hold`.
    slots: RefCell<Slots>,
    /// The JS listeners.
    pub events: Events,
}

/// How a guarded call ended.
enum Settled {
    /// Returned this value (or the fallback did).
    Value(Value),
    /// The error the call failed with stands (the helper throws it again).
    Rethrow,
    /// Ends with this error (the timeout error, or what the filter or the fallback threw).
    Thrown(Value),
}

impl Shared {
    /// The shared state of a new breaker. Attach its holder to the JS objects that reach it with
    /// [`Shared::tag`].
    pub fn new(
        env: Env,
        core: CircuitBreaker,
        fallback: Option<Unknown<'_>>,
        error_filter: Option<Unknown<'_>>,
    ) -> Result<Rc<Shared>> {
        let (fallback, error_filter) = (fallback.map(|f| f.raw()), error_filter.map(|f| f.raw()));
        let h = js::object(env)?;
        js::set(env, h, c"rethrow", js::object(env)?)?;
        js::set(env, h, c"raised", js::array(env, &[])?)?;
        if let Some(f) = fallback {
            js::set(env, h, c"fallback", f)?;
        }
        if let Some(f) = error_filter {
            js::set(env, h, c"errorFilter", f)?;
        }
        Ok(Rc::new(Shared {
            timeout: core.config().timeout,
            core: Arc::new(core),
            guard: Guard {
                fallback: fallback.is_some(),
            },
            has_filter: error_filter.is_some(),
            holder: Ref::weak(env, h)?,
            slots: RefCell::new(Slots::default()),
            events: Events::default(),
        }))
    }

    /// The holder object; `internal` if it was collected (it cannot be while JavaScript can reach
    /// this breaker).
    pub fn holder(&self, env: Env) -> Result<Value> {
        self.holder.get(env)
    }

    /// The holder object, where the listeners are kept (see `events`).
    pub fn holder_object<'env>(&self, env: &'env napi::Env) -> Result<Object<'env>> {
        Ok(Object::from_raw(env.raw(), self.holder(env.raw())?))
    }

    /// Makes `obj` reference the holder (a hidden symbol-keyed property).
    fn tag(&self, env: Env, obj: Value) -> Result<()> {
        let key = js::symbol(env, "dashfeed.breaker")?;
        js::define_hidden(env, obj, key, self.holder(env)?)
    }

    /// Delivers queued events to the JS listeners.
    pub fn flush(&self, env: Env) -> Result<()> {
        let holder = || Ok(self.holder.upgrade(env)?.map(|h| Object::from_raw(env, h)));
        self.events.flush(&napi::Env::from_raw(env), holder)
    }

    fn held(&self, env: Env, name: &CStr) -> Result<Value> {
        raw::named(env, self.holder(env)?, name)
    }

    /// What the error filter says about `err`, and the exception it threw, if it did.
    fn filter(&self, env: Env, err: Value) -> Result<(Failure, Option<Value>)> {
        if !self.has_filter {
            return Ok((Failure::Counted, None));
        }
        let f = self.held(env, c"errorFilter")?;
        Ok(match js::call(env, f, js::undefined(env)?, &[err])? {
            Ok(v) if js::truthy(env, v)? => (Failure::Excluded, None),
            Ok(_) => (Failure::Counted, None),
            Err(thrown) => (Failure::FilterThrew, Some(thrown)),
        })
    }

    /// Records how the call of `permit` ended (`kind`, with `value`: its result or error) through
    /// the core's decision, and maps the answer; `args` (a JS array) are the fallback's.
    fn settle(
        &self,
        env: Env,
        permit: OwnedPermit,
        kind: f64,
        value: Value,
        args: Value,
    ) -> Result<Settled> {
        let mut filter_error = None;
        let end = if kind == FULFILLED {
            CallEnd::Returned
        } else if kind == REJECTED {
            match self.filter(env, value) {
                Ok((failure, thrown)) => {
                    filter_error = thrown;
                    CallEnd::Failed(failure)
                }
                Err(e) => {
                    let _counted = permit.settle(self.guard, CallEnd::Failed(Failure::Counted));
                    return Err(e);
                }
            }
        } else {
            CallEnd::TimedOut
        };
        let answer = permit.settle(self.guard, end);
        self.flush(env)?;
        self.map_answer(env, answer, value, filter_error, args)
    }

    /// The core's `answer` in JavaScript terms.
    fn map_answer(
        &self,
        env: Env,
        answer: Answer,
        value: Value,
        filter_error: Option<Value>,
        args: Value,
    ) -> Result<Settled> {
        Ok(match answer {
            Answer::Value => Settled::Value(value),
            Answer::Rethrow => Settled::Rethrow,
            Answer::FilterError => Settled::Thrown(filter_error.unwrap_or(value)),
            Answer::Fallback => self.fallback(env, args)?,
            Answer::Raise(e) => Settled::Thrown(crate::error::to_js(env, &e)?),
        })
    }

    /// `fallback(...args)` (`args` a JS array) and how it ended.
    fn fallback(&self, env: Env, args: Value) -> Result<Settled> {
        let items = if js::is_array(env, args)? {
            (0..raw::array_len(env, args)?)
                .map(|i| raw::element(env, args, i))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let fb = self.held(env, c"fallback")?;
        Ok(match js::call(env, fb, js::undefined(env)?, &items)? {
            Ok(v) => Settled::Value(v),
            Err(thrown) => Settled::Thrown(thrown),
        })
    }
}

/// The permit of a call that returned a thenable, owned by the external the helper passes back.
struct Held(RefCell<Option<OwnedPermit>>);

/// Gives a new breaker object `this` its `fire` and `call` (own, non-enumerable properties) and
/// the hidden reference to its holder.
pub fn install(env: &napi::Env, this: &Object<'_>, shared: &Rc<Shared>) -> Result<()> {
    let (env, obj) = (env.raw(), this.raw());
    let (fire, call) = make(env, shared)?;
    shared.tag(env, obj)?;
    js::define_method(env, obj, c"fire", fire)?;
    js::define_method(env, obj, c"call", call)
}

/// A new pair of `fire` and `call` closures (the class getters' answer once the own properties are
/// gone).
pub fn pair<'env>(
    env: &'env napi::Env,
    shared: &Rc<Shared>,
) -> Result<(Unknown<'env>, Unknown<'env>)> {
    let (fire, call) = make(env.raw(), shared)?;
    Ok((
        convert::unknown(env.raw(), fire),
        convert::unknown(env.raw(), call),
    ))
}

/// The `fire` and `call` closures of a breaker (whose scope holds the breaker's holder).
fn make(env: Env, shared: &Rc<Shared>) -> Result<(Value, Value)> {
    let guards = js::compile(env, GUARDS)?;
    let hooks = [
        js::function(env, c"begin", Rc::clone(shared), begin)?,
        js::function(env, c"end", Rc::clone(shared), end)?,
        js::function(env, c"rejected", Rc::clone(shared), rejected)?,
        js::function(env, c"hold", Rc::clone(shared), hold)?,
        shared.holder(env)?,
        shared.held(env, c"rethrow")?,
        shared.held(env, c"raised")?,
        match shared.timeout {
            Some(t) => js::number(env, crate::units::ms_of(t))?,
            None => js::undefined(env)?,
        },
    ];
    let pair = match js::call(env, guards, js::undefined(env)?, &hooks)? {
        Ok(pair) => pair,
        Err(thrown) => return Err(crate::error::throw_value(env, thrown)),
    };
    Ok((
        raw::named(env, pair, c"fire")?,
        raw::named(env, pair, c"call")?,
    ))
}

/// `begin(fn)`: a stack token for an admitted call, or -1 when rejected.
fn begin(env: Env, shared: &Rc<Shared>, _this: Value, args: &[Value]) -> Result<Value> {
    let func = match args.first() {
        Some(&f) => f,
        None => js::undefined(env)?,
    };
    if !js::is_function(env, func)? {
        let t = raw::type_name(raw::type_of(env, func)?);
        return Err(Error::invalid(format!("the breaker calls a function, not {t}")).into());
    }
    let token = match shared.core.acquire_owned() {
        Ok(permit) => shared.slots.borrow_mut().insert(permit)?,
        // The retry time rides in the token, for `rejected`.
        Err(Error::CircuitOpen { retry_after }) => -1.0 - crate::units::ms_of(retry_after),
        Err(e) => return Err(e.into()),
    };
    shared.flush(env)?;
    js::number(env, token)
}

/// `rejected(args, RAISED, token)`: the answer to a call `begin` rejected with `token`, as the
/// core decides it: the fallback's, or `RAISED` holding the `circuit_open` error in element 0.
fn rejected(env: Env, shared: &Rc<Shared>, _this: Value, args: &[Value]) -> Result<Value> {
    let undefined = js::undefined(env)?;
    let arg = |i: usize| args.get(i).copied().unwrap_or(undefined);
    let ms = -1.0 - js::number_value(env, arg(2))?;
    let retry_after = Duration::from_nanos((ms * 1e6).round().max(0.0) as u64);
    match shared.guard.rejected(Error::CircuitOpen { retry_after }) {
        Answer::Raise(e) => {
            // RAISED (the helper's one-slot array, passed in): the error goes in element 0.
            let raised = arg(1);
            js::set_element(env, raised, 0, crate::error::to_js(env, &e)?)?;
            Ok(raised)
        }
        other => {
            let settled = shared.map_answer(env, other, undefined, None, arg(0))?;
            answer(env, shared, settled)
        }
    }
}

/// `hold(token)`: moves the permit of a trial's token into an external.
fn hold(env: Env, shared: &Rc<Shared>, _this: Value, args: &[Value]) -> Result<Value> {
    let token = match args.first() {
        Some(&t) => js::number_value(env, t)?,
        None => -1.0,
    };
    let permit = shared.slots.borrow_mut().take(token);
    convert::external(env, Held(RefCell::new(permit)))
}

/// `end(token, kind, value, args)`: reports the outcome and answers with the call's result.
fn end(env: Env, shared: &Rc<Shared>, _this: Value, args: &[Value]) -> Result<Value> {
    let undefined = js::undefined(env)?;
    let arg = |i: usize| args.get(i).copied().unwrap_or(undefined);
    let token = arg(0);
    let permit = if raw::type_of(env, token)? == napi::sys::ValueType::napi_number {
        let token = js::number_value(env, token)?;
        shared.slots.borrow_mut().take(token)
    } else {
        // The helper's non-number tokens are the externals `hold` made (checked by type).
        let held = convert::external_ref::<Held>(env, token)?;
        held.0.borrow_mut().take()
    };
    let Some(permit) = permit else {
        return Ok(undefined);
    };
    let kind = js::number_value(env, arg(1))?;
    let settled = shared.settle(env, permit, kind, arg(2), arg(3))?;
    answer(env, shared, settled)
}

/// The helper's answer: a value, `RETHROW`, or a thrown error.
fn answer(env: Env, shared: &Shared, settled: Settled) -> Result<Value> {
    match settled {
        Settled::Value(v) => Ok(v),
        Settled::Rethrow => shared.held(env, c"rethrow"),
        Settled::Thrown(e) => Err(crate::error::throw_value(env, e)),
    }
}
