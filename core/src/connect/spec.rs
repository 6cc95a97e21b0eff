//! [`SourceSpec`] and [`SinkSpec`]: every connector described as data (`kind` plus its settings), as
//! `dashfeed serve --config` (`[[source]]`, `[[sink]]`) and the bindings' constructors give them, and
//! the running forms [`SourceHandle`] / [`SinkHandle`].

use super::link::Link;
use crate::error::{Error, Result};
use crate::hub::{Hub, TapId};
use crate::server::Ingest;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;

#[cfg(feature = "kafka")]
use super::kafka::{KafkaSink, KafkaSinkConfig, KafkaSource, KafkaSourceConfig};
#[cfg(feature = "redis")]
use super::redis::{
    RedisCache, RedisCacheConfig, RedisPubSubSink, RedisPubSubSinkConfig, RedisPubSubSource,
    RedisPubSubSourceConfig, RedisStreamSink, RedisStreamSinkConfig, RedisStreamSource,
    RedisStreamSourceConfig,
};
use super::sink::SinkCore;
use super::source::SourceCore;

/// A source: `kind` (`redis_stream`, `redis_pubsub`, `kafka`) and its settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SourceSpec {
    /// [`RedisStreamSource`].
    #[cfg(feature = "redis")]
    RedisStream(RedisStreamSourceConfig),
    /// [`RedisPubSubSource`].
    #[cfg(feature = "redis")]
    RedisPubsub(RedisPubSubSourceConfig),
    /// [`KafkaSource`].
    #[cfg(feature = "kafka")]
    Kafka(KafkaSourceConfig),
}

/// A sink: `kind` (`redis_cache`, `redis_stream`, `redis_pubsub`, `kafka`) and its settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SinkSpec {
    /// [`RedisCache`].
    #[cfg(feature = "redis")]
    RedisCache(RedisCacheConfig),
    /// [`RedisStreamSink`].
    #[cfg(feature = "redis")]
    RedisStream(RedisStreamSinkConfig),
    /// [`RedisPubSubSink`].
    #[cfg(feature = "redis")]
    RedisPubsub(RedisPubSubSinkConfig),
    /// [`KafkaSink`].
    #[cfg(feature = "kafka")]
    Kafka(KafkaSinkConfig),
}

/// Parses a spec from JSON text (what the bindings pass: a dict / object with `kind`).
pub fn from_json<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T> {
    serde_json::from_slice(json).map_err(|e| Error::invalid(format!("connector options: {e}")))
}

impl SourceSpec {
    /// A spec from a decoded options map with its `kind` (a Python dict, a JS object): unknown keys
    /// and wrong types are `invalid_input` naming the key.
    pub fn from_value(options: &crate::codec::Value) -> Result<Self> {
        from_json(&crate::codec::Codec::new(crate::codec::Format::Json).encode_plain(options)?)
    }

    /// Starts the source feeding `target` on `rt`.
    pub fn start(self, target: Arc<dyn Ingest>, rt: &Handle) -> Result<SourceHandle> {
        #[allow(unreachable_patterns)]
        match self {
            #[cfg(feature = "redis")]
            SourceSpec::RedisStream(c) => Ok(SourceHandle(
                RedisStreamSource::start(c, target, rt)?.core().clone(),
            )),
            #[cfg(feature = "redis")]
            SourceSpec::RedisPubsub(c) => Ok(SourceHandle(
                RedisPubSubSource::start(c, target, rt)?.core().clone(),
            )),
            #[cfg(feature = "kafka")]
            SourceSpec::Kafka(c) => Ok(SourceHandle(
                KafkaSource::start(c, target, rt)?.core().clone(),
            )),
            _ => Err(Error::invalid("this build has no connectors")),
        }
    }
}

/// A running source.
#[derive(Debug, Clone)]
pub struct SourceHandle(Arc<SourceCore>);

impl SourceHandle {
    /// Its link (health, counters).
    pub fn link(&self) -> &Arc<Link> {
        self.0.link()
    }

    /// Stops it: what was applied is acknowledged / committed; at most `timeout`.
    pub async fn stop(&self, timeout: Duration) -> Result<()> {
        self.0.stop(timeout).await
    }
}

impl SinkSpec {
    /// A spec from a decoded options map with its `kind` (see [`SourceSpec::from_value`]).
    pub fn from_value(options: &crate::codec::Value) -> Result<Self> {
        from_json(&crate::codec::Codec::new(crate::codec::Format::Json).encode_plain(options)?)
    }

    /// Starts the sink's writer on `rt` (not yet attached to a hub).
    pub fn start(self, rt: &Handle) -> Result<SinkHandle> {
        #[allow(unreachable_patterns)]
        match self {
            #[cfg(feature = "redis")]
            SinkSpec::RedisCache(c) => Ok(SinkHandle::Cache(Arc::new(RedisCache::start(c, rt)?))),
            #[cfg(feature = "redis")]
            SinkSpec::RedisStream(c) => Ok(SinkHandle::Plain(
                RedisStreamSink::start(c, rt)?.core().clone(),
            )),
            #[cfg(feature = "redis")]
            SinkSpec::RedisPubsub(c) => Ok(SinkHandle::Plain(
                RedisPubSubSink::start(c, rt)?.core().clone(),
            )),
            #[cfg(feature = "kafka")]
            SinkSpec::Kafka(c) => Ok(SinkHandle::Plain(KafkaSink::start(c, rt)?.core().clone())),
            _ => Err(Error::invalid("this build has no connectors")),
        }
    }
}

/// A running sink.
#[derive(Debug, Clone)]
pub enum SinkHandle {
    /// The Redis cache (which also loads snapshots back).
    #[cfg(feature = "redis")]
    Cache(Arc<RedisCache>),
    /// Any other sink.
    Plain(Arc<SinkCore>),
}

impl SinkHandle {
    /// The shared sink part.
    pub fn core(&self) -> &Arc<SinkCore> {
        match self {
            #[cfg(feature = "redis")]
            SinkHandle::Cache(c) => c.core(),
            SinkHandle::Plain(c) => c,
        }
    }

    /// Its link (health, counters).
    pub fn link(&self) -> &Arc<Link> {
        self.core().link()
    }

    /// Taps `hub`: every publication from now on goes to the sink.
    pub fn attach(&self, hub: &Hub) -> TapId {
        match self {
            #[cfg(feature = "redis")]
            SinkHandle::Cache(c) => c.attach(hub),
            SinkHandle::Plain(c) => hub.add_tap(c.clone()),
        }
    }

    /// The Redis cache, when this sink is one.
    #[cfg(feature = "redis")]
    pub fn cache(&self) -> Option<&Arc<RedisCache>> {
        match self {
            SinkHandle::Cache(c) => Some(c),
            SinkHandle::Plain(_) => None,
        }
    }

    /// Waits until what is queued is written.
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        self.core().flush(timeout).await
    }

    /// Flushes and stops.
    pub async fn close(&self, timeout: Duration) -> Result<()> {
        self.core().close(timeout).await
    }
}
