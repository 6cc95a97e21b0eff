//! Kafka connectors against librdkafka's mock cluster (an in-process Kafka-protocol broker with fault
//! injection): at-least-once and per-partition order through request errors and a broker outage, a
//! consumer that applied a batch and died before committing it (redelivery, committed ≤ processed),
//! and the idempotent sink. Every test runs under a watchdog (a consumer drop can hang: rust-rdkafka
//! #509).

mod broker_support;

use broker_support::{wait_until, Collect};
use dashfeed::codec::Value;
use dashfeed::connect::kafka::{KafkaSink, KafkaSinkConfig, KafkaSource, KafkaSourceConfig};
use dashfeed::hub::{Hub, HubConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(40);

fn rt() -> tokio::runtime::Handle {
    dashfeed::runtime::handle().unwrap()
}

/// Aborts the test binary if a test hangs (instead of hanging CI).
fn watchdog(name: &'static str) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(Duration::from_secs(90))
        {
            eprintln!("{name}: hung for 90 s");
            std::process::abort();
        }
    });
    tx
}

fn produce(brokers: &str, topic: &str, partitions: i32, per_partition: usize) {
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    rt().block_on(async {
        let mut pending = Vec::new();
        for part in 0..partitions {
            for seq in 0..per_partition {
                let body = format!(r#"{{"dashboard":"d","metric":"p{part}","value":{seq}}}"#);
                let rec = FutureRecord::to(topic)
                    .partition(part)
                    .key("k")
                    .payload(&body);
                pending.push(p.send_result(rec).map_err(|(e, _)| e).unwrap());
            }
        }
        for d in pending {
            d.await.unwrap().unwrap();
        }
    });
}

fn committed(brokers: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    (0..partitions)
        .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            _ => 0,
        })
        .collect()
}

/// Values per partition metric, in arrival order.
fn per_partition(target: &Collect) -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for e in target.events.lock().iter() {
        out.entry(e.metric.clone())
            .or_default()
            .push(e.value as i64);
    }
    out
}

fn source(brokers: &str, topic: &str, group: &str) -> KafkaSourceConfig {
    KafkaSourceConfig {
        session_timeout_ms: 6_000,
        batch: 100,
        ..KafkaSourceConfig::new(brokers, vec![topic.into()], group)
    }
}

#[test]
fn at_least_once_and_in_order_through_request_errors_and_a_broker_outage() {
    let done = watchdog("outage");
    let mock = MockCluster::new(3).unwrap();
    mock.create_topic("metrics", 3, 1).unwrap();
    let brokers = mock.bootstrap_servers();
    produce(&brokers, "metrics", 3, 1000);
    let err = RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION;
    mock.request_errors(RDKafkaApiKey::Fetch, &[err; 4]);
    mock.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE; 2],
    );
    let target = Arc::new(Collect::new());
    let src = KafkaSource::start(source(&brokers, "metrics", "g1"), target.clone(), &rt()).unwrap();
    target.wait_for("a third", T, |t| t.len() >= 1000);
    for b in 1..=3 {
        mock.broker_down(b).unwrap();
    }
    // Down: the link says so in /healthz (librdkafka reports the transport errors).
    wait_until("the outage noticed", T, || {
        dashfeed::metrics::HealthCheck::check(&**src.core().link()).is_err()
    });
    for b in 1..=3 {
        mock.broker_up(b).unwrap();
    }
    target.wait_for("every message", T, |t| t.unique_ids().len() >= 3000);
    assert!(
        dashfeed::metrics::HealthCheck::check(&**src.core().link()).is_ok(),
        "up again"
    );
    rt().block_on(src.stop(T)).unwrap();
    let orders = per_partition(&target);
    assert_eq!(orders.len(), 3);
    for (metric, values) in &orders {
        // In order per partition: a redelivery may repeat a suffix, never reorders.
        let mut firsts = Vec::new();
        for v in values {
            if firsts.last().is_none_or(|l| v > l) {
                firsts.push(*v);
            }
        }
        assert_eq!(firsts, (0..1000).collect::<Vec<i64>>(), "{metric}");
    }
    let c = committed(&brokers, "g1", "metrics", 3);
    assert_eq!(c, vec![1000, 1000, 1000], "stop commits what was applied");
    drop(done);
}

