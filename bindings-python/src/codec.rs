//! Python face of `dashfeed::codec`: `encode` / `decode`, the `Codec` class, and the conversions between
//! Python objects and `dashfeed::Value` that every other binding file reuses.
//!
//! Accepted in: dict, list, tuple, str, bytes / bytearray / memoryview, int, float, bool, None (subclasses
//! included). Anything else is `UnsupportedTypeError` (a `TypeError`) naming the type. Nesting deeper than
//! `max_depth` (including self-referencing lists) is `TooDeepError`. Large payloads are encoded and decoded
//! with the GIL released.

use crate::error::{to_py, IntoPyResult};
use dashfeed::codec::build::pairs;
use dashfeed::codec::{
    Build, Codec, Emit, Format, Limits, Source, Value, ValueEmitter, DEFAULT_COMPRESS_OVER,
    DEFAULT_LEVEL,
};
use dashfeed::Error;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};
use std::vec::Drain;

/// Payloads with more nodes (or bytes) than this are encoded / decoded with the GIL released.
const DETACH_OVER: usize = 512;

/// Converts a Python object to a core value, refusing unsupported types and excessive depth.
pub fn to_value(obj: &Bound<'_, PyAny>, max_depth: usize) -> PyResult<Value> {
    let mut e = ValueEmitter::new();
    Walk {
        max_depth,
        nodes: 0,
        out: &mut e,
    }
    .value(obj, 0)?;
    e.finish().py()
}

/// Walks a Python object top-down and emits it into a core [`Emit`] (a MessagePack writer or a value).
struct Walk<'a, E: Emit> {
    max_depth: usize,
    nodes: usize,
    out: &'a mut E,
}

impl<E: Emit> Walk<'_, E> {
    fn value(&mut self, obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<()> {
        self.nodes += 1;
        // Exact checks first: they are the common case and the cheapest.
        if let Ok(s) = obj.cast_exact::<PyString>() {
            return self.out.emit_str(s.to_str()?).py();
        }
        if let Ok(f) = obj.cast_exact::<PyFloat>() {
            return self.out.emit_float(f.value()).py();
        }
        if let Ok(d) = obj.cast::<PyDict>() {
            self.enter(depth)?;
            self.out.emit_map(d.len()).py()?;
            for (k, v) in d.iter() {
                self.value(&k, depth + 1)?;
                self.value(&v, depth + 1)?;
            }
            return Ok(());
        }
        if obj.is_instance_of::<PyBool>() {
            return self.out.emit_bool(obj.is_truthy()?).py();
        }
        if obj.is_instance_of::<PyInt>() {
            if let Ok(i) = obj.extract::<i64>() {
                return self.out.emit_int(i).py();
            }
            if let Ok(u) = obj.extract::<u64>() {
                return self.out.emit_uint(u).py();
            }
            let shown = obj.str().map(|s| s.to_string()).unwrap_or_default();
            let msg = format!("integer {shown} is out of the MessagePack range -2**63 .. 2**64-1");
            return Err(to_py(Error::Encode(msg)));
        }
        if obj.is_none() {
            return self.out.emit_nil().py();
        }
        if let Ok(l) = obj.cast::<PyList>() {
            self.enter(depth)?;
            self.out.emit_array(l.len()).py()?;
            for item in l.iter() {
                self.value(&item, depth + 1)?;
            }
            return Ok(());
        }
        if let Ok(t) = obj.cast::<PyTuple>() {
            self.enter(depth)?;
            self.out.emit_array(t.len()).py()?;
            for item in t.iter() {
                self.value(&item, depth + 1)?;
            }
            return Ok(());
        }
        if let Ok(s) = obj.cast::<PyString>() {
            return self.out.emit_str(s.to_str()?).py();
        }
        if let Ok(f) = obj.cast::<PyFloat>() {
            return self.out.emit_float(f.value()).py();
        }
        if let Ok(b) = obj.cast::<PyBytes>() {
            return self.out.emit_bin(b.as_bytes()).py();
        }
        if let Ok(b) = obj.cast::<PyByteArray>() {
            return self.out.emit_bin(&b.to_vec()).py();
        }
        if obj.is_instance_of::<PyMemoryView>() {
            let bytes = obj.call_method0("tobytes")?;
            return self.out.emit_bin(bytes.cast::<PyBytes>()?.as_bytes()).py();
        }
        let name = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        Err(to_py(Error::UnsupportedType(format!(
            "cannot encode an object of type {name} (dict, list, tuple, str, bytes, int, float, bool and None are supported)"
        ))))
    }

    fn enter(&self, depth: usize) -> PyResult<()> {
        if depth >= self.max_depth {
            return Err(to_py(Error::TooDeep {
                limit: self.max_depth,
            }));
        }
        Ok(())
    }
}

