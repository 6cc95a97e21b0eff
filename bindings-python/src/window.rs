//! Python face of `dashfeed::window`: the `Aggregator` (per-event `add`, columnar `add_many` over
//! numpy / buffer-protocol columns with the GIL released, `poll`, `poll_columns` (an Arrow record
//! batch: `result_columns.rs`), `take_late`, `flush`, `advance_to`) and `WindowResult`. Configuration
//! goes through `AggregatorConfig::from_value`, as in every language.

use crate::clock::{shared, PyManualClock};
use crate::codec::{to_object, to_value};
use crate::columns::{self, Floats, Texts, Times};
use crate::error::{to_py, IntoPyResult};
use crate::gc::untracked_list;
use crate::names::{NameCache, Slot};
use crate::result_columns::PyWindowColumns;
use arrow_array::Array;
use dashfeed::codec::Value;
use dashfeed::event::now_ms;
use dashfeed::window::{quantile_name, Aggregator, AggregatorConfig, WindowResult};
use dashfeed::Error;
use parking_lot::{Mutex, MutexGuard};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use std::sync::Arc;

/// A time or count window aggregator. See `dashfeed.Aggregator` in the package docs.
#[pyclass(module = "dashfeed", name = "Aggregator", frozen)]
pub struct PyAggregator {
    pub(crate) inner: Arc<Mutex<Aggregator>>,
    /// The categorical names of the last `add_many` call, per column.
    names: NameCache,
}

impl PyAggregator {
    fn lock(&self) -> PyResult<MutexGuard<'_, Aggregator>> {
        Ok(self.inner.lock())
    }
}

/// The `window=` argument: a duration (tumbling), or a dict `{"kind": ..., ...}`.
fn window_value(window: &Bound<'_, PyAny>) -> PyResult<Value> {
    if window.is_instance_of::<PyDict>() {
        return to_value(window, 8);
    }
    let size = to_value(window, 1)?;
    Ok(Value::Map(vec![
        ("kind".into(), "tumbling".into()),
        ("size".into(), size),
    ]))
}

fn tags_vec(tags: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    if let Some(t) = tags {
        for (k, v) in t.iter() {
            out.push((k.extract::<String>()?, v.extract::<String>()?));
        }
    }
    Ok(out)
}

