//! [`Topic`]: one dashboard's feed — epoch, seq counter, history, snapshot, dedupe and subscribers, all
//! under one per-topic lock (publishers of different dashboards never contend).
//!
//! Publishing and subscribing both run under that lock, so a new subscriber's first messages and the live
//! updates after them have neither a gap nor a duplicate, and every subscriber sees one topic's
//! publications in seq order. Fan-out pushes the same `Arc<Publication>` into every queue; the wire bytes
//! are encoded once per format in use before the fan-out. Ready callbacks run after the lock is released.

use super::config::{QueueLimits, Since};
use super::dedupe::Dedupe;
use super::history::History;
use super::latest::LatestValues;
use super::message::Message;
use super::publication::{Fields, Kind, Publication, Wire, WIRES};
use super::stats::{Counters, TopicStats};
use super::subscription::{ReadyCallback, SubShared, Subscription};
use super::Shared;
use crate::codec::Format;
use crate::codec::Value;
use crate::error::{Error, Result};
use parking_lot::Mutex;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The wire history encodes a publication in when no subscriber needed one: what most subscribers read.
pub(super) const HISTORY_WIRE: Wire = Wire::compressed(Format::MsgPack);

/// Bytes of randomness in an epoch id (written as 16 lowercase hex digits).
const EPOCH_BYTES: usize = 8;

/// A fresh random epoch id.
pub(crate) fn new_epoch() -> Result<Arc<str>> {
    let mut raw = [0u8; EPOCH_BYTES];
    getrandom::fill(&mut raw)
        .map_err(|e| Error::Internal(format!("no randomness for an epoch id: {e}")))?;
    let mut id = String::with_capacity(EPOCH_BYTES * 2);
    for b in raw {
        let _ = write!(id, "{b:02x}");
    }
    Ok(Arc::from(id))
}

/// The mutable part of a topic.
pub(super) struct TopicState {
    pub(super) epoch: Arc<str>,
    pub(super) seq: u64,
    pub(super) history: History,
    pub(super) latest: LatestValues,
    /// The snapshot data at `seq`, built on demand.
    pub(super) snapshot_data: Option<Arc<Value>>,
    /// Snapshot messages at `seq`: plain, and with `"recovered": false`.
    pub(super) snapshots: [Option<Arc<Publication>>; 2],
    pub(super) subs: Vec<Arc<SubShared>>,
    /// Subscribers per [`Wire::index`] (the wires encoded eagerly at publish).
    pub(super) wires: [usize; 4],
    pub(super) dedupe: Dedupe,
    /// Removed from the hub: new subscribers end at once.
    pub(super) removed: bool,
}

/// One dashboard's feed.
pub(crate) struct Topic {
    name: Arc<str>,
    pub(super) shared: Arc<Shared>,
    pub(super) state: Mutex<TopicState>,
}

impl Topic {
    pub(crate) fn new(name: &str, epoch: Arc<str>, shared: Arc<Shared>) -> Result<Self> {
        let cfg = &shared.config;
        let dedupe = Dedupe::new(
            cfg.dedupe_capacity,
            cfg.dedupe_horizon,
            shared.clock.clone(),
        )?;
        let state = TopicState {
            epoch,
            seq: 0,
            history: History::new(cfg.history, cfg.history_age),
            latest: LatestValues::default(),
            snapshot_data: None,
            snapshots: [None, None],
            subs: Vec::new(),
            wires: [0; 4],
            dedupe,
            removed: false,
        };
        Ok(Topic {
            name: Arc::from(name),
            shared,
            state: Mutex::new(state),
        })
    }

    /// The dashboard id.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The dashboard id, shared.
    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// Merges `data` into the snapshot without a publication (see [`Hub::seed`](super::Hub::seed)).
    pub(crate) fn seed(&self, data: &Value) {
        let mut st = self.state.lock();
        st.latest.merge(data);
        st.snapshot_data = None;
        st.snapshots = [None, None];
    }

