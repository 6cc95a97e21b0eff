//! Keyed rate limiting (per client, per dashboard): a GCRA token bucket per string key, from the
//! `governor` crate (its DashMap-backed keyed limiter), on dashfeed's injectable monotonic clock.
//!
//! A [`RateLimiter`] allows `burst` calls at once per key and refills at `rate` calls per second;
//! [`RateLimiter::check`] returns `Ok(())` or [`Error::RateLimited`] (code `rate_limited`) with the exact
//! `retry_after`. Keys are independent. Use one limiter per kind of key (one for clients, one for
//! dashboards) when their quotas differ.
//!
//! Memory: a key's state is one `u64` in a sharded map. A key whose bucket has refilled completely is
//! indistinguishable from an unseen key, so it can be dropped without changing any decision.
//! [`RateLimiter::retain_recent`] drops those keys (governor's rule: full for at least one more
//! `1 / rate`); `check` also runs it by itself once per `sweep_interval` (the thread that notices the
//! interval has passed does the sweep, O(keys)). So the map holds at most the keys used within the
//! last `(burst + 1) / rate + sweep_interval`.

use crate::clock::{SharedClock, SystemClock};
use crate::codec::Value;
use crate::error::{Error, Result};
use crate::options::{FromOptions, Options, Style};
use governor::clock::Clock as GovernorClock;
use governor::state::keyed::DashMapStateStore;
use std::cell::{Cell, RefCell};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Quota of a [`RateLimiter`].
#[derive(Debug, Clone, PartialEq)]
pub struct LimiterConfig {
    /// Sustained rate, in calls per second (finite, in `1e-9..=1e9`).
    pub rate: f64,
    /// Calls allowed at once on a fresh (or fully refilled) key (at least 1).
    pub burst: u32,
    /// How often `check` drops keys whose bucket is full again (at least 1 ms).
    pub sweep_interval: Duration,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            rate: 10.0,
            burst: 20,
            sweep_interval: Duration::from_secs(10),
        }
    }
}

impl LimiterConfig {
    /// A quota of `rate` calls per second with bursts of `burst`, default sweep interval.
    pub fn new(rate: f64, burst: u32) -> Self {
        LimiterConfig {
            rate,
            burst,
            ..LimiterConfig::default()
        }
    }

    /// Checks the quota; errors with `invalid_input`.
    pub fn validate(&self) -> Result<()> {
        self.quota().map(|_| ())
    }

    fn quota(&self) -> Result<governor::Quota> {
        if !(self.rate.is_finite() && (1e-9..=1e9).contains(&self.rate)) {
            return Err(Error::invalid(format!(
                "rate must be a number of calls per second in 1e-9..=1e9, got {}",
                self.rate
            )));
        }
        let burst = NonZeroU32::new(self.burst)
            .ok_or_else(|| Error::invalid("burst must be at least 1"))?;
        if self.sweep_interval < Duration::from_millis(1) {
            return Err(Error::invalid("sweep_interval must be at least 1 ms"));
        }
        let period = Duration::try_from_secs_f64(1.0 / self.rate)
            .map_err(|e| Error::invalid(format!("rate {}: {e}", self.rate)))?;
        governor::Quota::with_period(period)
            .map(|q| q.allow_burst(burst))
            .ok_or_else(|| Error::invalid(format!("rate {} is too high", self.rate)))
    }
}

impl FromOptions for LimiterConfig {
    /// Builds and validates a quota from a binding's options map `{rate, burst}` (see
    /// [`crate::options`]): `rate` calls per second is required; `burst` defaults to `rate` rounded
    /// up (at least 1). The Python and Node constructors take them as arguments and pass this map.
    /// No option is a duration: `warn` is never called.
    fn from_value_with(v: &Value, style: Style, _: &mut dyn FnMut(&str, f64)) -> Result<Self> {
        let o = Options::new(v, "RateLimiter", style, &["rate", "burst"])?;
        let rate = o
            .number("rate")?
            .ok_or_else(|| Error::invalid("RateLimiter needs a rate (calls per second)"))?;
        let burst = match o.count_u32("burst")? {
            Some(b) => b,
            None => (rate.ceil() as u32).max(1),
        };
        let config = LimiterConfig::new(rate, burst);
        config.validate()?;
        Ok(config)
    }
}

/// dashfeed's clock as a governor clock (instants are durations since the clock's origin).
#[derive(Debug, Clone)]
struct ClockAdapter(SharedClock);

impl GovernorClock for ClockAdapter {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.now_nanos())
    }
}

type Keyed = governor::RateLimiter<
    String,
    DashMapStateStore<String>,
    ClockAdapter,
    governor::middleware::NoOpMiddleware<Duration>,
>;

/// Checks between two looks at the sweep deadline, per thread.
const SWEEP_CHECK_EVERY: u32 = 64;

