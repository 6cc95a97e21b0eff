//! Several hubs sharing their dashboards through one real `redis-server` (started here, loopback,
//! spare port): seq order and epoch agree on every node, a client resumes on another node, a dropped
//! bus subscription is filled from the shared history, a Redis restarted empty is a new epoch that
//! subscribers see as `recovered: false`, ids are deduplicated cluster-wide, and a Redis that is down
//! fails publishes with a code while local subscribers keep what they have.

mod broker_support;

use broker_support::{wait_until, Redis};
use dashfeed::cluster::{Cluster, ClusterConfig};
use dashfeed::codec::Value;
use dashfeed::hub::{
    Hub, HubConfig, Kind, Message, Outgoing, Policy, SubscribeOptions, Subscription,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn node(redis: &Redis) -> (Hub, Cluster) {
    node_with(redis, HubConfig::default())
}

/// A node whose hub has `config`, its bus subscribed.
fn node_with(redis: &Redis, config: HubConfig) -> (Hub, Cluster) {
    let hub = Hub::new(config).unwrap();
    let rt = dashfeed::runtime::handle().unwrap();
    let cluster = Cluster::start(ClusterConfig::new(redis.url()), &hub, &rt).unwrap();
    assert!(rt.block_on(cluster.wait_connected(T)), "bus subscribed");
    (hub, cluster)
}

/// What Redis holds for `key`, in bytes (`MEMORY USAGE`).
fn memory_usage(con: &mut redis::Connection, key: &str) -> u64 {
    redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(key)
        .query(con)
        .unwrap()
}

/// Publication `n` carrying a 1,000-byte string (for the history bounds in bytes).
fn kilobyte(n: i64) -> Value {
    Value::Map(vec![
        (Value::Str("n".into()), Value::Int(n)),
        (Value::Str("blob".into()), Value::Str("x".repeat(1000))),
    ])
}

fn metric(name: &str, v: i64) -> Value {
    Value::Map(vec![(Value::Str(name.into()), Value::Int(v))])
}

/// Every message of `sub` until `pred` holds for the last one (bounded).
fn recv_until(sub: &Subscription, pred: impl Fn(&Message) -> bool) -> Vec<Message> {
    let mut got = Vec::new();
    loop {
        let m = sub
            .recv_timeout(T)
            .unwrap()
            .unwrap_or_else(|| panic!("timed out after {} messages", got.len()));
        let done = pred(&m);
        got.push(m);
        if done {
            return got;
        }
    }
}

fn big_queue() -> SubscribeOptions {
    SubscribeOptions {
        policy: Some(Policy::Disconnect),
        queue_messages: Some(100_000),
        queue_bytes: Some(1 << 30),
        ..SubscribeOptions::default()
    }
}

#[test]
fn three_nodes_agree_on_seq_order_and_epoch() {
    let redis = Redis::start(false);
    let nodes: Vec<(Hub, Cluster)> = (0..3).map(|_| node(&redis)).collect();
    let subs: Vec<Subscription> = nodes
        .iter()
        .map(|(h, _)| h.subscribe("ops", big_queue()).unwrap())
        .collect();
    let per = 500;
    std::thread::scope(|s| {
        for (n, (hub, _)) in nodes.iter().take(2).enumerate() {
            s.spawn(move || {
                for i in 0..per {
                    hub.publish("ops", metric(&format!("n{n}"), i)).unwrap();
                }
            });
        }
    });
    let mut logs = Vec::new();
    for sub in &subs {
        let first = sub.recv_timeout(T).unwrap().unwrap();
        assert_eq!((first.kind(), first.seq()), (Kind::Snapshot, 0));
        let msgs = recv_until(sub, |m| m.seq() == 2 * per as u64);
        let seqs: Vec<u64> = msgs.iter().map(|m| m.seq()).collect();
        assert_eq!(seqs, (1..=2 * per as u64).collect::<Vec<_>>());
        assert!(msgs.iter().all(|m| m.epoch() == first.epoch()));
        let data: Vec<Value> = msgs.iter().map(|m| (*m.data().unwrap()).clone()).collect();
        logs.push(data);
    }
    assert_eq!(logs[0], logs[1]);
    assert_eq!(logs[0], logs[2]);
    // Each publisher's own order is kept within the shared order.
    for n in 0..2 {
        let name = format!("n{n}");
        let mine: Vec<&Value> = logs[0].iter().filter_map(|d| d.get(&name)).collect();
        let want: Vec<Value> = (0..per).map(Value::Int).collect();
        assert_eq!(mine, want.iter().collect::<Vec<_>>());
    }
    // The snapshot of a node that never mirrored the dashboard comes from Redis.
    let (late, _late_cluster) = node(&redis);
    let snap = late.snapshot("ops").unwrap().unwrap();
    assert_eq!(snap.seq(), 2 * per as u64);
    assert_eq!(snap.epoch(), nodes[0].0.topic_stats("ops").unwrap().epoch);
    let want = nodes[1].0.snapshot("ops").unwrap().unwrap();
    assert_eq!(
        snap.data().unwrap().get("n0"),
        want.data().unwrap().get("n0")
    );
    assert_eq!(
        snap.data().unwrap().get("n1"),
        want.data().unwrap().get("n1")
    );
    assert!(late.snapshot("never-published").unwrap().is_none());
}

#[test]
fn a_client_resumes_on_another_node_with_every_missed_publication() {
    let redis = Redis::start(false);
    let (a, _ca) = node(&redis);
    let (b, _cb) = node(&redis);
    let (c, _cc) = node(&redis);
    let sub = a.subscribe("ops", big_queue()).unwrap();
    for i in 1..=10 {
        b.publish("ops", metric("cpu", i)).unwrap();
    }
    let got = recv_until(&sub, |m| m.seq() == 10);
    let epoch = got[0].epoch().to_owned();
    drop(sub); // the connection to node A is lost
    for i in 11..=15 {
        b.publish("ops", metric("cpu", i)).unwrap();
    }
    // Node C never mirrored "ops": the resume is served from the shared history.
    let resumed = c
        .subscribe("ops", SubscribeOptions::since(epoch.clone(), 10))
        .unwrap();
    let head = resumed.recv_timeout(T).unwrap().unwrap();
    assert_eq!(head.kind(), Kind::Recovered);
    assert_eq!((head.recovered(), head.missed()), (Some(true), Some(5)));
    let missed = recv_until(&resumed, |m| m.seq() == 15);
    let values: Vec<Value> = missed
        .iter()
        .map(|m| m.data().unwrap().get("cpu").cloned().unwrap())
        .collect();
    assert_eq!(values, (11..=15).map(Value::Int).collect::<Vec<_>>());
    // Live updates follow on node C, made on node A.
    a.publish("ops", metric("cpu", 16)).unwrap();
    let live = resumed.recv_timeout(T).unwrap().unwrap();
    assert_eq!((live.kind(), live.seq()), (Kind::Update, 16));
    // A resume point of an unknown epoch is a fresh snapshot, never a partial set.
    let stale = b
        .subscribe("ops", SubscribeOptions::since("0000000000000000", 3))
        .unwrap();
    let snap = stale.recv_timeout(T).unwrap().unwrap();
    assert_eq!(
        (snap.kind(), snap.recovered(), snap.seq()),
        (Kind::Snapshot, Some(false), 16)
    );
    assert_eq!(snap.data().unwrap().get("cpu"), Some(&Value::Int(16)));
}

#[test]
fn a_dropped_bus_subscription_is_filled_from_the_shared_history() {
    let redis = Redis::start(false);
    let (a, ca) = node(&redis);
    let (b, _cb) = node(&redis);
    let sub = a.subscribe("ops", big_queue()).unwrap();
    let _ = sub.recv_timeout(T).unwrap().unwrap();
    b.publish("ops", metric("cpu", 1)).unwrap();
    recv_until(&sub, |m| m.seq() == 1);
    // Kill every pub/sub connection: node A's bus is down while B publishes.
    let mut con = redis.con();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut con)
        .unwrap();
    assert!(killed >= 2);
    for i in 2..=50 {
        b.publish("ops", metric("cpu", i)).unwrap();
    }
    let got = recv_until(&sub, |m| m.seq() == 50);
    let seqs: Vec<u64> = got.iter().map(|m| m.seq()).collect();
    assert_eq!(seqs, (2..=50).collect::<Vec<_>>(), "no gap, no duplicate");
    assert!(got.iter().all(|m| m.kind() == Kind::Update));
    wait_until("bus back up", T, || ca.is_connected());
    let bus = &ca.links()[1];
    assert!(bus.stats().retries >= 1);
}