    /// Publishes validated `data`: `Ok(None)` when `id` was seen within the dedupe horizon.
    pub(crate) fn publish(
        &self,
        id: Option<&str>,
        data: Arc<Value>,
    ) -> Result<Option<(u64, Arc<str>)>> {
        let mut wakes: Vec<ReadyCallback> = Vec::new();
        let (seq, epoch) = {
            let mut guard = self.state.lock();
            let st = &mut *guard;
            if let Some(id) = id {
                if st.dedupe.contains(id) {
                    Counters::add(&self.shared.counters.dedupe_dropped, 1);
                    return Ok(None);
                }
            }
            let seq = st.seq + 1;
            self.apply_locked(st, seq, data, &mut wakes)?;
            if let Some(id) = id {
                st.dedupe.insert(id);
            }
            (seq, st.epoch.clone())
        };
        super::wakes::wake_all(wakes);
        Ok(Some((seq, epoch)))
    }

    /// Makes `data` publication `seq` of the current epoch under the topic lock: encodes it once per
    /// wire in use (an error leaves the topic unchanged), keeps it in history, merges it into the
    /// snapshot and pushes it to every subscriber (their ready callbacks go to `wakes`).
    pub(super) fn apply_locked(
        &self,
        st: &mut TopicState,
        seq: u64,
        data: Arc<Value>,
        wakes: &mut Vec<ReadyCallback>,
    ) -> Result<()> {
        let counters = &self.shared.counters;
        let now = self.shared.clock.now_nanos();
        let p = Arc::new(Publication::new(
            Fields {
                kind: Kind::Update,
                dashboard: self.name.clone(),
                epoch: st.epoch.clone(),
                seq,
                data: data.clone(),
                recovered: None,
                at_nanos: now,
            },
            &self.shared.encoder,
        ));
        // History keeps a slim copy (bytes only, at least the default wire encoded).
        for wire in WIRES {
            if st.wires[wire.index()] > 0 {
                p.bytes(wire)?;
            }
        }
        let kept = match self.shared.config.history {
            0 => None,
            _ => Some(Arc::new(p.slim(HISTORY_WIRE)?)),
        };
        st.seq = seq;
        st.latest.merge(&data);
        st.snapshot_data = None;
        st.snapshots = [None, None];
        if let Some(kept) = kept {
            st.history.push(kept, now);
        }

        let (mut delivered, mut dropped, mut conflated, mut disconnected) = (0, 0, 0, 0);
        let mut i = 0;
        while i < st.subs.len() {
            let d = st.subs[i].push(&p);
            if let Some(wake) = d.wake {
                wakes.push(wake);
            }
            dropped += d.dropped;
            conflated += d.conflated;
            if d.ended {
                let gone = st.subs.swap_remove(i);
                st.wires[gone.wire.index()] -= 1;
                disconnected += u64::from(d.disconnected);
            } else {
                delivered += 1;
                i += 1;
            }
        }
        Counters::add(&counters.publications, 1);
        Counters::add(&counters.deliveries, delivered);
        Counters::add(&counters.dropped_oldest, dropped);
        Counters::add(&counters.conflated, conflated);
        Counters::add(&counters.disconnected, disconnected);
        Ok(())
    }

