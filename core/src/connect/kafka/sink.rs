//! [`KafkaSink`]: every hub publication produced to a topic (default `dashboard-updates`) keyed by its
//! dashboard (so one dashboard's updates stay in one partition, in order), by an idempotent producer
//! (`enable.idempotence=true`, `acks=all`: librdkafka's retries never duplicate or reorder). A batch is
//! sent whole and awaited; records the broker already took are not sent again when the rest of the
//! batch is retried.

use super::{client_config, default_brokers, kafka_err};
use crate::connect::link::{default_breaker, Link};
use crate::connect::queue::QueueConfig;
use crate::connect::record::Record;
use crate::connect::record::RecordFormat;
use crate::connect::sink::{SinkCore, Writer};
use crate::error::{Error, Result};
use crate::hub::{Hub, TapId};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;

/// Settings of a [`KafkaSink`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// `bootstrap.servers`. Default `127.0.0.1:9092`.
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// Topic. Default `dashboard-updates`.
    #[serde(default = "default_topic")]
    pub topic: String,
    /// Record format. Default `json`.
    #[serde(default)]
    pub format: RecordFormat,
    /// `message.timeout.ms`: how long librdkafka retries one record. Default 30 000.
    #[serde(default = "default_timeout")]
    pub message_timeout_ms: u64,
    /// Extra librdkafka properties.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// The write queue.
    #[serde(default)]
    pub queue: QueueConfig,
}

fn default_topic() -> String {
    "dashboard-updates".into()
}
fn default_timeout() -> u64 {
    30_000
}

/// The Kafka sink.
pub struct KafkaSink {
    core: Arc<SinkCore>,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("core", &self.core)
            .finish()
    }
}

impl KafkaSink {
    /// A sink producing to `config.topic`.
    pub fn start(config: KafkaSinkConfig, rt: &Handle) -> Result<KafkaSink> {
        let _guard = rt.enter();
        let mut cc = client_config(&config.brokers, &config.properties);
        cc.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", config.message_timeout_ms.to_string());
        let producer: FutureProducer = cc
            .create()
            .map_err(|e| Error::invalid(format!("kafka sink: {e}")))?;
        let link = Link::new(format!("kafka_sink:{}", config.topic), default_breaker())?;
        let queue = config.queue;
        let writer = ProduceWriter {
            producer,
            config,
            done: HashSet::new(),
        };
        Ok(KafkaSink {
            core: SinkCore::start(link, queue, writer, rt)?,
        })
    }

    /// The shared sink part (the hub tap, flush, close).
    pub fn core(&self) -> &Arc<SinkCore> {
        &self.core
    }

    /// Taps `hub`: every publication is produced.
    pub fn attach(&self, hub: &Hub) -> TapId {
        hub.add_tap(self.core.clone())
    }
}

struct ProduceWriter {
    producer: FutureProducer,
    config: KafkaSinkConfig,
    /// Records of the current batch the broker already acknowledged (dashboard, epoch, seq).
    done: HashSet<(Arc<str>, Arc<str>, u64)>,
}

impl Writer for ProduceWriter {
    async fn write(&mut self, batch: &[Record]) -> Result<()> {
        let mut sent = Vec::with_capacity(batch.len());
        for r in batch {
            let id = (r.dashboard.clone(), r.epoch.clone(), r.seq);
            if self.done.contains(&id) {
                continue;
            }
            let payload = r.encode(self.config.format.format())?;
            let mut record = FutureRecord::to(&self.config.topic)
                .key(&*r.dashboard)
                .payload(&payload);
            // Enqueue without waiting for delivery; a full local queue drains while we wait.
            let delivery = loop {
                match self.producer.send_result(record) {
                    Ok(d) => break d,
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        back,
                    )) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(kafka_err(e)),
                }
            };
            sent.push((id, delivery));
        }
        let mut failure = None;
        for (id, delivery) in sent {
            match delivery.await {
                Ok(Ok(_)) => {
                    self.done.insert(id);
                }
                Ok(Err((e, _))) => failure = Some(kafka_err(e)),
                Err(_) => failure = Some(Error::Io("kafka: delivery report lost".into())),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => {
                self.done.clear();
                Ok(())
            }
        }
    }
}
