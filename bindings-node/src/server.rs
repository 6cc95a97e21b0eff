//! Node face of `dashfeed::server`: `new Server(hub, options?)`, `await server.listen()`,
//! `await server.close()`, `.port` / `.url` / `.wsUrl` / `.stats`. The server runs on the core's runtime
//! threads, never on the JS thread; `close()` waits on the libuv thread pool.

use crate::error::{guard, Code, Result};
use crate::hub::Hub;
use crate::job::{self, Job};
use dashfeed::codec::Value;
use dashfeed::options::{FromOptions, Style};
use dashfeed::server::{
    AuthConfig, Grant as CoreGrant, Server as CoreServer, ServerConfig, ServerHandle, Verifier,
};
use dashfeed::Error;
use napi::bindgen_prelude::{AsyncTask, Unknown};
use napi_derive::napi;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// The declaration of index.d.ts; the core reads the values (`AuthConfig::from_value`).
/// JWT settings: `{ secret }` (HS256) or `{ publicKey, algorithm: 'RS256' | 'ES256' }`.
#[napi(object)]
pub struct AuthOptions {
    /// HS256 shared secret.
    pub secret: Option<String>,
    /// RS256 / ES256 public key (PEM).
    pub public_key: Option<String>,
    /// `'RS256'` (default with `publicKey`) or `'ES256'`.
    pub algorithm: Option<String>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required `aud`.
    pub audience: Option<String>,
    /// Allowed clock skew, in ms (not seconds, as in Python).
    pub leeway: Option<f64>,
}

// The declaration of index.d.ts; the core reads the values (`ServerConfig::from_value`).
/// Options of `new Server(hub, options)`. Durations are in milliseconds (the Python module's are
/// seconds).
#[napi(object)]
#[expect(
    dead_code,
    reason = "declares the options type of index.d.ts; the core reads the values"
)]
pub struct ServerOptions {
    /// Interface to bind (default `'127.0.0.1'`).
    pub host: Option<String>,
    /// Port (default 0: any free port).
    pub port: Option<u32>,
    /// JWT auth; absent or `null`: off.
    pub auth: Option<AuthOptions>,
    /// Allowed `Origin`s (absent: any).
    pub allowed_origins: Option<Vec<String>>,
    /// Most streaming connections (default 10 000).
    pub max_connections: Option<u32>,
    /// Largest client message in bytes (default 65 536).
    pub max_message_bytes: Option<u32>,
    /// WebSocket ping period, ms (default 20 000).
    pub ping_interval: Option<f64>,
    /// Silent clients are closed after this, ms (default 60 000).
    pub idle_timeout: Option<f64>,
    /// Hold a connection's updates up to this long after the first is ready and write them together,
    /// ms (default 0: write at once; at most 1000). Replies are not delayed.
    pub write_delay: Option<f64>,
    /// Slow-consumer policy of the server's subscriptions (default: the hub's).
    #[napi(ts_type = "'conflate' | 'drop_oldest' | 'disconnect'")]
    pub policy: Option<String>,
    /// Queue cap per subscription, messages.
    pub queue: Option<u32>,
    /// Queue cap per subscription, bytes.
    pub queue_bytes: Option<u32>,
    /// Client messages per second per connection, and burst (default 50, 100).
    pub message_rate: Option<Vec<f64>>,
    /// Ingested events per second per dashboard, and burst (default 1000, 2000).
    pub ingest_rate: Option<Vec<f64>>,
    /// Directory served at `/`.
    pub static_dir: Option<String>,
    /// TLS certificate (PEM path); with `tlsKey`.
    pub tls_cert: Option<String>,
    /// TLS private key (PEM path).
    pub tls_key: Option<String>,
}

/// The options object as the core's map (`ServerConfig::from_value` / `AuthConfig::from_value`).
fn options_value(options: Option<Unknown<'_>>) -> Result<Value> {
    Ok(crate::options::read(options, &[])?.value)
}

/// Server counters.
#[napi(object)]
pub struct ServerStats {
    /// Open streaming connections.
    pub connections: f64,
    /// Socket writes so far (frames are coalesced into few writes).
    pub socket_writes: f64,
    /// WebSocket frames sent.
    pub ws_frames: f64,
    /// SSE events sent.
    pub sse_frames: f64,
}

/// The feed server: WebSocket (`/ws`, `/dashboard/{id}`), SSE (`/sse/{id}`), snapshot polling, ingest,
/// `/metrics` and `/healthz`, serving one hub.
#[napi]
pub struct Server {
    hub: dashfeed::hub::Hub,
    config: ServerConfig,
    handle: Arc<Mutex<Option<ServerHandle>>>,
}

impl Server {
    fn with_handle<T>(&self, f: impl FnOnce(&ServerHandle) -> T) -> Result<T> {
        let guard = self
            .handle
            .lock()
            .map_err(|_| Error::Internal("server lock poisoned".into()))?;
        guard.as_ref().map(f).ok_or_else(|| Error::Closed.into())
    }
}

