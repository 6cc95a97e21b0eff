//! Python face of `dashfeed::hub`: `Hub`, `Subscription` (blocking iterator with the GIL released; the
//! package's subclass adds `async for`), and `Message` (attributes, `data`, pre-encoded `raw(format)`).

use crate::clock::{shared, PyManualClock};
use crate::codec::{to_object, to_value};
use crate::error::{secs, to_py, IntoPyResult};
use crate::options::kwargs;
use dashfeed::codec::{Format, Value};
use dashfeed::hub::{Hub, HubConfig, Message, SubscribeOptions, Subscription};
use dashfeed::options::{FromOptions, Style};
use dashfeed::Error;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::sync::OnceLock;
use std::time::Duration;

/// Longest single wait inside a blocking receive, so that Ctrl-C (signals) is noticed promptly.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// `since` for the core's `SubscribeOptions::from_value`, which reads it: a `Message` or a dict
/// becomes `{"epoch": ..., "seq": ...}` (a dict's other keys are left out), a tuple or list its
/// items; each part converts alone, and one that does not (a huge int, an object) goes as its type
/// name, for the core to refuse with its message.
fn since_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let part = |v: &Bound<'_, PyAny>| -> PyResult<Value> {
        match to_value(v, 1) {
            Ok(v) => Ok(v),
            Err(_) => Ok(Value::from(v.get_type().name()?.to_string())),
        }
    };
    if let Ok(m) = obj.cast::<PyMessage>() {
        let m = &m.get().inner;
        let map = vec![
            ("epoch".into(), m.epoch().into()),
            ("seq".into(), m.seq().into()),
        ];
        return Ok(Value::Map(map));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Vec::new();
        for key in ["epoch", "seq"] {
            if let Some(v) = d.get_item(key)? {
                map.push((key.into(), part(&v)?));
            }
        }
        return Ok(Value::Map(map));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return Ok(Value::Array(
            t.iter().map(|v| part(&v)).collect::<PyResult<_>>()?,
        ));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return Ok(Value::Array(
            l.iter().map(|v| part(&v)).collect::<PyResult<_>>()?,
        ));
    }
    part(obj)
}

/// A fan-out hub: a topic per dashboard with seq numbers, epochs, history, snapshots and subscriptions.
#[pyclass(module = "dashfeed", name = "Hub", frozen)]
pub struct PyHub {
    pub(crate) inner: Hub,
}

impl PyHub {
    /// Runs `f` on the hub; a clustered hub may wait for Redis (numbering, a new mirror), and its bus
    /// task runs the ready callbacks that take the GIL: so without the GIL then.
    fn waiting<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&Hub) -> dashfeed::Result<T> + Send,
    ) -> PyResult<T> {
        let hub = &self.inner;
        match hub.is_clustered() {
            true => py.detach(|| f(hub)).py(),
            false => f(hub).py(),
        }
    }
}