#[test]
fn redis_restarted_empty_is_a_new_epoch_seen_as_recovered_false() {
    let mut redis = Redis::start(false);
    let (a, ca) = node(&redis);
    let (b, cb) = node(&redis);
    let sub = a.subscribe("ops", big_queue()).unwrap();
    let _ = sub.recv_timeout(T).unwrap().unwrap();
    for i in 1..=5 {
        b.publish("ops", metric("cpu", i)).unwrap();
    }
    let before = recv_until(&sub, |m| m.seq() == 5);
    let old_epoch = before[0].epoch().to_owned();
    redis.restart();
    // While Redis is away and after: publishes fail with a code until it answers again.
    let mut published = None;
    for i in 0..400 {
        match b.publish("ops", metric("mem", i)) {
            Ok(seq) => {
                published = Some(seq);
                break;
            }
            Err(e) => {
                assert!(
                    ["io_error", "timeout", "circuit_open"].contains(&e.code()),
                    "{e}"
                );
                std::thread::sleep(Duration::from_millis(25));
            }
        }
    }
    assert_eq!(published, Some(1), "a new epoch starts at seq 1");
    // The live subscriber on A is told: a recovered=false snapshot in the new epoch, then updates.
    let m = recv_until(&sub, |m| m.kind() == Kind::Snapshot);
    let snap = m.last().unwrap();
    assert_eq!(snap.recovered(), Some(false));
    assert_ne!(snap.epoch(), old_epoch);
    // Local values stay under the new ones (what the node had).
    assert_eq!(snap.data().unwrap().get("cpu"), Some(&Value::Int(5)));
    // The node's bus resynced on reconnect (a snapshot at seq 0 of the new epoch, then the update)
    // or on the first publication of the new epoch (a snapshot holding it).
    if snap.seq() == 0 {
        let next = sub.recv_timeout(T).unwrap().unwrap();
        assert_eq!((next.kind(), next.seq()), (Kind::Update, 1));
        assert_eq!(next.epoch(), snap.epoch());
        assert!(next.data().unwrap().get("mem").is_some());
    } else {
        assert_eq!(snap.seq(), 1);
        assert!(snap.data().unwrap().get("mem").is_some());
    }
    // A client resuming from the old epoch on any node gets recovered=false (a node whose bus is
    // still reconnecting refuses a new mirror with io_error: wait for it).
    wait_until("node b's bus back up", T, || cb.is_connected());
    let resumed = b
        .subscribe("ops", SubscribeOptions::since(old_epoch, 5))
        .unwrap();
    let first = resumed.recv_timeout(T).unwrap().unwrap();
    assert_eq!(
        (first.kind(), first.recovered()),
        (Kind::Snapshot, Some(false))
    );
    wait_until("bus back up", T, || ca.is_connected());
}

