//! The JavaScript plumbing on raw Node-API: native functions that carry Rust state (the hooks of
//! the guarded call), compiled helper scripts, error objects and throwing, promises settled from
//! Rust, calls that catch what the callee throws, weak references and [`Handle`]s kept in state
//! shared with other threads, hidden properties, timers, and the calls of user listeners.
//!
//! napi-rs's typed wrappers cannot take a variable number of arguments and allocate per call; these
//! helpers make one Node-API call per step. Every function here runs on the JS thread of `env`, with
//! values of the running callback's handle scope; the `unsafe` is confined to the Node-API calls and
//! to the Rust values that native functions own (boxed when made, freed by their finalizers). The
//! error objects of core errors are made in `crate::error`.

use super::raw::{self, napi_call};
use crate::error::{self, Result};
use dashfeed::Error;
use napi::sys;
use std::ffi::{c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;

/// A JS value of the running callback.
pub type Value = sys::napi_value;
/// The environment of the running callback.
pub type Env = sys::napi_env;

/// What a native function does when called: `(env, state, this, args)` → return value.
pub type Handler<S> = fn(Env, &Rc<S>, Value, &[Value]) -> Result<Value>;

/// The data of a native function: its state and its handler.
struct Native<S> {
    state: Rc<S>,
    handler: Handler<S>,
}

/// Arguments read without allocating; calls with more allocate once.
const INLINE_ARGS: usize = 8;

/// The entry point of every native function made by [`function`].
unsafe extern "C" fn trampoline<S>(env: Env, info: sys::napi_callback_info) -> Value {
    let mut argv = [ptr::null_mut(); INLINE_ARGS];
    // SAFETY: `info` is this callback's.
    let (argc, this, data) = match unsafe { raw::cb_info(env, info, &mut argv) } {
        Ok(read) if !read.2.is_null() => read,
        _ => {
            let failed = Error::Internal("napi_get_cb_info failed".into());
            error::throw(env, failed.into());
            return ptr::null_mut();
        }
    };
    let mut heap = Vec::new();
    let args: &[Value] = if argc <= INLINE_ARGS {
        &argv[..argc]
    } else {
        heap.resize(argc, ptr::null_mut());
        // SAFETY: as above, with room for every argument.
        if let Err(e) = unsafe { raw::cb_info(env, info, &mut heap) } {
            error::throw(env, e);
            return ptr::null_mut();
        }
        &heap
    };
    // SAFETY: `data` is the `Native<S>` that `function` attached to this function; the finalizer
    // frees it only once the function can no longer be called.
    let native = unsafe { &*data.cast::<Native<S>>() };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        (native.handler)(env, &native.state, this, args)
    }));
    match outcome {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            error::throw(env, e);
            ptr::null_mut()
        }
        Err(_) => {
            error::throw(env, Error::Internal("panic in dashfeed".into()).into());
            ptr::null_mut()
        }
    }
}

/// Frees the data of a native function once the function is collected.
unsafe extern "C" fn finalize<S>(_env: Env, data: *mut c_void, _hint: *mut c_void) {
    if !data.is_null() {
        // SAFETY: `data` came from `Box::into_raw` in `function` and is freed only here.
        drop(unsafe { Box::from_raw(data.cast::<Native<S>>()) });
    }
}

/// A JS function named `name` whose calls run `handler(env, &state, this, args)`. The function
/// owns its `Rc` of `state` until it is garbage-collected. A handler's `Err` is thrown.
pub fn function<S: 'static>(
    env: Env,
    name: &CStr,
    state: Rc<S>,
    handler: Handler<S>,
) -> Result<Value> {
    let data = Box::into_raw(Box::new(Native { state, handler })).cast::<c_void>();
    let mut f = ptr::null_mut();
    // SAFETY: a live env; `name` is NUL-terminated; `data` stays valid until the finalizer.
    let created = napi_call!(napi_create_function(
        env,
        name.as_ptr(),
        name.to_bytes().len() as isize,
        Some(trampoline::<S>),
        data,
        &mut f
    ))
    .and_then(|()| {
        napi_call!(napi_add_finalizer(
            env,
            f,
            data,
            Some(finalize::<S>),
            ptr::null_mut(),
            ptr::null_mut()
        ))
    });
    if let Err(e) = created {
        // Nothing can call the function: it was never handed out.
        // SAFETY: the finalizer was not attached, so this is the only owner of `data`.
        drop(unsafe { Box::from_raw(data.cast::<Native<S>>()) });
        return Err(e);
    }
    Ok(f)
}

