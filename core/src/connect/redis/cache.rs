//! [`RedisCache`]: latest value per metric in `dashboard:{id}` hashes (the reference notes' layout),
//! written by a hub tap in pipelined batches (one round trip per batch of up to `queue.batch`
//! publications, a field written once per batch however often it changed), read back as snapshots.

use super::{client, default_url, manager, redis_err, run_id};
use crate::codec::{Codec, Format, Value};
use crate::connect::link::{default_breaker, Link};
use crate::connect::queue::QueueConfig;
use crate::connect::record::Record;
use crate::connect::sink::{SinkCore, Writer};
use crate::error::{Error, Result};
use crate::hub::{Hub, TapId};
use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// Settings of a [`RedisCache`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisCacheConfig {
    /// Redis URL. Default `redis://127.0.0.1:6379`.
    #[serde(default = "default_url")]
    pub url: String,
    /// Key prefix; the hash of dashboard `d` is `{prefix}{d}`. Default `dashboard:`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Expire each hash this many seconds after its last write. Default: never.
    #[serde(default)]
    pub ttl_s: Option<u64>,
    /// Seed the hub's snapshots from the cache at start. Default true.
    #[serde(default = "yes")]
    pub seed: bool,
    /// Most dashboards seeded at start. Default 10 000.
    #[serde(default = "default_seed_max")]
    pub seed_max: usize,
    /// The write queue.
    #[serde(default)]
    pub queue: QueueConfig,
}

fn default_prefix() -> String {
    "dashboard:".into()
}
fn yes() -> bool {
    true
}
fn default_seed_max() -> usize {
    10_000
}

impl Default for RedisCacheConfig {
    fn default() -> Self {
        RedisCacheConfig {
            url: default_url(),
            prefix: default_prefix(),
            ttl_s: None,
            seed: true,
            seed_max: default_seed_max(),
            queue: QueueConfig::default(),
        }
    }
}

/// The latest-value cache sink.
#[derive(Debug)]
pub struct RedisCache {
    core: Arc<SinkCore>,
    con: ConnectionManager,
    config: RedisCacheConfig,
    hub: Arc<Mutex<Option<Hub>>>,
}

impl RedisCache {
    /// A cache writing to `config.url` (connected on first use; the link is down until then).
    pub fn start(config: RedisCacheConfig, rt: &Handle) -> Result<RedisCache> {
        let _guard = rt.enter();
        let client = client(&config.url)?;
        let con = manager(&client, Duration::from_secs(5))?;
        let hub = Arc::new(Mutex::new(None));
        let link = Link::new(format!("redis_cache:{}", config.prefix), default_breaker())?;
        let writer = CacheWriter {
            con: con.clone(),
            prefix: config.prefix.clone(),
            ttl_s: config.ttl_s,
            hub: hub.clone(),
            owned: HashSet::new(),
            run_id: None,
            checked: None,
            failed: false,
        };
        let core = SinkCore::start(link, config.queue, writer, rt)?;
        Ok(RedisCache {
            core,
            con,
            config,
            hub,
        })
    }

    /// The shared sink part (the hub tap, flush, close).
    pub fn core(&self) -> &Arc<SinkCore> {
        &self.core
    }

    /// Taps `hub`: every publication is cached, and a Redis restarted empty is re-seeded from `hub`.
    pub fn attach(&self, hub: &Hub) -> TapId {
        *self.hub.lock() = Some(hub.clone());
        hub.add_tap(self.core.clone())
    }

    /// The cached hash of `dashboard` as a publication's data map (fields sorted by name): each entry's
    /// `value`, or the whole `{value, timestamp, metadata}` when it has metadata. Empty when absent.
    pub async fn load(&self, dashboard: &str) -> Result<Value> {
        let key = format!("{}{}", self.config.prefix, dashboard);
        let mut con = self.con.clone();
        let fields: BTreeMap<String, Vec<u8>> = self
            .core
            .link()
            .call(async {
                redis::cmd("HGETALL")
                    .arg(&key)
                    .query_async(&mut con)
                    .await
                    .map_err(redis_err)
            })
            .await?;
        let json = Codec::bounded(Format::Json, 1 << 20, 64);
        let mut out = Vec::with_capacity(fields.len());
        for (field, bytes) in fields {
            let v = json.decode(&bytes).unwrap_or(Value::Bin(bytes));
            out.push((Value::Str(field), from_entry(v)));
        }
        Ok(Value::Map(out))
    }

