//! The options of `new CircuitBreaker(options)` and the objects the breaker hands out (`stats`, the
//! listener's event), with the conversion of the options into a core `BreakerConfig`.
//!
//! Every duration is in milliseconds (the Python module's are seconds: a duration between 0 and 1
//! is taken as ms but warned about once, see `units`). Counts must be non-negative integers and
//! durations finite, non-negative numbers; the core then checks the ranges. Any problem is
//! `invalid_input`.

use crate::clock::{shared, ManualClock};
use crate::error::Result;
use crate::napi::args::{count, millis};
use dashfeed::breaker::{BreakerConfig, RateConfig, RateWindow};
use dashfeed::clock::SharedClock;
use dashfeed::Error;
use napi::bindgen_prelude::{ClassInstance, FromNapiValue, Unknown};
use napi::{JsValue, ValueType};
use napi_derive::napi;

/// Options of `new CircuitBreaker(options?)`. Durations are in milliseconds (`resetTimeout: 30`
/// is 30 ms; the Python module's `reset_timeout=30` is 30 s); a duration between 0 and 1 is
/// warned about once per process (`DashfeedWarning`, code `DASHFEED_DURATION_UNIT`).
#[napi(object)]
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

fn function<'env>(name: &str, v: Option<Unknown<'env>>) -> Result<Option<Unknown<'env>>> {
    match v {
        Some(f) if f.get_type()? == ValueType::Function => Ok(Some(f)),
        Some(f) if matches!(f.get_type()?, ValueType::Undefined | ValueType::Null) => Ok(None),
        Some(_) => Err(Error::invalid(format!("{name} must be a function")).into()),
        None => Ok(None),
    }
}

/// Reads and checks `options` (`undefined` / `null` → defaults).
pub fn parse<'env>(options: Option<Unknown<'env>>) -> Result<Parsed<'env>> {
    let (env, o) = match options {
        None => return defaults(),
        Some(v) => match v.get_type()? {
            ValueType::Undefined | ValueType::Null => return defaults(),
            ValueType::Object => {
                let env = v.value().env;
                // SAFETY: an object of the running callback, which the generated reader expects.
                (env, unsafe {
                    CircuitBreakerOptions::from_napi_value(env, v.raw())
                }?)
            }
            _ => return Err(Error::invalid("options must be an object").into()),
        },
    };
    let d = BreakerConfig::default();
    // A duration option: checked, and warned about when it looks like seconds.
    let duration = |name: &str, v: f64| {
        crate::units::check_ms(env, "CircuitBreaker", name, v);
        millis(name, v)
    };
    let failure_rate = match o.failure_rate {
        None => None,
        Some(threshold) => {
            let window = match o.rate_window_ms {
                Some(ms) => RateWindow::Time {
                    duration: duration("rateWindowMs", ms)?,
                    buckets: o.rate_buckets.map_or(Ok(10), |n| count("rateBuckets", n))?,
                },
                None => {
                    RateWindow::Count(o.rate_window.map_or(Ok(100), |n| count("rateWindow", n))?)
                }
            };
            let default_min = match window {
                RateWindow::Count(n) => n,
                RateWindow::Time { .. } => RateConfig::default().minimum_calls,
            };
            Some(RateConfig {
                threshold,
                window,
                minimum_calls: o
                    .minimum_calls
                    .map_or(Ok(default_min), |n| count("minimumCalls", n))?,
            })
        }
    };
    let opt_count = |name, v: Option<f64>, default| v.map_or(Ok(default), |n| count(name, n));
    let config = BreakerConfig {
        failure_threshold: opt_count("failureThreshold", o.failure_threshold, d.failure_threshold)?,
        failure_rate,
        slow_call_duration: o
            .slow_call_duration
            .map(|v| duration("slowCallDuration", v))
            .transpose()?,
        reset_timeout: o
            .reset_timeout
            .map_or(Ok(d.reset_timeout), |v| duration("resetTimeout", v))?,
        half_open_max_calls: opt_count(
            "halfOpenMaxCalls",
            o.half_open_max_calls,
            d.half_open_max_calls,
        )?,
        success_threshold: opt_count("successThreshold", o.success_threshold, d.success_threshold)?,
        timeout: o.timeout.map(|v| duration("timeout", v)).transpose()?,
    };
    config.validate()?;
    Ok(Parsed {
        config,
        error_filter: function("errorFilter", o.error_filter)?,
        fallback: function("fallback", o.fallback)?,
        clock: shared(o.clock.as_deref()),
    })
}

fn defaults<'env>() -> Result<Parsed<'env>> {
    Ok(Parsed {
        config: BreakerConfig::default(),
        error_filter: None,
        fallback: None,
        clock: shared(None),
    })
}
