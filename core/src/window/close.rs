//! Closing: the close schedule (window end → windows), the sweep that closes every window the
//! watermark passed in (end, open sequence) order, eviction of idle keys, partial results for emit mode
//! `updates`, and `flush`.

use super::aggregator::Aggregator;
use super::coded::CodeMemo;
use super::keys::{AHEAD, INLINE_WINDOWS};
use super::result::WindowResult;
use std::collections::btree_map::Entry;

/// Most spent sketches kept for reuse.
const SKETCH_POOL_MAX: usize = 4096;
/// Most spent schedule buckets kept for reuse.
const BUCKET_POOL_MAX: usize = 64;
/// Largest spent schedule bucket (in entries) kept for reuse: a burst's big buckets are freed.
const BUCKET_KEEP_MAX: usize = 1024;

impl Aggregator {
    /// Schedules window `id` of key `kid` to close when the watermark reaches `end`.
    pub(super) fn schedule(&mut self, end: i64, id: u64, kid: u32) {
        match self.sched.entry(end) {
            Entry::Occupied(e) => e.into_mut().push((id, kid)),
            Entry::Vacant(e) => {
                let mut bucket = self.bucket_pool.pop().unwrap_or_default();
                bucket.push((id, kid));
                e.insert(bucket);
            }
        }
        self.next_close = self.next_close.min(end);
    }

    /// Closes window `pos` of key `kid`: emits its final result, recycles its sketch and, when it was
    /// the key's last window, lists the key as idle since event time `tag`.
    pub(super) fn finish(&mut self, kid: u32, pos: usize, tag: i64) {
        let removals = self.keys.removals;
        let slot = &mut self.keys.slots[kid as usize];
        let w = slot.windows.remove(pos);
        self.ready
            .push(kid, slot, removals, &w, &self.cfg.quantiles, true);
        if slot.windows.spilled() && slot.windows.len() <= INLINE_WINDOWS {
            // Back inline (a key that keeps two windows open around each boundary, with lateness,
            // spills and comes back once per window).
            slot.windows.shrink_to_fit();
        }
        if slot.windows.is_empty() {
            slot.gen = slot.gen.wrapping_add(1);
            self.idle.push_back((kid, slot.gen, tag));
            self.next_evict = self.next_evict.min(tag.saturating_add(self.retain));
        }
        self.open_windows -= 1;
        self.recycle(w.acc.sketch);
    }

    fn recycle(&mut self, sketch: Option<Box<super::sketch::QuantileSketch>>) {
        if let Some(mut s) = sketch {
            if self.sketch_pool.len() < SKETCH_POOL_MAX {
                s.clear();
                self.sketch_pool.push(s);
            }
        }
    }

    /// Closes what the watermark passed and evicts keys idle for long enough.
    pub(super) fn maintain(&mut self) {
        if self.wm >= self.next_close {
            self.sweep();
        }
        if self.wm >= self.next_evict {
            self.evict();
        }
    }

    /// Closes every scheduled window whose end is at or below the watermark, in (end, id) order.
    fn sweep(&mut self) {
        while let Some(entry) = self.sched.first_entry() {
            let end = *entry.key();
            if end > self.wm {
                break;
            }
            let mut bucket = entry.remove();
            if !bucket.is_sorted_by_key(|e| e.0) {
                bucket.sort_unstable_by_key(|e| e.0);
            }
            for (j, &(id, kid)) in bucket.iter().enumerate() {
                // Prefetch the slot of the entry AHEAD on, and the key of the one half as far
                // (whose slot was prefetched earlier) — or, when results are written as columns,
                // what they keep of its slot: with many keys both are out of cache.
                if let Some(&(_, next)) = bucket.get(j + AHEAD) {
                    self.keys.prefetch(next);
                }
                if let Some(&(_, near)) = bucket.get(j + AHEAD / 2) {
                    if self.keys.worth_prefetching() && !self.ready.prefetch(near) {
                        self.keys.prefetch_key(near);
                    }
                }
                let Some(slot) = self.keys.slots.get(kid as usize) else {
                    continue;
                };
                // Gone: merged into an older session, flushed, or its key was evicted.
                let Some(pos) = slot.windows.iter().position(|w| w.id == id) else {
                    continue;
                };
                let w_end = slot.windows[pos].end;
                if w_end > end {
                    // A session that grew since it was scheduled: due later.
                    self.schedule(w_end, id, kid);
                } else {
                    self.finish(kid, pos, w_end);
                }
            }
            bucket.clear();
            if self.bucket_pool.len() < BUCKET_POOL_MAX && bucket.capacity() <= BUCKET_KEEP_MAX {
                self.bucket_pool.push(bucket);
            }
        }
        self.next_close = self.sched.keys().next().copied().unwrap_or(i64::MAX);
    }

