//! Options maps as the bindings hand them over: the one reader behind `BreakerConfig::from_value`,
//! `LimiterConfig::from_value`, `HubConfig::from_value`, `SubscribeOptions::from_value`,
//! `ServerConfig::from_value` and `AuthConfig::from_value`, so that option names, defaults, ranges and
//! error messages live once, here in the core.
//!
//! **Key naming and units.** A binding passes its user's map unchanged (a Python dict of keyword
//! arguments, a JS options object) with the [`Style`] of its language: [`Style::PYTHON`] reads
//! snake_case keys and durations in seconds, [`Style::NODE`] camelCase keys and durations in
//! milliseconds. Options are declared once by their snake_case name; [`Options::key`] spells a name
//! the way the user wrote it (`reset_timeout` ↔ `resetTimeout`), so an error names the key the user
//! typed and no binding normalises keys. A duration whose name carries its unit is declared per unit
//! (the breaker's `rate_window_seconds` / `rateWindowMs`).
//!
//! **Why not serde derive.** `AggregatorConfig` and the pipeline file take the one snake_case spelling
//! and text durations; here the same option has two spellings and two units, and messages must name
//! the user's spelling and value (`resetTimeout must be a finite, non-negative number of ms, not -1`).
//! Serde's `alias` accepts both spellings but reports neither, so the reader is written out.
//!
//! **Absent and null.** An absent key and `null` / `None` take the default, except for the options a
//! reader asks for with [`Options::nullable`], where `null` means "off" (the hub's `history_age`,
//! `compress_over`, `dedupe_horizon`). Unknown keys are `invalid_input` listing the accepted ones.
//! Every problem is `invalid_input`.
//!
//! [`describe`] shows the config an options map builds, in one canonical form: what the
//! cross-language vectors (tests/vectors/config) compare in Rust, Python and Node.

mod describe;

pub use describe::describe;

use crate::codec::Value;
use crate::error::{Error, Result};
use std::borrow::Cow;
use std::time::Duration;

/// Largest integer a JS number holds exactly: counts above it are refused in every language.
pub const MAX_SAFE: u64 = (1 << 53) - 1;

/// The unit of duration options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Seconds, as a float (the Python module).
    Seconds,
    /// Milliseconds, as a number (the Node module).
    Millis,
}

/// How option keys are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCase {
    /// `reset_timeout` (Python).
    Snake,
    /// `resetTimeout` (Node).
    Camel,
}

/// The conventions of one language's options: key spelling and duration unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// How keys are spelled.
    pub keys: KeyCase,
    /// The unit of durations.
    pub time: TimeUnit,
}

impl Style {
    /// Python: snake_case keys, durations in seconds.
    pub const PYTHON: Style = Style {
        keys: KeyCase::Snake,
        time: TimeUnit::Seconds,
    };
    /// Node: camelCase keys, durations in milliseconds.
    pub const NODE: Style = Style {
        keys: KeyCase::Camel,
        time: TimeUnit::Millis,
    };

    /// `name` (snake_case) as this style spells it.
    pub fn key(self, name: &str) -> Cow<'_, str> {
        match self.keys {
            KeyCase::Snake => Cow::Owned(name.to_owned()),
            KeyCase::Camel => Cow::Owned(camel(name)),
        }
    }

    /// The unit's name in messages.
    fn unit(self) -> &'static str {
        match self.time {
            TimeUnit::Seconds => "seconds",
            TimeUnit::Millis => "ms",
        }
    }
}

/// `reset_timeout` → `resetTimeout`.
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A millisecond duration strictly between 0 and 1 is most likely seconds written where ms are meant:
/// it is taken as ms, and the binding may warn (the Node module does, once per process).
pub fn looks_like_seconds(ms: f64) -> bool {
    ms > 0.0 && ms < 1.0
}

/// The type of `v` in messages (`"a string"`, `"an object"`), in the user's language.
fn type_name(v: &Value, style: Style) -> &'static str {
    let python = style.keys == KeyCase::Snake;
    match v {
        Value::Nil if python => "None",
        Value::Nil => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) | Value::UInt(_) | Value::Float(_) => "a number",
        Value::Str(_) => "a string",
        Value::Bin(_) => "bytes",
        Value::Array(_) if python => "a list",
        Value::Array(_) => "an array",
        Value::Map(_) if python => "a dict",
        Value::Map(_) => "an object",
    }
}

