//! Every limit crossed on purpose, each followed by a check that the server and the other clients are
//! fine: connection cap (503), frame and message size (1009), header count and size (431), protocol
//! violations (1002, 1007), malformed-message floods (1008), slow consumers (4008), per-connection
//! message rate (error, then 4029), idle clients (4408), ingest rate (429) and body size (413).

mod server_support;

use dashfeed::codec::Value;
use dashfeed::hub::Policy;
use dashfeed::limit::LimiterConfig;
use dashfeed::server::ServerConfig;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use server_support::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket opened by hand on a raw socket (to send frames a client library refuses to send).
async fn raw_ws(server: &dashfeed::server::ServerHandle) -> TcpStream {
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        within(s.read_exact(&mut b)).await.unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// A masked client frame (FIN set) with a short payload.
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads server frames until a close frame and returns its code.
async fn raw_close_code(s: &mut TcpStream) -> u16 {
    within(async {
        loop {
            let mut h = [0u8; 2];
            s.read_exact(&mut h).await.unwrap();
            let len = match h[1] & 0x7f {
                126 => {
                    let mut l = [0u8; 2];
                    s.read_exact(&mut l).await.unwrap();
                    u16::from_be_bytes(l) as usize
                }
                127 => {
                    let mut l = [0u8; 8];
                    s.read_exact(&mut l).await.unwrap();
                    u64::from_be_bytes(l) as usize
                }
                n => n as usize,
            };
            let mut payload = vec![0u8; len];
            s.read_exact(&mut payload).await.unwrap();
            if h[0] & 0x0f == 0x8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    })
    .await
}

#[tokio::test]
async fn connection_cap_refuses_with_503() {
    let hub = hub();
    let config = ServerConfig {
        max_connections: 2,
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let mut a = connect(&server, "/ws").await;
    let b = connect(&server, "/dashboard/ops").await;
    let r = try_connect(&server, "/ws", &[], &[]).await;
    assert_eq!(refused_status(r), 503);
    assert_eq!(get(&server, "/sse/ops").await.status, 503);
    assert_eq!(
        get(&server, "/healthz").await.status,
        200,
        "plain HTTP is not capped"
    );
    drop(b);
    wait_for(|| server.stats().connections < 2).await;
    let mut c = connect(&server, "/ws").await;
    assert_alive(&mut a).await;
    assert_alive(&mut c).await;
    assert!(server.metrics().rejections("too_many_connections") >= 2);
    drop((a, c));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversized_frames_and_messages_close_with_1009() {
    let hub = hub();
    let config = ServerConfig {
        max_message_bytes: 1024,
        max_frame_bytes: 4096,
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let mut other = connect(&server, "/ws").await;
    subscribe(&mut other, "ops").await;
    for size in [2000, 5000] {
        let mut ws = connect(&server, "/ws").await;
        let big = format!(r#"{{"op":"ping","id":"{}"}}"#, "x".repeat(size));
        within(ws.send(Message::Text(big.into()))).await.unwrap();
        let f = recv_close(&mut ws).await;
        assert_eq!(code(&f), 1009, "{size} bytes");
    }
    assert_eq!(server.metrics().rejections("too_big"), 2);
    hub.publish("ops", data(&[("cpu", 0.1)])).unwrap();
    assert_eq!(recv(&mut other).await["data"]["cpu"], 0.1);
    drop(other);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn header_floods_get_431_quickly_and_the_server_lives() {
    let hub = hub();
    let server = start(&hub, ServerConfig::ephemeral());
    let addr = server.local_addr();
    let mut many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..2000 {
        many.extend_from_slice(format!("X-Flood-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let mut huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: ".to_vec();
    huge.resize(huge.len() + (20 << 20), b'a');
    huge.extend_from_slice(b"\r\n\r\n");
    for request in [many, huge] {
        let started = Instant::now();
        let s = TcpStream::connect(addr).await.unwrap();
        let (mut rd, mut wr) = s.into_split();
        let writer = tokio::spawn(async move {
            // The server stops reading early: write errors are expected.
            let _ = wr.write_all(&request).await;
            wr
        });
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match within(rd.read(&mut buf)).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&head);
        assert!(text.starts_with("HTTP/1.1 431"), "got {text:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        writer.abort();
    }
    assert_eq!(
        get(&server, "/healthz").await.json(),
        json!({"status": "ok"})
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn protocol_violations_close_with_1002_and_1007() {
    let hub = hub();
    let server = start(&hub, ServerConfig::ephemeral());
    let mut other = connect(&server, "/ws").await;

    let cases: [(Vec<u8>, u16, &str); 3] = [
        (
            vec![0x81, 0x05, b'h', b'e', b'l', b'l', b'o'],
            1002,
            "unmasked client frame",
        ),
        (
            masked(0x1, &[0xff, 0xfe, 0xfd]),
            1007,
            "text frame that is not UTF-8",
        ),
        (masked(0x3, b"x"), 1002, "reserved opcode"),
    ];
    for (frame, expected, what) in cases {
        let mut s = raw_ws(&server).await;
        s.write_all(&frame).await.unwrap();
        assert_eq!(raw_close_code(&mut s).await, expected, "{what}");
        // The server shut its side after the close frame.
        let mut rest = Vec::new();
        within(s.read_to_end(&mut rest)).await.unwrap();
    }

    // A well-formed masked frame on the same raw path works.
    let mut s = raw_ws(&server).await;
    s.write_all(&masked(0x1, br#"{"op":"ping","id":5}"#))
        .await
        .unwrap();
    let mut h = [0u8; 2];
    within(s.read_exact(&mut h)).await.unwrap();
    let mut body = vec![0u8; (h[1] & 0x7f) as usize];
    within(s.read_exact(&mut body)).await.unwrap();
    assert_eq!(body, br#"{"type":"pong","id":5}"#);
    drop(s);

    assert_eq!(server.metrics().rejections("protocol_error"), 2);
    assert_eq!(server.metrics().rejections("invalid_payload"), 1);
    assert_alive(&mut other).await;
    drop(other);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn repeated_malformed_messages_close_with_1008() {
    let hub = hub();
    let config = ServerConfig {
        max_invalid_messages: 3,
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let mut ws = connect(&server, "/ws").await;
    for _ in 0..2 {
        within(ws.send(Message::Text("nope".into()))).await.unwrap();
        assert_eq!(recv(&mut ws).await["code"], "decode_error");
    }
    // A valid message resets the count.
    assert_alive(&mut ws).await;
    // `max_invalid_messages` (3) malformed messages each get their error; the 4th closes.
    for _ in 0..3 {
        within(ws.send(Message::Text("nope".into()))).await.unwrap();
        assert_eq!(recv(&mut ws).await["code"], "decode_error");
    }
    within(ws.send(Message::Text("nope".into()))).await.unwrap();
    assert_eq!(code(&recv_close(&mut ws).await), 1008);
    let mut next = connect(&server, "/ws").await;
    assert_alive(&mut next).await;
    drop(next);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_slow_consumer_is_closed_with_4008_and_others_are_unaffected() {
    // No gzip: the 32 KiB messages must really fill the socket buffers.
    let hub = dashfeed::hub::Hub::new(dashfeed::hub::HubConfig {
        compress_over: None,
        ..Default::default()
    })
    .unwrap();
    let config = ServerConfig {
        policy: Some(Policy::Disconnect),
        queue_bytes: Some(256 << 10),
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let mut slow = connect(&server, "/ws").await;
    subscribe(&mut slow, "firehose").await;
    let mut calm = connect(&server, "/ws").await;
    subscribe(&mut calm, "calm").await;
    let blob = Value::Map(vec![("blob".into(), Value::Str("x".repeat(32 << 10)))]);
    // The slow client reads nothing: kernel buffers fill, then its hub queue, then it is disconnected.
    let mut published = 0;
    while hub.stats().disconnected == 0 {
        assert!(published < 20_000, "never disconnected");
        hub.publish("firehose", blob.clone()).unwrap();
        published += 1;
        if published % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let f = recv_close(&mut slow).await;
    assert_eq!((code(&f), f.reason.as_str()), (4008, "slow consumer"));
    assert_eq!(server.metrics().rejections("slow_consumer"), 1);
    hub.publish("calm", data(&[("ok", 1.5)])).unwrap();
    assert_eq!(recv(&mut calm).await["data"]["ok"], 1.5);
    drop(calm);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn message_rate_gives_errors_then_closes_with_4029() {
    let hub = hub();
    let config = ServerConfig {
        message_rate: LimiterConfig::new(0.001, 3),
        rate_limit_close_after: 4,
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let mut other = connect(&server, "/ws").await;
    let mut ws = connect(&server, "/ws").await;
    for i in 0..3 {
        send_json(&mut ws, json!({"op": "ping", "id": i})).await;
        assert_eq!(recv(&mut ws).await, json!({"type": "pong", "id": i}));
    }
    // `rate_limit_close_after` (4) over-rate messages each get a `rate_limited` error; the 5th closes.
    for _ in 0..4 {
        send_json(&mut ws, json!({"op": "ping"})).await;
        let e = recv(&mut ws).await;
        assert_eq!(e["code"], "rate_limited");
        assert!(e["retry_after_ms"].as_u64().unwrap() > 0);
    }
    send_json(&mut ws, json!({"op": "ping"})).await;
    assert_eq!(code(&recv_close(&mut ws).await), 4029);
    assert_alive(&mut other).await;
    drop(other);
    server.shutdown().await.unwrap();
}

/// Errors a flooding client gets before its connection is closed with `code`.
async fn errors_before_close(ws: &mut Ws, frame: Message, expect: &str, code_: u16) -> usize {
    let mut errors = 0;
    loop {
        assert!(errors <= 100, "never closed");
        within(ws.send(frame.clone())).await.unwrap();
        match within(ws.next()).await {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                assert_eq!(v["code"], expect, "{v}");
                errors += 1;
            }
            Some(Ok(Message::Close(Some(f)))) => {
                assert_eq!(u16::from(f.code), code_);
                return errors;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn with_the_default_settings_20_rate_errors_and_32_malformed_errors_come_before_the_close() {
    let hub = hub();
    let config = ServerConfig {
        message_rate: LimiterConfig::new(0.001, 1),
        ..ServerConfig::ephemeral()
    };
    assert_eq!(
        (config.rate_limit_close_after, config.max_invalid_messages),
        (20, 32)
    );
    let server = start(&hub, config);
    let mut ws = connect(&server, "/ws").await;
    send_json(&mut ws, json!({"op": "ping"})).await;
    assert_eq!(recv(&mut ws).await["type"], "pong");
    let ping = Message::Text(json!({"op": "ping"}).to_string().into());
    assert_eq!(
        errors_before_close(&mut ws, ping, "rate_limited", 4029).await,
        20
    );
    drop(ws);
    server.shutdown().await.unwrap();

    let server = start(&hub, ServerConfig::ephemeral());
    let mut ws = connect(&server, "/ws").await;
    let junk = Message::Text("nope".into());
    assert_eq!(
        errors_before_close(&mut ws, junk, "decode_error", 1008).await,
        32
    );
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn idle_clients_are_closed_with_4408_while_answering_clients_stay() {
    let hub = hub();
    let config = ServerConfig {
        ping_interval: Duration::from_millis(50),
        idle_timeout: Duration::from_millis(300),
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let mut silent = connect(&server, "/ws").await;
    let mut lively = connect(&server, "/ws").await;
    // Reading makes tungstenite answer the server's pings; watch for twice the idle timeout.
    let mut pings = 0;
    let watch = tokio::time::sleep(Duration::from_millis(600));
    tokio::pin!(watch);
    loop {
        tokio::select! {
            _ = &mut watch => break,
            m = lively.next() => match m {
                Some(Ok(Message::Ping(_))) => pings += 1,
                other => panic!("the answering client got {other:?}"),
            },
        }
    }
    assert!(pings >= 3, "{pings} pings");
    let f = recv_close(&mut silent).await;
    assert_eq!((code(&f), f.reason.as_str()), (4408, "idle timeout"));
    assert_alive(&mut lively).await;
    drop(lively);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn ingest_rate_and_body_size_limits() {
    let hub = hub();
    let config = ServerConfig {
        ingest_rate: LimiterConfig::new(0.001, 3),
        max_body_bytes: 1024,
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let batch: Vec<_> = (0..5)
        .map(|i| json!({"dashboard": "a", "metric": "m", "value": i}))
        .collect();
    let body = serde_json::to_vec(&batch).unwrap();
    let ct = [("content-type", "application/json")];
    let r = http(&server, "POST", "/api/events", &ct, &body).await;
    assert_eq!(r.status, 202);
    assert_eq!(
        r.json(),
        json!({"received": 5, "accepted": 3, "rate_limited": 2})
    );
    let r = http(&server, "POST", "/api/events", &ct, &body).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["code"], "rate_limited");
    assert!(r.headers.contains_key("retry-after"));
    let one = br#"{"dashboard":"b","metric":"m","value":1}"#;
    assert_eq!(
        http(&server, "POST", "/api/events", &ct, one).await.status,
        202
    );

    let big = format!(
        r#"{{"dashboard":"b","metric":"m","value":1,"pad":"{}"}}"#,
        "x".repeat(2000)
    );
    let r = http(&server, "POST", "/api/events", &ct, big.as_bytes()).await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (413, json!("too_large"))
    );
    assert_eq!(hub.topic_stats("a").unwrap().seq, 3);
    assert_eq!(get(&server, "/healthz").await.status, 200);
    server.shutdown().await.unwrap();
}
