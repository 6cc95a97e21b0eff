//! The feed server: HTTP/1 (hyper) with WebSocket (tungstenite), Server-Sent Events, a polling API, ingest,
//! Prometheus metrics, health, static files, JWT auth, Origin checks, rate limits, caps, heartbeats, TLS
//! (rustls) and graceful shutdown. The protocol is documented in `docs/protocol.md`.
//!
//! Endpoints:
//! - `GET /ws`: WebSocket; subprotocol `dashfeed.v1.json` (JSON text frames) or `dashfeed.v1.msgpack`
//!   (MessagePack binary frames); gzipped messages go as binary frames in either format;
//! - `GET /dashboard/{id}`: WebSocket subscribed to one dashboard at once (format from the subprotocol or
//!   `?format=`; resume with `?epoch=…&seq=…`);
//! - `GET /sse/{id}`: Server-Sent Events (`Last-Event-ID` resumes);
//! - `GET /api/dashboards/{id}`: the snapshot; `POST /api/events`: ingest;
//! - `GET /metrics`, `GET /healthz`, and static files from `static_dir`.
//!
//! ```no_run
//! use dashfeed::hub::{Hub, HubConfig};
//! use dashfeed::server::{Server, ServerConfig};
//! use std::time::Duration;
//!
//! let hub = Hub::new(HubConfig::default()).unwrap();
//! let handle = Server::start(hub.clone(), ServerConfig::ephemeral()).unwrap();
//! println!("listening on {}", handle.url());
//! handle.shutdown_blocking(Duration::from_secs(10)).unwrap();
//! ```

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod api;
mod auth;
mod batch;
mod config;
mod conn;
mod ingest;
mod io;
mod listen;
mod options;
pub mod protocol;
mod router;
mod session;
mod sse;
mod state;
mod static_files;
mod tls;
mod upgrade;
mod web;
mod ws;

pub use auth::{glob_match, AuthConfig, Grant, JwtKey, Verifier, TOKEN_PROTOCOL_PREFIX};
pub use config::{ServerConfig, TlsConfig};
pub use ingest::{HubIngest, Ingest};
pub use protocol::{close, ClientOp, PROTOCOL_JSON, PROTOCOL_MSGPACK};

use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::metrics::Metrics;
use state::State;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;

/// Extra time, past `close_timeout`, that shutdown waits for the last tasks.
const SHUTDOWN_SLACK: Duration = Duration::from_secs(1);

/// Starts servers.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Starts a server for `hub` on the shared runtime ([`crate::runtime`]). Errors: `invalid_input`
    /// (a setting, a key, a TLS file), `io_error` (the address cannot be bound).
    pub fn start(hub: Hub, config: ServerConfig) -> Result<ServerHandle> {
        Server::start_on(hub, config, &crate::runtime::handle()?)
    }

    /// Starts a server on the runtime of `rt` (for example a test's own runtime).
    pub fn start_on(hub: Hub, config: ServerConfig, rt: &Handle) -> Result<ServerHandle> {
        let state = Arc::new(State::new(hub, config)?);
        let tls = state.config.tls.as_ref().map(tls::acceptor).transpose()?;
        let listener = {
            let _guard = rt.enter();
            listen::bind(&state.config.host, state.config.port)?
        };
        let addr = listener.local_addr()?;
        state.tracker.spawn_on(
            listen::accept_loop(state.clone(), listener, tls.clone()),
            rt,
        );
        Ok(ServerHandle {
            state,
            addr,
            rt: rt.clone(),
            tls: tls.is_some(),
        })
    }
}

/// Counters of a running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStats {
    /// Open streaming connections (WebSocket + SSE).
    pub connections: usize,
    /// Completed write calls on accepted sockets (shared with other servers on the same metrics).
    pub socket_writes: u64,
    /// Messages written to WebSocket clients.
    pub ws_frames: u64,
    /// Events written to SSE clients.
    pub sse_frames: u64,
}

/// A running server. Dropping it starts a shutdown without waiting for it.
pub struct ServerHandle {
    state: Arc<State>,
    addr: SocketAddr,
    rt: Handle,
    tls: bool,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

async fn stop(state: &State) -> Result<()> {
    state.cancel.cancel();
    state.tracker.close();
    let limit = state.config.close_timeout + SHUTDOWN_SLACK;
    let waited = tokio::time::timeout(limit, state.tracker.wait()).await;
    let flushed = state.ingest.flush();
    waited.map_err(|_| Error::Timeout(limit))?;
    flushed
}

impl ServerHandle {
    /// The bound address (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://host:port` (`https` with TLS).
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// `ws://host:port` (`wss` with TLS); append `/ws` or `/dashboard/{id}`.
    pub fn ws_url(&self) -> String {
        format!("{}://{}", if self.tls { "wss" } else { "ws" }, self.addr)
    }

    /// The hub this server feeds from.
    pub fn hub(&self) -> &Hub {
        &self.state.hub
    }

    /// The metrics this server records into.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.state.metrics.clone()
    }

    /// Current counters.
    pub fn stats(&self) -> ServerStats {
        let m = &self.state.metrics;
        ServerStats {
            connections: self.state.streams(),
            socket_writes: m.socket_writes().get(),
            ws_frames: m.ws_frames().get(),
            sse_frames: m.sse_frames().get(),
        }
    }

    /// Whether a shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.state.cancel.is_cancelled()
    }

    /// Graceful shutdown: stops accepting (the listener closes), closes every WebSocket with 1001, ends
    /// every SSE stream, finishes in-flight HTTP responses, flushes the ingest sink, and returns once
    /// every task has ended (`timeout` error after `close_timeout` + 1 s).
    pub async fn shutdown(self) -> Result<()> {
        stop(&self.state).await
    }

    /// [`shutdown`](Self::shutdown) for synchronous callers (the bindings, with their interpreter lock
    /// released): waits at most `timeout`. Must not be called on a runtime thread (`invalid_input`).
    /// Calling it again after a shutdown returns at once.
    pub fn shutdown_blocking(&self, timeout: Duration) -> Result<()> {
        if Handle::try_current().is_ok() {
            return Err(Error::invalid(
                "shutdown_blocking cannot run on a runtime thread; await shutdown() instead",
            ));
        }
        let state = self.state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        self.rt.spawn(async move {
            let _ = tx.send(stop(&state).await);
        });
        match rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout)),
            // The runtime dropped the task: it is shutting down, and so is the server.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.state.cancel.cancel();
        self.state.tracker.close();
    }
}
