//! Raw Node-API glue for the methods called once per event or per delivered message:
//! `Aggregator.prototype.add`, `Subscription.prototype.next`, `Message.prototype.raw`.
//!
//! napi-rs's generated glue registers a borrow of the receiver in a process-wide table on every
//! `&self` call (about 150 ns), which is more than the rest of such a call. These methods are
//! declared with `#[napi]` as usual (that is their TypeScript declaration and their behaviour) and,
//! the first time an environment makes an instance, the same Rust code is also installed on the
//! class prototype under the same name through a plain `napi_callback` that checks the receiver's
//! class type tag and borrows it without the table: nothing else differs.

use crate::error::Result;
use napi::bindgen_prelude::TypeTag;
use napi::sys;
use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::ptr;

thread_local! {
    /// (env, prototype name) pairs already patched on this thread.
    static PATCHED: RefCell<Vec<(usize, &'static CStr)>> = const { RefCell::new(Vec::new()) };
}

/// Defines `method` as `name` on the prototype of `instance`, once per environment and name.
pub fn install(
    env: sys::napi_env,
    instance: sys::napi_value,
    name: &'static CStr,
    method: unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value,
) -> Result<()> {
    let key = (env as usize, name);
    if PATCHED.with(|p| p.borrow().contains(&key)) {
        return Ok(());
    }
    let mut proto = ptr::null_mut();
    crate::raw::napi_call!(napi_get_prototype(env, instance, &mut proto))?;
    let desc = sys::napi_property_descriptor {
        utf8name: name.as_ptr(),
        name: ptr::null_mut(),
        method: Some(method),
        getter: None,
        setter: None,
        value: ptr::null_mut(),
        attributes: sys::PropertyAttributes::writable | sys::PropertyAttributes::configurable,
        data: ptr::null_mut(),
    };
    crate::raw::napi_call!(napi_define_properties(env, proto, 1, &desc))?;
    PATCHED.with(|p| p.borrow_mut().push(key));
    Ok(())
}

/// `this` and up to `N` arguments (missing ones are `undefined`).
///
/// # Safety
/// `info` must be the callback info of the running call.
pub unsafe fn args<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> Result<(sys::napi_value, [sys::napi_value; N])> {
    let mut argv = [ptr::null_mut(); N];
    let mut argc = N;
    let mut this = ptr::null_mut();
    // SAFETY: forwarded: a live callback info; `argv` has room for `argc` values.
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            &mut this,
            ptr::null_mut(),
        )
    };
    crate::error::check(status, "napi_get_cb_info")?;
    Ok((this, argv))
}

/// The native object of `this` if it is an instance of the `#[napi]` class `T` (its type tag
/// says so), else `invalid_input`.
///
/// # Safety
/// The returned reference must not outlive the call (the object may be collected after it).
pub unsafe fn receiver<'a, T: TypeTag>(env: sys::napi_env, this: sys::napi_value) -> Result<&'a T> {
    let tag = T::type_tag();
    let mut ok = false;
    // SAFETY: values of the running call and live out-pointers.
    let status = unsafe { sys::napi_check_object_type_tag(env, this, &tag, &mut ok) };
    if status != sys::Status::napi_ok || !ok {
        return Err(dashfeed::Error::invalid("method called on an object of another class").into());
    }
    let mut wrapped = ptr::null_mut();
    crate::raw::napi_call!(napi_unwrap(env, this, &mut wrapped))?;
    if wrapped.is_null() {
        return Err(dashfeed::Error::Internal("unwrapped a null object".into()).into());
    }
    // SAFETY: napi-rs wraps every instance of `T` (the tag proves the class) around a
    // `Box<T>`'s pointer, which lives until the object's finalizer; only shared access is made.
    Ok(unsafe { &*(wrapped as *const T) })
}

/// Runs a method body (panics become `internal` errors, as in every export) and returns its
/// value, or throws its error as the napi-rs glue would (`.code` set).
pub fn run(env: sys::napi_env, body: impl FnOnce() -> Result<sys::napi_value>) -> sys::napi_value {
    match crate::error::guard(body) {
        Ok(v) => v,
        Err(err) => {
            throw(env, err);
            ptr::null_mut()
        }
    }
}

fn throw(env: sys::napi_env, err: napi::Error<crate::error::Code>) {
    let mut pending = false;
    // SAFETY: on the environment's thread.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if pending {
        return; // a JavaScript exception is already on its way
    }
    let code = CString::new(err.status.as_ref()).unwrap_or_default();
    let msg = CString::new(err.reason.replace('\0', " ")).unwrap_or_default();
    // SAFETY: NUL-terminated strings that outlive the call.
    unsafe { sys::napi_throw_error(env, code.as_ptr(), msg.as_ptr()) };
}