/// A config built from a binding's options map (the breaker's, the limiter's, the hub's and its
/// subscriptions', the server's and its auth): `XConfig::from_value(&map, Style::PYTHON)`.
pub trait FromOptions: Sized {
    /// Builds and validates the config from `v` read in `style`, calling `warn(key, ms)` for a
    /// millisecond duration that looks like seconds ([`looks_like_seconds`]).
    fn from_value_with(v: &Value, style: Style, warn: &mut dyn FnMut(&str, f64)) -> Result<Self>;

    /// As [`from_value_with`](Self::from_value_with), without the warning.
    fn from_value(v: &Value, style: Style) -> Result<Self> {
        Self::from_value_with(v, style, &mut |_, _| {})
    }
}

/// An options map being read: its entries, what it configures (for messages) and its style. Readers
/// take options by their snake_case name.
pub struct Options<'a> {
    entries: &'a [(Value, Value)],
    what: &'a str,
    style: Style,
}

const NO_ENTRIES: &[(Value, Value)] = &[];

impl<'a> Options<'a> {
    /// Opens `v` (a map; `null` is an empty one) as the options of `what`, accepting the keys in
    /// `allowed` (snake_case names, spelled by `style`).
    pub fn new(v: &'a Value, what: &'a str, style: Style, allowed: &[&str]) -> Result<Self> {
        let entries = match v {
            Value::Map(entries) => entries.as_slice(),
            Value::Nil => NO_ENTRIES,
            other => {
                return Err(Error::invalid(format!(
                    "{what} must be {}, not {}",
                    type_name(&Value::Map(Vec::new()), style),
                    type_name(other, style)
                )))
            }
        };
        let spelled: Vec<Cow<'_, str>> = allowed.iter().map(|k| style.key(k)).collect();
        for (k, _) in entries {
            if !k.as_str().is_some_and(|k| spelled.iter().any(|s| s == k)) {
                let name = k
                    .as_str()
                    .map_or_else(|| format!("{k:?}"), |s| format!("{s:?}"));
                return Err(Error::invalid(format!(
                    "{what}: unknown option {name} (allowed: {})",
                    spelled.join(", ")
                )));
            }
        }
        Ok(Options {
            entries,
            what,
            style,
        })
    }

    /// The style the options are read in.
    pub fn style(&self) -> Style {
        self.style
    }

    /// `name` as the user spells it.
    pub fn key(&self, name: &str) -> String {
        self.style.key(name).into_owned()
    }

