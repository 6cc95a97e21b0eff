//! HTTP ingest: the [`Ingest`] sink trait, the default [`HubIngest`] (each event published into the hub
//! as [`Event::published_data`], its id used for dedupe), and the parsing of `POST /api/events` bodies into
//! validated [`Event`]s.
//!
//! Body: one event object or an array of them, JSON or MessagePack (gzip allowed):
//! `{"dashboard": str, "metric": str, "value": number, "ts"?: integer ms, "id"?: str, "tags"?: {str: str}}`,
//! or the reference notes' shape (`dashboard_id`/`dashboardId`, `metric_name`, `timestamp`, `metadata`;
//! the rules are in [`crate::event`]). Other fields are ignored. The whole body is refused (nothing
//! ingested) when one event is invalid.

use crate::codec::Format;
use crate::error::Result;
use crate::event::Event;
use crate::hub::{Hub, Outgoing};

/// Where ingested events go. The server calls it on a runtime thread: it must not block (hand the
/// events to a bounded queue, or publish them directly as [`HubIngest`] does).
pub trait Ingest: Send + Sync {
    /// Takes validated events; returns how many were accepted (duplicates excluded). An error refuses
    /// the request with the error's code (`rate_limited` → 429, `invalid_input` → 400,
    /// `circuit_open` / `closed` → 503, others → 500).
    fn ingest(&self, events: Vec<Event>) -> Result<usize>;

    /// Flushes what the sink buffers; called once at server shutdown.
    fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// Takes the events of one ordered input partition (a Kafka topic-partition, named
    /// `{topic}/{partition}`), each with its position (offset); `next` is the position after the
    /// batch. Returns the position up to which everything this partition delivered is *settled* — its
    /// effect published — which is how far the source may commit (`None`: not further than before).
    /// The default ingests the events at once and settles everything.
    fn ingest_partition(
        &self,
        partition: &str,
        events: Vec<(i64, Event)>,
        next: i64,
    ) -> Result<Option<i64>> {
        let _ = partition;
        self.ingest(events.into_iter().map(|(_, e)| e).collect())?;
        Ok(Some(next))
    }

    /// `partition` was assigned to this consumer (a rebalance).
    fn assign_partition(&self, partition: &str) {
        let _ = partition;
    }

    /// `partition` was revoked from this consumer: its next owner replays it from the committed
    /// position, so whatever this target holds of it that is not settled must be forgotten.
    fn revoke_partition(&self, partition: &str) {
        let _ = partition;
    }
}

/// The default sink: publishes each event into the hub on its dashboard as
/// [`Event::published_data`] (`{metric: value}`, or `{"metric{k=v}": {value, timestamp, metadata}}`
/// with tags or metadata), with [`Hub::publish_with_id`] when the event has an id (a duplicate is not
/// counted as accepted).
#[derive(Debug, Clone)]
pub struct HubIngest {
    hub: Hub,
}

impl HubIngest {
    /// A sink publishing into `hub`.
    pub fn new(hub: Hub) -> Self {
        HubIngest { hub }
    }
}

impl HubIngest {
    /// [`ingest`](Ingest::ingest) for the server's request handler: on a clustered hub the batch
    /// awaits its round trip to Redis without blocking a runtime thread. Makes no processing-time
    /// observation (the handler does, for the whole request).
    pub(crate) async fn ingest_async(&self, events: Vec<Event>) -> Result<usize> {
        let seqs = self.hub.publish_many_async(outgoing(events)).await?;
        Ok(seqs.iter().filter(|s| s.is_some()).count())
    }
}

/// Each event as its publication.
fn outgoing(events: Vec<Event>) -> Vec<Outgoing> {
    events
        .into_iter()
        .map(|ev| {
            let data = ev.published_data();
            Outgoing::new(ev.dashboard.as_str(), ev.id, data)
        })
        .collect()
}

impl Ingest for HubIngest {
    /// Publishes the events as one admitted batch ([`Hub::publish_many`]): a full sink refuses all of
    /// them, so a source retrying the batch publishes nothing twice; a clustered hub numbers the whole
    /// batch in one round trip; subscribers are woken once per batch.
    fn ingest(&self, events: Vec<Event>) -> Result<usize> {
        let seqs = self.hub.publish_many(outgoing(events))?;
        Ok(seqs.iter().filter(|s| s.is_some()).count())
    }
}

/// The body format named by a `Content-Type`: MessagePack for `application/msgpack`,
/// `application/x-msgpack` and `application/vnd.msgpack`, JSON otherwise.
pub(crate) fn body_format(content_type: Option<&str>) -> Format {
    let ct = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    match ct.as_deref() {
        Some("application/msgpack" | "application/x-msgpack" | "application/vnd.msgpack") => {
            Format::MsgPack
        }
        _ => Format::Json,
    }
}

/// Decodes and validates a body of at most `max_bytes` (also after gzip), in any event shape of
/// [`crate::event::parse_events`].
pub(crate) fn parse_events(body: &[u8], format: Format, max_bytes: usize) -> Result<Vec<Event>> {
    crate::event::parse_events(body, format, max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HubConfig;

    #[test]
    fn parses_single_and_batch_and_refuses_bad_events() {
        let one = parse_events(
            br#"{"dashboard":"ops","metric":"cpu","value":0.5,"ts":1000,"id":"e1","tags":{"host":"a"}}"#,
            Format::Json,
            1 << 16,
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].ts_ms, 1000);
        assert_eq!(one[0].id.as_deref(), Some("e1"));
        assert_eq!(one[0].tags, vec![("host".into(), "a".into())]);
        let many = parse_events(
            br#"[{"dashboard":"a","metric":"m","value":1},{"dashboard":"b","metric":"m","value":2}]"#,
            Format::Json,
            1 << 16,
        )
        .unwrap();
        assert_eq!(many.len(), 2);
        for bad in [
            &br#"{"dashboard":"a","metric":"m"}"#[..],
            br#"{"dashboard":"a","metric":"m","value":"x"}"#,
            br#"{"dashboard":"","metric":"m","value":1}"#,
            br#"[{"dashboard":"a","metric":"m","value":1},3]"#,
            br#"{"dashboard":"a","metric":"m","value":1,"ts":"now"}"#,
            br#"{"dashboard":"a","metric":"m","value":1,"tags":{"k":1}}"#,
            br#"42"#,
        ] {
            let err = parse_events(bad, Format::Json, 1 << 16).unwrap_err();
            assert_eq!(
                err.code(),
                "invalid_input",
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_events(b"{oops", Format::Json, 1 << 16)
                .unwrap_err()
                .code(),
            "decode_error"
        );
        assert_eq!(
            body_format(Some("application/msgpack; q=1")),
            Format::MsgPack
        );
        assert_eq!(body_format(Some("application/json")), Format::Json);
    }

    #[test]
    fn hub_sink_publishes_and_dedupes() {
        let hub = Hub::new(HubConfig::default()).unwrap();
        let sink = HubIngest::new(hub.clone());
        let ev = |id: &str| {
            Event::new("ops", "cpu", 0.5, Some(0))
                .unwrap()
                .with_id(id)
                .unwrap()
        };
        assert_eq!(sink.ingest(vec![ev("a"), ev("a"), ev("b")]).unwrap(), 2);
        assert_eq!(hub.topic_stats("ops").unwrap().seq, 2);
    }
}
