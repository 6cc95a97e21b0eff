//! Redis connectors against a real `redis-server` (started here, loopback, spare port): the cache's
//! layout, pipelining and re-seeding after a restart, the stream source's at-least-once delivery
//! (pending entries, a dead consumer's entries claimed, a target that refuses, `kill -9`), the
//! stream and pub/sub sinks, and a slow sink's bound.

mod alloc_support;
mod broker_support;

use alloc_support::{Counting, LIVE};

#[global_allocator]
static ALLOC: Counting = Counting;

use broker_support::{wait_until, Collect, Redis};
use dashfeed::breaker::{BreakerEvent, State};
use dashfeed::codec::Value;
use dashfeed::connect::redis::{
    RedisCache, RedisCacheConfig, RedisPubSubSourceConfig, RedisStreamSink, RedisStreamSinkConfig,
    RedisStreamSource, RedisStreamSourceConfig,
};
use dashfeed::connect::{QueueConfig, SinkSpec, SourceSpec};
use dashfeed::hub::{Hub, HubConfig, SubscribeOptions};
use parking_lot::Mutex;
use redis::Commands;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn rt() -> tokio::runtime::Handle {
    dashfeed::runtime::handle().unwrap()
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    rt().block_on(f)
}

fn metric(name: &str, v: f64) -> Value {
    Value::Map(vec![(Value::Str(name.into()), Value::Float(v))])
}

