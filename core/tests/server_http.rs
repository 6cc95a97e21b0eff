//! The HTTP side: SSE (events, ids, resume with Last-Event-ID, keep-alive), the snapshot API (JSON,
//! MessagePack, gzip, 404), ingest (JSON, MessagePack, dedupe, validation, custom sink), /metrics,
//! /healthz and static files (no traversal).

mod server_support;

use bytes::Bytes;
use dashfeed::codec::{Codec, Format, Value};
use dashfeed::event::Event;
use dashfeed::hub::{Hub, HubConfig};
use dashfeed::metrics::HealthFlag;
use dashfeed::server::{Ingest, ServerConfig, ServerHandle};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::json;
use server_support::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;

/// One SSE event (or a comment when `event` is empty).
#[derive(Debug)]
struct SseEvent {
    id: Option<String>,
    event: String,
    data: serde_json::Value,
}

/// An open SSE response.
struct Sse {
    body: hyper::body::Incoming,
    buf: String,
    _send: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

async fn sse_open(server: &ServerHandle, path: &str, headers: &[(&str, &str)]) -> (u16, Sse) {
    within(async {
        let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut req = hyper::Request::builder().uri(path).header("host", "x");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = send
            .send_request(req.body(Empty::new()).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert!(status != 200 || resp.headers()["content-type"] == "text/event-stream");
        (
            status,
            Sse {
                body: resp.into_body(),
                buf: String::new(),
                _send: send,
            },
        )
    })
    .await
}

impl Sse {
    /// The next event or comment; `None` when the stream ends.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = SseEvent {
                    id: None,
                    event: String::new(),
                    data: serde_json::Value::Null,
                };
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        ev.id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        ev.event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        ev.data = serde_json::from_str(v).unwrap();
                    } else if line.starts_with(':') {
                        ev.event = "comment".into();
                    }
                }
                return Some(ev);
            }
            let frame = within(self.body.frame()).await?.unwrap();
            if let Ok(data) = frame.into_data() {
                self.buf.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    }

    /// The next event that is not a keep-alive comment.
    async fn event(&mut self) -> SseEvent {
        loop {
            let ev = self.next().await.expect("stream ended");
            if ev.event != "comment" {
                return ev;
            }
        }
    }
}