    /// Forgets keys that have had no open window since `retain` of event time before the watermark.
    fn evict(&mut self) {
        while let Some(&(kid, gen, tag)) = self.idle.front() {
            if tag.saturating_add(self.retain) > self.wm {
                break;
            }
            self.idle.pop_front();
            let Some(slot) = self.keys.slots.get(kid as usize) else {
                continue;
            };
            if slot.gen == gen && slot.windows.is_empty() && slot.key.is_some() {
                self.keys.remove(kid);
            }
        }
        if !self.memo.fits(self.keys.len()) {
            // Most keys are gone: the name memo goes with them.
            self.memo = CodeMemo::default();
        }
        if let Some(n) = self.keys.trim() {
            self.idle.retain(|&(kid, _, _)| (kid as usize) < n);
            if self.idle.capacity() > 4 * self.idle.len().max(16) {
                self.idle.shrink_to_fit();
            }
        }
        self.next_evict = self
            .idle
            .front()
            .map_or(i64::MAX, |&(_, _, tag)| tag.saturating_add(self.retain));
    }

    /// Emits a partial result for every open window changed since its last one, in (end, id) order.
    pub(super) fn emit_partials(&mut self) {
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        for &(kid, id) in &self.dirty {
            let Some(slot) = self.keys.slots.get(kid as usize) else {
                continue;
            };
            if let Some(w) = slot.windows.iter().find(|w| w.id == id && w.dirty) {
                order.push((w.end, id, kid));
            }
        }
        self.dirty.clear();
        order.sort_unstable();
        order.dedup();
        let removals = self.keys.removals;
        for &(_, id, kid) in &order {
            let slot = &mut self.keys.slots[kid as usize];
            let Some(pos) = slot.windows.iter().position(|w| w.id == id) else {
                continue;
            };
            slot.windows[pos].dirty = false;
            let slot = &self.keys.slots[kid as usize];
            self.ready.push(
                kid,
                slot,
                removals,
                &slot.windows[pos],
                &self.cfg.quantiles,
                false,
            );
        }
        self.order = order;
    }

    /// Closes every open window (shutdown), emitting final results in (end, id) order — count windows
    /// with fewer than `n` events included — and returns every pending result. For time windows the
    /// watermark rises to the latest end closed, so that later events for those windows are late
    /// rather than opening them again. All key state is freed, with the memory that held it.
    pub fn flush(&mut self) -> Vec<WindowResult> {
        self.close_all();
        self.ready.take_rows()
    }

    /// What [`flush`](Self::flush) does but take the results: they stay pending, in the form the
    /// last poll took.
    pub(super) fn close_all(&mut self) {
        let mut all = Vec::with_capacity(self.open_windows);
        for (kid, slot) in (0u32..).zip(&mut self.keys.slots) {
            if slot.key.is_some() {
                all.extend(slot.windows.drain(..).map(|w| (kid, w)));
            }
        }
        all.sort_unstable_by_key(|(_, w)| (w.end, w.id));
        let mut max_end = self.wm;
        let removals = self.keys.removals;
        for (kid, w) in all {
            let slot = &self.keys.slots[kid as usize];
            self.ready
                .push(kid, slot, removals, &w, &self.cfg.quantiles, true);
            max_end = max_end.max(w.end);
            // Freed, not pooled: the pools go below.
            drop(w.acc.sketch);
        }
        if self.cfg.window.is_time_based() && self.has_time {
            self.wm = max_end;
        }
        // Every container's memory goes back too (an aggregator may go on after a flush, but with
        // what it held then gone, its memory should be too).
        self.sched.clear();
        self.bucket_pool = Vec::new();
        self.sketch_pool = Vec::new();
        self.next_close = i64::MAX;
        self.idle = Default::default();
        self.next_evict = i64::MAX;
        self.dirty = Vec::new();
        self.order = Vec::new();
        self.keys.clear();
        self.memo = CodeMemo::default();
        self.open_windows = 0;
    }
}
