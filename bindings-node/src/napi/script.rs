//! The JavaScript halves of the conversions (`bindings-node/js/window.js` for the aggregator,
//! `bindings-node/js/hub.js` for subscriptions; each concept module compiles its own into the addon
//! with `include_str!`): each source is one function expression returning an object of helper
//! functions, compiled and run once per environment (the main thread, each worker) and then kept by
//! reference.

use super::raw::{self, napi_call};
use crate::error::Result;
use napi::sys;
use std::cell::RefCell;
use std::ffi::CStr;
use std::ptr;

thread_local! {
    /// (env, source address, reference to the helpers object) of the environment on this thread.
    static HELPERS: RefCell<Vec<(usize, usize, sys::napi_ref)>> = const { RefCell::new(Vec::new()) };
    /// (env, source address, helper name address, reference to that helper function): what [`call`]
    /// looks up, so that a call does not look the name up on the helpers object (a property read
    /// by a C string name makes V8 find it in its string table first, every time). Names are
    /// `c"..."` literals: the same name at two addresses only makes two entries. Like `HELPERS`,
    /// kept for the thread's life (an environment per thread: the main one or a worker's).
    static FUNCTIONS: RefCell<Vec<(usize, usize, usize, sys::napi_ref)>> = const { RefCell::new(Vec::new()) };
}

/// The helpers object of `source` in `env`, compiled on first use.
pub fn helpers(env: sys::napi_env, source: &'static str) -> Result<sys::napi_value> {
    let key = (env as usize, source.as_ptr() as usize);
    let cached = HELPERS.with(|c| {
        c.borrow()
            .iter()
            .find(|(e, s, _)| (*e, *s) == key)
            .map(|(_, _, r)| *r)
    });
    let mut obj = ptr::null_mut();
    if let Some(r) = cached {
        napi_call!(napi_get_reference_value(env, r, &mut obj))?;
        if !obj.is_null() {
            return Ok(obj);
        }
    }
    let code = raw::string(env, source)?;
    let (mut factory, mut global) = (ptr::null_mut(), ptr::null_mut());
    napi_call!(napi_run_script(env, code, &mut factory))?;
    napi_call!(napi_get_global(env, &mut global))?;
    napi_call!(napi_call_function(
        env,
        global,
        factory,
        0,
        ptr::null(),
        &mut obj
    ))?;
    let mut r = ptr::null_mut();
    napi_call!(napi_create_reference(env, obj, 1, &mut r))?;
    HELPERS.with(|c| {
        let mut c = c.borrow_mut();
        c.retain(|(e, s, _)| (*e, *s) != key);
        c.push((key.0, key.1, r));
    });
    Ok(obj)
}

/// Calls the helper `name` of `source` with `args`.
pub fn call(
    env: sys::napi_env,
    source: &'static str,
    name: &CStr,
    args: &[sys::napi_value],
) -> Result<sys::napi_value> {
    let obj = helpers(env, source)?;
    let f = function(env, obj, source, name)?;
    let mut out = ptr::null_mut();
    napi_call!(napi_call_function(
        env,
        obj,
        f,
        args.len(),
        args.as_ptr(),
        &mut out
    ))?;
    Ok(out)
}

/// The helper `name` of the helpers object `obj` (of `source`), by a reference kept per environment.
fn function(
    env: sys::napi_env,
    obj: sys::napi_value,
    source: &'static str,
    name: &CStr,
) -> Result<sys::napi_value> {
    let key = (
        env as usize,
        source.as_ptr() as usize,
        name.as_ptr() as usize,
    );
    let cached = FUNCTIONS.with(|c| {
        c.borrow()
            .iter()
            .find(|(e, s, n, _)| (*e, *s, *n) == key)
            .map(|(_, _, _, r)| *r)
    });
    if let Some(r) = cached {
        // A strong reference: it names the function as long as the environment lives.
        let mut f = ptr::null_mut();
        napi_call!(napi_get_reference_value(env, r, &mut f))?;
        return Ok(f);
    }
    let f = raw::named(env, obj, name)?;
    let mut r = ptr::null_mut();
    napi_call!(napi_create_reference(env, f, 1, &mut r))?;
    FUNCTIONS.with(|c| c.borrow_mut().push((key.0, key.1, key.2, r)));
    Ok(f)
}
