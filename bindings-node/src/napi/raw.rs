//! The raw Node-API calls the conversions make on their hot paths, each with its status checked.
//!
//! napi-rs's typed wrappers allocate (C strings for property names, `Result` chains per step); the
//! conversions in `walk` and `build` run once per node of every message, so they call `napi_*`
//! directly through [`napi_call!`]. Every call passes the `napi_env` of the running callback,
//! values created in that callback's handle scope and pointers to live locals for the
//! out-parameters, which is what Node-API requires; the `unsafe` is confined to those calls and to
//! [`with_bytes`].

use crate::error::Result;
use dashfeed::Error;
use napi::sys;
use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::ptr;

/// Calls a raw napi function with its arguments and checks the returned status.
macro_rules! napi_call {
    ($f:ident($($arg:expr),* $(,)?)) => {
        // SAFETY: see the module docs: a live env, values of this callback, out-pointers to live
        // locals.
        $crate::error::check(unsafe { ::napi::sys::$f($($arg),*) }, stringify!($f))
    };
}
pub(crate) use napi_call;

/// Strings up to this many UTF-8 bytes are read with one napi call into a stack buffer.
const STR_BUF: usize = 128;

/// The `typeof` of a value (`sys::ValueType::*`).
pub fn type_of(env: sys::napi_env, v: sys::napi_value) -> Result<i32> {
    let mut t = 0;
    napi_call!(napi_typeof(env, v, &mut t))?;
    Ok(t)
}

/// A readable name for a `typeof` value, for error messages.
pub fn type_name(t: i32) -> &'static str {
    match t {
        sys::ValueType::napi_undefined => "undefined",
        sys::ValueType::napi_null => "null",
        sys::ValueType::napi_boolean => "boolean",
        sys::ValueType::napi_number => "number",
        sys::ValueType::napi_string => "string",
        sys::ValueType::napi_symbol => "symbol",
        sys::ValueType::napi_object => "object",
        sys::ValueType::napi_function => "function",
        sys::ValueType::napi_bigint => "bigint",
        _ => "external",
    }
}

/// The global object.
pub fn global(env: sys::napi_env) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    napi_call!(napi_get_global(env, &mut out))?;
    Ok(out)
}

/// `obj[name]`.
pub fn named(env: sys::napi_env, obj: sys::napi_value, name: &CStr) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    napi_call!(napi_get_named_property(env, obj, name.as_ptr(), &mut out))?;
    Ok(out)
}

/// `arr[i]`.
pub fn element(env: sys::napi_env, arr: sys::napi_value, i: u32) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    napi_call!(napi_get_element(env, arr, i, &mut out))?;
    Ok(out)
}

/// `arr.length` of an array.
pub fn array_len(env: sys::napi_env, arr: sys::napi_value) -> Result<u32> {
    let mut n = 0;
    napi_call!(napi_get_array_length(env, arr, &mut n))?;
    Ok(n)
}

/// Runs `f` on the UTF-8 text of a JS string (lone surrogates become U+FFFD, as V8 writes them).
/// Short strings take one napi call and no allocation.
pub fn with_str<R>(env: sys::napi_env, v: sys::napi_value, f: impl FnOnce(&str) -> R) -> Result<R> {
    // Not zeroed: this runs for every string and key of a message, and napi reports how much it
    // wrote.
    let mut buf = MaybeUninit::<[u8; STR_BUF]>::uninit();
    let mut len = 0usize;
    napi_call!(napi_get_value_string_utf8(
        env,
        v,
        buf.as_mut_ptr().cast(),
        STR_BUF,
        &mut len
    ))?;
    // V8 writes whole characters only, so a truncated copy stops at most 3 bytes short of the
    // STR_BUF - 1 it may write: anything shorter is the whole string.
    if len + 4 < STR_BUF {
        // SAFETY: napi wrote `len` (< STR_BUF) bytes at the start of `buf`.
        let written = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
        return Ok(f(utf8(written)?));
    }
    napi_call!(napi_get_value_string_utf8(
        env,
        v,
        ptr::null_mut(),
        0,
        &mut len
    ))?;
    let mut heap = vec![0u8; len + 1];
    napi_call!(napi_get_value_string_utf8(
        env,
        v,
        heap.as_mut_ptr().cast(),
        len + 1,
        &mut len
    ))?;
    Ok(f(utf8(&heap[..len])?))
}

/// Runs `f` on the UTF-8 text of `v` when it is a string; `None` (and no other call) when it is
/// not. One napi call for a short string, where a type check first would take two.
pub fn try_str<R>(
    env: sys::napi_env,
    v: sys::napi_value,
    f: impl FnOnce(&str) -> R,
) -> Result<Option<R>> {
    let mut buf = MaybeUninit::<[u8; STR_BUF]>::uninit();
    let mut len = 0usize;
    // SAFETY: a value of the running callback; napi writes at most STR_BUF bytes into `buf`.
    let status = unsafe {
        sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), STR_BUF, &mut len)
    };
    if status == sys::Status::napi_string_expected {
        return Ok(None);
    }
    crate::error::check(status, "napi_get_value_string_utf8")?;
    if len + 4 < STR_BUF {
        // SAFETY: napi wrote `len` (< STR_BUF) bytes at the start of `buf`.
        let written = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
        return Ok(Some(f(utf8(written)?)));
    }
    with_str(env, v, f).map(Some)
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes)
        .map_err(|e| Error::Internal(format!("napi returned invalid UTF-8: {e}")).into())
}

