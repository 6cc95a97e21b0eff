//! TLS with rustls: a self-signed certificate made here (rcgen), a WSS client and an HTTPS request that
//! trust it, a plain-TCP client that fails without hurting the server, and bad certificate files.

mod server_support;

use bytes::Bytes;
use dashfeed::server::{Server, ServerConfig, TlsConfig};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use server_support::*;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::TlsConnector;

struct Pair {
    dir: PathBuf,
    tls: TlsConfig,
    connector: TlsConnector,
}

fn pair(tag: &str) -> Pair {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("dashfeed-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tls = TlsConfig {
        cert_pem_path: dir.join("cert.pem"),
        key_pem_path: dir.join("key.pem"),
    };
    std::fs::write(&tls.cert_pem_path, ck.cert.pem()).unwrap();
    std::fs::write(&tls.key_pem_path, ck.signing_key.serialize_pem()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Pair {
        dir,
        tls,
        connector: TlsConnector::from(Arc::new(config)),
    }
}

async fn tls_stream(
    p: &Pair,
    addr: std::net::SocketAddr,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    within(p.connector.connect(name, tcp)).await.unwrap()
}

#[tokio::test]
async fn wss_and_https_with_a_self_signed_certificate() {
    let p = pair("ok");
    let hub = hub();
    let config = ServerConfig {
        tls: Some(p.tls.clone()),
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    assert!(server.url().starts_with("https://"));
    assert!(server.ws_url().starts_with("wss://"));
    let addr = server.local_addr();

    let stream = tls_stream(&p, addr).await;
    let url = format!("wss://localhost:{}/ws", addr.port());
    let (mut ws, _) = within(tokio_tungstenite::client_async(url, stream))
        .await
        .unwrap();
    use futures_util::{SinkExt, StreamExt};
    let sub = serde_json::json!({"op": "subscribe", "dashboard": "ops"}).to_string();
    within(ws.send(tokio_tungstenite::tungstenite::Message::Text(sub.into())))
        .await
        .unwrap();
    let first = within(ws.next()).await.unwrap().unwrap();
    let snap: serde_json::Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(snap["type"], "snapshot");
    hub.publish("ops", data(&[("cpu", 0.9)])).unwrap();
    let up = within(ws.next()).await.unwrap().unwrap();
    let up: serde_json::Value = serde_json::from_str(up.to_text().unwrap()).unwrap();
    assert_eq!(up["data"]["cpu"], 0.9);

    // A client speaking plain HTTP to the TLS port gets nowhere; the server carries on.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = within(plain.read_to_end(&mut buf)).await;
    assert!(!buf.starts_with(b"HTTP/1.1 200"));

    let stream = tls_stream(&p, addr).await;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .uri("/healthz")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = within(send.send_request(req)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], br#"{"status":"ok"}"#);

    drop(ws);
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(&p.dir).unwrap();
}

#[test]
fn bad_certificate_files_are_invalid_input() {
    let p = pair("bad");
    let hub = hub();
    let missing = TlsConfig {
        cert_pem_path: p.dir.join("nope.pem"),
        key_pem_path: p.tls.key_pem_path.clone(),
    };
    std::fs::write(p.dir.join("junk.pem"), "not a pem").unwrap();
    let junk = TlsConfig {
        cert_pem_path: p.dir.join("junk.pem"),
        key_pem_path: p.tls.key_pem_path.clone(),
    };
    let other = pair("other");
    let mismatched = TlsConfig {
        cert_pem_path: p.tls.cert_pem_path.clone(),
        key_pem_path: other.tls.key_pem_path.clone(),
    };
    for tls in [missing, junk, mismatched] {
        let config = ServerConfig {
            tls: Some(tls),
            ..ServerConfig::ephemeral()
        };
        let err = Server::start(hub.clone(), config).unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{err}");
    }
    std::fs::remove_dir_all(&p.dir).unwrap();
    std::fs::remove_dir_all(&other.dir).unwrap();
}
