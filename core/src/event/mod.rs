//! The metric [`Event`] that flows from sources into the aggregator, and its grouping [`Key`].
//!
//! Validation lives here so that every entry point (Python, Node, HTTP ingest, connectors) refuses the same
//! inputs with the same `invalid_input` error, and so does parsing from the shapes users send
//! ([`parse`]: dashfeed's own fields and the reference notes' `dashboard_id`/`metric_name`/`timestamp`/
//! `metadata`).

mod parse;
mod plain;

pub use parse::{events_from_value, parse_events, EVENT_MAX_DEPTH, SECONDS_BELOW};

use crate::error::{Error, Result};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest dashboard id, metric name, tag key or tag value, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// One metric observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Dashboard id (topic), for example `"host"`.
    pub dashboard: String,
    /// Metric name, for example `"cpu"`.
    pub metric: String,
    /// The observed value; always finite.
    pub value: f64,
    /// Event time in milliseconds since the Unix epoch.
    pub ts_ms: i64,
    /// Optional idempotency id: a retried delivery with the same id is dropped by dedupe.
    pub id: Option<String>,
    /// Optional string tags, kept sorted by key (part of the grouping [`Key`]).
    pub tags: Vec<(String, String)>,
    /// Metadata that is not string tags (a map with other values, as the reference notes' `metadata`):
    /// carried along with the value when the event is published, never part of the key.
    pub metadata: Option<crate::codec::Value>,
}

/// Grouping key of an event: dashboard, metric and sorted tags.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Dashboard id.
    pub dashboard: String,
    /// Metric name.
    pub metric: String,
    /// Tags sorted by key.
    pub tags: Vec<(String, String)>,
}

impl Key {
    /// The name of this series in a publication: `metric`, or `metric{k=v,k2=v2}` with tags (sorted
    /// by key), for window results and for events published as they arrive alike.
    pub fn series_name(&self) -> String {
        series_name(&self.metric, &self.tags)
    }
}

fn series_name(metric: &str, tags: &[(String, String)]) -> String {
    if tags.is_empty() {
        return metric.to_string();
    }
    let tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{metric}{{{}}}", tags.join(","))
}

/// Milliseconds since the Unix epoch according to the system clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Checks a name — a dashboard id, metric name, tag key, event or publication id: non-empty and at
/// most [`MAX_NAME_BYTES`] bytes; `invalid_input` naming `what` otherwise. The one rule for names in
/// every module (events, windows, the hub, the server's URLs).
pub fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(format!("{what} must not be empty")));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Error::invalid(format!(
            "{what} is {} bytes, longer than {MAX_NAME_BYTES}",
            name.len()
        )));
    }
    Ok(())
}

impl Event {
    /// Builds a validated event. `ts_ms = None` means now; tags are sorted by key.
    ///
    /// Errors with `invalid_input` on a non-finite value, an empty or over-long dashboard / metric / tag
    /// name, or a duplicated tag key.
    pub fn new(
        dashboard: impl Into<String>,
        metric: impl Into<String>,
        value: f64,
        ts_ms: Option<i64>,
    ) -> Result<Self> {
        let ev = Event {
            dashboard: dashboard.into(),
            metric: metric.into(),
            value,
            ts_ms: ts_ms.unwrap_or_else(now_ms),
            id: None,
            tags: Vec::new(),
            metadata: None,
        };
        ev.validate()?;
        Ok(ev)
    }

    /// Sets the idempotency id.
    pub fn with_id(mut self, id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        check_name("event id", &id)?;
        self.id = Some(id);
        Ok(self)
    }

    /// Sets the tags (sorted by key here); duplicated keys are `invalid_input`.
    pub fn with_tags<I, K, V>(mut self, tags: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut tags: Vec<(String, String)> = tags
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        tags.sort();
        self.tags = tags;
        self.validate()?;
        Ok(self)
    }

    /// Checks the invariants listed on [`Event::new`].
    pub fn validate(&self) -> Result<()> {
        check_name("dashboard", &self.dashboard)?;
        check_name("metric", &self.metric)?;
        if !self.value.is_finite() {
            return Err(Error::invalid(format!(
                "value of {}/{} is not finite ({})",
                self.dashboard, self.metric, self.value
            )));
        }
        if let Some(id) = &self.id {
            check_name("event id", id)?;
        }
        for (i, (k, v)) in self.tags.iter().enumerate() {
            check_name("tag key", k)?;
            if v.len() > MAX_NAME_BYTES {
                return Err(Error::invalid(format!(
                    "tag {k} value is longer than {MAX_NAME_BYTES} bytes"
                )));
            }
            if i > 0 && self.tags[i - 1].0 == *k {
                return Err(Error::invalid(format!("tag {k} given twice")));
            }
        }
        if !self.tags.windows(2).all(|w| w[0].0 <= w[1].0) {
            return Err(Error::invalid("tags must be sorted by key"));
        }
        Ok(())
    }

