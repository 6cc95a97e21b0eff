//! Python face of `dashfeed::server`: `Server(hub, host=..., port=0, auth=..., ...)` with `start()` /
//! `stop()` and `with`; the package's subclass adds `async with`. The server runs on the core's runtime and
//! never blocks the interpreter; `stop()` waits with the GIL released.

use crate::error::{secs, to_py, IntoPyResult};
use crate::hub::PyHub;
use dashfeed::hub::Policy;
use dashfeed::limit::LimiterConfig;
use dashfeed::server::{
    AuthConfig, Grant, Server, ServerConfig, ServerHandle, TlsConfig, Verifier,
};
use dashfeed::Error;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::path::PathBuf;
use std::sync::Mutex;

/// `auth={"secret": ...}` (HS256) or `{"public_key": PEM, "algorithm": "RS256" | "ES256"}`, with optional
/// `issuer`, `audience`, `leeway` (seconds).
fn auth_config(d: &Bound<'_, PyDict>) -> PyResult<AuthConfig> {
    let get = |k: &str| d.get_item(k);
    let mut cfg = if let Some(secret) = get("secret")? {
        let secret: Vec<u8> = match secret.extract::<String>() {
            Ok(s) => s.into_bytes(),
            Err(_) => secret.extract()?,
        };
        AuthConfig::hs256(secret)
    } else if let Some(pem) = get("public_key")? {
        let pem: String = pem.extract()?;
        let alg: String = get("algorithm")?
            .map(|a| a.extract())
            .transpose()?
            .unwrap_or_else(|| "RS256".into());
        match alg.to_ascii_uppercase().as_str() {
            "RS256" => AuthConfig::rs256_pem(pem),
            "ES256" => AuthConfig::es256_pem(pem),
            other => {
                return Err(to_py(Error::invalid(format!(
                    "unsupported JWT algorithm {other:?}"
                ))))
            }
        }
    } else {
        return Err(to_py(Error::invalid(
            "auth needs 'secret' (HS256) or 'public_key' (RS256/ES256)",
        )));
    };
    cfg.issuer = get("issuer")?.map(|v| v.extract()).transpose()?;
    cfg.audience = get("audience")?.map(|v| v.extract()).transpose()?;
    if let Some(l) = get("leeway")? {
        cfg.leeway = secs("leeway", l.extract()?)?;
    }
    Ok(cfg)
}

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
        let d = ServerConfig::default();
        let tls = match (tls_cert, tls_key) {
            (Some(cert_pem_path), Some(key_pem_path)) => Some(TlsConfig {
                cert_pem_path,
                key_pem_path,
            }),
            (None, None) => None,
            _ => return Err(to_py(Error::invalid("tls_cert and tls_key go together"))),
        };
        let config = ServerConfig {
            host: host.to_owned(),
            port,
            auth: auth.map(auth_config).transpose()?,
            allowed_origins,
            max_connections,
            max_message_bytes,
            max_frame_bytes: max_message_bytes,
            ping_interval: secs("ping_interval", ping_interval)?,
            idle_timeout: secs("idle_timeout", idle_timeout)?,
            write_delay: secs("write_delay", write_delay)?,
            message_rate: message_rate
                .map(|(r, b)| LimiterConfig::new(r, b))
                .unwrap_or(d.message_rate),
            ingest_rate: ingest_rate
                .map(|(r, b)| LimiterConfig::new(r, b))
                .unwrap_or(d.ingest_rate),
            policy: policy.map(|p| p.parse::<Policy>()).transpose().py()?,
            queue_messages: queue,
            queue_bytes,
            static_dir,
            tls,
            ..d
        };
        config.validate().py()?;
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
        let options = options.ok_or_else(|| {
            to_py(Error::invalid(
                "auth needs 'secret' (HS256) or 'public_key' (RS256/ES256)",
            ))
        })?;
        Ok(PyAuth {
            inner: Verifier::new(&auth_config(options)?).py()?,
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
