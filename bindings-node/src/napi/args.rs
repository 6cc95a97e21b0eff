//! Reading JavaScript arguments by hand: options objects (own enumerable keys, checked against the
//! names a function accepts), strings / numbers / integers / counts / durations whose wrong type or
//! range is `invalid_input` (napi's own argument conversion would report `NumberExpected` and the
//! like instead of a dashfeed code), and string tags.

use super::raw::{self, napi_call};
use super::realm;
use crate::error::{JsError, Result};
use crate::walk::MAX_SAFE;
use dashfeed::Error;
use napi::bindgen_prelude::Unknown;
use napi::{sys, JsValue, ValueType};
use std::fmt::Display;
use std::ptr;
use std::time::Duration;

/// True for `undefined` and `null`.
pub fn is_nullish(env: sys::napi_env, v: sys::napi_value) -> Result<bool> {
    let t = raw::type_of(env, v)?;
    Ok(t == sys::ValueType::napi_undefined || t == sys::ValueType::napi_null)
}

/// `invalid_input`: `what` must be `expected`, naming the type it has.
pub fn wrong_type(
    env: sys::napi_env,
    v: sys::napi_value,
    what: impl Display,
    expected: &str,
) -> JsError {
    let got = raw::type_of(env, v).map_or("unknown", raw::type_name);
    Error::invalid(format!("{what} must be {expected}, not {got}")).into()
}

/// The own enumerable string keys of an options object and their values, in `Object.keys` order,
/// skipping `undefined` values. `undefined` / `null` options are empty; a key outside `allowed` is
/// `invalid_input` naming the accepted ones.
pub fn entries(
    env: sys::napi_env,
    obj: sys::napi_value,
    what: &str,
    allowed: &[&str],
) -> Result<Vec<(String, sys::napi_value)>> {
    if is_nullish(env, obj)? {
        return Ok(Vec::new());
    }
    if raw::type_of(env, obj)? != sys::ValueType::napi_object {
        return Err(wrong_type(env, obj, what, "an object"));
    }
    let mut out = Vec::new();
    own(env, obj, |name, value| {
        if !allowed.contains(&name.as_str()) {
            let msg = format!(
                "{what}: unknown option {name:?} (allowed: {})",
                allowed.join(", ")
            );
            return Err(Error::invalid(msg).into());
        }
        if raw::type_of(env, value)? != sys::ValueType::napi_undefined {
            out.push((name, value));
        }
        Ok(())
    })?;
    Ok(out)
}

/// A JS number.
pub fn number(env: sys::napi_env, v: sys::napi_value, what: impl Display) -> Result<f64> {
    let mut f = 0.0;
    // SAFETY: a value of the running callback and a live out-pointer.
    let status = unsafe { sys::napi_get_value_double(env, v, &mut f) };
    if status == sys::Status::napi_number_expected {
        return Err(wrong_type(env, v, what, "a number"));
    }
    crate::error::check(status, "napi_get_value_double")?;
    Ok(f)
}

/// A whole number within ±(2^53 − 1) (a `number`), or a `bigint` within the i64 range.
pub fn integer(env: sys::napi_env, v: sys::napi_value, what: impl Display) -> Result<i64> {
    opt_integer(env, v, what, false).map(|i| i.unwrap_or_default())
}

/// As [`integer`], with `undefined` and `null` read as `None` when `nullish` is allowed. A number
/// takes one napi call (the common case is tried first).
#[inline]
pub fn opt_integer(
    env: sys::napi_env,
    v: sys::napi_value,
    what: impl Display,
    nullish: bool,
) -> Result<Option<i64>> {
    let mut f = 0.0;
    // SAFETY: a value of the running callback and a live out-pointer.
    let status = unsafe { sys::napi_get_value_double(env, v, &mut f) };
    if status == sys::Status::napi_ok {
        return whole(f, what).map(Some);
    }
    if status != sys::Status::napi_number_expected {
        crate::error::check(status, "napi_get_value_double")?;
    }
    if nullish && is_nullish(env, v)? {
        return Ok(None);
    }
    integer_slow(env, v, what).map(Some)
}

/// The non-number cases of [`integer`]: a `bigint`, else the wrong-type error.
fn integer_slow(env: sys::napi_env, v: sys::napi_value, what: impl Display) -> Result<i64> {
    if raw::type_of(env, v)? == sys::ValueType::napi_bigint {
        let (mut i, mut lossless) = (0i64, false);
        napi_call!(napi_get_value_bigint_int64(env, v, &mut i, &mut lossless))?;
        if !lossless {
            return Err(Error::invalid(format!("{what} is out of the 64-bit range")).into());
        }
        return Ok(i);
    }
    let f = number(env, v, &what)?;
    whole(f, what)
}

