//! Prometheus metrics (the `prometheus-client` crate): one [`Metrics`] registry that the server, the
//! pipeline and the connectors share, its exposition ([`Metrics::encode`]), and the link health
//! registry ([`HealthCheck`]) that `/healthz` and the `dashfeed_link_up` gauge read.
//!
//! Series (the reference notes' three first):
//! - `dashboard_messages_processed_total{dashboard_id}`: publications of every watched [`Hub`] per
//!   dashboard, read from the hub at scrape time — whoever published them (HTTP ingest, Python or Node
//!   `publish` / `publish_results`, a source);
//! - `dashboard_processing_seconds`: histogram of ingest / publish processing time: every publish
//!   call of a watched [`Hub`] (or the HTTP ingest request / source batch it is part of), timed by
//!   the hub itself and read at scrape time, plus what [`Metrics::observe_processing`] adds;
//! - `dashboard_active_connections{dashboard_id}`: subscribed connections (WebSocket and SSE) per
//!   dashboard;
//! - `dashfeed_connections{transport}`: open WebSocket / SSE streams;
//! - `dashfeed_frames_sent_total{transport}`: WebSocket messages and SSE events written to clients (a
//!   batch frame counts once);
//! - `dashfeed_socket_writes_total`: write calls on accepted sockets (the coalescing proof);
//! - `dashfeed_rejections_total{reason}`: refused requests, messages and closed connections by reason;
//! - scraped on demand from registered objects: `dashfeed_hub_*` (publications, deliveries, drops by
//!   policy, dedupe, subscribers, encodes) of every watched [`Hub`], `dashfeed_breaker_state{name,state}`
//!   and `dashfeed_breaker_*_total{name}` of every registered [`CircuitBreaker`], and
//!   `dashfeed_link_up{name}` of every [`HealthCheck`].
//!
//! Hot-path handles (frames, socket writes) are plain atomics obtained once; labelled lookups happen
//! only on rare events (subscribe, rejection) or once per dashboard per ingest request.

use crate::breaker::{CircuitBreaker, State};
use crate::connect::Link;
use crate::error::{Error, Result};
use crate::hub::{Hub, Processing, ProcessingStats};
use parking_lot::RwLock;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// `Content-Type` of [`Metrics::encode`] with `openmetrics = false` (Prometheus text 0.0.4).
pub const PROMETHEUS_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// `Content-Type` of [`Metrics::encode`] with `openmetrics = true`.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Reasons counted in `dashfeed_rejections_total` (created at zero so that every series is visible).
pub const REJECTION_REASONS: &[&str] = &[
    "unauthorized",
    "forbidden",
    "origin",
    "too_many_connections",
    "rate_limited",
    "too_big",
    "bad_request",
    "invalid_message",
    "protocol_error",
    "invalid_payload",
    "slow_consumer",
    "idle_timeout",
    "token_expired",
];

/// A link (broker connection, cache, ...) whose health `/healthz` reports. Connectors implement it;
/// [`HealthFlag`] is a ready-made one that its owner flips.
pub trait HealthCheck: Send + Sync {
    /// A short stable name, for example `"redis"` or `"kafka:dashboard-updates"`.
    fn name(&self) -> &str;
    /// `Ok(())` while the link is up; an error saying why it is down otherwise.
    fn check(&self) -> Result<()>;
}

/// A [`HealthCheck`] backed by a flag: up until [`set_down`](HealthFlag::set_down).
#[derive(Debug)]
pub struct HealthFlag {
    name: String,
    down: RwLock<Option<String>>,
}

impl HealthFlag {
    /// A flag named `name`, initially up.
    pub fn new(name: impl Into<String>) -> Self {
        HealthFlag {
            name: name.into(),
            down: RwLock::new(None),
        }
    }

    /// Marks the link up.
    pub fn set_up(&self) {
        *self.down.write() = None;
    }

