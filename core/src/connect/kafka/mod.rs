//! Kafka connectors (crate `rdkafka`, bundled librdkafka):
//!
//! - [`KafkaSource`]: a consumer group with at-least-once delivery — `enable.auto.offset.store=false`,
//!   an offset stored only after its message was applied (auto-commit then commits stored offsets
//!   only, so the committed offset never passes the processed one), stored offsets committed
//!   synchronously when partitions are revoked, per-partition order kept (one task, messages applied in
//!   the order the partition gives them);
//! - [`KafkaSink`]: an idempotent producer (`enable.idempotence=true`, `acks=all`) writing every hub
//!   publication to a topic (default `dashboard-updates`) keyed by dashboard.

mod sink;
mod source;

pub use sink::{KafkaSink, KafkaSinkConfig};
pub use source::{KafkaSource, KafkaSourceConfig};

use crate::error::Error;
use rdkafka::config::ClientConfig;
use std::collections::BTreeMap;

/// The error of a Kafka call as dashfeed reports it.
pub(crate) fn kafka_err(e: rdkafka::error::KafkaError) -> Error {
    Error::Io(format!("kafka: {e}"))
}

/// A client config with `bootstrap.servers` and the user's extra librdkafka `properties`.
pub(crate) fn client_config(brokers: &str, properties: &BTreeMap<String, String>) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    for (k, v) in properties {
        c.set(k, v);
    }
    c
}

fn default_brokers() -> String {
    "127.0.0.1:9092".into()
}
