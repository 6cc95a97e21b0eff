//! [`AggregatorIngest`]: the pipeline step between sources and the hub when windows are configured —
//! dedupe by event id, add to the aggregator, publish the windows that closed. It is an
//! [`Ingest`], so HTTP ingest and every source feed it alike.
//!
//! Admission comes first: when a sink behind the hub is full the batch is refused with
//! `slow_consumer` before any event is added, so the source retries it later (not acknowledged) and
//! no window result is ever made that a sink could not take.
//!
//! Events of an ordered partition (Kafka) go to that partition's own aggregator
//! ([`Partitions`](super::partitions)): its results are published with window ids, each partition's
//! results as their own groups (so a window's id is the same whoever replays it). Results that could
//! not be published (a clustered hub whose Redis is down) are kept and published first next time;
//! while that fails, new batches are refused before anything is added (the source retries them), and
//! the source commits only offsets whose windows were published.

use super::partitions::Partitions;
use crate::error::Result;
use crate::event::Event;
use crate::hub::{Dedupe, Hub};
use crate::server::Ingest;
use crate::window::{Aggregator, WindowResult};
use parking_lot::Mutex;
use std::sync::Arc;

/// Events → dedupe → aggregator → (optionally) hub.
pub struct AggregatorIngest {
    aggregator: Arc<Mutex<Aggregator>>,
    dedupe: Option<Mutex<Dedupe>>,
    hub: Option<Hub>,
    /// Per-partition aggregators and their unpublished results (with a hub only: an owner-polled
    /// aggregator takes every event). One lock: a tick's results and a batch's offsets never race.
    partitions: Option<Mutex<Partitioned>>,
}

/// The partitioned state.
struct Partitioned {
    parts: Partitions,
    /// Results not published yet, one entry per partition batch (published in this order). Bounded:
    /// while it is not empty no batch is added, so only the windows already open can join it.
    unpublished: Vec<Vec<WindowResult>>,
}

impl Partitioned {
    /// Publishes what waits; on failure keeps it all.
    fn flush(&mut self, hub: &Hub) -> Result<()> {
        if self.unpublished.is_empty() {
            return Ok(());
        }
        let ids = self.parts.time_windows();
        hub.publish_grouped(&self.unpublished, "", ids)?;
        self.unpublished.clear();
        Ok(())
    }
}

impl std::fmt::Debug for AggregatorIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregatorIngest")
            .field("publishes", &self.hub.is_some())
            .finish_non_exhaustive()
    }
}

impl AggregatorIngest {
    /// Feeds `aggregator`; with `hub`, the results that close are published there at once (without,
    /// they wait for the aggregator's owner to poll them). `dedupe` drops events whose id was seen.
    /// With a hub, each batch (events added, closed windows published) is one observation of the
    /// hub's `dashboard_processing_seconds` ([`Hub::timed`]).
    pub fn new(
        aggregator: Arc<Mutex<Aggregator>>,
        dedupe: Option<Dedupe>,
        hub: Option<Hub>,
    ) -> Self {
        let partitions = hub.as_ref().map(|_| {
            Mutex::new(Partitioned {
                parts: Partitions::new(aggregator.lock().config().clone()),
                unpublished: Vec::new(),
            })
        });
        AggregatorIngest {
            aggregator,
            dedupe: dedupe.map(Mutex::new),
            hub,
            partitions,
        }
    }

    /// Feeds an aggregator that its owner polls (a Python / Node `Aggregator` a source is attached
    /// to), deduplicating event ids over the pipeline's default horizon (100 000 ids, 10 minutes).
    pub fn for_aggregator(aggregator: Arc<Mutex<Aggregator>>) -> Result<Self> {
        let dedupe = Dedupe::new(
            100_000,
            Some(std::time::Duration::from_secs(600)),
            crate::clock::SystemClock::shared(),
        )?;
        Ok(AggregatorIngest::new(aggregator, Some(dedupe), None))
    }

    /// Adds `events` (minus duplicate ids) to the aggregator; returns how many were added and, when
    /// `poll`, the results that closed.
    fn add(&self, events: &[Event], poll: bool) -> Result<(usize, Vec<WindowResult>)> {
        let mut accepted = 0;
        let mut dedupe = self.dedupe.as_ref().map(|d| d.lock());
        let mut agg = self.aggregator.lock();
        for ev in events {
            if let (Some(d), Some(id)) = (dedupe.as_mut(), ev.id.as_deref()) {
                if !d.check_and_insert(id) {
                    continue;
                }
            }
            agg.add(ev)?;
            accepted += 1;
        }
        Ok((accepted, if poll { agg.poll() } else { Vec::new() }))
    }

    /// Publishes the results ready now (idle windows closed by the clock, `updates` partials): the
    /// pipeline's ticker calls it. Nothing is polled while a sink is full.
    pub fn tick(&self) -> Result<usize> {
        let Some(hub) = &self.hub else {
            return Ok(0);
        };
        hub.taps_ready()?;
        let results: Vec<WindowResult> = self.aggregator.lock().poll();
        hub.publish_results(&results)?;
        let mut n = results.len();
        if let Some(parts) = &self.partitions {
            let mut st = parts.lock();
            let ready = st.parts.poll_each();
            n += ready.iter().map(Vec::len).sum::<usize>();
            st.unpublished.extend(ready);
            st.flush(hub)?;
        }
        Ok(n)
    }

    /// Events dropped as duplicates so far.
    pub fn duplicates(&self) -> u64 {
        self.dedupe.as_ref().map_or(0, |d| d.lock().dropped())
    }
}

impl Ingest for AggregatorIngest {
    fn ingest(&self, events: Vec<Event>) -> Result<usize> {
        let Some(hub) = &self.hub else {
            return self.add(&events, false).map(|(accepted, _)| accepted);
        };
        hub.timed(|| {
            hub.taps_ready()?;
            let (accepted, results) = self.add(&events, true)?;
            hub.publish_results(&results)?;
            Ok(accepted)
        })
    }

    fn ingest_partition(
        &self,
        partition: &str,
        events: Vec<(i64, Event)>,
        next: i64,
    ) -> Result<Option<i64>> {
        let (Some(hub), Some(parts)) = (&self.hub, &self.partitions) else {
            self.ingest(events.into_iter().map(|(_, e)| e).collect())?;
            return Ok(Some(next));
        };
        hub.timed(|| {
            let mut st = parts.lock();
            // Refused before anything is added — the source retries the same batch: while results
            // of earlier batches cannot be published, and when a sink is full.
            st.flush(hub)?;
            hub.taps_ready()?;
            let Some(results) = st.parts.add(partition, events, next)? else {
                return Ok(None); // revoked: the next owner replays it
            };
            // Added: from here the batch is never refused (a retry would add it twice). Results
            // that cannot be published now wait, and hold every partition's commits back until
            // they are.
            if !results.is_empty() {
                st.unpublished.push(results);
            }
            let published = st.flush(hub).is_ok();
            Ok(match published {
                true => st.parts.settled(partition),
                false => None,
            })
        })
    }

    fn assign_partition(&self, partition: &str) {
        if let Some(p) = &self.partitions {
            p.lock().parts.assign(partition);
        }
    }

    fn revoke_partition(&self, partition: &str) {
        if let Some(p) = &self.partitions {
            p.lock().parts.revoke(partition);
        }
    }
}
