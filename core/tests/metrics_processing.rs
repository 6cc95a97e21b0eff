//! `dashboard_processing_seconds` counts every publish call of a watched hub, whoever makes it (the
//! bindings' `publish`, window results as the demo publishes them, HTTP ingest, a source batch), and a
//! step that publishes several times (an ingest batch through the aggregator) once.

use dashfeed::hub::{Hub, HubConfig, Outgoing};
use dashfeed::metrics::Metrics;
use dashfeed::pipeline::AggregatorIngest;
use dashfeed::server::{HubIngest, Ingest};
use dashfeed::window::{Aggregator, AggregatorConfig, WindowSpec};
use dashfeed::{Event, Value};
use parking_lot::Mutex;
use std::sync::Arc;

fn data(v: f64) -> Value {
    Value::Map(vec![("cpu".into(), v.into())])
}

/// The `dashboard_processing_seconds_count` line of the exposition.
fn exposed_count(m: &Metrics) -> u64 {
    let text = m.encode(false).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("dashboard_processing_seconds_count "))
        .unwrap_or_else(|| panic!("no processing count in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn every_publish_call_is_observed_once() {
    let hub = Hub::new(HubConfig::default()).unwrap();
    let m = Metrics::new();
    m.watch_hub(&hub);
    assert_eq!(exposed_count(&m), 0);

    // What Python / Node `publish` call.
    hub.publish("ops", data(0.1)).unwrap();
    hub.publish_with_id("ops", "a", data(0.2)).unwrap();
    hub.publish_with_id("ops", "a", data(0.2)).unwrap(); // a duplicate: processed all the same
    assert_eq!(m.processing().count, 3);

    // One batch is one observation.
    let items = (0..5).map(|i| Outgoing::new("ops", None, data(f64::from(i))));
    hub.publish_many(items.collect()).unwrap();
    assert_eq!(m.processing().count, 4);

    // Window results, as the demo publishes them; nothing to publish is no observation.
    let mut agg = Aggregator::new(AggregatorConfig::new(WindowSpec::tumbling(1000))).unwrap();
    for ts in [10, 20, 1500, 2500] {
        agg.add(&Event::new("host", "cpu", 0.5, Some(ts)).unwrap())
            .unwrap();
    }
    let closed = agg.poll();
    assert!(!closed.is_empty());
    hub.publish_results(&closed).unwrap();
    hub.publish_results_as(&closed, "@10s").unwrap();
    hub.publish_results(&[]).unwrap();
    assert_eq!(m.processing().count, 6);

    // HTTP ingest / a source without windows: one publish_many per batch.
    let events = || {
        (0..3)
            .map(|i| Event::new("ops", "mem", f64::from(i), None).unwrap())
            .collect::<Vec<_>>()
    };
    HubIngest::new(hub.clone()).ingest(events()).unwrap();
    assert_eq!(m.processing().count, 7);

    // Through the aggregator step: the batch (added, windows published) is one observation.
    let aggregator = Aggregator::new(AggregatorConfig::new(WindowSpec::tumbling(1))).unwrap();
    let step = AggregatorIngest::new(Arc::new(Mutex::new(aggregator)), None, Some(hub.clone()));
    let before = hub.stats().publications;
    let spread = (0..4).map(|i| Event::new("ops", "rps", 1.0, Some(100 * i)).unwrap());
    step.ingest(spread.collect()).unwrap();
    assert!(
        hub.stats().publications > before + 1,
        "several windows closed"
    );
    assert_eq!(m.processing().count, 8);

    // A failed publish is not a processing time.
    assert!(hub.publish("", data(1.0)).is_err());
    let stats = hub.processing_stats();
    assert_eq!(stats.count, 8);
    assert_eq!(stats.buckets.iter().map(|(_, n)| n).sum::<u64>(), 8);
    assert!(stats.sum_seconds > 0.0);

    // The exposition adds what was observed directly; a hub watched twice counts once.
    m.watch_hub(&hub.clone());
    m.observe_processing(std::time::Duration::from_millis(1));
    assert_eq!(exposed_count(&m), 9);
    let text = m.encode(true).unwrap();
    assert!(text.contains("dashboard_processing_seconds_bucket{le=\"+Inf\"} 9"));
    assert!(text.contains("# TYPE dashboard_processing_seconds histogram"));
}