#[tokio::test]
async fn sse_streams_events_with_ids_and_resumes_from_last_event_id() {
    let hub = hub();
    hub.publish("ops", data(&[("cpu", 0.4)])).unwrap();
    let server = start(&hub, ServerConfig::ephemeral());
    let (status, mut sse) = sse_open(&server, "/sse/ops", &[]).await;
    assert_eq!(status, 200);
    let snap = sse.event().await;
    assert_eq!(snap.event, "snapshot");
    let epoch = snap.data["epoch"].as_str().unwrap().to_owned();
    assert_eq!(snap.id, Some(format!("{epoch}:1")));
    assert_eq!(snap.data["data"], json!({"cpu": 0.4}));
    hub.publish("ops", data(&[("cpu", 0.5)])).unwrap();
    hub.publish("ops", data(&[("mem", 0.7)])).unwrap();
    let up = sse.event().await;
    assert_eq!(
        (up.event.as_str(), up.id.clone()),
        ("update", Some(format!("{epoch}:2")))
    );
    assert_eq!(sse.event().await.data["seq"], 3);
    assert_eq!(server.metrics().active("ops"), 1);

    let last = format!("{epoch}:1");
    let (_, mut resumed) = sse_open(&server, "/sse/ops", &[("last-event-id", &last)]).await;
    let rec = resumed.event().await;
    assert_eq!((rec.event.as_str(), rec.id.clone()), ("recovered", None));
    assert_eq!(rec.data["missed"], 2);
    assert_eq!(resumed.event().await.id, Some(format!("{epoch}:2")));
    assert_eq!(resumed.event().await.id, Some(format!("{epoch}:3")));
    let (_, mut by_query) = sse_open(&server, &format!("/sse/ops?epoch={epoch}&seq=3"), &[]).await;
    assert_eq!(by_query.event().await.data["missed"], 0);
    assert!(server.stats().sse_frames >= 7);
    drop((sse, resumed, by_query));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn sse_sends_keep_alive_comments_and_inflates_gzip() {
    let hub = Hub::new(HubConfig {
        compress_over: Some(32),
        ..HubConfig::default()
    })
    .unwrap();
    let config = ServerConfig {
        ping_interval: Duration::from_millis(50),
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let (_, mut sse) = sse_open(&server, "/sse/ops", &[]).await;
    assert_eq!(sse.event().await.event, "snapshot");
    assert_eq!(sse.next().await.unwrap().event, "comment");
    let pairs: Vec<(String, f64)> = (0..20).map(|i| (format!("m{i}"), 0.5)).collect();
    let pairs: Vec<(&str, f64)> = pairs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    hub.publish("ops", data(&pairs)).unwrap();
    let up = sse.event().await;
    assert_eq!(up.data["data"]["m19"], 0.5, "gzipped JSON is sent inflated");
    drop(sse);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn snapshot_api_in_json_msgpack_and_gzip() {
    let hub = Hub::new(HubConfig {
        compress_over: Some(200),
        ..HubConfig::default()
    })
    .unwrap();
    hub.publish("ops", data(&[("cpu", 0.4), ("mem", 0.61)]))
        .unwrap();
    let server = start(&hub, ServerConfig::ephemeral());
    let r = get(&server, "/api/dashboards/ops").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/json");
    let snap = r.json();
    assert_eq!(
        (snap["type"].clone(), snap["seq"].clone()),
        (json!("snapshot"), json!(1))
    );
    assert_eq!(snap["data"], json!({"cpu": 0.4, "mem": 0.61}));

    let r = get(&server, "/api/dashboards/ops?format=msgpack").await;
    assert_eq!(r.headers["content-type"], "application/msgpack");
    let v = Codec::new(Format::MsgPack).decode(&r.body).unwrap();
    assert_eq!(v.get("seq"), Some(&Value::Int(1)));

    let big: Vec<(String, f64)> = (0..30).map(|i| (format!("metric_{i}"), 1.5)).collect();
    let big: Vec<(&str, f64)> = big.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    hub.publish("big", data(&big)).unwrap();
    let gz = http(
        &server,
        "GET",
        "/api/dashboards/big",
        &[("accept-encoding", "gzip")],
        b"",
    )
    .await;
    assert_eq!(gz.headers["content-encoding"], "gzip");
    assert!(dashfeed::codec::is_gzip(&gz.body));
    let plain = get(&server, "/api/dashboards/big").await;
    assert!(!plain.headers.contains_key("content-encoding"));
    assert_eq!(plain.json()["data"]["metric_29"], 1.5);

    let r = get(&server, "/api/dashboards/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"type": "error", "code": "not_found", "message": "unknown dashboard \"nope\""})
    );
    let long = "x".repeat(300);
    assert_eq!(
        get(&server, &format!("/api/dashboards/{long}"))
            .await
            .status,
        400
    );
    assert_eq!(get(&server, "/api/nothing").await.status, 404);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn ingest_publishes_dedupes_and_validates() {
    let hub = hub();
    let server = start(&hub, ServerConfig::ephemeral());
    let mut ws = connect(&server, "/ws").await;
    subscribe(&mut ws, "ops").await;
    let ct = [("content-type", "application/json")];
    let one = br#"{"dashboard":"ops","metric":"cpu","value":0.42}"#;
    let r = http(&server, "POST", "/api/events", &ct, one).await;
    assert_eq!(
        (r.status, r.json()),
        (
            202,
            json!({"received": 1, "accepted": 1, "rate_limited": 0})
        )
    );
    let up = recv(&mut ws).await;
    assert_eq!(
        (up["type"].clone(), up["data"].clone()),
        (json!("update"), json!({"cpu": 0.42}))
    );

    let batch = Value::Array(
        ["e1", "e2", "e1"]
            .iter()
            .map(|id| {
                Value::Map(vec![
                    ("dashboard".into(), "ops".into()),
                    ("metric".into(), "mem".into()),
                    ("value".into(), Value::Float(0.5)),
                    ("id".into(), (*id).into()),
                    ("ts".into(), Value::Int(1_700_000_000_000)),
                ])
            })
            .collect(),
    );
    let mp = Codec::new(Format::MsgPack).encode(&batch).unwrap();
    let r = http(
        &server,
        "POST",
        "/api/events",
        &[("content-type", "application/msgpack")],
        &mp,
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"received": 3, "accepted": 2, "rate_limited": 0})
    );
    assert_eq!(hub.stats().dedupe_dropped, 1);
    assert_eq!(
        server.metrics().processed("ops"),
        3,
        "publications: 1 + 2 (a duplicate dropped)"
    );

    let bad =
        br#"[{"dashboard":"ops","metric":"cpu","value":1},{"dashboard":"ops","metric":"cpu"}]"#;
    let r = http(&server, "POST", "/api/events", &ct, bad).await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (400, json!("invalid_input"))
    );
    assert!(r.json()["message"].as_str().unwrap().contains("event 1"));
    let r = http(&server, "POST", "/api/events", &ct, b"{oops").await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (400, json!("decode_error"))
    );
    assert_eq!(
        hub.topic_stats("ops").unwrap().seq,
        3,
        "refused bodies ingest nothing"
    );
    let r = get(&server, "/api/events").await;
    assert_eq!(
        (r.status, r.headers["allow"].to_str().unwrap()),
        (405, "POST")
    );
    drop(ws);
    server.shutdown().await.unwrap();
}

#[derive(Default)]
struct Collect {
    events: Mutex<Vec<Event>>,
    flushed: Mutex<bool>,
}

impl Ingest for Collect {
    fn ingest(&self, events: Vec<Event>) -> dashfeed::Result<usize> {
        let n = events.len();
        self.events.lock().unwrap().extend(events);
        Ok(n)
    }

