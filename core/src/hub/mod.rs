//! The fan-out hub: a topic per dashboard, sequence numbers and epochs, a history ring for resumes, the
//! latest-value snapshot, subscriptions with bounded queues and slow-consumer policies, and dedupe.
//!
//! ```
//! use dashfeed::hub::{Hub, HubConfig, Kind, SubscribeOptions};
//! use dashfeed::{Format, Value};
//!
//! let hub = Hub::new(HubConfig::default()).unwrap();
//! let sub = hub.subscribe("ops", SubscribeOptions::default()).unwrap();
//! hub.publish("ops", Value::Map(vec![("cpu".into(), 0.4.into())])).unwrap();
//!
//! let first = sub.try_recv().unwrap().unwrap();
//! assert_eq!((first.kind(), first.seq()), (Kind::Snapshot, 0));
//! let update = sub.try_recv().unwrap().unwrap();
//! assert_eq!((update.kind(), update.seq()), (Kind::Update, 1));
//! let wire = update.raw(Format::Json).unwrap();
//! assert!(wire.starts_with(br#"{"type":"update","dashboard":"ops","epoch":""#));
//! ```
//!
//! Wire messages (JSON shown; MessagePack has the same maps in the same field order):
//! - `{"type":"snapshot","dashboard":"ops","epoch":"…","seq":12,"data":{"cpu":0.4}}` — first message
//!   without `since`; with `"recovered":false` (before `data`) when a resume was impossible;
//! - `{"type":"update","dashboard":"ops","epoch":"…","seq":13,"data":{"cpu":0.5}}`;
//! - `{"type":"recovered","dashboard":"ops","epoch":"…","seq":15,"recovered":true,"missed":2}`, followed
//!   by the missed updates (seq 14 and 15) in order.
//!
//! Locking: the topic map is behind a read-mostly lock held only for the lookup; each topic has its own
//! lock, and each subscription its own queue lock. Publish encodes each wire format in use once and pushes
//! one `Arc` per subscriber.

mod config;
mod dedupe;
mod history;
mod latest;
mod message;
mod mirror;
mod options;
mod processing;
mod publication;
mod queue;
mod route;
mod stats;
mod subscription;
mod tap;
mod topic;
mod validate;
mod wakes;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_recv;

pub use config::{
    HubConfig, Policy, Since, SubscribeOptions, DEFAULT_DEDUPE_CAPACITY, DEFAULT_DEDUPE_HORIZON,
    DEFAULT_HISTORY, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_MESSAGES,
};
pub use dedupe::Dedupe;
pub use message::{Message, PublicationPin};
pub(crate) use mirror::{Applied, MirrorState};
pub(crate) use processing::Processing;
pub use processing::ProcessingStats;
pub use publication::{Kind, Wire};
pub use route::{Landed, Outgoing, Publishing, Route};
pub use stats::{HubStats, SubscriptionStats, TopicStats};
pub use subscription::{ReadyCallback, Subscription};
pub use tap::{Tap, TapId, Tapped};
pub(crate) use topic::new_epoch;
pub use validate::MAX_DATA_DEPTH;
pub use wakes::batch;

use crate::clock::{SharedClock, SystemClock};
use crate::codec::Value;
use crate::error::{Error, Result};
use config::QueueLimits;
use parking_lot::RwLock;
use publication::Encoder;
use stats::Counters;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use topic::Topic;

/// What every topic of a hub shares.
pub(crate) struct Shared {
    pub(crate) config: HubConfig,
    pub(crate) clock: SharedClock,
    pub(crate) encoder: Arc<Encoder>,
    pub(crate) counters: Counters,
    pub(crate) next_sub: AtomicU64,
}

struct Inner {
    shared: Arc<Shared>,
    topics: RwLock<HashMap<Arc<str>, Arc<Topic>>>,
    taps: RwLock<Vec<(TapId, Arc<dyn Tap>)>>,
    next_tap: AtomicU64,
    /// The shared sequencer of a clustered hub (set once).
    route: OnceLock<Arc<dyn Route>>,
    /// Time taken by publish calls (`dashboard_processing_seconds`).
    processing: Processing,
}