    /// The raw value of `name`, `None` when absent (a `null` value is returned as `Nil`).
    fn raw(&self, name: &str) -> Option<&'a Value> {
        let key = self.style.key(name);
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(&key))
            .map(|(_, v)| v)
    }

    /// The value of `name`; absent and `null` are `None`.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.raw(name).filter(|v| !matches!(v, Value::Nil))
    }

    /// Whether `name` is given (not absent, not `null`).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A nullable option: absent → `None` (the default applies), `null` → `Some(None)` ("off"),
    /// a value → `Some(Some(v))` read by `read`.
    pub fn nullable<T>(
        &self,
        name: &str,
        read: impl FnOnce(&Self, &str) -> Result<Option<T>>,
    ) -> Result<Option<Option<T>>> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Nil) => Ok(Some(None)),
            Some(_) => read(self, name).map(Some),
        }
    }

    fn wrong(&self, name: &str, expected: &str, v: &Value) -> Error {
        Error::invalid(format!(
            "{} must be {expected}, not {}",
            self.key(name),
            type_name(v, self.style)
        ))
    }

    /// A number (integers and floats).
    pub fn number(&self, name: &str) -> Result<Option<f64>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.wrong(name, "a number", v)),
        }
    }

    /// A non-negative whole number up to `max` (an integral float such as `10.0` is accepted).
    pub fn count(&self, name: &str, max: u64) -> Result<Option<u64>> {
        let Some(n) = self.number(name)? else {
            return Ok(None);
        };
        if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= max as f64 {
            return Ok(Some(n as u64));
        }
        Err(Error::invalid(format!(
            "{} must be a non-negative integer, not {n}",
            self.key(name)
        )))
    }

    /// A count that fits in 32 bits.
    pub fn count_u32(&self, name: &str) -> Result<Option<u32>> {
        Ok(self.count(name, u32::MAX.into())?.map(|n| n as u32))
    }

    /// A count or size in memory (at most [`MAX_SAFE`]).
    pub fn size(&self, name: &str) -> Result<Option<usize>> {
        Ok(self.count(name, MAX_SAFE)?.map(|n| n as usize))
    }

    /// A duration in the style's unit: a finite, non-negative number. In milliseconds a value
    /// between 0 and 1 (exclusive) is passed to `warn` with the user's key (see
    /// [`looks_like_seconds`]).
    pub fn duration(
        &self,
        name: &str,
        warn: &mut dyn FnMut(&str, f64),
    ) -> Result<Option<Duration>> {
        let Some(v) = self.number(name)? else {
            return Ok(None);
        };
        let d = match self.style.time {
            TimeUnit::Seconds => Duration::try_from_secs_f64(v).ok(),
            TimeUnit::Millis => {
                if looks_like_seconds(v) {
                    warn(&self.key(name), v);
                }
                let nanos = (v * 1e6).round();
                (v.is_finite() && v >= 0.0 && nanos < u64::MAX as f64)
                    .then(|| Duration::from_nanos(nanos as u64))
            }
        };
        d.map(Some).ok_or_else(|| {
            Error::invalid(format!(
                "{} must be a finite, non-negative number of {}, not {v}",
                self.key(name),
                self.style.unit()
            ))
        })
    }

    /// A string.
    pub fn string(&self, name: &str) -> Result<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(name, "a string", v)),
        }
    }

    /// A boolean.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(name, "a boolean", v)),
        }
    }

    /// A list of strings.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>> {
        let bad = |v: &Value| self.wrong(name, "a list of strings", v);
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|x| x.as_str().map(str::to_owned).ok_or_else(|| bad(x)))
                .collect::<Result<_>>()
                .map(Some),
            Some(v) => Err(bad(v)),
        }
    }

    /// A nested options map (`auth`), opened with its own accepted keys.
    pub fn nested(&self, name: &str, allowed: &[&str]) -> Result<Option<Options<'a>>> {
        match self.get(name) {
            None => Ok(None),
            Some(v @ Value::Map(_)) => Options::new(v, self.what, self.style, allowed).map(Some),
            Some(v) => Err(self.wrong(name, type_name(&Value::Map(Vec::new()), self.style), v)),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A map with string keys, for the options tests.
    pub(crate) fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| (Value::from(*k), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn keys_are_spelled_by_style_and_unknown_ones_refused() {
        assert_eq!(Style::NODE.key("half_open_max_calls"), "halfOpenMaxCalls");
        assert_eq!(
            Style::PYTHON.key("half_open_max_calls"),
            "half_open_max_calls"
        );
        let v = map(&[("queueBytes", Value::Int(3))]);
        let o = Options::new(&v, "hub options", Style::NODE, &["queue_bytes"]).unwrap();
        assert_eq!(o.size("queue_bytes").unwrap(), Some(3));
        let err = Options::new(&v, "hub options", Style::PYTHON, &["queue_bytes"]).err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("unknown option \"queueBytes\""), "{msg}");
        assert!(Options::new(&Value::Int(1), "x", Style::NODE, &[]).is_err());
        assert!(Options::new(&Value::Nil, "x", Style::NODE, &[]).is_ok());
    }

    #[test]
    fn durations_take_the_style_unit_and_warn_on_fractions_of_a_ms() {
        let v = map(&[("timeout", Value::Float(0.5))]);
        let mut warned = Vec::new();
        let mut warn = |k: &str, ms: f64| warned.push((k.to_owned(), ms));
        let secs = Options::new(&v, "x", Style::PYTHON, &["timeout"]).unwrap();
        assert_eq!(
            secs.duration("timeout", &mut warn).unwrap(),
            Some(Duration::from_millis(500))
        );
        let ms = Options::new(&v, "x", Style::NODE, &["timeout"]).unwrap();
        assert_eq!(
            ms.duration("timeout", &mut warn).unwrap(),
            Some(Duration::from_micros(500))
        );
        assert_eq!(warned, vec![("timeout".to_owned(), 0.5)]);
        let bad = map(&[("timeout", Value::Float(-1.0))]);
        let o = Options::new(&bad, "x", Style::NODE, &["timeout"]).unwrap();
        let msg = o
            .duration("timeout", &mut |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("timeout must be a finite, non-negative number of ms, not -1"),
            "{msg}"
        );
    }

    #[test]
    fn counts_and_types_are_checked() {
        let v = map(&[
            ("n", Value::Float(1.5)),
            ("s", Value::Int(1)),
            ("z", Value::Nil),
        ]);
        let o = Options::new(&v, "x", Style::NODE, &["n", "s", "z"]).unwrap();
        assert!(o.count_u32("n").is_err());
        assert!(o.string("s").is_err());
        assert_eq!(o.count_u32("z").unwrap(), None);
        assert_eq!(o.nullable("z", |o, k| o.size(k)).unwrap(), Some(None));
        assert_eq!(o.nullable("absent", |o, k| o.size(k)).unwrap(), None);
    }
}
