//! [`Ready`]: the results waiting for a poll, held in the form the last poll took — rows
//! ([`WindowResult`]s, for [`Aggregator::poll`](super::Aggregator::poll)) or columns
//! ([`ResultColumns`], for [`Aggregator::poll_columns`](super::Aggregator::poll_columns)).
//!
//! Columns are written as windows close, while the key's slot is in cache: a key seen earlier in the
//! same batch of columns reuses its texts' codes (a per-slot memo, stamped per batch), a new one
//! looks its texts up once (from the slot's inline copy of short names when it has one), and no
//! key's reference count is touched. Switching form converts what is pending, so every result is
//! returned once, in order, whichever poll takes it.

use super::config::MAX_QUANTILES;
use super::keys::{prefetch_bytes, Slot, Win};
use super::result::{estimates, WindowResult};
use super::result_columns::{Categorical, Numbers, ResultColumns, TagSets};
use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

/// Most rows of room kept for the next batch of columns after a poll.
pub(crate) const RESERVE_MAX: usize = 16_384;

/// Pending results (see the module docs). At most one of the two forms holds anything.
#[derive(Debug, Default)]
pub(super) struct Ready {
    rows: Vec<WindowResult>,
    cols: Builder,
    /// Whether new results are written as columns.
    columnar: bool,
}

impl Ready {
    /// Number of pending results.
    pub fn len(&self) -> usize {
        self.rows.len() + self.cols.out.len()
    }

    /// Adds the result of window `w` of the key in `slot` (slot id `kid`); `removals` is the key
    /// table's count of forgotten keys (a slot id names the same key only while it is unchanged).
    pub fn push(
        &mut self,
        kid: u32,
        slot: &Slot,
        removals: u64,
        w: &Win,
        quantiles: &[f64],
        is_final: bool,
    ) {
        let Some(key) = &slot.key else {
            return;
        };
        if self.columnar {
            self.cols.push(kid, slot, removals, w, quantiles, is_final);
        } else {
            self.rows
                .push(WindowResult::of(key, w, quantiles, is_final));
        }
    }

    /// When results are written as columns, asks the CPU to start loading what they keep for slot
    /// `kid` (a hint for a window a few on in the close sweep) and returns `true`.
    #[inline]
    pub fn prefetch(&self, kid: u32) -> bool {
        if self.columnar {
            if let Some(seen) = self.cols.seen.get(kid as usize) {
                prefetch_bytes(std::ptr::from_ref(seen).cast(), std::mem::size_of::<Seen>());
            }
        }
        self.columnar
    }

    /// Takes the pending results as rows; results are written as rows from now on (and what the
    /// column form kept is given back).
    pub fn take_rows(&mut self) -> Vec<WindowResult> {
        if !self.columnar {
            return std::mem::take(&mut self.rows);
        }
        self.columnar = false;
        let rows = self.cols.out.to_rows();
        self.cols = Builder::default();
        rows
    }

    /// Appends the pending results to `out` as rows; results are written as rows from now on.
    pub fn append_rows(&mut self, out: &mut Vec<WindowResult>) {
        if self.columnar {
            out.extend(self.take_rows());
        } else {
            out.append(&mut self.rows);
        }
    }

    /// Puts `front` before the pending results, as rows; results are written as rows from now on.
    pub fn put_back(&mut self, mut front: Vec<WindowResult>) {
        self.append_rows(&mut front);
        self.rows = front;
    }

    /// Makes results be written as columns from now on (pending rows are converted).
    pub fn prefer_columns(&mut self, quantiles: &[f64]) {
        if !self.columnar {
            self.columnar = true;
            self.cols.reset(quantiles, 0);
            for r in std::mem::take(&mut self.rows) {
                self.cols.push_result(&r);
            }
        }
    }

    /// Takes the pending results as columns; results are written as columns from now on. `slots`
    /// is the key table's size, which bounds the per-slot memo kept; 0 (after a flush) keeps
    /// nothing.
    pub fn take_columns(&mut self, quantiles: &[f64], slots: usize) -> ResultColumns {
        self.prefer_columns(quantiles);
        if slots == 0 {
            let out = std::mem::take(&mut self.cols.out);
            self.cols = Builder::default();
            self.cols.out = ResultColumns::new(quantiles);
            return out;
        }
        let out = std::mem::replace(&mut self.cols.out, ResultColumns::new(quantiles));
        self.cols.reset(quantiles, slots);
        // The next batch is likely to be about as long (a poll per input call): room for it now
        // saves growing the columns row by row (up to RESERVE_MAX rows: 85 bytes each, plus 8
        // per quantile column).
        self.cols.out.reserve(out.len().min(RESERVE_MAX));
        out
    }
}

/// A slot's codes in the batch being written: valid while `stamp` is the builder's.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    stamp: u32,
    codes: [u32; 3],
}

/// Columns being written (see the module docs).
#[derive(Debug)]
struct Builder {
    out: ResultColumns,
    /// Per slot id: its key's codes, when seen in this batch.
    seen: Vec<Seen>,
    /// The stamp of this batch's `seen` entries (never 0, the stamp of an entry never set).
    stamp: u32,
    /// The key table's removals count when `stamp` was taken.
    removals: u64,
    dashboards: Texts,
    metrics: Texts,
    tags: HashTable<u32>,
    build: DefaultHashBuilder,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            out: ResultColumns::default(),
            seen: Vec::new(),
            // Entries start at stamp 0: never the builder's.
            stamp: 1,
            removals: 0,
            dashboards: Texts {
                repeats: true,
                ..Texts::default()
            },
            metrics: Texts::default(),
            tags: HashTable::new(),
            build: DefaultHashBuilder::default(),
        }
    }
}

