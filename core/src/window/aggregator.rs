//! [`Aggregator`]: the windowed aggregation engine's state and its public API — input (`add`,
//! `add_parts`, `advance_to`; the columnar `add_columns` is in `batch.rs`), output (`poll`,
//! `take_late`, `flush`) and [`AggregatorStats`]. Event placement is in `place.rs`, closing in
//! `close.rs`; the semantics are documented on the [`window`](super) module.

use super::coded::CodeMemo;
use super::config::AggregatorConfig;
use super::keys::{check_name, check_tags, KeyTable};
use super::ready::Ready;
use super::result::WindowResult;
use super::sketch::QuantileSketch;
use super::spec::EmitMode;
use crate::clock::{SharedClock, SystemClock};
use crate::error::{Error, Result};
use crate::event::Event;
use std::collections::{BTreeMap, VecDeque};

/// Counters and sizes of an [`Aggregator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AggregatorStats {
    /// Events accepted (late ones included; refused ones not).
    pub events: u64,
    /// Late events: events that some already closed window should have held.
    pub late: u64,
    /// Windows currently open.
    pub open_windows: usize,
    /// Keys currently interned (keys with open windows, plus recently idle ones; see the module docs).
    pub keys: usize,
    /// Results waiting for [`Aggregator::poll`].
    pub pending_results: usize,
    /// Late events waiting for [`Aggregator::take_late`].
    pub pending_late: usize,
    /// Current watermark in ms; `None` before the first event or `advance_to`.
    pub watermark: Option<i64>,
}

/// Groups events by key into windows and emits a [`WindowResult`] per key and window.
///
/// Not thread-safe by itself (`&mut self` everywhere); the bindings wrap it in a lock.
pub struct Aggregator {
    pub(super) cfg: AggregatorConfig,
    pub(super) clock: SharedClock,
    pub(super) keys: KeyTable,
    /// Categorical columns' name code → slot map, kept across calls.
    pub(super) memo: CodeMemo,
    /// Close schedule: window end → (window id, key slot) of windows that end there (sessions may have
    /// moved on: checked when the entry comes due).
    pub(super) sched: BTreeMap<i64, Vec<(u64, u32)>>,
    pub(super) bucket_pool: Vec<Vec<(u64, u32)>>,
    /// Keys that ran out of open windows: (slot, generation, event time it happened).
    pub(super) idle: VecDeque<(u32, u32, i64)>,
    /// Spent sketches for reuse; boxed because accumulators hold them boxed (moved, not copied).
    #[allow(clippy::vec_box)]
    pub(super) sketch_pool: Vec<Box<QuantileSketch>>,
    /// Windows changed since their last partial result (emit mode `updates`): (slot, window id).
    pub(super) dirty: Vec<(u32, u64)>,
    /// Scratch buffer for ordering partial results.
    pub(super) order: Vec<(i64, u64, u32)>,
    pub(super) ready: Ready,
    pub(super) late: Vec<Event>,
    /// Whether any event time was seen (`max_ts` and `wm` are meaningful).
    pub(super) has_time: bool,
    pub(super) max_ts: i64,
    pub(super) wm: i64,
    pub(super) next_close: i64,
    pub(super) next_evict: i64,
    pub(super) next_win_id: u64,
    /// Events accepted so far; also each event's arrival number.
    pub(super) seq: u64,
    pub(super) late_count: u64,
    pub(super) open_windows: usize,
    /// Emit mode `updates`: tick interval and the last tick index seen.
    pub(super) update_interval: Option<i64>,
    pub(super) last_tick: Option<i64>,
    /// Clock reading (ms) at the last input call, for idle close.
    pub(super) last_input_clock: Option<u64>,
    pub(super) lateness: i64,
    pub(super) retain: i64,
}