#[pymethods]
impl PyAggregator {
    #[new]
    #[pyo3(signature = (window = None, *, lateness = None, quantiles = None, emit = None, idle_close = None,
        max_pending_results = None, max_pending_late = None, clock = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        window: Option<&Bound<'_, PyAny>>,
        lateness: Option<&Bound<'_, PyAny>>,
        quantiles: Option<&Bound<'_, PyAny>>,
        emit: Option<&Bound<'_, PyAny>>,
        idle_close: Option<&Bound<'_, PyAny>>,
        max_pending_results: Option<&Bound<'_, PyAny>>,
        max_pending_late: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, PyManualClock>>,
    ) -> PyResult<Self> {
        let mut map = Vec::new();
        if let Some(w) = window {
            map.push((Value::from("window"), window_value(w)?));
        }
        for (name, v) in [
            ("lateness", lateness),
            ("quantiles", quantiles),
            ("emit", emit),
            ("idle_close", idle_close),
            ("max_pending_results", max_pending_results),
            ("max_pending_late", max_pending_late),
        ] {
            if let Some(v) = v {
                map.push((Value::from(name), to_value(v, 8)?));
            }
        }
        let config = AggregatorConfig::from_value(&Value::Map(map)).py()?;
        let inner = Aggregator::with_clock(config, shared(clock)).py()?;
        Ok(PyAggregator {
            inner: Arc::new(Mutex::new(inner)),
            names: NameCache::default(),
        })
    }

    /// Builds an aggregator from one configuration dict (as in a config file): `{"window": {"kind":
    /// "tumbling", "size": "1s"}, "lateness": "500ms", "quantiles": [...], "emit": ..., "idle_close": ...}`.
    /// Unknown keys are `InvalidInputError`.
    #[staticmethod]
    #[pyo3(signature = (config, *, clock = None))]
    fn from_config(
        config: &Bound<'_, PyDict>,
        clock: Option<&Bound<'_, PyManualClock>>,
    ) -> PyResult<Self> {
        let config = AggregatorConfig::from_value(&to_value(config.as_any(), 8)?).py()?;
        let inner = Aggregator::with_clock(config, shared(clock)).py()?;
        Ok(PyAggregator {
            inner: Arc::new(Mutex::new(inner)),
            names: NameCache::default(),
        })
    }

    /// Adds one event; `ts` is event time in ms since the Unix epoch (default: now).
    #[pyo3(signature = (dashboard, metric, value, ts = None, tags = None, *, id = None))]
    fn add(
        &self,
        dashboard: &Bound<'_, PyString>,
        metric: &Bound<'_, PyString>,
        value: f64,
        ts: Option<i64>,
        tags: Option<&Bound<'_, PyDict>>,
        id: Option<&str>,
    ) -> PyResult<()> {
        // The names are borrowed from the str objects (no copy, no bytes object per call).
        let (dashboard, metric) = (dashboard.to_str()?, metric.to_str()?);
        let ts = ts.unwrap_or_else(now_ms);
        let tags = tags_vec(tags)?;
        let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.lock()?
            .add_parts(dashboard, metric, value, ts, &tags, id)
            .py()
    }

    /// Adds a batch given as columns: `dashboards` and `metrics` are each one str, a sequence of str,
    /// a categorical `(names, codes)` pair (codes: an integer buffer or sequence), a pandas
    /// `Categorical` / category Series, or an Arrow array of strings or dictionary-encoded strings;
    /// `values` a float64 buffer (numpy array), a sequence of numbers or Arrow float64; `ts` None
    /// (now), one int, an int64 buffer, a sequence of ints or Arrow int64 / timestamp (ms); `tags`
    /// apply to every row. The whole batch is validated first (nothing is applied on error) and
    /// aggregated with the GIL released. Returns the row count. The names of a categorical column
    /// are kept for the next call (`crate::names`).
    #[pyo3(signature = (dashboards, metrics, values, ts = None, tags = None))]
    fn add_many(
        &self,
        py: Python<'_>,
        dashboards: &Bound<'_, PyAny>,
        metrics: &Bound<'_, PyAny>,
        values: &Bound<'_, PyAny>,
        ts: Option<&Bound<'_, PyAny>>,
        tags: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<usize> {
        let values = Floats::read(values)?;
        let ts = Times::read(ts)?;
        let d = Texts::read(dashboards, "dashboards", (&self.names, Slot::Dashboards))?;
        let m = Texts::read(metrics, "metrics", (&self.names, Slot::Metrics))?;
        let tags = tags_vec(tags)?;
        let tag_refs: Vec<(&str, &str)> =
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        columns::apply(py, &self.inner, (&d, &m), &values, &ts, &tag_refs)
    }

    /// Adds the rows of an Arrow table (anything with `__arrow_c_stream__` / `__arrow_c_array__`:
    /// a pyarrow Table or RecordBatch, a polars or pandas DataFrame) with columns `metric`
    /// (strings or dictionary-encoded strings), `value` (float64), `ts` (int64 ms or a timestamp;
    /// without it: now) and `dashboard` (unless `dashboard=` names one for every row). Validated
    /// as a whole, as `add_many`. Returns the row count.
    #[pyo3(signature = (table, *, dashboard = None, tags = None))]
    fn add_table(
        &self,
        py: Python<'_>,
        table: &Bound<'_, PyAny>,
        dashboard: Option<String>,
        tags: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<usize> {
        if !crate::arrow::is_arrow(table)? {
            return Err(to_py(Error::invalid(
                "add_table needs an Arrow table (__arrow_c_stream__ or __arrow_c_array__)",
            )));
        }
        let chunks = crate::arrow::chunks(table, "table")?;
        let mut cols: [Vec<arrow_array::ArrayRef>; 4] = Default::default();
        let names = ["dashboard", "metric", "value", "ts"];
        for chunk in &chunks {
            let Some(fields) = chunk.as_any().downcast_ref::<arrow_array::StructArray>() else {
                return Err(to_py(Error::invalid(
                    "add_table needs a table (a stream of record batches), not a single column",
                )));
            };
            for (col, name) in cols.iter_mut().zip(names) {
                if let Some(c) = fields.column_by_name(name) {
                    col.push(c.clone());
                }
            }
        }
        let [d_col, m_col, v_col, t_col] = cols;
        let need = |col: &Vec<arrow_array::ArrayRef>, name: &str| {
            if col.len() == chunks.len() {
                Ok(())
            } else {
                Err(to_py(Error::invalid(format!(
                    "the table has no column {name:?}"
                ))))
            }
        };
        let d = match dashboard {
            Some(d) => Texts::One(d),
            None => {
                need(&d_col, "dashboard")?;
                Texts::Arrow(d_col)
            }
        };
        need(&m_col, "metric")?;
        need(&v_col, "value")?;
        let ts = if t_col.is_empty() {
            Times::One(now_ms())
        } else {
            need(&t_col, "ts")?;
            Times::arrow(t_col)?
        };
        let tags = tags_vec(tags)?;
        let tag_refs: Vec<(&str, &str)> =
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (m, values) = (Texts::Arrow(m_col), Floats::Arrow(v_col));
        columns::apply(py, &self.inner, (&d, &m), &values, &ts, &tag_refs)
    }

    /// Moves event time to `ts` (ms), closing the windows the watermark passes.
    fn advance_to(&self, ts: i64) -> PyResult<()> {
        self.lock()?.advance_to(ts).py()
    }

    /// The results ready so far (closed windows, and partials in `updates` mode), oldest first.
    fn poll<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let results = self.lock()?.poll();
        untracked_list(
            py,
            results.into_iter().map(|inner| PyWindowResult { inner }),
        )
    }

    /// Like `poll()`, as columns: one `WindowColumns` (an Arrow record batch) instead of a
    /// `WindowResult` per result.
    fn poll_columns(&self) -> PyResult<PyWindowColumns> {
        let mut agg = self.lock()?;
        let cols = agg.poll_columns();
        PyWindowColumns::new_or_unpoll(cols, &mut agg)
    }

    /// Like `flush()`, as columns.
    fn flush_columns(&self) -> PyResult<PyWindowColumns> {
        self.names.clear();
        let mut agg = self.lock()?;
        let cols = agg.flush_columns();
        PyWindowColumns::new_or_unpoll(cols, &mut agg)
    }

    /// Closes every open window and returns all pending results (for shutdown).
    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.names.clear();
        let results = self.lock()?.flush();
        untracked_list(
            py,
            results.into_iter().map(|inner| PyWindowResult { inner }),
        )
    }

    /// The events that arrived after their window closed, as dicts (dashboard, metric, value, ts, id, tags).
    fn take_late<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let late = self.lock()?.take_late();
        let out = PyList::empty(py);
        for ev in late {
            out.append(to_object(py, &ev.to_value())?)?;
        }
        Ok(out)
    }

    /// The current watermark (ms), or None before any event time.
    #[getter]
    fn watermark(&self) -> PyResult<Option<i64>> {
        Ok(self.lock()?.watermark())
    }

    /// Counters: events, late, open_windows, keys, pending_results, pending_late, watermark.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.lock()?.stats();
        let d = PyDict::new(py);
        d.set_item("events", s.events)?;
        d.set_item("late", s.late)?;
        d.set_item("open_windows", s.open_windows)?;
        d.set_item("keys", s.keys)?;
        d.set_item("pending_results", s.pending_results)?;
        d.set_item("pending_late", s.pending_late)?;
        d.set_item("watermark", s.watermark)?;
        Ok(d)
    }
}

