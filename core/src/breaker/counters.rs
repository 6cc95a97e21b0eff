//! The breaker's statistics: [`BreakerCounters`] (a snapshot) and the striped atomic counters behind it.
//!
//! Each thread increments its own cache-line-aligned stripe (picked once per thread), so counting a call
//! never makes two threads fight over one cache line; a snapshot sums the stripes.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counts of what a breaker has seen since it was built (or since `reset()`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BreakerCounters {
    /// Calls let through (granted permits), trials included.
    pub calls: u64,
    /// Calls reported successful (not slow, not timed out).
    pub successes: u64,
    /// Calls that counted as failures: reported failures, slow calls and timeouts.
    pub failures: u64,
    /// Calls reported as ignored (excluded errors) or whose permit was dropped without a report.
    pub ignored: u64,
    /// Calls rejected because the breaker was open or its half-open trial slots were taken.
    pub rejections: u64,
    /// Calls slower than `slow_call_duration` (also counted in `failures`).
    pub slow_calls: u64,
    /// Calls that timed out (also counted in `failures`).
    pub timeouts: u64,
    /// State transitions.
    pub state_changes: u64,
}

/// Index of each counter in a stripe.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    Calls = 0,
    Successes,
    Failures,
    Ignored,
    Rejections,
    SlowCalls,
    Timeouts,
    StateChanges,
}

const N: usize = 8;
const STRIPES: usize = 8;

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe([AtomicU64; N]);

/// Striped counters (see the module docs).
#[derive(Debug)]
pub(crate) struct Counters {
    stripes: Box<[Stripe]>,
}

fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|i| {
        let mut v = i.get();
        if v == usize::MAX {
            v = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
            i.set(v);
        }
        v
    })
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
        }
    }
}

impl Counters {
    /// Adds one to `c`.
    #[inline]
    pub(crate) fn bump(&self, c: Counter) {
        self.stripes[stripe_index()].0[c as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Sums the stripes.
    pub(crate) fn snapshot(&self) -> BreakerCounters {
        let mut sum = [0u64; N];
        for s in self.stripes.iter() {
            for (acc, c) in sum.iter_mut().zip(s.0.iter()) {
                *acc += c.load(Ordering::Relaxed);
            }
        }
        BreakerCounters {
            calls: sum[Counter::Calls as usize],
            successes: sum[Counter::Successes as usize],
            failures: sum[Counter::Failures as usize],
            ignored: sum[Counter::Ignored as usize],
            rejections: sum[Counter::Rejections as usize],
            slow_calls: sum[Counter::SlowCalls as usize],
            timeouts: sum[Counter::Timeouts as usize],
            state_changes: sum[Counter::StateChanges as usize],
        }
    }

    /// Sets every counter to zero.
    pub(crate) fn clear(&self) {
        for s in self.stripes.iter() {
            for c in s.0.iter() {
                c.store(0, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up() {
        let c = Counters::default();
        std::thread::scope(|s| {
            for _ in 0..5 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        c.bump(Counter::Calls);
                        c.bump(Counter::Timeouts);
                    }
                });
            }
        });
        let snap = c.snapshot();
        assert_eq!(snap.calls, 5000);
        assert_eq!(snap.timeouts, 5000);
        assert_eq!(snap.successes, 0);
        c.clear();
        assert_eq!(c.snapshot(), BreakerCounters::default());
    }
}
