//! Monotonic time behind a trait, so that breakers, idle window close and history ages can be driven by
//! tests without sleeping.
//!
//! [`SystemClock`] reads `std::time::Instant`; [`ManualClock`] only moves when a test calls
//! [`ManualClock::advance`]. Both report milliseconds (and nanoseconds) since the clock's own origin.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A monotonic clock. Readings never go backwards.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Nanoseconds since this clock's origin.
    fn now_nanos(&self) -> u64;

    /// Milliseconds since this clock's origin.
    fn now_ms(&self) -> u64 {
        self.now_nanos() / 1_000_000
    }
}

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;

/// The real monotonic clock (`Instant`), with its origin at construction.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }

    /// A shared system clock.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock::new())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now_nanos(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
}

/// A clock that moves only when told to: for deterministic tests and for the bindings' test hooks.
#[derive(Debug, Default, Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock at 0.
    pub fn new() -> Self {
        ManualClock::default()
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.nanos.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: u64) {
        self.advance(Duration::from_millis(ms));
    }

    /// Sets the clock to `nanos`, if that is not earlier than now (monotonic).
    pub fn set_nanos(&self, nanos: u64) {
        self.nanos.fetch_max(nanos, Ordering::SeqCst);
    }

    /// This clock as a shared trait object (the handle keeps controlling it).
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_never_back() {
        let c = ManualClock::new();
        let shared = c.shared();
        assert_eq!(shared.now_ms(), 0);
        c.advance_ms(1500);
        assert_eq!(shared.now_ms(), 1500);
        c.set_nanos(1);
        assert_eq!(shared.now_ms(), 1500);
        c.set_nanos(2_000_000_000);
        assert_eq!(shared.now_ms(), 2000);
    }

    #[test]
    fn system_clock_is_monotonic() {
        let c = SystemClock::new();
        let a = c.now_nanos();
        let b = c.now_nanos();
        assert!(b >= a);
    }
}
