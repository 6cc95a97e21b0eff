//! Maps `dashfeed::Error` to Python exceptions, once, for the whole module.
//!
//! `dashfeed.DashfeedError` is the base of every dashfeed exception and carries `.code` (the core's stable
//! snake_case code). Each code has a subclass that also derives from the fitting built-in, so that
//! `except ValueError` keeps working: `DecodeError(DashfeedError, ValueError)`, ... The subclasses are made at
//! import with `type(name, bases, ns)` because a Rust-declared exception can have only one base.

use dashfeed::Error;
use pyo3::exceptions::{
    PyException, PyOSError, PyRuntimeError, PyTimeoutError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use std::collections::HashMap;

pyo3::create_exception!(
    dashfeed,
    DashfeedError,
    PyException,
    "Base class of every dashfeed error. `.code` is the stable error code shared with Rust and Node."
);

/// Makes the built-in base class of an exception subclass.
type BuiltinBase = fn(Python<'_>) -> Bound<'_, PyType>;

/// (code, Python class name, built-in base or None).
fn classes() -> [(&'static str, &'static str, Option<BuiltinBase>); 13] {
    [
        (
            "decode_error",
            "DecodeError",
            Some(|py| py.get_type::<PyValueError>()),
        ),
        (
            "encode_error",
            "EncodeError",
            Some(|py| py.get_type::<PyValueError>()),
        ),
        (
            "unsupported_type",
            "UnsupportedTypeError",
            Some(|py| py.get_type::<PyTypeError>()),
        ),
        (
            "too_large",
            "TooLargeError",
            Some(|py| py.get_type::<PyValueError>()),
        ),
        (
            "too_deep",
            "TooDeepError",
            Some(|py| py.get_type::<PyValueError>()),
        ),
        (
            "invalid_input",
            "InvalidInputError",
            Some(|py| py.get_type::<PyValueError>()),
        ),
        ("circuit_open", "CircuitOpenError", None),
        ("rate_limited", "RateLimitedError", None),
        ("slow_consumer", "SlowConsumerError", None),
        ("closed", "ClosedError", None),
        (
            "timeout",
            "TimeoutError",
            Some(|py| py.get_type::<PyTimeoutError>()),
        ),
        ("io_error", "IoError", Some(|py| py.get_type::<PyOSError>())),
        (
            "internal",
            "InternalError",
            Some(|py| py.get_type::<PyRuntimeError>()),
        ),
    ]
}

static BY_CODE: PyOnceLock<HashMap<&'static str, Py<PyType>>> = PyOnceLock::new();

/// Adds `DashfeedError`, every subclass and `ERROR_CODES` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let base = py.get_type::<DashfeedError>();
    m.add("DashfeedError", &base)?;
    let builtins = PyModule::import(py, "builtins")?;
    let type_fn = builtins.getattr("type")?;
    let mut map = HashMap::new();
    for (code, name, builtin) in classes() {
        let bases = match builtin {
            Some(b) => PyTuple::new(py, [base.as_any().clone(), b(py).into_any()])?,
            None => PyTuple::new(py, [base.as_any().clone()])?,
        };
        let ns = PyDict::new(py);
        ns.set_item("__module__", "dashfeed")?;
        ns.set_item("__doc__", format!("dashfeed error with code {code:?}."))?;
        ns.set_item("code", code)?;
        let cls = type_fn.call1((name, bases, ns))?.cast_into::<PyType>()?;
        m.add(name, &cls)?;
        map.insert(code, cls.unbind());
    }
    if map.len() != Error::CODES.len() {
        return Err(PyRuntimeError::new_err(
            "dashfeed error table is out of date with the core",
        ));
    }
    let _ = BY_CODE.set(py, map);
    m.add("ERROR_CODES", Error::CODES.to_vec())?;
    Ok(())
}

/// A duration argument in seconds (the Python module's unit) as a `Duration`; `invalid_input` naming
/// the argument when it is negative, NaN or infinite.
pub(crate) fn secs(name: &str, v: f64) -> PyResult<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(v).map_err(|_| {
        to_py(Error::invalid(format!(
            "{name} must be a finite, non-negative number of seconds"
        )))
    })
}

/// Builds the Python exception for a core error: the class for its code, with `.code` and, for
/// `circuit_open` / `rate_limited`, `.retry_after` in seconds.
pub fn to_py(err: Error) -> PyErr {
    Python::attach(|py| {
        let code = err.code();
        let make = || -> PyResult<PyErr> {
            let cls = match BY_CODE.get(py).and_then(|m| m.get(code)) {
                Some(cls) => cls.bind(py).clone(),
                None => py.get_type::<DashfeedError>(),
            };
            let exc = cls.call1((err.to_string(),))?;
            // Subclasses carry `code` as a class attribute; only the base class needs it on the instance.
            if cls.is(py.get_type::<DashfeedError>()) {
                exc.setattr("code", code)?;
            }
            match &err {
                Error::CircuitOpen { retry_after } | Error::RateLimited { retry_after } => {
                    exc.setattr("retry_after", retry_after.as_secs_f64())?
                }
                _ => {}
            }
            Ok(PyErr::from_value(exc))
        };
        make().unwrap_or_else(|e| e)
    })
}

/// `result.py()?` turns a core `Result` into a `PyResult` through [`to_py`].
pub trait IntoPyResult<T> {
    /// Maps the error with [`to_py`].
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for dashfeed::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
