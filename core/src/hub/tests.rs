//! Unit tests of the hub: wire shapes, snapshot, encode-once fan-out, recovery, epochs, topic removal,
//! dedupe, validation and stats. Policies and receiving are in `tests_recv.rs`.

use super::*;
use crate::clock::ManualClock;
use crate::codec::{Codec, Format};
use std::time::Duration;

pub(super) fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (Value::from(*k), v.clone()))
            .collect(),
    )
}

pub(super) fn cpu(v: f64) -> Value {
    map(&[("cpu", v.into())])
}

pub(super) fn plain() -> HubConfig {
    HubConfig {
        compress_over: None,
        ..HubConfig::default()
    }
}

pub(super) fn hub_with(config: HubConfig) -> (Hub, ManualClock) {
    let clock = ManualClock::new();
    (Hub::with_clock(config, clock.shared()).unwrap(), clock)
}

pub(super) fn next(sub: &Subscription) -> Message {
    sub.try_recv().unwrap().expect("a queued message")
}

pub(super) fn drain(sub: &Subscription) -> Vec<Message> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        match sub.try_recv().unwrap() {
            Some(m) => out.push(m),
            None => return out,
        }
    }
    panic!("queue did not drain");
}

fn json_text(m: &Message) -> String {
    String::from_utf8(m.raw(Format::Json).unwrap().to_vec()).unwrap()
}

