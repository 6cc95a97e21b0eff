//! [`KafkaSource`]: events from Kafka topics through a consumer group, at-least-once.
//!
//! One task receives messages (`recv`, cancellation-safe), takes what is already fetched into a batch
//! of up to `batch` messages, parses them, hands the events to the target, and only then stores each
//! message's offset (`store_offset`, so auto-commit commits it). A refused batch is retried with
//! backoff and its offsets stay unstored. On revoke the context commits what is stored before the
//! partitions go (`pre_rebalance`), so the next owner starts right after the last applied message.
//! Events without an id get `{topic}/{partition}/{offset}`.

use super::{client_config, default_brokers, kafka_err};
use crate::connect::backoff::Backoff;
use crate::connect::link::{default_breaker, Link};
use crate::connect::payload::{PayloadFormat, PayloadParser, DEFAULT_MAX_MESSAGE_BYTES};
use crate::connect::source::{Parsed, SourceCore};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::server::Ingest;
use futures_util::FutureExt;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, TopicPartitionList};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;

/// Settings of a [`KafkaSource`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// `bootstrap.servers`. Default `127.0.0.1:9092`.
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// Consumer group id. Default `dashfeed`.
    #[serde(default = "default_group")]
    pub group: String,
    /// Messages per batch handed to the target. Default 500.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Message format. Default `auto`.
    #[serde(default)]
    pub format: PayloadFormat,
    /// Largest message, bytes. Default 1 MiB.
    #[serde(default = "default_max_bytes")]
    pub max_message_bytes: usize,
    /// Topic that receives messages that do not parse (headers-free copy, keyed by
    /// `{topic}/{partition}/{offset}`). Default none.
    #[serde(default)]
    pub dead_letter: Option<String>,
    /// `session.timeout.ms`. Default 10 000.
    #[serde(default = "default_session")]
    pub session_timeout_ms: u64,
    /// Extra librdkafka properties (for example `security.protocol`).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn default_group() -> String {
    "dashfeed".into()
}
fn default_batch() -> usize {
    500
}
fn default_max_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}
fn default_session() -> u64 {
    10_000
}

impl KafkaSourceConfig {
    /// The settings for `topics` on `brokers` with every default.
    pub fn new(brokers: impl Into<String>, topics: Vec<String>, group: impl Into<String>) -> Self {
        KafkaSourceConfig {
            brokers: brokers.into(),
            topics,
            group: group.into(),
            batch: default_batch(),
            format: PayloadFormat::Auto,
            max_message_bytes: default_max_bytes(),
            dead_letter: None,
            session_timeout_ms: default_session(),
            properties: BTreeMap::new(),
        }
    }
}

/// The consumer's context: commits stored offsets on revoke and tells the target which partitions
/// come and go; reports errors and lag to the link.
struct Context {
    link: Arc<Link>,
    target: Arc<dyn Ingest>,
}

/// The name a partition has for [`Ingest::ingest_partition`]: `{topic}/{partition}`.
fn partition_name(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

impl ClientContext for Context {
    fn stats(&self, statistics: Statistics) {
        let mut lag: i64 = 0;
        let mut known = false;
        for topic in statistics.topics.values() {
            for (id, p) in &topic.partitions {
                if *id >= 0 && p.consumer_lag >= 0 {
                    lag += p.consumer_lag;
                    known = true;
                }
            }
        }
        self.link.set_lag(known.then_some(lag as u64));
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.link.set_down(format!("kafka: {error}: {reason}"));
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(
        &self,
        consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        if let Rebalance::Revoke(tpl) = rebalance {
            // Everything settled has its offset stored: commit it before the partitions go, and let
            // the target forget the rest (the next owner replays it from there).
            let _ = consumer.commit_consumer_state(CommitMode::Sync);
            for e in tpl.elements() {
                self.target
                    .revoke_partition(&partition_name(e.topic(), e.partition()));
            }
        }
    }

    fn post_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        if let Rebalance::Assign(tpl) = rebalance {
            for e in tpl.elements() {
                self.target
                    .assign_partition(&partition_name(e.topic(), e.partition()));
            }
        }
    }
}

type Consumer_ = StreamConsumer<Context>;

/// A running Kafka source.
pub struct KafkaSource {
    core: Arc<SourceCore>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("core", &self.core)
            .finish()
    }
}