thread_local! {
    /// Reused key buffer: looking up an existing key does not allocate.
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
    static COUNTDOWN: Cell<u32> = const { Cell::new(0) };
}

/// A keyed rate limiter (see the module docs). Share it by reference or in an `Arc`.
pub struct RateLimiter {
    inner: Keyed,
    clock: ClockAdapter,
    config: LimiterConfig,
    sweep_nanos: u64,
    next_sweep_nanos: AtomicU64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("config", &self.config)
            .field("keys", &self.inner.len())
            .finish()
    }
}

impl RateLimiter {
    /// A limiter on the system's monotonic clock. Errors with `invalid_input` on a bad quota.
    pub fn new(config: LimiterConfig) -> Result<Self> {
        Self::with_clock(config, SystemClock::shared())
    }

    /// A limiter on `clock` (a `ManualClock` in tests). Errors with `invalid_input` on a bad quota.
    pub fn with_clock(config: LimiterConfig, clock: SharedClock) -> Result<Self> {
        let quota = config.quota()?;
        let clock = ClockAdapter(clock);
        let sweep_nanos = u64::try_from(config.sweep_interval.as_nanos()).unwrap_or(u64::MAX);
        let next = clock.0.now_nanos().saturating_add(sweep_nanos);
        Ok(RateLimiter {
            inner: Keyed::dashmap_with_clock(quota, clock.clone()),
            clock,
            config,
            sweep_nanos,
            next_sweep_nanos: AtomicU64::new(next),
        })
    }

    /// The quota.
    pub fn config(&self) -> &LimiterConfig {
        &self.config
    }