impl Builder {
    /// Starts a new batch: empty columns, no code remembered; `seen` cut to `slots` entries.
    fn reset(&mut self, quantiles: &[f64], slots: usize) {
        self.out = ResultColumns::new(quantiles);
        self.restamp();
        self.seen.truncate(slots);
        if self.seen.capacity() > 2 * slots + 64 {
            self.seen.shrink_to_fit();
        }
        self.dashboards.clear();
        self.metrics.clear();
        empty(&mut self.tags);
    }

    fn restamp(&mut self) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.iter_mut().for_each(|s| s.stamp = 0);
            self.stamp = 1;
        }
    }

    fn push(
        &mut self,
        kid: u32,
        slot: &Slot,
        removals: u64,
        w: &Win,
        quantiles: &[f64],
        is_final: bool,
    ) {
        if removals != self.removals {
            // A forgotten key's slot may hold another key now.
            self.removals = removals;
            self.restamp();
        }
        let i = kid as usize;
        if self.seen.len() <= i {
            self.seen.resize(i + 1, Seen::default());
        }
        let codes = if self.seen[i].stamp == self.stamp {
            self.seen[i].codes
        } else {
            let Some(key) = &slot.key else {
                return;
            };
            // A key with an inline copy of its names has no tags: its own allocation (out of
            // cache with many keys) is not read.
            let codes = match slot.names() {
                Some((d, m)) => self.codes(d, m, &[]),
                None => self.codes(&key.dashboard, &key.metric, &key.tags),
            };
            self.seen[i] = Seen {
                stamp: self.stamp,
                codes,
            };
            codes
        };
        self.push_codes(codes);
        if quantiles.is_empty() {
            self.out
                .push_numbers(&Numbers::of_window(w), None, is_final);
        } else {
            let mut est = [0.0; MAX_QUANTILES];
            let est = estimates(w, quantiles, &mut est);
            self.out.push_numbers(&Numbers::of_window(w), est, is_final);
        }
    }

    /// Adds a result made as a row (a pending row converted when the form changes).
    fn push_result(&mut self, r: &WindowResult) {
        let codes = self.codes(&r.key.dashboard, &r.key.metric, &r.key.tags);
        self.push_codes(codes);
        let est: Vec<f64> = r.quantiles.iter().map(|&(_, v)| v).collect();
        let est = (!est.is_empty()).then_some(est.as_slice());
        self.out
            .push_numbers(&Numbers::of_result(r), est, r.is_final);
    }

    fn push_codes(&mut self, [d, m, t]: [u32; 3]) {
        self.out.dashboard.codes.push(d);
        self.out.metric.codes.push(m);
        self.out.tags.codes.push(t);
    }

    /// The codes of a key's dashboard, metric and tag set, adding them when new.
    fn codes(&mut self, d: &str, m: &str, tags: &[(String, String)]) -> [u32; 3] {
        let build = &self.build;
        let d = self.dashboards.code(d, &mut self.out.dashboard, build);
        let m = self.metrics.code(m, &mut self.out.metric, build);
        let t = tag_code(&mut self.tags, tags, &mut self.out.tags, build);
        [d, m, t]
    }
}

/// The text → code map of one [`Categorical`] being written.
#[derive(Debug, Default)]
struct Texts {
    table: HashTable<u32>,
    /// Whether consecutive keys usually share the text (dashboards; not metrics), so that comparing
    /// with the latest one first saves a hash.
    repeats: bool,
    /// The latest code.
    last: Option<u32>,
}

impl Texts {
    fn clear(&mut self) {
        empty(&mut self.table);
        self.last = None;
    }

    fn code(&mut self, text: &str, cat: &mut Categorical, build: &DefaultHashBuilder) -> u32 {
        if let Some(c) = self.last.filter(|&c| self.repeats && cat.name(c) == text) {
            return c;
        }
        let hash = build.hash_one(text);
        let found = self.table.find(hash, |&c| cat.name(c) == text).copied();
        let c = found.unwrap_or_else(|| {
            let c = cat.push_name(text);
            self.table
                .insert_unique(hash, c, |&c| build.hash_one(cat.name(c)));
            c
        });
        self.last = Some(c);
        c
    }
}

/// The code of tag set `tags`, adding it when new (compared with the latest one first: most keys
/// of a batch share one, often the empty set).
fn tag_code(
    table: &mut HashTable<u32>,
    tags: &[(String, String)],
    sets: &mut TagSets,
    build: &DefaultHashBuilder,
) -> u32 {
    if let Some(&c) = sets.codes.last() {
        if sets.sets[c as usize] == tags {
            return c;
        }
    }
    let hash = build.hash_one(tags);
    if let Some(&c) = table.find(hash, |&c| sets.sets[c as usize] == tags) {
        return c;
    }
    let c = sets.sets.len() as u32;
    sets.sets.push(tags.to_vec());
    table.insert_unique(hash, c, |&c| build.hash_one(&sets.sets[c as usize]));
    c
}

/// Empties a table, keeping room for at most [`RESERVE_MAX`] entries for the next batch.
fn empty<T>(table: &mut HashTable<T>) {
    table.clear();
    if table.capacity() > RESERVE_MAX {
        // Empty: the hasher is never called.
        table.shrink_to(RESERVE_MAX, |_| 0);
    }
}
