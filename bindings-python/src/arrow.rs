//! Arrow input through the Arrow PyCapsule interface (`__arrow_c_stream__` / `__arrow_c_array__`):
//! pyarrow arrays, chunked arrays and tables, polars series and data frames, pandas objects on the
//! pyarrow backend. The capsules are imported with arrow-rs's C Data / C Stream interface (zero-copy:
//! the arrays keep the producer's buffers alive and release them when dropped), and the columns are
//! read as the core's batch columns: strings as names (dictionary-encoded strings as names plus
//! codes), float64 values, int64 or timestamp event times (converted to ms).

use crate::error::to_py;
use arrow_array::cast::AsArray;
use arrow_array::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::ArrayStreamReader;
use arrow_array::types::{
    Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type,
    UInt8Type,
};
use arrow_array::{make_array, Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};
use dashfeed::window::{Bitmap, Codes};
use dashfeed::Error;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyCapsuleMethods, PyTuple};

fn arrow_err(what: &str, e: arrow_schema::ArrowError) -> PyErr {
    to_py(Error::invalid(format!(
        "{what}: cannot read the Arrow data ({e})"
    )))
}

/// Whether `obj` exports Arrow data through the PyCapsule interface.
pub fn is_arrow(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = obj.py();
    Ok(obj.hasattr(pyo3::intern!(py, "__arrow_c_stream__"))?
        || obj.hasattr(pyo3::intern!(py, "__arrow_c_array__"))?)
}

/// The chunks of an Arrow-exporting object (one array, or every array of its stream).
pub fn chunks(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<ArrayRef>> {
    let py = obj.py();
    if obj.hasattr(pyo3::intern!(py, "__arrow_c_stream__"))? {
        let capsule = obj
            .call_method0(pyo3::intern!(py, "__arrow_c_stream__"))?
            .cast_into::<PyCapsule>()?;
        let ptr = capsule.pointer_checked(Some(c"arrow_array_stream"))?;
        // SAFETY: the capsule named "arrow_array_stream" holds a valid FFI_ArrowArrayStream (the
        // interface's contract); `from_raw` moves it out and marks the capsule's copy released, so
        // the capsule's destructor does not release it again.
        let reader = unsafe { ArrayStreamReader::from_raw(ptr.as_ptr().cast()) }
            .map_err(|e| arrow_err(what, e))?;
        return reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| arrow_err(what, e));
    }
    let pair = obj
        .call_method0(pyo3::intern!(py, "__arrow_c_array__"))?
        .cast_into::<PyTuple>()?;
    let schema = pair.get_item(0)?.cast_into::<PyCapsule>()?;
    let array = pair.get_item(1)?.cast_into::<PyCapsule>()?;
    let schema_ptr = schema.pointer_checked(Some(c"arrow_schema"))?;
    let array_ptr = array.pointer_checked(Some(c"arrow_array"))?;
    // SAFETY: the capsules hold a valid FFI_ArrowArray and FFI_ArrowSchema (the interface's
    // contract). The array is moved out of its capsule (marked released there); the schema is only
    // borrowed while `schema` is alive, and its capsule releases it.
    let data = unsafe {
        let array = FFI_ArrowArray::from_raw(array_ptr.as_ptr().cast());
        from_ffi(array, &*schema_ptr.as_ptr().cast::<FFI_ArrowSchema>())
    }
    .map_err(|e| arrow_err(what, e))?;
    Ok(vec![make_array(data)])
}

/// The validity bitmap of an array with nulls.
pub fn validity(array: &dyn Array) -> Option<Bitmap<'_>> {
    let nulls = array.nulls()?;
    (nulls.null_count() > 0).then(|| Bitmap {
        bits: nulls.buffer().as_slice(),
        offset: nulls.offset(),
    })
}

