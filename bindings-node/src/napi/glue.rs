//! Raw Node-API glue for the methods called once per event or per delivered message:
//! `Aggregator.prototype.add`, `Subscription.prototype.next`, `Message.prototype.raw`.
//!
//! napi-rs's generated glue registers a borrow of the receiver in a process-wide table on every
//! `&self` call (about 150 ns), which is more than the rest of such a call. These methods are
//! declared with `#[napi]` as usual (that is their TypeScript declaration, and the same body) and,
//! when the module loads into an environment (`crate::fast`, right after napi-rs registered the
//! classes), [`define`] puts a plain `napi_callback` under the same name on the class prototype: it
//! checks the receiver's class type tag ([`receiver`]) and borrows it without the table. Nothing
//! else differs, and nothing changes a prototype after the module has loaded.

use super::raw::{self, napi_call};
use crate::error::Result;
use napi::bindgen_prelude::TypeTag;
use napi::sys;
use std::ffi::CStr;
use std::ptr;

/// A plain Node-API method.
pub type Method = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// Defines `method` as `name` on the prototype of the class `exports[class]` (writable and
/// configurable, not enumerable, as class methods are).
pub fn define(
    env: sys::napi_env,
    exports: sys::napi_value,
    class: &CStr,
    name: &CStr,
    method: Method,
) -> Result<()> {
    let ctor = raw::named(env, exports, class)?;
    let proto = raw::named(env, ctor, c"prototype")?;
    let attributes = sys::PropertyAttributes::writable | sys::PropertyAttributes::configurable;
    let desc = sys::napi_property_descriptor {
        method: Some(method),
        ..raw::property(name, ptr::null_mut(), attributes)
    };
    napi_call!(napi_define_properties(env, proto, 1, &desc))
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
    // SAFETY: forwarded: the callback info of the running call.
    let (_, this, _) = unsafe { super::raw::cb_info(env, info, &mut argv)? };
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
    napi_call!(napi_unwrap(env, this, &mut wrapped))?;
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
            crate::error::throw(env, err.into());
            ptr::null_mut()
        }
    }
}
