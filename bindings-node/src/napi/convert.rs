//! napi-rs's typed views of the raw values the kit passes around: an [`Unknown`] to return from a
//! `#[napi]` function, a value converted by napi-rs's own `FromNapiValue` (class instances, checked
//! by their type tag; `#[napi(object)]` structs) or `ToNapiValue`, and externals that own a Rust
//! value ([`External`], checked by type when read back).
//!
//! The concept modules call these instead of napi-rs's `unsafe` constructors, so that the one
//! condition those constructors need, a value of the running callback's handle scope on its
//! environment's thread (see the kit's module docs), is stated once, here.

use crate::error::Result;
use napi::bindgen_prelude::{External, FromNapiRef, FromNapiValue, ToNapiValue, Unknown};
use napi::sys;

/// A value of the running callback as napi-rs's [`Unknown`] (what a `#[napi]` function returns
/// for "any JavaScript value").
pub fn unknown<'a>(env: sys::napi_env, v: sys::napi_value) -> Unknown<'a> {
    // SAFETY: per the kit's contract, `v` is a live value of the running callback of `env`; the
    // caller hands the `Unknown` back to napi-rs within that callback.
    unsafe { Unknown::from_raw_unchecked(env, v) }
}

/// `v` converted by napi-rs (`ClassInstance<T>` checks the class's type tag, an object struct its
/// fields); a value of the wrong type is napi-rs's error, mapped to `invalid_input`.
pub fn from_js<T: FromNapiValue>(env: sys::napi_env, v: sys::napi_value) -> Result<T> {
    // SAFETY: `v` is a live value of the running callback of `env`; the conversion checks its type.
    Ok(unsafe { T::from_napi_value(env, v) }?)
}

/// The JavaScript value of `v`, made by napi-rs (`#[napi(object)]` structs, classes).
pub fn to_js<T: ToNapiValue>(env: sys::napi_env, v: T) -> Result<sys::napi_value> {
    // SAFETY: a live env of the running callback.
    Ok(unsafe { T::to_napi_value(env, v) }?)
}

/// A JS external owning `value`, dropped when the external is garbage-collected.
pub fn external<T: 'static>(env: sys::napi_env, value: T) -> Result<sys::napi_value> {
    to_js(env, External::new(value))
}

/// The value owned by an external made by [`external`]; an external of another type, or any other
/// value, is `invalid_input`. The reference is used within the running callback, which keeps `v`
/// (one of its values) alive.
pub fn external_ref<'a, T: 'static>(env: sys::napi_env, v: sys::napi_value) -> Result<&'a T> {
    // SAFETY: `v` is a live value of the running callback; napi-rs checks that it is an external
    // holding a `T` before handing out the reference.
    let ext = unsafe { External::<T>::from_napi_ref(env, v) }?;
    Ok(&**ext)
}
