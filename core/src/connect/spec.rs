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

/// Why a connector's options were refused: the key they name (a dotted path, when there is one)
/// and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The offending key's path (`queue.max_records`); `None` when the error is about the whole table.
    pub key: Option<String>,
    /// What is wrong, in serde's words.
    pub message: String,
}

impl SpecError {
    fn unknown_kind(kind: &str, known: &str) -> SpecError {
        SpecError {
            key: Some("kind".into()),
            message: format!("unknown kind `{kind}`, expected one of {known}"),
        }
    }

    /// As an `invalid_input` error.
    pub fn into_error(self) -> Error {
        match self.key {
            Some(k) => Error::invalid(format!("connector options: `{k}`: {}", self.message)),
            None => Error::invalid(format!("connector options: {}", self.message)),
        }
    }
}

/// `kind` plus the settings of a named connector class (Python `RedisCache(**options)`, JS
/// `new RedisCache(options)`); `kind` among the settings is `invalid_input` (the class names it).
fn kinded(kind: &str, options: &crate::codec::Value) -> Result<serde_json::Value> {
    use crate::codec::Value;
    let mut json = match options {
        Value::Nil => serde_json::Value::Object(serde_json::Map::new()),
        Value::Map(_) => options_json(options)?,
        _ => {
            return Err(Error::invalid(
                "connector options must be a map of settings",
            ))
        }
    };
    let serde_json::Value::Object(map) = &mut json else {
        return Err(Error::invalid(
            "connector options must be a map of settings",
        ));
    };
    if map.contains_key("kind") {
        return Err(Error::invalid(format!(
            "connector options: `kind` is set by the class ({kind})"
        )));
    }
    map.insert("kind".into(), serde_json::Value::String(kind.into()));
    Ok(json)
}

/// The options map as JSON (maps with text keys only).
fn options_json(options: &crate::codec::Value) -> Result<serde_json::Value> {
    let bytes = crate::codec::Codec::new(crate::codec::Format::Json).encode_plain(options)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::invalid(format!("connector options: {e}")))
}

/// Takes `kind` out of an options object.
fn split_kind(
    options: serde_json::Value,
) -> std::result::Result<(String, serde_json::Value), SpecError> {
    let serde_json::Value::Object(mut map) = options else {
        return Err(SpecError {
            key: None,
            message: "expected a table of options".into(),
        });
    };
    match map.remove("kind") {
        Some(serde_json::Value::String(kind)) => Ok((kind, serde_json::Value::Object(map))),
        Some(_) => Err(SpecError {
            key: Some("kind".into()),
            message: "expected text".into(),
        }),
        None => Err(SpecError {
            key: Some("kind".into()),
            message: "missing field `kind`".into(),
        }),
    }
}

/// Deserializes `T`, keeping the path of the key an error is about (for an unknown key, the path
/// ends with that key).
#[allow(dead_code)] // unused in a build without connectors
fn by_path<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> std::result::Result<T, SpecError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        SpecError {
            key: (path != ".").then_some(path),
            message: e.inner().to_string(),
        }
    })
}

impl SourceSpec {
    /// A spec from a decoded options map with its `kind` (a Python dict, a JS object): unknown keys
    /// and wrong types are `invalid_input` naming the key.
    pub fn from_value(options: &crate::codec::Value) -> Result<Self> {
        SourceSpec::from_json_value(options_json(options)?).map_err(SpecError::into_error)
    }

    /// The spec of a named source class: `kind` and its settings (`kind` among them is refused).
    pub fn from_options(kind: &str, options: &crate::codec::Value) -> Result<Self> {
        SourceSpec::from_json_value(kinded(kind, options)?).map_err(SpecError::into_error)
    }

    /// A spec from a JSON object with its `kind`, read by the kind's own settings type so that an
    /// unknown key or a wrong type names its key path (`queue.max_records`).
    pub fn from_json_value(options: serde_json::Value) -> std::result::Result<Self, SpecError> {
        let (kind, rest) = split_kind(options)?;
        match kind.as_str() {
            #[cfg(feature = "redis")]
            "redis_stream" => by_path(rest).map(SourceSpec::RedisStream),
            #[cfg(feature = "redis")]
            "redis_pubsub" => by_path(rest).map(SourceSpec::RedisPubsub),
            #[cfg(feature = "kafka")]
            "kafka" => by_path(rest).map(SourceSpec::Kafka),
            _ => Err(SpecError::unknown_kind(
                &kind,
                "redis_stream, redis_pubsub, kafka",
            )),
        }
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
        SinkSpec::from_json_value(options_json(options)?).map_err(SpecError::into_error)
    }

    /// The spec of a named sink class: `kind` and its settings (`kind` among them is refused).
    pub fn from_options(kind: &str, options: &crate::codec::Value) -> Result<Self> {
        SinkSpec::from_json_value(kinded(kind, options)?).map_err(SpecError::into_error)
    }

    /// A spec from a JSON object with its `kind` (see [`SourceSpec::from_json_value`]).
    pub fn from_json_value(options: serde_json::Value) -> std::result::Result<Self, SpecError> {
        let (kind, rest) = split_kind(options)?;
        match kind.as_str() {
            #[cfg(feature = "redis")]
            "redis_cache" => by_path(rest).map(SinkSpec::RedisCache),
            #[cfg(feature = "redis")]
            "redis_stream" => by_path(rest).map(SinkSpec::RedisStream),
            #[cfg(feature = "redis")]
            "redis_pubsub" => by_path(rest).map(SinkSpec::RedisPubsub),
            #[cfg(feature = "kafka")]
            "kafka" => by_path(rest).map(SinkSpec::Kafka),
            _ => Err(SpecError::unknown_kind(
                &kind,
                "redis_cache, redis_stream, redis_pubsub, kafka",
            )),
        }
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

    /// Taps `hub`: every publication from now on goes to the sink. `closed` after
    /// [`close`](SinkHandle::close) (a tap on a closed sink would refuse every publication).
    pub fn attach(&self, hub: &Hub) -> Result<TapId> {
        if self.core().is_closed() {
            return Err(Error::Closed);
        }
        Ok(match self {
            #[cfg(feature = "redis")]
            SinkHandle::Cache(c) => c.attach(hub),
            SinkHandle::Plain(c) => hub.add_tap(c.clone()),
        })
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
