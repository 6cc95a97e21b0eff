//! Aggregation per input partition — the model of Kafka Streams' tasks. Each Kafka partition a node
//! consumes gets its own [`Aggregator`] (its own watermark), so that when a partition moves to
//! another node (a rebalance, a node killed) the new owner replays it from the committed offset into a
//! fresh aggregator and makes exactly the window results the old owner would have made. Offsets are
//! committed only up to the first event whose windows are not all published yet ([`Part::settled`]),
//! so a replay never starts after an event of a window nobody published; a window published twice
//! (by the old owner before it died, and by the new one) carries the same window id and is dropped by
//! the hub's dedupe ([`Hub::publish_windows`](crate::hub::Hub::publish_windows)) — cluster-wide when
//! the hub is clustered.
//!
//! The input topic must be keyed so that the events of one window key (dashboard, metric, tags) share
//! a partition (dashfeed's own producers key by dashboard). Session and count windows have no end
//! that event time alone tells: their events are settled as soon as they are added, so a rebalance
//! loses their open windows (their results carry no window id either); use time windows where every
//! result must survive a node.

use crate::error::Result;
use crate::event::Event;
use crate::window::{Aggregator, AggregatorConfig, WindowResult, WindowSpec};
use std::collections::{HashMap, HashSet, VecDeque};

/// One partition's aggregation.
struct Part {
    agg: Aggregator,
    /// `(offset, end of the last window holding the event)` of events not settled yet, in offset
    /// order.
    pending: VecDeque<(i64, i64)>,
    /// The position after the last message ingested.
    next: i64,
    /// The offset of the last event added.
    last: i64,
}

impl Part {
    /// The position up to which every event's windows are closed (and so published by the caller).
    fn settled(&mut self) -> i64 {
        let wm = self.agg.watermark().unwrap_or(i64::MIN);
        while self.pending.front().is_some_and(|(_, end)| *end <= wm) {
            self.pending.pop_front();
        }
        self.pending.front().map_or(self.next, |(off, _)| *off)
    }
}

/// The partitions a pipeline aggregates.
pub(crate) struct Partitions {
    config: AggregatorConfig,
    parts: HashMap<String, Part>,
    /// Revoked and not assigned again: late batches of them are dropped (their next owner replays).
    revoked: HashSet<String>,
}

impl Partitions {
    pub(crate) fn new(config: AggregatorConfig) -> Self {
        Partitions {
            config,
            parts: HashMap::new(),
            revoked: HashSet::new(),
        }
    }

    /// Adds one partition's events (each with its offset) and returns the results ready, or `None`
    /// when the partition was revoked from this node. Once it started adding it never fails (a retry
    /// of the batch would count its first events twice): an event the aggregator refuses is skipped,
    /// and late events are dropped as they come (a partition's own replay is never late; what is late
    /// is late for every owner alike).
    pub(crate) fn add(
        &mut self,
        partition: &str,
        events: Vec<(i64, Event)>,
        next: i64,
    ) -> Result<Option<Vec<WindowResult>>> {
        if self.revoked.contains(partition) {
            return Ok(None);
        }
        if !self.parts.contains_key(partition) {
            self.parts
                .insert(partition.to_owned(), fresh_part(&self.config)?);
        }
        let config = &self.config;
        let Some(part) = self.parts.get_mut(partition) else {
            return Ok(None);
        };
        for (offset, ev) in &events {
            if *offset <= part.last {
                // The consumer went back (to the committed offset, after a rebalance that gave the
                // partition back, or an offset reset): rebuild its windows from there.
                *part = fresh_part(config)?;
            }
            part.last = part.last.max(*offset);
            if part.agg.add(ev).is_err() {
                continue; // validated when parsed; the output buffers are drained below
            }
            if let Some(end) = last_end(&config.window, ev.ts_ms) {
                part.pending.push_back((*offset, end));
            }
        }
        part.next = part.next.max(next);
        drop(part.agg.take_late());
        Ok(Some(part.agg.poll()))
    }

