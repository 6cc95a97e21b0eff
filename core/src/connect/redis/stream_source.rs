//! [`RedisStreamSource`]: events from Redis streams through a consumer group.
//!
//! At-least-once, never skipping: entries are read with `XREADGROUP`, parsed, handed to the target,
//! and only then acknowledged (`XACK`, one per batch). At start the consumer first re-reads its own
//! pending entries (id `0`: delivered before a crash, never acknowledged) — and again after every
//! failed call, since a reply lost with the connection leaves its entries pending here; every `claim_idle_ms / 2` it
//! claims entries another consumer left pending longer than `claim_idle_ms` (`XAUTOCLAIM`: a dead
//! consumer's work is taken over). Events without an id get `{stream}-{entry id}`, so a redelivered
//! entry is deduplicated by the pipeline. An entry that does not parse is counted, copied to the
//! `dead_letter` stream when one is set, and acknowledged.
//!
//! Entry layout: a `data` field (name configurable) holding a JSON or MessagePack message; or, without
//! it, the entry's fields themselves as one event (`dashboard_id`, `metric_name`, `value`, ... with
//! numbers as strings, as `XADD s * dashboard_id d metric_name cpu value 0.5` writes them).

use super::{client, default_url, manager, redis_err};
use crate::codec::Value;
use crate::connect::backoff::Backoff;
use crate::connect::link::{default_breaker, Link};
use crate::connect::payload::{PayloadFormat, PayloadParser, DEFAULT_MAX_MESSAGE_BYTES};
use crate::connect::source::{Parsed, SourceCore};
use crate::error::{Error, Result};
use crate::server::Ingest;
use redis::aio::ConnectionManager;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamReadOptions, StreamReadReply,
};
use redis::AsyncCommands;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// Settings of a [`RedisStreamSource`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisStreamSourceConfig {
    /// Redis URL. Default `redis://127.0.0.1:6379`.
    #[serde(default = "default_url")]
    pub url: String,
    /// The stream key.
    pub stream: String,
    /// Consumer group (created at the start of the stream when missing). Default `dashfeed`.
    #[serde(default = "default_group")]
    pub group: String,
    /// This consumer's name, unique within the group and stable across restarts of the same node
    /// (so that it re-reads its own pending entries). Default `{hostname}`.
    #[serde(default)]
    pub consumer: Option<String>,
    /// Entries per read. Default 500.
    #[serde(default = "default_count")]
    pub count: usize,
    /// `BLOCK` of each read, ms. Default 1 000.
    #[serde(default = "default_block")]
    pub block_ms: u64,
    /// Entries pending on another consumer for this long are claimed. Default 30 000 ms.
    #[serde(default = "default_claim_idle")]
    pub claim_idle_ms: u64,
    /// Field holding the message. Default `data`.
    #[serde(default = "default_field")]
    pub field: String,
    /// Format of the message field. Default `auto`.
    #[serde(default)]
    pub format: PayloadFormat,
    /// Largest message, bytes. Default 1 MiB.
    #[serde(default = "default_max_bytes")]
    pub max_message_bytes: usize,
    /// Stream that receives entries that do not parse (with `error`, `code`, `stream`, `id`). Default
    /// none.
    #[serde(default)]
    pub dead_letter: Option<String>,
}

fn default_group() -> String {
    "dashfeed".into()
}
fn default_count() -> usize {
    500
}
fn default_block() -> u64 {
    1_000
}
fn default_claim_idle() -> u64 {
    30_000
}
fn default_field() -> String {
    "data".into()
}
fn default_max_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}

impl RedisStreamSourceConfig {
    /// The settings for `stream` with every default.
    pub fn new(url: impl Into<String>, stream: impl Into<String>) -> Self {
        RedisStreamSourceConfig {
            url: url.into(),
            stream: stream.into(),
            group: default_group(),
            consumer: None,
            count: default_count(),
            block_ms: default_block(),
            claim_idle_ms: default_claim_idle(),
            field: default_field(),
            format: PayloadFormat::Auto,
            max_message_bytes: default_max_bytes(),
            dead_letter: None,
        }
    }
}

/// A running stream source; [`stop`](RedisStreamSource::stop) it to acknowledge what was applied and end.
#[derive(Debug)]
pub struct RedisStreamSource {
    core: Arc<SourceCore>,
}

