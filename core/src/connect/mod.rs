//! Connectors: Redis and Kafka sources and sinks, each behind a [`CircuitBreaker`](crate::breaker)
//! and reported as a [`Link`] in `/healthz` and `/metrics`.
//!
//! - Sources ([`redis::RedisStreamSource`], [`redis::RedisPubSubSource`], [`kafka::KafkaSource`]) read
//!   broker messages, parse them into [`Event`](crate::Event)s ([`payload`]) and hand them to an
//!   [`Ingest`] target (a hub, an aggregator, a whole pipeline). A message is acknowledged (`XACK`,
//!   Kafka offset stored) only after the target accepted it; a target that refuses (a full sink, a
//!   closed hub) makes the source retry the same batch with backoff, so nothing acknowledged is lost.
//!   A message that does not parse is counted (`dashfeed_source_rejected_total{source,code}`),
//!   optionally copied to a dead-letter stream/topic, and acknowledged so that it never blocks.
//! - Sinks ([`redis::RedisCache`], [`redis::RedisStreamSink`], [`redis::RedisPubSubSink`],
//!   [`kafka::KafkaSink`]) are hub taps ([`crate::hub::Tap`]): every publication is queued in a bounded
//!   [`queue::SinkQueue`] and written in pipelined batches by one task. A full queue makes the publish
//!   fail with `slow_consumer` before anything is applied.
//! - [`backoff`]: exponential backoff with full jitter for every reconnect and retry loop.
//! - [`spec`]: the serde description of every connector (what `dashfeed serve --config` and the
//!   bindings' constructors accept), and [`spec::SourceSpec::start`] / [`spec::SinkSpec::build`].
//!
//! Cargo features: `redis` and `kafka` (both on by default and in the bindings).

pub mod backoff;
pub(crate) mod exposition;
pub mod link;
pub mod payload;
pub mod queue;
pub mod record;
pub mod sink;
pub mod source;
pub mod spec;

#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "redis")]
pub mod redis;

pub use crate::server::Ingest;
pub use link::{Link, LinkStats};
pub use payload::{PayloadFormat, PayloadParser};
pub use queue::{QueueConfig, SinkQueue};
pub use record::Record;
pub use spec::{SinkHandle, SinkSpec, SourceHandle, SourceSpec, SpecError};