#[test]
fn ids_are_deduplicated_cluster_wide() {
    let redis = Redis::start(false);
    let (a, _ca) = node(&redis);
    let (b, _cb) = node(&redis);
    assert_eq!(
        a.publish_with_id("ops", "w:1000", metric("cpu", 1))
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        b.publish_with_id("ops", "w:1000", metric("cpu", 2))
            .unwrap(),
        None
    );
    assert_eq!(b.stats().dedupe_dropped, 1);
    assert_eq!(
        b.publish_with_id("ops", "w:2000", metric("cpu", 3))
            .unwrap(),
        Some(2)
    );
}

#[test]
fn redis_down_fails_publishes_with_a_code_and_keeps_local_subscribers() {
    let mut redis = Redis::start(false);
    let (a, ca) = node(&redis);
    let sub = a.subscribe("ops", big_queue()).unwrap();
    let _ = sub.recv_timeout(T).unwrap().unwrap();
    a.publish("ops", metric("cpu", 1)).unwrap();
    recv_until(&sub, |m| m.seq() == 1);
    redis.kill();
    let codes: Vec<&'static str> = (0..6)
        .map(|i| a.publish("ops", metric("cpu", 10 + i)).unwrap_err().code())
        .collect();
    assert!(
        codes
            .iter()
            .all(|c| ["io_error", "timeout", "circuit_open"].contains(c)),
        "{codes:?}"
    );
    assert!(
        codes.contains(&"circuit_open"),
        "the breaker opens: {codes:?}"
    );
    wait_until("links down", T, || ca.links().iter().all(|l| !l.stats().up));
    // The local subscriber and snapshot are intact.
    assert!(!sub.is_closed());
    let snap = a.snapshot("ops").unwrap().unwrap();
    assert_eq!(
        (snap.seq(), snap.data().unwrap().get("cpu")),
        (1, Some(&Value::Int(1)))
    );
}

