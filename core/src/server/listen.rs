//! The listener: binding (with a deep backlog), the accept loop (socket cap, `TCP_NODELAY`, the
//! counting wrapper, TLS), and serving each connection with hyper's HTTP/1 server and its limits
//! (header count and size, header read timeout). Every task is tracked; on shutdown the loop stops
//! accepting, drops the listener, and each HTTP connection is shut down gracefully within
//! `close_timeout`.

use super::io::CountingIo;
use super::router;
use super::state::State;
use crate::error::{Error, Result};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket};
use tokio_rustls::TlsAcceptor;

/// Pending connections the kernel queues before `accept`.
const BACKLOG: u32 = 1024;
/// Pause after an accept error (for example no file descriptor left) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);
/// hyper's default header count; other values make it allocate the header array per request.
const HYPER_DEFAULT_HEADERS: usize = 100;

/// Binds `host:port` (needs a runtime context).
pub(crate) fn bind(host: &str, port: u16) -> Result<TcpListener> {
    let cannot = |e: std::io::Error| Error::Io(format!("cannot bind {host}:{port}: {e}"));
    let addr: SocketAddr = (host, port)
        .to_socket_addrs()
        .map_err(cannot)?
        .next()
        .ok_or_else(|| Error::invalid(format!("host {host:?} resolves to no address")))?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(cannot)?;
    socket.set_reuseaddr(true).map_err(cannot)?;
    socket.bind(addr).map_err(cannot)?;
    socket.listen(BACKLOG).map_err(cannot)
}

/// Accepts connections until shutdown.
pub(crate) async fn accept_loop(
    state: Arc<State>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
) {
    loop {
        let accepted = tokio::select! {
            _ = state.cancel.cancelled() => break,
            r = listener.accept() => r,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            Err(_) => {
                tokio::select! {
                    _ = state.cancel.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let Some(slot) = state.try_socket() else {
            state.metrics.reject("too_many_connections");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let io = CountingIo::new(tcp, state.metrics.socket_writes().clone());
        let st = state.clone();
        let tls = tls.clone();
        state.tracker.spawn(async move {
            match tls {
                None => serve(st, io).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(st.config.header_read_timeout, acceptor.accept(io));
                    let stream = tokio::select! {
                        _ = st.cancel.cancelled() => None,
                        r = handshake => r.ok().and_then(|r| r.ok()),
                    };
                    if let Some(stream) = stream {
                        serve(st, stream).await;
                    }
                }
            }
            drop(slot);
        });
    }
}

/// Serves HTTP/1 (with upgrades) on one connection.
async fn serve<I>(state: Arc<State>, io: I)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let cfg = &state.config;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .max_header_size(cfg.max_header_bytes)
        .keep_alive(true);
    if cfg.max_headers != HYPER_DEFAULT_HEADERS {
        builder.max_headers(cfg.max_headers);
    }
    let st = state.clone();
    let service = service_fn(move |req| router::route(st.clone(), req));
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = state.cancel.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(state.config.close_timeout, conn).await;
}
