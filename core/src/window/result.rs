//! [`WindowResult`]: the aggregates of one key over one window, as emitted by the aggregator, and its
//! publishable map form ([`WindowResult::to_value`]).

use super::config::MAX_QUANTILES;
use super::keys::Win;
use super::result_columns::Numbers;
use crate::codec::Value;
use crate::event::Key;
use std::sync::Arc;

/// The aggregates of one key over one window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowResult {
    /// The grouping key (shared with the aggregator's interned copy: cloning a result does not copy
    /// the strings).
    pub key: Arc<Key>,
    /// Window start in ms (inclusive). Session: the first event time; count: the smallest event time.
    pub start_ms: i64,
    /// Window end in ms (exclusive). Session: the last event time + gap; count: the largest event time
    /// (inclusive, for count windows only).
    pub end_ms: i64,
    /// Number of events.
    pub count: u64,
    /// Sum of values (added in arrival order).
    pub sum: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// `sum / count`.
    pub mean: f64,
    /// Value of the earliest event by event time (earliest arrival among ties).
    pub first: f64,
    /// Value of the latest event by event time (latest arrival among ties).
    pub last: f64,
    /// `(q, estimate)` for each configured quantile, in configuration order: the value of nearest rank
    /// `⌈q·n⌉` (see [`QuantileSketch`](super::QuantileSketch)), exact up to [`EXACT_MAX`](super::EXACT_MAX)
    /// values, else within 1% relative error; clamped to `[min, max]`.
    pub quantiles: Vec<(f64, f64)>,
    /// `true` for the one result emitted when the window closes; `false` for partial updates.
    pub is_final: bool,
}

/// Name of a quantile in [`WindowResult::to_value`]: `p` followed by the percentage with at most six
/// decimals and no trailing zeros: 0.5 → `"p50"`, 0.99 → `"p99"`, 0.999 → `"p99.9"`, 0.05 → `"p5"`.
pub fn quantile_name(q: f64) -> String {
    let text = format!("{:.6}", q * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("p{text}")
}

/// The estimates of `quantiles` for window `w`, clamped to its `[min, max]`, written to the start of
/// `out`; `None` when the window keeps no sketch (no quantiles configured).
pub(crate) fn estimates<'o>(
    w: &Win,
    quantiles: &[f64],
    out: &'o mut [f64; MAX_QUANTILES],
) -> Option<&'o [f64]> {
    let acc = &w.acc;
    match acc.sketch.as_deref() {
        Some(s) if !quantiles.is_empty() && quantiles.len() <= MAX_QUANTILES => {
            let est = &mut out[..quantiles.len()];
            est.fill(acc.min);
            s.quantiles_into(quantiles, est);
            est.iter_mut().for_each(|v| *v = v.clamp(acc.min, acc.max));
            Some(est)
        }
        _ => None,
    }
}

impl WindowResult {
    /// Builds the result of window `w` of `key`, with the configured quantiles.
    pub(crate) fn of(key: &Arc<Key>, w: &Win, quantiles: &[f64], is_final: bool) -> Self {
        let acc = &w.acc;
        let quantiles = if acc.sketch.is_some() && !quantiles.is_empty() {
            let mut est = [0.0; MAX_QUANTILES];
            match estimates(w, quantiles, &mut est) {
                Some(est) => quantiles.iter().copied().zip(est.iter().copied()).collect(),
                None => Vec::new(),
            }
        } else {
            Vec::new()
        };
        Numbers::of_window(w).into_result(Arc::clone(key), quantiles, is_final)
    }

    /// The result as a map, ready to publish or encode, with keys in this order:
    /// `dashboard` (str), `metric` (str), `tags` (map str → str, sorted by key), `start`, `end` (int ms),
    /// `count` (int), `sum`, `min`, `max`, `mean`, `first`, `last` (float), `quantiles` (map
    /// [`quantile_name`] → float, in configuration order; empty without quantiles), `final` (bool).
    pub fn to_value(&self) -> Value {
        let tags = self
            .key
            .tags
            .iter()
            .map(|(k, v)| (Value::from(k.as_str()), Value::from(v.as_str())))
            .collect();
        let quantiles = self
            .quantiles
            .iter()
            .map(|&(q, v)| (Value::Str(quantile_name(q)), Value::Float(v)))
            .collect();
        let entries = vec![
            ("dashboard", Value::from(self.key.dashboard.as_str())),
            ("metric", Value::from(self.key.metric.as_str())),
            ("tags", Value::Map(tags)),
            ("start", Value::Int(self.start_ms)),
            ("end", Value::Int(self.end_ms)),
            ("count", Value::from(self.count)),
            ("sum", Value::Float(self.sum)),
            ("min", Value::Float(self.min)),
            ("max", Value::Float(self.max)),
            ("mean", Value::Float(self.mean)),
            ("first", Value::Float(self.first)),
            ("last", Value::Float(self.last)),
            ("quantiles", Value::Map(quantiles)),
            ("final", Value::Bool(self.is_final)),
        ];
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::from(k), v))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::accum::Accumulator;

    #[test]
    fn quantile_names_are_short_percentages() {
        let cases = [
            (0.5, "p50"),
            (0.9, "p90"),
            (0.99, "p99"),
            (0.999, "p99.9"),
            (0.9999, "p99.99"),
            (0.05, "p5"),
            (0.125, "p12.5"),
            (0.001, "p0.1"),
        ];
        for (q, name) in cases {
            assert_eq!(quantile_name(q), name);
        }
    }

    #[test]
    fn to_value_has_the_documented_shape() {
        let key = Arc::new(Key {
            dashboard: "host".into(),
            metric: "cpu".into(),
            tags: vec![("region".into(), "eu".into())],
        });
        let mut acc = Accumulator::new(2.0, 1_000, 1, Some(Box::default()));
        acc.add(4.0, 1_500, 2);
        let w = Win {
            id: 1,
            start: 0,
            end: 10_000,
            acc,
            dirty: false,
        };
        let r = WindowResult::of(&key, &w, &[0.5], true);
        assert_eq!(r.quantiles.len(), 1);
        let v = r.to_value();
        let Value::Map(entries) = &v else {
            panic!("not a map")
        };
        let names: Vec<&str> = entries.iter().map(|(k, _)| k.as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "dashboard",
                "metric",
                "tags",
                "start",
                "end",
                "count",
                "sum",
                "min",
                "max",
                "mean",
                "first",
                "last",
                "quantiles",
                "final"
            ]
        );
        assert_eq!(v.get("dashboard").unwrap().as_str(), Some("host"));
        assert_eq!(
            v.get("tags").unwrap().get("region").unwrap().as_str(),
            Some("eu")
        );
        assert_eq!(v.get("end"), Some(&Value::Int(10_000)));
        assert_eq!(v.get("count"), Some(&Value::Int(2)));
        assert_eq!(v.get("mean"), Some(&Value::Float(3.0)));
        assert_eq!(v.get("first"), Some(&Value::Float(2.0)));
        assert_eq!(v.get("last"), Some(&Value::Float(4.0)));
        let p50 = v
            .get("quantiles")
            .unwrap()
            .get("p50")
            .unwrap()
            .as_f64()
            .unwrap();
        assert!((p50 - 2.0).abs() <= 0.02, "{p50}");
        assert_eq!(v.get("final"), Some(&Value::Bool(true)));
    }
}
