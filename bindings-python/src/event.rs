//! `parse_events`: the core's event parser (dashfeed's fields and the reference notes' `dashboard_id` /
//! `metric_name` / `timestamp` / `metadata`) on a decoded message, or on its wire bytes.

use crate::codec::{to_object, to_value};
use crate::error::IntoPyResult;
use dashfeed::event::{self, EVENT_MAX_DEPTH};
use dashfeed::Format;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList};

/// The events of one message (a dict, a list of dicts, or JSON / MessagePack bytes, gzip allowed), each
/// as a dict `{dashboard, metric, value, ts, id, tags[, metadata]}`. Raises `InvalidInputError` when an
/// event is invalid or ambiguous (the whole message is refused).
#[pyfunction]
#[pyo3(signature = (message, *, format = "json", max_bytes = 1048576))]
fn parse_events<'py>(
    py: Python<'py>,
    message: &Bound<'py, PyAny>,
    format: &str,
    max_bytes: usize,
) -> PyResult<Bound<'py, PyList>> {
    let events = if message.is_instance_of::<PyBytes>() || message.is_instance_of::<PyByteArray>() {
        let bytes: Vec<u8> = message.extract()?;
        let format: Format = format.parse().py()?;
        py.detach(|| event::parse_events(&bytes, format, max_bytes))
            .py()?
    } else {
        event::events_from_value(&to_value(message, EVENT_MAX_DEPTH)?).py()?
    };
    let out = PyList::empty(py);
    for ev in &events {
        out.append(to_object(py, &ev.to_value())?)?;
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_events, m)?)
}
