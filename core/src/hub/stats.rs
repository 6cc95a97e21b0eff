//! Counters of the hub ([`HubStats`]), of one topic ([`TopicStats`]) and of one subscription
//! ([`SubscriptionStats`]), and the hub-wide atomic [`Counters`] behind them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Hub-wide event counters, bumped once per publish (not per subscriber) on the hot path.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) publications: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    pub(crate) dropped_oldest: AtomicU64,
    pub(crate) conflated: AtomicU64,
    pub(crate) disconnected: AtomicU64,
    pub(crate) dedupe_dropped: AtomicU64,
}

impl Counters {
    /// Adds `n` to `counter` (skipping the atomic when `n` is 0).
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Figures of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicStats {
    /// Dashboard id.
    pub dashboard: String,
    /// Current epoch.
    pub epoch: String,
    /// Latest seq (0 before the first publication).
    pub seq: u64,
    /// Open subscriptions.
    pub subscribers: usize,
    /// Publications held in history.
    pub history: usize,
    /// Metrics in the snapshot.
    pub metrics: usize,
}

/// Figures of the whole hub.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HubStats {
    /// Every topic, sorted by dashboard id.
    pub topics: Vec<TopicStats>,
    /// Open subscriptions over all topics.
    pub subscribers: usize,
    /// Publications accepted (seq assigned).
    pub publications: u64,
    /// Messages handed to subscriber queues (first messages included; merged ones count once).
    pub deliveries: u64,
    /// Messages dropped by the `drop_oldest` policy.
    pub dropped_oldest: u64,
    /// Queued messages merged away by the `conflate` policy.
    pub conflated: u64,
    /// Subscriptions ended by the `disconnect` policy (`slow_consumer`).
    pub disconnected: u64,
    /// Publications refused because their id was seen within the dedupe horizon.
    pub dedupe_dropped: u64,
    /// Wire encodes performed: at most one per message and format, whatever the subscriber count.
    pub encodes: u64,
}

/// Figures of one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriptionStats {
    /// Messages waiting in the queue.
    pub queued_messages: usize,
    /// Encoded bytes waiting in the queue (in the subscription's format).
    pub queued_bytes: usize,
    /// Most messages ever queued at once.
    pub peak_messages: usize,
    /// Most bytes ever queued at once.
    pub peak_bytes: usize,
    /// Messages received by the consumer.
    pub received: u64,
    /// Messages dropped by `drop_oldest`.
    pub dropped: u64,
    /// Queued messages merged away by `conflate`.
    pub conflated: u64,
}
