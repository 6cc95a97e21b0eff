//! Publishing window results into the hub: the pipeline step between the aggregator and subscribers
//! (the hub knows nothing of windows, the aggregator nothing of the hub).
//!
//! Results are grouped by dashboard and window end (in the order they come); each group becomes one
//! publication whose data maps a series name (the metric, with its tags as `metric{k=v,...}`) to the
//! result's map (`count`, `mean`, `quantiles`, ...; see [`WindowResult::to_value`]).

use crate::codec::Value;
use crate::error::Result;
use crate::event::Key;
use crate::hub::{Hub, Outgoing};
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
        self.publish_items(group(results, suffix, false))
    }

    /// For the results of time windows (tumbling, hopping): like
    /// [`publish_results_as`](Hub::publish_results_as), each group of final results with an idempotency id naming its window —
    /// `w:{start_ms}-{end_ms}:{hash of its series names}` — so that the same window published again
    /// (by the node that took over a Kafka partition and replayed it) is dropped as a duplicate within
    /// the dedupe horizon. Partial results (`updates`) and session / count windows have no id. Returns
    /// the seqs of the groups published (duplicates left out).
    pub fn publish_windows(&self, results: &[WindowResult], suffix: &str) -> Result<Vec<u64>> {
        self.publish_windows_each(std::slice::from_ref(&results.to_vec()), suffix)
    }

    /// [`publish_windows`](Hub::publish_windows) of several result lists in one call, each grouped on
    /// its own (the results of one input partition: their groups, and so their ids, do not depend on
    /// what other partitions closed at the same time).
    pub fn publish_windows_each(
        &self,
        lists: &[Vec<WindowResult>],
        suffix: &str,
    ) -> Result<Vec<u64>> {
        self.publish_grouped(lists, suffix, true)
    }

    /// Each list grouped on its own and published in one call; with `ids`, window ids on the groups
    /// of final results (the caller knows the windows are time windows: only those are named by
    /// their start and end).
    pub(crate) fn publish_grouped(
        &self,
        lists: &[Vec<WindowResult>],
        suffix: &str,
        ids: bool,
    ) -> Result<Vec<u64>> {
        let items: Vec<Outgoing> = lists
            .iter()
            .flat_map(|list| group(list, suffix, ids))
            .collect();
        self.publish_items(items)
    }

    /// Publishes grouped results as one admitted, timed call (nothing, and no observation, when
    /// there are none).
    fn publish_items(&self, items: Vec<Outgoing>) -> Result<Vec<u64>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        self.timed(|| {
            self.taps_ready()?;
            let seqs = self.publish_checked(items)?;
            Ok(seqs.into_iter().flatten().collect())
        })
    }
}

/// One publication per (dashboard, window end) group, in the order the results come; with `ids`, a
/// window id on each group whose results are all final.
fn group(results: &[WindowResult], suffix: &str, ids: bool) -> Vec<Outgoing> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut partial: Vec<bool> = Vec::new();
    let mut starts: Vec<i64> = Vec::new();
    for r in results {
        let at = (r.key.dashboard.as_str(), r.end_ms);
        let idx = match groups.iter().position(|(k, _)| *k == at) {
            Some(i) => i,
            None => {
                groups.push((at, Vec::new()));
                partial.push(false);
                starts.push(r.start_ms);
                groups.len() - 1
            }
        };
        partial[idx] |= !r.is_final;
        let name = series_name(&r.key) + suffix;
        let entries = &mut groups[idx].1;
        match entries.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = r.to_value(),
            None => entries.push((name, r.to_value())),
        }
    }
    groups
        .into_iter()
        .zip(partial)
        .zip(starts)
        .map(|((((dashboard, end_ms), entries), partial), start_ms)| {
            let id = (ids && !partial).then(|| window_id(start_ms, end_ms, &entries));
            let data = Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (Value::Str(k), v))
                    .collect(),
            );
            Outgoing::new(dashboard, id, data)
        })
        .collect()
}

/// `w:{start_ms}-{end_ms}:{16 hex digits}`: the window and an FNV-1a hash of the sorted series names.
fn window_id(start_ms: i64, end_ms: i64, entries: &[(String, Value)]) -> String {
    let mut names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for name in names {
        for b in name.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("w:{start_ms}-{end_ms}:{h:016x}")
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
            agg.add_parts("host", metric, v, ts, &[], None).unwrap();
        }
        agg.add_parts("host", "cpu", 2.0, 20, &[("core", "1")], None)
            .unwrap();
        agg.add_parts("api", "p99", 9.0, 50, &[], None).unwrap();
        agg.add_parts("host", "cpu", 7.0, 1500, &[], None).unwrap();
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