    /// Seeds `hub`'s snapshots from every cached dashboard (at most `seed_max`), returning how many.
    pub async fn seed(&self, hub: &Hub) -> Result<usize> {
        let mut con = self.con.clone();
        let pattern = format!("{}*", escape_glob(&self.config.prefix));
        let keys: Vec<String> = self
            .core
            .link()
            .call(async {
                let mut keys = Vec::new();
                let mut cursor: u64 = 0;
                for _ in 0..100_000 {
                    let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut con)
                        .await
                        .map_err(redis_err)?;
                    keys.extend(batch);
                    cursor = next;
                    if cursor == 0 || keys.len() >= self.config.seed_max {
                        break;
                    }
                }
                Ok(keys)
            })
            .await?;
        let mut seeded = 0;
        for key in keys.iter().take(self.config.seed_max) {
            let Some(dashboard) = key.strip_prefix(&self.config.prefix) else {
                continue;
            };
            let data = self.load(dashboard).await?;
            if hub.seed(dashboard, data).is_ok() {
                seeded += 1;
            }
        }
        Ok(seeded)
    }

    /// Waits until everything queued is written (see [`SinkCore::flush`]).
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        self.core.flush(timeout).await
    }

    /// Flushes and stops (see [`SinkCore::close`]).
    pub async fn close(&self, timeout: Duration) -> Result<()> {
        self.core.close(timeout).await
    }

    /// The settings.
    pub fn config(&self) -> &RedisCacheConfig {
        &self.config
    }
}

fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The cached form of one entry: `{"value", "timestamp", "metadata"}` (an event's `published_data`
/// entry already has it).
pub(crate) fn to_entry(v: &Value, ts_ms: i64) -> Value {
    if let Value::Map(pairs) = v {
        let has = |k: &str| {
            pairs
                .iter()
                .any(|(key, _)| matches!(key, Value::Str(s) if s == k))
        };
        if has("value") && has("timestamp") && has("metadata") {
            return v.clone();
        }
    }
    Value::Map(vec![
        ("value".into(), v.clone()),
        ("timestamp".into(), Value::Int(ts_ms)),
        ("metadata".into(), Value::Map(Vec::new())),
    ])
}

/// Back from the cached form: the value alone unless there is metadata.
pub(crate) fn from_entry(v: Value) -> Value {
    let Value::Map(pairs) = &v else {
        return v;
    };
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| matches!(key, Value::Str(s) if s == k))
            .map(|(_, v)| v)
    };
    match (get("value"), get("metadata")) {
        (Some(value), None) => value.clone(),
        (Some(value), Some(Value::Map(m))) if m.is_empty() => value.clone(),
        (Some(_), Some(Value::Nil)) => get("value").cloned().unwrap_or(Value::Nil),
        _ => v,
    }
}

/// One dashboard's fields in a batch (newest value each) and the batch's last publication time.
type Merged = (Arc<str>, Vec<(Value, Value)>, i64);

struct CacheWriter {
    con: ConnectionManager,
    prefix: String,
    ttl_s: Option<u64>,
    hub: Arc<Mutex<Option<Hub>>>,
    /// Dashboards this cache wrote: what it re-seeds into a Redis that restarted empty.
    owned: HashSet<Arc<str>>,
    run_id: Option<String>,
    checked: Option<Instant>,
    failed: bool,
}

/// How often the writer checks Redis's run id when all goes well.
const RUN_ID_EVERY: Duration = Duration::from_secs(5);

