//! The columns of `Aggregator.addMany`: text columns (one string, an array of strings read into one
//! buffer of distinct names plus codes, or a categorical `{ names, codes }`), the values column (a `Float64Array` read in place, or an array of numbers) and the
//! event-time column (one time for the batch, a `BigInt64Array` read in place, or a
//! `Float64Array` / array of whole numbers).
//!
//! TypedArrays are read in place: their memory is borrowed only after every other argument was read
//! (reading an array element or a tag may run JavaScript — a getter, a Proxy — which could detach
//! or resize a buffer), for the duration of the core call, during which no JavaScript runs.
//!
//! Raw Node-API: typed arrays are read in place and string columns go to the core as names + codes. Bench
//! rows: `node bench/window.js`, the `addMany` rows.

use super::names::{call_names, CallNames, KeptNames, Slot};
use super::HELPERS;
use crate::error::Result;
use crate::napi::args::{integer, number, whole};
use crate::napi::raw::{self, napi_call};
use crate::napi::script;
use dashfeed::event::now_ms;
use dashfeed::window::{Codes, Column, Names};
use dashfeed::Error;
use napi::sys;
use parking_lot::Mutex;
use std::ptr;

/// A text column: one string for every row, or dictionary-encoded names plus one code per row.
pub enum Texts {
    /// The same text for every row.
    One(String),
    /// One per row, dictionary-encoded: row `i` is name `codes[i]` (validated by the core).
    Codes {
        /// The distinct names: read for this call, or kept by the aggregator.
        names: CallNames,
        /// A Uint32Array or an Int32Array of one name index per row (read in place).
        codes: Handle,
        /// Its TypedArray kind.
        kind: i32,
    },
}

/// The JS number of a column slot, as the helpers take it.
fn slot_value(env: sys::napi_env, slot: Slot) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    napi_call!(napi_create_uint32(env, slot as u32, &mut out))?;
    Ok(out)
}

impl Texts {
    /// Reads a string, an array of strings (dictionary-encoded by the JS helper into the
    /// aggregator's dictionary for this column: only names not seen before are copied out of V8),
    /// or a categorical `{ names, codes }` (an array of strings and a `Uint32Array` /
    /// `Int32Array` of one index into it per row; names equal to the last ones kept are not read
    /// again). `this` is the aggregator, `kept` its names.
    pub fn read(
        env: sys::napi_env,
        v: sys::napi_value,
        what: &str,
        (this, slot, kept): (sys::napi_value, Slot, &Mutex<KeptNames>),
    ) -> Result<Texts> {
        let t = raw::type_of(env, v)?;
        if t == sys::ValueType::napi_string {
            return Ok(Texts::One(raw::with_str(env, v, str::to_owned)?));
        }
        let mut yes = false;
        napi_call!(napi_is_array(env, v, &mut yes))?;
        if !yes && t == sys::ValueType::napi_object {
            let (names, codes) = (raw::named(env, v, c"names")?, raw::named(env, v, c"codes")?);
            napi_call!(napi_is_array(env, names, &mut yes))?;
            let kind = typed_kind(env, codes)?;
            let int = matches!(
                kind,
                Some(sys::TypedarrayType::uint32_array | sys::TypedarrayType::int32_array)
            );
            if !yes || !int {
                let msg = format!(
                    "{what} as an object must be {{ names: string[], codes: Uint32Array | Int32Array }}"
                );
                return Err(Error::invalid(msg).into());
            }
            let args = [this, slot_value(env, slot)?, names];
            let pair = script::call(env, HELPERS, c"categorical", &args)?;
            let (gen, list) = (raw::element(env, pair, 0)?, raw::element(env, pair, 1)?);
            let gen = number(env, gen, "generation")?;
            let names = call_names(env, kept, (slot, gen, list), what)?;
            return Ok(Texts::Codes {
                names,
                codes: Handle(codes),
                kind: kind.unwrap_or(sys::TypedarrayType::uint32_array),
            });
        }
        if !yes {
            let msg = format!("{what} must be a string, an array of strings or {{ names, codes }}");
            return Err(Error::invalid(msg).into());
        }
        let args = [this, slot_value(env, slot)?, v];
        let encoded = script::call(env, HELPERS, c"codes", &args)?;
        if raw::type_of(env, encoded)? == sys::ValueType::napi_number {
            let i = number(env, encoded, "row")?;
            return Err(Error::invalid(format!("{what}[{i}] must be a string")).into());
        }
        let (gen, list, codes) = (
            raw::element(env, encoded, 0)?,
            raw::element(env, encoded, 1)?,
            raw::element(env, encoded, 2)?,
        );
        let gen = number(env, gen, "generation")?;
        let names = call_names(env, kept, (slot, gen, list), what)?;
        Ok(Texts::Codes {
            names,
            codes: Handle(codes),
            kind: sys::TypedarrayType::uint32_array,
        })
    }

