//! Window kinds ([`WindowSpec`]), emit modes ([`EmitMode`]) and duration text ("250ms", "10s", "1m",
//! "1h", "1d" → milliseconds, [`parse_duration_ms`]).

use crate::error::{Error, Result};

/// Longest duration accepted anywhere in a window configuration: 2^52 ms (about 142 000 years), so that
/// window arithmetic on `i64` event times never overflows in practice.
pub const MAX_DURATION_MS: u64 = 1 << 52;

/// Least event time (ms) a key with no open window stays interned before its state is freed (one minute:
/// a metric reported at least once a minute is never re-interned).
pub const MIN_KEY_RETAIN_MS: u64 = 60_000;

/// Most hopping windows one event may fall into (`ceil(size / slide)`).
pub const MAX_WINDOWS_PER_EVENT: u64 = 1000;

/// How events are grouped into windows (per key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    /// Fixed, non-overlapping windows aligned to the Unix epoch: window k covers `[k·size, (k+1)·size)`.
    Tumbling {
        /// Window length in ms (≥ 1).
        size_ms: u64,
    },
    /// Overlapping windows of `size` starting every `slide` (aligned to the epoch): `[k·slide, k·slide+size)`.
    Hopping {
        /// Window length in ms (≥ 1).
        size_ms: u64,
        /// Distance between window starts in ms (1 ≤ slide ≤ size, `ceil(size/slide)` ≤ 1000).
        slide_ms: u64,
    },
    /// Activity sessions: events less than `gap` apart belong to one session `[first, last + gap)`.
    Session {
        /// Inactivity that ends a session, in ms (≥ 1).
        gap_ms: u64,
    },
    /// Every `n` events of a key form one window (closed when the n-th arrives).
    Count {
        /// Events per window (≥ 1).
        n: u64,
    },
}

impl WindowSpec {
    /// A tumbling window of `size_ms`.
    pub fn tumbling(size_ms: u64) -> Self {
        WindowSpec::Tumbling { size_ms }
    }

    /// A hopping window of `size_ms` advancing by `slide_ms`.
    pub fn hopping(size_ms: u64, slide_ms: u64) -> Self {
        WindowSpec::Hopping { size_ms, slide_ms }
    }

    /// A session window closed after `gap_ms` of inactivity.
    pub fn session(gap_ms: u64) -> Self {
        WindowSpec::Session { gap_ms }
    }

    /// A count window of `n` events.
    pub fn count(n: u64) -> Self {
        WindowSpec::Count { n }
    }

    /// The kind's name as used in configuration maps: `"tumbling"`, `"hopping"`, `"session"`, `"count"`.
    pub fn kind(&self) -> &'static str {
        match self {
            WindowSpec::Tumbling { .. } => "tumbling",
            WindowSpec::Hopping { .. } => "hopping",
            WindowSpec::Session { .. } => "session",
            WindowSpec::Count { .. } => "count",
        }
    }

    /// Whether windows of this kind close on the watermark (every kind but `count`).
    pub fn is_time_based(&self) -> bool {
        !matches!(self, WindowSpec::Count { .. })
    }

    /// Checks the ranges documented on each variant; `invalid_input` otherwise.
    pub fn validate(&self) -> Result<()> {
        match *self {
            WindowSpec::Tumbling { size_ms } => check_positive("window size", size_ms),
            WindowSpec::Hopping { size_ms, slide_ms } => {
                check_positive("window size", size_ms)?;
                check_positive("window slide", slide_ms)?;
                if slide_ms > size_ms {
                    return Err(Error::invalid(format!(
                        "hopping slide {slide_ms}ms is longer than the size {size_ms}ms"
                    )));
                }
                if size_ms.div_ceil(slide_ms) > MAX_WINDOWS_PER_EVENT {
                    return Err(Error::invalid(format!(
                        "hopping size/slide is over {MAX_WINDOWS_PER_EVENT} windows per event"
                    )));
                }
                Ok(())
            }
            WindowSpec::Session { gap_ms } => check_positive("session gap", gap_ms),
            WindowSpec::Count { n } => {
                if n == 0 || n > MAX_DURATION_MS {
                    return Err(Error::invalid(format!(
                        "count window n={n} is not in 1..={MAX_DURATION_MS}"
                    )));
                }
                Ok(())
            }
        }
    }

    /// Event time (ms) an idle key's interned state is kept after its last window closed, so that a key
    /// that keeps sending is not re-interned every window: the window length (size, slide or gap) and
    /// at least [`MIN_KEY_RETAIN_MS`]; count windows: [`MIN_KEY_RETAIN_MS`].
    pub(crate) fn retain_ms(&self) -> i64 {
        let length = match *self {
            WindowSpec::Tumbling { size_ms } => size_ms,
            WindowSpec::Hopping { slide_ms, .. } => slide_ms,
            WindowSpec::Session { gap_ms } => gap_ms,
            WindowSpec::Count { .. } => 0,
        };
        length.max(MIN_KEY_RETAIN_MS) as i64
    }
}

