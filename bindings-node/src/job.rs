//! [`Job`]: a core call run on libuv's thread pool as a Promise whose rejection is a JS `Error`
//! carrying the core's `.code` (napi's plain `Task` can only reject with napi's own status).
//!
//! The failed call's `dashfeed::Error` is kept in the job; `reject` (on the JS thread) builds the
//! coded error from it and hands napi that exact JS value to reject with.
//!
//! The promise rejects with the coded JS error that `error` makes (napi-rs's own rejection cannot
//! carry it), handed to napi-rs as an `Unknown`.

use crate::error::Result;
use dashfeed::Error;
use napi::bindgen_prelude::{AsyncTask, ToNapiValue, Unknown};
use napi::{Env, ScopedTask};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The work of a job: runs once, off the JS thread.
type Work<T> = Box<dyn FnOnce() -> dashfeed::Result<T> + Send>;

/// Turns a job's output into its JS value, on the JS thread.
pub type ToJs<T> = for<'env> fn(&'env Env, T) -> Result<Unknown<'env>>;

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
pub fn undefined(env: &Env, _: ()) -> Result<Unknown<'_>> {
    Ok(().into_unknown(env)?)
}

/// A JS string.
pub fn string(env: &Env, s: String) -> Result<Unknown<'_>> {
    Ok(s.into_unknown(env)?)
}

/// A JS number.
pub fn number(env: &Env, n: f64) -> Result<Unknown<'_>> {
    Ok(n.into_unknown(env)?)
}

/// A core value as a JS value (objects, arrays, numbers, strings).
pub fn value(env: &Env, v: dashfeed::codec::Value) -> Result<Unknown<'_>> {
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
        (self.to_js)(env, output).map_err(napi::Error::from)
    }

    fn reject(&mut self, env: &'task Env, err: napi::Error) -> napi::Result<Unknown<'task>> {
        let e = self
            .failed
            .take()
            .unwrap_or_else(|| Error::Internal(err.reason.clone()));
        // The coded error (`.code`, and `retryAfter` where the core gives one), as every other.
        let Ok(coded) = crate::error::to_unknown(env, &e) else {
            return Err(err); // the environment is shutting down: nothing can receive the error
        };
        Err(napi::Error::from(coded))
    }
}