/// A Python object as the core's encoder walks it (`Codec::encode_from`: the walk, then JSON text and
/// gzip, which run with the GIL released once the walk has counted more than `DETACH_OVER` nodes).
struct PySource<'a, 'py> {
    obj: &'a Bound<'py, PyAny>,
    max_depth: usize,
    nodes: usize,
}

impl Source for PySource<'_, '_> {
    type Error = BuildError;

    fn emit<S: Emit>(&mut self, sink: &mut S) -> Result<(), BuildError> {
        let mut walk = Walk {
            max_depth: self.max_depth,
            nodes: 0,
            out: sink,
        };
        let walked = walk.value(self.obj, 0);
        self.nodes = walk.nodes;
        walked.map_err(BuildError::Py)
    }

    fn detached<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        if self.nodes > DETACH_OVER {
            self.obj.py().detach(work)
        } else {
            work()
        }
    }
}

/// Errors while building Python objects (or walking them): a core error (limits, malformed input) or a Python one.
enum BuildError {
    Core(Error),
    Py(PyErr),
}

impl From<Error> for BuildError {
    fn from(e: Error) -> Self {
        BuildError::Core(e)
    }
}

impl From<BuildError> for PyErr {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::Core(e) => to_py(e),
            BuildError::Py(e) => e,
        }
    }
}

/// Builds Python objects straight from the decoder: dict, list, str, bytes, int, float, bool, None; array
/// map keys become tuples so that they are hashable.
struct PyBuilder<'py> {
    py: Python<'py>,
    /// Map keys seen in this decode, in a small direct-mapped cache: a batch of 50 `{"metric_name": ...}`
    /// maps makes one key object, whose hash CPython computes once.
    /// Empty (no caching) for small inputs, where setting the cache up costs more than it saves.
    keys: Vec<Option<Bound<'py, PyString>>>,
}

const KEY_SLOTS: usize = 64;

fn key_slot(key: &str) -> usize {
    let mut h: u32 = key.len() as u32;
    for &b in key.as_bytes() {
        h = (h.rotate_left(5) ^ b as u32).wrapping_mul(0x9E37_79B9);
    }
    (h >> 26) as usize % KEY_SLOTS
}

impl<'py> PyBuilder<'py> {
    fn new(py: Python<'py>) -> Self {
        PyBuilder {
            py,
            keys: Vec::new(),
        }
    }

    /// A builder that caches map keys: for inputs of a few KiB and more.
    fn caching(py: Python<'py>) -> Self {
        PyBuilder {
            py,
            keys: (0..KEY_SLOTS).map(|_| None).collect(),
        }
    }
}

