//! The options of `new CircuitBreaker(options)` and the objects the breaker hands out (`stats`, the
//! listener's event). `CircuitBreakerOptions` declares the options for index.d.ts; their values are
//! read by the core (`BreakerConfig::from_value`, names, defaults, ranges and messages), the
//! functions and the clock here.

use crate::clock::ManualClock;
use crate::error::Result;
use crate::napi::args::wrong_type_of;
use dashfeed::breaker::BreakerConfig;
use dashfeed::clock::SharedClock;
use dashfeed::options::{FromOptions, Style};
use napi::bindgen_prelude::{ClassInstance, Env, Unknown};
use napi::ValueType;
use napi_derive::napi;

// The declaration of index.d.ts; the core reads the values (`BreakerConfig::from_value`).
/// Options of `new CircuitBreaker(options?)`. Durations are in milliseconds (`resetTimeout: 30`
/// is 30 ms; the Python module's `reset_timeout=30` is 30 s); a duration between 0 and 1 is
/// warned about once per process (`DashfeedWarning`, code `DASHFEED_DURATION_UNIT`).
#[napi(object)]
#[expect(
    dead_code,
    reason = "declares the options type of index.d.ts; the core reads the values"
)]
pub struct CircuitBreakerOptions<'env> {
    /// Consecutive failures that open the breaker (default 5); `0` disables this rule, which
    /// needs `failureRate`.
    pub failure_threshold: Option<f64>,
    /// Time open before trial calls are let through, in ms (default 60000).
    pub reset_timeout: Option<f64>,
    /// Trial calls at once in the half-open state (default 1).
    pub half_open_max_calls: Option<f64>,
    /// Trial successes that close the breaker (default 1).
    pub success_threshold: Option<f64>,
    /// Failure ratio in (0, 1] over the rolling window at which the breaker opens (off by default).
    pub failure_rate: Option<f64>,
    /// Calls the window must hold before the ratio counts (default: the count window, or 100).
    pub minimum_calls: Option<f64>,
    /// Count window: the last N calls (default 100).
    pub rate_window: Option<f64>,
    /// Time window in ms instead of a count window.
    pub rate_window_ms: Option<f64>,
    /// Buckets of the time window (default 10).
    pub rate_buckets: Option<f64>,
    /// A call longer than this (ms) is a failure even if it succeeded.
    pub slow_call_duration: Option<f64>,
    /// A call whose Promise is still pending after this (ms) rejects with code `"timeout"` and is
    /// a failure. A synchronous call cannot be interrupted: lasting this long, it counts as a
    /// timeout but returns its value. Without it, a call whose Promise never settles keeps its
    /// permit.
    pub timeout: Option<f64>,
    /// `errorFilter(err)` returning true: the error does not count (as in opossum). A filter
    /// that throws counts the call as a failure and the call rejects with what it threw.
    #[napi(ts_type = "(err: unknown) => boolean")]
    pub error_filter: Option<Unknown<'env>>,
    /// Answers rejected, failed and timed-out calls (not filtered errors): the call resolves with
    /// `fallback(...args)` (rejects with what it throws).
    #[napi(ts_type = "(...args: any[]) => unknown")]
    pub fallback: Option<Unknown<'env>>,
    /// A test clock the breaker measures time on (default: the monotonic system clock).
    pub clock: Option<ClassInstance<'env, ManualClock>>,
}

/// Counters and state of a breaker (`breaker.stats`).
#[napi(object, object_from_js = false)]
pub struct BreakerStats {
    /// The current state.
    #[napi(ts_type = "'closed' | 'open' | 'half_open'")]
    pub state: String,
    /// Calls let through (trials included).
    pub calls: f64,
    /// Calls that succeeded.
    pub successes: f64,
    /// Calls that counted as failures (errors, slow calls, timeouts).
    pub failures: f64,
    /// Calls that did not count (filtered errors, permits never reported).
    pub ignored: f64,
    /// Calls rejected without running.
    pub rejections: f64,
    /// Slow calls (also in `failures`).
    pub slow_calls: f64,
    /// Timed-out calls (also in `failures`).
    pub timeouts: f64,
    /// State transitions.
    pub state_changes: f64,
}

/// What a breaker listener receives. Which fields are set depends on `type`.
#[napi(object, object_from_js = false)]
pub struct BreakerEvent {
    /// The kind of event.
    #[napi(ts_type = "'stateChange' | 'reject' | 'success' | 'failure' | 'ignored'")]
    pub r#type: String,
    /// `stateChange`: the state left.
    #[napi(ts_type = "'closed' | 'open' | 'half_open'")]
    pub from: Option<String>,
    /// `stateChange`: the state entered.
    #[napi(ts_type = "'closed' | 'open' | 'half_open'")]
    pub to: Option<String>,
    /// `reject`: the state that rejected the call.
    #[napi(ts_type = "'open' | 'half_open'")]
    pub state: Option<String>,
    /// `reject`: ms until a trial call is let through (0 while every trial slot is taken).
    pub retry_after: Option<f64>,
    /// `success` / `failure`: the call's duration in ms, on the breaker's clock.
    pub duration: Option<f64>,
    /// `failure`: why it counts.
    #[napi(ts_type = "'error' | 'slow' | 'timeout'")]
    pub kind: Option<String>,
}

/// The options, checked and converted.
pub struct Parsed<'env> {
    /// The core configuration.
    pub config: BreakerConfig,
    /// `errorFilter`, a function.
    pub error_filter: Option<Unknown<'env>>,
    /// `fallback`, a function.
    pub fallback: Option<Unknown<'env>>,
    /// The clock.
    pub clock: SharedClock,
}

/// The function option `name`: `None` when absent, `undefined` or `null`.
fn function<'env>(name: &str, v: Option<Unknown<'env>>) -> Result<Option<Unknown<'env>>> {
    let Some(f) = v else {
        return Ok(None);
    };
    match f.get_type()? {
        ValueType::Function => Ok(Some(f)),
        ValueType::Undefined | ValueType::Null => Ok(None),
        _ => Err(wrong_type_of(&f, name, "a function")),
    }
}

/// Reads and checks `options` (`undefined` / `null` → defaults) through the core's
/// `BreakerConfig::from_value`; the functions and the clock stay here.
pub fn parse<'env>(env: &Env, options: Option<Unknown<'env>>) -> Result<Parsed<'env>> {
    let o = crate::options::read(options, &["errorFilter", "fallback", "clock"])?;
    let mut warn = crate::units::warner(env, "CircuitBreaker");
    Ok(Parsed {
        config: BreakerConfig::from_value_with(&o.value, Style::NODE, &mut warn)?,
        error_filter: function("errorFilter", o.held("errorFilter"))?,
        fallback: function("fallback", o.held("fallback"))?,
        clock: crate::clock::read(o.held("clock"))?,
    })
}
