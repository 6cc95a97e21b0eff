//! [`History`]: the ring of a topic's last publications, bounded by count and by age, from which a
//! resuming subscriber gets everything it missed — or nothing, never a partial set.

use super::publication::Publication;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// The last publications of one topic epoch, with consecutive seqs.
#[derive(Debug)]
pub(crate) struct History {
    ring: VecDeque<Arc<Publication>>,
    cap: usize,
    max_age_nanos: Option<u64>,
}

impl History {
    /// A ring of at most `cap` publications no older than `max_age`.
    pub(crate) fn new(cap: usize, max_age: Option<Duration>) -> Self {
        History {
            ring: VecDeque::with_capacity(cap.min(1024)),
            cap,
            max_age_nanos: max_age.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        }
    }

    /// Appends the newest publication (its seq follows the last one) and evicts what falls out.
    pub(crate) fn push(&mut self, p: Arc<Publication>, now_nanos: u64) {
        if self.cap == 0 {
            return;
        }
        if self.ring.len() == self.cap {
            self.ring.pop_front();
        }
        self.ring.push_back(p);
        self.evict_aged(now_nanos);
    }

    /// Drops publications older than the maximum age.
    pub(crate) fn evict_aged(&mut self, now_nanos: u64) {
        let Some(max_age) = self.max_age_nanos else {
            return;
        };
        while let Some(front) = self.ring.front() {
            if now_nanos.saturating_sub(front.at_nanos) > max_age {
                self.ring.pop_front();
            } else {
                break;
            }
        }
    }

    /// Every publication after `seq` up to `latest`, when history still holds all of them; `None`
    /// otherwise. `seq == latest` gives an empty set. The caller checks `seq <= latest`.
    pub(crate) fn after(
        &self,
        seq: u64,
        latest: u64,
    ) -> Option<impl ExactSizeIterator<Item = &Arc<Publication>>> {
        if seq >= latest {
            return Some(self.ring.range(self.ring.len()..));
        }
        let first = self.ring.front()?.seq;
        let start = seq.checked_add(1)?;
        if first > start {
            return None;
        }
        let skip = usize::try_from(start - first).ok()?;
        (skip < self.ring.len()).then(|| self.ring.range(skip..))
    }

    /// Forgets everything (a new epoch starts).
    pub(crate) fn clear(&mut self) {
        self.ring.clear();
    }

    /// Publications held.
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }
}
