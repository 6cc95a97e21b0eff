//! Event placement: how one validated event finds its key and its window(s) for each window kind
//! (tumbling, hopping, session with merging, count), when it is late, and how event time moves the
//! watermark (including idle close on the clock).

use super::accum::Accumulator;
use super::aggregator::Aggregator;
use super::keys::Win;
use super::spec::WindowSpec;
use crate::event::{Event, Key};

/// Start of the epoch-aligned window of length `size` holding `ts`.
#[inline]
pub(super) fn window_start(ts: i64, size: i64) -> i64 {
    ts.div_euclid(size).saturating_mul(size)
}

fn owned_tags<K: AsRef<str>, V: AsRef<str>>(tags: &[(K, V)]) -> Vec<(String, String)> {
    tags.iter()
        .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect()
}

impl Aggregator {
    /// Applies one validated event (tags sorted) whose key parts hash to `hash`.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn ingest<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        hash: u64,
        d: &str,
        m: &str,
        value: f64,
        ts: i64,
        tags: &[(K, V)],
        id: Option<&str>,
    ) {
        self.seq += 1;
        match self.slot_for(hash, d, m, tags, ts) {
            Some(kid) => self.place(kid, d, m, value, ts, tags, id),
            None => {
                self.push_late(d, m, value, ts, tags, id);
                self.observe(ts);
            }
        }
    }

    /// The slot of a key (tags sorted) whose parts hash to `hash`, interning it when new; `None` when
    /// it is new and every window an event at `ts` belongs to has closed (the event is late and the
    /// key is not interned).
    #[inline]
    pub(super) fn slot_for<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        hash: u64,
        d: &str,
        m: &str,
        tags: &[(K, V)],
        ts: i64,
    ) -> Option<u32> {
        if let Some(kid) = self.keys.find(hash, d, m, tags) {
            return Some(kid);
        }
        if self.all_closed(ts) {
            return None;
        }
        let key = Key {
            dashboard: d.to_owned(),
            metric: m.to_owned(),
            tags: owned_tags(tags),
        };
        Some(self.keys.insert(hash, key))
    }

    /// Places the current event (already counted in `seq`) in the windows of slot `kid`, whose key is
    /// `d`, `m`, `tags` (kept on a late event).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn place<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        kid: u32,
        d: &str,
        m: &str,
        value: f64,
        ts: i64,
        tags: &[(K, V)],
        id: Option<&str>,
    ) {
        let late = match self.cfg.window {
            WindowSpec::Tumbling { size_ms } => self.place_tumbling(kid, ts, value, size_ms as i64),
            WindowSpec::Hopping { size_ms, slide_ms } => {
                self.place_hopping(kid, ts, value, size_ms as i64, slide_ms as i64)
            }
            WindowSpec::Session { gap_ms } => self.place_session(kid, ts, value, gap_ms as i64),
            WindowSpec::Count { n } => {
                self.place_count(kid, ts, value, n);
                false
            }
        };
        if late {
            self.push_late(d, m, value, ts, tags, id);
        }
        self.observe(ts);
    }

    /// Whether every window an event at `ts` belongs to has already closed.
    fn all_closed(&self, ts: i64) -> bool {
        let last_end = match self.cfg.window {
            WindowSpec::Tumbling { size_ms } => {
                window_start(ts, size_ms as i64).saturating_add(size_ms as i64)
            }
            WindowSpec::Hopping { size_ms, slide_ms } => {
                window_start(ts, slide_ms as i64).saturating_add(size_ms as i64)
            }
            WindowSpec::Session { gap_ms } => ts.saturating_add(gap_ms as i64),
            WindowSpec::Count { .. } => return false,
        };
        last_end <= self.wm
    }

    pub(super) fn push_late<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        d: &str,
        m: &str,
        value: f64,
        ts: i64,
        tags: &[(K, V)],
        id: Option<&str>,
    ) {
        self.late_count += 1;
        self.late.push(Event {
            dashboard: d.to_owned(),
            metric: m.to_owned(),
            value,
            ts_ms: ts,
            id: id.map(str::to_owned),
            tags: owned_tags(tags),
            metadata: None,
        });
    }

    /// Notes event time `ts`: a new highest time raises the watermark and may tick `updates`.
    #[inline]
    pub(super) fn observe(&mut self, ts: i64) {
        if ts > self.max_ts || !self.has_time {
            self.has_time = true;
            self.max_ts = ts;
            self.raise_watermark(ts.saturating_sub(self.lateness));
            if let Some(interval) = self.update_interval {
                let tick = ts.div_euclid(interval);
                match self.last_tick {
                    Some(prev) if tick > prev => {
                        self.last_tick = Some(tick);
                        self.emit_partials();
                    }
                    Some(_) => {}
                    None => self.last_tick = Some(tick),
                }
            }
        }
    }

    /// Raises the watermark to `wm` (never lowers it), closing and evicting what it passes.
    #[inline]
    pub(super) fn raise_watermark(&mut self, wm: i64) {
        if wm > self.wm {
            self.wm = wm;
            if wm >= self.next_close || wm >= self.next_evict {
                self.maintain();
            }
        }
    }

    /// Idle close: after `idle_close` of clock time without input, event time is taken to have moved
    /// with the clock since the last input: watermark = highest event time + quiet time − lateness.
    pub(super) fn idle_advance(&mut self, now_ms: u64) {
        let (Some(idle), Some(last)) = (self.cfg.idle_close_ms, self.last_input_clock) else {
            return;
        };
        let quiet = now_ms.saturating_sub(last);
        if quiet >= idle && self.has_time {
            let quiet = i64::try_from(quiet).unwrap_or(i64::MAX);
            let wm = self
                .max_ts
                .saturating_add(quiet)
                .saturating_sub(self.lateness);
            self.raise_watermark(wm);
        }
    }

    /// Opens a window for `kid` holding the current event (not yet inserted in the key's list).
    fn open(&mut self, kid: u32, start: i64, end: i64, value: f64, ts: i64) -> Win {
        let id = self.next_win_id;
        self.next_win_id += 1;
        let sketch = if self.cfg.quantiles.is_empty() {
            None
        } else {
            Some(self.sketch_pool.pop().unwrap_or_default())
        };
        self.open_windows += 1;
        if self.cfg.window.is_time_based() {
            self.schedule(end, id, kid);
        }
        let dirty = self.update_interval.is_some();
        if dirty {
            self.dirty.push((kid, id));
        }
        Win {
            id,
            start,
            end,
            acc: Accumulator::new(value, ts, self.seq, sketch),
            dirty,
        }
    }

    /// Adds the current event to window `pos` of `kid` and marks it changed.
    #[inline]
    fn add_to(&mut self, kid: u32, pos: usize, value: f64, ts: i64) {
        let w = &mut self.keys.slots[kid as usize].windows[pos];
        w.acc.add(value, ts, self.seq);
        if self.update_interval.is_some() && !w.dirty {
            w.dirty = true;
            self.dirty.push((kid, w.id));
        }
    }

    /// Adds the current event to the window `[start, end)` of `kid`, opening it if needed.
    fn find_or_open(&mut self, kid: u32, start: i64, end: i64, value: f64, ts: i64) {
        let windows = &self.keys.slots[kid as usize].windows;
        match windows.binary_search_by_key(&start, |w| w.start) {
            Ok(pos) => self.add_to(kid, pos, value, ts),
            Err(pos) => {
                let w = self.open(kid, start, end, value, ts);
                self.keys.slots[kid as usize].windows.insert(pos, w);
            }
        }
    }

    /// Tumbling: one window per event; late when it has closed.
    #[inline(always)]
    fn place_tumbling(&mut self, kid: u32, ts: i64, value: f64, size: i64) -> bool {
        if let Some(w) = self.keys.slots[kid as usize].windows.last_mut() {
            if ts >= w.start && ts < w.end {
                w.acc.add(value, ts, self.seq);
                if self.update_interval.is_some() && !w.dirty {
                    w.dirty = true;
                    self.dirty.push((kid, w.id));
                }
                return false;
            }
        }
        let start = window_start(ts, size);
        let end = start.saturating_add(size);
        if end <= self.wm {
            return true;
        }
        self.find_or_open(kid, start, end, value, ts);
        false
    }

    /// Hopping: the event goes to each of its still-open windows; it is late when any of them closed.
    fn place_hopping(&mut self, kid: u32, ts: i64, value: f64, size: i64, slide: i64) -> bool {
        let last_start = window_start(ts, slide);
        let span = last_start.saturating_add(size).saturating_sub(ts);
        let back = (span - 1) / slide;
        let mut late = false;
        for j in (0..=back).rev() {
            let start = last_start.saturating_sub(j * slide);
            let end = start.saturating_add(size);
            if end <= self.wm {
                late = true;
            } else {
                self.find_or_open(kid, start, end, value, ts);
            }
        }
        late
    }

    /// Session: the event's own span `[ts, ts+gap)` joins every open session it overlaps (merging them
    /// into the one opened first); late when it overlaps none and that span has already closed.
    fn place_session(&mut self, kid: u32, ts: i64, value: f64, gap: i64) -> bool {
        let own_end = ts.saturating_add(gap);
        let windows = &self.keys.slots[kid as usize].windows;
        let lo = windows.partition_point(|w| w.end <= ts);
        let hi = windows.partition_point(|w| w.start < own_end);
        if lo >= hi {
            if own_end <= self.wm {
                return true;
            }
            let w = self.open(kid, ts, own_end, value, ts);
            self.keys.slots[kid as usize].windows.insert(lo, w);
            return false;
        }
        let merged = hi - lo > 1;
        let windows = &mut self.keys.slots[kid as usize].windows;
        for _ in lo + 1..hi {
            let other = windows.remove(lo + 1);
            let target = &mut windows[lo];
            target.start = target.start.min(other.start);
            target.end = target.end.max(other.end);
            target.id = target.id.min(other.id);
            if let Some(mut spent) = target.acc.merge(other.acc) {
                spent.clear();
                self.sketch_pool.push(spent);
            }
            self.open_windows -= 1;
        }
        let w = &mut windows[lo];
        w.start = w.start.min(ts);
        w.end = w.end.max(own_end);
        if merged && self.update_interval.is_some() {
            // The survivor may carry another id now: list it again (duplicates are skipped).
            w.dirty = false;
        }
        self.add_to(kid, lo, value, ts);
        false
    }

    /// Count: every `n` events of a key form one window, closed on the n-th.
    fn place_count(&mut self, kid: u32, ts: i64, value: f64, n: u64) {
        let windows = &mut self.keys.slots[kid as usize].windows;
        let full = match windows.first_mut() {
            Some(w) => {
                w.start = w.start.min(ts);
                w.end = w.end.max(ts);
                self.add_to(kid, 0, value, ts);
                self.keys.slots[kid as usize].windows[0].acc.count >= n
            }
            None => {
                let w = self.open(kid, ts, ts, value, ts);
                let full = w.acc.count >= n;
                self.keys.slots[kid as usize].windows.push(w);
                full
            }
        };
        if full {
            let tag = self.wm;
            self.finish(kid, 0, tag);
        }
    }
}
