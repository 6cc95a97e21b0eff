//! Maps `dashfeed::Error` to JavaScript errors, once, for the whole module.
//!
//! Every error this module throws is a plain JS `Error` whose `.code` is the core's stable
//! snake_case code (`err.code()`, e.g. `"decode_error"`) and whose `.message` is the core's
//! `Display` text (which names the retry time for `circuit_open` / `rate_limited`). napi 3 carries
//! the code as the error's status: an `napi::Error<Code>` is thrown through
//! `napi_create_error(code, message)`, which sets `.code`.
//!
//! Failures of napi itself are folded into the same codes: a bad option type is `invalid_input`, a
//! failed engine call is `internal`, and a JavaScript exception raised while a value is read (a
//! throwing getter, a Proxy trap) is re-thrown unchanged. A Rust panic inside a call becomes an
//! `internal` error through [`guard`]; the exported functions also carry `#[napi(catch_unwind)]`
//! for panics in napi's own argument conversion, so a panic never aborts the process.
//!
//! Code that makes its own JS error objects (raw callbacks, promises settled from Rust, listener
//! arguments) makes them here too: [`to_js`] (a core error, with `retryAfter` in ms on
//! `circuit_open` / `rate_limited`), [`value`] (any binding error), [`throw`], [`throw_value`] and
//! [`report`] (a failure with no JavaScript caller).
//!
//! `retryAfter` is carried by every route: a [`JsError`] made from `circuit_open` / `rate_limited`
//! (any `?` on a core result) keeps the retry time; [`value`] sets it, and [`guard`] throws such an
//! error itself (napi-rs's own throw would set `.code` and `.message` only), on the environment of
//! its thread (`napi::realm::current`).
//!
//! The error objects are made and thrown through the Node-API kit (`crate::napi::js`): napi-rs
//! throws with its own status, while a dashfeed error must be a plain `Error` whose `.code` is the
//! core's code (and `retryAfter` where it applies).

use crate::napi::js::{self, Env, Value};
use dashfeed::Error;
use napi::bindgen_prelude::Unknown;
use napi::{sys, Status};
use napi_derive::napi;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// The status napi carries for an error, which becomes the JS error's `.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(&'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl Code {
    /// The code of a core error.
    pub fn of(err: &Error) -> Code {
        Code(err.code())
    }
}

/// napi's marker for "a JS exception is already pending": napi re-throws that exception untouched.
const PENDING: Code = Code("PendingException");

/// An error on its way to JavaScript: made from a core error or a napi failure, thrown by napi
/// (or by [`guard`], when it carries a retry time).
#[derive(Debug)]
pub struct JsError(napi::Error<Code>, Option<Duration>);

/// Result of the binding's internal steps.
pub type Result<T> = std::result::Result<T, JsError>;

impl From<Error> for JsError {
    /// `.code` = `err.code()`, message = its `Display` text, and the retry time of
    /// `circuit_open` / `rate_limited` (the JS error's `retryAfter`).
    fn from(err: Error) -> Self {
        let retry_after = match err {
            Error::CircuitOpen { retry_after } | Error::RateLimited { retry_after } => {
                Some(retry_after)
            }
            _ => None,
        };
        let error = napi::Error::new(Code(err.code()), err.to_string());
        JsError(error, retry_after)
    }
}

impl From<napi::Error> for JsError {
    /// A failure reported by napi (argument conversion, an engine call).
    fn from(err: napi::Error) -> Self {
        match err.status {
            Status::PendingException => pending(err.reason.clone()),
            Status::InvalidArg
            | Status::ObjectExpected
            | Status::StringExpected
            | Status::NameExpected
            | Status::FunctionExpected
            | Status::NumberExpected
            | Status::BooleanExpected
            | Status::ArrayExpected
            | Status::BigintExpected
            | Status::DateExpected
            | Status::ArrayBufferExpected => Error::InvalidInput(err.reason.clone()).into(),
            _ => Error::Internal(err.reason.clone()).into(),
        }
    }
}

impl From<napi::Error<Code>> for JsError {
    /// An error as the exported functions return it (see [`guard`]).
    fn from(err: napi::Error<Code>) -> Self {
        JsError(err, None)
    }
}

/// The error that tells napi a JS exception is pending.
fn pending(reason: String) -> JsError {
    JsError(napi::Error::new(PENDING, reason), None)
}

impl From<JsError> for napi::Error {
    /// For napi-rs hooks that take a plain `napi::Error` (the code stays in the message only).
    fn from(err: JsError) -> Self {
        napi::Error::from_reason(err.0.reason)
    }
}

