//! Node face of `dashfeed::server`: `new Server(hub, options?)`, `await server.listen()`,
//! `await server.close()`, `.port` / `.url` / `.wsUrl` / `.stats`. The server runs on the core's runtime
//! threads, never on the JS thread; `close()` waits on the libuv thread pool.

use crate::error::{guard, Code, Result};
use crate::hub::Hub;
use crate::job::{self, Job};
use dashfeed::hub::Policy;
use dashfeed::limit::LimiterConfig;
use dashfeed::server::{
    AuthConfig, Grant as CoreGrant, Server as CoreServer, ServerConfig, ServerHandle, TlsConfig,
    Verifier,
};
use dashfeed::Error;
use napi::bindgen_prelude::AsyncTask;
use napi::sys;
use napi_derive::napi;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// Options of `new Server(hub, options)`. Durations are in milliseconds (the Python module's are
/// seconds).
#[napi(object)]
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

/// A duration option in ms (warned about once when it looks like seconds, see `units`).
fn ms(env: sys::napi_env, owner: &str, name: &str, v: f64) -> Result<Duration> {
    crate::units::check_ms(env, owner, name, v);
    Duration::try_from_secs_f64(v / 1000.0).map_err(|_| {
        Error::invalid(format!(
            "{name} must be a finite, non-negative number of ms"
        ))
        .into()
    })
}

fn rate(name: &str, v: Option<Vec<f64>>, default: LimiterConfig) -> Result<LimiterConfig> {
    match v.as_deref() {
        None => Ok(default),
        Some([r, b]) if *b >= 1.0 && b.fract() == 0.0 => Ok(LimiterConfig::new(*r, *b as u32)),
        Some(_) => Err(Error::invalid(format!("{name} must be [perSecond, burst]")).into()),
    }
}

fn auth(env: sys::napi_env, owner: &str, a: AuthOptions) -> Result<AuthConfig> {
    let mut cfg = match (a.secret, a.public_key) {
        (Some(s), None) => AuthConfig::hs256(s),
        (None, Some(pem)) => match a
            .algorithm
            .as_deref()
            .unwrap_or("RS256")
            .to_ascii_uppercase()
            .as_str()
        {
            "RS256" => AuthConfig::rs256_pem(pem),
            "ES256" => AuthConfig::es256_pem(pem),
            other => {
                return Err(Error::invalid(format!("unsupported JWT algorithm {other:?}")).into())
            }
        },
        _ => {
            return Err(Error::invalid(
                "auth needs either secret (HS256) or publicKey (RS256/ES256)",
            )
            .into())
        }
    };
    cfg.issuer = a.issuer;
    cfg.audience = a.audience;
    if let Some(l) = a.leeway {
        cfg.leeway = ms(env, owner, "auth.leeway", l)?;
    }
    Ok(cfg)
}

fn config(env: sys::napi_env, o: ServerOptions) -> Result<ServerConfig> {
    let d = ServerConfig::default();
    let tls = match (o.tls_cert, o.tls_key) {
        (Some(c), Some(k)) => Some(TlsConfig {
            cert_pem_path: PathBuf::from(c),
            key_pem_path: PathBuf::from(k),
        }),
        (None, None) => None,
        _ => return Err(Error::invalid("tlsCert and tlsKey go together").into()),
    };
    let max_message = o
        .max_message_bytes
        .map(|v| v as usize)
        .unwrap_or(d.max_message_bytes);
    let config = ServerConfig {
        host: o.host.unwrap_or_else(|| d.host.clone()),
        port: match o.port {
            Some(p) => {
                u16::try_from(p).map_err(|_| Error::invalid("port must be at most 65535"))?
            }
            None => 0,
        },
        auth: o.auth.map(|a| auth(env, "Server", a)).transpose()?,
        allowed_origins: o.allowed_origins,
        max_connections: o
            .max_connections
            .map(|v| v as usize)
            .unwrap_or(d.max_connections),
        max_message_bytes: max_message,
        max_frame_bytes: max_message,
        ping_interval: o
            .ping_interval
            .map(|v| ms(env, "Server", "pingInterval", v))
            .transpose()?
            .unwrap_or(d.ping_interval),
        idle_timeout: o
            .idle_timeout
            .map(|v| ms(env, "Server", "idleTimeout", v))
            .transpose()?
            .unwrap_or(d.idle_timeout),
        write_delay: o
            .write_delay
            .map(|v| ms(env, "Server", "writeDelay", v))
            .transpose()?
            .unwrap_or(d.write_delay),
        policy: o.policy.map(|p| p.parse::<Policy>()).transpose()?,
        queue_messages: o.queue.map(|v| v as usize),
        queue_bytes: o.queue_bytes.map(|v| v as usize),
        message_rate: rate("messageRate", o.message_rate, d.message_rate.clone())?,
        ingest_rate: rate("ingestRate", o.ingest_rate, d.ingest_rate.clone())?,
        static_dir: o.static_dir.map(PathBuf::from),
        tls,
        ..d
    };
    config.validate()?;
    Ok(config)
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
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: &napi::Env,
        hub: &Hub,
        options: Option<ServerOptions>,
    ) -> napi::Result<Self, Code> {
        guard(|| {
            let config = config(
                env.raw(),
                options.unwrap_or(ServerOptions {
                    host: None,
                    port: None,
                    auth: None,
                    allowed_origins: None,
                    max_connections: None,
                    max_message_bytes: None,
                    ping_interval: None,
                    idle_timeout: None,
                    write_delay: None,
                    policy: None,
                    queue: None,
                    queue_bytes: None,
                    message_rate: None,
                    ingest_rate: None,
                    static_dir: None,
                    tls_cert: None,
                    tls_key: None,
                }),
            )?;
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
    #[napi(constructor, catch_unwind)]
    pub fn new(env: &napi::Env, options: AuthOptions) -> napi::Result<Self, Code> {
        guard(|| {
            Ok(Auth {
                inner: Verifier::new(&auth(env.raw(), "Auth", options)?)?,
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
