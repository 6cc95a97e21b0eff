//! Python face of `dashfeed::codec`: `encode` / `decode`, the `Codec` class, and the conversions between
//! Python objects and `dashfeed::Value` that every other binding file reuses.
//!
//! Accepted in: dict, list, tuple, str, bytes / bytearray / memoryview, int, float, bool, None (subclasses
//! included). Anything else is `UnsupportedTypeError` (a `TypeError`) naming the type. Nesting deeper than
//! `max_depth` (including self-referencing lists) is `TooDeepError`. Large payloads are encoded and decoded
//! with the GIL released.

use crate::error::{to_py, IntoPyResult};
use dashfeed::codec::{Codec, Format, Limits, Value, DEFAULT_COMPRESS_OVER, DEFAULT_LEVEL};
use dashfeed::Error;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};

/// Payloads with more nodes (or bytes) than this are encoded / decoded with the GIL released.
const DETACH_OVER: usize = 512;

/// Converts a Python object to a core value, refusing unsupported types and excessive depth.
pub fn to_value(obj: &Bound<'_, PyAny>, max_depth: usize) -> PyResult<Value> {
    let mut nodes = 0;
    Conv { max_depth, nodes: &mut nodes }.value(obj, 0)
}

struct Conv<'a> {
    max_depth: usize,
    nodes: &'a mut usize,
}

impl Conv<'_> {
    fn value(&mut self, obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
        *self.nodes += 1;
        // Exact checks first: they are the common case and the cheapest.
        if let Ok(s) = obj.cast_exact::<PyString>() {
            return Ok(Value::Str(s.to_cow()?.into_owned()));
        }
        if let Ok(f) = obj.cast_exact::<PyFloat>() {
            return Ok(Value::Float(f.value()));
        }
        if obj.is_instance_of::<PyBool>() {
            return Ok(Value::Bool(obj.is_truthy()?));
        }
        if obj.is_instance_of::<PyInt>() {
            return int(obj);
        }
        if obj.is_none() {
            return Ok(Value::Nil);
        }
        if let Ok(d) = obj.cast::<PyDict>() {
            self.enter(depth)?;
            let mut out = Vec::with_capacity(d.len());
            for (k, v) in d.iter() {
                out.push((self.value(&k, depth + 1)?, self.value(&v, depth + 1)?));
            }
            return Ok(Value::Map(out));
        }
        if let Ok(l) = obj.cast::<PyList>() {
            self.enter(depth)?;
            let mut out = Vec::with_capacity(l.len());
            for item in l.iter() {
                out.push(self.value(&item, depth + 1)?);
            }
            return Ok(Value::Array(out));
        }
        if let Ok(t) = obj.cast::<PyTuple>() {
            self.enter(depth)?;
            let mut out = Vec::with_capacity(t.len());
            for item in t.iter() {
                out.push(self.value(&item, depth + 1)?);
            }
            return Ok(Value::Array(out));
        }
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(Value::Str(s.to_cow()?.into_owned()));
        }
        if let Ok(f) = obj.cast::<PyFloat>() {
            return Ok(Value::Float(f.value()));
        }
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(Value::Bin(b.as_bytes().to_vec()));
        }
        if let Ok(b) = obj.cast::<PyByteArray>() {
            return Ok(Value::Bin(b.to_vec()));
        }
        if obj.is_instance_of::<PyMemoryView>() {
            let bytes = obj.call_method0("tobytes")?;
            return Ok(Value::Bin(bytes.cast::<PyBytes>()?.as_bytes().to_vec()));
        }
        let name = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        Err(to_py(Error::UnsupportedType(format!(
            "cannot encode an object of type {name} (dict, list, tuple, str, bytes, int, float, bool and None are supported)"
        ))))
    }

    fn enter(&self, depth: usize) -> PyResult<()> {
        if depth >= self.max_depth {
            return Err(to_py(Error::TooDeep { limit: self.max_depth }));
        }
        Ok(())
    }
}

fn int(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if let Ok(i) = obj.extract::<i64>() {
        return Ok(Value::Int(i));
    }
    if let Ok(u) = obj.extract::<u64>() {
        return Ok(Value::UInt(u));
    }
    Err(to_py(Error::Encode(format!(
        "integer {} is out of the MessagePack range -2**63 .. 2**64-1",
        obj.str().map(|s| s.to_string()).unwrap_or_default()
    ))))
}

/// Converts a core value to a Python object (maps to dict, arrays to list, bin to bytes; array map keys
/// become tuples so that they are hashable).
pub fn to_object<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Nil => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::UInt(u) => u.into_pyobject(py)?.into_any(),
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::Str(s) => PyString::new(py, s).into_any(),
        Value::Bin(b) => PyBytes::new(py, b).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_object(py, item)?)?;
            }
            list.into_any()
        }
        Value::Map(entries) => {
            let dict = PyDict::new(py);
            for (k, val) in entries {
                let key = match k {
                    Value::Array(items) => {
                        let parts: PyResult<Vec<_>> = items.iter().map(|i| to_object(py, i)).collect();
                        PyTuple::new(py, parts?)?.into_any()
                    }
                    other => to_object(py, other)?,
                };
                dict.set_item(key, to_object(py, val)?)?;
            }
            dict.into_any()
        }
    })
}

