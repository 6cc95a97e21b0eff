//! [`AggregatorConfig`]: the window, lateness, quantiles, emit mode, idle close and output caps, with
//! validation and parsing from a configuration map ([`AggregatorConfig::from_value`]) so that Python,
//! Node, the pipeline config and the test vectors all build the same config the same way.

use super::spec::{check_max, check_positive, parse_duration_ms, EmitMode, WindowSpec};
use crate::codec::Value;
use crate::error::{Error, Result};

/// Default cap on results waiting to be polled, and on late events waiting to be taken.
pub const DEFAULT_MAX_PENDING: usize = 100_000;

/// Most quantiles one aggregator computes.
pub const MAX_QUANTILES: usize = 32;

/// Configuration of an [`Aggregator`](super::Aggregator).
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatorConfig {
    /// Window kind and size.
    pub window: WindowSpec,
    /// Grace for out-of-order events: watermark = highest event time seen − `lateness_ms`.
    /// Must be 0 for count windows.
    pub lateness_ms: u64,
    /// Quantiles to compute, each in the open interval (0, 1), no duplicates; output in this order.
    pub quantiles: Vec<f64>,
    /// When results are emitted.
    pub emit: EmitMode,
    /// When set, a stream quiet for this long (monotonic clock) has its watermark advanced with the
    /// clock, so that its last windows close. Not allowed with count windows.
    pub idle_close_ms: Option<u64>,
    /// Results that may wait for [`poll`](super::Aggregator::poll): input calls fail with `too_large`
    /// (applying nothing) while this many are pending.
    pub max_pending_results: usize,
    /// Late events that may wait for [`take_late`](super::Aggregator::take_late): input calls fail with
    /// `too_large` (applying nothing) while this many are pending.
    pub max_pending_late: usize,
}

impl AggregatorConfig {
    /// A config for `window` with the defaults: no lateness, no quantiles, `final` emit, no idle close,
    /// [`DEFAULT_MAX_PENDING`] caps.
    pub fn new(window: WindowSpec) -> Self {
        AggregatorConfig {
            window,
            lateness_ms: 0,
            quantiles: Vec::new(),
            emit: EmitMode::Final,
            idle_close_ms: None,
            max_pending_results: DEFAULT_MAX_PENDING,
            max_pending_late: DEFAULT_MAX_PENDING,
        }
    }

    /// Checks every field; the first problem is `invalid_input`.
    pub fn validate(&self) -> Result<()> {
        self.window.validate()?;
        self.emit.validate()?;
        check_max("lateness", self.lateness_ms)?;
        if let Some(idle) = self.idle_close_ms {
            check_positive("idle_close", idle)?;
        }
        if !self.window.is_time_based() {
            if self.lateness_ms != 0 {
                return Err(Error::invalid("count windows take no lateness"));
            }
            if self.idle_close_ms.is_some() {
                return Err(Error::invalid("count windows take no idle_close"));
            }
        }
        if self.quantiles.len() > MAX_QUANTILES {
            return Err(Error::invalid(format!(
                "{} quantiles requested, at most {MAX_QUANTILES}",
                self.quantiles.len()
            )));
        }
        for (i, &q) in self.quantiles.iter().enumerate() {
            if !(q.is_finite() && q > 0.0 && q < 1.0) {
                return Err(Error::invalid(format!(
                    "quantile {q} is not in the open interval (0, 1)"
                )));
            }
            if self.quantiles[..i].contains(&q) {
                return Err(Error::invalid(format!("quantile {q} is listed twice")));
            }
            // Results name each quantile (`p50`, `p99.9`: six decimals of a percentage); two that
            // share a name would overwrite each other in a result's map and its columns.
            let name = super::result::quantile_name(q);
            if let Some(&other) = self.quantiles[..i]
                .iter()
                .find(|&&o| super::result::quantile_name(o) == name)
            {
                return Err(Error::invalid(format!(
                    "quantiles {other} and {q} have the same name {name:?}"
                )));
            }
        }
        if self.max_pending_results == 0 || self.max_pending_late == 0 {
            return Err(Error::invalid("pending caps must be at least 1"));
        }
        Ok(())
    }

