//! Raw Node-API glue for the methods called once per event, per message or per publication:
//! `Aggregator.prototype.add`, `Subscription.prototype.next`, `Codec.prototype.encode` / `decode` and
//! `Hub.prototype.publish` (the list is `crate::fast`'s).
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

/// `this`, up to `N` arguments (missing ones are `undefined`) and how many the call passed.
///
/// # Safety
/// `info` must be the callback info of the running call.
pub unsafe fn args<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> Result<(sys::napi_value, [sys::napi_value; N], usize)> {
    let mut argv = [ptr::null_mut(); N];
    // SAFETY: forwarded: the callback info of the running call.
    let (argc, this, _) = unsafe { super::raw::cb_info(env, info, &mut argv)? };
    Ok((this, argv, argc))
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

/// The last receiver of a method called once per event, remembered so that the next call on the
/// same object skips the two private-symbol lookups of [`receiver`] (the type tag check and the
/// unwrap: about a quarter of `Aggregator.prototype.add`). It holds a weak reference: identity is
/// checked against the live `this` of the call, so a collected object is simply a miss. Keep one
/// per class and thread (`thread_local!`): an environment lives on one thread.
pub struct ReceiverCache {
    /// The environment the reference belongs to.
    env: sys::napi_env,
    /// A weak reference to the last receiver (null: none yet).
    weak: sys::napi_ref,
    /// Its native object.
    native: *const std::ffi::c_void,
}

impl ReceiverCache {
    /// An empty cache.
    pub const fn new() -> Self {
        ReceiverCache {
            env: ptr::null_mut(),
            weak: ptr::null_mut(),
            native: ptr::null(),
        }
    }
}

impl Default for ReceiverCache {
    fn default() -> Self {
        Self::new()
    }
}

/// [`receiver`], through `cache`: a call on the object of the previous call takes two cheap
/// Node-API calls (read the weak reference, compare) instead of two property lookups.
///
/// # Safety
/// As [`receiver`]; `cache` is used only for the class `T`.
pub unsafe fn receiver_cached<'a, T: TypeTag>(
    env: sys::napi_env,
    this: sys::napi_value,
    cache: &std::cell::RefCell<ReceiverCache>,
) -> Result<&'a T> {
    let mut c = cache.borrow_mut();
    if c.env == env && !c.weak.is_null() {
        let mut last = ptr::null_mut();
        napi_call!(napi_get_reference_value(env, c.weak, &mut last))?;
        let mut same = false;
        if !last.is_null() {
            napi_call!(napi_strict_equals(env, last, this, &mut same))?;
        }
        if same {
            // SAFETY: `this` is the object whose native `T` was cached (checked by its tag when
            // cached); it is alive during this call, and so is the `Box<T>` it wraps.
            return Ok(unsafe { &*c.native.cast::<T>() });
        }
    }
    // SAFETY: forwarded: `this` of the running call, used only during it.
    let native = unsafe { receiver::<T>(env, this)? };
    let mut weak = ptr::null_mut();
    napi_call!(napi_create_reference(env, this, 0, &mut weak))?;
    if c.env == env && !c.weak.is_null() {
        // SAFETY: the previous weak reference of this environment, owned by the cache.
        unsafe { sys::napi_delete_reference(env, c.weak) };
    }
    // (A reference of another environment is left to that environment's teardown.)
    *c = ReceiverCache {
        env,
        weak,
        native: (native as *const T).cast(),
    };
    Ok(native)
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
