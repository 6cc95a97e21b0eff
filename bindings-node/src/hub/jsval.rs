//! Small JavaScript values and calls the subscription code makes: `{ value, done }` iterator
//! results, `Error`s with `.code`, listener calls whose exceptions become uncaught exceptions, and
//! the [`Handle`] wrapper that lets Node-API pointers sit in state shared with publishing threads.

use crate::error::{check, Code, JsError, Result};
use crate::raw::{self, napi_call};
use dashfeed::Error;
use napi::sys;
use std::ptr;

/// A Node-API pointer used only on the JavaScript thread of its environment.
#[derive(Clone, Copy, Debug)]
pub struct Handle<T>(pub T);

// SAFETY: the pointers are only used (through Node-API) on their environment's thread; the mutex
// around the state holding them only makes it shareable with publishing threads, which never touch
// them.
unsafe impl<T> Send for Handle<T> {}

/// `undefined`.
pub fn undefined(env: sys::napi_env) -> Result<sys::napi_value> {
    let mut v = ptr::null_mut();
    napi_call!(napi_get_undefined(env, &mut v))?;
    Ok(v)
}

/// `null`.
pub fn null(env: sys::napi_env) -> Result<sys::napi_value> {
    let mut v = ptr::null_mut();
    napi_call!(napi_get_null(env, &mut v))?;
    Ok(v)
}

/// `{ value, done }`.
pub fn iter_result(
    env: sys::napi_env,
    value: sys::napi_value,
    done: bool,
) -> Result<sys::napi_value> {
    let mut obj = ptr::null_mut();
    let mut flag = ptr::null_mut();
    napi_call!(napi_create_object(env, &mut obj))?;
    napi_call!(napi_get_boolean(env, done, &mut flag))?;
    let attrs = sys::PropertyAttributes::writable
        | sys::PropertyAttributes::enumerable
        | sys::PropertyAttributes::configurable;
    let prop = |name: &'static std::ffi::CStr, v| sys::napi_property_descriptor {
        utf8name: name.as_ptr(),
        name: ptr::null_mut(),
        method: None,
        getter: None,
        setter: None,
        value: v,
        attributes: attrs,
        data: ptr::null_mut(),
    };
    let props = [prop(c"value", value), prop(c"done", flag)];
    napi_call!(napi_define_properties(env, obj, 2, props.as_ptr()))?;
    Ok(obj)
}

/// A resolved promise of `value`.
pub fn resolved(env: sys::napi_env, value: sys::napi_value) -> Result<sys::napi_value> {
    let (mut deferred, mut promise) = (ptr::null_mut(), ptr::null_mut());
    napi_call!(napi_create_promise(env, &mut deferred, &mut promise))?;
    napi_call!(napi_resolve_deferred(env, deferred, value))?;
    Ok(promise)
}

/// A JS `Error` with `.code`, as thrown errors have it.
pub fn error_value(env: sys::napi_env, e: &Error) -> Result<sys::napi_value> {
    let code = raw::string(env, e.code())?;
    let msg = raw::string(env, &e.to_string())?;
    let mut err = ptr::null_mut();
    napi_call!(napi_create_error(env, code, msg, &mut err))?;
    Ok(err)
}

/// Raises `err` as an uncaught exception (`process.on('uncaughtException')`, else the process
/// reports it and exits), as an exception thrown by a callback the event loop runs would be.
pub fn uncaught(env: sys::napi_env, err: sys::napi_value) {
    // SAFETY: on the environment's thread, with a value of the running scope.
    unsafe { sys::napi_fatal_exception(env, err) };
}

/// Calls a listener; an exception it throws becomes an uncaught exception and the caller goes on.
pub fn call(env: sys::napi_env, f: sys::napi_value, args: &[sys::napi_value]) -> Result<()> {
    let this = undefined(env)?;
    let mut out = ptr::null_mut();
    // SAFETY: values of this scope; `args` outlives the call.
    let status =
        unsafe { sys::napi_call_function(env, this, f, args.len(), args.as_ptr(), &mut out) };
    if status == sys::Status::napi_pending_exception {
        let mut exc = ptr::null_mut();
        // SAFETY: on the environment's thread; clears the pending exception to report it.
        unsafe { sys::napi_get_and_clear_last_exception(env, &mut exc) };
        uncaught(env, exc);
        return Ok(());
    }
    check(status, "napi_call_function")
}

/// Reports a failure of a wake-up (it has no JavaScript caller to throw to) as an uncaught
/// exception.
pub fn report(env: sys::napi_env, e: JsError) {
    let err: napi::Error<Code> = e.into();
    let mut pending = false;
    // SAFETY: on the environment's thread.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if pending {
        let mut exc = ptr::null_mut();
        // SAFETY: as above; takes the pending exception to report it.
        unsafe { sys::napi_get_and_clear_last_exception(env, &mut exc) };
        uncaught(env, exc);
    } else if let Ok(v) = error_value(env, &Error::Internal(err.reason)) {
        uncaught(env, v);
    }
}
