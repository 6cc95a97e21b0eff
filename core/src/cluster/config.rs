//! [`ClusterConfig`]: the `[cluster]` section of `dashfeed serve --config` (and the `cluster` option
//! of the bindings' pipelines): the Redis every node shares, and the bounds of what it keeps.

use crate::error::{Error, Result};
use serde::Deserialize;

/// Settings of a [`Cluster`](super::Cluster).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The Redis every node shares (`redis://host:port/db`). Required.
    pub redis: String,
    /// Prefix of dashfeed's own keys and channel: `{prefix}:meta:{dashboard}` (epoch, seq),
    /// `{prefix}:history:{dashboard}` (the shared history stream), `{prefix}:id:{dashboard}:{id}`
    /// (publication ids for dedupe), channel `{prefix}:bus`. Default `dashfeed`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Prefix of the latest-value snapshot hashes (the reference notes' `dashboard:{id}`, written in
    /// the Redis cache's layout). Default `dashboard:`.
    #[serde(default = "default_snapshot_prefix")]
    pub snapshot_prefix: String,
    /// Publications kept per dashboard in the shared history stream (`XADD MAXLEN ~`): how far back a
    /// client can resume on any node. Default: the hub's `history` (1000).
    #[serde(default)]
    pub history: Option<usize>,
    /// How long a publish waits for Redis to number it before failing with `timeout`, ms. Default 5000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Most publications numbered by one script call and broadcast as one bus message (a call also
    /// ends once its publications' data reach 1 MiB). Each call has a fixed cost in Redis (its
    /// arguments, and per dashboard of the call one read of its epoch and seq and two writes), and
    /// every node wakes its subscribers once per bus message, so bigger calls cost less per
    /// publication; Redis runs the calls of a round trip back to back either way. Measured with
    /// 100-publication posts over 10 dashboards: 128 took 715 µs of Redis time per 100 publications
    /// where 32 took 920 µs, and the last publication reached the bus 12% sooner. The writer gathers
    /// up to 64 calls per round trip. Default 128.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Publish calls waiting for Redis at most; one more fails with `slow_consumer`. Default 10 000.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// How long a publication id is remembered cluster-wide, ms. Default: the hub's dedupe horizon,
    /// else 10 minutes.
    #[serde(default)]
    pub dedupe_horizon_ms: Option<u64>,
    /// Largest publication data read back from Redis (history, bus), bytes. Default 16 MiB.
    #[serde(default = "default_max_bytes")]
    pub max_message_bytes: usize,
}

fn default_prefix() -> String {
    "dashfeed".into()
}
fn default_snapshot_prefix() -> String {
    "dashboard:".into()
}
fn default_timeout_ms() -> u64 {
    5000
}
fn default_batch() -> usize {
    128
}
fn default_queue() -> usize {
    10_000
}
fn default_max_bytes() -> usize {
    16 << 20
}

impl ClusterConfig {
    /// The settings for `redis` with every default.
    pub fn new(redis: impl Into<String>) -> Self {
        ClusterConfig {
            redis: redis.into(),
            prefix: default_prefix(),
            snapshot_prefix: default_snapshot_prefix(),
            history: None,
            timeout_ms: default_timeout_ms(),
            batch: default_batch(),
            queue: default_queue(),
            dedupe_horizon_ms: None,
            max_message_bytes: default_max_bytes(),
        }
    }

    /// `invalid_input` naming the first setting out of its domain.
    pub fn validate(&self) -> Result<()> {
        if self.redis.is_empty() {
            return Err(Error::invalid("cluster.redis: name the shared Redis URL"));
        }
        if self.prefix.is_empty() || self.prefix.contains(char::is_whitespace) {
            return Err(Error::invalid(
                "cluster.prefix must be non-empty without spaces",
            ));
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err(Error::invalid("cluster.timeout_ms must be 1 to 60000"));
        }
        if !(1..=4096).contains(&self.batch) {
            return Err(Error::invalid("cluster.batch must be 1 to 4096"));
        }
        if !(1..=1_000_000).contains(&self.queue) {
            return Err(Error::invalid("cluster.queue must be 1 to 1000000"));
        }
        if self.history.is_some_and(|h| h > 1_000_000) {
            return Err(Error::invalid("cluster.history must be at most 1000000"));
        }
        if self.dedupe_horizon_ms == Some(0) {
            return Err(Error::invalid("cluster.dedupe_horizon_ms must be positive"));
        }
        if self.max_message_bytes < 1024 {
            return Err(Error::invalid(
                "cluster.max_message_bytes must be at least 1024",
            ));
        }
        Ok(())
    }
}