#[test]
fn a_redis_behind_the_nodes_is_a_new_epoch_never_reused_seqs() {
    let redis = Redis::start(false);
    let (a, ca) = node(&redis);
    let sub = a.subscribe("ops", big_queue()).unwrap();
    let _ = sub.recv_timeout(T).unwrap().unwrap();
    for i in 1..=10 {
        a.publish("ops", metric("cpu", i)).unwrap();
    }
    let got = recv_until(&sub, |m| m.seq() == 10);
    let epoch = got[0].epoch().to_owned();
    // Redis comes back from an older save: the same epoch, three publications fewer.
    let mut con = redis.con();
    let _: () = redis::cmd("HSET")
        .arg("dashfeed:meta:ops")
        .arg("seq")
        .arg(7)
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("XTRIM")
        .arg("dashfeed:history:ops")
        .arg("MAXLEN")
        .arg(7)
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut con)
        .unwrap();
    // On reconnect the node finds Redis behind it: a new epoch, seen as recovered=false.
    let reset = recv_until(&sub, |m| m.kind() == Kind::Snapshot);
    let snap = reset.last().unwrap();
    assert_eq!(snap.recovered(), Some(false));
    assert_ne!(snap.epoch(), epoch);
    wait_until("bus back up", T, || ca.is_connected());
    let seq = a.publish("ops", metric("cpu", 11)).unwrap();
    let next = recv_until(&sub, |m| m.seq() == seq);
    assert_eq!(next.last().unwrap().epoch(), snap.epoch());
}

#[test]
fn the_shared_history_is_bounded_in_redis_and_on_each_node() {
    let redis = Redis::start(false);
    let (hub, _cluster) = node_with(
        &redis,
        HubConfig {
            history: 100,
            ..HubConfig::default()
        },
    );
    let sub = hub.subscribe("ops", big_queue()).unwrap();
    for i in 0..3000 {
        hub.publish("ops", kilobyte(i)).unwrap();
    }
    recv_until(&sub, |m| m.seq() == 3000);
    let mut con = redis.con();
    let len: u64 = redis::cmd("XLEN")
        .arg("dashfeed:history:ops")
        .query(&mut con)
        .unwrap();
    assert!(
        (100..=300).contains(&len),
        "MINID ~ seq - 99 keeps {len} entries"
    );
    let bytes = memory_usage(&mut con, "dashfeed:history:ops");
    assert!(
        bytes < 400_000,
        "the stream holds {bytes} bytes for 3,000 publications of ~1 KB"
    );
    let snapshot_bytes = memory_usage(&mut con, "dashboard:ops");
    assert!(
        snapshot_bytes < 8_000,
        "one entry per metric: {snapshot_bytes}"
    );
    assert!(hub.topic_stats("ops").unwrap().history <= 100);
}

#[test]
fn batched_history_entries_stay_within_the_bound_in_bytes() {
    // Entries grouped per script call hold up to 128 publications each: trimming by seq (MINID ~)
    // must still keep about `history` publications' worth, measured in Redis memory, not entries.
    let redis = Redis::start(false);
    let (hub, _cluster) = node_with(
        &redis,
        HubConfig {
            history: 100,
            ..HubConfig::default()
        },
    );
    let sub = hub.subscribe("ops", big_queue()).unwrap();
    let mut n = 0i64;
    for _ in 0..47 {
        let items: Vec<Outgoing> = (0..64)
            .map(|_| {
                n += 1;
                Outgoing::new("ops", None, kilobyte(n))
            })
            .collect();
        hub.publish_many(items).unwrap();
    }
    recv_until(&sub, |m| m.seq() == 47 * 64);
    let mut con = redis.con();
    let bytes = memory_usage(&mut con, "dashfeed:history:ops");
    assert!(
        bytes < 400_000,
        "the stream holds {bytes} bytes for 3,008 publications of ~1 KB in 47 entries (history 100)"
    );
    assert!(hub.topic_stats("ops").unwrap().history <= 100);
}

#[test]
fn a_bus_message_wakes_a_subscriber_once_with_all_its_publications() {
    // A connection drains its queue on every wake-up (as the server's does): were the frames of a
    // bus message applied with a wake-up each, it would be woken (and write) once per publication.
    let redis = Redis::start(false);
    let (publisher, _a) = node(&redis);
    let (observer, _b) = node(&redis);
    let sub = Arc::new(observer.subscribe("ops", big_queue()).unwrap());
    let wakes = Arc::new(AtomicUsize::new(0));
    let got = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let (w, g, weak) = (wakes.clone(), got.clone(), Arc::downgrade(&sub));
    sub.on_ready(move || {
        w.fetch_add(1, Ordering::SeqCst);
        if let Some(s) = weak.upgrade() {
            g.lock().extend(s.try_recv_many(usize::MAX).unwrap());
        }
    });
    wait_until("the snapshot", T, || !got.lock().is_empty()); // the snapshot
    let before = wakes.load(Ordering::SeqCst);
    // 30 publications: one script call (batch 128), so one bus message of 30 frames.
    let items = (0..30)
        .map(|i| Outgoing::new("ops", None, metric("cpu", i)))
        .collect();
    publisher.publish_many(items).unwrap();
    wait_until("31 messages", T, || got.lock().len() == 31);
    let seqs: Vec<u64> = got.lock().iter().map(|m| m.seq()).collect();
    assert_eq!(seqs, (0..=30).collect::<Vec<_>>());
    let woken = wakes.load(Ordering::SeqCst) - before;
    assert_eq!(
        woken, 1,
        "one wake-up for the bus message's 30 publications"
    );
}

