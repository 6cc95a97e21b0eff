//! Rolling windows of call outcomes for the failure-rate rule, lock-free.
//!
//! - [`CountWindow`]: a ring of the last `n` outcomes (one `AtomicU8` each) plus running totals packed
//!   in one `AtomicU64` (calls in the high half, failures in the low half). Every slot swap applies its
//!   delta to the totals with one wrapping `fetch_add`, so the totals always equal the ring's contents
//!   once concurrent writers are done, and reading them is O(1).
//! - [`TimeWindow`]: `buckets` atomic words, each packing the bucket's index (24 bits), calls (20 bits)
//!   and failures (20 bits); a write to a bucket whose index is stale restarts it. Reading sums the
//!   buckets of the current span. Per-bucket counts saturate at 2^20 − 1 calls (a saturated bucket stops
//!   counting, so the ratio it holds stays representative). Indexes wrap after 2^24 buckets; a bucket
//!   left untouched for an exact multiple of that could be read as current once, which only skews one
//!   reading of the ratio.

use super::config::RateWindow;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

const EMPTY: u8 = 0;
const OK: u8 = 1;
const FAILED: u8 = 2;

/// The last `n` outcomes.
#[derive(Debug)]
pub(crate) struct CountWindow {
    slots: Box<[AtomicU8]>,
    cursor: AtomicU64,
    /// `calls << 32 | failures`, updated with wrapping adds.
    totals: AtomicU64,
}

fn pack_totals(calls: u64, failures: u64) -> u64 {
    (calls << 32).wrapping_add(failures)
}

impl CountWindow {
    fn new(n: u32) -> Self {
        CountWindow {
            slots: (0..n).map(|_| AtomicU8::new(EMPTY)).collect(),
            cursor: AtomicU64::new(0),
            totals: AtomicU64::new(0),
        }
    }

    fn delta(old: u8, new: u8) -> u64 {
        let calls = (new != EMPTY) as i64 - (old != EMPTY) as i64;
        let failures = (new == FAILED) as i64 - (old == FAILED) as i64;
        ((calls << 32) + failures) as u64
    }

    fn record(&self, failed: bool) -> (u64, u64) {
        let n = self.slots.len() as u64;
        let i = (self.cursor.fetch_add(1, Ordering::Relaxed) % n) as usize;
        let new = if failed { FAILED } else { OK };
        let old = self.slots[i].swap(new, Ordering::AcqRel);
        let d = Self::delta(old, new);
        let t = self.totals.fetch_add(d, Ordering::AcqRel).wrapping_add(d);
        (t >> 32, t & 0xffff_ffff)
    }

    fn reset(&self) {
        let (mut calls, mut failures) = (0u64, 0u64);
        for slot in self.slots.iter() {
            let old = slot.swap(EMPTY, Ordering::AcqRel);
            calls += (old != EMPTY) as u64;
            failures += (old == FAILED) as u64;
        }
        self.totals
            .fetch_sub(pack_totals(calls, failures), Ordering::AcqRel);
    }

    fn totals(&self) -> (u64, u64) {
        let t = self.totals.load(Ordering::Acquire);
        (t >> 32, t & 0xffff_ffff)
    }
}

const IDX_BITS: u32 = 24;
const IDX_MASK: u64 = (1 << IDX_BITS) - 1;
const CNT_BITS: u32 = 20;
const CNT_MAX: u64 = (1 << CNT_BITS) - 1;

fn unpack_bucket(w: u64) -> (u64, u64, u64) {
    (w >> 40, (w >> CNT_BITS) & CNT_MAX, w & CNT_MAX)
}

fn pack_bucket(idx: u64, calls: u64, failures: u64) -> u64 {
    ((idx & IDX_MASK) << 40) | (calls << CNT_BITS) | failures
}

/// Outcomes of the last `duration`, in buckets.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    buckets: Box<[AtomicU64]>,
    bucket_nanos: u64,
}

impl TimeWindow {
    fn new(duration: Duration, buckets: u32) -> Self {
        let bucket_nanos = (duration.as_nanos() / buckets as u128).max(1) as u64;
        TimeWindow {
            buckets: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
            bucket_nanos,
        }
    }

    /// Age of bucket index `idx` relative to the current index `now` (both 24-bit, wrapping).
    fn age(now: u64, idx: u64) -> u64 {
        now.wrapping_sub(idx) & IDX_MASK
    }