    /// Whether the windows are time windows (their results are named by start and end).
    pub(crate) fn time_windows(&self) -> bool {
        self.config.window.is_time_based()
    }

    /// How far `partition` may be committed.
    pub(crate) fn settled(&mut self, partition: &str) -> Option<i64> {
        self.parts.get_mut(partition).map(Part::settled)
    }

    /// The results each partition has ready (idle close, partial updates), one list per partition
    /// that has some.
    pub(crate) fn poll_each(&mut self) -> Vec<Vec<WindowResult>> {
        self.parts
            .values_mut()
            .map(|part| part.agg.poll())
            .filter(|r| !r.is_empty())
            .collect()
    }

    /// A partition came (back) to this node.
    pub(crate) fn assign(&mut self, partition: &str) {
        self.revoked.remove(partition);
    }

    /// A partition left this node: its open windows are forgotten (its next owner rebuilds them).
    pub(crate) fn revoke(&mut self, partition: &str) {
        self.parts.remove(partition);
        self.revoked.insert(partition.to_owned());
    }

    /// Partitions aggregated now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.parts.len()
    }
}

/// A partition with no windows yet.
fn fresh_part(config: &AggregatorConfig) -> Result<Part> {
    Ok(Part {
        agg: Aggregator::new(config.clone())?,
        pending: VecDeque::new(),
        next: i64::MIN,
        last: i64::MIN,
    })
}

/// The end of the last window of `spec` that holds an event at `ts_ms` (time windows only).
fn last_end(spec: &WindowSpec, ts_ms: i64) -> Option<i64> {
    let (size, slide) = match spec {
        WindowSpec::Tumbling { size_ms } => (*size_ms, *size_ms),
        WindowSpec::Hopping { size_ms, slide_ms } => (*size_ms, *slide_ms),
        WindowSpec::Session { .. } | WindowSpec::Count { .. } => return None,
    };
    let (size, slide) = (i64::try_from(size).ok()?, i64::try_from(slide).ok()?);
    let start = ts_ms.div_euclid(slide).checked_mul(slide)?;
    start.checked_add(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: i64, v: f64) -> Event {
        Event::new("d", "m", v, Some(ts)).unwrap()
    }

    #[test]
    fn offsets_settle_only_when_their_windows_closed() {
        let mut p = Partitions::new(AggregatorConfig::new(WindowSpec::tumbling(1000)));
        let r = p
            .add("t/0", vec![(10, ev(100, 1.0)), (11, ev(900, 2.0))], 12)
            .unwrap()
            .unwrap();
        assert!(r.is_empty());
        assert_eq!(p.settled("t/0"), Some(10), "window [0,1000) is open");
        let r = p
            .add("t/0", vec![(12, ev(1500, 3.0))], 13)
            .unwrap()
            .unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(p.settled("t/0"), Some(12), "the first window closed");
        assert_eq!(last_end(&WindowSpec::hopping(1000, 250), 1100), Some(2000));
        assert_eq!(last_end(&WindowSpec::tumbling(1000), -1), Some(0));
        // A revoked partition forgets its windows and drops late batches until assigned again.
        p.revoke("t/0");
        assert!(p
            .add("t/0", vec![(13, ev(1600, 1.0))], 14)
            .unwrap()
            .is_none());
        assert_eq!(p.len(), 0);
        p.assign("t/0");
        assert!(p
            .add("t/0", vec![(12, ev(1500, 3.0))], 13)
            .unwrap()
            .is_some());
        assert_eq!(p.settled("t/0"), Some(12));
        // Going back to an earlier offset rebuilds the partition's windows from there (no event
        // counted twice).
        p.add("t/0", vec![(13, ev(1700, 1.0))], 14).unwrap();
        p.add("t/0", vec![(12, ev(1500, 3.0)), (13, ev(1700, 1.0))], 14)
            .unwrap();
        let r = p
            .add("t/0", vec![(14, ev(2100, 0.0))], 15)
            .unwrap()
            .unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].count, 2);
    }
}