#[test]
fn first_message_is_the_snapshot_then_updates_in_order() {
    let (hub, _) = hub_with(plain());
    let sub = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
    let s = next(&sub);
    assert_eq!(
        (s.kind(), s.seq(), s.recovered()),
        (Kind::Snapshot, 0, None)
    );
    assert_eq!(*s.data().unwrap(), Value::Map(vec![]));
    let epoch = s.epoch().to_owned();
    assert_eq!(epoch.len(), 16);
    assert!(epoch.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        json_text(&s),
        format!(r#"{{"type":"snapshot","dashboard":"ops","epoch":"{epoch}","seq":0,"data":{{}}}}"#)
    );
    for i in 1..=3u64 {
        assert_eq!(hub.publish("ops", cpu(i as f64 / 10.0)).unwrap(), i);
    }
    let got = drain(&sub);
    assert_eq!(got.iter().map(Message::seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(got
        .iter()
        .all(|m| m.kind() == Kind::Update && m.epoch() == epoch));
    assert_eq!(
        json_text(&got[2]),
        format!(
            r#"{{"type":"update","dashboard":"ops","epoch":"{epoch}","seq":3,"data":{{"cpu":0.3}}}}"#
        )
    );
}

#[test]
fn msgpack_bytes_decode_to_the_same_map_in_wire_order() {
    let (hub, _) = hub_with(plain());
    let sub = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
    hub.publish("ops", map(&[("cpu", 0.5.into()), ("host", "a".into())]))
        .unwrap();
    for m in drain(&sub) {
        let decoded = Codec::new(Format::MsgPack)
            .decode(&m.raw(Format::MsgPack).unwrap())
            .unwrap();
        assert_eq!(decoded, m.to_value().unwrap());
        let from_json = Codec::new(Format::Json)
            .decode(&m.raw(Format::Json).unwrap())
            .unwrap();
        assert_eq!(from_json, m.to_value().unwrap());
        let Value::Map(fields) = decoded else {
            panic!("not a map")
        };
        let keys: Vec<_> = fields.iter().map(|(k, _)| k.as_str().unwrap()).collect();
        assert_eq!(keys, ["type", "dashboard", "epoch", "seq", "data"]);
    }
}

#[test]
fn snapshot_keeps_the_latest_value_per_metric_in_first_seen_order() {
    let (hub, _) = hub_with(plain());
    assert!(hub.snapshot("ops").unwrap().is_none());
    hub.publish("ops", map(&[("cpu", 0.1.into()), ("mem", 0.5.into())]))
        .unwrap();
    hub.publish("ops", map(&[("disk", 0.7.into()), ("cpu", 0.2.into())]))
        .unwrap();
    let s = hub.snapshot("ops").unwrap().unwrap();
    assert_eq!((s.kind(), s.seq()), (Kind::Snapshot, 2));
    assert_eq!(
        *s.data().unwrap(),
        map(&[
            ("cpu", 0.2.into()),
            ("mem", 0.5.into()),
            ("disk", 0.7.into())
        ])
    );
    // Cached until the next publish: the same bytes, no new encode.
    let before = hub.stats().encodes;
    let again = hub.snapshot("ops").unwrap().unwrap();
    assert_eq!(
        s.raw(Format::Json).unwrap().as_ptr(),
        again.raw(Format::Json).unwrap().as_ptr()
    );
    assert_eq!(hub.stats().encodes, before + 1);
}

#[test]
fn each_publication_is_encoded_once_per_format_whatever_the_subscriber_count() {
    let (hub, _) = hub_with(HubConfig::default());
    let subs: Vec<Subscription> = (0..100)
        .map(|i| {
            let format = if i % 2 == 0 {
                Format::MsgPack
            } else {
                Format::Json
            };
            let opts = SubscribeOptions {
                format,
                ..SubscribeOptions::default()
            };
            hub.subscribe("ops", opts).unwrap()
        })
        .collect();
    for s in &subs {
        next(s);
    }
    let before = hub.stats().encodes;
    let big = "x".repeat(3000); // gzipped: over compress_over
    for i in 0..10 {
        hub.publish(
            "ops",
            map(&[("n", Value::Int(i)), ("blob", big.clone().into())]),
        )
        .unwrap();
    }
    assert_eq!(
        hub.stats().encodes - before,
        20,
        "10 publications × 2 formats"
    );
    let firsts: Vec<Message> = subs.iter().map(next).collect();
    for format in [Format::MsgPack, Format::Json] {
        let ptr = firsts[0].raw(format).unwrap().as_ptr();
        assert!(firsts
            .iter()
            .all(|m| m.raw(format).unwrap().as_ptr() == ptr));
        assert!(crate::codec::is_gzip(&firsts[0].raw(format).unwrap()));
    }
    assert_eq!(hub.stats().encodes - before, 20, "raw() reuses the bytes");
    let decoded = Codec::new(Format::Json)
        .decode(&firsts[1].raw(Format::Json).unwrap())
        .unwrap();
    assert_eq!(decoded.get("seq"), Some(&Value::Int(1)));
}

#[test]
fn without_subscribers_only_history_encodes_once() {
    let (hub, _) = hub_with(plain());
    hub.publish("ops", cpu(0.1)).unwrap();
    assert_eq!(hub.stats().encodes, 1, "history keeps bytes, not data");
    let sub = hub
        .subscribe("ops", SubscribeOptions::since(epoch_of(&hub, "ops"), 0))
        .unwrap();
    let got = drain(&sub);
    assert_eq!(got[0].kind(), Kind::Recovered);
    assert_eq!(got[1].seq(), 1);
    assert_eq!(*got[1].data().unwrap(), cpu(0.1), "decoded from the bytes");
    assert_eq!(
        hub.stats().encodes,
        2,
        "the header; the history entry was encoded"
    );

    let none = Hub::new(HubConfig {
        history: 0,
        ..plain()
    })
    .unwrap();
    none.publish("ops", cpu(0.1)).unwrap();
    assert_eq!(
        none.stats().encodes,
        0,
        "no history, no subscriber: nothing encoded"
    );
}

pub(super) fn epoch_of(hub: &Hub, dashboard: &str) -> String {
    hub.topic_stats(dashboard).unwrap().epoch
}

fn resume(hub: &Hub, epoch: &str, seq: u64) -> Vec<Message> {
    let sub = hub
        .subscribe("ops", SubscribeOptions::since(epoch, seq))
        .unwrap();
    drain(&sub)
}

#[test]
fn resume_within_history_gets_every_missed_update_in_order() {
    let (hub, _) = hub_with(HubConfig {
        history: 5,
        ..plain()
    });
    for i in 1..=8 {
        hub.publish("ops", cpu(i as f64)).unwrap();
    }
    let epoch = epoch_of(&hub, "ops");
    let got = resume(&hub, &epoch, 5);
    assert_eq!(got[0].kind(), Kind::Recovered);
    assert_eq!(
        (got[0].seq(), got[0].recovered(), got[0].missed()),
        (8, Some(true), Some(3))
    );
    assert_eq!(
        json_text(&got[0]),
        format!(
            r#"{{"type":"recovered","dashboard":"ops","epoch":"{epoch}","seq":8,"recovered":true,"missed":3}}"#
        )
    );
    assert_eq!(
        got[1..].iter().map(Message::seq).collect::<Vec<_>>(),
        [6, 7, 8]
    );
    // Oldest resumable point: history holds 4..=8, so since=3 works and since=2 does not.
    assert_eq!(resume(&hub, &epoch, 3)[0].missed(), Some(5));
    let gap = resume(&hub, &epoch, 2);
    assert_eq!(gap.len(), 1, "never a partial set");
    assert_eq!(
        (gap[0].kind(), gap[0].seq(), gap[0].recovered()),
        (Kind::Snapshot, 8, Some(false))
    );
    assert_eq!(*gap[0].data().unwrap(), cpu(8.0));
    assert!(json_text(&gap[0]).contains(r#""seq":8,"recovered":false,"data":{"cpu":8.0}}"#));
}

#[test]
fn resume_up_to_date_stale_epoch_or_future_seq() {
    let (hub, _) = hub_with(plain());
    hub.publish("ops", cpu(1.0)).unwrap();
    let epoch = epoch_of(&hub, "ops");
    let up_to_date = resume(&hub, &epoch, 1);
    assert_eq!(up_to_date.len(), 1);
    assert_eq!(
        (up_to_date[0].kind(), up_to_date[0].missed()),
        (Kind::Recovered, Some(0))
    );
    for (e, s) in [("0123456789abcdef", 1), (epoch.as_str(), 2)] {
        let got = resume(&hub, e, s);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].kind(), got[0].recovered()),
            (Kind::Snapshot, Some(false))
        );
    }
}

#[test]
fn history_age_limits_resumes() {
    let (hub, clock) = hub_with(HubConfig {
        history_age: Some(Duration::from_secs(10)),
        ..plain()
    });
    hub.publish("ops", cpu(1.0)).unwrap();
    clock.advance(Duration::from_secs(6));
    hub.publish("ops", cpu(2.0)).unwrap();
    let epoch = epoch_of(&hub, "ops");
    assert_eq!(resume(&hub, &epoch, 0)[0].missed(), Some(2));
    clock.advance(Duration::from_secs(5)); // seq 1 is 11 s old, seq 2 is 5 s old
    assert_eq!(resume(&hub, &epoch, 0)[0].recovered(), Some(false));
    assert_eq!(resume(&hub, &epoch, 1)[0].missed(), Some(1));
    assert_eq!(hub.topic_stats("ops").unwrap().history, 1);
}

#[test]
fn a_resume_that_does_not_fit_the_queue_gets_a_snapshot() {
    let (hub, _) = hub_with(plain());
    for i in 1..=10 {
        hub.publish("ops", cpu(i as f64)).unwrap();
    }
    let epoch = epoch_of(&hub, "ops");
    let small = SubscribeOptions {
        queue_messages: Some(5),
        ..SubscribeOptions::since(epoch.clone(), 2)
    };
    let got = drain(&hub.subscribe("ops", small).unwrap());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].recovered(), Some(false));
    let fits = SubscribeOptions {
        queue_messages: Some(5),
        ..SubscribeOptions::since(epoch, 6)
    };
    assert_eq!(
        drain(&hub.subscribe("ops", fits).unwrap()).len(),
        5,
        "header + 4 updates"
    );
}