    /// Marks the link down, with the reason `/healthz` shows.
    pub fn set_down(&self, reason: impl Into<String>) {
        *self.down.write() = Some(reason.into());
    }
}

impl HealthCheck for HealthFlag {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> Result<()> {
        match &*self.down.read() {
            None => Ok(()),
            Some(reason) => Err(Error::Io(reason.clone())),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DashboardLabels {
    dashboard_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabels {
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// What the scrape-time collector reads.
#[derive(Default)]
struct Watched {
    hubs: RwLock<Vec<Hub>>,
    breakers: RwLock<Vec<(String, Arc<CircuitBreaker>)>>,
    health: RwLock<Vec<Arc<dyn HealthCheck>>>,
    links: RwLock<Vec<Arc<Link>>>,
    /// Processing times observed through [`Metrics::observe_processing`] (the hubs keep their own).
    processing: Processing,
}

impl Watched {
    fn processing_stats(&self) -> ProcessingStats {
        let mut out = self.processing.stats();
        for hub in self.hubs.read().iter() {
            hub.add_processing(&mut out);
        }
        out
    }
}

impl fmt::Debug for Watched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watched")
            .field("hubs", &self.hubs.read().len())
            .field("breakers", &self.breakers.read().len())
            .field("health", &self.health.read().len())
            .field("links", &self.links.read().len())
            .finish()
    }
}

/// The metrics of one process (or one server): share it in an `Arc`.
pub struct Metrics {
    registry: Registry,
    watched: Arc<Watched>,
    active: Family<DashboardLabels, Gauge>,
    rejections: Family<ReasonLabels, Counter>,
    ws_connections: Gauge,
    sse_connections: Gauge,
    ws_frames: Counter,
    sse_frames: Counter,
    socket_writes: Counter,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("watched", &self.watched)
            .field("socket_writes", &self.socket_writes.get())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every series registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let active = Family::<DashboardLabels, Gauge>::default();
        registry.register(
            "dashboard_active_connections",
            "Connections subscribed to each dashboard",
            active.clone(),
        );
        let connections = Family::<TransportLabels, Gauge>::default();
        registry.register(
            "dashfeed_connections",
            "Open streaming connections by transport",
            connections.clone(),
        );
        let frames = Family::<TransportLabels, Counter>::default();
        registry.register(
            "dashfeed_frames_sent",
            "Messages (WebSocket frames, SSE events) written to clients by transport; a batch frame counts once",
            frames.clone(),
        );
        let rejections = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "dashfeed_rejections",
            "Refused requests, messages and connections by reason",
            rejections.clone(),
        );
        let socket_writes = Counter::default();
        registry.register(
            "dashfeed_socket_writes",
            "Write calls on accepted sockets",
            socket_writes.clone(),
        );
        for reason in REJECTION_REASONS {
            rejections.get_or_create_owned(&ReasonLabels { reason });
        }
        let watched = Arc::new(Watched::default());
        registry.register_collector(Box::new(WatchedCollector(watched.clone())));
        let transport = |t| TransportLabels { transport: t };
        Metrics {
            ws_connections: connections.get_or_create_owned(&transport("ws")),
            sse_connections: connections.get_or_create_owned(&transport("sse")),
            ws_frames: frames.get_or_create_owned(&transport("ws")),
            sse_frames: frames.get_or_create_owned(&transport("sse")),
            registry,
            watched,
            active,
            rejections,
            socket_writes,
        }
    }

    /// The exposition: Prometheus text 0.0.4 ([`PROMETHEUS_CONTENT_TYPE`]), or OpenMetrics text
    /// ([`OPENMETRICS_CONTENT_TYPE`]) when `openmetrics`.
    pub fn encode(&self, openmetrics: bool) -> Result<String> {
        let mut out = String::with_capacity(4096);
        let done = if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        };
        done.map_err(|_| Error::Internal("metrics exposition failed".into()))?;
        Ok(out)
    }

