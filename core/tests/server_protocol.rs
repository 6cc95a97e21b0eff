//! The WebSocket protocol end to end: subscribe / unsubscribe / ping over JSON and MessagePack, several
//! dashboards per connection, `/dashboard/{id}`, resume with `since`, gzip as binary frames, shared
//! bytes, malformed messages, and write coalescing.

mod server_support;

use dashfeed::codec::{Codec, Format, Value};
use dashfeed::hub::{Hub, HubConfig};
use dashfeed::server::{Server, ServerConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use server_support::*;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn json_subscriptions_to_several_dashboards() {
    let hub = hub();
    hub.publish("ops", data(&[("cpu", 0.4), ("mem", 0.61)]))
        .unwrap();
    let server = start(&hub, ServerConfig::ephemeral());
    let mut ws = connect(&server, "/ws").await;

    let snap = subscribe(&mut ws, "ops").await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["seq"], 1);
    assert_eq!(snap["data"], json!({"cpu": 0.4, "mem": 0.61}));
    let snap = subscribe(&mut ws, "team-a").await;
    assert_eq!(
        (snap["dashboard"].clone(), snap["seq"].clone()),
        (json!("team-a"), json!(0))
    );

    hub.publish("ops", data(&[("cpu", 0.5)])).unwrap();
    let up = recv(&mut ws).await;
    assert_eq!(up["type"], "update");
    assert_eq!(
        (up["dashboard"].clone(), up["seq"].clone()),
        (json!("ops"), json!(2))
    );
    assert_eq!(up["data"], json!({"cpu": 0.5}));
    hub.publish("team-a", data(&[("x", 1.5)])).unwrap();
    assert_eq!(recv(&mut ws).await["dashboard"], "team-a");

    // After an acknowledged unsubscribe, only team-a updates arrive.
    send_json(&mut ws, json!({"op": "unsubscribe", "dashboard": "ops"})).await;
    assert_alive(&mut ws).await;
    hub.publish("ops", data(&[("cpu", 0.9)])).unwrap();
    hub.publish("team-a", data(&[("x", 2.5)])).unwrap();
    let next = recv(&mut ws).await;
    assert_eq!(
        (next["dashboard"].clone(), next["seq"].clone()),
        (json!("team-a"), json!(2))
    );
    assert_eq!(server.metrics().active("ops"), 0);
    assert_eq!(server.metrics().active("team-a"), 1);
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn msgpack_subprotocol_uses_binary_frames_both_ways() {
    let hub = hub();
    let server = start(&hub, ServerConfig::ephemeral());
    let mut ws = try_connect(&server, "/ws", &["dashfeed.v1.msgpack"], &[])
        .await
        .unwrap();
    let mp = Codec::new(Format::MsgPack);
    let sub = Value::Map(vec![
        ("op".into(), "subscribe".into()),
        ("dashboard".into(), "ops".into()),
    ]);
    within(ws.send(Message::Binary(mp.encode(&sub).unwrap().into())))
        .await
        .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        match within(ws.next()).await.unwrap().unwrap() {
            Message::Binary(b) => {
                let v = mp.decode(&b).unwrap();
                kinds.push(v.get("type").unwrap().as_str().unwrap().to_owned());
                // Publish once the snapshot shows the subscription is in place.
                hub.publish("ops", data(&[("cpu", 0.25)])).unwrap();
            }
            Message::Ping(_) => {}
            other => panic!("expected binary frames, got {other:?}"),
        }
    }
    assert_eq!(kinds, ["snapshot", "update"]);
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn dashboard_url_is_subscribed_at_once_and_takes_format_and_resume() {
    let hub = hub();
    for v in [0.1, 0.2, 0.3] {
        hub.publish("ops", data(&[("cpu", v)])).unwrap();
    }
    let server = start(&hub, ServerConfig::ephemeral());
    let mut ws = try_connect(&server, "/dashboard/ops", &[], &[])
        .await
        .unwrap();
    let snap = recv(&mut ws).await;
    assert_eq!(
        (snap["type"].clone(), snap["seq"].clone()),
        (json!("snapshot"), json!(3))
    );
    let epoch = snap["epoch"].as_str().unwrap().to_owned();
    drop(ws);

    let path = format!("/dashboard/ops?format=msgpack&epoch={epoch}&seq=1");
    let mut ws = try_connect(&server, &path, &[], &[]).await.unwrap();
    let first = within(ws.next()).await.unwrap().unwrap();
    assert!(first.is_binary(), "msgpack frames are binary");
    let rec = decode_binary(&first.into_data());
    assert_eq!(rec["type"], "recovered");
    assert_eq!(rec["missed"], 2);
    assert_eq!(recv(&mut ws).await["seq"], 2);
    assert_eq!(recv(&mut ws).await["seq"], 3);
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn subscribe_with_since_recovers_or_restarts() {
    let hub = hub();
    let server = start(&hub, ServerConfig::ephemeral());
    let mut ws = connect(&server, "/ws").await;
    let snap = subscribe(&mut ws, "ops").await;
    let epoch = snap["epoch"].as_str().unwrap().to_owned();
    for v in [1.5, 2.5] {
        hub.publish("ops", data(&[("cpu", v)])).unwrap();
    }
    send_json(
        &mut ws,
        json!({"op": "subscribe", "dashboard": "ops", "since": {"epoch": epoch, "seq": 0}}),
    )
    .await;
    // The live updates of the first subscription may come first; the resubscription replaces it.
    let mut m = recv(&mut ws).await;
    while m["type"] == "update" {
        m = recv(&mut ws).await;
    }
    assert_eq!(m["type"], "recovered");
    assert_eq!(m["missed"], 2);
    assert_eq!(recv(&mut ws).await["seq"], 1);
    assert_eq!(recv(&mut ws).await["seq"], 2);

    send_json(
        &mut ws,
        json!({"op": "subscribe", "dashboard": "ops", "since": {"epoch": "0000000000000000", "seq": 1}}),
    )
    .await;
    let m = recv(&mut ws).await;
    assert_eq!(
        (m["type"].clone(), m["recovered"].clone()),
        (json!("snapshot"), json!(false))
    );
    assert_eq!(m["data"], json!({"cpu": 2.5}));
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn gzipped_messages_are_binary_frames_on_json() {
    let hub = Hub::new(HubConfig {
        compress_over: Some(64),
        ..HubConfig::default()
    })
    .unwrap();
    let server = start(&hub, ServerConfig::ephemeral());
    let mut ws = connect(&server, "/ws").await;
    subscribe(&mut ws, "ops").await;
    let big: Vec<(String, f64)> = (0..40)
        .map(|i| (format!("metric_{i}"), i as f64 + 0.5))
        .collect();
    let pairs: Vec<(&str, f64)> = big.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    hub.publish("ops", data(&pairs)).unwrap();
    let frame = loop {
        match within(ws.next()).await.unwrap().unwrap() {
            Message::Ping(_) => continue,
            other => break other,
        }
    };
    let Message::Binary(b) = frame else {
        panic!("a gzipped message must be a binary frame, got {frame:?}");
    };
    assert!(dashfeed::codec::is_gzip(&b));
    let v = decode_binary(&b);
    assert_eq!(v["type"], "update");
    assert_eq!(v["data"]["metric_39"], 39.5);
    drop(ws);
    server.shutdown().await.unwrap();
}

/// The next frame that is not a ping.
async fn next_frame(ws: &mut Ws) -> Message {
    loop {
        match within(ws.next()).await.unwrap().unwrap() {
            Message::Ping(_) => continue,
            other => return other,
        }
    }
}

#[tokio::test]
async fn plain_clients_get_json_text_frames_never_gzip() {
    // The reference notes' client: `new WebSocket(url)` without a subprotocol, then
    // `JSON.parse(event.data)` on every frame.
    let hub = Hub::new(HubConfig {
        compress_over: Some(256),
        ..HubConfig::default()
    })
    .unwrap();
    let server = start(&hub, ServerConfig::ephemeral());
    let mut plain = try_connect(&server, "/dashboard/ops", &[], &[])
        .await
        .unwrap();
    let mut opted = try_connect(&server, "/dashboard/ops?compress=gzip", &[], &[])
        .await
        .unwrap();
    let mut dashfeed = try_connect(&server, "/dashboard/ops", &["dashfeed.v1.json"], &[])
        .await
        .unwrap();
    let big: Vec<(String, f64)> = (0..40)
        .map(|i| (format!("metric_{i}"), i as f64 + 0.5))
        .collect();
    let pairs: Vec<(&str, f64)> = big.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    // Every client has its (small) snapshot, so each is subscribed before the big update.
    for ws in [&mut plain, &mut opted, &mut dashfeed] {
        let f = next_frame(ws).await;
        assert!(matches!(f, Message::Text(_)), "{f:?}");
    }
    hub.publish("ops", data(&pairs)).unwrap();
    let Message::Text(t) = next_frame(&mut plain).await else {
        panic!("a plain client gets text frames");
    };
    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
    assert_eq!(v["data"]["metric_39"], 39.5);
    for ws in [&mut opted, &mut dashfeed] {
        let Message::Binary(b) = next_frame(ws).await else {
            panic!("clients that opted in get gzipped binary frames");
        };
        assert!(dashfeed::codec::is_gzip(&b));
        assert_eq!(decode_binary(&b)["data"]["metric_39"], 39.5);
    }
    assert_eq!(
        refused_status(try_connect(&server, "/dashboard/ops?compress=br", &[], &[]).await),
        400
    );
    drop((plain, opted, dashfeed));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_subscriber_shares_one_encode_per_publication() {
    let hub = hub();
    let server = start(&hub, ServerConfig::ephemeral());
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut ws = connect(&server, "/ws").await;
        subscribe(&mut ws, "ops").await;
        clients.push(ws);
    }
    let before = hub.stats().encodes;
    for i in 0..10 {
        hub.publish("ops", data(&[("cpu", i as f64 + 0.5)]))
            .unwrap();
    }
    for ws in &mut clients {
        for i in 0..10 {
            assert_eq!(recv(ws).await["seq"], i + 1);
        }
    }
    assert_eq!(
        hub.stats().encodes - before,
        10,
        "one JSON encode per publication"
    );
    drop(clients);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn malformed_messages_get_error_codes_and_the_connection_stays() {
    let hub = hub();
    let server = start(&hub, ServerConfig::ephemeral());
    let mut ws = connect(&server, "/ws").await;
    let mut other = connect(&server, "/ws").await;
    subscribe(&mut other, "ops").await;
    let cases: Vec<(Message, &str)> = vec![
        (Message::Text("{not json".into()), "decode_error"),
        (Message::Binary(vec![0xc1, 0x00].into()), "decode_error"),
        (Message::Text("[1,2,3]".into()), "decode_error"),
        (Message::Text(r#"{"op":"dance"}"#.into()), "unknown_op"),
        (
            Message::Text(r#"{"op":"subscribe","dashboard":42}"#.into()),
            "invalid_input",
        ),
        (
            Message::Text(r#"{"op":"subscribe"}"#.into()),
            "invalid_input",
        ),
        (
            Message::Text(r#"{"op":"subscribe","dashboard":"ops","since":{"epoch":1}}"#.into()),
            "invalid_input",
        ),
        (
            Message::Text(r#"{"op":"subscribe","dashboard":""}"#.into()),
            "invalid_input",
        ),
        (
            Message::Text(r#"{"op":"unsubscribe","dashboard":"nope"}"#.into()),
            "not_subscribed",
        ),
    ];
    for (msg, expected) in cases {
        within(ws.send(msg)).await.unwrap();
        let e = recv(&mut ws).await;
        assert_eq!(e["type"], "error");
        assert_eq!(e["code"], expected, "{e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_alive(&mut ws).await;
    hub.publish("ops", data(&[("cpu", 0.7)])).unwrap();
    assert_eq!(recv(&mut other).await["data"]["cpu"], 0.7);
    assert_eq!(server.metrics().rejections("invalid_message"), 7);
    drop((ws, other));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn subscription_cap_per_connection() {
    let hub = hub();
    let config = ServerConfig {
        max_subscriptions: 2,
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let mut ws = connect(&server, "/ws").await;
    subscribe(&mut ws, "a").await;
    subscribe(&mut ws, "b").await;
    let e = subscribe(&mut ws, "c").await;
    assert_eq!(
        (e["code"].clone(), e["dashboard"].clone()),
        (json!("too_many_subscriptions"), json!("c"))
    );
    // Resubscribing to a followed dashboard is not a new subscription.
    assert_eq!(subscribe(&mut ws, "a").await["type"], "snapshot");
    drop(ws);
    server.shutdown().await.unwrap();
}

/// A burst published while the connection task cannot run (single-threaded runtime, no await between
/// publishes) reaches the socket in a few writes, not one per message.
#[tokio::test(flavor = "current_thread")]
async fn a_burst_to_a_non_reading_connection_is_coalesced() {
    const N: u64 = 1000;
    let hub = hub();
    let rt = tokio::runtime::Handle::current();
    let server = Server::start_on(hub.clone(), ServerConfig::ephemeral(), &rt).unwrap();
    let mut ws = connect(&server, "/ws").await;
    subscribe(&mut ws, "ops").await;
    let before = server.stats();
    for i in 0..N {
        hub.publish("ops", data(&[("cpu", i as f64)])).unwrap();
    }
    for i in 0..N {
        let m = recv(&mut ws).await;
        assert_eq!(m["seq"], i + 1);
    }
    let after = server.stats();
    let writes = after.socket_writes - before.socket_writes;
    assert_eq!(after.ws_frames - before.ws_frames, N);
    assert!(
        writes >= 1 && writes * 20 <= N,
        "{N} messages took {writes} socket writes"
    );
    drop(ws);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn removing_the_dashboard_of_a_dashboard_url_closes_with_1000() {
    let hub = hub();
    let server = start(&hub, ServerConfig::ephemeral());
    let mut fixed = try_connect(&server, "/dashboard/ops", &[], &[])
        .await
        .unwrap();
    let mut ws = connect(&server, "/ws").await;
    subscribe(&mut ws, "ops").await;
    subscribe(&mut ws, "other").await;
    recv(&mut fixed).await;
    assert!(hub.remove("ops"));
    let f = recv_close(&mut fixed).await;
    assert_eq!((code(&f), f.reason.as_str()), (1000, "dashboard removed"));
    let e = recv(&mut ws).await;
    assert_eq!(
        e,
        json!({"type": "error", "code": "closed", "message": "dashboard removed", "dashboard": "ops"})
    );
    hub.publish("other", data(&[("x", 0.5)])).unwrap();
    assert_eq!(recv(&mut ws).await["dashboard"], "other");
    drop(ws);
    server.shutdown().await.unwrap();
}

/// With `write_delay`, hub messages wait for the delay and then share one socket write; replies do
/// not wait; more than 1 s is refused.
#[tokio::test]
async fn write_delay_holds_updates_to_write_them_together() {
    const DELAY: Duration = Duration::from_millis(300);
    let hub = hub();
    let too_long = ServerConfig {
        write_delay: Duration::from_millis(1001),
        ..ServerConfig::ephemeral()
    };
    let e = Server::start(hub.clone(), too_long).unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    assert!(e.to_string().contains("write_delay"), "{e}");
    let config = ServerConfig {
        write_delay: DELAY,
        ..ServerConfig::ephemeral()
    };
    let server = start(&hub, config);
    let mut ws = connect(&server, "/ws").await;
    // Counted from before the subscription: a write is counted just after its syscall returns, so a
    // client can hold the bytes before the count moves (reading the count between would race).
    let before = server.stats();
    subscribe(&mut ws, "ops").await;
    let t0 = std::time::Instant::now();
    for i in 0..10 {
        hub.publish("ops", data(&[("cpu", f64::from(i))])).unwrap();
    }
    for i in 0..10u64 {
        assert_eq!(recv(&mut ws).await["seq"], i + 1);
    }
    assert!(t0.elapsed() >= DELAY, "delivered after {:?}", t0.elapsed());
    let writes = || server.stats().socket_writes - before.socket_writes;
    wait_for(|| writes() >= 2).await;
    assert_eq!(writes(), 2, "the snapshot's write, then one for the ten");
    assert_eq!(server.stats().ws_frames - before.ws_frames, 11);
    // A reply does not wait behind a delayed update.
    hub.publish("ops", data(&[("cpu", 11.0)])).unwrap();
    send_json(&mut ws, json!({"op": "ping", "id": 7})).await;
    assert_eq!(recv(&mut ws).await["type"], "pong");
    assert_eq!(recv(&mut ws).await["seq"], 11);
    drop(ws);
    server.shutdown().await.unwrap();
}