impl RedisStreamSource {
    /// Starts reading into `target` on `rt`.
    pub fn start(
        config: RedisStreamSourceConfig,
        target: Arc<dyn Ingest>,
        rt: &Handle,
    ) -> Result<RedisStreamSource> {
        if config.stream.is_empty() || config.group.is_empty() || config.count == 0 {
            return Err(Error::invalid(
                "redis_stream source: stream and group must be named, count at least 1",
            ));
        }
        let _guard = rt.enter();
        let client = client(&config.url)?;
        let response = Duration::from_millis(config.block_ms) + Duration::from_secs(3);
        let con = manager(&client, response)?;
        let link = Link::new(format!("redis_stream:{}", config.stream), default_breaker())?;
        let parser = PayloadParser {
            format: config.format,
            max_bytes: config.max_message_bytes,
        };
        let core = SourceCore::new(link, target, parser);
        let task = rt.spawn(run(core.clone(), config, con));
        core.set_task(task);
        Ok(RedisStreamSource { core })
    }

    /// The shared source part (link, stop).
    pub fn core(&self) -> &Arc<SourceCore> {
        &self.core
    }

    /// Stops: the batch in hand is finished and acknowledged, then the task ends.
    pub async fn stop(&self, timeout: Duration) -> Result<()> {
        self.core.stop(timeout).await
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "dashfeed".into())
}

struct Reader {
    core: Arc<SourceCore>,
    config: RedisStreamSourceConfig,
    consumer: String,
    con: ConnectionManager,
}

async fn run(
    core: Arc<SourceCore>,
    config: RedisStreamSourceConfig,
    con: ConnectionManager,
) -> Result<()> {
    let consumer = config.consumer.clone().unwrap_or_else(hostname);
    let mut r = Reader {
        core,
        config,
        consumer,
        con,
    };
    let mut backoff = Backoff::connector();
    let mut group_ready = false;
    let mut own_pending_done = false;
    let claim_every = Duration::from_millis((r.config.claim_idle_ms / 2).max(10));
    let mut last_claim: Option<Instant> = None;
    let cancel = r.core.cancelled().clone();
    while !cancel.is_cancelled() {
        let step = async {
            if !group_ready {
                r.ensure_group().await?;
                group_ready = true;
                own_pending_done = false;
            }
            if last_claim.is_none_or(|t| t.elapsed() >= claim_every) {
                r.claim().await?;
                r.report_lag().await;
                last_claim = Some(Instant::now());
            }
            let start = if own_pending_done { ">" } else { "0" };
            let entries = r.read(start).await?;
            if start == "0" && entries.is_empty() {
                own_pending_done = true;
            }
            r.process(entries).await
        };
        let result = tokio::select! {
            _ = cancel.cancelled() => break,
            res = step => res,
        };
        match result {
            Ok(()) => backoff.reset(),
            Err(Error::Closed) => break,
            Err(e) => {
                // Entries Redis delivered whose reply was lost with the connection are pending on
                // this consumer: read them again (id 0) before new ones.
                own_pending_done = false;
                if e.to_string().contains("NOGROUP") {
                    group_ready = false; // Redis lost the group (restarted empty): create it again.
                }
                r.core.link().count_retry();
                let wait = match e {
                    Error::CircuitOpen { retry_after } => retry_after,
                    _ => backoff.next_wait(),
                };
                if !r.core.pause(wait.max(Duration::from_millis(5))).await {
                    break;
                }
            }
        }
    }
    Ok(())
}

impl Reader {
    async fn ensure_group(&mut self) -> Result<()> {
        let (stream, group) = (&self.config.stream, &self.config.group);
        let con = &mut self.con;
        let created: std::result::Result<(), redis::RedisError> =
            con.xgroup_create_mkstream(stream, group, "0").await;
        match created {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(redis_err(e)),
        }
    }

    async fn read(&mut self, start: &str) -> Result<Vec<StreamId>> {
        let mut opts = StreamReadOptions::default()
            .group(&self.config.group, &self.consumer)
            .count(self.config.count);
        if start == ">" {
            opts = opts.block(self.config.block_ms as usize);
        }
        let keys = [self.config.stream.as_str()];
        let ids = [start];
        let con = &mut self.con;
        let reply: Option<StreamReadReply> = self
            .core
            .link()
            .call(async {
                con.xread_options(&keys, &ids, &opts)
                    .await
                    .map_err(redis_err)
            })
            .await?;
        Ok(reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default())
    }