impl std::fmt::Debug for Aggregator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregator")
            .field("config", &self.cfg)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Aggregator {
    /// An aggregator on the system monotonic clock (used only by `idle_close`).
    pub fn new(config: AggregatorConfig) -> Result<Self> {
        Aggregator::with_clock(config, SystemClock::shared())
    }

    /// An aggregator whose idle close reads `clock` (a [`ManualClock`](crate::clock::ManualClock) in
    /// tests). Fails with `invalid_input` when the config does not validate.
    pub fn with_clock(config: AggregatorConfig, clock: SharedClock) -> Result<Self> {
        config.validate()?;
        let update_interval = match config.emit {
            EmitMode::Final => None,
            EmitMode::Updates { interval_ms } => Some(interval_ms as i64),
        };
        Ok(Aggregator {
            lateness: config.lateness_ms as i64,
            retain: config.window.retain_ms(),
            update_interval,
            cfg: config,
            clock,
            keys: KeyTable::default(),
            memo: CodeMemo::default(),
            sched: BTreeMap::new(),
            bucket_pool: Vec::new(),
            idle: VecDeque::new(),
            sketch_pool: Vec::new(),
            dirty: Vec::new(),
            order: Vec::new(),
            ready: Ready::default(),
            late: Vec::new(),
            has_time: false,
            max_ts: i64::MIN,
            wm: i64::MIN,
            next_close: i64::MAX,
            next_evict: i64::MAX,
            next_win_id: 0,
            seq: 0,
            late_count: 0,
            open_windows: 0,
            last_tick: None,
            last_input_clock: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AggregatorConfig {
        &self.cfg
    }

    /// Adds one event (validated as [`Event::validate`] does; its `id` is kept on late output).
    ///
    /// Errors: `invalid_input` (non-finite value, bad name or tags) and `too_large` (too many results or
    /// late events pending: poll first); either way nothing is applied.
    pub fn add(&mut self, event: &Event) -> Result<()> {
        self.add_one(
            &event.dashboard,
            &event.metric,
            event.value,
            event.ts_ms,
            &event.tags,
            event.id.as_deref(),
        )
    }

    /// Adds one observation from its parts, without allocating when the key is already interned: what
    /// a binding's per-event `add(dashboard, metric, value, ts, tags, id)` calls, names and tags
    /// borrowed from the caller's objects and checked here once. Tags need not be sorted (unsorted ones
    /// are sorted into a temporary copy); duplicated tag keys are `invalid_input`; `id` is kept on late
    /// output as an [`Event`]'s. Errors as [`add`](Self::add).
    pub fn add_parts(
        &mut self,
        dashboard: &str,
        metric: &str,
        value: f64,
        ts_ms: i64,
        tags: &[(&str, &str)],
        id: Option<&str>,
    ) -> Result<()> {
        self.add_one(dashboard, metric, value, ts_ms, tags, id)
    }

    fn add_one<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        d: &str,
        m: &str,
        value: f64,
        ts: i64,
        tags: &[(K, V)],
        id: Option<&str>,
    ) -> Result<()> {
        if !value.is_finite() {
            return Err(Error::invalid(format!(
                "value of {d}/{m} is not finite ({value})"
            )));
        }
        check_name("dashboard", d)?;
        check_name("metric", m)?;
        if let Some(id) = id {
            check_name("event id", id)?;
        }
        if !check_tags(tags)? {
            let mut sorted: Vec<(&str, &str)> =
                tags.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
            sorted.sort_unstable();
            return self.add_checked(d, m, value, ts, &sorted, id);
        }
        self.add_checked(d, m, value, ts, tags, id)
    }

    fn add_checked<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        d: &str,
        m: &str,
        value: f64,
        ts: i64,
        tags: &[(K, V)],
        id: Option<&str>,
    ) -> Result<()> {
        let now = self.begin_input()?;
        let hash = self.keys.hash(d, m, tags);
        self.ingest(hash, d, m, value, ts, tags, id);
        self.end_input(now);
        Ok(())
    }

    /// Moves event time to `ts_ms` as an event at that time would (watermark = `ts_ms − lateness` if
    /// that is higher), closing the windows it passes; counts as input for idle close. A time lower
    /// than the highest seen changes nothing. Errors: `too_large` as [`add`](Self::add).
    pub fn advance_to(&mut self, ts_ms: i64) -> Result<()> {
        let now = self.begin_input()?;
        self.observe(ts_ms);
        self.end_input(now);
        Ok(())
    }

    /// Starts an input call: refuses it while the output buffers are full, and applies idle close for
    /// the quiet time before it. Returns the clock reading when idle close is on.
    pub(super) fn begin_input(&mut self) -> Result<Option<u64>> {
        if self.ready.len() >= self.cfg.max_pending_results {
            return Err(Error::TooLarge {
                what: "pending window results (poll them)",
                limit: self.cfg.max_pending_results,
            });
        }
        if self.late.len() >= self.cfg.max_pending_late {
            return Err(Error::TooLarge {
                what: "pending late events (take them)",
                limit: self.cfg.max_pending_late,
            });
        }
        Ok(self.cfg.idle_close_ms.map(|_| {
            let now = self.clock.now_ms();
            self.idle_advance(now);
            now
        }))
    }

    /// Ends an input call: remembers when it happened, for idle close.
    pub(super) fn end_input(&mut self, now: Option<u64>) {
        if now.is_some() {
            self.last_input_clock = now;
        }
    }

    /// Drains the results ready so far, oldest first (see the module docs for the order). With
    /// `idle_close` set, first advances the watermark by the quiet time on the clock.
    pub fn poll(&mut self) -> Vec<WindowResult> {
        self.check_idle();
        self.ready.take_rows()
    }

    /// Like [`poll`](Self::poll) but appends to `out`, so that a caller can reuse its buffer.
    pub fn poll_into(&mut self, out: &mut Vec<WindowResult>) {
        self.check_idle();
        self.ready.append_rows(out);
    }

    pub(super) fn check_idle(&mut self) {
        if self.cfg.idle_close_ms.is_some() {
            let now = self.clock.now_ms();
            self.idle_advance(now);
        }
    }

    /// Drains the late events kept so far, in arrival order.
    pub fn take_late(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.late)
    }

    /// The current watermark in ms; `None` before any event time was seen.
    pub fn watermark(&self) -> Option<i64> {
        self.has_time.then_some(self.wm)
    }

    /// Counters and sizes.
    pub fn stats(&self) -> AggregatorStats {
        AggregatorStats {
            events: self.seq,
            late: self.late_count,
            open_windows: self.open_windows,
            keys: self.keys.len(),
            pending_results: self.ready.len(),
            pending_late: self.late.len(),
            watermark: self.watermark(),
        }
    }
}
