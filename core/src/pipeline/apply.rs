//! [`AggregatorIngest`]: the pipeline step between sources and the hub when windows are configured —
//! dedupe by event id, add to the aggregator, publish the windows that closed. It is an
//! [`Ingest`], so HTTP ingest and every source feed it alike.
//!
//! Admission comes first: when a sink behind the hub is full the batch is refused with
//! `slow_consumer` before any event is added, so the source retries it later (not acknowledged) and
//! no window result is ever made that a sink could not take.
//!
//! Events of an ordered partition (Kafka) go to that partition's own aggregator
//! ([`Partitions`](super::partitions)): its results are published with window ids, a batch whose
//! results could not be published (a clustered hub whose Redis is down) keeps them for the next
//! call, and the source commits only the offsets whose windows were published.

use super::partitions::Partitions;
use crate::error::Result;
use crate::event::Event;
use crate::hub::{Dedupe, Hub};
use crate::metrics::Metrics;
use crate::server::Ingest;
use crate::window::{Aggregator, WindowResult};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Instant;

/// Events → dedupe → aggregator → (optionally) hub.
pub struct AggregatorIngest {
    aggregator: Arc<Mutex<Aggregator>>,
    dedupe: Option<Mutex<Dedupe>>,
    hub: Option<Hub>,
    metrics: Option<Arc<Metrics>>,
    /// Per-partition aggregators (with a hub only: an owner-polled aggregator takes every event).
    partitions: Option<Mutex<Partitions>>,
    /// Partition results whose publication failed, published first next time (bounded by the
    /// aggregator's `max_pending_results`, the oldest dropped beyond).
    unpublished: Mutex<Vec<WindowResult>>,
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
    pub fn new(
        aggregator: Arc<Mutex<Aggregator>>,
        dedupe: Option<Dedupe>,
        hub: Option<Hub>,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        let partitions = hub
            .as_ref()
            .map(|_| Mutex::new(Partitions::new(aggregator.lock().config().clone())));
        AggregatorIngest {
            aggregator,
            dedupe: dedupe.map(Mutex::new),
            hub,
            metrics,
            partitions,
            unpublished: Mutex::new(Vec::new()),
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
        Ok(AggregatorIngest::new(aggregator, Some(dedupe), None, None))
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
            let ready = parts.lock().poll_all();
            n += ready.len();
            self.publish_partitioned(hub, ready)?;
        }
        Ok(n)
    }

    /// Publishes partition results (with window ids) after any left from a failed attempt; on failure
    /// keeps them all for the next call.
    fn publish_partitioned(&self, hub: &Hub, results: Vec<WindowResult>) -> Result<()> {
        let mut waiting = self.unpublished.lock();
        if waiting.is_empty() && results.is_empty() {
            return Ok(());
        }
        waiting.extend(results);
        match hub.publish_windows(&waiting, "") {
            Ok(_) => {
                waiting.clear();
                Ok(())
            }
            Err(e) => {
                let cap = self.aggregator.lock().config().max_pending_results;
                if waiting.len() > cap {
                    let excess = waiting.len() - cap;
                    waiting.drain(..excess);
                }
                Err(e)
            }
        }
    }

    /// Events dropped as duplicates so far.
    pub fn duplicates(&self) -> u64 {
        self.dedupe.as_ref().map_or(0, |d| d.lock().dropped())
    }
}

impl Ingest for AggregatorIngest {
    fn ingest(&self, events: Vec<Event>) -> Result<usize> {
        let started = Instant::now();
        if let Some(hub) = &self.hub {
            hub.taps_ready()?;
        }
        let mut accepted = 0;
        let results = {
            let mut dedupe = self.dedupe.as_ref().map(|d| d.lock());
            let mut agg = self.aggregator.lock();
            for ev in &events {
                if let (Some(d), Some(id)) = (dedupe.as_mut(), ev.id.as_deref()) {
                    if !d.check_and_insert(id) {
                        continue;
                    }
                }
                agg.add(ev)?;
                accepted += 1;
            }
            match self.hub {
                Some(_) => agg.poll(),
                None => Vec::new(),
            }
        };
        if let Some(hub) = &self.hub {
            hub.publish_results(&results)?;
        }
        if let Some(m) = &self.metrics {
            m.observe_processing(started.elapsed());
        }
        Ok(accepted)
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
        let started = Instant::now();
        // Refused before anything is added: the source retries the same batch.
        hub.taps_ready()?;
        let Some(results) = parts.lock().add(partition, events, next)? else {
            return Ok(None); // revoked: the next owner replays it
        };
        // Added: from here the batch is never refused (a retry would add it twice). Results that
        // cannot be published now wait, and hold every partition's commits back until they are.
        let published = self.publish_partitioned(hub, results).is_ok();
        if let Some(m) = &self.metrics {
            m.observe_processing(started.elapsed());
        }
        Ok(match published {
            true => parts.lock().settled(partition),
            false => None,
        })
    }

    fn assign_partition(&self, partition: &str) {
        if let Some(p) = &self.partitions {
            p.lock().assign(partition);
        }
    }

    fn revoke_partition(&self, partition: &str) {
        if let Some(p) = &self.partitions {
            p.lock().revoke(partition);
        }
    }
}