#[pymethods]
impl PyHub {
    #[new]
    #[pyo3(signature = (*, history = 1000, history_age = None, policy = "conflate", queue = 1024, queue_bytes = 1 << 20,
        compress_over = Some(1024), dedupe = 10_000, dedupe_horizon = Some(300.0), clock = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        history: usize,
        history_age: Option<f64>,
        policy: &str,
        queue: usize,
        queue_bytes: usize,
        compress_over: Option<usize>,
        dedupe: usize,
        dedupe_horizon: Option<f64>,
        clock: Option<&Bound<'_, PyManualClock>>,
    ) -> PyResult<Self> {
        let options = kwargs!(
            history,
            history_age,
            policy,
            queue,
            queue_bytes,
            compress_over,
            dedupe,
            dedupe_horizon,
        );
        let config = HubConfig::from_value(&options, Style::PYTHON).py()?;
        Ok(PyHub {
            inner: Hub::with_clock(config, shared(clock)).py()?,
        })
    }

    /// Publishes `data` (a dict metric → value) to `dashboard`; returns its seq, or None when `id` was
    /// already seen (dedupe).
    #[pyo3(signature = (dashboard, data, *, id = None))]
    fn publish(
        &self,
        dashboard: &str,
        data: &Bound<'_, PyAny>,
        id: Option<&str>,
    ) -> PyResult<Option<u64>> {
        let value = to_value(data, dashfeed::codec::Limits::default().max_depth)?;
        let publish = || match id {
            Some(id) => self.inner.publish_with_id(dashboard, id, value),
            None => self.inner.publish(dashboard, value).map(Some),
        };
        self.waiting(data.py(), |_| publish())
    }

    /// The latest value per metric as a `snapshot` Message, or None for an unknown dashboard.
    fn snapshot(&self, py: Python<'_>, dashboard: &str) -> PyResult<Option<PyMessage>> {
        let snap = self.waiting(py, |hub| hub.snapshot(dashboard))?;
        Ok(snap.map(PyMessage::new))
    }

    /// Subscribes to `dashboard`. Without `since` the first message is the snapshot; with `since=(epoch,
    /// seq)` the missed updates follow a `recovered` message, or a fresh snapshot says `recovered=False`.
    #[pyo3(signature = (dashboard, *, since = None, policy = None, queue = None, queue_bytes = None, format = "msgpack", compress = true))]
    // Each keyword argument of the Python method is a parameter here: that is how pyo3 spells them.
    #[allow(clippy::too_many_arguments)]
    fn subscribe(
        &self,
        py: Python<'_>,
        dashboard: &str,
        since: Option<&Bound<'_, PyAny>>,
        policy: Option<&str>,
        queue: Option<usize>,
        queue_bytes: Option<usize>,
        format: &str,
        compress: bool,
    ) -> PyResult<PySubscription> {
        let since = since.map(since_value).transpose()?;
        let options = kwargs!(since, policy, queue, queue_bytes, format, compress);
        let options = SubscribeOptions::from_value(&options, Style::PYTHON).py()?;
        Ok(PySubscription {
            inner: self.waiting(py, |hub| hub.subscribe(dashboard, options))?,
        })
    }

    /// Publishes window results (from `Aggregator.poll()`): one publication per dashboard and window end,
    /// mapping each series (`metric` or `metric{k=v}`) to its result dict. Returns the seqs.
    fn publish_results(
        &self,
        py: Python<'_>,
        results: Vec<PyRef<'_, crate::window::PyWindowResult>>,
    ) -> PyResult<Vec<u64>> {
        let owned: Vec<dashfeed::window::WindowResult> =
            results.iter().map(|r| r.inner.clone()).collect();
        self.waiting(py, |hub| hub.publish_results(&owned))
    }

    /// Starts a new epoch for `dashboard` (history forgotten: resumes get a fresh snapshot).
    fn reset_epoch(&self, dashboard: &str) -> PyResult<String> {
        self.inner.reset_epoch(dashboard).py()
    }

    /// Removes a topic; its subscribers receive what is queued, then end.
    fn remove(&self, dashboard: &str) -> bool {
        self.inner.remove(dashboard)
    }

    /// Known dashboards.
    fn dashboards(&self) -> Vec<String> {
        self.inner.dashboards()
    }

    /// Counters of the hub as a dict.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("subscribers", s.subscribers)?;
        for (k, v) in [
            ("publications", s.publications),
            ("deliveries", s.deliveries),
            ("dropped_oldest", s.dropped_oldest),
            ("conflated", s.conflated),
            ("disconnected", s.disconnected),
            ("dedupe_dropped", s.dedupe_dropped),
            ("encodes", s.encodes),
        ] {
            d.set_item(k, v)?;
        }
        let topics = PyDict::new(py);
        for t in s.topics {
            let td = PyDict::new(py);
            td.set_item("epoch", &t.epoch)?;
            td.set_item("seq", t.seq)?;
            td.set_item("subscribers", t.subscribers)?;
            td.set_item("history", t.history)?;
            td.set_item("metrics", t.metrics)?;
            topics.set_item(&t.dashboard, td)?;
        }
        d.set_item("topics", topics)?;
        Ok(d)
    }
}

/// A subscription: iterate it (`for msg in sub`, blocking with the GIL released) or `async for msg in
/// sub` (asyncio). Ends when closed; raises `SlowConsumerError` when the
/// `disconnect` policy ended it.
#[pyclass(module = "dashfeed", name = "Subscription", frozen)]
pub struct PySubscription {
    inner: Subscription,
}

impl PySubscription {
    fn recv_blocking(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
    ) -> PyResult<Option<PyMessage>> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let wait = match deadline {
                Some(d) => d
                    .saturating_duration_since(std::time::Instant::now())
                    .min(SIGNAL_CHECK),
                None => SIGNAL_CHECK,
            };
            match py.detach(|| self.inner.recv_timeout(wait)) {
                Ok(Some(m)) => return Ok(Some(PyMessage::new(m))),
                Ok(None) if self.inner.is_closed() => {
                    // Closed and drained: try_recv reports how it ended (closed or slow_consumer).
                    return match self.inner.try_recv() {
                        Ok(m) => Ok(m.map(PyMessage::new)),
                        Err(Error::Closed) => Ok(None),
                        Err(e) => Err(to_py(e)),
                    };
                }
                Ok(None) => {}
                Err(Error::Closed) => return Ok(None),
                Err(e) => return Err(to_py(e)),
            }
            py.check_signals()?;
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Ok(None);
            }
        }
    }
}

#[pymethods]
impl PySubscription {
    /// The next message without waiting, or None when none is queued. Raises `ClosedError` once closed and
    /// drained, `SlowConsumerError` when disconnected for falling behind.
    fn try_recv(&self) -> PyResult<Option<PyMessage>> {
        Ok(self.inner.try_recv().py()?.map(PyMessage::new))
    }

    /// Up to `max` queued messages without waiting (raises like `try_recv` when ended and drained).
    #[pyo3(signature = (max = 64))]
    fn try_recv_many(&self, max: usize) -> PyResult<Vec<PyMessage>> {
        Ok(self
            .inner
            .try_recv_many(max)
            .py()?
            .into_iter()
            .map(PyMessage::new)
            .collect())
    }