impl<'py> Build for PyBuilder<'py> {
    type Out = Bound<'py, PyAny>;
    type Error = BuildError;
    fn nil(&mut self) -> Result<Self::Out, BuildError> {
        Ok(self.py.None().into_bound(self.py))
    }
    fn bool(&mut self, v: bool) -> Result<Self::Out, BuildError> {
        Ok(PyBool::new(self.py, v).to_owned().into_any())
    }
    fn int(&mut self, v: i64) -> Result<Self::Out, BuildError> {
        Ok(PyInt::new(self.py, v).into_any())
    }
    fn uint(&mut self, v: u64) -> Result<Self::Out, BuildError> {
        Ok(PyInt::new(self.py, v).into_any())
    }
    fn float(&mut self, v: f64) -> Result<Self::Out, BuildError> {
        Ok(PyFloat::new(self.py, v).into_any())
    }
    fn str(&mut self, v: &str) -> Result<Self::Out, BuildError> {
        Ok(PyString::new(self.py, v).into_any())
    }
    fn bin(&mut self, v: &[u8]) -> Result<Self::Out, BuildError> {
        Ok(PyBytes::new(self.py, v).into_any())
    }
    fn key_str(&mut self, v: &str) -> Result<Self::Out, BuildError> {
        if self.keys.is_empty() {
            return self.str(v);
        }
        let slot = key_slot(v);
        if let Some(cached) = &self.keys[slot] {
            if cached.to_str().map_err(BuildError::Py)? == v {
                return Ok(cached.clone().into_any());
            }
        }
        let s = PyString::new(self.py, v);
        self.keys[slot] = Some(s.clone());
        Ok(s.into_any())
    }
    fn array(&mut self, items: Drain<'_, Self::Out>) -> Result<Self::Out, BuildError> {
        PyList::new(self.py, items)
            .map(|l| l.into_any())
            .map_err(BuildError::Py)
    }
    fn map(&mut self, kv: Drain<'_, Self::Out>) -> Result<Self::Out, BuildError> {
        let dict = PyDict::new(self.py);
        for (k, v) in pairs(kv) {
            dict.set_item(hashable_key(k)?, v).map_err(BuildError::Py)?;
        }
        Ok(dict.into_any())
    }
}

/// A decoded map key as a dict key: arrays become tuples (nested ones too), a map inside a key is a
/// `decode_error` (Python has no hashable dict; msgpack allows any key). Found by the codec property
/// test (tests/python/test_codec_properties.py): a map key that was a map raised a bare `TypeError`.
fn hashable_key(k: Bound<'_, PyAny>) -> Result<Bound<'_, PyAny>, BuildError> {
    if let Ok(list) = k.cast::<PyList>() {
        let items: Result<Vec<_>, BuildError> = list.iter().map(hashable_key).collect();
        return PyTuple::new(k.py(), items?)
            .map(Bound::into_any)
            .map_err(BuildError::Py);
    }
    if k.cast::<PyDict>().is_ok() {
        return Err(BuildError::Core(Error::Decode(
            "a map used as a map key cannot be a Python dict key".into(),
        )));
    }
    Ok(k)
}

/// Converts a core value to a Python object (the same objects that `decode` makes), through the
/// core's walk.
pub fn to_object<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(dashfeed::codec::build_value(v, &mut PyBuilder::new(py))?)
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
        let mut source = PySource {
            obj: value,
            max_depth: inner.limits.max_depth,
            nodes: 0,
        };
        let bytes = inner.encode_from(&mut source)?;
        Ok(PyBytes::new(value.py(), &bytes))
    }

    fn decode_with<'py>(inner: &Codec, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = data.py();
        let owned;
        let raw: &[u8] = if let Ok(b) = data.cast::<PyBytes>() {
            b.as_bytes()
        } else if let Ok(b) = data.cast::<PyByteArray>() {
            owned = b.to_vec();
            &owned
        } else if data.is_instance_of::<PyMemoryView>() {
            owned = data
                .call_method0("tobytes")?
                .cast::<PyBytes>()?
                .as_bytes()
                .to_vec();
            &owned
        } else {
            let name = data
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            return Err(to_py(Error::UnsupportedType(format!(
                "decode needs bytes, bytearray or memoryview, not {name}"
            ))));
        };
        // Decompression needs no Python objects: do it with the GIL released; then build the objects.
        let unzipped = if raw.len() > DETACH_OVER {
            py.detach(|| inner.unwrap_gzip(raw))
        } else {
            inner.unwrap_gzip(raw)
        }
        .py()?;
        let plain = unzipped.as_deref().unwrap_or(raw);
        let mut builder = if plain.len() > DETACH_OVER {
            PyBuilder::caching(py)
        } else {
            PyBuilder::new(py)
        };
        Ok(inner.decode_plain_with(plain, &mut builder)?)
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
    let mut codec = Codec {
        format: parse_format(format)?,
        compress_over,
        level,
        ..Codec::default()
    };
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