    /// Takes one call from `key`'s bucket: `Ok(())`, or `Err(Error::RateLimited { retry_after })` where
    /// `retry_after` is the exact time until this key's next call would be allowed.
    pub fn check(&self, key: &str) -> Result<()> {
        self.maybe_sweep();
        let decision = with_key(key, |k| self.inner.check_key(k));
        decision.map_err(|not_until| Error::RateLimited {
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// Takes `n` calls from `key`'s bucket at once, all or none (for weighted limits such as bytes).
    /// `n = 0` is always allowed; `n > burst` can never be and errors with `invalid_input`.
    pub fn check_n(&self, key: &str, n: u32) -> Result<()> {
        let Some(n) = NonZeroU32::new(n) else {
            return Ok(());
        };
        self.maybe_sweep();
        let decision = with_key(key, |k| self.inner.check_key_n(k, n));
        match decision {
            Err(_) => Err(Error::invalid(format!(
                "{n} calls at once exceed the burst of {}",
                self.config.burst
            ))),
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Error::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            }),
        }
    }

    /// Number of keys currently stored.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Drops every key whose bucket is full again (no decision changes), and moves the next automatic
    /// sweep one `sweep_interval` away.
    pub fn retain_recent(&self) {
        let next = self.clock.0.now_nanos().saturating_add(self.sweep_nanos);
        self.next_sweep_nanos.store(next, Ordering::Relaxed);
        self.inner.retain_recent();
    }

    /// [`retain_recent`](Self::retain_recent), then gives the freed memory back.
    pub fn shrink(&self) {
        self.retain_recent();
        self.inner.shrink_to_fit();
    }

    /// Every `SWEEP_CHECK_EVERY` checks on a thread, sweeps if the sweep interval has passed. One
    /// caller wins the deadline (compare-and-swap) and sweeps; the others go on.
    fn maybe_sweep(&self) {
        let due = COUNTDOWN.with(|c| {
            let left = c.get();
            if left == 0 {
                c.set(SWEEP_CHECK_EVERY - 1);
                true
            } else {
                c.set(left - 1);
                false
            }
        });
        if !due {
            return;
        }
        let now = self.clock.0.now_nanos();
        let deadline = self.next_sweep_nanos.load(Ordering::Relaxed);
        if now < deadline {
            return;
        }
        let next = now.saturating_add(self.sweep_nanos);
        if self
            .next_sweep_nanos
            .compare_exchange(deadline, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.inner.retain_recent();
        }
    }
}

/// Longest key copied into the per-thread buffer (longer keys are copied into a fresh string, so the
/// buffer never grows past this).
const KEY_BUF_MAX: usize = 256;

/// Runs `f` with `key` as a `&String`, reusing a per-thread buffer (no allocation for a known key).
fn with_key<T>(key: &str, f: impl FnOnce(&String) -> T) -> T {
    if key.len() > KEY_BUF_MAX {
        return f(&key.to_owned());
    }
    KEY.with(|buf| match buf.try_borrow_mut() {
        Ok(mut b) => {
            b.clear();
            b.push_str(key);
            f(&b)
        }
        // Re-entered from inside a check (a custom clock calling back): use a fresh string.
        Err(_) => f(&key.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn make(rate: f64, burst: u32) -> (RateLimiter, ManualClock) {
        let clock = ManualClock::new();
        let l = RateLimiter::with_clock(LimiterConfig::new(rate, burst), clock.shared()).unwrap();
        (l, clock)
    }

    fn retry_after(r: Result<()>) -> Duration {
        match r {
            Err(Error::RateLimited { retry_after }) => retry_after,
            other => panic!("expected rate_limited, got {other:?}"),
        }
    }

    #[test]
    fn burst_then_refusal_with_exact_retry_after_then_refill() {
        let (l, clock) = make(2.0, 3);
        for _ in 0..3 {
            l.check("a").unwrap();
        }
        assert_eq!(retry_after(l.check("a")), ms(500));
        clock.advance_ms(200);
        assert_eq!(retry_after(l.check("a")), ms(300));
        assert_eq!(l.check("a").unwrap_err().code(), "rate_limited");
        clock.advance_ms(300);
        l.check("a").unwrap();
        assert_eq!(retry_after(l.check("a")), ms(500));
        // A full refill gives the whole burst back, and no more.
        clock.advance_ms(10_000);
        for _ in 0..3 {
            l.check("a").unwrap();
        }
        assert!(l.check("a").is_err());
    }

    #[test]
    fn keys_are_independent() {
        let (l, _clock) = make(1.0, 1);
        l.check("client-1").unwrap();
        assert_eq!(retry_after(l.check("client-1")), ms(1000));
        l.check("client-2").unwrap();
        l.check("dashboard:host").unwrap();
        assert!(l.check("client-2").is_err());
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn check_n_takes_all_or_nothing() {
        let (l, clock) = make(10.0, 5);
        l.check_n("k", 3).unwrap();
        assert_eq!(retry_after(l.check_n("k", 3)), ms(100));
        l.check_n("k", 2).unwrap();
        assert!(l.check("k").is_err());
        clock.advance_ms(500);
        l.check_n("k", 5).unwrap();
        l.check_n("k", 0).unwrap();
        assert_eq!(l.check_n("k", 6).unwrap_err().code(), "invalid_input");
    }

    #[test]
    fn fully_refilled_keys_are_evicted_and_others_kept() {
        let (l, clock) = make(1.0, 2);
        l.check("idle").unwrap();
        clock.advance_ms(1999);
        l.retain_recent();
        // Refilled at 1 s, evictable one period later.
        assert_eq!(l.len(), 1);
        clock.advance_ms(1);
        l.check("busy").unwrap();
        l.check("busy").unwrap();
        // "busy" is still down two calls: kept.
        l.retain_recent();
        assert_eq!(l.len(), 1);
        assert!(l.check("busy").is_err());
        clock.advance_ms(2000);
        l.retain_recent();
        assert_eq!(l.len(), 1);
        clock.advance_ms(1000);
        l.shrink();
        assert!(l.is_empty());
    }

    #[test]
    fn check_sweeps_by_itself_once_per_interval() {
        let clock = ManualClock::new();
        let cfg = LimiterConfig {
            sweep_interval: ms(1000),
            ..LimiterConfig::new(100.0, 1)
        };
        let l = RateLimiter::with_clock(cfg, clock.shared()).unwrap();
        for i in 0..50 {
            l.check(&format!("k{i}")).unwrap();
        }
        assert_eq!(l.len(), 50);
        clock.advance_ms(1000);
        for _ in 0..SWEEP_CHECK_EVERY {
            let _ = l.check("live");
        }
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn invalid_quotas_are_refused() {
        for (rate, burst) in [
            (0.0, 1),
            (-1.0, 1),
            (f64::NAN, 1),
            (f64::INFINITY, 1),
            (2e9, 1),
            (1.0, 0),
        ] {
            let err = RateLimiter::new(LimiterConfig::new(rate, burst)).unwrap_err();
            assert_eq!(err.code(), "invalid_input", "{rate} {burst}");
        }
        let cfg = LimiterConfig {
            sweep_interval: Duration::ZERO,
            ..LimiterConfig::default()
        };
        assert_eq!(RateLimiter::new(cfg).unwrap_err().code(), "invalid_input");
        assert!(RateLimiter::new(LimiterConfig::new(0.5, 1)).is_ok());
    }

    #[test]
    fn long_keys_are_limited_like_short_ones() {
        let (l, _clock) = make(1.0, 1);
        let long = "k".repeat(KEY_BUF_MAX + 1);
        l.check(&long).unwrap();
        assert!(l.check(&long).is_err());
        l.check(&long[..KEY_BUF_MAX]).unwrap();
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn limiter_is_shared_across_threads() {
        let (l, _clock) = make(1.0, 100);
        let allowed = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..100 {
                        if l.check("shared").is_ok() {
                            allowed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.load(Ordering::Relaxed), 100);
    }
}
