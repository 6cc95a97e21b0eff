//! Events from decoded messages, in every shape users send — parsed here once for HTTP ingest, the
//! Python/Node `parse_events` and the broker sources.
//!
//! Accepted fields (one event object, or an array of them):
//!
//! | event field | accepted names | rule |
//! |---|---|---|
//! | dashboard | `dashboard`, `dashboard_id`, `dashboardId` | string |
//! | metric | `metric`, `metric_name` | string |
//! | value | `value` | number |
//! | time | `ts` | integer, ms since the Unix epoch |
//! | time | `timestamp` | number: seconds when below 10^11 (`time.time()`, Unix seconds; rounded to the ms), ms otherwise (`Date.now()`; a fraction of a ms is dropped) |
//! | id | `id` | string |
//! | tags | `tags` | map of string → string |
//! | tags or metadata | `metadata` | a map whose values are all strings is taken as tags; any other map is kept as [`Event::metadata`] |
//!
//! A field given under two names must carry the same value (`dashboard` and `dashboard_id` both set to
//! different ids is `invalid_input`, never a silent pick); so must `ts` and `timestamp` (compared in ms),
//! and `tags` and a string-only `metadata`. Absent time means now. Other fields are ignored.

use super::Event;
use crate::codec::{Codec, Format, Value};
use crate::error::{Error, Result};

/// Nesting accepted in an event message (an array of events with a metadata map inside).
pub const EVENT_MAX_DEPTH: usize = 8;
/// `timestamp` values below this are seconds, at or above it milliseconds (10^11 s is in the year 5138;
/// 10^11 ms is March 1973).
pub const SECONDS_BELOW: f64 = 1e11;

/// Decodes `bytes` (JSON or MessagePack in `format`, gzip allowed, at most `max_bytes` before and after
/// gzip) and parses the events in it. The whole message is refused when one event is invalid.
pub fn parse_events(bytes: &[u8], format: Format, max_bytes: usize) -> Result<Vec<Event>> {
    // The common shape first, read straight into events (`super::plain`); anything else, and every
    // error, the general way.
    if format == Format::Json && bytes.len() <= max_bytes && !crate::codec::is_gzip(bytes) {
        if let Some(events) = super::plain::events(bytes) {
            return Ok(events);
        }
    }
    events_from_value(&Codec::bounded(format, max_bytes, EVENT_MAX_DEPTH).decode(bytes)?)
}

/// The events of a decoded message: one event object or an array of them.
pub fn events_from_value(value: &Value) -> Result<Vec<Event>> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                Event::from_value(item).map_err(|e| Error::invalid(format!("event {i}: {e}")))
            })
            .collect(),
        single @ Value::Map(_) => Ok(vec![Event::from_value(single)?]),
        _ => Err(Error::invalid(
            "a message must be an event object or an array of them",
        )),
    }
}

impl Event {
    /// One event from a decoded map in any accepted shape (see the [module](self) table).
    pub fn from_value(v: &Value) -> Result<Event> {
        if !matches!(v, Value::Map(_)) {
            return Err(Error::invalid("an event must be an object"));
        }
        let dashboard = one_of(v, &["dashboard", "dashboard_id", "dashboardId"], text)?
            .ok_or_else(|| {
                Error::invalid("dashboard is required (or dashboard_id / dashboardId)")
            })?;
        let metric = one_of(v, &["metric", "metric_name"], text)?
            .ok_or_else(|| Error::invalid("metric is required (or metric_name)"))?;
        let value = match v.get("value") {
            Some(n) => n
                .as_f64()
                .ok_or_else(|| Error::invalid("value must be a number"))?,
            None => return Err(Error::invalid("value is required")),
        };
        let ts = agree(
            "ts",
            field(v, "ts", ts_ms)?,
            field(v, "timestamp", timestamp_ms)?,
        )?;
        let mut ev = Event::new(dashboard, metric, value, ts)?;
        if let Some(id) = field(v, "id", text)? {
            ev = ev.with_id(id)?;
        }
        let tags = field(v, "tags", |name, t| {
            string_map(t)
                .ok_or_else(|| Error::invalid(format!("{name} must map strings to strings")))
        })?;
        let (meta_tags, metadata) = match v.get("metadata") {
            None | Some(Value::Nil) => (None, None),
            Some(m @ Value::Map(_)) => match string_map(m) {
                Some(t) => (Some(t), None),
                None => (None, Some(m.clone())),
            },
            Some(_) => return Err(Error::invalid("metadata must be an object")),
        };
        let tags = agree("tags", tags.map(sorted), meta_tags.map(sorted))?;
        if let Some(tags) = tags {
            ev = ev.with_tags(tags)?;
        }
        ev.metadata = metadata;
        Ok(ev)
    }
}

/// The converted field `name`, `None` when absent or nil.
fn field<T>(
    v: &Value,
    name: &str,
    convert: impl Fn(&str, &Value) -> Result<T>,
) -> Result<Option<T>> {
    match v.get(name) {
        None | Some(Value::Nil) => Ok(None),
        Some(x) => convert(name, x).map(Some),
    }
}