    /// The distinct names of a `Codes` column (empty for `One`).
    pub fn names(&self) -> Vec<&str> {
        match self {
            Texts::One(_) => Vec::new(),
            Texts::Codes { names, .. } => names.names(),
        }
    }

    /// The codes of a `Codes` column, in place (empty for `One`).
    ///
    /// # Safety
    /// No JavaScript may run while the result is alive (it reads the codes array in place).
    pub unsafe fn codes(&self, env: sys::napi_env) -> Result<CodeRows<'_>> {
        let Texts::Codes { codes, kind, .. } = self else {
            return Ok(CodeRows::U32(SliceOrVec::Slice(&[])));
        };
        // SAFETY: forwarded to the caller; `kind` is the array's kind, checked by `read`.
        unsafe {
            Ok(if *kind == sys::TypedarrayType::int32_array {
                CodeRows::I32(view::<i32>(env, codes.0, *kind, "codes")?)
            } else {
                CodeRows::U32(view::<u32>(env, codes.0, *kind, "codes")?)
            })
        }
    }

    /// The core column over `names` (from [`names`](Texts::names)) and `codes` (from
    /// [`codes`](Texts::codes)).
    pub fn column<'a>(&'a self, names: &'a [&'a str], codes: &'a CodeRows<'a>) -> Names<'a> {
        match self {
            Texts::One(s) => Names::One(s.as_str()),
            Texts::Codes { .. } => Names::Coded {
                names,
                codes: match codes {
                    CodeRows::U32(c) => Codes::U32(c),
                    CodeRows::I32(c) => Codes::I32(c),
                },
                valid: None,
            },
        }
    }
}

/// A categorical text column of `addMany` (the declaration of its TypeScript type; `Texts::read`
/// reads it): row `i` is `names[codes[i]]`.
#[allow(dead_code)] // declared for its TypeScript type in index.d.ts only
#[napi_derive::napi(object, object_to_js = false)]
pub struct CategoricalColumn {
    /// The distinct names.
    pub names: Vec<String>,
    /// One index into `names` per row.
    #[napi(ts_type = "Uint32Array | Int32Array")]
    pub codes: napi::bindgen_prelude::Uint32Array,
}

/// The codes of a text column, borrowed from its TypedArray.
pub enum CodeRows<'a> {
    /// From a Uint32Array.
    U32(SliceOrVec<'a, u32>),
    /// From an Int32Array.
    I32(SliceOrVec<'a, i32>),
}

/// A JS value kept by a column until it is read in place.
#[derive(Clone, Copy)]
pub struct Handle(sys::napi_value);

/// The values column before it is borrowed.
pub enum Values {
    /// A `Float64Array`, read in place by [`Values::slice`].
    Typed(sys::napi_value),
    /// An array of numbers, copied.
    Owned(Vec<f64>),
}

impl Values {
    /// Reads a `Float64Array` (kept as is) or an array of numbers (copied).
    pub fn read(env: sys::napi_env, v: sys::napi_value) -> Result<Values> {
        match typed_kind(env, v)? {
            Some(sys::TypedarrayType::float64_array) => return Ok(Values::Typed(v)),
            Some(_) => {
                let msg =
                    "values must be a Float64Array or an array of numbers, not another TypedArray";
                return Err(Error::invalid(msg).into());
            }
            None => {}
        }
        let mut yes = false;
        napi_call!(napi_is_array(env, v, &mut yes))?;
        if !yes {
            return Err(
                Error::invalid("values must be a Float64Array or an array of numbers").into(),
            );
        }
        let n = raw::array_len(env, v)?;
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let item = raw::element(env, v, i)?;
            out.push(number(env, item, format_args!("values[{i}]"))?);
        }
        Ok(Values::Owned(out))
    }

    /// The values.
    ///
    /// # Safety
    /// No JavaScript may run while the slice is alive (see the module docs).
    pub unsafe fn slice(&self, env: sys::napi_env) -> Result<SliceOrVec<'_, f64>> {
        match self {
            Values::Owned(v) => Ok(SliceOrVec::Slice(v)),
            // SAFETY: forwarded to the caller.
            Values::Typed(v) => unsafe {
                view::<f64>(env, *v, sys::TypedarrayType::float64_array, "values")
            },
        }
    }
}

/// The event-time column before it is borrowed.
pub enum Times {
    /// One time for every row.
    One(i64),
    /// A `BigInt64Array`, read in place by [`Times::column`].
    Typed(sys::napi_value),
    /// A `Float64Array` or an array of whole numbers / bigints, converted.
    Owned(Vec<i64>),
}

