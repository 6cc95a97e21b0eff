//! The connectors' Prometheus series, written at scrape time from every registered [`Link`]:
//! `dashfeed_connector_{messages,events,retries,dead_lettered,full}_total{name}`,
//! `dashfeed_connector_queued{name}`, `dashfeed_connector_queued_bytes{name}`,
//! `dashfeed_connector_lag{name}` (when the broker reports it) and
//! `dashfeed_source_rejected_total{source,code}`.

use super::link::{Link, LinkStats};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::fmt;
use std::sync::Arc;

type Fmt = Result<(), fmt::Error>;
type Pick = fn(&LinkStats) -> u64;

/// Writes the connector series of `links`.
pub(crate) fn encode(enc: &mut DescriptorEncoder, links: &[Arc<Link>]) -> Fmt {
    if links.is_empty() {
        return Ok(());
    }
    let stats: Vec<LinkStats> = links.iter().map(|l| l.stats()).collect();
    let counters: [(&str, &str, Pick); 5] = [
        (
            "dashfeed_connector_messages",
            "Messages read from (sources) or written to (sinks) the broker",
            |s| s.messages,
        ),
        (
            "dashfeed_connector_events",
            "Events handed to the pipeline (sources) or records queued (sinks)",
            |s| s.events,
        ),
        (
            "dashfeed_connector_retries",
            "Reconnections and retried batches",
            |s| s.retries,
        ),
        (
            "dashfeed_connector_dead_lettered",
            "Messages copied to the dead-letter stream or topic",
            |s| s.dead_lettered,
        ),
        (
            "dashfeed_connector_full",
            "Records refused because the sink queue was full",
            |s| s.full,
        ),
    ];
    for (name, help, pick) in counters {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for s in &stats {
            let labels = [("name", s.name.as_str())];
            ConstCounter::new(pick(s)).encode(m.encode_family(&labels)?)?;
        }
    }
    let gauges: [(&str, &str, Pick); 2] = [
        (
            "dashfeed_connector_queued",
            "Records waiting in the sink queue",
            |s| s.queued,
        ),
        (
            "dashfeed_connector_queued_bytes",
            "Bytes waiting in the sink queue",
            |s| s.queued_bytes,
        ),
    ];
    for (name, help, pick) in gauges {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for s in &stats {
            let labels = [("name", s.name.as_str())];
            let v = i64::try_from(pick(s)).unwrap_or(i64::MAX);
            ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
        }
    }
    let mut m = enc.encode_descriptor(
        "dashfeed_connector_lag",
        "Messages the broker holds that the source has not read",
        None,
        MetricType::Gauge,
    )?;
    for s in stats.iter().filter(|s| s.lag >= 0) {
        let labels = [("name", s.name.as_str())];
        ConstGauge::new(s.lag).encode(m.encode_family(&labels)?)?;
    }
    let mut m = enc.encode_descriptor(
        "dashfeed_source_rejected",
        "Source messages refused by parsing or validation, by error code",
        None,
        MetricType::Counter,
    )?;
    for s in &stats {
        for (code, n) in &s.rejected {
            let labels = [("source", s.name.as_str()), ("code", *code)];
            ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
        }
    }
    Ok(())
}