    /// Builds and validates a config from a map, the shape bindings and vectors use:
    ///
    /// ```json
    /// {"window": {"kind": "tumbling", "size": "10s"},      // or hopping {size, slide},
    ///                                                      // session {gap}, count {n}
    ///  "lateness": "2s", "quantiles": [0.5, 0.99],
    ///  "emit": "final",                                    // or {"mode": "updates", "interval": "1s"}
    ///  "idle_close": "5s", "max_pending_results": 100000, "max_pending_late": 100000}
    /// ```
    ///
    /// Only `window` is required; `null` means the default. Durations are text (see
    /// [`parse_duration_ms`]) or a non-negative integer of milliseconds. Unknown keys, wrong types and
    /// out-of-range values are `invalid_input`.
    pub fn from_value(v: &Value) -> Result<Self> {
        let entries = map_entries(v, "aggregator config")?;
        check_keys(
            entries,
            "aggregator config",
            &[
                "window",
                "lateness",
                "quantiles",
                "emit",
                "idle_close",
                "max_pending_results",
                "max_pending_late",
            ],
        )?;
        let window = match field(v, "window") {
            Some(w) => window_from_value(w)?,
            None => return Err(Error::invalid("aggregator config needs a \"window\"")),
        };
        let mut cfg = AggregatorConfig::new(window);
        if let Some(l) = field(v, "lateness") {
            cfg.lateness_ms = duration_from_value(l, "lateness")?;
        }
        if let Some(q) = field(v, "quantiles") {
            let Value::Array(items) = q else {
                return Err(Error::invalid("quantiles must be a list of numbers"));
            };
            cfg.quantiles = items
                .iter()
                .map(|x| {
                    x.as_f64()
                        .ok_or_else(|| Error::invalid("quantiles must be a list of numbers"))
                })
                .collect::<Result<_>>()?;
        }
        if let Some(e) = field(v, "emit") {
            cfg.emit = emit_from_value(e)?;
        }
        if let Some(i) = field(v, "idle_close") {
            cfg.idle_close_ms = Some(duration_from_value(i, "idle_close")?);
        }
        if let Some(n) = field(v, "max_pending_results") {
            cfg.max_pending_results = count_from_value(n, "max_pending_results")? as usize;
        }
        if let Some(n) = field(v, "max_pending_late") {
            cfg.max_pending_late = count_from_value(n, "max_pending_late")? as usize;
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The value under `key`, treating `null` as absent.
fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !matches!(x, Value::Nil))
}

fn map_entries<'a>(v: &'a Value, what: &str) -> Result<&'a [(Value, Value)]> {
    match v {
        Value::Map(entries) => Ok(entries),
        _ => Err(Error::invalid(format!("{what} must be a map"))),
    }
}

fn check_keys(entries: &[(Value, Value)], what: &str, allowed: &[&str]) -> Result<()> {
    for (k, _) in entries {
        match k.as_str() {
            Some(name) if allowed.contains(&name) => {}
            _ => {
                return Err(Error::invalid(format!(
                    "{what}: unknown key {k:?} (allowed: {})",
                    allowed.join(", ")
                )))
            }
        }
    }
    Ok(())
}

/// A duration: text such as `"10s"` or a non-negative whole number of milliseconds.
fn duration_from_value(v: &Value, what: &str) -> Result<u64> {
    let ms = match v {
        Value::Str(s) => parse_duration_ms(s)?,
        _ => count_from_value(v, what)?,
    };
    check_max(what, ms)?;
    Ok(ms)
}

/// A non-negative whole number (an integral float such as `10.0` is accepted).
fn count_from_value(v: &Value, what: &str) -> Result<u64> {
    let bad = || Error::invalid(format!("{what} must be a non-negative whole number"));
    match *v {
        Value::Int(i) => u64::try_from(i).map_err(|_| bad()),
        Value::UInt(u) => Ok(u),
        Value::Float(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 2f64.powi(63) => {
            Ok(f as u64)
        }
        _ => Err(bad()),
    }
}

fn required(v: &Value, key: &str, kind: &str) -> Result<u64> {
    match field(v, key) {
        Some(x) if key == "n" => count_from_value(x, "count window n"),
        Some(x) => duration_from_value(x, key),
        None => Err(Error::invalid(format!("{kind} window needs {key:?}"))),
    }
}

fn window_from_value(v: &Value) -> Result<WindowSpec> {
    let entries = map_entries(v, "window")?;
    let kind = field(v, "kind")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid("window needs a \"kind\" string"))?;
    let spec = match kind {
        "tumbling" => {
            check_keys(entries, "tumbling window", &["kind", "size"])?;
            WindowSpec::tumbling(required(v, "size", kind)?)
        }
        "hopping" => {
            check_keys(entries, "hopping window", &["kind", "size", "slide"])?;
            WindowSpec::hopping(required(v, "size", kind)?, required(v, "slide", kind)?)
        }
        "session" => {
            check_keys(entries, "session window", &["kind", "gap"])?;
            WindowSpec::session(required(v, "gap", kind)?)
        }
        "count" => {
            check_keys(entries, "count window", &["kind", "n"])?;
            WindowSpec::count(required(v, "n", kind)?)
        }
        other => {
            return Err(Error::invalid(format!(
                "unknown window kind {other:?} (expected tumbling, hopping, session or count)"
            )))
        }
    };
    spec.validate()?;
    Ok(spec)
}

