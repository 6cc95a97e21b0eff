//! Many publishers and subscribers on many threads: every subscriber that keeps up sees each topic's
//! publications exactly once, in seq order, with each publisher's own order kept — including subscribers
//! that join or resume while publishers run.

use dashfeed::hub::{Hub, HubConfig, Kind, Message, Policy, SubscribeOptions, Subscription};
use dashfeed::Value;
use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

const TOPICS: usize = 3;
const PUBLISHERS: usize = 4;
const PER_PUBLISHER: u64 = 1500;
const TOTAL: u64 = PUBLISHERS as u64 * PER_PUBLISHER;
const WAIT: Duration = Duration::from_secs(60);

fn topic(t: usize) -> String {
    format!("t{t}")
}

fn int(m: &Message, key: &str) -> i64 {
    match m.data().unwrap().get(key) {
        Some(Value::Int(i)) => *i,
        other => panic!("{key} = {other:?}"),
    }
}

/// Options under which any loss would be visible: the queue holds a whole run, and overflowing it would
/// end the subscription with an error.
fn lossless(since: Option<(String, u64)>) -> SubscribeOptions {
    SubscribeOptions {
        policy: Some(Policy::Disconnect),
        queue_messages: Some(TOTAL as usize + 2),
        queue_bytes: Some(64 << 20),
        since: since.map(|(e, s)| dashfeed::hub::Since::new(e, s)),
        ..SubscribeOptions::default()
    }
}

/// Receives until seq `TOTAL`, checking order; returns the first seq seen after the first messages.
fn follow(sub: &Subscription) -> u64 {
    let first = sub.recv_timeout(WAIT).unwrap().expect("first message");
    let mut expected_next = match first.kind() {
        Kind::Snapshot => first.seq() + 1,
        Kind::Recovered => first.seq() + 1 - first.missed().unwrap(),
        Kind::Update => panic!("an update came first"),
    };
    let start = expected_next;
    let mut last_n: HashMap<i64, i64> = HashMap::new();
    for _ in 0..=TOTAL {
        if expected_next > TOTAL {
            break;
        }
        let m = sub
            .recv_timeout(WAIT)
            .unwrap()
            .expect("no message within the wait");
        assert_eq!(m.kind(), Kind::Update);
        assert_eq!(
            m.seq(),
            expected_next,
            "{}: gap or reorder",
            sub.dashboard()
        );
        let (p, n) = (int(&m, "p"), int(&m, "n"));
        if let Some(prev) = last_n.insert(p, n) {
            assert_eq!(n, prev + 1, "publisher {p} out of order");
        }
        expected_next += 1;
    }
    assert_eq!(expected_next, TOTAL + 1);
    start
}

#[test]
fn concurrent_publishers_and_subscribers_keep_order_and_lose_nothing() {
    let hub = Hub::new(HubConfig {
        history: TOTAL as usize,
        ..HubConfig::default()
    })
    .unwrap();
    let start = Arc::new(Barrier::new(PUBLISHERS + 1));

    // Three subscribers per topic from the start, each on its own thread.
    let mut readers = Vec::new();
    for t in 0..TOPICS {
        for _ in 0..3 {
            let sub = hub.subscribe(&topic(t), lossless(None)).unwrap();
            readers.push(thread::spawn(move || follow(&sub)));
        }
    }
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let hub = hub.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                for n in 0..PER_PUBLISHER {
                    for t in 0..TOPICS {
                        let data = Value::Map(vec![
                            ("p".into(), Value::Int(p as i64)),
                            ("n".into(), Value::Int(n as i64)),
                        ]);
                        hub.publish(&topic(t), data).unwrap();
                    }
                }
            })
        })
        .collect();
    start.wait();

    // Subscribers joining and resuming while the publishers run.
    let mut late = Vec::new();
    for t in 0..TOPICS {
        let name = topic(t);
        let joined = hub.subscribe(&name, lossless(None)).unwrap();
        late.push(thread::spawn(move || follow(&joined)));
        let snap = hub.snapshot(&name).unwrap().unwrap();
        let since = Some((snap.epoch().to_owned(), snap.seq()));
        let resumed = hub.subscribe(&name, lossless(since)).unwrap();
        late.push(thread::spawn(move || follow(&resumed)));
    }

    for p in publishers {
        p.join().unwrap();
    }
    for r in readers {
        assert_eq!(
            r.join().unwrap(),
            1,
            "early subscribers see every publication"
        );
    }
    for r in late {
        assert!(r.join().unwrap() >= 1);
    }
    let stats = hub.stats();
    assert_eq!(stats.publications, TOTAL * TOPICS as u64);
    assert_eq!(stats.disconnected, 0);
    assert!(stats.topics.iter().all(|t| t.seq == TOTAL));
    // One encode per publication (every subscriber reads MessagePack), plus a few snapshots and headers.
    let publications = TOTAL * TOPICS as u64;
    assert!(
        (publications..=publications + 4 * TOPICS as u64).contains(&stats.encodes),
        "{}",
        stats.encodes
    );
    for t in &stats.topics {
        let snap = hub.snapshot(&t.dashboard).unwrap().unwrap();
        assert_eq!(
            snap.data().unwrap().get("n"),
            Some(&Value::Int(PER_PUBLISHER as i64 - 1))
        );
    }
}

#[test]
fn subscribers_come_and_go_while_publishing() {
    let hub = Hub::new(HubConfig::default()).unwrap();
    let publisher = {
        let hub = hub.clone();
        thread::spawn(move || {
            for n in 0..2000i64 {
                hub.publish("ops", Value::Map(vec![("n".into(), Value::Int(n))]))
                    .unwrap();
            }
        })
    };
    let churners: Vec<_> = (0..4)
        .map(|_| {
            let hub = hub.clone();
            thread::spawn(move || {
                for _ in 0..200 {
                    let sub = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
                    let first = sub.try_recv().unwrap().unwrap();
                    assert_eq!(first.kind(), Kind::Snapshot);
                    let mut last = first.seq();
                    for _ in 0..10 {
                        match sub.try_recv().unwrap() {
                            Some(m) => {
                                assert!(m.seq() > last);
                                last = m.seq();
                            }
                            None => break,
                        }
                    }
                }
            })
        })
        .collect();
    publisher.join().unwrap();
    for c in churners {
        c.join().unwrap();
    }
    assert_eq!(hub.topic_stats("ops").unwrap().subscribers, 0);
}
