//! `docs/protocol.md` is checked against the server: every line of a ` ```json client ` block must parse
//! as a client message (JSON and, converted, MessagePack), and every line of a ` ```json server ` block
//! must equal a message the server sends in a scripted session — field order included, with any
//! `epoch` matching any epoch, a doc string ending in `…` matching any string with that start, and
//! `retry_after_ms` matching any number.

mod server_support;

use dashfeed::codec::{Codec, Format};
use dashfeed::limit::LimiterConfig;
use dashfeed::server::{AuthConfig, ClientOp, ServerConfig};
use serde_json::{json, Value};
use server_support::*;
use std::path::PathBuf;

const SECRET: &str = "docs-secret";

/// Lines of every fenced block whose info string is `json <tag>`.
fn examples(tag: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let fence = format!("```json {tag}");
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let t = line.trim();
        if inside {
            if t.starts_with("```") {
                inside = false;
            } else if !t.is_empty() {
                out.push(t.to_owned());
            }
        } else if t == fence {
            inside = true;
        }
    }
    out
}

fn is_epoch(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `got` is what the documented `doc` describes (see the module docs).
fn matches(doc: &Value, got: &Value) -> bool {
    match (doc, got) {
        (Value::Object(d), Value::Object(g)) => {
            d.len() == g.len()
                && d.iter().zip(g.iter()).all(|((dk, dv), (gk, gv))| {
                    dk == gk
                        && match dk.as_str() {
                            "epoch" => is_epoch(dv) && is_epoch(gv),
                            "retry_after_ms" => dv.is_u64() && gv.is_u64(),
                            _ => matches(dv, gv),
                        }
                })
        }
        (Value::String(d), Value::String(g)) => match d.strip_suffix('…') {
            Some(prefix) => g.starts_with(prefix),
            None => d == g,
        },
        _ => doc == got,
    }
}

#[test]
fn client_examples_parse_in_json_and_msgpack() {
    let lines = examples("client");
    assert!(lines.len() >= 5, "client examples: {lines:?}");
    for line in lines {
        let op = ClientOp::parse(line.as_bytes(), Format::Json, 1 << 16)
            .unwrap_or_else(|r| panic!("{line}: {r:?}"));
        let value = Codec::new(Format::Json).decode(line.as_bytes()).unwrap();
        let mp = Codec::new(Format::MsgPack).encode(&value).unwrap();
        assert_eq!(ClientOp::parse(&mp, Format::MsgPack, 1 << 16), Ok(op));
    }
}

#[test]
fn the_matcher_is_strict() {
    let doc = json!({"type": "error", "code": "x", "message": "abc…"});
    assert!(matches(
        &doc,
        &json!({"type": "error", "code": "x", "message": "abcdef"})
    ));
    assert!(!matches(
        &doc,
        &json!({"code": "x", "type": "error", "message": "abcdef"})
    ));
    assert!(!matches(
        &doc,
        &json!({"type": "error", "code": "y", "message": "abcdef"})
    ));
    assert!(!matches(
        &doc,
        &json!({"type": "error", "code": "x", "message": "ab"})
    ));
    assert!(!matches(
        &json!({"epoch": "0123456789abcdef"}),
        &json!({"epoch": "zz"})
    ));
}

/// Runs a session that produces every documented server message and returns all it received.
async fn session() -> Vec<Value> {
    let hub = hub();
    hub.publish("ops", data(&[("cpu", 0.3)])).unwrap();
    hub.publish("ops", data(&[("cpu", 0.4), ("mem", 0.61)]))
        .unwrap();
    let config = ServerConfig {
        auth: Some(AuthConfig::hs256(SECRET)),
        max_subscriptions: 3,
        message_rate: LimiterConfig::new(0.05, 40),
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let mut got = Vec::new();
    got.push(get(&server, "/api/dashboards/ops").await.json());

    let token = hs256(
        SECRET,
        json!({"exp": now_secs() + 3600, "dashboards": ["ops", "team-*"]}),
    );
    let mut ws = connect(&server, &format!("/ws?token={token}")).await;
    let snap = subscribe(&mut ws, "ops").await;
    let epoch = snap["epoch"].clone();
    got.push(snap);
    hub.publish("ops", data(&[("cpu", 0.45)])).unwrap();
    got.push(recv(&mut ws).await);
    let since = json!({"op": "subscribe", "dashboard": "ops", "since": {"epoch": epoch, "seq": 2}});
    send_json(&mut ws, since).await;
    got.push(recv(&mut ws).await);
    got.push(recv(&mut ws).await);
    let stale = json!({"op": "subscribe", "dashboard": "ops",
                       "since": {"epoch": "0000000000000000", "seq": 2}});
    send_json(&mut ws, stale).await;
    got.push(recv(&mut ws).await);
    for msg in [
        json!({"op": "ping", "id": 1}),
        json!({"op": "subscribe", "dashboard": "billing"}),
        json!({"op": "unsubscribe", "dashboard": "nope"}),
        json!({"op": "dance"}),
        json!({"op": "subscribe", "dashboard": 42}),
    ] {
        send_json(&mut ws, msg).await;
        got.push(recv(&mut ws).await);
    }
    within(futures_util::SinkExt::send(
        &mut ws,
        tokio_tungstenite::tungstenite::Message::Text("{not json".into()),
    ))
    .await
    .unwrap();
    got.push(recv(&mut ws).await);
    for d in ["team-a", "team-b", "team-c"] {
        got.push(subscribe(&mut ws, d).await);
    }
    hub.remove("team-a");
    got.push(recv(&mut ws).await);
    for i in 0..100 {
        send_json(&mut ws, json!({"op": "ping", "id": i})).await;
        let m = recv(&mut ws).await;
        let limited = m["code"] == "rate_limited";
        got.push(m);
        if limited {
            break;
        }
    }

    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];
    let events = br#"[{"dashboard":"ops","metric":"cpu","value":0.42},{"dashboard":"ops","metric":"mem","value":0.61}]"#;
    got.push(
        http(&server, "POST", "/api/events", &auth, events)
            .await
            .json(),
    );
    got.push(
        http(&server, "GET", "/api/dashboards/team-x", &auth, b"")
            .await
            .json(),
    );
    drop(ws);
    server.shutdown().await.unwrap();
    got
}

#[tokio::test]
async fn server_examples_are_what_the_server_sends() {
    let lines = examples("server");
    assert!(lines.len() >= 15, "server examples: {lines:?}");
    let got = session().await;
    for line in lines {
        let doc: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(
            got.iter().any(|g| matches(&doc, g)),
            "documented but never sent: {line}\nsent:\n{}",
            got.iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
