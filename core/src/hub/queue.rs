//! The bounded queue of one subscription and its slow-consumer policies.
//!
//! The queue holds shared publications (an `Arc` each, never a copy) and counts their encoded size in the
//! subscription's format. It is full when one more message would pass `max_messages` or `max_bytes`; the
//! policy then decides:
//! - `conflate`: every queued message after a leading `recovered` header is merged with the new one into a
//!   single message carrying the newest seq and the newest value of every metric — a snapshot if the queue
//!   started with one, an update otherwise;
//! - `drop_oldest`: the oldest messages are dropped (counted) until the new one fits;
//! - `disconnect`: the queue reports the overflow and the subscription ends.
//!
//! Bounds: an empty queue always accepts one message, even one larger than `max_bytes`, so a large
//! snapshot still reaches its subscriber; under `conflate` a leading `recovered` header (about 80 bytes)
//! stays in front of the merged message.

use super::config::{Policy, QueueLimits};
use super::latest::LatestValues;
use super::publication::{Kind, Publication};
use crate::error::Result;
use std::collections::VecDeque;
use std::sync::Arc;

/// One queued message and its size in the queue's format.
#[derive(Debug)]
struct Entry {
    p: Arc<Publication>,
    len: usize,
}

/// What happened to a pushed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; `dropped` older messages were dropped and `conflated` were merged to make room.
    Queued { dropped: u64, conflated: u64 },
    /// The queue was full and the policy is `disconnect`: nothing was queued.
    Overflow,
}

/// A bounded FIFO of publications with a slow-consumer policy.
#[derive(Debug)]
pub(crate) struct Queue {
    entries: VecDeque<Entry>,
    bytes: usize,
    limits: QueueLimits,
    peak_messages: usize,
    peak_bytes: usize,
}

impl Queue {
    pub(crate) fn new(limits: QueueLimits) -> Self {
        Queue {
            // Grows on demand: an idle subscriber (one per idle connection) holds a few slots, not 64.
            entries: VecDeque::new(),
            bytes: 0,
            limits,
            peak_messages: 0,
            peak_bytes: 0,
        }
    }

    pub(crate) fn limits(&self) -> &QueueLimits {
        &self.limits
    }

    /// Messages queued.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Encoded bytes queued.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Most messages ever queued at once.
    pub(crate) fn peak_messages(&self) -> usize {
        self.peak_messages
    }

    /// Most bytes ever queued at once.
    pub(crate) fn peak_bytes(&self) -> usize {
        self.peak_bytes
    }

    /// Whether one more message of `len` bytes fits (an empty queue takes any one message).
    fn fits(&self, len: usize) -> bool {
        self.entries.is_empty()
            || (self.entries.len() < self.limits.max_messages
                && self.bytes.saturating_add(len) <= self.limits.max_bytes)
    }

    /// Appends `p` without applying the policy (the caller checked the caps, or `p` is the only message).
    pub(crate) fn push_unchecked(&mut self, p: Arc<Publication>) -> Result<()> {
        let len = p.bytes(self.limits.wire)?.len();
        self.push_back(p, len);
        Ok(())
    }

    /// Appends `p`, applying the policy when the queue is full.
    pub(crate) fn push(&mut self, p: &Arc<Publication>) -> Result<Pushed> {
        let len = p.bytes(self.limits.wire)?.len();
        if self.fits(len) {
            self.push_back(p.clone(), len);
            return Ok(Pushed::Queued {
                dropped: 0,
                conflated: 0,
            });
        }
        match self.limits.policy {
            Policy::Disconnect => Ok(Pushed::Overflow),
            Policy::DropOldest => {
                let mut dropped = 0;
                while !self.fits(len) {
                    if let Some(old) = self.entries.pop_front() {
                        self.bytes -= old.len;
                        dropped += 1;
                    }
                }
                self.push_back(p.clone(), len);
                Ok(Pushed::Queued {
                    dropped,
                    conflated: 0,
                })
            }
            Policy::Conflate => self.conflate(p),
        }
    }

    /// Merges the queued messages (after a leading recovered header) with `p` into one message.
    fn conflate(&mut self, p: &Arc<Publication>) -> Result<Pushed> {
        let keep = usize::from(
            self.entries
                .front()
                .is_some_and(|e| e.p.kind == Kind::Recovered),
        );
        if self.entries.len() == keep {
            self.push_back(p.clone(), p.bytes(self.limits.wire)?.len());
            return Ok(Pushed::Queued {
                dropped: 0,
                conflated: 0,
            });
        }
        let base = &self.entries[keep].p;
        let (kind, recovered) = match base.kind {
            Kind::Snapshot => (Kind::Snapshot, base.recovered),
            _ => (Kind::Update, None),
        };
        let mut parts = Vec::with_capacity(self.entries.len() - keep + 1);
        for e in self.entries.range(keep..) {
            parts.push(e.p.data()?);
        }
        parts.push(p.data()?);
        let data = LatestValues::merged(parts.iter().map(|d| &**d));
        let merged = Arc::new(p.derive(kind, data, recovered));
        let len = merged.bytes(self.limits.wire)?.len();
        let conflated = (self.entries.len() - keep) as u64;
        while self.entries.len() > keep {
            if let Some(old) = self.entries.pop_back() {
                self.bytes -= old.len;
            }
        }
        self.push_back(merged, len);
        Ok(Pushed::Queued {
            dropped: 0,
            conflated,
        })
    }

    fn push_back(&mut self, p: Arc<Publication>, len: usize) {
        self.entries.push_back(Entry { p, len });
        self.bytes += len;
        self.peak_messages = self.peak_messages.max(self.entries.len());
        self.peak_bytes = self.peak_bytes.max(self.bytes);
    }

    /// Takes the oldest message.
    pub(crate) fn pop(&mut self) -> Option<Arc<Publication>> {
        let e = self.entries.pop_front()?;
        self.bytes -= e.len;
        Some(e.p)
    }

    /// Empties the queue.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}
