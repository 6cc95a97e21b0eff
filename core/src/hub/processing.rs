//! The hub's processing-time histogram, exported as `dashboard_processing_seconds` by every
//! [`Metrics`](crate::metrics::Metrics) that watches the hub.
//!
//! Every publish call of a hub (`publish`, `publish_with_id`, `publish_many`, `publish_results*`,
//! `publish_windows*`) is timed here, whoever makes it (Python, Node, HTTP ingest, a source, the demo,
//! window results), as `dashboard_messages_processed_total` counts every publication. A caller that
//! does more work around its publications (HTTP ingest and the pipeline's aggregator step) times the
//! whole step with [`Hub::timed`](super::Hub::timed): the publish calls inside it, on the same thread,
//! are part of that one observation, never observed twice.
//!
//! Hot-path cost per publish call: two monotonic clock reads, a thread-local flag and two relaxed
//! atomic additions (no lock); the count and the cumulative buckets are summed at scrape time.

use crate::error::Result;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Upper bounds of the buckets in nanoseconds: 10 µs × 4^k for k = 0..9 (10 µs to 2.6 s), the
/// `+Inf` bucket after them.
const BOUNDS_NANOS: [u64; 10] = [
    10_000,
    40_000,
    160_000,
    640_000,
    2_560_000,
    10_240_000,
    40_960_000,
    163_840_000,
    655_360_000,
    2_621_440_000,
];

thread_local! {
    /// True while a timed step runs on this thread (its nested publish calls are part of it).
    static TIMING: Cell<bool> = const { Cell::new(false) };
}

/// A lock-free histogram of processing times.
#[derive(Debug, Default)]
pub(crate) struct Processing {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; BOUNDS_NANOS.len() + 1],
    /// Sum of the observations in nanoseconds.
    sum_nanos: AtomicU64,
}

impl Processing {
    /// Counts one processing time.
    pub(crate) fn observe(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let i = BOUNDS_NANOS
            .iter()
            .position(|&b| nanos <= b)
            .unwrap_or(BOUNDS_NANOS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The figures now.
    pub(crate) fn stats(&self) -> ProcessingStats {
        let mut out = ProcessingStats::default();
        out.add(self);
        out
    }

    /// Runs `f` as one processing step observed here when it succeeds — unless a step is already
    /// timed on this thread, of which `f` is then a part.
    pub(crate) fn timed<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if TIMING.with(Cell::get) {
            return f();
        }
        /// Clears the flag however `f` ends (a panic included).
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                TIMING.with(|t| t.set(false));
            }
        }
        TIMING.with(|t| t.set(true));
        let _reset = Reset;
        let start = Instant::now();
        let out = f();
        if out.is_ok() {
            self.observe(start.elapsed());
        }
        out
    }
}

/// The figures of processing-time histograms (one, or several added up).
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessingStats {
    /// Observations.
    pub count: u64,
    /// Sum of the observations, in seconds.
    pub sum_seconds: f64,
    /// `(upper bound in seconds, observations in this bucket)`, not cumulative, the last bound
    /// `f64::INFINITY` (the shape `prometheus-client`'s histogram encoder takes).
    pub buckets: Vec<(f64, u64)>,
}

impl Default for ProcessingStats {
    fn default() -> Self {
        let bounds = BOUNDS_NANOS.iter().map(|&n| n as f64 / 1e9);
        ProcessingStats {
            count: 0,
            sum_seconds: 0.0,
            buckets: bounds.chain([f64::INFINITY]).map(|b| (b, 0)).collect(),
        }
    }
}

impl ProcessingStats {
    /// Adds the observations of `p`.
    pub(crate) fn add(&mut self, p: &Processing) {
        for ((_, n), b) in self.buckets.iter_mut().zip(&p.buckets) {
            let v = b.load(Ordering::Relaxed);
            *n += v;
            self.count += v;
        }
        self.sum_seconds += p.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn buckets_are_upper_bounds_inclusive() {
        let p = Processing::default();
        p.observe(Duration::from_micros(10));
        p.observe(Duration::from_micros(11));
        p.observe(Duration::from_secs(5));
        let s = p.stats();
        assert_eq!(s.count, 3);
        assert_eq!((s.buckets[0].1, s.buckets[1].1, s.buckets[10].1), (1, 1, 1));
        assert_eq!(s.buckets[0].0, 1e-5);
        assert!(s.buckets[10].0.is_infinite());
        assert!((s.sum_seconds - 5.000021).abs() < 1e-9);
    }

    #[test]
    fn nested_steps_are_observed_once_and_failures_not_at_all() {
        let p = Processing::default();
        let n = p.timed(|| p.timed(|| p.timed(|| Ok(7)))).unwrap();
        assert_eq!((n, p.stats().count), (7, 1));
        let failed: Result<()> = p.timed(|| Err(Error::invalid("no")));
        assert!(failed.is_err());
        assert_eq!(p.stats().count, 1);
        p.timed(|| Ok(())).unwrap();
        assert_eq!(p.stats().count, 2, "the flag is cleared after each step");
    }
}
