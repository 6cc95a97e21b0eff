//! Reading JavaScript arguments by hand, for the `Aggregator` and `Hub` wrappers: options objects
//! (own enumerable keys, checked against the names a function accepts), the `clock` option, and
//! strings / numbers / integers whose wrong type is `invalid_input` (napi's own argument
//! conversion would report `NumberExpected` and the like instead of a dashfeed code).

use crate::clock::ManualClock;
use crate::error::{JsError, Result};
use crate::raw::{self, napi_call};
use crate::realm::{self, Builtin};
use crate::walk::MAX_SAFE;
use dashfeed::clock::SharedClock;
use dashfeed::Error;
use napi::bindgen_prelude::{ClassInstance, FromNapiValue};
use napi::sys;
use std::fmt::Display;
use std::ptr;

/// True for `undefined` and `null`.
pub fn is_nullish(env: sys::napi_env, v: sys::napi_value) -> Result<bool> {
    let t = raw::type_of(env, v)?;
    Ok(t == sys::ValueType::napi_undefined || t == sys::ValueType::napi_null)
}

fn wrong_type(
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

/// The `clock` option: a `ManualClock`, or the system clock for `undefined` / `null`.
pub fn clock(env: sys::napi_env, v: Option<sys::napi_value>) -> Result<SharedClock> {
    match v {
        Some(v) if !is_nullish(env, v)? => {
            // SAFETY: `v` is a value of the running callback; the conversion checks the class tag.
            let c = unsafe { ClassInstance::<ManualClock>::from_napi_value(env, v) }
                .map_err(|_| wrong_type(env, v, "clock", "a ManualClock"))?;
            Ok(crate::clock::shared(Some(&c)))
        }
        _ => Ok(crate::clock::shared(None)),
    }
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
    if raw::type_of(env, v)? != sys::ValueType::napi_string {
        return Err(wrong_type(env, v, what, "a string"));
    }
    raw::with_str(env, v, f)
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
    let object_keys = realm::builtin(env, Builtin::ObjectKeys)?;
    let mut keys = ptr::null_mut();
    napi_call!(napi_call_function(
        env,
        object_keys,
        object_keys,
        1,
        &obj,
        &mut keys
    ))?;
    for i in 0..raw::array_len(env, keys)? {
        let key = raw::element(env, keys, i)?;
        let name = raw::with_str(env, key, str::to_owned)?;
        let mut value = ptr::null_mut();
        napi_call!(napi_get_property(env, obj, key, &mut value))?;
        f(name, value)?;
    }
    Ok(())
}