#[test]
fn reset_epoch_forgets_history_but_keeps_seq_and_values() {
    let (hub, _) = hub_with(plain());
    hub.publish("ops", cpu(1.0)).unwrap();
    let old = epoch_of(&hub, "ops");
    let live = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
    next(&live);
    let new = hub.reset_epoch("ops").unwrap();
    assert_ne!(old, new);
    assert_eq!(resume(&hub, &old, 0)[0].recovered(), Some(false));
    assert_eq!(hub.publish("ops", cpu(2.0)).unwrap(), 2);
    let u = next(&live);
    assert_eq!((u.epoch(), u.seq()), (new.as_str(), 2));
    assert_eq!(resume(&hub, &new, 1)[0].missed(), Some(1));
    assert_eq!(resume(&hub, &new, 0)[0].recovered(), Some(false));
}

#[test]
fn removing_a_topic_ends_subscriptions_and_a_new_one_starts_a_new_epoch() {
    let (hub, _) = hub_with(plain());
    hub.publish("ops", cpu(1.0)).unwrap();
    let old = epoch_of(&hub, "ops");
    let sub = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
    hub.publish("ops", cpu(2.0)).unwrap();
    assert!(hub.remove("ops"));
    assert!(!hub.remove("ops"));
    assert!(hub.snapshot("ops").unwrap().is_none());
    assert_eq!(next(&sub).kind(), Kind::Snapshot);
    assert_eq!(next(&sub).seq(), 2, "queued messages are still delivered");
    assert_eq!(sub.try_recv().unwrap_err(), Error::Closed);
    assert_eq!(hub.publish("ops", cpu(3.0)).unwrap(), 1);
    let new = epoch_of(&hub, "ops");
    assert_ne!(old, new);
    assert_eq!(resume(&hub, &old, 2)[0].recovered(), Some(false));
    assert_eq!(hub.dashboards(), ["ops"]);
}

