//! Python face of `dashfeed::pipeline`: the `Demo` (sources → windows → hub → server with the live page)
//! that the `dashfeed demo` console script runs.

use crate::error::{to_py, IntoPyResult};
use dashfeed::pipeline::{Demo, DemoConfig};
use dashfeed::Error;
use pyo3::prelude::*;
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
        let mut guard = self
            .running
            .lock()
            .map_err(|_| to_py(Error::Internal("demo lock poisoned".into())))?;
        if guard.is_none() {
            let config = self.config.clone();
            *guard = Some(py.detach(|| Demo::start(config)).py()?);
        }
        Ok(())
    }

    /// The page's URL (ClosedError when not started).
    #[getter]
    fn url(&self) -> PyResult<String> {
        let guard = self
            .running
            .lock()
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
            .lock()
            .map_err(|_| to_py(Error::Internal("demo lock poisoned".into())))?
            .take();
        match demo {
            Some(mut d) => py.detach(move || d.shutdown_blocking(timeout)).py(),
            None => Ok(()),
        }
    }
}

/// Adds `Demo` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDemo>()
}