    /// Observes one processing time (a batch or a single message) made outside a watched hub; the
    /// publish calls of watched hubs are observed by the hubs themselves ([`Hub::timed`]).
    pub fn observe_processing(&self, took: Duration) {
        self.watched.processing.observe(took);
    }

    /// `dashboard_processing_seconds` now: the observations of [`observe_processing`](Self::observe_processing)
    /// and of every watched hub.
    pub fn processing(&self) -> ProcessingStats {
        self.watched.processing_stats()
    }

    /// Publications of `dashboard` in the watched hubs (`dashboard_messages_processed_total`).
    pub fn processed(&self, dashboard: &str) -> u64 {
        self.watched
            .hubs
            .read()
            .iter()
            .filter_map(|h| h.topic_stats(dashboard))
            .map(|t| t.seq)
            .sum()
    }

    /// One more (`delta = 1`) or one fewer (`-1`) connection subscribed to `dashboard`.
    pub fn add_active(&self, dashboard: &str, delta: i64) {
        self.active
            .get_or_create(&DashboardLabels {
                dashboard_id: dashboard.to_owned(),
            })
            .inc_by(delta);
    }

    /// Connections currently subscribed to `dashboard`.
    pub fn active(&self, dashboard: &str) -> i64 {
        self.active
            .get(&DashboardLabels {
                dashboard_id: dashboard.to_owned(),
            })
            .map_or(0, |g| g.get())
    }

