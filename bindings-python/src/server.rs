//! Python face of `dashfeed::server`: `Server(hub, host=..., port=0, auth=..., ...)` with `start()` /
//! `stop()` and `with`; the package's subclass adds `async with`. The server runs on the core's runtime and
//! never blocks the interpreter; `stop()` waits with the GIL released.

use crate::codec::to_value;
use crate::error::{secs, to_py, IntoPyResult};
use crate::hub::PyHub;
use crate::options::kwargs;
use dashfeed::codec::Value;
use dashfeed::options::{FromOptions, Style};
use dashfeed::server::{AuthConfig, Grant, Server, ServerConfig, ServerHandle, Verifier};
use dashfeed::Error;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::path::PathBuf;
use std::sync::Mutex;

/// The feed server: WebSocket (`/ws`, `/dashboard/{id}`), SSE (`/sse/{id}`), snapshot polling, ingest,
/// `/metrics` and `/healthz`, serving one hub.
#[pyclass(module = "dashfeed._native", name = "Server", subclass, frozen)]
pub struct PyServer {
    hub: dashfeed::hub::Hub,
    config: ServerConfig,
    handle: Mutex<Option<ServerHandle>>,
}

impl PyServer {
    fn with_handle<T>(&self, f: impl FnOnce(&ServerHandle) -> T) -> PyResult<T> {
        let guard = self
            .handle
            .lock()
            .map_err(|_| to_py(Error::Internal("server lock poisoned".into())))?;
        guard.as_ref().map(f).ok_or_else(|| to_py(Error::Closed))
    }
}

#[pymethods]
impl PyServer {
    #[new]
    #[pyo3(signature = (hub, *, host = "127.0.0.1", port = 0, auth = None, allowed_origins = None,
        max_connections = 10_000, max_message_bytes = 65_536, ping_interval = 20.0, idle_timeout = 60.0,
        write_delay = 0.0,
        message_rate = None, ingest_rate = None, policy = None, queue = None, queue_bytes = None,
        static_dir = None, tls_cert = None, tls_key = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        hub: &Bound<'_, PyHub>,
        host: &str,
        port: u16,
        auth: Option<&Bound<'_, PyDict>>,
        allowed_origins: Option<Vec<String>>,
        max_connections: usize,
        max_message_bytes: usize,
        ping_interval: f64,
        idle_timeout: f64,
        write_delay: f64,
        message_rate: Option<(f64, u32)>,
        ingest_rate: Option<(f64, u32)>,
        policy: Option<&str>,
        queue: Option<usize>,
        queue_bytes: Option<usize>,
        static_dir: Option<PathBuf>,
        tls_cert: Option<PathBuf>,
        tls_key: Option<PathBuf>,
    ) -> PyResult<Self> {
        let pair = |r: Option<(f64, u32)>| r.map(|(r, b)| Value::Array(vec![r.into(), b.into()]));
        let (message_rate, ingest_rate) = (pair(message_rate), pair(ingest_rate));
        let auth = auth.map(|a| to_value(a.as_any(), 2)).transpose()?;
        let allowed_origins =
            allowed_origins.map(|o| Value::Array(o.into_iter().map(Value::from).collect()));
        let path = |p: Option<PathBuf>| p.map(|p| p.to_string_lossy().into_owned());
        let (static_dir, tls_cert, tls_key) = (path(static_dir), path(tls_cert), path(tls_key));
        let options = kwargs!(
            host,
            port,
            auth,
            allowed_origins,
            max_connections,
            max_message_bytes,
            ping_interval,
            idle_timeout,
            write_delay,
            message_rate,
            ingest_rate,
            policy,
            queue,
            queue_bytes,
            static_dir,
            tls_cert,
            tls_key,
        );
        let config = ServerConfig::from_value(&options, Style::PYTHON).py()?;
        Ok(PyServer {
            hub: hub.get().inner.clone(),
            config,
            handle: Mutex::new(None),
        })
    }

    /// Binds and starts serving (returns at once; the server runs on dashfeed's runtime threads).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let mut guard = self
            .handle
            .lock()
            .map_err(|_| to_py(Error::Internal("server lock poisoned".into())))?;
        if guard.is_some() {
            return Err(to_py(Error::invalid("the server is already started")));
        }
        let (hub, config) = (self.hub.clone(), self.config.clone());
        *guard = Some(py.detach(|| Server::start(hub, config)).py()?);
        Ok(())
    }

    /// Graceful shutdown: every client gets close 1001, SSE streams end; waits at most `timeout` seconds
    /// with the GIL released. Stopping a stopped server does nothing.
    #[pyo3(signature = (timeout = 10.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = secs("timeout", timeout)?;
        let handle = self
            .handle
            .lock()
            .map_err(|_| to_py(Error::Internal("server lock poisoned".into())))?
            .take();
        match handle {
            Some(h) => py.detach(|| h.shutdown_blocking(timeout)).py(),
            None => Ok(()),
        }
    }

    /// True while started.
    #[getter]
    fn running(&self) -> PyResult<bool> {
        Ok(self
            .handle
            .lock()
            .map_err(|_| to_py(Error::Internal("server lock poisoned".into())))?
            .is_some())
    }

    /// The bound port (ClosedError when not started).
    #[getter]
    fn port(&self) -> PyResult<u16> {
        self.with_handle(|h| h.port())
    }

    /// `http://host:port` (https with TLS).
    #[getter]
    fn url(&self) -> PyResult<String> {
        self.with_handle(|h| h.url())
    }

    /// `ws://host:port` (wss with TLS); append `/ws` or `/dashboard/{id}`.
    #[getter]
    fn ws_url(&self) -> PyResult<String> {
        self.with_handle(|h| h.ws_url())
    }

    /// Counters: connections, socket_writes, ws_frames, sse_frames.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.with_handle(|h| h.stats())?;
        let d = PyDict::new(py);
        d.set_item("connections", s.connections)?;
        d.set_item("socket_writes", s.socket_writes)?;
        d.set_item("ws_frames", s.ws_frames)?;
        d.set_item("sse_frames", s.sse_frames)?;
        Ok(d)
    }

    fn __enter__<'a>(slf: PyRef<'a, Self>, py: Python<'_>) -> PyResult<PyRef<'a, Self>> {
        slf.start(py)?;
        Ok(slf)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.stop(py, 10.0)?;
        Ok(false)
    }
}