impl Times {
    /// Reads `undefined` / `null` (now), one number or bigint, a `BigInt64Array`, a
    /// `Float64Array` or an array of numbers; every time must be a whole number of ms.
    pub fn read(env: sys::napi_env, v: Option<sys::napi_value>) -> Result<Times> {
        let Some(v) = v else {
            return Ok(Times::One(now_ms()));
        };
        match raw::type_of(env, v)? {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => {
                return Ok(Times::One(now_ms()))
            }
            sys::ValueType::napi_number | sys::ValueType::napi_bigint => {
                return Ok(Times::One(integer(env, v, "ts")?))
            }
            _ => {}
        }
        match typed_kind(env, v)? {
            Some(sys::TypedarrayType::bigint64_array) => return Ok(Times::Typed(v)),
            Some(sys::TypedarrayType::float64_array) => {
                // SAFETY: the copy is made at once; nothing runs JavaScript meanwhile.
                let floats =
                    unsafe { view::<f64>(env, v, sys::TypedarrayType::float64_array, "ts")? };
                let mut out = Vec::with_capacity(floats.len());
                for (i, &f) in floats.iter().enumerate() {
                    out.push(whole(f, format_args!("ts[{i}]"))?);
                }
                return Ok(Times::Owned(out));
            }
            Some(_) => {
                let msg =
                    "ts must be a BigInt64Array or a Float64Array of ms, not another TypedArray";
                return Err(Error::invalid(msg).into());
            }
            None => {}
        }
        let mut yes = false;
        napi_call!(napi_is_array(env, v, &mut yes))?;
        if !yes {
            let msg = "ts must be a number, a bigint, a BigInt64Array, a Float64Array or an array";
            return Err(Error::invalid(msg).into());
        }
        let n = raw::array_len(env, v)?;
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let item = raw::element(env, v, i)?;
            out.push(integer(env, item, format_args!("ts[{i}]"))?);
        }
        Ok(Times::Owned(out))
    }

    /// The borrowed storage of the column (see [`Times::column`]).
    ///
    /// # Safety
    /// No JavaScript may run while the result is alive (see the module docs).
    pub unsafe fn rows(&self, env: sys::napi_env) -> Result<SliceOrVec<'_, i64>> {
        match self {
            Times::One(_) => Ok(SliceOrVec::Slice(&[])),
            Times::Owned(v) => Ok(SliceOrVec::Slice(v)),
            // SAFETY: forwarded to the caller.
            Times::Typed(v) => unsafe {
                view::<i64>(env, *v, sys::TypedarrayType::bigint64_array, "ts")
            },
        }
    }

    /// The core column over `rows` (from [`Times::rows`]).
    pub fn column<'a>(&self, rows: &'a [i64]) -> Column<'a, i64> {
        match self {
            Times::One(t) => Column::One(*t),
            _ => Column::Each(rows),
        }
    }
}

/// Elements borrowed from a TypedArray, or copied when its memory is not aligned for `T`.
pub enum SliceOrVec<'a, T> {
    /// Borrowed.
    Slice(&'a [T]),
    /// Copied.
    Vec(Vec<T>),
}

impl<T> std::ops::Deref for SliceOrVec<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            SliceOrVec::Slice(s) => s,
            SliceOrVec::Vec(v) => v,
        }
    }
}

/// The kind of a TypedArray (`sys::TypedarrayType::*`), `None` for any other value.
fn typed_kind(env: sys::napi_env, v: sys::napi_value) -> Result<Option<i32>> {
    let mut yes = false;
    napi_call!(napi_is_typedarray(env, v, &mut yes))?;
    if !yes {
        return Ok(None);
    }
    let (mut kind, mut len, mut data) = (0, 0usize, ptr::null_mut());
    napi_call!(napi_get_typedarray_info(
        env,
        v,
        &mut kind,
        &mut len,
        &mut data,
        ptr::null_mut(),
        ptr::null_mut()
    ))?;
    Ok(Some(kind))
}

/// The elements of a TypedArray of `kind`, in place (copied only if misaligned).
///
/// # Safety
/// No JavaScript may run while the result is alive: it borrows the array's memory.
unsafe fn view<'a, T: Copy>(
    env: sys::napi_env,
    v: sys::napi_value,
    kind: i32,
    what: &str,
) -> Result<SliceOrVec<'a, T>> {
    let (mut got, mut len, mut data) = (0, 0usize, ptr::null_mut());
    napi_call!(napi_get_typedarray_info(
        env,
        v,
        &mut got,
        &mut len,
        &mut data,
        ptr::null_mut(),
        ptr::null_mut()
    ))?;
    if got != kind {
        return Err(Error::invalid(format!("{what} has the wrong TypedArray kind")).into());
    }
    if len == 0 || data.is_null() {
        return Ok(SliceOrVec::Slice(&[]));
    }
    let p = data as *const T;
    if !(p as usize).is_multiple_of(std::mem::align_of::<T>()) {
        // SAFETY: napi reports `len` elements of `T` at `data`; unaligned reads copy them out.
        let copied = (0..len).map(|i| unsafe { p.add(i).read_unaligned() });
        return Ok(SliceOrVec::Vec(copied.collect()));
    }
    // SAFETY: `len` aligned elements of `T` live at `data` (a Float64Array / BigInt64Array of this
    // length) and stay valid while no JavaScript runs, which the caller guarantees.
    Ok(SliceOrVec::Slice(unsafe {
        std::slice::from_raw_parts(p, len)
    }))
}
