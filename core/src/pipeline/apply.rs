//! [`AggregatorIngest`]: the pipeline step between sources and the hub when windows are configured —
//! dedupe by event id, add to the aggregator, publish the windows that closed. It is an
//! [`Ingest`], so HTTP ingest and every source feed it alike.
//!
//! Admission comes first: when a sink behind the hub is full the batch is refused with
//! `slow_consumer` before any event is added, so the source retries it later (not acknowledged) and
//! no window result is ever made that a sink could not take.

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
        AggregatorIngest {
            aggregator,
            dedupe: dedupe.map(Mutex::new),
            hub,
            metrics,
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
        Ok(results.len())
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
}
