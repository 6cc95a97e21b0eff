//! Graceful shutdown: every WebSocket gets 1001, SSE streams end, the listener stops, in-flight work
//! finishes, and both `shutdown().await` and `shutdown_blocking` return; dropping the handle also shuts
//! the server down.

mod server_support;

use bytes::Bytes;
use dashfeed::server::{Server, ServerConfig};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use server_support::*;
use std::time::Duration;
use tokio::net::TcpStream;

#[tokio::test]
async fn shutdown_closes_websockets_with_1001_ends_sse_and_stops_listening() {
    let hub = hub();
    let server = start(&hub, ServerConfig::ephemeral());
    let addr = server.local_addr();
    let mut a = connect(&server, "/ws").await;
    subscribe(&mut a, "ops").await;
    let mut b = try_connect(&server, "/dashboard/ops?format=msgpack", &[], &[])
        .await
        .unwrap();
    recv(&mut b).await;

    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .uri("/sse/ops")
        .header("host", "x")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let mut sse = within(send.send_request(req)).await.unwrap().into_body();
    let first = within(sse.frame()).await.unwrap().unwrap();
    assert!(first.into_data().unwrap().starts_with(b"id: "));
    wait_for(|| server.stats().connections == 3).await;

    let stopping = tokio::spawn(server.shutdown());
    let (fa, fb) = tokio::join!(recv_close(&mut a), recv_close(&mut b));
    assert_eq!(
        (code(&fa), fa.reason.as_str()),
        (1001, "server shutting down")
    );
    assert_eq!(code(&fb), 1001);
    let end = within(async {
        loop {
            match sse.frame().await {
                None => return true,
                Some(Err(_)) => return false,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(end, "the SSE body ends cleanly");
    within(stopping).await.unwrap().unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn shutdown_finishes_quickly_without_clients_and_is_idempotent_when_blocking() {
    let hub = hub();
    let server = Server::start(hub, ServerConfig::ephemeral()).unwrap();
    let addr = server.local_addr();
    assert_eq!(get(&server, "/healthz").await.status, 200);
    let err = server
        .shutdown_blocking(Duration::from_secs(5))
        .unwrap_err();
    assert_eq!(
        err.code(),
        "invalid_input",
        "blocking on a runtime thread is refused"
    );
    let handle = std::thread::spawn(move || {
        server.shutdown_blocking(Duration::from_secs(10)).unwrap();
        server.shutdown_blocking(Duration::from_secs(10)).unwrap();
        server.is_shutting_down()
    });
    let stopped = within(tokio::task::spawn_blocking(move || handle.join().unwrap()))
        .await
        .unwrap();
    assert!(stopped);
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn dropping_the_handle_shuts_the_server_down() {
    let hub = hub();
    let server = start(&hub, ServerConfig::ephemeral());
    let mut ws = connect(&server, "/ws").await;
    subscribe(&mut ws, "ops").await;
    drop(server);
    assert_eq!(code(&recv_close(&mut ws).await), 1001);
    let hub2 = hub.clone();
    let again = start(&hub2, ServerConfig::ephemeral());
    assert_eq!(
        get(&again, "/healthz").await.status,
        200,
        "the hub outlives its server"
    );
    again.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_that_never_answers_does_not_hold_shutdown_back() {
    let hub = hub();
    let config = ServerConfig {
        close_timeout: Duration::from_millis(500),
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    // A client that never answers the close frame: shutdown still returns after close_timeout.
    let mut stubborn = connect(&server, "/ws").await;
    subscribe(&mut stubborn, "ops").await;
    let started = std::time::Instant::now();
    within(server.shutdown()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(stubborn);
}
