//! Batch frames (`?batch=1`): the hub messages of one drain reach an opted-in client as one
//! `{"type":"batch","messages":[…]}` message, in JSON and MessagePack, in order, with gzipped messages
//! alone between batches, never over the batch byte bound; clients that did not opt in are unchanged.
//!
//! Bursts are published on a single-threaded runtime with no await between publishes, so the
//! connection task cannot drain before the burst is complete: each test knows what one drain holds.

mod server_support;

use dashfeed::hub::{Hub, HubConfig};
use dashfeed::server::{Server, ServerConfig, ServerHandle};
use futures_util::StreamExt;
use serde_json::{json, Value};
use server_support::*;
use tokio_tungstenite::tungstenite::Message;

/// The bound of one batch frame, header included (core/src/server/batch.rs).
const BATCH_BYTES: usize = 64 << 10;

fn start_here(hub: &Hub) -> ServerHandle {
    let rt = tokio::runtime::Handle::current();
    Server::start_on(hub.clone(), ServerConfig::ephemeral(), &rt).unwrap()
}

/// A server for `hub` on this runtime and a JSON `?batch=1` client subscribed to `ops`.
async fn batch_client(hub: &Hub) -> (ServerHandle, Ws) {
    let server = start_here(hub);
    let mut ws = connect(&server, "/ws?batch=1").await;
    assert_eq!(subscribe(&mut ws, "ops").await["type"], "snapshot");
    (server, ws)
}