#[test]
fn close_and_drop_unsubscribe() {
    let (hub, _) = hub_with(plain());
    let a = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
    let b = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
    assert_eq!(hub.topic_stats("ops").unwrap().subscribers, 2);
    a.close();
    a.close();
    assert!(a.is_closed());
    assert_eq!(a.try_recv().unwrap_err().code(), "closed");
    assert_eq!(hub.topic_stats("ops").unwrap().subscribers, 1);
    drop(b);
    assert_eq!(hub.topic_stats("ops").unwrap().subscribers, 0);
    assert_eq!(hub.publish("ops", cpu(1.0)).unwrap(), 1);
    assert_eq!(hub.stats().deliveries, 2, "the two snapshots only");
}

#[test]
fn duplicate_ids_are_dropped_within_the_horizon() {
    let (hub, clock) = hub_with(HubConfig {
        dedupe_capacity: 2,
        dedupe_horizon: Some(Duration::from_secs(60)),
        ..plain()
    });
    assert_eq!(hub.publish_with_id("ops", "a", cpu(1.0)).unwrap(), Some(1));
    assert_eq!(hub.publish_with_id("ops", "a", cpu(9.0)).unwrap(), None);
    assert_eq!(hub.publish_with_id("web", "a", cpu(1.0)).unwrap(), Some(1));
    assert_eq!(hub.publish_with_id("ops", "b", cpu(2.0)).unwrap(), Some(2));
    assert_eq!(hub.publish_with_id("ops", "c", cpu(3.0)).unwrap(), Some(3));
    // Capacity 2: "a" was pushed out by "b" and "c".
    assert_eq!(hub.publish_with_id("ops", "a", cpu(4.0)).unwrap(), Some(4));
    assert_eq!(hub.publish_with_id("ops", "c", cpu(5.0)).unwrap(), None);
    clock.advance(Duration::from_secs(60));
    assert_eq!(hub.publish_with_id("ops", "c", cpu(6.0)).unwrap(), Some(5));
    let stats = hub.stats();
    assert_eq!((stats.dedupe_dropped, stats.publications), (2, 6));
    assert_eq!(
        *hub.snapshot("ops").unwrap().unwrap().data().unwrap(),
        cpu(6.0)
    );
}

#[test]
fn dedupe_alone_is_bounded_by_count_and_time() {
    let clock = ManualClock::new();
    let mut d = Dedupe::new(3, Some(Duration::from_millis(100)), clock.shared()).unwrap();
    assert!(d.check_and_insert("x"));
    assert!(!d.check_and_insert("x"));
    clock.advance_ms(99);
    assert!(
        !d.check_and_insert("x"),
        "a repeat does not extend the horizon"
    );
    clock.advance_ms(1);
    assert!(d.check_and_insert("x"));
    for id in ["a", "b", "c"] {
        assert!(d.check_and_insert(id));
    }
    assert_eq!(d.len(), 3);
    assert!(d.check_and_insert("x"), "pushed out by a, b, c");
    assert_eq!(d.dropped(), 2);
    assert!(Dedupe::new(0, None, clock.shared()).is_err());
    assert!(Dedupe::new(1, Some(Duration::ZERO), clock.shared()).is_err());
    let mut unbounded_time = Dedupe::new(1, None, clock.shared()).unwrap();
    assert!(unbounded_time.check_and_insert("y"));
    clock.advance(Duration::from_secs(1_000_000));
    assert!(!unbounded_time.check_and_insert("y"));
}