/// The field given under any of `names` (aliases); `invalid_input` when two of them disagree.
fn one_of<T: PartialEq>(
    v: &Value,
    names: &[&str],
    convert: impl Fn(&str, &Value) -> Result<T>,
) -> Result<Option<T>> {
    let mut found: Option<(&str, T)> = None;
    for name in names {
        let Some(x) = field(v, name, &convert)? else {
            continue;
        };
        match &found {
            Some((first, y)) if *y != x => {
                return Err(Error::invalid(format!(
                    "{first} and {name} are both given, with different values"
                )))
            }
            Some(_) => {}
            None => found = Some((name, x)),
        }
    }
    Ok(found.map(|(_, x)| x))
}

/// One of two spellings of `what`; both given must be equal.
fn agree<T: PartialEq>(what: &str, a: Option<T>, b: Option<T>) -> Result<Option<T>> {
    match (a, b) {
        (Some(a), Some(b)) if a != b => Err(Error::invalid(format!(
            "{what} is given twice with different values"
        ))),
        (a, b) => Ok(a.or(b)),
    }
}

fn text(name: &str, v: &Value) -> Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid(format!("{name} must be a string")))
}

/// `ts`: an integer number of ms (a float without fraction is accepted).
fn ts_ms(_: &str, v: &Value) -> Result<i64> {
    match *v {
        Value::Int(i) => Ok(i),
        Value::UInt(u) => i64::try_from(u).map_err(|_| Error::invalid("ts is too large")),
        Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(Error::invalid(
            "ts must be an integer (ms since the Unix epoch)",
        )),
    }
}

/// `timestamp`: seconds below [`SECONDS_BELOW`], ms otherwise.
fn timestamp_ms(_: &str, v: &Value) -> Result<i64> {
    let x = v
        .as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| Error::invalid("timestamp must be a number (ms, or seconds)"))?;
    // Seconds are rounded to the ms (`1764288000.123` is not exact in binary); a fraction of a ms is dropped.
    let ms = if x.abs() < SECONDS_BELOW {
        (x * 1000.0).round()
    } else {
        x.floor()
    };
    if ms.abs() >= 9.0e15 {
        return Err(Error::invalid("timestamp is too large"));
    }
    Ok(ms as i64)
}

/// The pairs of a map whose keys and values are all strings, `None` otherwise.
fn string_map(v: &Value) -> Option<Vec<(String, String)>> {
    let Value::Map(pairs) = v else { return None };
    pairs
        .iter()
        .map(|(k, val)| Some((k.as_str()?.to_owned(), val.as_str()?.to_owned())))
        .collect()
}

fn sorted(mut tags: Vec<(String, String)>) -> Vec<(String, String)> {
    tags.sort();
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Vec<Event>> {
        parse_events(json.as_bytes(), Format::Json, 1 << 16)
    }

    #[test]
    fn the_reference_notes_shapes_are_accepted() {
        let py = parse(r#"{"dashboard_id":"ops","metric_name":"cpu","value":0.5,"timestamp":1764288000123,"metadata":{"host":"a"}}"#).unwrap();
        assert_eq!(
            (py[0].dashboard.as_str(), py[0].metric.as_str(), py[0].ts_ms),
            ("ops", "cpu", 1_764_288_000_123)
        );
        assert_eq!(py[0].tags, vec![("host".into(), "a".into())]);
        let node =
            parse(r#"{"dashboardId":"ops","metric":"cpu","value":1,"metadata":{"n":2}}"#).unwrap();
        assert_eq!(node[0].dashboard, "ops");
        assert!(node[0].tags.is_empty());
        assert_eq!(
            node[0].metadata.as_ref().unwrap().get("n"),
            Some(&Value::Int(2))
        );
        let secs = parse(r#"{"dashboard":"d","metric":"m","value":1,"timestamp":1764288000.123}"#)
            .unwrap();
        assert_eq!(secs[0].ts_ms, 1_764_288_000_123);
    }

    #[test]
    fn disagreeing_aliases_are_refused() {
        for bad in [
            r#"{"dashboard":"a","dashboard_id":"b","metric":"m","value":1}"#,
            r#"{"dashboard":"a","metric":"m","metric_name":"n","value":1}"#,
            r#"{"dashboard":"a","metric":"m","value":1,"ts":5,"timestamp":6}"#,
            r#"{"dashboard":"a","metric":"m","value":1,"tags":{"h":"x"},"metadata":{"h":"y"}}"#,
            r#"{"dashboard":"a","metric":"m","value":1,"metadata":3}"#,
        ] {
            assert_eq!(parse(bad).unwrap_err().code(), "invalid_input", "{bad}");
        }
        let same = parse(r#"{"dashboard":"a","dashboard_id":"a","metric":"m","value":1,"ts":5000,"timestamp":5}"#).unwrap();
        assert_eq!(same[0].ts_ms, 5000);
    }
}