/// The strings of a string array (plain, large or view), row by row; a null row reads as "" and
/// the caller refuses it through its validity.
pub fn strings<'a>(array: &'a dyn Array, what: &str) -> PyResult<Vec<&'a str>> {
    Ok(match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap_or(""))
            .collect(),
        DataType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .map(|s| s.unwrap_or(""))
            .collect(),
        DataType::Utf8View => array
            .as_string_view()
            .iter()
            .map(|s| s.unwrap_or(""))
            .collect(),
        other => {
            return Err(to_py(Error::invalid(format!(
                "{what}: Arrow strings or dictionary-encoded strings are needed, not {other}"
            ))))
        }
    })
}

/// A dictionary array's names (its values, as strings) and codes (its keys, read in place).
pub fn dictionary<'a>(
    array: &'a dyn Array,
    what: &str,
) -> PyResult<Option<(Vec<&'a str>, Codes<'a>)>> {
    let DataType::Dictionary(key, _) = array.data_type() else {
        return Ok(None);
    };
    macro_rules! keyed {
        ($t:ty, $variant:ident) => {{
            let dict = array.as_dictionary::<$t>();
            (
                strings(dict.values().as_ref(), what)?,
                Codes::$variant(dict.keys().values()),
            )
        }};
    }
    Ok(Some(match key.as_ref() {
        DataType::Int8 => keyed!(Int8Type, I8),
        DataType::Int16 => keyed!(Int16Type, I16),
        DataType::Int32 => keyed!(Int32Type, I32),
        DataType::Int64 => keyed!(Int64Type, I64),
        DataType::UInt8 => keyed!(UInt8Type, U8),
        DataType::UInt16 => keyed!(UInt16Type, U16),
        DataType::UInt32 => keyed!(UInt32Type, U32),
        DataType::UInt64 => keyed!(UInt64Type, U64),
        other => {
            return Err(to_py(Error::invalid(format!(
                "{what}: dictionary keys of type {other} are not supported"
            ))))
        }
    }))
}

/// The float64 values of an array, in place.
pub fn floats<'a>(array: &'a dyn Array, what: &str) -> PyResult<&'a [f64]> {
    match array.data_type() {
        DataType::Float64 => Ok(array.as_primitive::<Float64Type>().values()),
        other => Err(to_py(Error::invalid(format!(
            "{what}: Arrow float64 is needed, not {other}"
        )))),
    }
}

/// Event times in ms: int64 (ms) and timestamp[ms] in place (`Ok(Err(slice))`), other timestamp
/// units converted (`Ok(Ok(vec))`, rounded down to the ms).
pub fn times<'a>(array: &'a dyn Array, what: &str) -> PyResult<Result<Vec<i64>, &'a [i64]>> {
    let ticks = match array.data_type() {
        DataType::Int64 => return Ok(Err(array.as_primitive::<Int64Type>().values())),
        DataType::Timestamp(unit, _) => {
            let per_ms: i64 = match unit {
                TimeUnit::Second => -1000,
                TimeUnit::Millisecond => 1,
                TimeUnit::Microsecond => 1000,
                TimeUnit::Nanosecond => 1_000_000,
            };
            (per_ms, timestamp_values(array))
        }
        other => {
            return Err(to_py(Error::invalid(format!(
                "{what}: Arrow int64 (ms) or timestamp is needed, not {other}"
            ))))
        }
    };
    Ok(match ticks {
        (1, v) => Err(v),
        (-1000, v) => Ok(v.iter().map(|&s| s.saturating_mul(1000)).collect()),
        (per_ms, v) => Ok(v.iter().map(|&t| t.div_euclid(per_ms)).collect()),
    })
}

/// The raw int64 ticks of a timestamp array.
fn timestamp_values(array: &dyn Array) -> &[i64] {
    use arrow_array::types::{
        TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType,
    };
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            array.as_primitive::<TimestampSecondType>().values()
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            array.as_primitive::<TimestampMillisecondType>().values()
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            array.as_primitive::<TimestampMicrosecondType>().values()
        }
        _ => array.as_primitive::<TimestampNanosecondType>().values(),
    }
}
