//! The circuit breaker: a lock-free state machine (`closed` → `open` → `half_open` → `closed`) on an
//! injectable monotonic clock ([`crate::clock`]). It knows nothing about what it guards: the caller asks
//! for a [`Permit`], makes the call, and reports its [`Outcome`] and duration.
//!
//! Semantics:
//! - **closed**: calls pass. The breaker opens after `failure_threshold` consecutive failures, or, with a
//!   [`RateConfig`], when the failure ratio over the rolling window (last N calls, or last T in buckets)
//!   reaches the threshold once the window holds `minimum_calls`. A success resets the consecutive
//!   count. A call slower than `slow_call_duration`, or lasting at least `timeout`, is a failure.
//! - **open**: calls are rejected with [`Error::CircuitOpen`](crate::Error::CircuitOpen) (code
//!   `circuit_open`) carrying `retry_after`. After `reset_timeout` the next `acquire` (or `state()`) moves
//!   it to half-open; there is no timer thread.
//! - **half_open**: up to `half_open_max_calls` trial calls run at once, the rest are rejected
//!   (`retry_after` zero). `success_threshold` successes close it; any failure reopens it and restarts
//!   the timeout. Ignored outcomes and dropped permits free their slot.
//! - Ignored outcomes (errors the binding excludes) count nowhere but `ignored`. Manual
//!   [`open`](CircuitBreaker::open) forces the breaker open until [`close`](CircuitBreaker::close) or
//!   [`reset`](CircuitBreaker::reset).
//! - Outcomes of permits granted before a transition are counted in [`BreakerCounters`] but do not
//!   drive the new state (see `state.rs`).
//! - Listeners ([`BreakerEvent`]) see every transition, rejection and outcome.
//! - The guarded call's rules (fallback, excluded errors, timeouts → what the caller gets) are one
//!   decision, [`Guard`], that every binding settles its calls with (see `guard.rs`).
//!
//! ```
//! use dashfeed::breaker::{BreakerConfig, CircuitBreaker, State};
//! use dashfeed::clock::ManualClock;
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let config = BreakerConfig { failure_threshold: 2, reset_timeout: Duration::from_secs(1), ..Default::default() };
//! let breaker = CircuitBreaker::with_clock(config, clock.shared()).unwrap();
//! for _ in 0..2 {
//!     breaker.acquire().unwrap().failure(Duration::from_millis(3));
//! }
//! assert_eq!(breaker.state(), State::Open);
//! assert_eq!(breaker.acquire().unwrap_err().code(), "circuit_open");
//! clock.advance_ms(1000);
//! let trial = breaker.acquire().unwrap();
//! trial.success(Duration::from_millis(2));
//! assert_eq!(breaker.state(), State::Closed);
//! ```

mod circuit;
mod config;
mod counters;
mod guard;
mod listener;
mod options;
mod permit;
mod state;
mod window;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_concurrency;

pub use circuit::CircuitBreaker;
pub use config::{BreakerConfig, RateConfig, RateWindow, MAX_COUNT, MAX_WINDOW_SLOTS, MIN_BUCKET};
pub use counters::BreakerCounters;
pub use guard::{Answer, CallEnd, Failure, Guard};
pub use listener::{BreakerEvent, FailureKind, Listener, ListenerId};
pub use permit::{Outcome, OwnedPermit, Permit};
pub use state::State;