/// When results are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmitMode {
    /// Once per window, when it closes (`is_final = true`). The default.
    #[default]
    Final,
    /// Partial results (`is_final = false`) on event-time ticks every `interval_ms` (epoch-aligned: a tick
    /// fires when the highest event time seen enters a new multiple of the interval), for each open window
    /// that changed since its last emission; then the final result on close.
    Updates {
        /// Tick interval in ms of event time (≥ 1).
        interval_ms: u64,
    },
}

impl EmitMode {
    /// The mode's name as used in configuration maps: `"final"` or `"updates"`.
    pub fn name(&self) -> &'static str {
        match self {
            EmitMode::Final => "final",
            EmitMode::Updates { .. } => "updates",
        }
    }

    /// Checks that an update interval is at least 1 ms.
    pub fn validate(&self) -> Result<()> {
        match *self {
            EmitMode::Final => Ok(()),
            EmitMode::Updates { interval_ms } => check_positive("update interval", interval_ms),
        }
    }
}

/// Checks `1 ≤ ms ≤ MAX_DURATION_MS`.
pub(crate) fn check_positive(what: &str, ms: u64) -> Result<()> {
    if ms == 0 {
        return Err(Error::invalid(format!("{what} must be at least 1ms")));
    }
    check_max(what, ms)
}

/// Checks `ms ≤ MAX_DURATION_MS`.
pub(crate) fn check_max(what: &str, ms: u64) -> Result<()> {
    if ms > MAX_DURATION_MS {
        return Err(Error::invalid(format!(
            "{what} of {ms}ms is over the maximum of {MAX_DURATION_MS}ms"
        )));
    }
    Ok(())
}

/// Parses a duration such as `"250ms"`, `"10s"`, `"1.5s"`, `"1m"`, `"2h"` or `"1d"` into milliseconds.
///
/// A number (digits, optionally a fraction) followed by a unit: `ms`, `s`, `m` (minutes), `h` or `d`;
/// surrounding whitespace is ignored. The result must be a whole number of milliseconds not over
/// [`MAX_DURATION_MS`]. Anything else is `invalid_input`.
pub fn parse_duration_ms(text: &str) -> Result<u64> {
    let bad = |why: &str| Error::invalid(format!("duration {text:?}: {why}"));
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| bad("a unit is required (ms, s, m, h or d)"))?;
    let (number, unit) = t.split_at(split);
    let unit_ms: u128 = match unit.trim_start() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad("unknown unit (expected ms, s, m, h or d)")),
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = || int.bytes().chain(frac.bytes());
    if int.is_empty() && frac.is_empty() || !digits().all(|b| b.is_ascii_digit()) {
        return Err(bad("not a number"));
    }
    if int.len() + frac.len() > 24 {
        return Err(bad("too many digits"));
    }
    let mantissa = digits().fold(0u128, |acc, b| acc * 10 + u128::from(b - b'0'));
    let scale = 10u128.pow(frac.len() as u32);
    let total = mantissa * unit_ms;
    if total % scale != 0 {
        return Err(bad("not a whole number of milliseconds"));
    }
    let ms = total / scale;
    if ms > u128::from(MAX_DURATION_MS) {
        return Err(bad("too long"));
    }
    Ok(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_to_milliseconds() {
        let cases = [
            ("250ms", 250),
            ("10s", 10_000),
            ("1m", 60_000),
            ("1h", 3_600_000),
            ("1d", 86_400_000),
            (" 1.5s ", 1_500),
            ("0.25m", 15_000),
            ("0s", 0),
            ("10 s", 10_000),
            (".5s", 500),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_duration_ms(text).unwrap(), ms, "{text}");
        }
    }

    #[test]
    fn bad_durations_are_invalid_input() {
        for text in [
            "", "10", "s", "10x", "-1s", "1.5ms", "1..5s", "1e3ms", "ten s", "1s2", "NaN s",
        ] {
            let err = parse_duration_ms(text).unwrap_err();
            assert_eq!(err.code(), "invalid_input", "{text}");
        }
        let huge = format!("{}d", u64::MAX);
        assert_eq!(
            parse_duration_ms(&huge).unwrap_err().code(),
            "invalid_input"
        );
    }

    #[test]
    fn window_specs_validate_their_ranges() {
        assert!(WindowSpec::tumbling(1).validate().is_ok());
        assert!(WindowSpec::hopping(10, 5).validate().is_ok());
        assert!(WindowSpec::hopping(10, 10).validate().is_ok());
        assert!(WindowSpec::session(1).validate().is_ok());
        assert!(WindowSpec::count(1).validate().is_ok());
        for bad in [
            WindowSpec::tumbling(0),
            WindowSpec::tumbling(MAX_DURATION_MS + 1),
            WindowSpec::hopping(10, 0),
            WindowSpec::hopping(0, 0),
            WindowSpec::hopping(5, 10),
            WindowSpec::hopping(1001, 1),
            WindowSpec::session(0),
            WindowSpec::count(0),
        ] {
            assert_eq!(
                bad.validate().unwrap_err().code(),
                "invalid_input",
                "{bad:?}"
            );
        }
        assert!(EmitMode::Updates { interval_ms: 0 }.validate().is_err());
        assert_eq!(WindowSpec::session(3).kind(), "session");
        assert_eq!(EmitMode::default(), EmitMode::Final);
    }
}