fn parse_format(format: &str) -> PyResult<Format> {
    format.parse::<Format>().py()
}

/// Encoder / decoder with fixed options: `Codec(format="msgpack", compress_over=1024, level=6, ...)`.
#[pyclass(module = "dashfeed", name = "Codec", frozen)]
pub struct PyCodec {
    inner: Codec,
}

impl PyCodec {
    fn encode_with<'py>(inner: &Codec, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let py = value.py();
        let mut nodes = 0;
        let v = Conv { max_depth: inner.limits.max_depth, nodes: &mut nodes }.value(value, 0)?;
        let bytes = if nodes > DETACH_OVER {
            py.detach(|| inner.encode(&v)).py()?
        } else {
            inner.encode(&v).py()?
        };
        Ok(PyBytes::new(py, &bytes))
    }

    fn decode_with<'py>(inner: &Codec, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = data.py();
        let value = if let Ok(b) = data.cast::<PyBytes>() {
            let raw = b.as_bytes();
            if raw.len() > DETACH_OVER {
                py.detach(|| inner.decode(raw)).py()?
            } else {
                inner.decode(raw).py()?
            }
        } else if let Ok(b) = data.cast::<PyByteArray>() {
            let owned = b.to_vec();
            py.detach(|| inner.decode(&owned)).py()?
        } else if data.is_instance_of::<PyMemoryView>() {
            let bytes = data.call_method0("tobytes")?;
            let raw = bytes.cast::<PyBytes>()?.as_bytes();
            py.detach(|| inner.decode(raw)).py()?
        } else {
            let name = data.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            return Err(to_py(Error::UnsupportedType(format!(
                "decode needs bytes, bytearray or memoryview, not {name}"
            ))));
        };
        to_object(py, &value)
    }
}

#[pymethods]
impl PyCodec {
    #[new]
    #[pyo3(signature = (format = "msgpack", *, compress_over = Some(DEFAULT_COMPRESS_OVER), level = DEFAULT_LEVEL, max_input = None, max_decompressed = None, max_depth = None))]
    fn new(
        format: &str,
        compress_over: Option<usize>,
        level: u32,
        max_input: Option<usize>,
        max_decompressed: Option<usize>,
        max_depth: Option<usize>,
    ) -> PyResult<Self> {
        let d = Limits::default();
        let inner = Codec {
            format: parse_format(format)?,
            compress_over,
            level,
            limits: Limits {
                max_input: max_input.unwrap_or(d.max_input),
                max_decompressed: max_decompressed.unwrap_or(d.max_decompressed),
                max_depth: max_depth.unwrap_or(d.max_depth),
            },
        };
        inner.validate().py()?;
        Ok(PyCodec { inner })
    }

    /// Encodes a value; gzipped when the encoded bytes are longer than `compress_over`.
    fn encode<'py>(&self, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        Self::encode_with(&self.inner, value)
    }

    /// Decodes bytes (gzipped or not) back to a value.
    fn decode<'py>(&self, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Self::decode_with(&self.inner, data)
    }

    /// The wire format name.
    #[getter]
    fn format(&self) -> &'static str {
        self.inner.format.name()
    }

    /// Gzip threshold in bytes, or None.
    #[getter]
    fn compress_over(&self) -> Option<usize> {
        self.inner.compress_over
    }

    /// Gzip level.
    #[getter]
    fn level(&self) -> u32 {
        self.inner.level
    }

    fn __repr__(&self) -> String {
        format!(
            "Codec(format={:?}, compress_over={:?}, level={})",
            self.inner.format.name(),
            self.inner.compress_over,
            self.inner.level
        )
    }
}

/// `encode(value, format="msgpack", compress_over=1024, level=6)` → bytes.
#[pyfunction]
#[pyo3(signature = (value, format = "msgpack", *, compress_over = Some(DEFAULT_COMPRESS_OVER), level = DEFAULT_LEVEL, max_depth = None))]
fn encode<'py>(
    value: &Bound<'py, PyAny>,
    format: &str,
    compress_over: Option<usize>,
    level: u32,
    max_depth: Option<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut codec = Codec { format: parse_format(format)?, compress_over, level, ..Codec::default() };
    if let Some(d) = max_depth {
        codec.limits.max_depth = d;
    }
    codec.validate().py()?;
    PyCodec::encode_with(&codec, value)
}

/// `decode(data, format="msgpack", ...)` → value; gzip is recognised by its magic bytes.
#[pyfunction]
#[pyo3(signature = (data, format = "msgpack", *, max_input = None, max_decompressed = None, max_depth = None))]
fn decode<'py>(
    data: &Bound<'py, PyAny>,
    format: &str,
    max_input: Option<usize>,
    max_decompressed: Option<usize>,
    max_depth: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let d = Limits::default();
    let codec = Codec {
        format: parse_format(format)?,
        limits: Limits {
            max_input: max_input.unwrap_or(d.max_input),
            max_decompressed: max_decompressed.unwrap_or(d.max_decompressed),
            max_depth: max_depth.unwrap_or(d.max_depth),
        },
        ..Codec::default()
    };
    codec.validate().py()?;
    PyCodec::decode_with(&codec, data)
}

/// Adds the codec functions and class to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCodec>()?;
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    Ok(())
}