    /// The event as a map: `dashboard`, `metric`, `value`, `ts`, `id` (nil when absent), `tags` (a map),
    /// and `metadata` when there is some, in that order. Late output and ingest echo events in this shape
    /// in every language.
    pub fn to_value(&self) -> crate::codec::Value {
        use crate::codec::Value;
        let tags = self
            .tags
            .iter()
            .map(|(k, v)| (Value::from(k.as_str()), Value::from(v.as_str())))
            .collect();
        let mut map = vec![
            ("dashboard".into(), self.dashboard.as_str().into()),
            ("metric".into(), self.metric.as_str().into()),
            ("value".into(), Value::Float(self.value)),
            ("ts".into(), Value::Int(self.ts_ms)),
            (
                "id".into(),
                self.id.as_deref().map(Value::from).unwrap_or(Value::Nil),
            ),
            ("tags".into(), Value::Map(tags)),
        ];
        if let Some(m) = &self.metadata {
            map.push(("metadata".into(), m.clone()));
        }
        Value::Map(map)
    }

    /// What HTTP ingest and the sources publish for this event on its dashboard: `{series: value}`, or
    /// with metadata or tags the reference notes' `{series: {value, timestamp, metadata}}` (tags are
    /// the metadata's text entries). The series is the metric with its tags (`cpu{host=h1}`), as window
    /// results name it, so that two hosts' `cpu` never overwrite each other.
    pub fn published_data(&self) -> crate::codec::Value {
        use crate::codec::Value;
        let value = if self.metadata.is_none() && self.tags.is_empty() {
            Value::Float(self.value)
        } else {
            let mut meta: Vec<(Value, Value)> = self
                .tags
                .iter()
                .map(|(k, v)| (Value::Str(k.clone()), Value::Str(v.clone())))
                .collect();
            let metadata = match &self.metadata {
                Some(Value::Map(m)) => {
                    meta.extend(m.iter().cloned());
                    Value::Map(meta)
                }
                Some(other) if meta.is_empty() => other.clone(), // not a map: kept whole
                _ => Value::Map(meta),
            };
            Value::Map(vec![
                ("value".into(), Value::Float(self.value)),
                ("timestamp".into(), Value::Int(self.ts_ms)),
                ("metadata".into(), metadata),
            ])
        };
        Value::Map(vec![(
            Value::Str(series_name(&self.metric, &self.tags)),
            value,
        )])
    }

    /// The grouping key of this event.
    pub fn key(&self) -> Key {
        Key {
            dashboard: self.dashboard.clone(),
            metric: self.metric.clone(),
            tags: self.tags.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_data_names_the_series_with_its_tags_and_keeps_the_reference_layout() {
        use crate::codec::Value;
        let plain = Event::new("ops", "cpu", 0.5, Some(7)).unwrap();
        assert_eq!(
            plain.published_data(),
            Value::Map(vec![("cpu".into(), Value::Float(0.5))])
        );
        let h1 = Event::new("ops", "cpu", 0.5, Some(7))
            .unwrap()
            .with_tags([("host", "h1")])
            .unwrap();
        let h2 = Event::new("ops", "cpu", 0.7, Some(8))
            .unwrap()
            .with_tags([("host", "h2")])
            .unwrap();
        let entry = |v: f64, ts: i64, host: &str| {
            Value::Map(vec![
                ("value".into(), Value::Float(v)),
                ("timestamp".into(), Value::Int(ts)),
                (
                    "metadata".into(),
                    Value::Map(vec![("host".into(), Value::Str(host.into()))]),
                ),
            ])
        };
        // Two hosts' cpu are two series: neither overwrites the other in the snapshot or the cache.
        assert_eq!(
            h1.published_data(),
            Value::Map(vec![("cpu{host=h1}".into(), entry(0.5, 7, "h1"))])
        );
        assert_eq!(
            h2.published_data(),
            Value::Map(vec![("cpu{host=h2}".into(), entry(0.7, 8, "h2"))])
        );
    }

    #[test]
    fn valid_event_defaults_to_now() {
        let before = now_ms();
        let ev = Event::new("host", "cpu", 0.42, None).unwrap();
        assert!(ev.ts_ms >= before);
        assert_eq!(ev.key().metric, "cpu");
    }

    #[test]
    fn invalid_inputs_are_refused_with_the_code() {
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        let cases = [
            Event::new("", "cpu", 1.0, Some(0)),
            Event::new("host", "", 1.0, Some(0)),
            Event::new(long.as_str(), "cpu", 1.0, Some(0)),
            Event::new("host", long.as_str(), 1.0, Some(0)),
            Event::new("host", "cpu", f64::NAN, Some(0)),
            Event::new("host", "cpu", f64::INFINITY, Some(0)),
            Event::new("host", "cpu", f64::NEG_INFINITY, Some(0)),
        ];
        for c in cases {
            assert_eq!(c.unwrap_err().code(), "invalid_input");
        }
        let exact = "y".repeat(MAX_NAME_BYTES);
        assert!(Event::new(exact.as_str(), "cpu", 1.0, Some(0)).is_ok());
    }

    #[test]
    fn tags_are_sorted_and_part_of_the_key() {
        let a = Event::new("d", "m", 1.0, Some(0))
            .unwrap()
            .with_tags([("region", "eu"), ("host", "a")])
            .unwrap();
        let b = Event::new("d", "m", 2.0, Some(5))
            .unwrap()
            .with_tags([("host", "a"), ("region", "eu")])
            .unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.tags[0].0, "host");
        let dup = Event::new("d", "m", 1.0, Some(0))
            .unwrap()
            .with_tags([("h", "a"), ("h", "b")]);
        assert_eq!(dup.unwrap_err().code(), "invalid_input");
    }
}