impl CacheWriter {
    /// Checks Redis's run id after a failure and every few seconds: a new one means Redis restarted
    /// (maybe empty), so every owned dashboard's snapshot is written again.
    async fn check_restart(&mut self, pipe: &mut redis::Pipeline) -> Result<()> {
        let due = self.failed || self.checked.is_none_or(|t| t.elapsed() >= RUN_ID_EVERY);
        if !due {
            return Ok(());
        }
        let id = run_id(&mut self.con).await?;
        self.checked = Some(Instant::now());
        let restarted = self.run_id.as_ref().is_some_and(|old| *old != id);
        self.run_id = Some(id);
        if !restarted {
            return Ok(());
        }
        let hub = self.hub.lock().clone();
        let Some(hub) = hub else {
            return Ok(());
        };
        let now = crate::event::now_ms();
        for dashboard in &self.owned {
            if let Some(snapshot) = hub.snapshot(dashboard)? {
                let data = snapshot.data()?;
                self.add(pipe, dashboard, &data, now)?;
            }
        }
        Ok(())
    }

    fn add(
        &self,
        pipe: &mut redis::Pipeline,
        dashboard: &str,
        data: &Value,
        ts: i64,
    ) -> Result<()> {
        let Value::Map(pairs) = data else {
            return Ok(());
        };
        if pairs.is_empty() {
            return Ok(());
        }
        let json = Codec::new(Format::Json);
        let key = format!("{}{}", self.prefix, dashboard);
        let mut cmd = redis::cmd("HSET");
        cmd.arg(&key);
        for (k, v) in pairs {
            let Value::Str(field) = k else { continue };
            cmd.arg(field).arg(json.encode_plain(&to_entry(v, ts))?);
        }
        pipe.add_command(cmd).ignore();
        if let Some(ttl) = self.ttl_s {
            pipe.cmd("EXPIRE").arg(&key).arg(ttl).ignore();
        }
        Ok(())
    }
}

impl Writer for CacheWriter {
    async fn write(&mut self, batch: &[Record]) -> Result<()> {
        let mut pipe = redis::pipe();
        let result = async {
            self.check_restart(&mut pipe).await?;
            // One HSET per dashboard with each field's newest value in the batch.
            let mut merged: Vec<Merged> = Vec::new();
            for r in batch {
                let Value::Map(pairs) = &*r.data else {
                    continue;
                };
                let slot = match merged.iter().position(|(d, _, _)| *d == r.dashboard) {
                    Some(i) => i,
                    None => {
                        merged.push((r.dashboard.clone(), Vec::new(), r.ts_ms));
                        merged.len() - 1
                    }
                };
                let (_, fields, ts) = &mut merged[slot];
                *ts = r.ts_ms;
                for (k, v) in pairs {
                    let entry = to_entry(v, r.ts_ms);
                    match fields.iter_mut().find(|(f, _)| f == k) {
                        Some(f) => f.1 = entry,
                        None => fields.push((k.clone(), entry)),
                    }
                }
            }
            for (dashboard, fields, ts) in &merged {
                self.add(&mut pipe, dashboard, &Value::Map(fields.clone()), *ts)?;
                self.owned.insert(dashboard.clone());
            }
            pipe.query_async::<()>(&mut self.con)
                .await
                .map_err(redis_err)
        }
        .await;
        self.failed = result.is_err();
        if let Err(Error::Io(_)) | Err(Error::Timeout(_)) = &result {
            self.checked = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_the_reference_layout() {
        let plain = Value::Float(0.5);
        let e = to_entry(&plain, 7);
        assert_eq!(from_entry(e), plain);
        let with_meta = Value::Map(vec![
            ("value".into(), Value::Float(1.0)),
            ("timestamp".into(), Value::Int(3)),
            (
                "metadata".into(),
                Value::Map(vec![("unit".into(), Value::Int(1))]),
            ),
        ]);
        assert_eq!(to_entry(&with_meta, 9), with_meta);
        assert_eq!(from_entry(with_meta.clone()), with_meta);
        assert_eq!(escape_glob("a*b"), "a\\*b");
    }
}
