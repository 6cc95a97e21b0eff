//! Python face of `dashfeed::pipeline`: the `Demo` (sources → windows → hub → server with the live page)
//! that the `dashfeed demo` console script runs, and the `Pipeline` of `dashfeed serve --config`.

use crate::codec::to_value;
use crate::connect::{links, timeout};
use crate::error::{to_py, IntoPyResult};
use crate::hub::PyHub;
use dashfeed::codec::{Codec, Format};
use dashfeed::pipeline::{Demo, DemoConfig, Pipeline, PipelineConfig};
use dashfeed::Error;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::{PyDict, PyList};
use std::sync::Mutex;
use std::time::Duration;

/// The live demo: `Demo(host="127.0.0.1", port=8080, open=False)`, `start()`, `.url`, `stop()`.
#[pyclass(module = "dashfeed", name = "Demo", frozen)]
pub struct PyDemo {
    config: DemoConfig,
    running: Mutex<Option<Demo>>,
}

#[pymethods]
impl PyDemo {
    #[new]
    #[pyo3(signature = (*, host = "127.0.0.1", port = 8080, open = false, tick = 0.25, api_rps = 400))]
    fn new(host: &str, port: u16, open: bool, tick: f64, api_rps: u32) -> PyResult<Self> {
        let tick = Duration::try_from_secs_f64(tick)
            .map_err(|_| to_py(Error::invalid("tick must be positive")))?;
        let config = DemoConfig {
            host: host.into(),
            port,
            open,
            tick,
            api_rps,
            ..DemoConfig::default()
        };
        Ok(PyDemo {
            config,
            running: Mutex::new(None),
        })
    }

    /// Starts the sources, the aggregators, the hub and the server (returns at once).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        // Waiting for the lock detaches from the interpreter: the holder may need it back.
        let mut guard = self
            .running
            .lock_py_attached(py)
            .map_err(|_| to_py(Error::Internal("demo lock poisoned".into())))?;
        if guard.is_none() {
            let config = self.config.clone();
            *guard = Some(py.detach(|| Demo::start(config)).py()?);
        }
        Ok(())
    }

    /// The page's URL (ClosedError when not started).
    #[getter]
    fn url(&self, py: Python<'_>) -> PyResult<String> {
        let guard = self
            .running
            .lock_py_attached(py)
            .map_err(|_| to_py(Error::Internal("demo lock poisoned".into())))?;
        guard
            .as_ref()
            .map(|d| d.url())
            .ok_or_else(|| to_py(Error::Closed))
    }

    /// Stops everything (clients get close 1001), waiting at most `timeout` seconds.
    #[pyo3(signature = (timeout = 10.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = Duration::try_from_secs_f64(timeout)
            .map_err(|_| to_py(Error::invalid("timeout must be positive")))?;
        let demo = self
            .running
            .lock_py_attached(py)
            .map_err(|_| to_py(Error::Internal("demo lock poisoned".into())))?
            .take();
        match demo {
            Some(mut d) => py.detach(move || d.shutdown_blocking(timeout)).py(),
            None => Ok(()),
        }
    }
}

/// Sources → dedupe → aggregator → hub → sinks and the server, from a config: `Pipeline(config)` with
/// TOML text, a dict or a path (`os.PathLike`: errors name the file); `start()`, `.url`, `.hub`, `stop()`.
#[pyclass(module = "dashfeed", name = "Pipeline", subclass, frozen)]
pub struct PyPipeline {
    config: PipelineConfig,
    hub: Option<dashfeed::hub::Hub>,
    running: Mutex<Option<Pipeline>>,
}

impl PyPipeline {
    /// Runs `f` on the running pipeline. Waiting for the lock detaches from the interpreter (a
    /// `start`, `flush` or `stop` in another thread holds it while detached).
    fn with<T>(&self, py: Python<'_>, f: impl FnOnce(&Pipeline) -> PyResult<T>) -> PyResult<T> {
        let guard = self
            .running
            .lock_py_attached(py)
            .map_err(|_| to_py(Error::Internal("pipeline lock poisoned".into())))?;
        f(guard.as_ref().ok_or_else(|| to_py(Error::Closed))?)
    }
}

#[pymethods]
impl PyPipeline {
    #[new]
    #[pyo3(signature = (config, *, hub = None))]
    fn new(config: &Bound<'_, PyAny>, hub: Option<&Bound<'_, PyHub>>) -> PyResult<Self> {
        let config = if let Ok(text) = config.extract::<String>() {
            PipelineConfig::parse(&text).py()?
        } else if config.is_instance_of::<PyDict>() {
            let v = to_value(config, 32)?;
            PipelineConfig::from_json(&Codec::new(Format::Json).encode_plain(&v).py()?).py()?
        } else if let Ok(path) = config.extract::<std::path::PathBuf>() {
            PipelineConfig::read(&path).py()?
        } else {
            return Err(to_py(Error::invalid(
                "config must be TOML text, a dict or a path (os.PathLike)",
            )));
        };
        Ok(PyPipeline {
            config,
            hub: hub.map(|h| h.get().inner.clone()),
            running: Mutex::new(None),
        })
    }

    /// Starts sinks (seeding the hub from Redis caches), the server, then the sources.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let mut guard = self
            .running
            .lock_py_attached(py)
            .map_err(|_| to_py(Error::Internal("pipeline lock poisoned".into())))?;
        if guard.is_none() {
            let config = self.config.clone();
            let hub = self.hub.clone();
            *guard = Some(
                py.detach(move || match hub {
                    Some(h) => Pipeline::start_with_hub(config, h),
                    None => Pipeline::start(config),
                })
                .py()?,
            );
        }
        Ok(())
    }

    /// The server's base URL (ClosedError when not started).
    #[getter]
    fn url(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |p| Ok(p.url()))
    }

    /// The bound port.
    #[getter]
    fn port(&self, py: Python<'_>) -> PyResult<u16> {
        self.with(py, |p| Ok(p.server().port()))
    }

    /// The pipeline's hub (publish to it, subscribe to it).
    #[getter]
    fn hub(&self, py: Python<'_>) -> PyResult<PyHub> {
        self.with(py, |p| {
            Ok(PyHub {
                inner: p.hub().clone(),
            })
        })
    }

    /// Dashboards seeded from Redis caches at start.
    #[getter]
    fn seeded(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |p| Ok(p.seeded()))
    }

    /// Every source's, sink's and the cluster's link figures.
    fn links<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.with(py, |p| links(py, &p.links()))
    }

    /// Waits until every sink wrote what it holds.
    #[pyo3(signature = (timeout = 10.0))]
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let t = self::timeout(timeout)?;
        let rt = dashfeed::runtime::handle().py()?;
        self.with(py, |p| py.detach(|| rt.block_on(p.flush(t))).py())
    }

    /// Stops sources (committing what was applied), flushes sinks, closes clients with 1001.
    #[pyo3(signature = (timeout = 10.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let t = self::timeout(timeout)?;
        let p = self
            .running
            .lock_py_attached(py)
            .map_err(|_| to_py(Error::Internal("pipeline lock poisoned".into())))?
            .take();
        match p {
            Some(p) => py.detach(move || p.shutdown_blocking(t)).py(),
            None => Ok(()),
        }
    }
}

/// Adds `Demo` and `Pipeline` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDemo>()?;
    m.add_class::<PyPipeline>()
}