impl From<JsError> for napi::Error<Code> {
    fn from(err: JsError) -> Self {
        err.0
    }
}

/// Checks the status of a raw napi call: `napi_pending_exception` re-throws the JS exception, any
/// other failure is `internal` naming the call.
#[inline]
pub fn check(status: sys::napi_status, call: &'static str) -> Result<()> {
    if status == sys::Status::napi_ok {
        return Ok(());
    }
    if status == sys::Status::napi_pending_exception {
        return Err(pending(format!("{call}: JavaScript exception")));
    }
    let msg = format!("{call} failed with napi status {}", Status::from(status));
    Err(Error::Internal(msg).into())
}

/// Runs the body of an exported function, turning a panic into an `internal` error instead of
/// unwinding into Node. An error with a retry time is thrown here, with its `retryAfter`.
pub fn guard<T>(body: impl FnOnce() -> Result<T>) -> napi::Result<T, Code> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result.map_err(|e| match (e.1, crate::napi::realm::current()) {
            (Some(_), Some(env)) => {
                throw(env, e);
                pending("JavaScript exception".to_string()).0
            }
            _ => e.0,
        }),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(JsError::from(Error::Internal(format!("panic in dashfeed: {what}"))).0)
        }
    }
}

/// A JS `Error` for a core error: `.code` is its code, the message its text, and `retryAfter` the
/// retry time in ms for `circuit_open` and `rate_limited`.
pub fn to_js(env: Env, err: &Error) -> Result<Value> {
    let retry_after = match err {
        Error::CircuitOpen { retry_after } | Error::RateLimited { retry_after } => {
            Some(*retry_after)
        }
        _ => None,
    };
    coded(env, err.code(), &err.to_string(), retry_after)
}

/// A plain `Error` with `.code`, and `retryAfter` (ms) when there is a retry time.
fn coded(env: Env, code: &str, message: &str, retry_after: Option<Duration>) -> Result<Value> {
    let out = js::error(env, code, message)?;
    if let Some(d) = retry_after {
        js::set(
            env,
            out,
            c"retryAfter",
            js::number(env, crate::units::ms_of(d))?,
        )?;
    }
    Ok(out)
}

/// [`to_js`] as a napi-rs value.
pub fn to_unknown<'env>(env: &'env napi::Env, err: &Error) -> Result<Unknown<'env>> {
    Ok(crate::napi::convert::unknown(
        env.raw(),
        to_js(env.raw(), err)?,
    ))
}

/// A binding error as the napi-rs error that rejects a promise with its JS value ([`value`]).
pub fn rejection(env: &napi::Env, err: JsError) -> Result<napi::Error> {
    let v = value(env.raw(), err)?;
    Ok(napi::Error::from(crate::napi::convert::unknown(
        env.raw(),
        v,
    )))
}

/// The JS value of a binding error: the pending exception when one is pending (a JS exception
/// raised while reading a value), else a new `Error` with the error's `.code` and message.
pub fn value(env: Env, err: JsError) -> Result<Value> {
    let JsError(err, retry_after) = err;
    if err.status == PENDING {
        return js::take_exception(env);
    }
    coded(env, err.status.as_ref(), &err.reason, retry_after)
}

/// Throws `value` and returns the error that tells napi a JS exception is pending (so it re-throws
/// `value` untouched).
pub fn throw_value(env: Env, value: Value) -> JsError {
    if let Err(e) = js::throw(env, value) {
        return e;
    }
    pending("JavaScript exception".to_string())
}

/// Throws a binding error from a raw callback (nothing if a JS exception is already pending).
pub fn throw(env: Env, err: JsError) {
    if js::exception_pending(env) {
        return;
    }
    if let Ok(v) = value(env, err) {
        // A failed throw leaves nothing to report to: the callback returns without a value.
        let _ = js::throw(env, v);
    }
}

/// Reports a failure that has no JavaScript caller to throw to (a wake-up, a timer) as an uncaught
/// exception: the pending JS exception if there is one, else an `internal` error.
pub fn report(env: Env, err: JsError) {
    let v = if js::exception_pending(env) {
        js::take_exception(env)
    } else {
        to_js(env, &Error::Internal(err.0.reason))
    };
    if let Ok(v) = v {
        js::uncaught(env, v);
    }
}

/// Every code a dashfeed error can carry (`err.code` is always one of them).
#[napi(catch_unwind)]
pub fn error_codes() -> Vec<&'static str> {
    Error::CODES.to_vec()
}