/// `f` as an integer when it is a whole number within ±(2^53 − 1).
#[inline]
pub fn whole(f: f64, what: impl Display) -> Result<i64> {
    if f.fract() == 0.0 && f.abs() <= MAX_SAFE {
        return Ok(f as i64);
    }
    Err(Error::invalid(format!("{what} must be a whole number, not {f}")).into())
}

/// A JS string, copied.
pub fn string(env: sys::napi_env, v: sys::napi_value, what: impl Display) -> Result<String> {
    if raw::type_of(env, v)? != sys::ValueType::napi_string {
        return Err(wrong_type(env, v, what, "a string"));
    }
    raw::with_str(env, v, str::to_owned)
}

/// Runs `f` on the text of a JS string without copying it to the heap (short strings).
#[inline]
pub fn with_text<R>(
    env: sys::napi_env,
    v: sys::napi_value,
    what: impl Display,
    f: impl FnOnce(&str) -> R,
) -> Result<R> {
    match raw::try_str(env, v, f)? {
        Some(r) => Ok(r),
        None => Err(wrong_type(env, v, what, "a string")),
    }
}

/// String tags `{key: value}` (`undefined` / `null`: none), in `Object.keys` order.
pub fn tags(env: sys::napi_env, v: Option<sys::napi_value>) -> Result<Vec<(String, String)>> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    if is_nullish(env, v)? {
        return Ok(Vec::new());
    }
    if raw::type_of(env, v)? != sys::ValueType::napi_object {
        return Err(wrong_type(env, v, "tags", "an object of strings"));
    }
    let mut out = Vec::new();
    own(env, v, |k, value| {
        let text = string(env, value, format_args!("tag {k:?}"))?;
        out.push((k, text));
        Ok(())
    })?;
    Ok(out)
}

/// Calls `f(key, value)` for each own enumerable string key of `obj`, in `Object.keys` order.
pub fn own(
    env: sys::napi_env,
    obj: sys::napi_value,
    mut f: impl FnMut(String, sys::napi_value) -> Result<()>,
) -> Result<()> {
    let keys = realm::object_keys(env, obj)?;
    for i in 0..raw::array_len(env, keys)? {
        let key = raw::element(env, keys, i)?;
        let name = raw::with_str(env, key, str::to_owned)?;
        let mut value = ptr::null_mut();
        napi_call!(napi_get_property(env, obj, key, &mut value))?;
        f(name, value)?;
    }
    Ok(())
}

/// [`is_nullish`] of a napi-rs value.
pub fn nullish(v: &Unknown<'_>) -> Result<bool> {
    Ok(matches!(
        v.get_type()?,
        ValueType::Undefined | ValueType::Null
    ))
}

/// [`wrong_type`] of a napi-rs value.
pub fn wrong_type_of(v: &Unknown<'_>, what: impl Display, expected: &str) -> JsError {
    wrong_type(v.value().env, v.raw(), what, expected)
}

/// [`own`] over a napi-rs value: each own enumerable string key of the object `obj` and its value.
pub fn own_values<'env>(
    obj: &Unknown<'env>,
    mut f: impl FnMut(String, Unknown<'env>) -> Result<()>,
) -> Result<()> {
    let env = obj.value().env;
    own(env, obj.raw(), |name, v| {
        f(name, super::convert::unknown(env, v))
    })
}

/// Runs `f` on the bytes of a TypedArray (a `Buffer` included), `DataView` or `ArrayBuffer` in
/// place (see [`raw::with_bytes`]); `None` for any other value.
pub fn with_bytes<R>(v: &Unknown<'_>, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
    raw::with_bytes(v.value().env, v.raw(), f)
}

/// An optional number argument: absent, `undefined` and `null` are `None`.
pub fn opt_number(what: &str, v: Option<Unknown<'_>>) -> Result<Option<f64>> {
    match v {
        Some(v) if !is_nullish(v.value().env, v.raw())? => {
            number(v.value().env, v.raw(), what).map(Some)
        }
        _ => Ok(None),
    }
}

/// A count: a non-negative integer that fits in 32 bits.
pub fn count(what: &str, v: f64) -> Result<u32> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64 {
        return Ok(v as u32);
    }
    Err(Error::invalid(format!("{what} must be a non-negative integer, not {v}")).into())
}

/// A duration in ms: a finite, non-negative number (nanosecond precision).
pub fn millis(what: &str, v: f64) -> Result<Duration> {
    let nanos = (v * 1e6).round();
    if v.is_finite() && v >= 0.0 && nanos < u64::MAX as f64 {
        return Ok(Duration::from_nanos(nanos as u64));
    }
    Err(Error::invalid(format!(
        "{what} must be a finite, non-negative number of ms, not {v}"
    ))
    .into())
}