#[test]
fn a_batch_is_one_history_entry_per_dashboard_and_a_resume_starts_inside_it() {
    // One publish_many of 300 publications over three dashboards is 3 script calls (128 each at
    // most); each call appends one stream entry per dashboard holding all its publications. A
    // dashboard whose publications carry ids (one repeated) goes publication by publication in Redis.
    let redis = Redis::start(false);
    let (a, _ca) = node(&redis);
    let (b, _cb) = node(&redis);
    let sub = a.subscribe("g2", big_queue()).unwrap();
    let items: Vec<Outgoing> = (0..300i64)
        .map(|i| {
            let d = format!("g{}", i % 3);
            let id = match i % 3 {
                0 if i == 30 => Some("again".to_owned()),
                0 => Some(format!("id{}", i.min(60))), // 60, 63, 66, ... repeat id60
                _ => None,
            };
            Outgoing::new(d.as_str(), id, metric("v", i))
        })
        .collect();
    let seqs = a.publish_many(items).unwrap();
    // g1 and g2: every publication numbered, gap-free, in publish order.
    for d in [1usize, 2] {
        let mine: Vec<Option<u64>> = seqs.iter().skip(d).step_by(3).copied().collect();
        assert_eq!(mine, (1..=100).map(Some).collect::<Vec<_>>());
    }
    // g0: ids 0, 3, ..., 57, again, id60 are new; the 79 later repeats of id60 are dropped.
    let g0: Vec<Option<u64>> = seqs.iter().step_by(3).copied().collect();
    assert_eq!(g0.iter().flatten().count(), 21);
    assert_eq!(g0[..21], (1..=21).map(Some).collect::<Vec<_>>()[..]);
    assert!(g0[21..].iter().all(Option::is_none));
    let got = recv_until(&sub, |m| m.seq() == 100);
    let epoch = got[0].epoch().to_owned();
    let mut con = redis.con();
    for d in ["g0", "g1", "g2"] {
        let len: u64 = redis::cmd("XLEN")
            .arg(format!("dashfeed:history:{d}"))
            .query(&mut con)
            .unwrap();
        assert!((1..=3).contains(&len), "{d}: {len} entries for one batch");
    }
    let snap: String = redis::cmd("HGET")
        .arg("dashboard:g2")
        .arg("v")
        .query(&mut con)
        .unwrap();
    assert!(
        snap.contains("\"value\":299"),
        "the newest value wins: {snap}"
    );
    // Node B never mirrored g2: it resumes from seq 50, inside a stream entry.
    assert_eq!(
        resume_values(&b, "g2", &epoch, 50, 100),
        (50..100).map(|k| Value::Int(3 * k + 2)).collect::<Vec<_>>()
    );
    // And g0 from seq 7: what was kept, without the dropped repeats.
    let g0_epoch = a.snapshot("g0").unwrap().unwrap().epoch().to_owned();
    assert_eq!(
        resume_values(&b, "g0", &g0_epoch, 7, 21),
        (7..21).map(|k| Value::Int(3 * k)).collect::<Vec<_>>()
    );
}

/// Resumes `dashboard` on `hub` from `(epoch, since)`: checks the `recovered: true` header and returns
/// the `v` of every missed publication up to seq `last`.
fn resume_values(hub: &Hub, dashboard: &str, epoch: &str, since: u64, last: u64) -> Vec<Value> {
    let resumed = hub
        .subscribe(dashboard, SubscribeOptions::since(epoch.to_owned(), since))
        .unwrap();
    let head = resumed.recv_timeout(T).unwrap().unwrap();
    assert_eq!(
        (head.recovered(), head.missed()),
        (Some(true), Some(last - since))
    );
    recv_until(&resumed, |m| m.seq() == last)
        .iter()
        .map(|m| m.data().unwrap().get("v").cloned().unwrap())
        .collect()
}
