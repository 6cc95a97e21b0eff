//! Replays the cross-language hub vectors in tests/vectors/hub (shared with the Python and Node suites;
//! the format is documented in tests/vectors/hub/README.md).

use dashfeed::clock::ManualClock;
use dashfeed::hub::{Hub, HubConfig, Message, Policy, SubscribeOptions, Subscription};
use dashfeed::{Codec, Format, Value};
use serde_json::{Map, Value as J};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/hub")
}

/// Rebuilds a value from the vector notation ({"$bin": hex} for bytes; '.'/exponent numbers are floats).
fn to_value(j: &J) -> Value {
    match j {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap()),
        },
        J::String(s) => Value::Str(s.clone()),
        J::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        J::Object(m) if m.len() == 1 && m.contains_key("$bin") => {
            Value::Bin(hex::decode(m["$bin"].as_str().unwrap()).unwrap())
        }
        J::Object(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (Value::Str(k.clone()), to_value(v)))
                .collect(),
        ),
    }
}

/// Replaces every "$name" string by the captured epoch of that name.
fn resolve(j: &J, vars: &HashMap<String, String>) -> J {
    match j {
        J::String(s) if s.starts_with('$') => {
            let name = &s[1..];
            J::String(
                vars.get(name)
                    .unwrap_or_else(|| panic!("unbound {s}"))
                    .clone(),
            )
        }
        J::Array(a) => J::Array(a.iter().map(|x| resolve(x, vars)).collect()),
        J::Object(m) => J::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), resolve(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn config(c: &J) -> HubConfig {
    let mut cfg = HubConfig::default();
    let ms = |v: &J| v.as_u64().map(Duration::from_millis);
    for (k, v) in c.as_object().unwrap() {
        match k.as_str() {
            "history" => cfg.history = v.as_u64().unwrap() as usize,
            "history_age_ms" => cfg.history_age = ms(v),
            "policy" => cfg.policy = v.as_str().unwrap().parse().unwrap(),
            "queue_messages" => cfg.queue_messages = v.as_u64().unwrap() as usize,
            "queue_bytes" => cfg.queue_bytes = v.as_u64().unwrap() as usize,
            "compress_over" => cfg.compress_over = v.as_u64().map(|n| n as usize),
            "dedupe_capacity" => cfg.dedupe_capacity = v.as_u64().unwrap() as usize,
            "dedupe_horizon_ms" => cfg.dedupe_horizon = ms(v),
            other => panic!("unknown config key {other}"),
        }
    }
    cfg
}

fn options(step: &J, vars: &HashMap<String, String>) -> SubscribeOptions {
    let mut o = SubscribeOptions::default();
    if let Some(since) = step.get("since") {
        let since = resolve(since, vars);
        o = SubscribeOptions::since(
            since["epoch"].as_str().unwrap(),
            since["seq"].as_u64().unwrap(),
        );
    }
    let count = |k: &str| step.get(k).and_then(J::as_u64).map(|n| n as usize);
    o.queue_messages = count("queue_messages");
    o.queue_bytes = count("queue_bytes");
    o.policy = step
        .get("policy")
        .map(|p| p.as_str().unwrap().parse::<Policy>().unwrap());
    if let Some(f) = step.get("format") {
        o.format = f.as_str().unwrap().parse().unwrap();
    }
    o
}

/// The message as the wire gives it: its JSON bytes as text, checked against its MessagePack bytes.
fn wire(m: &Message) -> String {
    let json = m.raw(Format::Json).unwrap();
    let from_json = Codec::new(Format::Json).decode(&json).unwrap();
    let from_msgpack = Codec::new(Format::MsgPack)
        .decode(&m.raw(Format::MsgPack).unwrap())
        .unwrap();
    assert_eq!(from_json, from_msgpack);
    assert_eq!(from_json, m.to_value().unwrap());
    String::from_utf8(json.to_vec()).unwrap()
}

/// Compares `actual` with `expected` key by key for the keys `expected` names.
fn check_subset(actual: &J, expected: &J, vars: &HashMap<String, String>, what: &str) {
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&actual[k.as_str()], &resolve(v, vars), "{what}: {k}");
    }
}

fn recv_all(sub: &Subscription) -> (Vec<String>, Option<&'static str>) {
    let mut got = Vec::new();
    for _ in 0..10_000 {
        match sub.try_recv() {
            Ok(Some(m)) => got.push(wire(&m)),
            Ok(None) => return (got, None),
            Err(e) => return (got, Some(e.code())),
        }
    }
    panic!("queue did not drain");
}

