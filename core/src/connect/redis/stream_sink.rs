//! [`RedisStreamSink`]: every hub publication appended to a Redis stream (`XADD key MAXLEN ~ N *
//! data <record>`), one pipelined round trip per batch. The key may name the dashboard
//! (`dashboard-updates:{dashboard}`).

use super::{client, default_url, manager, redis_err};
use crate::connect::link::{default_breaker, Link};
use crate::connect::queue::QueueConfig;
use crate::connect::record::{Record, RecordFormat};
use crate::connect::sink::{SinkCore, Writer};
use crate::error::Result;
use crate::hub::{Hub, TapId};
use redis::aio::ConnectionManager;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;

/// Settings of a [`RedisStreamSink`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisStreamSinkConfig {
    /// Redis URL. Default `redis://127.0.0.1:6379`.
    #[serde(default = "default_url")]
    pub url: String,
    /// Stream key; `{dashboard}` is replaced by the dashboard id. Default `dashboard-updates`.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// Approximate most entries kept (`MAXLEN ~`). Default 100 000.
    #[serde(default = "default_maxlen")]
    pub maxlen: usize,
    /// Field holding the record. Default `data`.
    #[serde(default = "default_field")]
    pub field: String,
    /// Record format. Default `json`.
    #[serde(default)]
    pub format: RecordFormat,
    /// The write queue.
    #[serde(default)]
    pub queue: QueueConfig,
}

pub(crate) fn default_stream() -> String {
    "dashboard-updates".into()
}
fn default_maxlen() -> usize {
    100_000
}
fn default_field() -> String {
    "data".into()
}

/// The stream sink.
#[derive(Debug)]
pub struct RedisStreamSink {
    core: Arc<SinkCore>,
}

impl RedisStreamSink {
    /// A sink appending to `config.stream` (connected on first use).
    pub fn start(config: RedisStreamSinkConfig, rt: &Handle) -> Result<RedisStreamSink> {
        let _guard = rt.enter();
        let con = manager(&client(&config.url)?, Duration::from_secs(5))?;
        let link = Link::new(
            format!("redis_stream_sink:{}", config.stream),
            default_breaker(),
        )?;
        let queue = config.queue;
        let writer = StreamWriter { con, config };
        Ok(RedisStreamSink {
            core: SinkCore::start(link, queue, writer, rt)?,
        })
    }

    /// The shared sink part (the hub tap, flush, close).
    pub fn core(&self) -> &Arc<SinkCore> {
        &self.core
    }

    /// Taps `hub`: every publication is appended.
    pub fn attach(&self, hub: &Hub) -> TapId {
        hub.add_tap(self.core.clone())
    }
}

/// `template` with `{dashboard}` replaced.
pub(crate) fn key_for(template: &str, dashboard: &str) -> String {
    if template.contains("{dashboard}") {
        template.replace("{dashboard}", dashboard)
    } else {
        template.to_owned()
    }
}

struct StreamWriter {
    con: ConnectionManager,
    config: RedisStreamSinkConfig,
}

impl Writer for StreamWriter {
    async fn write(&mut self, batch: &[Record]) -> Result<()> {
        let mut pipe = redis::pipe();
        for r in batch {
            let key = key_for(&self.config.stream, &r.dashboard);
            pipe.cmd("XADD")
                .arg(key)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.config.maxlen)
                .arg("*")
                .arg(&self.config.field)
                .arg(r.encode(self.config.format.format())?)
                .ignore();
        }
        pipe.query_async::<()>(&mut self.con)
            .await
            .map_err(redis_err)
    }
}
