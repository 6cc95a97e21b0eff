//! [`BreakerConfig::from_value`]: the options of `CircuitBreaker(...)` in Python and
//! `new CircuitBreaker(options)` in Node, read once here (names, defaults, ranges, messages; see
//! [`crate::options`] for key spelling and units).
//!
//! | option (snake_case) | default | meaning |
//! |---|---|---|
//! | `failure_threshold` | 5 | consecutive failures that open; `0` disables the rule (needs `failure_rate`) |
//! | `reset_timeout` | 60 s | time open before trial calls |
//! | `half_open_max_calls` | 1 | trial calls at once |
//! | `success_threshold` | 1 | trial successes that close |
//! | `failure_rate` | off | failure ratio in (0, 1] over the rolling window that opens |
//! | `minimum_calls` | the count window, or 100 | calls the window must hold before the ratio counts |
//! | `rate_window` | 100 | count window: the last N calls |
//! | `rate_window_seconds` / `rateWindowMs` | off | a time window instead (Python seconds, Node ms) |
//! | `rate_buckets` | 10 | buckets of the time window |
//! | `slow_call_duration` | off | a longer call is a failure |
//! | `timeout` | off | a call lasting this long is a timed-out failure |
//!
//! The rate options are read only with `failure_rate` set. Objects the binding keeps (the clock,
//! `fallback`, `excluded` / `errorFilter`, listeners) are not part of the map.

use super::config::{BreakerConfig, RateConfig, RateWindow};
use crate::codec::Value;
use crate::error::Result;
use crate::options::{FromOptions, Options, Style, TimeUnit};

/// The keys of the breaker's options map, snake_case.
const KEYS: [&str; 12] = [
    "failure_threshold",
    "reset_timeout",
    "half_open_max_calls",
    "success_threshold",
    "failure_rate",
    "minimum_calls",
    "rate_window",
    "rate_window_seconds",
    "rate_window_ms",
    "rate_buckets",
    "slow_call_duration",
    "timeout",
];

/// The time-window key of `style`: the name carries the unit.
fn time_window_key(style: Style) -> &'static str {
    match style.time {
        TimeUnit::Seconds => "rate_window_seconds",
        TimeUnit::Millis => "rate_window_ms",
    }
}

impl FromOptions for BreakerConfig {
    /// Reads the breaker's options (see the module docs).
    fn from_value_with(v: &Value, style: Style, warn: &mut dyn FnMut(&str, f64)) -> Result<Self> {
        let time_key = time_window_key(style);
        let keys: Vec<&str> = KEYS
            .into_iter()
            .filter(|k| !k.starts_with("rate_window_") || *k == time_key)
            .collect();
        let o = Options::new(v, "CircuitBreaker options", style, &keys)?;
        let d = BreakerConfig::default();
        let failure_rate = match o.number("failure_rate")? {
            None => None,
            Some(threshold) => {
                let window = match o.duration(time_key, warn)? {
                    Some(duration) => RateWindow::Time {
                        duration,
                        buckets: o.count_u32("rate_buckets")?.unwrap_or(10),
                    },
                    None => RateWindow::Count(o.count_u32("rate_window")?.unwrap_or(100)),
                };
                let default_min = match window {
                    RateWindow::Count(n) => n,
                    RateWindow::Time { .. } => RateConfig::default().minimum_calls,
                };
                Some(RateConfig {
                    threshold,
                    window,
                    minimum_calls: o.count_u32("minimum_calls")?.unwrap_or(default_min),
                })
            }
        };
        let config = BreakerConfig {
            failure_threshold: o
                .count_u32("failure_threshold")?
                .unwrap_or(d.failure_threshold),
            failure_rate,
            slow_call_duration: o.duration("slow_call_duration", warn)?,
            reset_timeout: o
                .duration("reset_timeout", warn)?
                .unwrap_or(d.reset_timeout),
            half_open_max_calls: o
                .count_u32("half_open_max_calls")?
                .unwrap_or(d.half_open_max_calls),
            success_threshold: o
                .count_u32("success_threshold")?
                .unwrap_or(d.success_threshold),
            timeout: o.duration("timeout", warn)?,
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::tests::map;
    use std::time::Duration;

    #[test]
    fn each_style_reads_its_keys_and_unit() {
        let py = map(&[
            ("reset_timeout", Value::Float(1.5)),
            ("failure_rate", Value::Float(0.5)),
            ("rate_window_seconds", Value::Int(10)),
        ]);
        let node = map(&[
            ("resetTimeout", Value::Int(1500)),
            ("failureRate", Value::Float(0.5)),
            ("rateWindowMs", Value::Int(10_000)),
        ]);
        let a = BreakerConfig::from_value(&py, Style::PYTHON).unwrap();
        let b = BreakerConfig::from_value(&node, Style::NODE).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.reset_timeout, Duration::from_millis(1500));
        let rate = a.failure_rate.unwrap();
        assert_eq!(
            rate.window,
            RateWindow::Time {
                duration: Duration::from_secs(10),
                buckets: 10
            }
        );
        assert_eq!(rate.minimum_calls, 100);
        assert!(BreakerConfig::from_value(&py, Style::NODE).is_err());
    }

    #[test]
    fn defaults_and_ignored_rate_options() {
        let cfg = BreakerConfig::from_value(&Value::Nil, Style::NODE).unwrap();
        assert_eq!(cfg, BreakerConfig::default());
        // Without failure_rate the rate options are not read (as before the options moved here).
        let v = map(&[("rateWindowMs", Value::Int(-1))]);
        assert_eq!(
            BreakerConfig::from_value(&v, Style::NODE).unwrap(),
            BreakerConfig::default()
        );
    }
}