    async fn claim(&mut self) -> Result<()> {
        let mut start = "0-0".to_owned();
        for _ in 0..1_000 {
            let opts = StreamAutoClaimOptions::default().count(self.config.count);
            let con = &mut self.con;
            let (stream, group, consumer) =
                (&self.config.stream, &self.config.group, &self.consumer);
            let idle = self.config.claim_idle_ms;
            let reply: StreamAutoClaimReply = self
                .core
                .link()
                .call(async {
                    con.xautoclaim_options(stream, group, consumer, idle, &start, opts)
                        .await
                        .map_err(redis_err)
                })
                .await?;
            let done = reply.next_stream_id == "0-0";
            start = reply.next_stream_id;
            self.process(reply.claimed).await?;
            if done {
                break;
            }
        }
        Ok(())
    }

    async fn report_lag(&mut self) {
        let con = &mut self.con;
        let reply: std::result::Result<redis::streams::StreamInfoGroupsReply, _> =
            con.xinfo_groups(&self.config.stream).await;
        let lag = reply.ok().and_then(|r| {
            r.groups
                .into_iter()
                .find(|g| g.name == self.config.group)
                .and_then(|g| g.lag)
        });
        self.core.link().set_lag(lag.map(|l| l as u64));
    }

    /// Parses, delivers and acknowledges `entries` (rejected ones dead-lettered and acknowledged).
    async fn process(&mut self, entries: Vec<StreamId>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut events = Vec::new();
        let mut rejected = Vec::new();
        let mut ids = Vec::with_capacity(entries.len());
        for entry in &entries {
            let origin = format!("{}-{}", self.config.stream, entry.id);
            let parsed = match entry.map.get(&self.config.field) {
                Some(v) => match bytes_of(v) {
                    Some(b) => self.core.parse(b, Some(&origin)),
                    None => self.core.parse(b"", Some(&origin)),
                },
                None => self
                    .core
                    .parse_value(&fields_as_event(entry), Some(&origin)),
            };
            match parsed {
                Parsed::Events(evs) => events.extend(evs),
                Parsed::Rejected(code, msg) => rejected.push((entry, code, msg)),
            }
            ids.push(entry.id.clone());
        }
        self.core.deliver(events).await?;
        let mut pipe = redis::pipe();
        if let Some(dlq) = &self.config.dead_letter {
            for (entry, code, msg) in &rejected {
                let payload = entry.map.get(&self.config.field).and_then(bytes_of);
                let mut cmd = redis::cmd("XADD");
                cmd.arg(dlq).arg("*").arg("stream").arg(&self.config.stream);
                cmd.arg("id")
                    .arg(&entry.id)
                    .arg("code")
                    .arg(*code)
                    .arg("error")
                    .arg(msg);
                if let Some(p) = payload {
                    cmd.arg(&self.config.field).arg(p);
                }
                pipe.add_command(cmd).ignore();
            }
        }
        pipe.cmd("XACK")
            .arg(&self.config.stream)
            .arg(&self.config.group)
            .arg(&ids)
            .ignore();
        let con = &mut self.con;
        self.core
            .link()
            .call(async { pipe.query_async::<()>(con).await.map_err(redis_err) })
            .await?;
        if self.config.dead_letter.is_some() {
            for _ in &rejected {
                self.core.link().count_dead_lettered();
            }
        }
        Ok(())
    }
}

fn bytes_of(v: &redis::Value) -> Option<&[u8]> {
    match v {
        redis::Value::BulkString(b) => Some(b),
        redis::Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// An entry without a message field, as one event map: numbers given as strings become numbers in
/// the numeric fields.
fn fields_as_event(entry: &StreamId) -> Value {
    let mut keys: Vec<&String> = entry.map.keys().collect();
    keys.sort();
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let Some(text) = entry
            .map
            .get(k)
            .and_then(bytes_of)
            .map(String::from_utf8_lossy)
        else {
            continue;
        };
        let numeric = matches!(k.as_str(), "value" | "ts" | "timestamp");
        let v = match text.parse::<f64>() {
            Ok(n) if numeric && k != "ts" => Value::Float(n),
            Ok(_) if numeric => text
                .parse::<i64>()
                .map(Value::Int)
                .unwrap_or(Value::Str(text.into_owned())),
            _ => Value::Str(text.into_owned()),
        };
        out.push((Value::Str(k.clone()), v));
    }
    Value::Map(out)
}