/// A new JS string.
pub fn string(env: sys::napi_env, s: &str) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    let len = s.len() as isize;
    napi_call!(napi_create_string_utf8(
        env,
        s.as_ptr().cast(),
        len,
        &mut out
    ))?;
    Ok(out)
}

/// A new `Buffer` of its own holding a copy of `bytes` (`super::realm::buffer` cuts small ones
/// from a slab).
pub fn buffer_copy(env: sys::napi_env, bytes: &[u8]) -> Result<sys::napi_value> {
    let (mut out, mut data) = (ptr::null_mut(), ptr::null_mut());
    let src = bytes.as_ptr().cast();
    napi_call!(napi_create_buffer_copy(
        env,
        bytes.len(),
        src,
        &mut data,
        &mut out
    ))?;
    Ok(out)
}

/// Byte width of one element of a TypedArray kind.
fn element_size(kind: sys::napi_typedarray_type) -> Option<usize> {
    use sys::TypedarrayType as T;
    Some(match kind {
        T::int8_array | T::uint8_array | T::uint8_clamped_array => 1,
        T::int16_array | T::uint16_array => 2,
        T::int32_array | T::uint32_array | T::float32_array => 4,
        T::float64_array | T::bigint64_array | T::biguint64_array => 8,
        _ => return None,
    })
}

/// Runs `f` on the bytes of a TypedArray (a `Buffer` included), `DataView` or `ArrayBuffer`,
/// without copying them; `None` for any other value. `f` must not run JavaScript.
pub fn with_bytes<R>(
    env: sys::napi_env,
    v: sys::napi_value,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<Option<R>> {
    let (mut yes, mut data, mut len) = (false, ptr::null_mut(), 0usize);
    let (no_buffer, no_offset) = (ptr::null_mut(), ptr::null_mut());
    napi_call!(napi_is_typedarray(env, v, &mut yes))?;
    if yes {
        let mut kind = 0;
        napi_call!(napi_get_typedarray_info(
            env, v, &mut kind, &mut len, &mut data, no_buffer, no_offset
        ))?;
        let Some(width) = element_size(kind) else {
            let msg = format!("cannot use a TypedArray of kind {kind} as bytes");
            return Err(Error::UnsupportedType(msg).into());
        };
        len *= width;
    } else {
        napi_call!(napi_is_dataview(env, v, &mut yes))?;
        if yes {
            napi_call!(napi_get_dataview_info(
                env, v, &mut len, &mut data, no_buffer, no_offset
            ))?;
        } else {
            napi_call!(napi_is_arraybuffer(env, v, &mut yes))?;
            if !yes {
                return Ok(None);
            }
            napi_call!(napi_get_arraybuffer_info(env, v, &mut data, &mut len))?;
        }
    }
    if len == 0 || data.is_null() {
        return Ok(Some(f(&[])));
    }
    // SAFETY: napi reports `len` readable bytes at `data` (the view's first byte). No JavaScript
    // runs while `f` holds the slice, so the memory can be neither detached nor resized meanwhile.
    let bytes = unsafe { std::slice::from_raw_parts(data as *const u8, len) };
    Ok(Some(f(bytes)))
}

/// A data-property descriptor for `napi_define_properties`: `obj[name] = value` with `attributes`.
pub fn property(
    name: &CStr,
    value: sys::napi_value,
    attributes: sys::napi_property_attributes,
) -> sys::napi_property_descriptor {
    sys::napi_property_descriptor {
        utf8name: name.as_ptr(),
        name: ptr::null_mut(),
        method: None,
        getter: None,
        setter: None,
        value,
        attributes,
        data: ptr::null_mut(),
    }
}

/// Reads the running call's `this`, its function data and up to `argv.len()` arguments into
/// `argv` (missing ones are `undefined`); returns `(argc, this, data)`, where `argc` is the count
/// the call was made with (it may exceed `argv.len()`).
///
/// # Safety
/// `info` must be the callback info of the running call.
pub unsafe fn cb_info(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    argv: &mut [sys::napi_value],
) -> Result<(usize, sys::napi_value, *mut std::ffi::c_void)> {
    let mut argc = argv.len();
    let (mut this, mut data) = (ptr::null_mut(), ptr::null_mut());
    napi_call!(napi_get_cb_info(
        env,
        info,
        &mut argc,
        argv.as_mut_ptr(),
        &mut this,
        &mut data
    ))?;
    Ok((argc, this, data))
}