fn run_case(case: &J) {
    let name = case["name"].as_str().unwrap();
    let clock = ManualClock::new();
    let hub = Hub::with_clock(config(&case["config"]), clock.shared()).unwrap();
    let mut subs: HashMap<String, Subscription> = HashMap::new();
    let mut vars: HashMap<String, String> = HashMap::new();
    for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
        let at = format!("{name} step {i} ({})", step["op"]);
        let dashboard = step.get("dashboard").and_then(J::as_str).unwrap_or("");
        let expect_error = step.get("expect_error").and_then(J::as_str);
        match step["op"].as_str().unwrap() {
            "publish" => {
                let data = to_value(&step["data"]);
                let result = match step.get("id").and_then(J::as_str) {
                    Some(id) => hub.publish_with_id(dashboard, id, data),
                    None => hub.publish(dashboard, data).map(Some),
                };
                match expect_error {
                    Some(code) => assert_eq!(result.unwrap_err().code(), code, "{at}"),
                    None => assert_eq!(result.unwrap(), step["expect"].as_u64(), "{at}"),
                }
            }
            "subscribe" => {
                let result = hub.subscribe(dashboard, options(step, &vars));
                match expect_error {
                    Some(code) => assert_eq!(result.unwrap_err().code(), code, "{at}"),
                    None => {
                        subs.insert(step["sub"].as_str().unwrap().to_owned(), result.unwrap());
                    }
                }
            }
            "recv_all" => {
                let (got, end) = recv_all(&subs[step["sub"].as_str().unwrap()]);
                let expected: Vec<String> = step["expect"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| resolve(m, &vars).to_string())
                    .collect();
                assert_eq!(got, expected, "{at}");
                assert_eq!(end, step["end"].as_str(), "{at}: end");
            }
            "close" => subs[step["sub"].as_str().unwrap()].close(),
            "snapshot" => {
                let got = hub.snapshot(dashboard).unwrap().map(|m| wire(&m));
                let expected = match &step["expect"] {
                    J::Null => None,
                    m => Some(resolve(m, &vars).to_string()),
                };
                assert_eq!(got, expected, "{at}");
            }
            "epoch" => {
                let epoch = hub.snapshot(dashboard).unwrap().unwrap().epoch().to_owned();
                vars.insert(step["as"].as_str().unwrap().to_owned(), epoch);
            }
            "reset_epoch" => {
                let epoch = hub.reset_epoch(dashboard).unwrap();
                vars.insert(step["as"].as_str().unwrap().to_owned(), epoch);
            }
            "remove" => assert_eq!(J::Bool(hub.remove(dashboard)), step["expect"], "{at}"),
            "advance_ms" => clock.advance_ms(step["ms"].as_u64().unwrap()),
            "stats" => {
                let s = hub.stats();
                let actual = serde_json::json!({
                    "publications": s.publications,
                    "deliveries": s.deliveries,
                    "dropped_oldest": s.dropped_oldest,
                    "conflated": s.conflated,
                    "disconnected": s.disconnected,
                    "dedupe_dropped": s.dedupe_dropped,
                });
                check_subset(&actual, &step["expect"], &vars, &at);
            }
            "topic" => {
                let t = hub.topic_stats(dashboard).unwrap();
                let actual = serde_json::json!({
                    "epoch": t.epoch, "seq": t.seq, "subscribers": t.subscribers,
                    "history": t.history, "metrics": t.metrics,
                });
                check_subset(&actual, &step["expect"], &vars, &at);
            }
            "sub_stats" => {
                let s = subs[step["sub"].as_str().unwrap()].stats();
                let actual = serde_json::json!({
                    "queued_messages": s.queued_messages, "queued_bytes": s.queued_bytes,
                    "received": s.received, "dropped": s.dropped, "conflated": s.conflated,
                });
                check_subset(&actual, &step["expect"], &vars, &at);
            }
            other => panic!("{at}: unknown op {other}"),
        }
    }
}

#[test]
fn hub_vectors() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let mut cases = 0;
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: J =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for case in doc["cases"].as_array().unwrap() {
            run_case(case);
            cases += 1;
        }
    }
    assert!(cases >= 19, "{cases} cases");
}

#[test]
fn expected_messages_keep_wire_field_order() {
    // The vectors compare JSON text, so key order matters; make sure serde_json keeps it.
    let m: Map<String, J> = serde_json::from_str(r#"{"type":"update","seq":1,"data":{}}"#).unwrap();
    assert_eq!(m.keys().collect::<Vec<_>>(), ["type", "seq", "data"]);
}