    fn flush(&self) -> dashfeed::Result<()> {
        *self.flushed.lock().unwrap() = true;
        Ok(())
    }
}

#[tokio::test]
async fn a_custom_ingest_sink_gets_validated_events_and_is_flushed_at_shutdown() {
    let hub = hub();
    let sink = Arc::new(Collect::default());
    let config = ServerConfig {
        ingest: Some(sink.clone()),
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let body = br#"{"dashboard":"ops","metric":"lat","value":12,"ts":5,"tags":{"region":"eu","host":"a"}}"#;
    let r = http(&server, "POST", "/api/events", &[], body).await;
    assert_eq!(r.status, 202);
    let ev = sink.events.lock().unwrap()[0].clone();
    assert_eq!((ev.value, ev.ts_ms), (12.0, 5));
    assert_eq!(
        ev.tags,
        vec![("host".into(), "a".into()), ("region".into(), "eu".into())]
    );
    assert!(
        hub.snapshot("ops").unwrap().is_none(),
        "the custom sink replaces the hub publish"
    );
    server.shutdown().await.unwrap();
    assert!(*sink.flushed.lock().unwrap());
}

#[tokio::test]
async fn metrics_expose_every_series() {
    let hub = hub();
    let server = start(&hub, ServerConfig::ephemeral());
    let breaker = Arc::new(dashfeed::breaker::CircuitBreaker::new(Default::default()).unwrap());
    server.metrics().register_breaker("redis", breaker);
    let mut ws = connect(&server, "/ws").await;
    subscribe(&mut ws, "ops").await;
    let body = br#"{"dashboard":"ops","metric":"cpu","value":0.5}"#;
    http(&server, "POST", "/api/events", &[], body).await;
    recv(&mut ws).await;
    let r = try_connect(&server, "/ws", &[], &[("sec-websocket-version", "8")]).await;
    assert_eq!(refused_status(r), 426);

    let r = get(&server, "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text();
    for needle in [
        "dashboard_messages_processed_total{dashboard_id=\"ops\"} 1",
        "dashboard_processing_seconds_count 1",
        "dashboard_processing_seconds_bucket{le=",
        "dashboard_active_connections{dashboard_id=\"ops\"} 1",
        "dashfeed_connections{transport=\"ws\"} 1",
        "dashfeed_connections{transport=\"sse\"} 0",
        "dashfeed_frames_sent_total{transport=\"ws\"} 2",
        "dashfeed_rejections_total{reason=\"bad_request\"} 1",
        "dashfeed_rejections_total{reason=\"unauthorized\"} 0",
        "dashfeed_socket_writes_total ",
        "dashfeed_hub_publications_total 1",
        "dashfeed_hub_deliveries_total ",
        "dashfeed_hub_dropped_total{policy=\"conflate\"} 0",
        "dashfeed_hub_subscribers 1",
        "dashfeed_breaker_state{name=\"redis\",state=\"closed\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let om = http(
        &server,
        "GET",
        "/metrics",
        &[("accept", "application/openmetrics-text")],
        b"",
    )
    .await;
    assert!(om.text().ends_with("# EOF\n"));
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn healthz_follows_registered_links() {
    let hub = hub();
    let link = Arc::new(HealthFlag::new("redis"));
    let config = ServerConfig {
        health: vec![link.clone()],
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let r = get(&server, "/healthz").await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"status": "ok", "checks": {"redis": "up"}}))
    );
    link.set_down("connection refused");
    let r = get(&server, "/healthz").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["status"], "down");
    assert!(r.json()["checks"]["redis"]
        .as_str()
        .unwrap()
        .contains("connection refused"));
    assert!(get(&server, "/metrics")
        .await
        .text()
        .contains("dashfeed_link_up{name=\"redis\"} 0"));
    link.set_up();
    assert_eq!(get(&server, "/healthz").await.status, 200);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn static_files_are_served_without_traversal() {
    let base = std::env::temp_dir().join(format!("dashfeed-static-{}", std::process::id()));
    let site = base.join("site");
    std::fs::create_dir_all(site.join("js")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>demo</h1>").unwrap();
    std::fs::write(site.join("js/app.js"), "console.log(1)").unwrap();
    std::fs::write(base.join("secret.txt"), "top secret").unwrap();
    let _ = std::fs::remove_file(site.join("link.txt"));
    std::os::unix::fs::symlink(base.join("secret.txt"), site.join("link.txt")).unwrap();
    let hub = hub();
    let config = ServerConfig {
        static_dir: Some(site.clone()),
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let r = get(&server, "/").await;
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>demo</h1>"));
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let r = get(&server, "/js/app.js").await;
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    for path in [
        "/../secret.txt",
        "/js/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/link.txt",
        "/missing.html",
        "/js",
    ] {
        let r = get(&server, path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text().contains("top secret"));
    }
    assert_eq!(
        http(&server, "DELETE", "/index.html", &[], b"")
            .await
            .status,
        405
    );
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(&base).unwrap();
}