/// Compiles and runs `source` (a script whose value is a function expression) and returns the
/// function.
pub fn compile(env: Env, source: &str) -> Result<Value> {
    let mut out = ptr::null_mut();
    napi_call!(napi_run_script(env, raw::string(env, source)?, &mut out))?;
    if !is_function(env, out)? {
        return Err(Error::Internal("a helper script did not give a function".into()).into());
    }
    Ok(out)
}

/// Whether `v` is an array.
pub fn is_array(env: Env, v: Value) -> Result<bool> {
    let mut out = false;
    napi_call!(napi_is_array(env, v, &mut out))?;
    Ok(out)
}

/// Defines `obj[name] = value` as a method-like own property: writable and configurable, not
/// enumerable.
pub fn define_method(env: Env, obj: Value, name: &CStr, value: Value) -> Result<()> {
    let attributes = sys::PropertyAttributes::writable | sys::PropertyAttributes::configurable;
    let desc = raw::property(name, value, attributes);
    napi_call!(napi_define_properties(env, obj, 1, &desc))
}

/// Defines `obj[key] = value` (`key` a symbol or string value) as a hidden own property: not
/// enumerable, writable or configurable.
pub fn define_hidden(env: Env, obj: Value, key: Value, value: Value) -> Result<()> {
    let desc = sys::napi_property_descriptor {
        utf8name: ptr::null(),
        name: key,
        method: None,
        getter: None,
        setter: None,
        value,
        attributes: sys::PropertyAttributes::default,
        data: ptr::null_mut(),
    };
    napi_call!(napi_define_properties(env, obj, 1, &desc))
}

/// A new symbol described by `description`.
pub fn symbol(env: Env, description: &str) -> Result<Value> {
    let mut out = ptr::null_mut();
    napi_call!(napi_create_symbol(
        env,
        raw::string(env, description)?,
        &mut out
    ))?;
    Ok(out)
}

/// `undefined`.
pub fn undefined(env: Env) -> Result<Value> {
    let mut out = ptr::null_mut();
    napi_call!(napi_get_undefined(env, &mut out))?;
    Ok(out)
}

/// `null`.
pub fn null(env: Env) -> Result<Value> {
    let mut out = ptr::null_mut();
    napi_call!(napi_get_null(env, &mut out))?;
    Ok(out)
}

/// An iterator result `{ value, done }`.
pub fn iter_result(env: Env, value: Value, done: bool) -> Result<Value> {
    let (mut obj, mut flag) = (ptr::null_mut(), ptr::null_mut());
    napi_call!(napi_create_object(env, &mut obj))?;
    napi_call!(napi_get_boolean(env, done, &mut flag))?;
    let attrs = sys::PropertyAttributes::writable
        | sys::PropertyAttributes::enumerable
        | sys::PropertyAttributes::configurable;
    let props = [
        raw::property(c"value", value, attrs),
        raw::property(c"done", flag, attrs),
    ];
    napi_call!(napi_define_properties(env, obj, 2, props.as_ptr()))?;
    Ok(obj)
}

/// A JS number.
pub fn number(env: Env, n: f64) -> Result<Value> {
    let mut out = ptr::null_mut();
    napi_call!(napi_create_double(env, n, &mut out))?;
    Ok(out)
}

/// The value of a JS number.
pub fn number_value(env: Env, v: Value) -> Result<f64> {
    let mut out = 0.0;
    napi_call!(napi_get_value_double(env, v, &mut out))?;
    Ok(out)
}

/// `obj[name] = value`.
pub fn set(env: Env, obj: Value, name: &CStr, value: Value) -> Result<()> {
    napi_call!(napi_set_named_property(env, obj, name.as_ptr(), value))
}

/// `arr[i] = value`.
pub fn set_element(env: Env, arr: Value, i: u32, value: Value) -> Result<()> {
    napi_call!(napi_set_element(env, arr, i, value))
}