    /// Registers a subscriber and queues its first messages.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        limits: QueueLimits,
        since: Option<&Since>,
    ) -> Result<Subscription> {
        let id = self.shared.next_sub.fetch_add(1, Ordering::Relaxed);
        let sub = Arc::new(SubShared::new(id, limits));
        {
            let mut guard = self.state.lock();
            let st = &mut *guard;
            let now = self.shared.clock.now_nanos();
            st.history.evict_aged(now);
            let first = self.first_messages(st, &limits, since, now)?;
            sub.push_initial(&first)?;
            Counters::add(&self.shared.counters.deliveries, first.len() as u64);
            if st.removed {
                sub.end(Error::Closed, true);
            } else {
                st.subs.push(sub.clone());
                st.wires[limits.wire.index()] += 1;
            }
        }
        Ok(Subscription::new(sub, self.clone()))
    }

    /// A recovered header and every missed publication when `since` can be resumed within the queue's
    /// caps; otherwise a snapshot (`"recovered": false` when `since` was given).
    fn first_messages(
        &self,
        st: &mut TopicState,
        limits: &QueueLimits,
        since: Option<&Since>,
        now: u64,
    ) -> Result<Vec<Arc<Publication>>> {
        let Some(since) = since else {
            return Ok(vec![self.snapshot_pub(st, None, now)]);
        };
        if *since.epoch == *st.epoch && since.seq <= st.seq {
            if let Some(missed) = st.history.after(since.seq, st.seq) {
                if missed.len() < limits.max_messages {
                    let header = Arc::new(Publication::recovered_header(
                        self.name.clone(),
                        st.epoch.clone(),
                        st.seq,
                        missed.len() as u64,
                        now,
                        &self.shared.encoder,
                    ));
                    let mut bytes = header.bytes(limits.wire)?.len();
                    let mut items = Vec::with_capacity(missed.len() + 1);
                    items.push(header);
                    for p in missed {
                        bytes = bytes.saturating_add(p.bytes(limits.wire)?.len());
                        if bytes > limits.max_bytes {
                            break;
                        }
                        items.push(p.clone());
                    }
                    if bytes <= limits.max_bytes {
                        return Ok(items);
                    }
                }
            }
        }
        Ok(vec![self.snapshot_pub(st, Some(false), now)])
    }

    /// The snapshot message at the current seq (cached until the next publish or epoch change).
    pub(super) fn snapshot_pub(
        &self,
        st: &mut TopicState,
        recovered: Option<bool>,
        now: u64,
    ) -> Arc<Publication> {
        let slot = usize::from(recovered.is_some());
        if let Some(p) = &st.snapshots[slot] {
            return p.clone();
        }
        let latest = &st.latest;
        let data = st
            .snapshot_data
            .get_or_insert_with(|| Arc::new(latest.to_value()))
            .clone();
        let p = Arc::new(Publication::new(
            Fields {
                kind: Kind::Snapshot,
                dashboard: self.name.clone(),
                epoch: st.epoch.clone(),
                seq: st.seq,
                data,
                recovered,
                at_nanos: now,
            },
            &self.shared.encoder,
        ));
        st.snapshots[slot] = Some(p.clone());
        p
    }

    /// The current snapshot as a message.
    pub(crate) fn snapshot(&self) -> Message {
        let mut guard = self.state.lock();
        let now = self.shared.clock.now_nanos();
        Message::new(self.snapshot_pub(&mut guard, None, now))
    }

    /// Unregisters a subscriber (no effect if it is not registered any more).
    pub(crate) fn unsubscribe(&self, sub: &SubShared) {
        let mut st = self.state.lock();
        if let Some(i) = st.subs.iter().position(|s| s.id == sub.id) {
            let gone = st.subs.swap_remove(i);
            st.wires[gone.wire.index()] -= 1;
        }
    }

    /// Starts a new epoch: history is forgotten, the seq and the latest values carry on.
    pub(crate) fn reset_epoch(&self, epoch: Arc<str>) {
        let mut st = self.state.lock();
        st.epoch = epoch;
        st.history.clear();
        st.snapshots = [None, None];
    }

    /// Marks the topic removed and ends its subscriptions (`closed` once their queues are drained).
    pub(crate) fn remove(&self) {
        let subs = {
            let mut st = self.state.lock();
            st.removed = true;
            st.history.clear();
            st.wires = [0; 4];
            std::mem::take(&mut st.subs)
        };
        for sub in subs {
            if let Some(wake) = sub.end(Error::Closed, true) {
                wake();
            }
        }
    }

    /// Figures of this topic.
    pub(crate) fn stats(&self) -> TopicStats {
        let st = self.state.lock();
        TopicStats {
            dashboard: self.name.to_string(),
            epoch: st.epoch.to_string(),
            seq: st.seq,
            subscribers: st.subs.len(),
            history: st.history.len(),
            metrics: st.latest.len(),
        }
    }
}