#[napi]
impl Server {
    /// A server for `hub` (not listening yet: call `listen()`).
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "hub: Hub, options?: ServerOptions | undefined | null"
    )]
    pub fn new(
        env: &napi::Env,
        hub: &Hub,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<Self, Code> {
        guard(|| {
            let mut warn = crate::units::warner(env, "Server");
            let options = options_value(options)?;
            let config = ServerConfig::from_value_with(&options, Style::NODE, &mut warn)?;
            Ok(Server {
                hub: hub.core().clone(),
                config,
                handle: Arc::new(Mutex::new(None)),
            })
        })
    }

    /// Binds and starts serving; resolves with the port. Listening twice resolves with the same port.
    /// Rejects with a coded error (`io` when the port is taken, `invalid_input` for bad TLS files).
    #[napi(ts_return_type = "Promise<number>")]
    pub fn listen(&self) -> AsyncTask<Job<f64>> {
        let (handle, hub, config) = (self.handle.clone(), self.hub.clone(), self.config.clone());
        Job::spawn(
            move || {
                let mut guard = handle
                    .lock()
                    .map_err(|_| Error::Internal("server lock poisoned".into()))?;
                if let Some(h) = guard.as_ref() {
                    return Ok(f64::from(h.port()));
                }
                let h = CoreServer::start(hub, config)?;
                let port = f64::from(h.port());
                *guard = Some(h);
                Ok(port)
            },
            job::number,
        )
    }

    /// Graceful shutdown: every client gets close 1001, SSE streams end. Closing twice does nothing.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self) -> AsyncTask<Job<()>> {
        let handle = self.handle.clone();
        Job::spawn(
            move || {
                let h = handle
                    .lock()
                    .map_err(|_| Error::Internal("server lock poisoned".into()))?
                    .take();
                match h {
                    Some(h) => h.shutdown_blocking(Duration::from_secs(10)),
                    None => Ok(()),
                }
            },
            job::undefined,
        )
    }

    /// True while listening.
    #[napi(getter)]
    pub fn listening(&self) -> bool {
        self.handle.lock().map(|g| g.is_some()).unwrap_or(false)
    }

    /// The bound port (throws `closed` when not listening).
    #[napi(getter, catch_unwind)]
    pub fn port(&self) -> napi::Result<u32, Code> {
        guard(|| self.with_handle(|h| u32::from(h.port())))
    }

    /// `http://host:port` (https with TLS).
    #[napi(getter, catch_unwind)]
    pub fn url(&self) -> napi::Result<String, Code> {
        guard(|| self.with_handle(|h| h.url()))
    }

    /// `ws://host:port` (wss with TLS); append `/ws` or `/dashboard/{id}`.
    #[napi(getter, catch_unwind)]
    pub fn ws_url(&self) -> napi::Result<String, Code> {
        guard(|| self.with_handle(|h| h.ws_url()))
    }

    /// Counters.
    #[napi(getter, catch_unwind)]
    pub fn stats(&self) -> napi::Result<ServerStats, Code> {
        guard(|| {
            self.with_handle(|h| {
                let s = h.stats();
                ServerStats {
                    connections: s.connections as f64,
                    socket_writes: s.socket_writes as f64,
                    ws_frames: s.ws_frames as f64,
                    sse_frames: s.sse_frames as f64,
                }
            })
        })
    }
}

/// JWT verification with the server's rules, for other front doors (the Socket.io bridge):
/// `new Auth({ secret })` or `new Auth({ publicKey, algorithm })`, then `auth.verify(token)`.
#[napi]
pub struct Auth {
    inner: Verifier,
}

#[napi]
impl Auth {
    /// A verifier for these settings (the `auth` option of `new Server`); `invalid_input` for an
    /// empty secret or a bad PEM.
    #[napi(constructor, catch_unwind, ts_args_type = "options: AuthOptions")]
    pub fn new(env: &napi::Env, options: Unknown<'_>) -> napi::Result<Self, Code> {
        guard(|| {
            let mut warn = crate::units::warner(env, "Auth");
            let options = options_value(Some(options))?;
            let config = AuthConfig::from_value_with(&options, Style::NODE, &mut warn)?;
            Ok(Auth {
                inner: Verifier::new(&config)?,
            })
        })
    }

    /// Checks a token (signature, algorithm, `exp` required, `nbf`, issuer, audience) and returns
    /// what it allows; a refused token throws `invalid_input` saying why.
    #[napi(catch_unwind)]
    pub fn verify(&self, token: String) -> napi::Result<Grant, Code> {
        guard(|| {
            Ok(Grant {
                inner: self.inner.verify(&token)?,
            })
        })
    }
}

/// What a verified token allows: its subject, dashboard patterns and expiry.
#[napi]
pub struct Grant {
    inner: CoreGrant,
}

#[napi]
impl Grant {
    /// Whether the token opens `dashboard` (its `dashboards` patterns; no claim: every dashboard).
    #[napi]
    pub fn allows(&self, dashboard: String) -> bool {
        self.inner.allows(&dashboard)
    }

    /// The token's `sub`, or `null`.
    #[napi(getter)]
    pub fn subject(&self) -> Option<String> {
        self.inner.subject.clone()
    }

    /// The `dashboards` patterns, or `null` when the token has no such claim.
    #[napi(getter)]
    pub fn dashboards(&self) -> Option<Vec<String>> {
        self.inner.patterns.clone()
    }

    /// Expiry (`exp` plus the leeway) in ms since the Unix epoch.
    #[napi(getter)]
    pub fn expires_at(&self) -> f64 {
        self.inner.expires_at * 1000.0
    }

    /// Milliseconds left before the token expires (0 once expired).
    #[napi(getter)]
    pub fn remaining_ms(&self) -> f64 {
        self.inner.remaining().as_secs_f64() * 1000.0
    }
}