#[test]
fn a_consumer_killed_between_apply_and_commit_is_redelivered_and_never_committed_ahead() {
    let done = watchdog("kill");
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("k", 2, 1).unwrap();
    let brokers = mock.bootstrap_servers();
    produce(&brokers, "k", 2, 200);
    // A applies 150 events, then "dies": the batch holding the 150th is applied but never committed.
    let a_target = Arc::new(Collect::new());
    a_target.refuse_after.store(150, Ordering::SeqCst);
    let a = KafkaSource::start(source(&brokers, "k", "g2"), a_target.clone(), &rt()).unwrap();
    a_target.wait_for("150 applied", T, |t| t.len() >= 150);
    let _ = rt().block_on(a.stop(T));
    let applied_by_a = per_partition(&a_target);
    let c = committed(&brokers, "g2", "k", 2);
    for (p, off) in c.iter().enumerate() {
        let applied = applied_by_a
            .get(&format!("p{p}"))
            .map_or(0, |v| v.len() as i64);
        assert!(
            *off <= applied,
            "partition {p}: committed {off} > processed {applied}"
        );
    }
    assert!(
        c.iter().sum::<i64>() < a_target.len() as i64,
        "the last batch is not committed: {c:?}"
    );

    let b_target = Arc::new(Collect::new());
    let b = KafkaSource::start(source(&brokers, "k", "g2"), b_target.clone(), &rt()).unwrap();
    b_target.wait_for("the rest", T, |t| {
        let mut all = t.unique_ids();
        all.extend(a_target.unique_ids());
        all.len() >= 400
    });
    rt().block_on(b.stop(T)).unwrap();
    let redelivered = b_target
        .unique_ids()
        .intersection(&a_target.unique_ids())
        .count();
    assert!(
        redelivered > 0,
        "the uncommitted batch comes again (ids let dedupe drop it)"
    );
    assert_eq!(committed(&brokers, "g2", "k", 2), vec![200, 200]);
    drop(done);
}

#[test]
fn the_sink_produces_every_publication_keyed_by_dashboard() {
    let done = watchdog("sink");
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("dashboard-updates", 2, 1).unwrap();
    let brokers = mock.bootstrap_servers();
    let hub = Hub::new(HubConfig::default()).unwrap();
    let sink = KafkaSink::start(
        KafkaSinkConfig {
            brokers: brokers.clone(),
            ..serde_json::from_str("{}").unwrap()
        },
        &rt(),
    )
    .unwrap();
    sink.attach(&hub);
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 3],
    );
    for i in 0..500 {
        let d = if i % 2 == 0 { "a" } else { "b" };
        hub.publish(d, Value::Map(vec![("v".into(), Value::Int(i))]))
            .unwrap();
    }
    rt().block_on(sink.core().flush(T)).unwrap();
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "check")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&["dashboard-updates"]).unwrap();
    let mut seqs: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut got = 0;
    for _ in 0..2000 {
        if got == 500 {
            break;
        }
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
            let rec: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            assert_eq!(rec["dashboard"], key.as_str());
            seqs.entry(key)
                .or_default()
                .push(rec["seq"].as_i64().unwrap());
            got += 1;
        }
    }
    assert_eq!(got, 500);
    for (d, s) in &seqs {
        assert_eq!(
            s,
            &(1..=250).collect::<Vec<i64>>(),
            "{d}: once each, in order"
        );
    }
    rt().block_on(sink.core().close(T)).unwrap();
    drop(done);
}
