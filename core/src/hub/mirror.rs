//! The mirror side of a clustered hub: what the cluster bus reader ([`crate::cluster`]) does to the
//! local topics. A publication numbered by the shared sequencer is applied when it is the next one
//! of the topic's epoch ([`Hub::mirror_apply`]); a gap is filled from the shared history
//! ([`Hub::mirror_fill`]); and when the place in the shared feed is lost — the epoch changed (Redis
//! restarted empty) or the missed publications fell out of the shared history — the topic is reset to
//! the shared state ([`Hub::mirror_reset`]) and each live subscriber's queue is replaced by a
//! `recovered: false` snapshot. A subscriber therefore never sees a silent gap.

use super::history::History;
use super::latest::LatestValues;
use super::publication::{Fields, Kind, Publication};
use super::subscription::ReadyCallback;
use super::topic::Topic;
use super::Hub;
use crate::codec::Value;
use crate::error::Result;
use std::sync::Arc;

/// What [`Hub::mirror_apply`] did with a publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Applied: it was the next seq.
    Done,
    /// Already applied (seq at or below the topic's).
    Duplicate,
    /// Publications between the topic's seq `have` and this one are missing.
    Gap { have: u64 },
    /// The publication belongs to another epoch than the topic's.
    OtherEpoch,
    /// This node has no topic for the dashboard (nobody here asked for it): ignored.
    NoTopic,
}

/// The shared state of one dashboard, read atomically from the sequencer.
#[derive(Debug, Clone)]
pub(crate) struct MirrorState {
    pub(crate) epoch: Arc<str>,
    pub(crate) seq: u64,
    /// The latest-value snapshot at `seq` (a data map).
    pub(crate) latest: Value,
    /// The newest shared history entries, seq ascending, ending at `seq` (possibly empty).
    pub(crate) history: Vec<(u64, Arc<Value>)>,
}

impl Hub {
    /// Applies publication `seq` of `epoch` made by the shared sequencer.
    pub(crate) fn mirror_apply(
        &self,
        dashboard: &str,
        epoch: &str,
        seq: u64,
        data: Arc<Value>,
    ) -> Result<Applied> {
        let Some(topic) = self.topic(dashboard) else {
            return Ok(Applied::NoTopic);
        };
        let mut wakes: Vec<ReadyCallback> = Vec::new();
        let applied = {
            let mut st = topic.state.lock();
            if *st.epoch != *epoch {
                Applied::OtherEpoch
            } else if seq <= st.seq {
                Applied::Duplicate
            } else if seq > st.seq + 1 {
                Applied::Gap { have: st.seq }
            } else {
                topic.apply_locked(&mut st, seq, data, &mut wakes)?;
                Applied::Done
            }
        };
        super::wakes::wake_all(wakes);
        Ok(applied)
    }

    /// The epoch and seq of `dashboard`'s local topic, if it has one.
    pub(crate) fn mirror_position(&self, dashboard: &str) -> Option<(Arc<str>, u64)> {
        let topic = self.topic(dashboard)?;
        let st = topic.state.lock();
        Some((st.epoch.clone(), st.seq))
    }

    /// Applies the shared history `entries` (seq ascending) that follow the topic's seq in `epoch`;
    /// entries at or below it are skipped. Returns the topic's seq after, or `None` when the topic is
    /// missing or in another epoch. The caller resets the topic when the seq did not reach its target.
    pub(crate) fn mirror_fill(
        &self,
        dashboard: &str,
        epoch: &str,
        entries: &[(u64, Arc<Value>)],
    ) -> Result<Option<u64>> {
        let Some(topic) = self.topic(dashboard) else {
            return Ok(None);
        };
        let mut wakes: Vec<ReadyCallback> = Vec::new();
        let reached = {
            let mut st = topic.state.lock();
            if *st.epoch != *epoch {
                return Ok(None);
            }
            for (seq, data) in entries {
                if *seq == st.seq + 1 {
                    topic.apply_locked(&mut st, *seq, data.clone(), &mut wakes)?;
                } else if *seq > st.seq + 1 {
                    break;
                }
            }
            st.seq
        };
        super::wakes::wake_all(wakes);
        Ok(Some(reached))
    }

    /// Makes `dashboard`'s local topic (created when missing) the shared `state`. When the epoch is the
    /// topic's own the snapshot is replaced; in a new epoch (the shared store lost its data) the local
    /// values stay under the shared ones, as the last known. Live subscribers get a `recovered: false`
    /// snapshot in place of what they had queued.
    pub(crate) fn mirror_reset(&self, dashboard: &str, state: MirrorState) -> Result<()> {
        super::validate::check_dashboard(dashboard)?;
        let topic = match self.topic(dashboard) {
            Some(t) => t,
            None => {
                let fresh = Arc::new(Topic::new(
                    dashboard,
                    state.epoch.clone(),
                    self.inner.shared.clone(),
                )?);
                self.inner
                    .topics
                    .write()
                    .entry(Arc::from(dashboard))
                    .or_insert(fresh)
                    .clone()
            }
        };
        let mut wakes: Vec<ReadyCallback> = Vec::new();
        {
            let mut guard = topic.state.lock();
            let st = &mut *guard;
            let now = topic.shared.clock.now_nanos();
            let history = rebuild_history(&topic, &state, now)?;
            let same_epoch = *st.epoch == *state.epoch;
            let mut latest = if same_epoch {
                LatestValues::default()
            } else {
                std::mem::take(&mut st.latest)
            };
            latest.merge(&state.latest);
            st.latest = latest;
            st.epoch = state.epoch.clone();
            st.seq = state.seq;
            st.history = history;
            st.snapshot_data = None;
            st.snapshots = [None, None];
            if !st.subs.is_empty() {
                let snapshot = topic.snapshot_pub(st, Some(false), now);
                for sub in &st.subs {
                    if let Some(wake) = sub.replace_with(&snapshot)? {
                        wakes.push(wake);
                    }
                }
            }
        }
        super::wakes::wake_all(wakes);
        Ok(())
    }
}

/// A history ring holding the shared entries of `state` (the ones that end at its seq).
fn rebuild_history(topic: &Topic, state: &MirrorState, now: u64) -> Result<History> {
    let cfg = &topic.shared.config;
    let mut history = History::new(cfg.history, cfg.history_age);
    if cfg.history == 0 {
        return Ok(history);
    }
    let contiguous = state.history.windows(2).all(|w| w[1].0 == w[0].0 + 1)
        && state.history.last().is_none_or(|(s, _)| *s == state.seq);
    if !contiguous {
        return Ok(history);
    }
    for (seq, data) in &state.history {
        let p = Publication::new(
            Fields {
                kind: Kind::Update,
                dashboard: topic.name_arc().clone(),
                epoch: state.epoch.clone(),
                seq: *seq,
                data: data.clone(),
                recovered: None,
                at_nanos: now,
            },
            &topic.shared.encoder,
        );
        history.push(Arc::new(p.slim(super::topic::HISTORY_WIRE)?), now);
    }
    Ok(history)
}