    /// Waits up to `timeout` seconds (forever when None) with the GIL released; None on timeout or when
    /// the subscription ended.
    #[pyo3(signature = (timeout = None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<PyMessage>> {
        let timeout = timeout.map(|s| secs("timeout", s)).transpose()?;
        self.recv_blocking(py, timeout)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyMessage>> {
        self.recv_blocking(py, None)
    }

    /// `async for msg in sub`: an asyncio iterator (see `dashfeed._aio`), woken by the core, never polling.
    fn __aiter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, PyAny>> {
        let py = slf.py();
        PyModule::import(py, "dashfeed._aio")?.call_method1("iterate", (slf,))
    }

    /// Calls `callback()` (from any thread) whenever the queue goes from empty to non-empty and when the
    /// subscription ends; replaces the previous callback. Used by `async for`.
    fn set_waker(&self, callback: Py<PyAny>) {
        self.inner.on_ready(move || {
            Python::attach(|py| {
                if let Err(e) = callback.call0(py) {
                    e.write_unraisable(py, Some(callback.bind(py)));
                }
            })
        });
    }

    /// Removes the waker.
    fn clear_waker(&self) {
        self.inner.clear_on_ready();
    }

    /// Ends the subscription (also on garbage collection and at the end of a `with` block).
    fn close(&self) {
        self.inner.close();
    }

    /// True once closed (by `close()`, the hub, or the disconnect policy).
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// The dashboard subscribed to.
    #[getter]
    fn dashboard(&self) -> &str {
        self.inner.dashboard()
    }

    /// Queue counters as a dict.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("queued_messages", s.queued_messages)?;
        d.set_item("queued_bytes", s.queued_bytes)?;
        d.set_item("peak_messages", s.peak_messages)?;
        d.set_item("peak_bytes", s.peak_bytes)?;
        d.set_item("received", s.received)?;
        d.set_item("dropped", s.dropped)?;
        d.set_item("conflated", s.conflated)?;
        Ok(d)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> bool {
        self.inner.close();
        false
    }
}

/// One hub message: `kind` ("snapshot", "update", "recovered"), `dashboard`, `epoch`, `seq`, `data`
/// (dict), `recovered`, `missed`, and `raw(format)`, the pre-encoded wire bytes shared by every subscriber.
#[pyclass(module = "dashfeed", name = "Message", frozen)]
pub struct PyMessage {
    pub(crate) inner: Message,
    data: OnceLock<Py<PyAny>>,
}

impl PyMessage {
    pub(crate) fn new(inner: Message) -> Self {
        PyMessage {
            inner,
            data: OnceLock::new(),
        }
    }
}

#[pymethods]
impl PyMessage {
    /// "snapshot", "update" or "recovered".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind().name()
    }
    /// The dashboard id.
    #[getter]
    fn dashboard(&self) -> &str {
        self.inner.dashboard()
    }
    /// The topic history's epoch id.
    #[getter]
    fn epoch(&self) -> &str {
        self.inner.epoch()
    }
    /// The publication's sequence number (for a snapshot: the last one it includes).
    #[getter]
    fn seq(&self) -> u64 {
        self.inner.seq()
    }
    /// The data dict (metric → value); empty for `recovered`.
    #[getter]
    fn data(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if let Some(d) = self.data.get() {
            return Ok(d.clone_ref(py));
        }
        let obj = to_object(py, &*self.inner.data().py()?)?.unbind();
        Ok(self.data.get_or_init(|| obj).clone_ref(py))
    }
    /// For a resume: True on `recovered`, False on a fresh snapshot; None otherwise.
    #[getter]
    fn recovered(&self) -> Option<bool> {
        self.inner.recovered()
    }
    /// On `recovered`: how many updates follow.
    #[getter]
    fn missed(&self) -> Option<u64> {
        self.inner.missed()
    }
    /// The wire bytes of this message in `format` ("msgpack" or "json"; gzipped over the hub's threshold),
    /// encoded once and shared by every subscriber: the subscribers of a publication get the same
    /// `bytes` object (kept for the last 256 publications, 4 MiB at most; see `wire_cache`).
    #[pyo3(signature = (format = "msgpack"))]
    fn raw<'py>(&self, py: Python<'py>, format: &str) -> PyResult<Bound<'py, PyBytes>> {
        let format = format.parse::<Format>().py()?;
        crate::wire_cache::raw(py, &self.inner, format, || self.inner.raw(format).py())
    }
    /// The whole message as a dict (the wire message's fields).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_object(py, &self.inner.to_value().py()?)
    }
    fn __repr__(&self) -> String {
        format!(
            "Message(kind={:?}, dashboard={:?}, epoch={:?}, seq={})",
            self.inner.kind().name(),
            self.inner.dashboard(),
            self.inner.epoch(),
            self.inner.seq()
        )
    }
}

/// Adds `Hub`, `Subscription` and `Message` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyHub>()?;
    m.add_class::<PySubscription>()?;
    m.add_class::<PyMessage>()
}