    fn record(&self, now_nanos: u64, failed: bool) -> (u64, u64) {
        let abs = now_nanos / self.bucket_nanos;
        let n = self.buckets.len() as u64;
        let idx = abs & IDX_MASK;
        let slot = &self.buckets[(abs % n) as usize];
        let mut cur = slot.load(Ordering::Acquire);
        loop {
            let (cidx, calls, failures) = unpack_bucket(cur);
            // A bucket left from an earlier span restarts at this index.
            let (calls, failures) = if cidx == idx {
                (calls, failures)
            } else {
                (0, 0)
            };
            if calls >= CNT_MAX {
                break;
            }
            let next = pack_bucket(idx, calls + 1, failures + failed as u64);
            match slot.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        self.totals_at(idx)
    }

    fn totals_at(&self, idx: u64) -> (u64, u64) {
        let n = self.buckets.len() as u64;
        let (mut calls, mut failures) = (0, 0);
        for b in self.buckets.iter() {
            let (bidx, c, f) = unpack_bucket(b.load(Ordering::Acquire));
            if Self::age(idx, bidx) < n {
                calls += c;
                failures += f;
            }
        }
        (calls, failures)
    }

    fn reset(&self) {
        for b in self.buckets.iter() {
            b.store(0, Ordering::Release);
        }
    }
}

/// The configured rolling window.
#[derive(Debug)]
pub(crate) enum Rolling {
    /// Count-based.
    Count(CountWindow),
    /// Time-based.
    Time(TimeWindow),
}

impl Rolling {
    /// Builds the window for a validated config.
    pub(crate) fn new(cfg: &RateWindow) -> Self {
        match *cfg {
            RateWindow::Count(n) => Rolling::Count(CountWindow::new(n)),
            RateWindow::Time { duration, buckets } => {
                Rolling::Time(TimeWindow::new(duration, buckets))
            }
        }
    }

    /// Whether recording needs the current time.
    pub(crate) fn needs_time(&self) -> bool {
        matches!(self, Rolling::Time(_))
    }

    /// Records one outcome and returns the window's `(calls, failures)` after it.
    pub(crate) fn record(&self, now_nanos: u64, failed: bool) -> (u64, u64) {
        match self {
            Rolling::Count(w) => w.record(failed),
            Rolling::Time(w) => w.record(now_nanos, failed),
        }
    }

    /// The window's `(calls, failures)` at `now_nanos`.
    pub(crate) fn totals(&self, now_nanos: u64) -> (u64, u64) {
        match self {
            Rolling::Count(w) => w.totals(),
            Rolling::Time(w) => w.totals_at((now_nanos / w.bucket_nanos) & IDX_MASK),
        }
    }

    /// Forgets every recorded outcome.
    pub(crate) fn reset(&self) {
        match self {
            Rolling::Count(w) => w.reset(),
            Rolling::Time(w) => w.reset(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn count_window_keeps_the_last_n_outcomes() {
        let w = Rolling::new(&RateWindow::Count(4));
        assert_eq!(w.record(0, true), (1, 1));
        assert_eq!(w.record(0, false), (2, 1));
        assert_eq!(w.record(0, true), (3, 2));
        assert_eq!(w.record(0, true), (4, 3));
        // The fifth outcome evicts the first (a failure).
        assert_eq!(w.record(0, false), (4, 2));
        assert_eq!(w.record(0, false), (4, 2));
        assert_eq!(w.record(0, false), (4, 1));
        assert_eq!(w.record(0, false), (4, 0));
        w.reset();
        assert_eq!(w.totals(0), (0, 0));
        assert_eq!(w.record(0, true), (1, 1));
    }

    #[test]
    fn count_window_totals_stay_exact_under_concurrent_writers() {
        let w = Rolling::new(&RateWindow::Count(64));
        std::thread::scope(|s| {
            for t in 0..4 {
                let w = &w;
                s.spawn(move || {
                    for i in 0..10_000u32 {
                        w.record(0, (i + t) % 3 == 0);
                    }
                });
            }
        });
        let (calls, failures) = w.totals(0);
        assert_eq!(calls, 64);
        let Rolling::Count(cw) = &w else {
            unreachable!()
        };
        let actual = cw
            .slots
            .iter()
            .filter(|s| s.load(Ordering::Relaxed) == FAILED)
            .count() as u64;
        assert_eq!(failures, actual);
    }

    #[test]
    fn time_window_expires_old_buckets() {
        let w = Rolling::new(&RateWindow::Time {
            duration: Duration::from_secs(10),
            buckets: 10,
        });
        assert_eq!(w.record(0, true), (1, 1));
        assert_eq!(w.record(999 * MS, false), (2, 1));
        assert_eq!(w.record(5_000 * MS, true), (3, 2));
        // At 9.999 s the bucket [0, 1 s) is still the oldest one of the window.
        assert_eq!(w.totals(9_999 * MS), (3, 2));
        // At 10 s it has left the window.
        assert_eq!(w.totals(10_000 * MS), (1, 1));
        // Writing into the reused slot restarts it.
        assert_eq!(w.record(10_500 * MS, false), (2, 1));
        assert_eq!(w.totals(15_000 * MS), (1, 0));
        assert_eq!(w.totals(100_000 * MS), (0, 0));
        w.reset();
        assert_eq!(w.totals(10_500 * MS), (0, 0));
    }

    #[test]
    fn time_window_bucket_saturates_instead_of_overflowing() {
        let w = TimeWindow::new(Duration::from_secs(1), 1);
        w.buckets[0].store(pack_bucket(0, CNT_MAX - 1, 5), Ordering::Relaxed);
        assert_eq!(w.record(0, true), (CNT_MAX, 6));
        assert_eq!(w.record(0, true), (CNT_MAX, 6));
    }
}