/// The next data frame (pings skipped): its decoded value, its payload size and whether it was gzip.
async fn next_data(ws: &mut Ws) -> (Value, usize, bool) {
    loop {
        match within(ws.next()).await.unwrap().unwrap() {
            Message::Text(t) => return (serde_json::from_str(t.as_str()).unwrap(), t.len(), false),
            Message::Binary(b) => {
                return (decode_binary(&b), b.len(), dashfeed::codec::is_gzip(&b));
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a data message, got {other:?}"),
        }
    }
}

/// Reads frames until `n` hub messages have arrived; returns them in order and the frames' sizes.
async fn read_messages(ws: &mut Ws, n: usize) -> (Vec<Value>, Vec<(usize, bool, usize)>) {
    let mut msgs = Vec::new();
    let mut frames = Vec::new();
    while msgs.len() < n {
        let (v, size, gz) = next_data(ws).await;
        if v["type"] == "batch" {
            let items = v["messages"].as_array().expect("messages").clone();
            assert!(items.len() >= 2, "a batch holds two messages or more: {v}");
            assert!(!gz, "a batch frame is never gzipped");
            frames.push((size, gz, items.len()));
            msgs.extend(items);
        } else {
            frames.push((size, gz, 1));
            msgs.push(v);
        }
    }
    (msgs, frames)
}

fn seqs(msgs: &[Value]) -> Vec<u64> {
    msgs.iter().map(|m| m["seq"].as_u64().unwrap()).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_burst_reaches_opted_in_clients_as_one_batch() {
    const N: usize = 50;
    let hub = hub();
    let server = start_here(&hub);
    let mut json_batch = connect(&server, "/ws?batch=1").await;
    let mut mp_batch = try_connect(&server, "/ws?batch=1", &["dashfeed.v1.msgpack"], &[])
        .await
        .unwrap();
    let mut plain = connect(&server, "/ws").await;
    for ws in [&mut json_batch, &mut mp_batch, &mut plain] {
        assert_eq!(subscribe(ws, "ops").await["type"], "snapshot");
    }
    let before = server.stats();
    for i in 0..N {
        hub.publish("ops", data(&[("cpu", i as f64)])).unwrap();
    }
    let want: Vec<u64> = (1..=N as u64).collect();
    for ws in [&mut json_batch, &mut mp_batch] {
        let (msgs, frames) = read_messages(ws, N).await;
        assert_eq!(seqs(&msgs), want);
        assert_eq!(frames.len(), 1, "one drain, one frame: {frames:?}");
        assert_eq!(msgs[N - 1]["data"], json!({"cpu": (N - 1) as f64}));
        assert!(msgs.iter().all(|m| m["type"] == "update"));
    }
    let (msgs, frames) = read_messages(&mut plain, N).await;
    assert_eq!(seqs(&msgs), want);
    assert_eq!(
        frames.len(),
        N,
        "a client that did not opt in gets one frame each"
    );
    assert_eq!(server.stats().ws_frames - before.ws_frames, N as u64 + 2);

    // The connections still answer a ping with a plain pong.
    for ws in [&mut json_batch, &mut mp_batch, &mut plain] {
        assert_alive(ws).await;
    }
    drop((json_batch, mp_batch, plain));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_gzipped_message_goes_alone_between_batches() {
    let hub = Hub::new(HubConfig {
        compress_over: Some(256),
        ..HubConfig::default()
    })
    .unwrap();
    let server = start_here(&hub);
    let mut ws = try_connect(&server, "/ws?batch=1", &["dashfeed.v1.json"], &[])
        .await
        .unwrap();
    subscribe(&mut ws, "ops").await;
    let big: Vec<(String, f64)> = (0..40).map(|i| (format!("metric_{i}"), i as f64)).collect();
    let big: Vec<(&str, f64)> = big.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    for i in 0..3 {
        hub.publish("ops", data(&[("cpu", f64::from(i))])).unwrap();
    }
    hub.publish("ops", data(&big)).unwrap();
    for i in 0..2 {
        hub.publish("ops", data(&[("cpu", f64::from(i))])).unwrap();
    }
    let (msgs, frames) = read_messages(&mut ws, 6).await;
    assert_eq!(seqs(&msgs), vec![1, 2, 3, 4, 5, 6]);
    let shape: Vec<(bool, usize)> = frames.iter().map(|(_, gz, n)| (*gz, *n)).collect();
    assert_eq!(shape, vec![(false, 3), (true, 1), (false, 2)]);
    assert_eq!(msgs[3]["data"]["metric_39"], 39.0);
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_batch_never_grows_past_its_byte_bound() {
    const N: usize = 200;
    let hub = Hub::new(HubConfig {
        compress_over: None,
        ..HubConfig::default()
    })
    .unwrap();
    let (server, mut ws) = batch_client(&hub).await;
    // About 1 KB per message: 200 of them need at least three 64 KiB batches.
    let names: Vec<String> = (0..40).map(|i| format!("metric_{i:02}_abcdef")).collect();
    for i in 0..N {
        let pairs: Vec<(&str, f64)> = names.iter().map(|k| (k.as_str(), i as f64)).collect();
        hub.publish("ops", data(&pairs)).unwrap();
    }
    let (msgs, frames) = read_messages(&mut ws, N).await;
    assert_eq!(seqs(&msgs), (1..=N as u64).collect::<Vec<_>>());
    assert!(frames.len() >= 3, "{frames:?}");
    assert!(
        frames.iter().all(|(size, _, _)| *size <= BATCH_BYTES),
        "{frames:?}"
    );
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn batch_takes_one_or_zero_and_refuses_the_rest() {
    let hub = hub();
    let server = start(&hub, ServerConfig::ephemeral());
    for q in ["batch=yes", "batch=2", "batch="] {
        let r = try_connect(&server, &format!("/ws?{q}"), &[], &[]).await;
        assert_eq!(refused_status(r), 400, "{q}");
    }
    let mut ws = connect(&server, "/dashboard/ops?batch=0").await;
    assert_eq!(recv(&mut ws).await["type"], "snapshot");
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_burst_over_one_drain_comes_in_two_batches() {
    // One drain takes 256 messages at most (core/src/server/conn.rs, STAGE_MAX).
    const N: usize = 300;
    let hub = hub();
    let (server, mut ws) = batch_client(&hub).await;
    for i in 0..N {
        hub.publish("ops", data(&[("cpu", i as f64)])).unwrap();
    }
    let (msgs, frames) = read_messages(&mut ws, N).await;
    assert_eq!(seqs(&msgs), (1..=N as u64).collect::<Vec<_>>());
    let counts: Vec<usize> = frames.iter().map(|(_, _, n)| *n).collect();
    assert_eq!(counts, vec![256, N - 256]);
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_removed_dashboard_ends_after_its_batched_updates() {
    let hub = hub();
    let (server, mut ws) = batch_client(&hub).await;
    subscribe(&mut ws, "other").await;
    for i in 0..5 {
        hub.publish("ops", data(&[("cpu", f64::from(i))])).unwrap();
    }
    assert!(hub.remove("ops"));
    hub.publish("other", data(&[("x", 1.0)])).unwrap();
    let (batch, _, _) = next_data(&mut ws).await;
    assert_eq!(batch["type"], "batch");
    let got: Vec<(Value, Value)> = batch["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["dashboard"].clone(), m["seq"].clone()))
        .collect();
    let want: Vec<(Value, Value)> = (1..=5).map(|s| (json!("ops"), json!(s))).collect();
    assert_eq!(
        got, want,
        "the updates queued before the removal come first"
    );
    let (closed, _, _) = next_data(&mut ws).await;
    assert_eq!(
        closed,
        json!({"type": "error", "code": "closed", "message": "dashboard removed", "dashboard": "ops"})
    );
    let (next, _, _) = next_data(&mut ws).await;
    assert_eq!(
        (next["dashboard"].clone(), next["seq"].clone()),
        (json!("other"), json!(1))
    );
    drop(ws);
    server.shutdown().await.unwrap();
}