/// A new array holding `items`.
pub fn array(env: Env, items: &[Value]) -> Result<Value> {
    let mut arr = ptr::null_mut();
    napi_call!(napi_create_array_with_length(env, items.len(), &mut arr))?;
    for (i, &v) in (0u32..).zip(items) {
        napi_call!(napi_set_element(env, arr, i, v))?;
    }
    Ok(arr)
}

/// A new empty object.
pub fn object(env: Env) -> Result<Value> {
    let mut out = ptr::null_mut();
    napi_call!(napi_create_object(env, &mut out))?;
    Ok(out)
}

/// Whether `v` is a function.
pub fn is_function(env: Env, v: Value) -> Result<bool> {
    Ok(raw::type_of(env, v)? == sys::ValueType::napi_function)
}

/// JavaScript truthiness of `v`.
pub fn truthy(env: Env, v: Value) -> Result<bool> {
    let (mut b, mut out) = (ptr::null_mut(), false);
    napi_call!(napi_coerce_to_bool(env, v, &mut b))?;
    napi_call!(napi_get_value_bool(env, b, &mut out))?;
    Ok(out)
}

/// A new plain `Error` with `message` whose `.code` is `code`.
pub fn error(env: Env, code: &str, message: &str) -> Result<Value> {
    let (code, message) = (raw::string(env, code)?, raw::string(env, message)?);
    let mut out = ptr::null_mut();
    napi_call!(napi_create_error(env, code, message, &mut out))?;
    Ok(out)
}

/// Throws `v` (it becomes the pending exception of the running callback).
pub fn throw(env: Env, v: Value) -> Result<()> {
    napi_call!(napi_throw(env, v))
}

/// Whether a JS exception is pending (thrown and not yet caught by a caller).
pub fn exception_pending(env: Env) -> bool {
    let mut pending = false;
    // SAFETY: a live env; the out-pointer is a local. A failed query reads as "none pending".
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    pending
}

/// Takes the pending JS exception (what a call threw).
pub fn take_exception(env: Env) -> Result<Value> {
    let mut out = ptr::null_mut();
    napi_call!(napi_get_and_clear_last_exception(env, &mut out))?;
    Ok(out)
}

/// `f.apply(this, args)`: `Ok(returned)` or `Err(thrown)` (the value itself, unchanged).
pub fn call(
    env: Env,
    f: Value,
    this: Value,
    args: &[Value],
) -> Result<std::result::Result<Value, Value>> {
    let mut out = ptr::null_mut();
    // SAFETY: a live env; `args` points to `args.len()` values of this scope.
    let status =
        unsafe { sys::napi_call_function(env, this, f, args.len(), args.as_ptr(), &mut out) };
    if status == sys::Status::napi_pending_exception {
        return Ok(Err(take_exception(env)?));
    }
    error::check(status, "napi_call_function")?;
    Ok(Ok(out))
}

/// The resolving half of a promise made by [`promise`]. Settle it once; one that is dropped
/// unsettled leaves its promise pending forever.
#[derive(Debug)]
pub struct Deferred(sys::napi_deferred);

impl Deferred {
    /// Resolves the promise with `v` (a thenable `v` is adopted).
    pub fn resolve(self, env: Env, v: Value) -> Result<()> {
        napi_call!(napi_resolve_deferred(env, self.0, v))
    }
}

/// A new pending promise and its resolver.
pub fn promise(env: Env) -> Result<(Deferred, Value)> {
    let (mut d, mut p) = (ptr::null_mut(), ptr::null_mut());
    napi_call!(napi_create_promise(env, &mut d, &mut p))?;
    Ok((Deferred(d), p))
}

/// A promise resolved with `v` (adopting it when it is a thenable).
pub fn resolved(env: Env, v: Value) -> Result<Value> {
    let (d, p) = promise(env)?;
    d.resolve(env, v)?;
    Ok(p)
}

/// A Node-API pointer used only on the JavaScript thread of its environment, kept in state that a
/// mutex shares with other threads (which never touch it).
#[derive(Clone, Copy, Debug)]
pub struct Handle<T>(pub T);

// SAFETY: the pointers are only used (through Node-API) on their environment's thread; the mutex
// around the state holding them only makes it shareable with publishing threads, which never touch
// them.
unsafe impl<T> Send for Handle<T> {}

