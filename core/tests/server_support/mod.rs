//! Helpers shared by the `server_*` integration tests: starting a server, WebSocket clients (JSON and
//! MessagePack), a small HTTP/1.1 client on hyper, raw sockets, JWTs, and bounded waits.
#![allow(dead_code)]

use bytes::Bytes;
use dashfeed::codec::{Codec, Format, Value};
use dashfeed::hub::{Hub, HubConfig};
use dashfeed::server::{Server, ServerConfig, ServerHandle};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Bound on every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// A WebSocket client.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Runs `f` within [`WAIT`], failing the test otherwise.
pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(WAIT, f).await.expect("timed out")
}

/// A hub with the defaults.
pub fn hub() -> Hub {
    Hub::new(HubConfig::default()).unwrap()
}

/// A server on a free port, on the shared runtime.
pub fn start(hub: &Hub, config: ServerConfig) -> ServerHandle {
    Server::start(hub.clone(), config).unwrap()
}

/// `{metric: value, ...}`.
pub fn data(pairs: &[(&str, f64)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (Value::Str((*k).into()), Value::Float(*v)))
            .collect(),
    )
}

/// Connects to `path` (for example `/ws`) offering `protocols`, with extra request `headers`.
pub async fn try_connect(
    server: &ServerHandle,
    path: &str,
    protocols: &[&str],
    headers: &[(&str, &str)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("{}{}", server.ws_url(), path)
        .into_client_request()
        .unwrap();
    if !protocols.is_empty() {
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&protocols.join(", ")).unwrap(),
        );
    }
    for (k, v) in headers {
        req.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    within(tokio_tungstenite::connect_async(req))
        .await
        .map(|(ws, _)| ws)
}

/// Connects with the JSON subprotocol.
pub async fn connect(server: &ServerHandle, path: &str) -> Ws {
    try_connect(server, path, &["dashfeed.v1.json"], &[])
        .await
        .unwrap()
}

/// The HTTP status of a refused upgrade.
pub fn refused_status(r: Result<Ws, tokio_tungstenite::tungstenite::Error>) -> u16 {
    match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected an HTTP refusal, the upgrade succeeded"),
    }
}

/// Sends a JSON text message.
pub async fn send_json(ws: &mut Ws, v: serde_json::Value) {
    within(ws.send(Message::Text(v.to_string().into())))
        .await
        .unwrap();
}

/// The next data message (pings skipped), decoded from JSON (text) or MessagePack / gzip (binary).
pub async fn recv(ws: &mut Ws) -> serde_json::Value {
    loop {
        let msg = within(ws.next())
            .await
            .expect("stream ended")
            .expect("read error");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Binary(b) => return decode_binary(&b),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a data message, got {other:?}"),
        }
    }
}

/// Decodes a binary frame: gzip is inflated, then JSON if it parses as JSON, else MessagePack.
pub fn decode_binary(b: &[u8]) -> serde_json::Value {
    let plain = if dashfeed::codec::is_gzip(b) {
        dashfeed::codec::decompress(b, 64 << 20).unwrap()
    } else {
        b.to_vec()
    };
    if let Ok(v) = serde_json::from_slice(&plain) {
        return v;
    }
    let v = Codec::new(Format::MsgPack).decode(&plain).unwrap();
    let json = Codec::new(Format::Json).encode_plain(&v).unwrap();
    serde_json::from_slice(&json).unwrap()
}

/// Reads until the server's close frame and returns it (data messages before it are skipped), then
/// completes the closing handshake (the reply is flushed while reading to the end).
pub async fn recv_close(ws: &mut Ws) -> CloseFrame {
    loop {
        match within(ws.next()).await {
            Some(Ok(Message::Close(Some(f)))) => {
                while let Some(Ok(_)) = within(ws.next()).await {}
                return f;
            }
            Some(Ok(Message::Close(None))) => panic!("close without a code"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("read error before the close frame: {e}"),
            None => panic!("stream ended without a close frame"),
        }
    }
}

/// Close code of a close frame.
pub fn code(f: &CloseFrame) -> u16 {
    u16::from(f.code)
}

/// Subscribes and returns the first message (the snapshot).
pub async fn subscribe(ws: &mut Ws, dashboard: &str) -> serde_json::Value {
    send_json(
        ws,
        serde_json::json!({"op": "subscribe", "dashboard": dashboard}),
    )
    .await;
    recv(ws).await
}

/// Checks that the connection still answers a ping.
pub async fn assert_alive(ws: &mut Ws) {
    send_json(ws, serde_json::json!({"op": "ping", "id": 99})).await;
    loop {
        let m = recv(ws).await;
        if m["type"] == "pong" {
            assert_eq!(m["id"], 99);
            return;
        }
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one HTTP/1.1 request on a fresh connection.
pub async fn http(
    server: &ServerHandle,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    within(async {
        let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", server.local_addr().to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
        let resp = send.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    })
    .await
}

/// `GET path`.
pub async fn get(server: &ServerHandle, path: &str) -> Reply {
    http(server, "GET", path, &[], b"").await
}

/// Polls `cond` until it holds (within [`WAIT`]).
pub async fn wait_for(mut cond: impl FnMut() -> bool) {
    within(async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An HS256 token with `claims`.
pub fn hs256(secret: &str, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}
