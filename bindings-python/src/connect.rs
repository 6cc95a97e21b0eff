//! Python face of `dashfeed::connect`: `Source` and `Sink`, each built from its options (a dict with
//! `kind`, as a `[[source]]` / `[[sink]]` entry of `dashfeed serve --config`). The package's named
//! classes (`RedisCache`, `KafkaSource`, ...) subclass them; blocking calls release the GIL.

use crate::codec::to_value;
use crate::error::{to_py, IntoPyResult};
use crate::hub::PyHub;
use crate::window::PyAggregator;
use dashfeed::codec::Value;
use dashfeed::connect::{Ingest, LinkStats, SinkHandle, SinkSpec, SourceHandle, SourceSpec};
use dashfeed::hub::TapId;
use dashfeed::pipeline::AggregatorIngest;
use dashfeed::server::HubIngest;
use dashfeed::Error;
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::Arc;
use std::time::Duration;

pub(crate) fn timeout(secs: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        to_py(Error::invalid(
            "timeout must be a non-negative number of seconds",
        ))
    })
}

fn options(options: Option<&Bound<'_, PyDict>>) -> PyResult<Value> {
    match options {
        Some(d) => to_value(d.as_any(), 16),
        None => Ok(Value::Nil),
    }
}

/// `LinkStats` as a dict.
pub(crate) fn stats_dict<'py>(py: Python<'py>, s: &LinkStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &s.name)?;
    d.set_item("up", s.up)?;
    d.set_item("breaker", s.breaker.name())?;
    d.set_item("messages", s.messages)?;
    d.set_item("events", s.events)?;
    let rejected = PyDict::new(py);
    for (code, n) in &s.rejected {
        rejected.set_item(*code, n)?;
    }
    d.set_item("rejected", rejected)?;
    d.set_item("dead_lettered", s.dead_lettered)?;
    d.set_item("retries", s.retries)?;
    d.set_item("queued", s.queued)?;
    d.set_item("queued_bytes", s.queued_bytes)?;
    d.set_item("full", s.full)?;
    d.set_item("lag", (s.lag >= 0).then_some(s.lag))?;
    Ok(d)
}

fn block<T: Send>(
    py: Python<'_>,
    f: impl std::future::Future<Output = dashfeed::Result<T>> + Send,
) -> PyResult<T> {
    let rt = dashfeed::runtime::handle().py()?;
    py.detach(|| rt.block_on(f)).py()
}

/// A broker source: `Source(kind, options)`; `attach(hub_or_aggregator)` starts it.
#[pyclass(module = "dashfeed", name = "Source", subclass, frozen)]
pub struct PySource {
    spec: SourceSpec,
    running: Mutex<Option<SourceHandle>>,
}

#[pymethods]
impl PySource {
    #[new]
    #[pyo3(signature = (kind, options = None))]
    fn new(kind: &str, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let spec = SourceSpec::from_options(kind, &self::options(options)?).py()?;
        Ok(PySource {
            spec,
            running: Mutex::new(None),
        })
    }

    /// Starts reading into `target` (a `Hub`: each event published; an `Aggregator`: each event
    /// added, results left for `poll()`). Events never become Python objects.
    fn attach(&self, target: &Bound<'_, PyAny>) -> PyResult<()> {
        let ingest: Arc<dyn Ingest> = if let Ok(h) = target.cast::<PyHub>() {
            Arc::new(HubIngest::new(h.get().inner.clone()))
        } else if let Ok(a) = target.cast::<PyAggregator>() {
            Arc::new(AggregatorIngest::for_aggregator(a.get().inner.clone()).py()?)
        } else {
            return Err(to_py(Error::invalid(
                "attach() takes a Hub or an Aggregator",
            )));
        };
        let mut running = self.running.lock();
        if running.is_some() {
            return Err(to_py(Error::invalid("this source is already attached")));
        }
        let rt = dashfeed::runtime::handle().py()?;
        *running = Some(self.spec.clone().start(ingest, &rt).py()?);
        Ok(())
    }