/// JWT verification with the server's rules, for other front doors: `Auth(secret=...)` or
/// `Auth(public_key=PEM, algorithm="RS256" | "ES256")`, then `auth.verify(token)`.
#[pyclass(module = "dashfeed._native", name = "Auth", frozen)]
pub struct PyAuth {
    inner: Verifier,
}

#[pymethods]
impl PyAuth {
    /// The keys of the server's `auth=` dict as keyword arguments (`secret`, `public_key`,
    /// `algorithm`, `issuer`, `audience`, `leeway` in seconds).
    #[new]
    #[pyo3(signature = (**options))]
    fn new(options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let options = options.map(|o| to_value(o.as_any(), 2)).transpose()?;
        let config = AuthConfig::from_value(&options.unwrap_or_default(), Style::PYTHON).py()?;
        Ok(PyAuth {
            inner: Verifier::new(&config).py()?,
        })
    }

    /// Checks `token` (signature, algorithm, `exp` required, `nbf`, issuer, audience) and returns
    /// its grant; a refused token raises `InvalidInputError` saying why.
    fn verify(&self, token: &str) -> PyResult<PyGrant> {
        Ok(PyGrant {
            inner: self.inner.verify(token).py()?,
        })
    }
}

/// What a verified token allows: `subject`, `dashboards` (patterns or None), `expires_at` (seconds
/// since the Unix epoch), `remaining` (seconds left) and `allows(dashboard)`.
#[pyclass(module = "dashfeed._native", name = "Grant", frozen)]
pub struct PyGrant {
    inner: Grant,
}

#[pymethods]
impl PyGrant {
    /// Whether the token opens `dashboard` (no `dashboards` claim: every dashboard).
    fn allows(&self, dashboard: &str) -> bool {
        self.inner.allows(dashboard)
    }

    /// The token's `sub`, or None.
    #[getter]
    fn subject(&self) -> Option<String> {
        self.inner.subject.clone()
    }

    /// The `dashboards` patterns, or None when the token has no such claim.
    #[getter]
    fn dashboards(&self) -> Option<Vec<String>> {
        self.inner.patterns.clone()
    }

    /// Expiry (`exp` plus the leeway), seconds since the Unix epoch.
    #[getter]
    fn expires_at(&self) -> f64 {
        self.inner.expires_at
    }

    /// Seconds left before the token expires (0 once expired).
    #[getter]
    fn remaining(&self) -> f64 {
        self.inner.remaining().as_secs_f64()
    }

    fn __repr__(&self) -> String {
        format!(
            "Grant(subject={:?}, dashboards={:?}, expires_at={})",
            self.inner.subject, self.inner.patterns, self.inner.expires_at
        )
    }
}

/// Adds `Server`, `Auth` and `Grant` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyServer>()?;
    m.add_class::<PyAuth>()?;
    m.add_class::<PyGrant>()
}
