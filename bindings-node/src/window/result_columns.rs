//! Node face of `dashfeed::window::ResultColumns`: the plain object `Aggregator.pollColumns()` /
//! `flushColumns()` return — one TypedArray per number column and the key parts dictionary-encoded
//! as `{ names, codes }` (the shape `addMany` takes a categorical column in), so a poll of 60,000
//! results makes a few dozen JS values plus one string per distinct text instead of 60,000 objects.
//!
//! Raw Node-API: the object, its TypedArrays and its strings are made in one pass over the columns.
//! Bench rows: `node bench/window.js`, the `addMany (categorical) + pollColumns` rows.

use super::results::{string_array, typed};
use crate::error::Result;
use crate::napi::raw::{self, napi_call};
use crate::napi::realm;
use dashfeed::window::{quantile_name, Categorical, ResultColumns};
use napi::sys;
use napi_derive::napi;
use std::ffi::CStr;
use std::ptr;

/// A dictionary-encoded text column: row `i`'s text is `names[codes[i]]`.
// The TypeScript declaration only: `columns_to_js` makes the object.
#[allow(dead_code)]
#[napi(object, object_from_js = false, js_name = "WindowTextColumn")]
pub struct TextColumnType {
    /// The distinct texts.
    pub names: Vec<String>,
    /// Per row: the index of its text in `names`.
    #[napi(ts_type = "Uint32Array")]
    pub codes: (),
}

/// Window results as columns (what `pollColumns()` / `flushColumns()` return): row `i` of every
/// column is the result `poll()` would have returned in its place.
// The TypeScript declaration only: `columns_to_js` makes the object.
#[allow(dead_code)]
#[napi(object, object_from_js = false, js_name = "WindowColumns")]
pub struct WindowColumnsType {
    /// Number of results (rows).
    pub length: u32,
    /// Dashboard ids.
    #[napi(ts_type = "WindowTextColumn")]
    pub dashboard: (),
    /// Metric names.
    #[napi(ts_type = "WindowTextColumn")]
    pub metric: (),
    /// Tags: row `i`'s tags are `sets[codes[i]]` (each distinct set once, sorted by name).
    #[napi(ts_type = "{ sets: Array<Record<string, string>>; codes: Uint32Array }")]
    pub tags: (),
    /// Window starts (ms).
    #[napi(ts_type = "Float64Array")]
    pub start: (),
    /// Window ends (ms).
    #[napi(ts_type = "Float64Array")]
    pub end: (),
    /// Event counts.
    #[napi(ts_type = "Float64Array")]
    pub count: (),
    /// Sums of the values.
    #[napi(ts_type = "Float64Array")]
    pub sum: (),
    /// Smallest values.
    #[napi(ts_type = "Float64Array")]
    pub min: (),
    /// Largest values.
    #[napi(ts_type = "Float64Array")]
    pub max: (),
    /// `sum / count`.
    #[napi(ts_type = "Float64Array")]
    pub mean: (),
    /// Values of the earliest events.
    #[napi(ts_type = "Float64Array")]
    pub first: (),
    /// Values of the latest events.
    #[napi(ts_type = "Float64Array")]
    pub last: (),
    /// One column per configured quantile, by name (`p50`, `p99`).
    #[napi(ts_type = "Record<string, Float64Array>")]
    pub quantiles: (),
    /// 1 for a window's final result, 0 for a partial update.
    #[napi(js_name = "final", ts_type = "Uint8Array")]
    pub is_final: (),
}

fn object(env: sys::napi_env) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    napi_call!(napi_create_object(env, &mut out))?;
    Ok(out)
}

fn set(env: sys::napi_env, obj: sys::napi_value, name: &CStr, v: sys::napi_value) -> Result<()> {
    napi_call!(napi_set_named_property(env, obj, name.as_ptr(), v))
}

/// `obj[name] = v` as an own data property, whatever the name (`"__proto__"` included).
fn define(env: sys::napi_env, obj: sys::napi_value, name: &str, v: sys::napi_value) -> Result<()> {
    let prop = sys::napi_property_descriptor {
        utf8name: ptr::null(),
        name: raw::string(env, name)?,
        method: None,
        getter: None,
        setter: None,
        value: v,
        attributes: sys::PropertyAttributes::writable
            | sys::PropertyAttributes::enumerable
            | sys::PropertyAttributes::configurable,
        data: ptr::null_mut(),
    };
    napi_call!(napi_define_properties(env, obj, 1, &prop))
}

fn array(
    env: sys::napi_env,
    items: impl Iterator<Item = Result<sys::napi_value>>,
) -> Result<sys::napi_value> {
    realm::array(env, &items.collect::<Result<Vec<_>>>()?)
}

/// `{ names, codes }` of a categorical column.
fn text_column(env: sys::napi_env, cat: &Categorical) -> Result<sys::napi_value> {
    use sys::TypedarrayType as T;
    let out = object(env)?;
    set(env, out, c"names", string_array(env, cat.names())?)?;
    set(env, out, c"codes", typed(env, T::uint32_array, &cat.codes)?)?;
    Ok(out)
}

/// The JS object of `cols` (see [`WindowColumnsType`]).
pub fn columns_to_js(env: sys::napi_env, cols: &ResultColumns) -> Result<sys::napi_value> {
    use sys::TypedarrayType as T;
    let out = object(env)?;
    let mut n = ptr::null_mut();
    napi_call!(napi_create_uint32(env, cols.len() as u32, &mut n))?;
    set(env, out, c"length", n)?;
    set(env, out, c"dashboard", text_column(env, &cols.dashboard)?)?;
    set(env, out, c"metric", text_column(env, &cols.metric)?)?;
    let sets = array(
        env,
        cols.tags.sets.iter().map(|set| {
            let obj = object(env)?;
            for (k, v) in set {
                define(env, obj, k, raw::string(env, v)?)?;
            }
            Ok(obj)
        }),
    )?;
    let tags = object(env)?;
    set(env, tags, c"sets", sets)?;
    set(
        env,
        tags,
        c"codes",
        typed(env, T::uint32_array, &cols.tags.codes)?,
    )?;
    set(env, out, c"tags", tags)?;
    let f64s = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    set(
        env,
        out,
        c"start",
        typed(env, T::float64_array, &f64s(&cols.start_ms))?,
    )?;
    set(
        env,
        out,
        c"end",
        typed(env, T::float64_array, &f64s(&cols.end_ms))?,
    )?;
    let count: Vec<f64> = cols.count.iter().map(|&c| c as f64).collect();
    set(env, out, c"count", typed(env, T::float64_array, &count)?)?;
    for (name, col) in [
        (c"sum", &cols.sum),
        (c"min", &cols.min),
        (c"max", &cols.max),
        (c"mean", &cols.mean),
        (c"first", &cols.first),
        (c"last", &cols.last),
    ] {
        set(env, out, name, typed(env, T::float64_array, col)?)?;
    }
    let quantiles = object(env)?;
    for (q, col) in cols.quantiles.iter().zip(&cols.quantile_values) {
        define(
            env,
            quantiles,
            &quantile_name(*q),
            typed(env, T::float64_array, col)?,
        )?;
    }
    set(env, out, c"quantiles", quantiles)?;
    let finals: Vec<u8> = cols.is_final.iter().map(|&f| u8::from(f)).collect();
    set(env, out, c"final", typed(env, T::uint8_array, &finals)?)?;
    Ok(out)
}
