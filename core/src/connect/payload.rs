//! [`PayloadParser`]: broker message bytes → validated [`Event`]s, through the codec's limits and the
//! event shapes of [`crate::event`] — the one parsing step every source shares.
//!
//! A source gives each message an origin id (`stream-entry-id`, `topic/partition/offset`): an event
//! without its own `id` gets the origin (with `#i` for the i-th event of a multi-event message), so a
//! redelivered message is recognised by the pipeline's dedupe and applied once.

use crate::codec::{Format, Value};
use crate::error::{Error, Result};
use crate::event::{events_from_value, parse_events, Event};
use serde::Deserialize;

/// How a source reads message bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    /// JSON when the payload starts with `{` or `[` (after optional whitespace), MessagePack otherwise;
    /// gzip (by its magic bytes) holds MessagePack. The default.
    #[default]
    Auto,
    /// JSON (gzip allowed).
    Json,
    /// MessagePack (gzip allowed).
    Msgpack,
}

impl PayloadFormat {
    /// The codec format for `bytes`.
    pub fn format_of(self, bytes: &[u8]) -> Format {
        match self {
            PayloadFormat::Json => Format::Json,
            PayloadFormat::Msgpack => Format::MsgPack,
            PayloadFormat::Auto => {
                let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
                match first {
                    Some(b'{') | Some(b'[') => Format::Json,
                    _ => Format::MsgPack,
                }
            }
        }
    }
}

/// Largest message a source accepts unless configured, before and after gzip: 1 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Parses messages of one source.
#[derive(Debug, Clone, Copy)]
pub struct PayloadParser {
    /// Format of the messages.
    pub format: PayloadFormat,
    /// Largest message, before and after gzip.
    pub max_bytes: usize,
}

impl Default for PayloadParser {
    fn default() -> Self {
        PayloadParser {
            format: PayloadFormat::Auto,
            max_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

impl PayloadParser {
    /// The events of one message; events without an id are given `origin` (`origin#i` when the
    /// message holds several), when the broker gives one.
    pub fn parse(&self, bytes: &[u8], origin: Option<&str>) -> Result<Vec<Event>> {
        if bytes.len() > self.max_bytes {
            return Err(Error::TooLarge {
                what: "message",
                limit: self.max_bytes,
            });
        }
        let events = parse_events(bytes, self.format.format_of(bytes), self.max_bytes)?;
        Ok(with_origin(events, origin))
    }

    /// The events of a message given as a decoded map (a Redis stream entry's fields).
    pub fn parse_value(&self, value: &Value, origin: Option<&str>) -> Result<Vec<Event>> {
        Ok(with_origin(events_from_value(value)?, origin))
    }
}

fn with_origin(mut events: Vec<Event>, origin: Option<&str>) -> Vec<Event> {
    let Some(origin) = origin else {
        return events;
    };
    let many = events.len() > 1;
    for (i, ev) in events.iter_mut().enumerate() {
        if ev.id.is_none() {
            ev.id = Some(if many {
                format!("{origin}#{i}")
            } else {
                origin.to_owned()
            });
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_shape_gets_the_origin_as_id_and_bad_input_has_a_code() {
        let p = PayloadParser::default();
        let evs = p
            .parse(
                br#"{"dashboard_id":"d","metric_name":"cpu","value":0.5,"timestamp":1700000000}"#,
                Some("events/0/42"),
            )
            .unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].id.as_deref(), Some("events/0/42"));
        assert_eq!(evs[0].ts_ms, 1_700_000_000_000);
        let two = p
            .parse(
                br#"[{"dashboard":"d","metric":"a","value":1},{"dashboard":"d","metric":"b","value":2,"id":"x"}]"#,
                Some("o"),
            )
            .unwrap();
        assert_eq!(two[0].id.as_deref(), Some("o#0"));
        assert_eq!(two[1].id.as_deref(), Some("x"));
        assert_eq!(
            p.parse(b"{nope", Some("o")).unwrap_err().code(),
            "decode_error"
        );
        let packed =
            rmp_serde::to_vec_named(&serde_json::json!({"dashboard":"d","metric":"m","value":3}))
                .unwrap();
        assert_eq!(p.parse(&packed, Some("o")).unwrap()[0].value, 3.0);
        let small = PayloadParser {
            max_bytes: 8,
            ..PayloadParser::default()
        };
        assert_eq!(
            small.parse(&packed, Some("o")).unwrap_err().code(),
            "too_large"
        );
    }
}
