//! Publishing window results into the hub: the one-line bridge from the aggregator to subscribers.
//!
//! Results are grouped by dashboard and window end (in the order they come); each group becomes one
//! publication whose data maps a series name (the metric, with its tags as `metric{k=v,...}`) to the
//! result's map (`count`, `mean`, `quantiles`, ...; see [`WindowResult::to_value`]).

use super::Hub;
use crate::codec::Value;
use crate::error::Result;
use crate::event::Key;
use crate::window::WindowResult;

/// The name a result's series has in a publication: `metric`, or `metric{k=v,k2=v2}` with tags.
pub fn series_name(key: &Key) -> String {
    key.series_name()
}

/// Results of one dashboard and window end: the series name and its result map, in order.
type Group<'a> = ((&'a str, i64), Vec<(String, Value)>);

impl Hub {
    /// Publishes window results: one publication per (dashboard, window end) group, in the order the
    /// results come. Returns the seqs assigned. Within a group a series appears once (a later result for
    /// the same series replaces an earlier one, e.g. a partial followed by the final result).
    pub fn publish_results(&self, results: &[WindowResult]) -> Result<Vec<u64>> {
        self.publish_results_as(results, "")
    }

    /// [`publish_results`](Hub::publish_results) with `suffix` appended to every series name, so that
    /// several aggregators can feed one dashboard (the demo publishes its 10 s windows as `cpu@10s`).
    /// The call is admitted as a whole: when a tap (a sink) is full, nothing is published and the
    /// error is `slow_consumer`.
    pub fn publish_results_as(&self, results: &[WindowResult], suffix: &str) -> Result<Vec<u64>> {
        let mut groups: Vec<Group<'_>> = Vec::new();
        for r in results {
            let at = (r.key.dashboard.as_str(), r.end_ms);
            let idx = match groups.iter().position(|(k, _)| *k == at) {
                Some(i) => i,
                None => {
                    groups.push((at, Vec::new()));
                    groups.len() - 1
                }
            };
            let name = series_name(&r.key) + suffix;
            let entries = &mut groups[idx].1;
            match entries.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = r.to_value(),
                None => entries.push((name, r.to_value())),
            }
        }
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        self.taps_ready()?;
        let mut seqs = Vec::with_capacity(groups.len());
        super::batch(|| {
            for ((dashboard, _), entries) in groups {
                let data = Value::Map(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Value::Str(k), v))
                        .collect(),
                );
                seqs.push(self.publish_admitted(dashboard, data)?);
            }
            Ok(seqs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{HubConfig, SubscribeOptions};
    use crate::window::{Aggregator, AggregatorConfig, WindowSpec};

    #[test]
    fn results_become_one_publication_per_dashboard_and_window() {
        let hub = Hub::new(HubConfig::default()).unwrap();
        let sub = hub.subscribe("host", SubscribeOptions::default()).unwrap();
        let mut agg = Aggregator::new(AggregatorConfig::new(WindowSpec::tumbling(1000))).unwrap();
        for (metric, v, ts) in [("cpu", 1.0, 10), ("cpu", 3.0, 900), ("mem", 5.0, 100)] {
            agg.add_parts("host", metric, v, ts, &[]).unwrap();
        }
        agg.add_parts("host", "cpu", 2.0, 20, &[("core", "1")])
            .unwrap();
        agg.add_parts("api", "p99", 9.0, 50, &[]).unwrap();
        agg.add_parts("host", "cpu", 7.0, 1500, &[]).unwrap();
        agg.advance_to(2000).unwrap();
        let results = agg.poll();
        let seqs = hub.publish_results(&results).unwrap();
        assert_eq!(seqs.len(), 3); // host@1000, api@1000, host@2000
        let _snapshot = sub.try_recv().unwrap().unwrap();
        let first = sub.try_recv().unwrap().unwrap();
        let data = first.data().unwrap();
        assert_eq!(
            data.get("cpu").and_then(|r| r.get("count")),
            Some(&Value::Int(2))
        );
        assert_eq!(
            data.get("cpu").and_then(|r| r.get("mean")),
            Some(&Value::Float(2.0))
        );
        assert!(data.get("cpu{core=1}").is_some());
        assert_eq!(
            data.get("mem").and_then(|r| r.get("sum")),
            Some(&Value::Float(5.0))
        );
        let second = sub.try_recv().unwrap().unwrap();
        assert_eq!(
            second
                .data()
                .unwrap()
                .get("cpu")
                .and_then(|r| r.get("last")),
            Some(&Value::Float(7.0))
        );
        assert!(hub.snapshot("api").unwrap().is_some());
    }
}