fn emit_from_value(v: &Value) -> Result<EmitMode> {
    let (mode, interval) = match v {
        Value::Str(s) => (s.as_str(), None),
        Value::Map(entries) => {
            check_keys(entries, "emit", &["mode", "interval"])?;
            let mode = field(v, "mode")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::invalid("emit needs a \"mode\" string"))?;
            (mode, field(v, "interval"))
        }
        _ => return Err(Error::invalid("emit must be a string or a map")),
    };
    match (mode, interval) {
        ("final", None) => Ok(EmitMode::Final),
        ("updates", Some(i)) => Ok(EmitMode::Updates {
            interval_ms: duration_from_value(i, "emit interval")?,
        }),
        ("updates", None) => Err(Error::invalid("emit mode updates needs an \"interval\"")),
        ("final", Some(_)) => Err(Error::invalid("emit mode final takes no interval")),
        (other, _) => Err(Error::invalid(format!(
            "unknown emit mode {other:?} (expected final or updates)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Codec, Format};

    fn json(text: &str) -> Value {
        Codec::new(Format::Json).decode(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_full_map_builds_the_config() {
        let cfg = AggregatorConfig::from_value(&json(
            r#"{"window": {"kind": "hopping", "size": "10s", "slide": 5000},
                "lateness": "2s", "quantiles": [0.5, 0.99],
                "emit": {"mode": "updates", "interval": "1s"}, "idle_close": "5s",
                "max_pending_results": 10, "max_pending_late": 20.0}"#,
        ))
        .unwrap();
        assert_eq!(cfg.window, WindowSpec::hopping(10_000, 5_000));
        assert_eq!(cfg.lateness_ms, 2_000);
        assert_eq!(cfg.quantiles, vec![0.5, 0.99]);
        assert_eq!(cfg.emit, EmitMode::Updates { interval_ms: 1_000 });
        assert_eq!(cfg.idle_close_ms, Some(5_000));
        assert_eq!((cfg.max_pending_results, cfg.max_pending_late), (10, 20));
    }

    #[test]
    fn defaults_apply_and_null_means_default() {
        let cfg = AggregatorConfig::from_value(&json(
            r#"{"window": {"kind": "tumbling", "size": "1m"}, "idle_close": null, "emit": "final"}"#,
        ))
        .unwrap();
        assert_eq!(cfg, AggregatorConfig::new(WindowSpec::tumbling(60_000)));
        let s =
            AggregatorConfig::from_value(&json(r#"{"window": {"kind": "session", "gap": 30}}"#));
        assert_eq!(s.unwrap().window, WindowSpec::session(30));
        let c = AggregatorConfig::from_value(&json(r#"{"window": {"kind": "count", "n": 3}}"#));
        assert_eq!(c.unwrap().window, WindowSpec::count(3));
    }

    #[test]
    fn bad_configs_are_invalid_input() {
        let cases = [
            r#"[]"#,
            r#"{}"#,
            r#"{"window": {"kind": "tumbling"}}"#,
            r#"{"window": {"kind": "tumbling", "size": "0s"}}"#,
            r#"{"window": {"kind": "tumbling", "size": -5}}"#,
            r#"{"window": {"kind": "tumbling", "size": 1.5}}"#,
            r#"{"window": {"kind": "tumbling", "size": "10s", "slide": "1s"}}"#,
            r#"{"window": {"kind": "weekly", "size": "10s"}}"#,
            r#"{"window": {"kind": "count", "n": "10s"}}"#,
            r#"{"window": {"kind": "count", "n": 5}, "lateness": "1s"}"#,
            r#"{"window": {"kind": "count", "n": 5}, "idle_close": "1s"}"#,
            r#"{"window": {"kind": "tumbling", "size": "1s"}, "quantiles": [0.5, 1.0]}"#,
            r#"{"window": {"kind": "tumbling", "size": "1s"}, "quantiles": [0]}"#,
            r#"{"window": {"kind": "tumbling", "size": "1s"}, "quantiles": [-0.5]}"#,
            r#"{"window": {"kind": "tumbling", "size": "1s"}, "quantiles": [0.5, 0.5]}"#,
            r#"{"window": {"kind": "tumbling", "size": "1s"}, "quantiles": [0.5, 0.500000001]}"#,
            r#"{"window": {"kind": "tumbling", "size": "1s"}, "quantiles": ["p50"]}"#,
            r#"{"window": {"kind": "tumbling", "size": "1s"}, "quantiles": 0.5}"#,
            r#"{"window": {"kind": "tumbling", "size": "1s"}, "emit": "updates"}"#,
            r#"{"window": {"kind": "tumbling", "size": "1s"}, "emit": "sometimes"}"#,
            r#"{"window": {"kind": "tumbling", "size": "1s"}, "emit": {"mode": "updates", "interval": 0}}"#,
            r#"{"window": {"kind": "tumbling", "size": "1s"}, "idle_close": "0ms"}"#,
            r#"{"window": {"kind": "tumbling", "size": "1s"}, "max_pending_late": 0}"#,
            r#"{"window": {"kind": "tumbling", "size": "1s"}, "latenes": "1s"}"#,
        ];
        for text in cases {
            let err = AggregatorConfig::from_value(&json(text)).unwrap_err();
            assert_eq!(err.code(), "invalid_input", "{text}");
        }
        let mut cfg = AggregatorConfig::new(WindowSpec::tumbling(1000));
        cfg.quantiles = vec![f64::NAN];
        assert_eq!(cfg.validate().unwrap_err().code(), "invalid_input");
        cfg.quantiles = vec![0.5; MAX_QUANTILES + 1];
        assert_eq!(cfg.validate().unwrap_err().code(), "invalid_input");
    }
}