#[test]
fn invalid_input_is_refused_before_anything_changes() {
    let (hub, _) = hub_with(plain());
    let deep = (0..70).fold(Value::Int(1), |v, _| Value::Array(vec![v]));
    let bad = [
        Value::Int(1),
        Value::Map(vec![(Value::Int(1), Value::Int(1))]),
        map(&[("", 1i64.into())]),
        map(&[("blob", Value::Bin(vec![1]))]),
        map(&[("nested", map(&[("ok", Value::Bin(vec![]))]))]),
        map(&[("nested", Value::Map(vec![(Value::Int(1), Value::Nil)]))]),
        map(&[("deep", deep)]),
        map(&[("cpu", 1i64.into()), ("cpu", 2i64.into())]),
    ];
    for data in bad {
        let err = hub.publish("ops", data.clone()).unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{data:?}");
    }
    let many: Vec<(Value, Value)> = (0..40)
        .map(|i| (Value::from(format!("m{}", i % 39)), Value::Int(i)))
        .collect();
    assert_eq!(
        hub.publish("ops", Value::Map(many)).unwrap_err().code(),
        "invalid_input"
    );
    assert_eq!(
        hub.publish("", cpu(1.0)).unwrap_err().code(),
        "invalid_input"
    );
    let long = "d".repeat(257);
    assert_eq!(
        hub.publish(&long, cpu(1.0)).unwrap_err().code(),
        "invalid_input"
    );
    assert_eq!(
        hub.publish_with_id("ops", "", cpu(1.0)).unwrap_err().code(),
        "invalid_input"
    );
    assert!(
        hub.snapshot("ops").unwrap().is_none(),
        "no topic was created"
    );
    assert_eq!(hub.stats().publications, 0);
    let nested_ok = map(&[("h", Value::Array(vec![map(&[("p50", 1.5.into())])]))]);
    assert_eq!(hub.publish("ops", nested_ok).unwrap(), 1);
}

#[test]
fn config_is_validated() {
    let bad = [
        HubConfig {
            queue_messages: 0,
            ..HubConfig::default()
        },
        HubConfig {
            queue_bytes: 0,
            ..HubConfig::default()
        },
        HubConfig {
            compress_level: 10,
            ..HubConfig::default()
        },
        HubConfig {
            dedupe_capacity: 0,
            ..HubConfig::default()
        },
        HubConfig {
            history_age: Some(Duration::ZERO),
            ..HubConfig::default()
        },
        HubConfig {
            dedupe_horizon: Some(Duration::ZERO),
            ..HubConfig::default()
        },
    ];
    for c in bad {
        assert_eq!(Hub::new(c).unwrap_err().code(), "invalid_input");
    }
    let hub = Hub::new(HubConfig::default()).unwrap();
    let zero = SubscribeOptions {
        queue_messages: Some(0),
        ..SubscribeOptions::default()
    };
    assert_eq!(
        hub.subscribe("ops", zero).unwrap_err().code(),
        "invalid_input"
    );
    assert_eq!("drop_oldest".parse::<Policy>().unwrap(), Policy::DropOldest);
    assert_eq!(Policy::Disconnect.to_string(), "disconnect");
    assert!("fast".parse::<Policy>().is_err());
}

#[test]
fn stats_count_topics_subscribers_publications_and_deliveries() {
    let (hub, _) = hub_with(plain());
    let _a = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
    let _b = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
    let _c = hub.subscribe("web", SubscribeOptions::default()).unwrap();
    for _ in 0..3 {
        hub.publish("ops", cpu(1.0)).unwrap();
    }
    hub.publish("web", map(&[("rps", 10i64.into()), ("p99", 0.2.into())]))
        .unwrap();
    let s = hub.stats();
    assert_eq!(s.subscribers, 3);
    assert_eq!((s.publications, s.deliveries), (4, 3 + 6 + 1));
    assert_eq!(s.topics.len(), 2);
    assert_eq!(
        (
            s.topics[0].dashboard.as_str(),
            s.topics[0].subscribers,
            s.topics[0].seq
        ),
        ("ops", 2, 3)
    );
    assert_eq!((s.topics[1].metrics, s.topics[1].history), (2, 1));
    assert_eq!(
        s.encodes,
        4 + 2,
        "one per publication (msgpack only) + one snapshot per topic"
    );
}

#[test]
fn hub_is_send_sync_and_clone_shares_state() {
    fn check<T: Send + Sync + Clone>() {}
    fn check_sub<T: Send + Sync>() {}
    check::<Hub>();
    check::<Message>();
    check_sub::<Subscription>();
    let (hub, _) = hub_with(plain());
    let other = hub.clone();
    other.publish("ops", cpu(1.0)).unwrap();
    assert_eq!(hub.topic_stats("ops").unwrap().seq, 1);
}
