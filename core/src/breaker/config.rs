//! Circuit breaker configuration: [`BreakerConfig`], the optional failure-rate rule [`RateConfig`] with
//! its [`RateWindow`], defaults and [`BreakerConfig::validate`].
//!
//! Defaults follow the common libraries: 5 consecutive failures (pybreaker's `fail_max`), 60 s reset
//! timeout (pybreaker, resilience4j), one half-open trial and one success to close (pybreaker); the rate
//! rule, when enabled, defaults to resilience4j's 50 % over the last 100 calls with at least 100 calls.

use crate::error::{Error, Result};
use std::time::Duration;

/// Largest accepted `failure_threshold`, `half_open_max_calls` and `success_threshold` (the state word
/// keeps these counters in 20–21 bits).
pub const MAX_COUNT: u32 = 1_000_000;

/// Largest accepted count window and number of time buckets.
pub const MAX_WINDOW_SLOTS: u32 = 1_000_000;

/// Shortest accepted time bucket (`duration / buckets`).
pub const MIN_BUCKET: Duration = Duration::from_millis(1);

/// How a circuit breaker decides to open, how long it stays open and how it probes recovery.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures (in the closed state) that open the breaker. `0` disables this rule, which
    /// is allowed only when `failure_rate` is set.
    pub failure_threshold: u32,
    /// Optional failure-rate rule over a rolling window, checked in addition to `failure_threshold`.
    pub failure_rate: Option<RateConfig>,
    /// When set, a call that reports a duration strictly longer than this counts as a failure (a "slow
    /// call") even if it succeeded.
    pub slow_call_duration: Option<Duration>,
    /// Time the breaker stays open before it lets trial calls through (half-open).
    pub reset_timeout: Duration,
    /// Trial calls allowed at once in the half-open state; further calls are rejected.
    pub half_open_max_calls: u32,
    /// Successful trial calls that close a half-open breaker.
    pub success_threshold: u32,
    /// Optional call timeout. The bindings enforce it where they can cancel (async calls); in the core a
    /// call that reports a duration of at least `timeout` is a timed-out call, which is a failure.
    pub timeout: Option<Duration>,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            failure_rate: None,
            slow_call_duration: None,
            reset_timeout: Duration::from_secs(60),
            half_open_max_calls: 1,
            success_threshold: 1,
            timeout: None,
        }
    }
}

/// The failure-rate rule: open when `failures / calls >= threshold` over the rolling `window`, once the
/// window holds at least `minimum_calls` calls. Slow and timed-out calls count as failures; ignored
/// (excluded) calls are not recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RateConfig {
    /// Failure ratio in `(0, 1]` at or above which the breaker opens.
    pub threshold: f64,
    /// The rolling window the ratio is computed over.
    pub window: RateWindow,
    /// Calls the window must hold before the ratio is considered (at least 1).
    pub minimum_calls: u32,
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig {
            threshold: 0.5,
            window: RateWindow::Count(100),
            minimum_calls: 100,
        }
    }
}

/// A rolling window of call outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateWindow {
    /// The last `n` recorded calls.
    Count(u32),
    /// The calls of the last `duration`, kept in `buckets` equal buckets. The window covers the current
    /// bucket and the `buckets - 1` before it, so its span is between `duration - duration / buckets`
    /// and `duration` (as in resilience4j and opossum).
    Time {
        /// Span of the window.
        duration: Duration,
        /// Number of buckets the span is divided into.
        buckets: u32,
    },
}

fn check_count(what: &str, value: u32, min: u32) -> Result<()> {
    if value < min || value > MAX_COUNT {
        return Err(Error::invalid(format!(
            "{what} must be in {min}..={MAX_COUNT}, got {value}"
        )));
    }
    Ok(())
}

fn check_positive(what: &str, value: Duration) -> Result<()> {
    if value.is_zero() {
        return Err(Error::invalid(format!("{what} must be positive")));
    }
    Ok(())
}

impl RateConfig {
    /// Checks the rule; errors with `invalid_input`.
    pub fn validate(&self) -> Result<()> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(Error::invalid(format!(
                "failure_rate.threshold must be in (0, 1], got {}",
                self.threshold
            )));
        }
        if self.minimum_calls == 0 {
            return Err(Error::invalid(
                "failure_rate.minimum_calls must be at least 1",
            ));
        }
        match self.window {
            RateWindow::Count(n) => {
                if n == 0 || n > MAX_WINDOW_SLOTS {
                    return Err(Error::invalid(format!(
                        "failure_rate count window must be in 1..={MAX_WINDOW_SLOTS}, got {n}"
                    )));
                }
                if self.minimum_calls > n {
                    return Err(Error::invalid(format!(
                        "failure_rate.minimum_calls ({}) exceeds the count window ({n}): it could never open",
                        self.minimum_calls
                    )));
                }
            }
            RateWindow::Time { duration, buckets } => {
                if buckets == 0 || buckets > MAX_WINDOW_SLOTS {
                    return Err(Error::invalid(format!(
                        "failure_rate time window buckets must be in 1..={MAX_WINDOW_SLOTS}, got {buckets}"
                    )));
                }
                if duration / buckets < MIN_BUCKET {
                    return Err(Error::invalid(format!(
                        "failure_rate time window buckets must be at least {MIN_BUCKET:?} long \
                         ({duration:?} / {buckets})"
                    )));
                }
            }
        }
        Ok(())
    }
}

impl BreakerConfig {
    /// Checks every field; errors with `invalid_input` naming the bad field.
    pub fn validate(&self) -> Result<()> {
        if self.failure_threshold == 0 {
            if self.failure_rate.is_none() {
                return Err(Error::invalid(
                    "failure_threshold 0 (disabled) requires a failure_rate rule",
                ));
            }
        } else {
            check_count("failure_threshold", self.failure_threshold, 1)?;
        }
        if let Some(rate) = &self.failure_rate {
            rate.validate()?;
        }
        if let Some(slow) = self.slow_call_duration {
            check_positive("slow_call_duration", slow)?;
        }
        if let Some(timeout) = self.timeout {
            check_positive("timeout", timeout)?;
        }
        check_positive("reset_timeout", self.reset_timeout)?;
        check_count("half_open_max_calls", self.half_open_max_calls, 1)?;
        check_count("success_threshold", self.success_threshold, 1)?;
        Ok(())
    }
}
