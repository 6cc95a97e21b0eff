//! Unit tests of subscriptions: the three slow-consumer policies and their bounds, and the receive paths
//! (`try_recv`, blocking `recv_timeout`, `async recv`, the ready callback).

use super::tests::{cpu, drain, epoch_of, hub_with, map, next, plain};
use super::*;
use crate::codec::Format;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn opts(policy: Policy, queue_messages: usize) -> SubscribeOptions {
    SubscribeOptions {
        policy: Some(policy),
        queue_messages: Some(queue_messages),
        ..SubscribeOptions::default()
    }
}

#[test]
fn conflate_folds_the_queue_into_the_snapshot_with_the_newest_seq() {
    let (hub, _) = hub_with(plain());
    let sub = hub.subscribe("ops", opts(Policy::Conflate, 3)).unwrap();
    hub.publish("ops", map(&[("cpu", 0.1.into()), ("mem", 0.5.into())]))
        .unwrap();
    hub.publish("ops", cpu(0.2)).unwrap();
    hub.publish("ops", map(&[("disk", 0.7.into())])).unwrap();
    hub.publish("ops", cpu(0.3)).unwrap();
    let got = drain(&sub);
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].kind(), got[0].seq()), (Kind::Snapshot, 3));
    assert_eq!(
        *got[0].data().unwrap(),
        map(&[
            ("cpu", 0.2.into()),
            ("mem", 0.5.into()),
            ("disk", 0.7.into())
        ])
    );
    assert_eq!((got[1].kind(), got[1].seq()), (Kind::Update, 4));
    assert_eq!(sub.stats().conflated, 3);
    assert_eq!(hub.stats().conflated, 3);
}

#[test]
fn conflate_merges_live_updates_and_keeps_a_recovered_header() {
    let (hub, _) = hub_with(plain());
    for i in 1..=3 {
        hub.publish("ops", map(&[(&format!("m{i}"), Value::Int(i))]))
            .unwrap();
    }
    let since = SubscribeOptions {
        policy: Some(Policy::Conflate),
        queue_messages: Some(4),
        ..SubscribeOptions::since(epoch_of(&hub, "ops"), 1)
    };
    let sub = hub.subscribe("ops", since).unwrap();
    hub.publish("ops", map(&[("m2", Value::Int(20))])).unwrap();
    hub.publish("ops", map(&[("m9", Value::Int(9))])).unwrap();
    let got = drain(&sub);
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].kind(), got[0].seq(), got[0].missed()),
        (Kind::Recovered, 3, Some(2))
    );
    assert_eq!((got[1].kind(), got[1].seq()), (Kind::Update, 5));
    assert_eq!(
        *got[1].data().unwrap(),
        map(&[
            ("m2", Value::Int(20)),
            ("m3", Value::Int(3)),
            ("m9", Value::Int(9))
        ])
    );
    // A live subscriber that keeps its queue short sees single updates merge into one.
    let live = hub.subscribe("ops", opts(Policy::Conflate, 2)).unwrap();
    next(&live);
    for v in [1.0, 2.0, 3.0] {
        hub.publish("ops", cpu(v)).unwrap();
    }
    let got = drain(&live);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].kind(), got[0].seq()), (Kind::Update, 8));
    assert_eq!(*got[0].data().unwrap(), cpu(3.0));
}