    /// Counts one rejection; `reason` should be one of [`REJECTION_REASONS`].
    pub fn reject(&self, reason: &'static str) {
        self.rejections
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Rejections counted for `reason`.
    pub fn rejections(&self, reason: &'static str) -> u64 {
        self.rejections
            .get(&ReasonLabels { reason })
            .map_or(0, |c| c.get())
    }

    /// The open WebSocket connections gauge.
    pub fn ws_connections(&self) -> &Gauge {
        &self.ws_connections
    }

    /// The open SSE streams gauge.
    pub fn sse_connections(&self) -> &Gauge {
        &self.sse_connections
    }

    /// Messages written to WebSocket clients.
    pub fn ws_frames(&self) -> &Counter {
        &self.ws_frames
    }

    /// Events written to SSE clients.
    pub fn sse_frames(&self) -> &Counter {
        &self.sse_frames
    }

    /// Write calls on accepted sockets.
    pub fn socket_writes(&self) -> &Counter {
        &self.socket_writes
    }

    /// Exports `hub`'s counters (`dashfeed_hub_*`, and its publications per dashboard as
    /// `dashboard_messages_processed_total`) at every scrape. Watching the same hub twice counts it once.
    pub fn watch_hub(&self, hub: &Hub) {
        let mut hubs = self.watched.hubs.write();
        if !hubs.iter().any(|h| h.same_as(hub)) {
            hubs.push(hub.clone());
        }
    }

    /// Exports `breaker`'s state (`dashfeed_breaker_state{name,state}`, 1 for the current state) and
    /// counters at every scrape.
    pub fn register_breaker(&self, name: impl Into<String>, breaker: Arc<CircuitBreaker>) {
        self.watched.breakers.write().push((name.into(), breaker));
    }

    /// Adds a link to `/healthz` and to `dashfeed_link_up{name}`.
    pub fn register_health(&self, check: Arc<dyn HealthCheck>) {
        self.watched.health.write().push(check);
    }

    /// Adds a connector's link: `/healthz` reports it, `dashfeed_link_up{name}`, its breaker
    /// (`dashfeed_breaker_*{name}`) and its counters (`dashfeed_connector_*{name}`,
    /// `dashfeed_source_rejected_total{source,code}`) are exported at every scrape.
    pub fn register_link(&self, link: Arc<Link>) {
        self.register_health(link.clone());
        self.register_breaker(link.name().to_owned(), link.breaker().clone());
        self.watched.links.write().push(link);
    }

    /// Every registered link with its current check result.
    pub fn health(&self) -> Vec<(String, Result<()>)> {
        self.watched
            .health
            .read()
            .iter()
            .map(|c| (c.name().to_owned(), c.check()))
            .collect()
    }
}

/// Reads the watched hubs, breakers and links at scrape time.
#[derive(Debug)]
struct WatchedCollector(Arc<Watched>);

type Fmt = std::result::Result<(), fmt::Error>;

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Fmt {
    let m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(m)
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Fmt {
    let m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(m)
}

impl WatchedCollector {
    fn processing(&self, enc: &mut DescriptorEncoder) -> Fmt {
        let p = self.0.processing_stats();
        let mut m = enc.encode_descriptor(
            "dashboard_processing_seconds",
            "Ingest / publish processing time in seconds",
            None,
            MetricType::Histogram,
        )?;
        m.encode_histogram::<NoLabelSet>(p.sum_seconds, p.count, &p.buckets, None)
    }

    fn hubs(&self, enc: &mut DescriptorEncoder) -> Fmt {
        let hubs = self.0.hubs.read();
        if hubs.is_empty() {
            return Ok(());
        }
        let stats: Vec<_> = hubs.iter().map(Hub::stats).collect();
        let sum = |f: fn(&crate::hub::HubStats) -> u64| stats.iter().map(f).sum::<u64>();
        // Per dashboard: a topic's seq counts its publications (deduplicated ones excluded).
        let mut per_dashboard: Vec<(&str, u64)> = Vec::new();
        for t in stats.iter().flat_map(|s| &s.topics) {
            match per_dashboard.iter_mut().find(|(d, _)| *d == t.dashboard) {
                Some((_, n)) => *n += t.seq,
                None => per_dashboard.push((&t.dashboard, t.seq)),
            }
        }
        let mut m = enc.encode_descriptor(
            "dashboard_messages_processed",
            "Messages published per dashboard (ingest, bindings, sources)",
            None,
            MetricType::Counter,
        )?;
        for (dashboard, n) in per_dashboard {
            let labels = [("dashboard_id", dashboard)];
            ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
        }
        counter(
            enc,
            "dashfeed_hub_publications",
            "Publications accepted by the hub",
            sum(|s| s.publications),
        )?;
        counter(
            enc,
            "dashfeed_hub_deliveries",
            "Messages handed to subscriber queues",
            sum(|s| s.deliveries),
        )?;
        counter(
            enc,
            "dashfeed_hub_encodes",
            "Wire encodes (at most one per message and format)",
            sum(|s| s.encodes),
        )?;
        let mut m = enc.encode_descriptor(
            "dashfeed_hub_dropped",
            "Messages dropped or merged by slow-consumer policy, and duplicates dropped by dedupe",
            None,
            MetricType::Counter,
        )?;
        let drops: [(&str, u64); 4] = [
            ("drop_oldest", sum(|s| s.dropped_oldest)),
            ("conflate", sum(|s| s.conflated)),
            ("disconnect", sum(|s| s.disconnected)),
            ("dedupe", sum(|s| s.dedupe_dropped)),
        ];
        for (policy, value) in drops {
            let labels = [("policy", policy)];
            ConstCounter::new(value).encode(m.encode_family(&labels)?)?;
        }
        let subscribers: usize = stats.iter().map(|s| s.subscribers).sum();
        gauge(
            enc,
            "dashfeed_hub_subscribers",
            "Open hub subscriptions",
            i64::try_from(subscribers).unwrap_or(i64::MAX),
        )
    }

    fn breakers(&self, enc: &mut DescriptorEncoder) -> Fmt {
        let breakers = self.0.breakers.read();
        if breakers.is_empty() {
            return Ok(());
        }
        let mut m = enc.encode_descriptor(
            "dashfeed_breaker_state",
            "Circuit breaker state (1 for the current one)",
            None,
            MetricType::Gauge,
        )?;
        for (name, b) in breakers.iter() {
            let now = b.state();
            for s in [State::Closed, State::Open, State::HalfOpen] {
                let labels = [("name", name.as_str()), ("state", s.name())];
                ConstGauge::new(i64::from(s == now)).encode(m.encode_family(&labels)?)?;
            }
        }
        type Pick = fn(&crate::breaker::BreakerCounters) -> u64;
        let series: [(&str, &str, Pick); 3] = [
            ("dashfeed_breaker_calls", "Calls let through", |c| c.calls),
            ("dashfeed_breaker_failures", "Calls that failed", |c| {
                c.failures
            }),
            ("dashfeed_breaker_rejections", "Calls rejected", |c| {
                c.rejections
            }),
        ];
        for (name, help, pick) in series {
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (bname, b) in breakers.iter() {
                let labels = [("name", bname.as_str())];
                ConstCounter::new(pick(&b.counters())).encode(m.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }

    fn links(&self, enc: &mut DescriptorEncoder) -> Fmt {
        let health = self.0.health.read();
        if health.is_empty() {
            return Ok(());
        }
        let mut m = enc.encode_descriptor(
            "dashfeed_link_up",
            "1 while a link (broker, cache) is up",
            None,
            MetricType::Gauge,
        )?;
        for c in health.iter() {
            let labels = [("name", c.name())];
            ConstGauge::new(i64::from(c.check().is_ok())).encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

impl Collector for WatchedCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Fmt {
        self.processing(&mut enc)?;
        self.hubs(&mut enc)?;
        self.breakers(&mut enc)?;
        self.links(&mut enc)?;
        crate::connect::exposition::encode(&mut enc, &self.0.links.read())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::BreakerConfig;
    use crate::hub::HubConfig;
    use crate::Value;

    #[test]
    fn exposes_every_series_in_both_formats() {
        let m = Metrics::new();
        m.observe_processing(Duration::from_millis(2));
        m.add_active("ops", 1);
        m.reject("origin");
        m.socket_writes().inc();
        let hub = Hub::new(HubConfig::default()).unwrap();
        for _ in 0..3 {
            hub.publish("ops", Value::Map(vec![("cpu".into(), 0.5.into())]))
                .unwrap();
        }
        m.watch_hub(&hub);
        m.watch_hub(&hub.clone());
        let b = Arc::new(CircuitBreaker::new(BreakerConfig::default()).unwrap());
        m.register_breaker("redis", b);
        let link = Arc::new(HealthFlag::new("kafka"));
        m.register_health(link.clone());
        link.set_down("broker unreachable");

        let text = m.encode(false).unwrap();
        for needle in [
            "dashboard_messages_processed_total{dashboard_id=\"ops\"} 3",
            // The observation above and the hub's three publish calls.
            "dashboard_processing_seconds_count 4",
            "dashboard_active_connections{dashboard_id=\"ops\"} 1",
            "dashfeed_rejections_total{reason=\"origin\"} 1",
            "dashfeed_rejections_total{reason=\"forbidden\"} 0",
            "dashfeed_socket_writes_total 1",
            "dashfeed_hub_publications_total 3",
            "dashfeed_hub_dropped_total{policy=\"conflate\"} 0",
            "dashfeed_breaker_state{name=\"redis\",state=\"closed\"} 1",
            "dashfeed_breaker_state{name=\"redis\",state=\"open\"} 0",
            "dashfeed_link_up{name=\"kafka\"} 0",
            "dashfeed_connections{transport=\"ws\"} 0",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        let om = m.encode(true).unwrap();
        assert!(om.ends_with("# EOF\n"));
        assert!(om.contains("dashboard_messages_processed_total{dashboard_id=\"ops\"} 3"));
        assert_eq!(m.health()[0].1.as_ref().unwrap_err().code(), "io_error");
        link.set_up();
        assert!(m.health()[0].1.is_ok());
    }
}
