//! [`Dedupe`]: remembers ids seen within a horizon bounded by count and by time, so that a retried delivery
//! (same idempotency id) is dropped and counted instead of applied twice.
//!
//! It is standalone: the hub keeps one per topic for publication ids, and the pipeline can keep one for
//! event ids. It is not synchronized; wrap it in a mutex to share it.

use crate::clock::SharedClock;
use crate::error::{Error, Result};
use hashbrown::HashSet;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A set of recently seen ids, bounded by count (oldest forgotten first) and by age.
pub struct Dedupe {
    capacity: usize,
    horizon_nanos: Option<u64>,
    clock: SharedClock,
    seen: HashSet<Arc<str>>,
    order: VecDeque<(Arc<str>, u64)>,
    dropped: u64,
}

impl fmt::Debug for Dedupe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dedupe")
            .field("capacity", &self.capacity)
            .field("horizon_nanos", &self.horizon_nanos)
            .field("len", &self.seen.len())
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

impl Dedupe {
    /// Remembers at most `capacity` ids (≥ 1), each for at most `horizon` (`None`: until pushed out by
    /// newer ids). Ages are read from `clock`.
    pub fn new(capacity: usize, horizon: Option<Duration>, clock: SharedClock) -> Result<Self> {
        if capacity == 0 {
            return Err(Error::invalid("dedupe capacity must be at least 1"));
        }
        if horizon == Some(Duration::ZERO) {
            return Err(Error::invalid("dedupe horizon must be positive"));
        }
        Ok(Dedupe {
            capacity,
            horizon_nanos: horizon.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            clock,
            seen: HashSet::new(),
            order: VecDeque::new(),
            dropped: 0,
        })
    }

    /// True when `id` is new (it is remembered from now on); false when it was seen within the horizon
    /// (a duplicate: counted in [`dropped`](Dedupe::dropped)). A repeat does not extend the horizon.
    pub fn check_and_insert(&mut self, id: &str) -> bool {
        if self.contains(id) {
            self.dropped += 1;
            return false;
        }
        self.insert(id);
        true
    }

    /// True when `id` was seen within the horizon. Does not count or remember anything.
    pub fn contains(&mut self, id: &str) -> bool {
        self.expire();
        self.seen.contains(id)
    }

    /// Remembers `id` (no effect if already remembered), forgetting the oldest id when full.
    pub fn insert(&mut self, id: &str) {
        self.expire();
        if self.seen.contains(id) {
            return;
        }
        if self.order.len() >= self.capacity {
            if let Some((old, _)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        let id: Arc<str> = Arc::from(id);
        self.seen.insert(id.clone());
        self.order.push_back((id, self.clock.now_nanos()));
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True when no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Duplicates refused by [`check_and_insert`](Dedupe::check_and_insert) so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Forgets every id (the drop count stays).
    pub fn clear(&mut self) {
        self.seen.clear();
        self.order.clear();
    }

    fn expire(&mut self) {
        let Some(horizon) = self.horizon_nanos else {
            return;
        };
        let now = self.clock.now_nanos();
        while let Some((_, at)) = self.order.front() {
            if now.saturating_sub(*at) < horizon {
                break;
            }
            if let Some((old, _)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
    }
}
