//! Keyword arguments → the core's options maps. The Python signatures keep their documented
//! defaults (checked against the `.pyi` stubs by stubtest); every argument, given or defaulted, goes
//! to the core as one map in [`Style::PYTHON`] (snake_case keys, seconds), and the core's
//! `from_value` reads names, ranges and messages (`dashfeed::options`). `None` is nil: "not given",
//! or "off" for the hub's nullable options.

use crate::codec::{to_object, to_value};
use crate::error::IntoPyResult;
use dashfeed::options::{describe, Style};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The named keyword arguments as an options map.
macro_rules! kwargs {
    ($($name:ident),* $(,)?) => {
        dashfeed::codec::Value::Map(vec![
            $((stringify!($name).into(), dashfeed::codec::Value::from($name))),*
        ])
    };
}
pub(crate) use kwargs;

/// `_describe_options(module, options)`: the config the core builds from `options` (a dict of the
/// keyword arguments of `module`'s constructor: `"breaker"`, `"limiter"`, `"hub"`, `"subscribe"`,
/// `"server"`), in the vectors' canonical form (tests/vectors/config). For the cross-language tests.
#[pyfunction]
#[pyo3(name = "_describe_options")]
fn describe_options<'py>(
    module: &str,
    options: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    let value = to_value(options.as_any(), 8)?;
    to_object(options.py(), &describe(module, &value, Style::PYTHON).py()?)
}

/// Adds `_describe_options` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(describe_options, m)?)
}