/// A weak reference to an object or function (it does not keep the value alive), deleted when
/// dropped. Like every value here it belongs to the JS thread of its env (it is neither `Send` nor
/// `Sync`).
#[derive(Debug)]
pub struct Ref {
    env: Env,
    raw: sys::napi_ref,
}

impl Ref {
    /// A reference to `v` that does not keep it alive.
    pub fn weak(env: Env, v: Value) -> Result<Self> {
        let mut raw = ptr::null_mut();
        napi_call!(napi_create_reference(env, v, 0, &mut raw))?;
        Ok(Ref { env, raw })
    }

    /// The referenced value, in the running callback's scope; `None` once the value was
    /// collected.
    pub fn upgrade(&self, env: Env) -> Result<Option<Value>> {
        let mut out = ptr::null_mut();
        napi_call!(napi_get_reference_value(env, self.raw, &mut out))?;
        Ok((!out.is_null()).then_some(out))
    }

    /// The referenced value, which the caller knows to be alive.
    pub fn get(&self, env: Env) -> Result<Value> {
        self.upgrade(env)?
            .ok_or_else(|| Error::Internal("a referenced value was collected".into()).into())
    }
}

impl Drop for Ref {
    fn drop(&mut self) {
        // SAFETY: the reference was made on this env's JS thread, where every owner of a `Ref`
        // lives (in callbacks or in finalizers, which Node runs on that thread).
        unsafe { sys::napi_delete_reference(self.env, self.raw) };
    }
}

/// `globalThis[name](...args)`, the function read at each call (so that mocked timers are
/// honoured); what it throws stays pending (the error says so).
pub fn call_global(env: Env, name: &CStr, args: &[Value]) -> Result<Value> {
    let global = raw::global(env)?;
    let f = raw::named(env, global, name)?;
    match call(env, f, global, args)? {
        Ok(v) => Ok(v),
        Err(thrown) => Err(error::throw_value(env, thrown)),
    }
}

/// `setTimeout(f, ms)`; returns the timer handle.
pub fn set_timeout(env: Env, f: Value, ms: f64) -> Result<Value> {
    call_global(env, c"setTimeout", &[f, number(env, ms)?])
}

/// `clearTimeout(handle)`.
pub fn clear_timeout(env: Env, handle: Value) -> Result<()> {
    call_global(env, c"clearTimeout", &[handle]).map(|_| ())
}

/// Raises `err` as an uncaught exception (`process.on('uncaughtException')`, else the process
/// reports it and exits), as an exception thrown by a callback the event loop runs would be.
pub fn uncaught(env: Env, err: Value) {
    // SAFETY: on the environment's thread, with a value of the running scope.
    unsafe { sys::napi_fatal_exception(env, err) };
}

/// The listener policy's helper: re-throws an exception in a microtask of its own.
const RETHROW: &str = "(function listenerHelpers() {
  'use strict';
  return { rethrow(err) { queueMicrotask(() => { throw err; }); } };
})";

/// The policy's `rethrow(err)` function, for JavaScript loops that call listeners themselves (the
/// `'message'` loop of `bindings-node/js/hub.js`).
pub fn rethrow(env: Env) -> Result<Value> {
    let helpers = super::script::helpers(env, RETHROW)?;
    raw::named(env, helpers, c"rethrow")
}

/// Calls a user listener with `this` undefined, under the one policy of the module for exceptions
/// thrown by listeners (breaker events, subscription `'message'` / `'error'` / `'close'`; the
/// `'message'` loop of `bindings-node/js/hub.js` calls [`rethrow`]): the exception neither breaks
/// the dashfeed call that emitted the event nor stops the other listeners, and it is not
/// swallowed: it is re-thrown in a microtask, so it reaches `process.on('uncaughtException')`
/// (without a handler, Node prints it and exits), as an exception thrown by an EventEmitter
/// listener does when the emit comes from the event loop.
pub fn call_listener(env: Env, f: Value, args: &[Value]) -> Result<()> {
    if let Err(thrown) = call(env, f, undefined(env)?, args)? {
        super::script::call(env, RETHROW, c"rethrow", &[thrown])?;
    }
    Ok(())
}
