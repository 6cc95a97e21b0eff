//! [`Job`]: a core call run on libuv's thread pool as a Promise whose rejection is a JS `Error`
//! carrying the core's `.code` (napi's plain `Task` can only reject with napi's own status).
//!
//! The failed call's `dashfeed::Error` is kept in the job; `reject` (on the JS thread) builds the
//! coded error from it and hands napi that exact JS value to reject with.
//!
//! The values cross through the Node-API kit (`crate::napi`): the promise must reject with the
//! coded JS error that `error` makes, which napi-rs's own rejection cannot carry.

use crate::error::Result;
use crate::napi::{convert, js};
use dashfeed::Error;
use napi::bindgen_prelude::{AsyncTask, Unknown};
use napi::ScopedTask;
use napi::{sys, Env};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The work of a job: runs once, off the JS thread.
type Work<T> = Box<dyn FnOnce() -> dashfeed::Result<T> + Send>;

/// Turns a job's output into its JS value, on the JS thread.
pub type ToJs<T> = fn(sys::napi_env, T) -> Result<sys::napi_value>;

/// A core call as a Promise: resolves with `to_js(output)`, rejects with a coded error.
pub struct Job<T: Send + 'static> {
    work: Option<Work<T>>,
    to_js: ToJs<T>,
    failed: Option<Error>,
}

impl<T: Send + 'static> Job<T> {
    /// A Promise of `work` (run on the pool) converted by `to_js`.
    pub fn spawn(
        work: impl FnOnce() -> dashfeed::Result<T> + Send + 'static,
        to_js: ToJs<T>,
    ) -> AsyncTask<Job<T>> {
        AsyncTask::new(Job {
            work: Some(Box::new(work)),
            to_js,
            failed: None,
        })
    }
}

/// `undefined`.
pub fn undefined(env: sys::napi_env, _: ()) -> Result<sys::napi_value> {
    js::undefined(env)
}

/// A JS string.
pub fn string(env: sys::napi_env, s: String) -> Result<sys::napi_value> {
    crate::napi::raw::string(env, &s)
}

/// A JS number.
pub fn number(env: sys::napi_env, n: f64) -> Result<sys::napi_value> {
    js::number(env, n)
}

/// A core value as a JS value (objects, arrays, numbers, strings).
pub fn value(env: sys::napi_env, v: dashfeed::codec::Value) -> Result<sys::napi_value> {
    crate::values::to_js(env, &v)
}

impl<'task, T: Send + 'static> ScopedTask<'task> for Job<T> {
    type Output = T;
    type JsValue = Unknown<'task>;

    fn compute(&mut self) -> napi::Result<T> {
        let outcome = match self.work.take() {
            Some(work) => catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
                Err(Error::Internal("panic in dashfeed (background job)".into()))
            }),
            None => Err(Error::Internal("a job ran twice".into())),
        };
        outcome.map_err(|e| {
            let reason = e.to_string();
            self.failed = Some(e);
            napi::Error::from_reason(reason)
        })
    }

    fn resolve(&mut self, env: &'task Env, output: T) -> napi::Result<Unknown<'task>> {
        let v = (self.to_js)(env.raw(), output).map_err(napi::Error::from)?;
        Ok(convert::unknown(env.raw(), v))
    }

    fn reject(&mut self, env: &'task Env, err: napi::Error) -> napi::Result<Unknown<'task>> {
        let e = self
            .failed
            .take()
            .unwrap_or_else(|| Error::Internal(err.reason.clone()));
        // The coded error (`.code`, and `retryAfter` where the core gives one), as every other.
        let Ok(raw) = crate::error::to_js(env.raw(), &e) else {
            return Err(err); // the environment is shutting down: nothing can receive the error
        };
        Err(napi::Error::from(convert::unknown(env.raw(), raw)))
    }
}