/// One window's aggregates: `dashboard`, `metric`, `tags`, `start`, `end` (ms), `count`, `sum`, `min`,
/// `max`, `mean`, `first`, `last`, `quantiles` (dict "p50" → value) and `final`.
#[pyclass(module = "dashfeed", name = "WindowResult", frozen)]
pub struct PyWindowResult {
    pub(crate) inner: WindowResult,
}

#[pymethods]
impl PyWindowResult {
    #[getter]
    fn dashboard(&self) -> &str {
        &self.inner.key.dashboard
    }
    #[getter]
    fn metric(&self) -> &str {
        &self.inner.key.metric
    }
    #[getter]
    fn tags<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.inner.key.tags {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
    #[getter]
    fn start(&self) -> i64 {
        self.inner.start_ms
    }
    #[getter]
    fn end(&self) -> i64 {
        self.inner.end_ms
    }
    #[getter]
    fn count(&self) -> u64 {
        self.inner.count
    }
    #[getter]
    fn sum(&self) -> f64 {
        self.inner.sum
    }
    #[getter]
    fn min(&self) -> f64 {
        self.inner.min
    }
    #[getter]
    fn max(&self) -> f64 {
        self.inner.max
    }
    #[getter]
    fn mean(&self) -> f64 {
        self.inner.mean
    }
    #[getter]
    fn first(&self) -> f64 {
        self.inner.first
    }
    #[getter]
    fn last(&self) -> f64 {
        self.inner.last
    }
    #[getter]
    fn quantiles<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (q, v) in &self.inner.quantiles {
            d.set_item(quantile_name(*q), v)?;
        }
        Ok(d)
    }
    #[getter(r#final)]
    fn is_final(&self) -> bool {
        self.inner.is_final
    }
    /// The result as a dict (the map that is published).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_object(py, &self.inner.to_value())
    }
    fn __repr__(&self) -> String {
        format!(
            "WindowResult({}/{} [{}, {}) count={} mean={} final={})",
            self.inner.key.dashboard,
            self.inner.key.metric,
            self.inner.start_ms,
            self.inner.end_ms,
            self.inner.count,
            self.inner.mean,
            self.inner.is_final
        )
    }
}

/// Adds `Aggregator`, `WindowResult` and `WindowColumns` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyAggregator>()?;
    m.add_class::<PyWindowResult>()?;
    m.add_class::<PyWindowColumns>()
}