impl KafkaSource {
    /// Joins the group and feeds `target` on `rt`.
    pub fn start(
        config: KafkaSourceConfig,
        target: Arc<dyn Ingest>,
        rt: &Handle,
    ) -> Result<KafkaSource> {
        if config.topics.is_empty() || config.batch == 0 || config.group.is_empty() {
            return Err(Error::invalid(
                "kafka source: name at least one topic and a group; batch at least 1",
            ));
        }
        let _guard = rt.enter();
        let link = Link::new(
            format!("kafka:{}", config.topics.join(",")),
            default_breaker(),
        )?;
        let mut cc = client_config(&config.brokers, &config.properties);
        cc.set("group.id", &config.group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", config.session_timeout_ms.to_string())
            .set("statistics.interval.ms", "5000")
            .set("enable.partition.eof", "false");
        let consumer: Consumer_ = cc
            .create_with_context(Context {
                link: link.clone(),
                target: target.clone(),
            })
            .map_err(|e| Error::invalid(format!("kafka source: {e}")))?;
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(kafka_err)?;
        let dead_letter = match &config.dead_letter {
            Some(topic) => {
                let mut pc = client_config(&config.brokers, &config.properties);
                pc.set("enable.idempotence", "true");
                let p: FutureProducer = pc
                    .create()
                    .map_err(|e| Error::invalid(format!("kafka dead-letter producer: {e}")))?;
                Some((topic.clone(), p))
            }
            None => None,
        };
        let parser = PayloadParser {
            format: config.format,
            max_bytes: config.max_message_bytes,
        };
        let core = SourceCore::new(link, target, parser);
        let task = rt.spawn(run(core.clone(), consumer, config.batch, dead_letter));
        core.set_task(task);
        Ok(KafkaSource { core })
    }

    /// The shared source part (link, stop).
    pub fn core(&self) -> &Arc<SourceCore> {
        &self.core
    }

    /// Stops: the batch in hand is applied and its offsets stored and committed, then the consumer
    /// leaves the group.
    pub async fn stop(&self, timeout: Duration) -> Result<()> {
        self.core.stop(timeout).await
    }
}

async fn run(
    core: Arc<SourceCore>,
    consumer: Consumer_,
    batch_max: usize,
    dead_letter: Option<(String, FutureProducer)>,
) -> Result<()> {
    let cancel = core.cancelled().clone();
    let mut backoff = Backoff::connector();
    loop {
        let first = tokio::select! {
            _ = cancel.cancelled() => break,
            m = core.link().call(async { consumer.recv().await.map(|m| m.detach()).map_err(kafka_err) }) => m,
        };
        let first = match first {
            Ok(m) => m,
            Err(e) => {
                core.link().count_retry();
                let wait = match e {
                    Error::CircuitOpen { retry_after } => retry_after,
                    _ => backoff.next_wait(),
                };
                if !core.pause(wait.max(Duration::from_millis(5))).await {
                    break;
                }
                continue;
            }
        };
        backoff.reset();
        let mut batch = vec![first];
        while batch.len() < batch_max {
            match consumer.recv().now_or_never() {
                Some(Ok(m)) => batch.push(m.detach()),
                _ => break,
            }
        }
        if apply(&core, &consumer, batch, dead_letter.as_ref())
            .await
            .is_err()
        {
            break; // stopped before the target took the batch: its offsets stay unstored.
        }
    }
    // The final commit of what was applied: a coordinator still recovering from an outage refuses
    // a few times, so retry (bounded: 10 tries over ~2 s); what stays uncommitted is redelivered.
    for attempt in 0..10u32 {
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => break,
            Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::NoOffset,
            )) => break, // nothing stored since the last commit
            Err(_) if attempt < 9 => {
                core.link().count_retry();
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt + 1))).await;
            }
            Err(_) => {}
        }
    }
    consumer.unsubscribe();
    Ok(())
}

/// One partition's events in a batch (with their offsets) and the position after it.
type PartitionBatch = (Vec<(i64, Event)>, i64);

async fn apply(
    core: &SourceCore,
    consumer: &Consumer_,
    batch: Vec<OwnedMessage>,
    dead_letter: Option<&(String, FutureProducer)>,
) -> Result<()> {
    let mut per_message: Vec<Vec<Event>> = Vec::with_capacity(batch.len());
    for m in &batch {
        let origin = format!("{}/{}/{}", m.topic(), m.partition(), m.offset());
        match core.parse(m.payload().unwrap_or_default(), Some(&origin)) {
            Parsed::Events(evs) => per_message.push(evs),
            Parsed::Rejected(code, msg) => {
                per_message.push(Vec::new());
                if let Some((topic, producer)) = dead_letter {
                    let headers = rdkafka::message::OwnedHeaders::new()
                        .insert(rdkafka::message::Header {
                            key: "code",
                            value: Some(code),
                        })
                        .insert(rdkafka::message::Header {
                            key: "error",
                            value: Some(&msg),
                        });
                    let record = FutureRecord::to(topic)
                        .key(&origin)
                        .payload(m.payload().unwrap_or_default())
                        .headers(headers);
                    if producer.send(record, Duration::from_secs(10)).await.is_ok() {
                        core.link().count_dead_lettered();
                    }
                }
            }
        }
    }
    // Per partition, in offset order: its events and the position after the batch. The target says
    // how far each may be committed (an aggregating target only as far as its windows published).
    let mut parts: BTreeMap<(&str, i32), PartitionBatch> = BTreeMap::new();
    for (m, evs) in batch.iter().zip(per_message) {
        let slot = parts
            .entry((m.topic(), m.partition()))
            .or_insert_with(|| (Vec::new(), 0));
        slot.0.extend(evs.into_iter().map(|e| (m.offset(), e)));
        slot.1 = slot.1.max(m.offset() + 1);
    }
    let mut offsets = TopicPartitionList::new();
    for ((topic, partition), (events, next)) in parts {
        let name = partition_name(topic, partition);
        if let Some(settled) = core.deliver_partition(&name, events, next).await? {
            let _ =
                offsets.add_partition_offset(topic, partition, rdkafka::Offset::Offset(settled));
        }
    }
    // A partition revoked while this batch was applied refuses its offsets: its next owner reads
    // those messages again (at-least-once), and the id they carry lets a shared dedupe drop them.
    let _ = consumer.store_offsets(&offsets);
    Ok(())
}
