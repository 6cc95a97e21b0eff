//! Hub and subscription settings: [`HubConfig`] (with its defaults and [`HubConfig::validate`]), the slow
//! consumer [`Policy`], and the per-subscription [`SubscribeOptions`] with the resume point [`Since`].

use super::publication::Wire;
use crate::codec::{Format, DEFAULT_COMPRESS_OVER, DEFAULT_LEVEL};
use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What a subscription does when its queue is full (messages or bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// Keep only the latest value per metric: the queued updates (and the new one) are merged into one
    /// message carrying the newest seq. The subscriber sees a seq jump but the newest value of every metric.
    #[default]
    Conflate,
    /// Drop the oldest queued updates (counted); the subscriber sees the seq gap.
    DropOldest,
    /// End the subscription: its next receive fails with `slow_consumer`.
    Disconnect,
}

impl Policy {
    /// The option name: `"conflate"`, `"drop_oldest"` or `"disconnect"`.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Conflate => "conflate",
            Policy::DropOldest => "drop_oldest",
            Policy::Disconnect => "disconnect",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Policy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "conflate" => Ok(Policy::Conflate),
            "drop_oldest" => Ok(Policy::DropOldest),
            "disconnect" => Ok(Policy::Disconnect),
            other => Err(Error::invalid(format!(
                "unknown policy {other:?} (expected \"conflate\", \"drop_oldest\" or \"disconnect\")"
            ))),
        }
    }
}

/// Default number of publications kept per topic for recovery.
pub const DEFAULT_HISTORY: usize = 1000;
/// Default queue cap of a subscription, in messages.
pub const DEFAULT_QUEUE_MESSAGES: usize = 1024;
/// Default queue cap of a subscription, in encoded bytes.
pub const DEFAULT_QUEUE_BYTES: usize = 1 << 20;
/// Default number of publication ids remembered per topic for dedupe.
pub const DEFAULT_DEDUPE_CAPACITY: usize = 10_000;
/// Default time a publication id is remembered for dedupe.
pub const DEFAULT_DEDUPE_HORIZON: Duration = Duration::from_secs(300);

/// Settings of a [`Hub`](super::Hub).
#[derive(Debug, Clone, PartialEq)]
pub struct HubConfig {
    /// Publications kept per topic for recovery (`since`). 0 keeps none: only an up-to-date client
    /// recovers. Default 1000.
    pub history: usize,
    /// Publications older than this are dropped from history. Default `None` (count only).
    pub history_age: Option<Duration>,
    /// Default slow-consumer policy of subscriptions. Default [`Policy::Conflate`].
    pub policy: Policy,
    /// Default queue cap of subscriptions, in messages (≥ 1). Default 1024.
    pub queue_messages: usize,
    /// Default queue cap of subscriptions, in encoded bytes of the subscription's format (≥ 1).
    /// Default 1 MiB. A single message larger than the cap is still delivered, alone in the queue.
    pub queue_bytes: usize,
    /// Wire messages longer than this are gzipped; `None` never compresses. Default 1024.
    pub compress_over: Option<usize>,
    /// Gzip level, 0 to 9. Default 6.
    pub compress_level: u32,
    /// Publication ids remembered per topic for dedupe (≥ 1). Default 10 000.
    pub dedupe_capacity: usize,
    /// How long a publication id is remembered; `None` bounds by count only. Default 5 minutes.
    pub dedupe_horizon: Option<Duration>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            history: DEFAULT_HISTORY,
            history_age: None,
            policy: Policy::Conflate,
            queue_messages: DEFAULT_QUEUE_MESSAGES,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            compress_over: Some(DEFAULT_COMPRESS_OVER),
            compress_level: DEFAULT_LEVEL,
            dedupe_capacity: DEFAULT_DEDUPE_CAPACITY,
            dedupe_horizon: Some(DEFAULT_DEDUPE_HORIZON),
        }
    }
}

impl HubConfig {
    /// Checks every range: queue caps and dedupe capacity ≥ 1, gzip level ≤ 9, durations > 0.
    pub fn validate(&self) -> Result<()> {
        if self.queue_messages == 0 {
            return Err(Error::invalid("queue_messages must be at least 1"));
        }
        if self.queue_bytes == 0 {
            return Err(Error::invalid("queue_bytes must be at least 1"));
        }
        if self.compress_level > 9 {
            return Err(Error::invalid(format!(
                "compress_level {} is not in 0..=9",
                self.compress_level
            )));
        }
        if self.dedupe_capacity == 0 {
            return Err(Error::invalid("dedupe_capacity must be at least 1"));
        }
        if self.history_age == Some(Duration::ZERO) {
            return Err(Error::invalid("history_age must be positive"));
        }
        if self.dedupe_horizon == Some(Duration::ZERO) {
            return Err(Error::invalid("dedupe_horizon must be positive"));
        }
        Ok(())
    }
}

/// A resume point: the last `(epoch, seq)` a client applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Since {
    /// The epoch of the topic history the client followed.
    pub epoch: String,
    /// The last seq the client applied (0 = only the empty snapshot).
    pub seq: u64,
}

impl Since {
    /// A resume point.
    pub fn new(epoch: impl Into<String>, seq: u64) -> Self {
        Since {
            epoch: epoch.into(),
            seq,
        }
    }
}

/// Options of [`Hub::subscribe`](super::Hub::subscribe); `None` fields take the hub's defaults.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubscribeOptions {
    /// Resume point; `None` starts with a snapshot.
    pub since: Option<Since>,
    /// Slow-consumer policy; default [`HubConfig::policy`].
    pub policy: Option<Policy>,
    /// Queue cap in messages (≥ 1); default [`HubConfig::queue_messages`].
    pub queue_messages: Option<usize>,
    /// Queue cap in encoded bytes (≥ 1); default [`HubConfig::queue_bytes`].
    pub queue_bytes: Option<usize>,
    /// Wire format whose bytes are counted against `queue_bytes` and encoded eagerly. Default MessagePack.
    pub format: Format,
    /// Gzip messages over the hub's `compress_over` for this subscriber (`None`: yes). `Some(false)`
    /// never gzips: plain WebSocket clients and SSE read text.
    pub compress: Option<bool>,
}

impl SubscribeOptions {
    /// Options resuming from `(epoch, seq)`.
    pub fn since(epoch: impl Into<String>, seq: u64) -> Self {
        SubscribeOptions {
            since: Some(Since::new(epoch, seq)),
            ..SubscribeOptions::default()
        }
    }
}

/// Subscription settings with the hub defaults applied and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueLimits {
    pub(crate) policy: Policy,
    pub(crate) max_messages: usize,
    pub(crate) max_bytes: usize,
    pub(crate) wire: Wire,
}

impl QueueLimits {
    /// Applies the hub defaults to `opts` and checks the caps.
    pub(crate) fn resolve(config: &HubConfig, opts: &SubscribeOptions) -> Result<Self> {
        let limits = QueueLimits {
            policy: opts.policy.unwrap_or(config.policy),
            max_messages: opts.queue_messages.unwrap_or(config.queue_messages),
            max_bytes: opts.queue_bytes.unwrap_or(config.queue_bytes),
            wire: Wire {
                format: opts.format,
                compress: opts.compress.unwrap_or(true),
            },
        };
        if limits.max_messages == 0 || limits.max_bytes == 0 {
            return Err(Error::invalid("queue caps must be at least 1"));
        }
        Ok(limits)
    }
}