fn cmd_calls(con: &mut redis::Connection, cmd: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{cmd}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn cache_writes_the_reference_layout_in_few_round_trips_and_seeds_a_new_hub() {
    let redis = Redis::start(false);
    let mut con = redis.con();
    let hub = Hub::new(HubConfig::default()).unwrap();
    let cache = RedisCache::start(
        RedisCacheConfig {
            url: redis.url(),
            ttl_s: Some(600),
            ..RedisCacheConfig::default()
        },
        &rt(),
    )
    .unwrap();
    cache.attach(&hub);
    // Writes paused: the first batch waits in Redis, the next 999 publications queue up behind it.
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(300)
        .arg("WRITE")
        .query(&mut con)
        .unwrap();
    for i in 0..1000 {
        let d = if i % 2 == 0 { "sales" } else { "ops" };
        hub.publish(d, metric(&format!("m{}", i % 10), i as f64))
            .unwrap();
    }
    // An event with metadata keeps it (the reference notes' `{value, timestamp, metadata}`).
    let ev = dashfeed::Event::new("sales", "orders", 3.0, Some(1_700_000_000_000)).unwrap();
    let mut ev = ev;
    ev.metadata = Some(Value::Map(vec![("region".into(), Value::Int(1))]));
    hub.publish("sales", ev.published_data()).unwrap();
    block(cache.flush(T)).unwrap();
    let hset = cmd_calls(&mut con, "hset");
    assert!(
        hset <= 6,
        "1001 publications written with {hset} HSET calls (pipelined batches)"
    );
    let sales: HashMap<String, String> = con.hgetall("dashboard:sales").unwrap();
    assert_eq!(sales.len(), 6, "{sales:?}");
    let m8: serde_json::Value = serde_json::from_str(&sales["m8"]).unwrap();
    assert_eq!(m8["value"], 998.0);
    assert!(m8["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(m8["metadata"], serde_json::json!({}));
    let orders: serde_json::Value = serde_json::from_str(&sales["orders"]).unwrap();
    assert_eq!(orders["metadata"], serde_json::json!({"region": 1}));
    assert_eq!(orders["timestamp"], 1_700_000_000_000i64);
    let ttl: i64 = con.ttl("dashboard:sales").unwrap();
    assert!(ttl > 500, "ttl {ttl}");

    // A restarted node: a fresh hub seeded from the cache serves the initial state at once.
    let fresh = Hub::new(HubConfig::default()).unwrap();
    assert_eq!(block(cache.seed(&fresh)).unwrap(), 2);
    let snap = fresh.snapshot("ops").unwrap().unwrap();
    assert_eq!(snap.seq(), 0);
    assert_eq!(snap.data().unwrap().get("m9"), Some(&Value::Float(999.0)));
    let sales_snap = fresh.snapshot("sales").unwrap().unwrap().data().unwrap();
    assert!(matches!(sales_snap.get("orders"), Some(Value::Map(_))));
    block(cache.close(T)).unwrap();
}

#[test]
fn cache_survives_kill_9_and_rewrites_a_redis_that_restarted_empty() {
    let mut redis = Redis::start(false);
    let hub = Hub::new(HubConfig::default()).unwrap();
    let cache = RedisCache::start(
        RedisCacheConfig {
            url: redis.url(),
            ..RedisCacheConfig::default()
        },
        &rt(),
    )
    .unwrap();
    let transitions = Arc::new(Mutex::new(Vec::new()));
    let seen = transitions.clone();
    cache.core().link().breaker().add_listener(move |e| {
        if let BreakerEvent::StateChange { to, .. } = e {
            seen.lock().push(*to);
        }
    });
    cache.attach(&hub);
    hub.publish("old", metric("kept", 1.0)).unwrap();
    block(cache.flush(T)).unwrap();

    redis.kill();
    // Publications while Redis is down wait in the queue; the breaker opens.
    for i in 0..20 {
        hub.publish("live", metric("n", f64::from(i))).unwrap();
    }
    wait_until("breaker open", T, || {
        transitions.lock().contains(&State::Open)
    });
    let link = cache.core().link().clone();
    assert!(dashfeed::metrics::HealthCheck::check(&*link).is_err());
    redis.restart(); // empty: no persistence
    block(cache.flush(T)).unwrap();
    let mut con = redis.con();
    let live: HashMap<String, String> = con.hgetall("dashboard:live").unwrap();
    let n: serde_json::Value = serde_json::from_str(&live["n"]).unwrap();
    assert_eq!(n["value"], 19.0);
    // `old` was not published again, yet the cache re-seeded it from the hub (new run_id).
    let old: HashMap<String, String> = con.hgetall("dashboard:old").unwrap();
    assert!(
        old.contains_key("kept"),
        "re-seeded after the empty restart: {old:?}"
    );
    let t = transitions.lock().clone();
    assert!(
        t.windows(3)
            .any(|w| w == [State::Open, State::HalfOpen, State::Closed]),
        "open → half-open → closed: {t:?}"
    );
    assert!(dashfeed::metrics::HealthCheck::check(&*link).is_ok());
    block(cache.close(T)).unwrap();
}

fn xadd_json(con: &mut redis::Connection, stream: &str, body: &str) {
    let _: String = con.xadd(stream, "*", &[("data", body)]).unwrap();
}

fn source(
    redis: &Redis,
    stream: &str,
    consumer: &str,
    claim_idle_ms: u64,
) -> RedisStreamSourceConfig {
    RedisStreamSourceConfig {
        consumer: Some(consumer.into()),
        claim_idle_ms,
        block_ms: 100,
        count: 50,
        dead_letter: Some(format!("{stream}:dead")),
        ..RedisStreamSourceConfig::new(redis.url(), stream)
    }
}

fn pending(con: &mut redis::Connection, stream: &str) -> usize {
    let r: redis::streams::StreamPendingReply = con.xpending(stream, "dashfeed").unwrap();
    r.count()
}

#[test]
fn stream_source_acknowledges_after_apply_dead_letters_garbage_and_claims_a_dead_consumers_entries()
{
    let redis = Redis::start(false);
    let mut con = redis.con();
    for i in 0..100 {
        xadd_json(
            &mut con,
            "events",
            &format!(
                r#"{{"dashboard_id":"d","metric_name":"m","value":{i},"timestamp":1700000000}}"#
            ),
        );
    }
    // Flat fields, as `XADD s * dashboard_id d metric_name cpu value 0.5` writes them.
    let _: String = con
        .xadd(
            "events",
            "*",
            &[
                ("dashboard_id", "d"),
                ("metric_name", "cpu"),
                ("value", "0.5"),
            ],
        )
        .unwrap();
    xadd_json(&mut con, "events", "{not json");
    xadd_json(
        &mut con,
        "events",
        r#"{"dashboard":"d","metric":"m","value":"NaN?"}"#,
    );

    // A target that refuses its first 3 batches: nothing is acknowledged until it accepts.
    let target = Arc::new(Collect::new());
    target.refuse_first.store(3, Ordering::SeqCst);
    let src =
        RedisStreamSource::start(source(&redis, "events", "a", 60_000), target.clone(), &rt())
            .unwrap();
    target.wait_for("101 events", T, |t| t.len() >= 101);
    wait_until("all acknowledged", T, || pending(&mut con, "events") == 0);
    assert_eq!(target.len(), 101, "each event applied once");
    let cpu = target
        .events
        .lock()
        .iter()
        .find(|e| e.metric == "cpu")
        .cloned()
        .unwrap();
    assert_eq!(cpu.value, 0.5);
    let stats = src.core().link().stats();
    let rejected: u64 = stats.rejected.iter().map(|(_, n)| n).sum();
    assert_eq!(rejected, 2, "{:?}", stats.rejected);
    assert!(stats.retries >= 3);
    let dead: redis::streams::StreamRangeReply = con.xrange_all("events:dead").unwrap();
    assert_eq!(dead.ids.len(), 2);
    assert!(dead
        .ids
        .iter()
        .any(|e| e.get::<String>("code").as_deref() == Some("decode_error")));
    block(src.stop(T)).unwrap();

    // A consumer that read 10 entries and died: another claims them after the idle time.
    for i in 0..10 {
        xadd_json(
            &mut con,
            "events",
            &format!(r#"{{"dashboard":"d","metric":"late","value":{i}}}"#),
        );
    }
    let _: redis::streams::StreamReadReply = con
        .xread_options(
            &["events"],
            &[">"],
            &redis::streams::StreamReadOptions::default()
                .group("dashfeed", "dead")
                .count(10),
        )
        .unwrap();
    assert_eq!(pending(&mut con, "events"), 10);
    let target2 = Arc::new(Collect::new());
    let b = RedisStreamSource::start(source(&redis, "events", "b", 200), target2.clone(), &rt())
        .unwrap();
    target2.wait_for("claimed entries", T, |t| t.len() >= 10);
    wait_until("claimed entries acknowledged", T, || {
        pending(&mut con, "events") == 0
    });
    let lates: Vec<f64> = target2.events.lock().iter().map(|e| e.value).collect();
    assert_eq!(lates, (0..10).map(f64::from).collect::<Vec<_>>());
    block(b.stop(T)).unwrap();
}

#[test]
fn stream_source_resumes_its_pending_entries_after_a_crash_and_a_kill_9() {
    let mut redis = Redis::start(true);
    let mut con = redis.con();
    for i in 0..200 {
        xadd_json(
            &mut con,
            "s",
            &format!(r#"{{"dashboard":"d","metric":"m","value":{i}}}"#),
        );
    }
    // Consumer `a` applies 50 events, then "crashes" before acknowledging the batch that held them.
    let crashed = Arc::new(Collect::new());
    crashed.refuse_after.store(50, Ordering::SeqCst);
    let a =
        RedisStreamSource::start(source(&redis, "s", "a", 60_000), crashed.clone(), &rt()).unwrap();
    crashed.wait_for("50 applied", T, |t| t.len() >= 50);
    block(a.stop(T)).unwrap();
    let applied_before: Vec<String> = crashed.unique_ids().into_iter().collect();
    assert!(
        pending(&mut con, "s") > 0,
        "the unacknowledged batch stays pending"
    );

    // The same consumer restarts: it re-reads its pending entries first, then the rest.
    let target = Arc::new(Collect::new());
    let a2 =
        RedisStreamSource::start(source(&redis, "s", "a", 60_000), target.clone(), &rt()).unwrap();
    target.wait_for("100 events", T, |t| t.unique_ids().len() >= 100);
    redis.kill();
    let down_retries = src_retries(&a2);
    wait_until("a retry while Redis is down", T, || {
        src_retries(&a2) > down_retries
    });
    redis.restart(); // append-only file: the stream and the group survive
    let mut con = redis.con();
    for i in 200..250 {
        xadd_json(
            &mut con,
            "s",
            &format!(r#"{{"dashboard":"d","metric":"m","value":{i}}}"#),
        );
    }
    let deadline = std::time::Instant::now() + T;
    loop {
        let mut ids = target.unique_ids();
        ids.extend(applied_before.iter().cloned());
        if ids.len() >= 250 {
            break;
        }
        if std::time::Instant::now() > deadline {
            let info: redis::Value = redis::cmd("XINFO")
                .arg("GROUPS")
                .arg("s")
                .query(&mut con)
                .unwrap();
            panic!(
                "stuck at {} ids; link {:?}; groups {:?}",
                ids.len(),
                a2.core().link().stats(),
                info
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_until("all acknowledged", T, || pending(&mut con, "s") == 0);
    let ids = target.unique_ids();
    let total: std::collections::BTreeSet<String> = ids
        .iter()
        .cloned()
        .chain(applied_before.iter().cloned())
        .collect();
    assert_eq!(total.len(), 250, "nothing lost");
    assert!(target.len() >= ids.len());
    assert!(src_retries(&a2) >= 1, "the outage was retried");
    block(a2.stop(T)).unwrap();
}

fn src_retries(s: &RedisStreamSource) -> u64 {
    s.core().link().stats().retries
}

#[test]
fn stream_and_pubsub_sinks_carry_every_publication_and_a_pubsub_source_feeds_a_hub() {
    let redis = Redis::start(false);
    let mut con = redis.con();
    let hub = Hub::new(HubConfig::default()).unwrap();
    let stream_sink = SinkSpec::RedisStream(RedisStreamSinkConfig {
        url: redis.url(),
        stream: "updates:{dashboard}".into(),
        maxlen: 1000,
        ..serde_json::from_str(r#"{"stream": "x"}"#).unwrap()
    })
    .start(&rt())
    .unwrap();
    stream_sink.attach(&hub).unwrap();
    for i in 0..300 {
        hub.publish("d", metric("v", f64::from(i))).unwrap();
    }
    block(stream_sink.flush(T)).unwrap();
    let len: usize = con.xlen("updates:d").unwrap();
    assert_eq!(len, 300);
    let first: redis::streams::StreamRangeReply =
        con.xrange_count("updates:d", "-", "+", 1).unwrap();
    let rec: serde_json::Value =
        serde_json::from_str(&first.ids[0].get::<String>("data").unwrap()).unwrap();
    assert_eq!(rec["dashboard"], "d");
    assert_eq!(rec["seq"], 1);
    assert_eq!(rec["data"], serde_json::json!({"v": 0.0}));
    block(stream_sink.close(T)).unwrap();

    // The reference notes' Node server subscribes to a channel: a pub/sub source does the same.
    let target_hub = Hub::new(HubConfig::default()).unwrap();
    let sub = target_hub
        .subscribe("lobby", SubscribeOptions::default())
        .unwrap();
    let ps = SourceSpec::RedisPubsub(RedisPubSubSourceConfig {
        url: redis.url(),
        channels: vec!["dashboard-metrics".into()],
        ..serde_json::from_str("{}").unwrap()
    })
    .start(
        Arc::new(dashfeed::server::HubIngest::new(target_hub.clone())),
        &rt(),
    )
    .unwrap();
    wait_until("subscribed", T, || {
        let n: Vec<(String, usize)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("dashboard-metrics")
            .query(&mut con)
            .unwrap();
        n.first().is_some_and(|(_, n)| *n == 1)
    });
    for i in 0..5 {
        let _: usize = con
            .publish(
                "dashboard-metrics",
                format!(r#"{{"dashboardId":"lobby","metric":"visitors","value":{i},"metadata":{{"floor":"1"}}}}"#),
            )
            .unwrap();
    }
    let _: usize = con.publish("dashboard-metrics", "garbage").unwrap();
    wait_until("5 publications", T, || {
        target_hub.topic_stats("lobby").is_some_and(|t| t.seq == 5)
    });
    let snap = target_hub.snapshot("lobby").unwrap().unwrap();
    // The string metadata is a tag: the series is `visitors{floor=1}`, in the reference layout.
    let data = snap.data().unwrap();
    let series = data.get("visitors{floor=1}").expect("the tagged series");
    assert_eq!(series.get("value"), Some(&Value::Float(4.0)));
    assert_eq!(
        series.get("metadata").and_then(|m| m.get("floor")),
        Some(&Value::Str("1".into()))
    );
    // The garbage came after the 5 events: it may still be on its way when the 5th is published.
    wait_until("the garbage counted", T, || {
        ps.link()
            .stats()
            .rejected
            .iter()
            .map(|(_, n)| n)
            .sum::<u64>()
            == 1
    });
    assert_eq!(
        target_hub.topic_stats("lobby").unwrap().seq,
        5,
        "garbage published nothing"
    );
    drop(sub);
    block(ps.stop(T)).unwrap();
}

#[test]
fn a_slow_sink_refuses_with_slow_consumer_and_keeps_its_bound_while_subscribers_are_served() {
    let redis = Redis::start(false);
    let mut con = redis.con();
    let hub = Hub::new(HubConfig::default()).unwrap();
    let sink = RedisStreamSink::start(
        RedisStreamSinkConfig {
            url: redis.url(),
            queue: QueueConfig {
                max_records: 100,
                max_bytes: 1 << 20,
                batch: 10,
                linger_ms: 5,
            },
            ..serde_json::from_str(r#"{"stream": "slow"}"#).unwrap()
        },
        &rt(),
    )
    .unwrap();
    sink.attach(&hub);
    let sub = hub.subscribe("d", SubscribeOptions::default()).unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(2000)
        .arg("WRITE")
        .query(&mut con)
        .unwrap();
    let live_before = LIVE.load(Ordering::Relaxed);
    let mut accepted = 0u64;
    let mut refused = None;
    for i in 0..10_000 {
        match hub.publish("d", metric("v", f64::from(i))) {
            Ok(_) => accepted += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let retained = LIVE.load(Ordering::Relaxed).saturating_sub(live_before);
    let e = refused.expect("a full sink refuses");
    // What the queue really holds (allocated bytes, the subscriber's conflated queue included).
    assert!(
        retained < 256 << 10,
        "{retained} bytes retained for {accepted} queued publications"
    );
    assert_eq!(e.code(), "slow_consumer");
    assert!(
        accepted <= 111,
        "queue bound 100 (+ one batch in flight): {accepted}"
    );
    let stats = sink.core().link().stats();
    assert!(stats.full >= 1 && stats.queued <= 101, "{stats:?}");
    // The hub is alive and its subscriber got every accepted publication.
    let snap_seq = hub.topic_stats("d").unwrap().seq;
    assert_eq!(snap_seq, accepted);
    drop(sub);
    let _: () = redis::cmd("CLIENT").arg("UNPAUSE").query(&mut con).unwrap();
    block(sink.core().flush(T)).unwrap();
    let len: u64 = con.xlen("slow").unwrap();
    assert_eq!(
        len, accepted,
        "every accepted publication reached the stream"
    );
    hub.publish("d", metric("v", 0.0)).expect("room again");
    block(sink.core().close(T)).unwrap();
}