#[test]
fn drop_oldest_drops_and_counts_and_the_subscriber_sees_the_gap() {
    let (hub, _) = hub_with(plain());
    let sub = hub.subscribe("ops", opts(Policy::DropOldest, 2)).unwrap();
    for i in 1..=5 {
        hub.publish("ops", cpu(i as f64)).unwrap();
    }
    let got = drain(&sub);
    assert_eq!(got.iter().map(Message::seq).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(sub.stats().dropped, 4, "the snapshot and seqs 1..=3");
    assert_eq!(hub.stats().dropped_oldest, 4);
}

#[test]
fn disconnect_ends_the_subscription_with_slow_consumer() {
    let (hub, _) = hub_with(plain());
    let slow = hub.subscribe("ops", opts(Policy::Disconnect, 2)).unwrap();
    let woke = Arc::new(AtomicUsize::new(0));
    let w = woke.clone();
    slow.on_ready(move || {
        w.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(woke.load(Ordering::SeqCst), 1, "the snapshot is waiting");
    hub.publish("ops", cpu(1.0)).unwrap();
    assert_eq!(hub.topic_stats("ops").unwrap().subscribers, 1);
    hub.publish("ops", cpu(2.0)).unwrap();
    assert_eq!(woke.load(Ordering::SeqCst), 2, "woken by the end");
    assert_eq!(hub.topic_stats("ops").unwrap().subscribers, 0);
    assert_eq!(slow.stats().queued_bytes, 0, "memory freed at once");
    for _ in 0..2 {
        let err = slow.try_recv().unwrap_err();
        assert_eq!(
            (err.clone(), err.code()),
            (Error::SlowConsumer, "slow_consumer")
        );
    }
    assert!(slow.is_closed());
    assert_eq!(hub.stats().disconnected, 1);
    slow.close();
    assert_eq!(slow.try_recv().unwrap_err(), Error::SlowConsumer);
}

#[test]
fn byte_caps_bound_every_policy_and_one_large_message_still_passes() {
    let (hub, _) = hub_with(plain());
    let blob = |i: usize| {
        map(&[
            ("blob", "x".repeat(1000).into()),
            ("n", Value::Int(i as i64)),
        ])
    };
    let cap = 4096;
    let subs: Vec<Subscription> = [Policy::Conflate, Policy::DropOldest]
        .into_iter()
        .map(|policy| {
            let o = SubscribeOptions {
                policy: Some(policy),
                queue_bytes: Some(cap),
                ..SubscribeOptions::default()
            };
            hub.subscribe("ops", o).unwrap()
        })
        .collect();
    for i in 0..50 {
        hub.publish("ops", blob(i)).unwrap();
    }
    for sub in &subs {
        let st = sub.stats();
        assert!(st.peak_bytes <= cap, "{st:?}");
        assert!(st.queued_messages <= 4);
        let got = drain(sub);
        assert_eq!(got.last().unwrap().seq(), 50);
        assert_eq!(
            got.last().unwrap().data().unwrap().get("n"),
            Some(&Value::Int(49))
        );
    }
    let tiny = SubscribeOptions {
        queue_bytes: Some(10),
        ..SubscribeOptions::default()
    };
    let sub = hub.subscribe("ops", tiny).unwrap();
    let snap = next(&sub);
    assert!(snap.raw(Format::MsgPack).unwrap().len() > 10);
    assert_eq!(snap.seq(), 50);
}

#[test]
fn on_ready_runs_when_the_queue_becomes_non_empty_and_on_close() {
    let (hub, _) = hub_with(plain());
    let sub = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
    next(&sub);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    sub.on_ready(move || {
        c.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing queued yet");
    hub.publish("ops", cpu(1.0)).unwrap();
    hub.publish("ops", cpu(2.0)).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "edge-triggered");
    assert_eq!(drain(&sub).len(), 2);
    hub.publish("ops", cpu(3.0)).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    sub.clear_on_ready();
    next(&sub);
    hub.publish("ops", cpu(4.0)).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let c = calls.clone();
    sub.on_ready(move || {
        c.fetch_add(10, Ordering::SeqCst);
    });
    assert_eq!(
        calls.load(Ordering::SeqCst),
        12,
        "called at once: a message waits"
    );
    sub.close();
    assert_eq!(calls.load(Ordering::SeqCst), 22, "called on close");
}

#[test]
fn recv_timeout_times_out_then_wakes_for_a_publish_from_another_thread() {
    let (hub, _) = hub_with(plain());
    let sub = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
    next(&sub);
    assert!(sub
        .recv_timeout(Duration::from_millis(5))
        .unwrap()
        .is_none());
    let publisher = {
        let hub = hub.clone();
        std::thread::spawn(move || hub.publish("ops", cpu(1.0)).unwrap())
    };
    let m = sub.recv_timeout(Duration::from_secs(30)).unwrap().unwrap();
    assert_eq!(m.seq(), 1);
    publisher.join().unwrap();
    let closer = {
        let hub = hub.clone();
        std::thread::spawn(move || hub.remove("ops"))
    };
    let end = sub.recv_timeout(Duration::from_secs(30)).unwrap_err();
    assert_eq!(end, Error::Closed);
    assert!(closer.join().unwrap());
}

#[test]
fn async_recv_waits_without_polling_and_ends_with_none_or_slow_consumer() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let (hub, _) = hub_with(plain());
        let sub = Arc::new(hub.subscribe("ops", SubscribeOptions::default()).unwrap());
        let reader = {
            let sub = sub.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                while let Some(m) = sub.recv().await.unwrap() {
                    seqs.push(m.seq());
                }
                seqs
            })
        };
        for i in 1..=20 {
            hub.publish("ops", cpu(i as f64)).unwrap();
            tokio::task::yield_now().await;
        }
        hub.remove("ops");
        let seqs = reader.await.unwrap();
        assert_eq!(seqs, (0..=20).collect::<Vec<u64>>());

        let slow = hub.subscribe("web", opts(Policy::Disconnect, 1)).unwrap();
        hub.publish("web", cpu(1.0)).unwrap();
        assert_eq!(slow.recv().await.unwrap_err(), Error::SlowConsumer);
        let closed = hub.subscribe("web", SubscribeOptions::default()).unwrap();
        assert_eq!(closed.recv().await.unwrap().unwrap().seq(), 1);
        closed.close();
        assert!(closed.recv().await.unwrap().is_none());
    });
}

