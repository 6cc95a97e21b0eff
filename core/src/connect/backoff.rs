//! [`Backoff`]: exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And
//! Jitter"): the n-th wait is uniform in `[0, min(cap, base · 2ⁿ)]`, so that many clients reconnecting
//! after one outage spread out instead of retrying in lock-step. `backon`'s jitter adds to the delay
//! instead of drawing the whole of it, hence this small type.

use std::time::Duration;

/// The wait before each retry of one operation; [`reset`](Backoff::reset) after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    state: u64,
}

impl Backoff {
    /// Waits growing from `base` (doubling) up to `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        let seed = getrandom::u64().unwrap_or(0x9e37_79b9_7f4a_7c15) | 1;
        Backoff {
            base,
            cap: cap.max(base),
            attempt: 0,
            state: seed,
        }
    }

    /// The connectors' default: 50 ms doubling up to 5 s.
    pub fn connector() -> Self {
        Backoff::new(Duration::from_millis(50), Duration::from_secs(5))
    }

    /// The ceiling of the next wait (before jitter).
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The next wait: uniform in `[0, ceiling]`; the ceiling then doubles.
    pub fn next_wait(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64*: plenty for spreading retries.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let r = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
        ceiling.mul_f64(unit)
    }

    /// Retries so far since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Back to the first wait (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_stay_under_a_doubling_ceiling_and_spread() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(300));
        let mut ceilings = Vec::new();
        let mut waits = Vec::new();
        for _ in 0..12 {
            let c = b.ceiling();
            let w = b.next_wait();
            assert!(w <= c, "{w:?} > {c:?}");
            ceilings.push(c.as_millis());
            waits.push(w);
        }
        assert_eq!(&ceilings[..6], &[10, 20, 40, 80, 160, 300]);
        assert_eq!(*ceilings.last().unwrap(), 300);
        waits.sort();
        waits.dedup();
        assert!(
            waits.len() > 6,
            "full jitter draws distinct waits: {waits:?}"
        );
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(10));
    }
}