    /// Stops: what was applied is acknowledged / committed (at most `timeout` seconds).
    #[pyo3(signature = (timeout = 10.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let t = self::timeout(timeout)?;
        let handle = self.running.lock().take();
        match handle {
            Some(h) => block(py, async move { h.stop(t).await }),
            None => Ok(()),
        }
    }

    /// The link's figures (messages, events, rejected by code, retries, lag, breaker state).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let guard = self.running.lock();
        let h = guard.as_ref().ok_or_else(|| to_py(Error::Closed))?;
        stats_dict(py, &h.link().stats())
    }
}

/// A broker sink: `Sink(kind, options)`; `attach(hub)` taps every publication of the hub.
#[pyclass(module = "dashfeed", name = "Sink", subclass, frozen)]
pub struct PySink {
    inner: SinkHandle,
    taps: Mutex<Vec<(dashfeed::hub::Hub, TapId)>>,
}

#[pymethods]
impl PySink {
    #[new]
    #[pyo3(signature = (kind, options = None))]
    fn new(kind: &str, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let spec = SinkSpec::from_options(kind, &self::options(options)?).py()?;
        let rt = dashfeed::runtime::handle().py()?;
        Ok(PySink {
            inner: spec.start(&rt).py()?,
            taps: Mutex::new(Vec::new()),
        })
    }

    /// Taps `hub`: every publication from now on is written. A full queue makes `publish` raise
    /// `SlowConsumerError` before anything is applied.
    fn attach(&self, hub: &Bound<'_, PyHub>) -> PyResult<()> {
        let hub = hub.get().inner.clone();
        let id = self.inner.attach(&hub).py()?;
        self.taps.lock().push((hub, id));
        Ok(())
    }

    /// Waits until everything queued is written (`TimeoutError` after `timeout` seconds).
    #[pyo3(signature = (timeout = 10.0))]
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let t = self::timeout(timeout)?;
        let h = self.inner.clone();
        block(py, async move { h.flush(t).await })
    }

    /// Detaches from every hub, flushes and stops the writer.
    #[pyo3(signature = (timeout = 10.0))]
    fn close(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        for (hub, id) in self.taps.lock().drain(..) {
            hub.remove_tap(id);
        }
        let t = self::timeout(timeout)?;
        let h = self.inner.clone();
        block(py, async move { h.close(t).await })
    }

    /// The cached hash of `dashboard` as a dict (Redis cache sinks only).
    fn load<'py>(&self, py: Python<'py>, dashboard: &str) -> PyResult<Bound<'py, PyAny>> {
        let cache = self
            .inner
            .cache()
            .cloned()
            .ok_or_else(|| to_py(Error::invalid("load() is for redis_cache sinks")))?;
        let d = dashboard.to_owned();
        let v = block(py, async move { cache.load(&d).await })?;
        crate::codec::to_object(py, &v)
    }

    /// Seeds `hub`'s snapshots from the cache; returns how many dashboards (Redis cache sinks only).
    fn seed(&self, py: Python<'_>, hub: &Bound<'_, PyHub>) -> PyResult<usize> {
        let cache = self
            .inner
            .cache()
            .cloned()
            .ok_or_else(|| to_py(Error::invalid("seed() is for redis_cache sinks")))?;
        let hub = hub.get().inner.clone();
        block(py, async move { cache.seed(&hub).await })
    }

    /// The link's figures (records queued and written, retries, refusals when full, breaker state).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.inner.link().stats())
    }
}

/// `links` as a list of dicts (for `Pipeline.links()`).
pub(crate) fn links<'py>(
    py: Python<'py>,
    links: &[std::sync::Arc<dashfeed::connect::Link>],
) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for l in links {
        out.append(stats_dict(py, &l.stats())?)?;
    }
    Ok(out)
}

/// Adds `Source` and `Sink` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySource>()?;
    m.add_class::<PySink>()
}