#[test]
fn try_recv_many_drains_in_order_then_reports_the_end() {
    let (hub, _) = hub_with(plain());
    let sub = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
    for i in 1..=5 {
        hub.publish("ops", cpu(i as f64)).unwrap();
    }
    let first = sub.try_recv_many(4).unwrap();
    assert_eq!(
        first.iter().map(Message::seq).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert!(sub.try_recv_many(0).unwrap().is_empty());
    let rest = sub.try_recv_many(100).unwrap();
    assert_eq!(rest.iter().map(Message::seq).collect::<Vec<_>>(), [4, 5]);
    assert!(sub.try_recv_many(100).unwrap().is_empty());
    assert_eq!(sub.stats().received, 6);
    hub.publish("ops", cpu(6.0)).unwrap();
    hub.remove("ops");
    assert_eq!(sub.try_recv_many(10).unwrap().len(), 1);
    assert_eq!(sub.try_recv_many(10).unwrap_err(), Error::Closed);
}

#[test]
fn receivers_are_counted_while_they_wait_and_a_push_wakes_a_waiting_one() {
    // Paused time: the timeouts below fire as soon as every task is idle, not after real waiting.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let (hub, _) = hub_with(plain());
        let sub = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
        next(&sub);
        assert_eq!(sub.listening(), 0);
        // A recv future dropped while it waits (a timeout, a `select!`) uncounts itself.
        let timed_out = tokio::time::timeout(Duration::from_millis(1), sub.recv()).await;
        assert!(timed_out.is_err());
        assert_eq!(sub.listening(), 0, "a dropped recv leaves no count");
        assert!(sub
            .recv_timeout(Duration::from_millis(1))
            .unwrap()
            .is_none());
        assert_eq!(
            sub.listening(),
            0,
            "a timed-out recv_timeout leaves no count"
        );
        // With no receiver counted, a push does not touch the event; this one is taken directly.
        hub.publish("ops", cpu(1.0)).unwrap();
        assert_eq!(sub.recv().await.unwrap().unwrap().seq(), 1);
        // A receiver waiting in another task is counted, and the push wakes it (without the wake
        // this would time out).
        let sub = Arc::new(sub);
        let waiting = tokio::spawn({
            let sub = sub.clone();
            async move { sub.recv().await }
        });
        for _ in 0..100 {
            if sub.listening() == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(sub.listening(), 1, "a waiting recv is counted");
        hub.publish("ops", cpu(2.0)).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(30), waiting).await;
        assert_eq!(got.unwrap().unwrap().unwrap().unwrap().seq(), 2);
        assert_eq!(sub.listening(), 0);
    });
}

#[test]
fn a_pin_keeps_the_publication_key_but_not_its_content() {
    // A binding's cache keyed by `publication_key` holds a pin per entry: while it lives no other
    // publication can take that address, yet the data goes with the last message (the encoded bytes
    // too, but for what history keeps of them).
    let (hub, _) = hub_with(plain());
    let sub = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
    let _snapshot = sub.try_recv().unwrap().unwrap();
    hub.publish("ops", cpu(0.5)).unwrap();
    let msg = sub.try_recv().unwrap().unwrap();
    let key = msg.publication_key();
    let data = Arc::downgrade(&msg.data().unwrap());
    let pin = msg.pin();
    assert!(data.upgrade().is_some());
    drop(msg);
    assert!(data.upgrade().is_none(), "the pin kept the data alive");
    // Later publications never reuse the pinned address.
    for i in 0..1_000 {
        hub.publish("ops", cpu(f64::from(i))).unwrap();
        let m = sub.try_recv().unwrap().unwrap();
        assert_ne!(m.publication_key(), key);
    }
    drop(pin);
}
