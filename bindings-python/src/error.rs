//! Maps `dashfeed::Error` to Python exceptions, once, for the whole module.
//!
//! `dashfeed.DashfeedError` is the base of every dashfeed exception and carries `.code` (the core's stable
//! snake_case code). Each code has a subclass that also derives from the fitting built-in, so that
//! `except ValueError` keeps working: `DecodeError(DashfeedError, ValueError)`, ... The subclasses are made at
//! import with `type(name, bases, ns)` because a Rust-declared exception can have only one base.

use dashfeed::error::whole_ms;
use dashfeed::Error;
use pyo3::exceptions::{
    PyException, PyOSError, PyRuntimeError, PyTimeoutError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use std::cell::RefCell;
use std::time::Duration;

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

/// The exception class of each code, in `Error::CODES` order (found by the code's position: no hashing
/// on the error path).
static BY_CODE: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

/// Adds `DashfeedError`, every subclass and `ERROR_CODES` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let base = py.get_type::<DashfeedError>();
    m.add("DashfeedError", &base)?;
    let builtins = PyModule::import(py, "builtins")?;
    let type_fn = builtins.getattr("type")?;
    let mut made = Vec::new();
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
        made.push((code, cls.unbind()));
    }
    let mut by_code = Vec::with_capacity(Error::CODES.len());
    for code in Error::CODES {
        let at = made.iter().position(|(c, _)| c == code);
        match at {
            Some(i) if made.len() == Error::CODES.len() => by_code.push(made[i].1.clone_ref(py)),
            _ => {
                return Err(PyRuntimeError::new_err(
                    "dashfeed error table is out of date with the core",
                ))
            }
        }
    }
    let _ = BY_CODE.set(py, by_code);
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
    Python::attach(|py| to_py_in(py, err))
}

/// The arguments of the last `circuit_open` / `rate_limited` exception made on this thread, by code and
/// wait in whole milliseconds (what its message shows): a breaker that rejects calls in a loop makes a
/// new exception each time (its own traceback) but shares the immutable `(message,)` tuple.
struct LastWait {
    code: &'static str,
    wait: Duration,
    args: Py<PyTuple>,
}

thread_local! {
    static LAST_WAIT: RefCell<Option<LastWait>> = const { RefCell::new(None) };
}

/// The `(message,)` arguments of the exception for `err`.
fn exception_args<'py>(py: Python<'py>, err: &Error) -> PyResult<Bound<'py, PyTuple>> {
    let (Error::CircuitOpen { retry_after } | Error::RateLimited { retry_after }) = err else {
        return PyTuple::new(py, [err.to_string()]);
    };
    let (code, wait) = (err.code(), whole_ms(*retry_after));
    LAST_WAIT.with(|last| {
        let Ok(mut last) = last.try_borrow_mut() else {
            return PyTuple::new(py, [err.to_string()]);
        };
        if let Some(l) = last.as_ref().filter(|l| l.code == code && l.wait == wait) {
            return Ok(l.args.bind(py).clone());
        }
        let args = PyTuple::new(py, [err.to_string()])?;
        *last = Some(LastWait {
            code,
            wait,
            args: args.clone().unbind(),
        });
        Ok(args)
    })
}

/// [`to_py`] for a caller that holds the GIL. Kept cheap because a rejected breaker call or a
/// rate-limited check raises on the hot path: the class is found by the code's position, the message
/// of a wait is reused while it reads the same (see [`whole_ms`]), attribute names are interned.
pub fn to_py_in(py: Python<'_>, err: Error) -> PyErr {
    let code = err.code();
    let make = || -> PyResult<PyErr> {
        let base = py.get_type::<DashfeedError>();
        let cls = BY_CODE
            .get(py)
            .and_then(|classes| {
                let at = Error::CODES.iter().position(|c| *c == code)?;
                classes.get(at)
            })
            .map(|cls| cls.bind(py).clone())
            .unwrap_or_else(|| base.clone());
        let exc = cls.call1(exception_args(py, &err)?)?;
        // Subclasses carry `code` as a class attribute; only the base class needs it on the instance.
        if cls.is(&base) {
            exc.setattr(pyo3::intern!(py, "code"), code)?;
        }
        match &err {
            Error::CircuitOpen { retry_after } | Error::RateLimited { retry_after } => {
                exc.setattr(pyo3::intern!(py, "retry_after"), retry_after.as_secs_f64())?
            }
            _ => {}
        }
        Ok(PyErr::from_value(exc))
    };
    make().unwrap_or_else(|e| e)
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
