//! Redis pub/sub: [`RedisPubSubSource`] (the reference notes' Node server subscribes to a channel and
//! fans each message out) and [`RedisPubSubSink`] (every publication `PUBLISH`ed, pipelined).
//!
//! Pub/sub is at-most-once by nature: a message published while the source is disconnected is not
//! seen. The source reconnects with backoff and counts each reconnection; use a stream or Kafka when
//! every event matters.

use super::stream_sink::key_for;
use super::{client, default_url, manager, redis_err};
use crate::connect::backoff::Backoff;
use crate::connect::link::{default_breaker, Link};
use crate::connect::payload::{PayloadFormat, PayloadParser, DEFAULT_MAX_MESSAGE_BYTES};
use crate::connect::queue::QueueConfig;
use crate::connect::record::Record;
use crate::connect::record::RecordFormat;
use crate::connect::sink::{SinkCore, Writer};
use crate::connect::source::{Parsed, SourceCore};
use crate::error::{Error, Result};
use crate::hub::{Hub, TapId};
use crate::server::Ingest;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;

/// Settings of a [`RedisPubSubSource`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisPubSubSourceConfig {
    /// Redis URL. Default `redis://127.0.0.1:6379`.
    #[serde(default = "default_url")]
    pub url: String,
    /// Channels to subscribe to.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Channel patterns to subscribe to (`PSUBSCRIBE`).
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Message format. Default `auto`.
    #[serde(default)]
    pub format: PayloadFormat,
    /// Largest message, bytes. Default 1 MiB.
    #[serde(default = "default_max_bytes")]
    pub max_message_bytes: usize,
}

fn default_max_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}

/// A running pub/sub source.
#[derive(Debug)]
pub struct RedisPubSubSource {
    core: Arc<SourceCore>,
}

impl RedisPubSubSource {
    /// Subscribes and feeds `target` on `rt`.
    pub fn start(
        config: RedisPubSubSourceConfig,
        target: Arc<dyn Ingest>,
        rt: &Handle,
    ) -> Result<RedisPubSubSource> {
        if config.channels.is_empty() && config.patterns.is_empty() {
            return Err(Error::invalid(
                "redis_pubsub source: name at least one channel or pattern",
            ));
        }
        let client = client(&config.url)?;
        let name = config
            .channels
            .first()
            .or(config.patterns.first())
            .cloned()
            .unwrap_or_default();
        let link = Link::new(format!("redis_pubsub:{name}"), default_breaker())?;
        let parser = PayloadParser {
            format: config.format,
            max_bytes: config.max_message_bytes,
        };
        let core = SourceCore::new(link, target, parser);
        let task = rt.spawn(run(core.clone(), config, client));
        core.set_task(task);
        Ok(RedisPubSubSource { core })
    }

    /// The shared source part (link, stop).
    pub fn core(&self) -> &Arc<SourceCore> {
        &self.core
    }

    /// Unsubscribes and ends.
    pub async fn stop(&self, timeout: Duration) -> Result<()> {
        self.core.stop(timeout).await
    }
}

async fn run(
    core: Arc<SourceCore>,
    config: RedisPubSubSourceConfig,
    client: redis::Client,
) -> Result<()> {
    let mut backoff = Backoff::connector();
    let cancel = core.cancelled().clone();
    while !cancel.is_cancelled() {
        let subscribed = core
            .link()
            .call(async {
                let mut ps = client.get_async_pubsub().await.map_err(redis_err)?;
                for c in &config.channels {
                    ps.subscribe(c).await.map_err(redis_err)?;
                }
                for p in &config.patterns {
                    ps.psubscribe(p).await.map_err(redis_err)?;
                }
                Ok(ps)
            })
            .await;
        let ps = match subscribed {
            Ok(ps) => ps,
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
        let mut messages = ps.into_on_message();
        loop {
            let msg = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                m = messages.next() => m,
            };
            let Some(msg) = msg else {
                core.link().set_down("redis pub/sub connection lost");
                core.link().count_retry();
                break;
            };
            if let Parsed::Events(evs) = core.parse(msg.get_payload_bytes(), None) {
                if core.deliver(evs).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Settings of a [`RedisPubSubSink`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisPubSubSinkConfig {
    /// Redis URL. Default `redis://127.0.0.1:6379`.
    #[serde(default = "default_url")]
    pub url: String,
    /// Channel; `{dashboard}` is replaced by the dashboard id. Default `dashboard-updates`.
    #[serde(default = "super::stream_sink::default_stream")]
    pub channel: String,
    /// Record format. Default `json`.
    #[serde(default)]
    pub format: RecordFormat,
    /// The write queue.
    #[serde(default)]
    pub queue: QueueConfig,
}

/// The pub/sub sink.
#[derive(Debug)]
pub struct RedisPubSubSink {
    core: Arc<SinkCore>,
}

impl RedisPubSubSink {
    /// A sink publishing to `config.channel` (connected on first use).
    pub fn start(config: RedisPubSubSinkConfig, rt: &Handle) -> Result<RedisPubSubSink> {
        let _guard = rt.enter();
        let con = manager(&client(&config.url)?, Duration::from_secs(5))?;
        let link = Link::new(
            format!("redis_pubsub_sink:{}", config.channel),
            default_breaker(),
        )?;
        let queue = config.queue;
        Ok(RedisPubSubSink {
            core: SinkCore::start(link, queue, PublishWriter { con, config }, rt)?,
        })
    }

    /// The shared sink part (the hub tap, flush, close).
    pub fn core(&self) -> &Arc<SinkCore> {
        &self.core
    }

    /// Taps `hub`: every publication is published.
    pub fn attach(&self, hub: &Hub) -> TapId {
        hub.add_tap(self.core.clone())
    }
}

struct PublishWriter {
    con: ConnectionManager,
    config: RedisPubSubSinkConfig,
}

impl Writer for PublishWriter {
    async fn write(&mut self, batch: &[Record]) -> Result<()> {
        let mut pipe = redis::pipe();
        for r in batch {
            pipe.cmd("PUBLISH")
                .arg(key_for(&self.config.channel, &r.dashboard))
                .arg(r.encode(self.config.format.format())?)
                .ignore();
        }
        pipe.query_async::<()>(&mut self.con)
            .await
            .map_err(redis_err)
    }
}
