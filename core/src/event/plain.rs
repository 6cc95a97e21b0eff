//! The common JSON event shape read straight into [`Event`]s: `{"dashboard", "metric", "value"}` with
//! optional `ts` (integer) and `id` (string), one object or an array of them — what HTTP ingest gets
//! from dashfeed's own clients and the benchmarks. serde reads it without building a decoded tree
//! first (no owned keys, no per-field values to drop).
//!
//! It is only a shortcut: a body in any other shape (another field or alias, `ts` as a float, a
//! duplicate key, gzip, trailing bytes), and any event it cannot build, answers `None`, and the
//! caller parses the body the general way ([`super::parse_events`]), which gives the same events for
//! what this accepts and the documented error for what it does not.

use super::Event;
use serde::Deserialize;
use std::borrow::Cow;

/// One event in the plain shape; any other field makes the body take the general path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Plain<'a> {
    #[serde(borrow)]
    dashboard: Cow<'a, str>,
    #[serde(borrow)]
    metric: Cow<'a, str>,
    value: f64,
    #[serde(default)]
    ts: Option<i64>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
}

impl Plain<'_> {
    /// The event, built and validated as [`Event::from_value`] builds it.
    fn event(self) -> Option<Event> {
        let ev = Event::new(self.dashboard, self.metric, self.value, self.ts).ok()?;
        match self.id {
            Some(id) => ev.with_id(id).ok(),
            None => Some(ev),
        }
    }
}

/// The events of a plain JSON body (uncompressed), or `None` when it is not one.
pub(super) fn events(body: &[u8]) -> Option<Vec<Event>> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    match first {
        b'[' => serde_json::from_slice::<Vec<Plain<'_>>>(body)
            .ok()?
            .into_iter()
            .map(Plain::event)
            .collect(),
        b'{' => Some(vec![serde_json::from_slice::<Plain<'_>>(body)
            .ok()?
            .event()?]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::events;
    use crate::codec::Format;
    use crate::event::parse_events;

    fn general(body: &str) -> crate::error::Result<Vec<crate::event::Event>> {
        crate::event::events_from_value(
            &crate::codec::Codec::new(Format::Json).decode(body.as_bytes())?,
        )
    }

    #[test]
    fn plain_bodies_give_the_events_of_the_general_parse() {
        for body in [
            r#"[{"dashboard":"a","metric":"m","value":1,"ts":5000},{"metric":"n","value":-2.5e3,"dashboard":"b","ts":7,"id":"x"}]"#,
            r#" {"dashboard":"a\u00e9","metric":"m\n","value":18446744073709551616,"ts":-3,"id":null} "#,
            r#"[]"#,
        ] {
            assert_eq!(
                events(body.as_bytes()).unwrap(),
                general(body).unwrap(),
                "{body}"
            );
        }
    }

    #[test]
    fn other_shapes_and_invalid_events_take_the_general_path() {
        for body in [
            r#"[{"dashboard":"a","metric":"m","value":1,"ts":5000.0}]"#,
            r#"{"dashboard_id":"a","metric":"m","value":1}"#,
            r#"{"dashboard":"a","metric":"m","value":1,"tags":{"h":"x"}}"#,
            r#"{"dashboard":"a","dashboard":"b","metric":"m","value":1}"#,
            r#"{"dashboard":"","metric":"m","value":1}"#,
            r#"{"dashboard":"a","metric":"m","value":null}"#,
            r#"[{"dashboard":"a","metric":"m","value":1},3]"#,
            r#"{"dashboard":"a","metric":"m","value":1} x"#,
            r#"42"#,
            "",
        ] {
            assert!(events(body.as_bytes()).is_none(), "{body}");
        }
        // The shortcut never changes the answer of parse_events.
        let same = parse_events(
            br#"{"dashboard":"a","metric":"m","value":1,"ts":2}"#,
            Format::Json,
            1 << 16,
        )
        .unwrap();
        assert_eq!(same[0].ts_ms, 2);
    }
}