/// The fan-out hub. Cloning gives another handle on the same hub; it is `Send + Sync`.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.inner.shared.config)
            .field("topics", &self.inner.topics.read().len())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub on the system clock. Fails with `invalid_input` when `config` does not validate.
    pub fn new(config: HubConfig) -> Result<Hub> {
        Hub::with_clock(config, SystemClock::shared())
    }

    /// A hub whose history ages and dedupe horizons are read from `clock` (a `ManualClock` in tests).
    pub fn with_clock(config: HubConfig, clock: SharedClock) -> Result<Hub> {
        config.validate()?;
        let encoder = Arc::new(Encoder::new(config.compress_over, config.compress_level));
        Ok(Hub {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared {
                    config,
                    clock,
                    encoder,
                    counters: Counters::default(),
                    next_sub: AtomicU64::new(1),
                }),
                topics: RwLock::new(HashMap::new()),
                taps: RwLock::new(Vec::new()),
                next_tap: AtomicU64::new(1),
                route: OnceLock::new(),
                processing: Processing::default(),
            }),
        })
    }

    /// Whether `other` is a handle on this same hub.
    pub fn same_as(&self, other: &Hub) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The settings this hub runs with.
    pub fn config(&self) -> &HubConfig {
        &self.inner.shared.config
    }

    pub(crate) fn topic(&self, dashboard: &str) -> Option<Arc<Topic>> {
        self.inner.topics.read().get(dashboard).cloned()
    }

    fn topic_or_create(&self, dashboard: &str) -> Result<Arc<Topic>> {
        validate::check_dashboard(dashboard)?;
        if let Some(t) = self.topic(dashboard) {
            return Ok(t);
        }
        let fresh = Topic::new(dashboard, topic::new_epoch()?, self.inner.shared.clone())?;
        let mut topics = self.inner.topics.write();
        let t = topics
            .entry(Arc::from(dashboard))
            .or_insert_with(|| Arc::new(fresh));
        Ok(t.clone())
    }

    /// Publishes `data` (a map of metric name → value) to `dashboard`, creating its topic if needed, and
    /// returns the publication's seq. The snapshot takes the new values; every subscriber gets the
    /// update. `invalid_input` when the dashboard id or the data is not valid (see
    /// [`MAX_DATA_DEPTH`]; bytes are refused since JSON cannot carry them). On a clustered hub the seq
    /// is assigned by the shared sequencer (this call waits for it) and every node's subscribers get
    /// the update.
    pub fn publish(&self, dashboard: &str, data: Value) -> Result<u64> {
        validate::check_data(&data)?;
        let seq = self.timed(|| self.publish_to(dashboard, None, data, true))?;
        seq.ok_or_else(|| Error::Internal("a publication without id was deduplicated".into()))
    }

    /// Like [`publish`](Hub::publish), with an idempotency `id`: `Ok(None)` (and counted in
    /// `dedupe_dropped`) when the same id was published to this dashboard within the dedupe horizon.
    /// The id must be 1 to 256 bytes.
    pub fn publish_with_id(&self, dashboard: &str, id: &str, data: Value) -> Result<Option<u64>> {
        validate::check_id(id)?;
        validate::check_data(&data)?;
        self.timed(|| self.publish_to(dashboard, Some(id), data, true))
    }

    /// Publishes several publications in order, admitted as a whole: every item is validated and every
    /// tap asked for room first, so that on an error nothing is published. Returns each item's seq
    /// (`None`: its id was a duplicate). On a clustered hub the batch takes one round trip.
    pub fn publish_many(&self, items: Vec<Outgoing>) -> Result<Vec<Option<u64>>> {
        for item in &items {
            validate::check_dashboard(&item.dashboard)?;
            if let Some(id) = &item.id {
                validate::check_id(id)?;
            }
            validate::check_data(&item.data)?;
        }
        self.timed(|| {
            self.taps_ready()?;
            self.publish_checked(items)
        })
    }

    /// [`publish_many`](Hub::publish_many) for a caller on an async runtime (HTTP ingest on a
    /// clustered hub): it awaits the sequencer instead of blocking a runtime thread (a hub without a
    /// route publishes at once, as `publish_many`). Unlike `publish_many` it makes no processing-time
    /// observation: the caller observes the whole step
    /// ([`observe_processing`](Hub::observe_processing)).
    pub(crate) async fn publish_many_async(
        &self,
        items: Vec<Outgoing>,
    ) -> Result<Vec<Option<u64>>> {
        for item in &items {
            validate::check_dashboard(&item.dashboard)?;
            if let Some(id) = &item.id {
                validate::check_id(id)?;
            }
            validate::check_data(&item.data)?;
        }
        self.taps_ready()?;
        let Some(route) = self.inner.route.get().cloned() else {
            return self.publish_checked(items);
        };
        let items: Arc<[Outgoing]> = items.into();
        let landed = route.publish_async(items.clone()).await?;
        Ok(self.routed(&items, landed))
    }

    /// Counts one processing time (see [`timed`](Hub::timed)) measured by the caller.
    pub(crate) fn observe_processing(&self, took: std::time::Duration) {
        self.inner.processing.observe(took);
    }

    /// Runs `step` — work that publishes into this hub, such as an HTTP ingest request or a batch of
    /// a source — as one observation of the hub's processing time (`dashboard_processing_seconds`)
    /// when it succeeds. The publish calls it makes on this thread are part of it (each publish call
    /// outside such a step is an observation of its own).
    pub fn timed<T>(&self, step: impl FnOnce() -> Result<T>) -> Result<T> {
        self.inner.processing.timed(step)
    }

    /// The processing times observed so far (see [`timed`](Hub::timed)).
    pub fn processing_stats(&self) -> ProcessingStats {
        self.inner.processing.stats()
    }

    /// Adds this hub's processing times to `into` (a scrape summing several hubs).
    pub(crate) fn add_processing(&self, into: &mut ProcessingStats) {
        into.add(&self.inner.processing);
    }

    /// `Ok` when every tap has room for one more publication; the first tap's refusal otherwise
    /// (`slow_consumer` from a full sink). [`publish`](Hub::publish) checks it itself.
    pub fn taps_ready(&self) -> Result<()> {
        for (_, tap) in self.inner.taps.read().iter() {
            tap.ready()?;
        }
        Ok(())
    }

    /// Publishes validated, admitted `items` (the taps were asked already).
    pub(crate) fn publish_checked(&self, items: Vec<Outgoing>) -> Result<Vec<Option<u64>>> {
        if let Some(route) = self.inner.route.get() {
            return self.publish_routed(route.as_ref(), &items);
        }
        batch(|| {
            let mut seqs = Vec::with_capacity(items.len());
            for item in items {
                let topic = self.topic_or_create(&item.dashboard)?;
                seqs.push(self.publish_local(&topic, item.id.as_deref(), item.data, false)?);
            }
            Ok(seqs)
        })
    }

    /// Publishes through the taps: each must have room first (when `check`); each sees the
    /// publication after.
    fn publish_to(
        &self,
        dashboard: &str,
        id: Option<&str>,
        data: Value,
        check: bool,
    ) -> Result<Option<u64>> {
        if let Some(route) = self.inner.route.get() {
            validate::check_dashboard(dashboard)?;
            if check {
                self.taps_ready()?;
            }
            let item = Outgoing {
                dashboard: Arc::from(dashboard),
                id: id.map(str::to_owned),
                data: Arc::new(data),
            };
            let seqs = self.publish_routed(route.as_ref(), std::slice::from_ref(&item))?;
            return Ok(seqs.into_iter().next().flatten());
        }
        let topic = self.topic_or_create(dashboard)?;
        self.publish_local(&topic, id, Arc::new(data), check)
    }

    /// A publication numbered by this hub's own topic.
    fn publish_local(
        &self,
        topic: &Topic,
        id: Option<&str>,
        data: Arc<Value>,
        check: bool,
    ) -> Result<Option<u64>> {
        let taps = self.inner.taps.read();
        if taps.is_empty() {
            drop(taps);
            return Ok(topic.publish(id, data)?.map(|(seq, _)| seq));
        }
        if check {
            for (_, tap) in taps.iter() {
                tap.ready()?;
            }
        }
        let Some((seq, epoch)) = topic.publish(id, data.clone())? else {
            return Ok(None);
        };
        let tapped = Tapped {
            dashboard: topic.name_arc(),
            epoch: &epoch,
            seq,
            ts_ms: crate::event::now_ms(),
            data: &data,
        };
        for (_, tap) in taps.iter() {
            tap.published(tapped);
        }
        Ok(Some(seq))
    }

    /// Publications numbered by the shared sequencer; this node's taps see the ones that landed.
    fn publish_routed(&self, route: &dyn Route, items: &[Outgoing]) -> Result<Vec<Option<u64>>> {
        let landed = route.publish(items)?;
        Ok(self.routed(items, landed))
    }

    /// The seqs of routed `items` from where they `landed`; the taps see each one published, and
    /// the duplicates are counted.
    fn routed(&self, items: &[Outgoing], landed: Vec<Option<Landed>>) -> Vec<Option<u64>> {
        let taps = self.inner.taps.read();
        let ts_ms = crate::event::now_ms();
        let mut seqs = Vec::with_capacity(landed.len());
        for (item, at) in items.iter().zip(landed) {
            match at {
                Some((seq, epoch)) => {
                    for (_, tap) in taps.iter() {
                        tap.published(Tapped {
                            dashboard: &item.dashboard,
                            epoch: &epoch,
                            seq,
                            ts_ms,
                            data: &item.data,
                        });
                    }
                    seqs.push(Some(seq));
                }
                None => {
                    Counters::add(&self.inner.shared.counters.dedupe_dropped, 1);
                    seqs.push(None);
                }
            }
        }
        seqs
    }

    /// Makes this hub a mirror of a shared feed: from now on publications are numbered by `route`
    /// (see [`Route`]). `invalid_input` when the hub already has a route.
    pub(crate) fn set_route(&self, route: Arc<dyn Route>) -> Result<()> {
        self.inner
            .route
            .set(route)
            .map_err(|_| Error::invalid("this hub is already part of a cluster"))
    }

    /// Whether publications of this hub are numbered by a cluster's shared sequencer.
    pub fn is_clustered(&self) -> bool {
        self.inner.route.get().is_some()
    }

    /// Adds a tap that sees every publication from now on (see [`Tap`]).
    pub fn add_tap(&self, tap: Arc<dyn Tap>) -> TapId {
        let id = TapId(self.inner.next_tap.fetch_add(1, Ordering::Relaxed));
        self.inner.taps.write().push((id, tap));
        id
    }

    /// Removes a tap; returns whether it was there.
    pub fn remove_tap(&self, id: TapId) -> bool {
        let mut taps = self.inner.taps.write();
        let before = taps.len();
        taps.retain(|(t, _)| *t != id);
        taps.len() != before
    }

    /// Merges `data` (metric → value, as a publication's data) into `dashboard`'s snapshot without
    /// making a publication: no seq, no history entry, nothing sent to subscribers or taps. A restarted
    /// node seeds its snapshots from the Redis cache with it, so that new subscribers get initial state
    /// at once.
    pub fn seed(&self, dashboard: &str, data: Value) -> Result<()> {
        validate::check_data(&data)?;
        self.topic_or_create(dashboard)?.seed(&data);
        Ok(())
    }

    /// Subscribes to `dashboard` (creating its topic if needed). Without `since` the first message is the
    /// snapshot (seq 0 and empty data before any publication). With `since = (epoch, seq)`: when the
    /// epoch is current and history holds every publication after `seq` (and they fit in the queue), a
    /// `recovered` header and all of them in order; otherwise a snapshot with `"recovered": false`.
    pub fn subscribe(&self, dashboard: &str, options: SubscribeOptions) -> Result<Subscription> {
        let limits = QueueLimits::resolve(self.config(), &options)?;
        if let Some(route) = self.inner.route.get() {
            validate::check_dashboard(dashboard)?;
            match (self.mirror_position(dashboard), &options.since) {
                (None, _) => {
                    route.ensure(dashboard, true)?;
                }
                (Some((epoch, seq)), Some(since)) if *since.epoch == *epoch && since.seq > seq => {
                    route.catch_up(dashboard)?;
                }
                _ => {}
            }
        }
        let topic = self.topic_or_create(dashboard)?;
        topic.subscribe(limits, options.since.as_ref())
    }

    /// The latest value per metric of `dashboard` with its epoch and seq, as a `snapshot` message (its
    /// wire bytes are cached until the next publish). `None` when the dashboard has no topic.
    pub fn snapshot(&self, dashboard: &str) -> Result<Option<Message>> {
        validate::check_dashboard(dashboard)?;
        if let Some(route) = self.inner.route.get() {
            if self.topic(dashboard).is_none() && !route.ensure(dashboard, false)? {
                return Ok(None);
            }
        }
        Ok(self.topic(dashboard).map(|t| t.snapshot()))
    }

    /// Starts a new epoch for `dashboard` (creating its topic if needed) and returns it: history is
    /// forgotten, so clients resuming from the old epoch get a fresh snapshot. Seq and values carry on.
    /// On a clustered hub the epoch belongs to the shared feed: `invalid_input`.
    pub fn reset_epoch(&self, dashboard: &str) -> Result<String> {
        if self.is_clustered() {
            return Err(Error::invalid(
                "reset_epoch: the epoch of a clustered hub's dashboard is the shared feed's",
            ));
        }
        let topic = self.topic_or_create(dashboard)?;
        let epoch = topic::new_epoch()?;
        topic.reset_epoch(epoch.clone());
        Ok(epoch.to_string())
    }

    /// Removes `dashboard`'s topic: its subscriptions end (`closed` after their queued messages) and its
    /// history and snapshot are dropped; a later publish or subscribe starts a new epoch. Returns whether
    /// the topic existed.
    pub fn remove(&self, dashboard: &str) -> bool {
        let removed = self.inner.topics.write().remove(dashboard);
        match removed {
            Some(topic) => {
                topic.remove();
                true
            }
            None => false,
        }
    }

    /// The dashboards that have a topic, sorted.
    pub fn dashboards(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .topics
            .read()
            .keys()
            .map(|k| k.to_string())
            .collect();
        names.sort();
        names
    }

    /// Figures of one topic, `None` when the dashboard has none.
    pub fn topic_stats(&self, dashboard: &str) -> Option<TopicStats> {
        self.topic(dashboard).map(|t| t.stats())
    }

    /// Figures of the whole hub.
    pub fn stats(&self) -> HubStats {
        let topics: Vec<Arc<Topic>> = self.inner.topics.read().values().cloned().collect();
        let mut per_topic: Vec<TopicStats> = topics.iter().map(|t| t.stats()).collect();
        per_topic.sort_by(|a, b| a.dashboard.cmp(&b.dashboard));
        let c = &self.inner.shared.counters;
        HubStats {
            subscribers: per_topic.iter().map(|t| t.subscribers).sum(),
            topics: per_topic,
            publications: Counters::get(&c.publications),
            deliveries: Counters::get(&c.deliveries),
            dropped_oldest: Counters::get(&c.dropped_oldest),
            conflated: Counters::get(&c.conflated),
            disconnected: Counters::get(&c.disconnected),
            dedupe_dropped: Counters::get(&c.dedupe_dropped),
            encodes: self.inner.shared.encoder.encodes(),
        }
    }
}
