//! Categorical batch input: [`Names`] (a text column given as one name, one name per row, or
//! dictionary-encoded: distinct names plus one integer [`Codes`] entry per row, as pandas'
//! `Categorical` and Arrow's dictionary arrays hold them), Arrow-style validity [`Bitmap`]s, and
//! [`Aggregator::add_batch`], which validates the whole [`Batch`] before applying any row.
//!
//! A coded column is applied without touching a string per row: each distinct name is resolved to
//! its key slot once per call (hashed and interned the first time a row uses it) and the rows go
//! straight to that slot. The name → slot map ([`CodeMemo`]) is kept across calls and each entry is
//! checked against its slot's key the first time a call uses it, so a caller that sends the same
//! categories call after call pays one byte comparison per name instead of a hash and a probe; a key
//! forgotten mid-call makes every entry checked again, so the results are exactly those of adding the
//! rows one by one. While a row is placed, the slot of a row a few on is prefetched once the slots
//! outgrow the cache: with many keys each row would otherwise wait for memory (with few, the
//! prefetches cost more than they save).

use super::aggregator::Aggregator;
use super::batch::Column;
use super::keys::{check_name, check_tags, prefetch_str, AHEAD};
use crate::error::{Error, Result};

/// Row codes of a categorical column: indexes into its names, in the integer width the producer
/// used (pandas picks the smallest signed one; Arrow dictionaries may use any). A negative code is
/// a null (pandas writes -1 for a missing value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Codes<'a> {
    /// int8 codes.
    I8(&'a [i8]),
    /// int16 codes.
    I16(&'a [i16]),
    /// int32 codes.
    I32(&'a [i32]),
    /// int64 codes.
    I64(&'a [i64]),
    /// uint8 codes.
    U8(&'a [u8]),
    /// uint16 codes.
    U16(&'a [u16]),
    /// uint32 codes.
    U32(&'a [u32]),
    /// uint64 codes.
    U64(&'a [u64]),
}

/// Applies `$body` with `$rows` bound to the typed slice of a [`Codes`].
macro_rules! with_codes {
    ($codes:expr, $rows:ident => $body:expr) => {
        match $codes {
            Codes::I8($rows) => $body,
            Codes::I16($rows) => $body,
            Codes::I32($rows) => $body,
            Codes::I64($rows) => $body,
            Codes::U8($rows) => $body,
            Codes::U16($rows) => $body,
            Codes::U32($rows) => $body,
            Codes::U64($rows) => $body,
        }
    };
}

/// An integer code read as a name index (`None`: negative, a null).
trait Code: Copy {
    fn index(self) -> Option<u64>;
}

macro_rules! signed_code {
    ($($t:ty),*) => {$(
        impl Code for $t {
            #[inline(always)]
            fn index(self) -> Option<u64> {
                u64::try_from(self).ok()
            }
        }
    )*};
}
signed_code!(i8, i16, i32, i64);

macro_rules! unsigned_code {
    ($($t:ty),*) => {$(
        impl Code for $t {
            #[inline(always)]
            fn index(self) -> Option<u64> {
                Some(u64::from(self))
            }
        }
    )*};
}
unsigned_code!(u8, u16, u32, u64);

/// A batch checks all its names up front (rather than finding the names its rows use) when it has
/// at least this many rows per name.
const ROWS_PER_NAME_CHECKED: usize = 4;

/// Whether every code is a name index below `names`: the smallest and largest code, in one pass
/// without branches.
fn all_in_range<C: Code + Ord>(rows: &[C], names: usize) -> bool {
    let Some(&first) = rows.first() else {
        return true;
    };
    let (lo, hi) = rows
        .iter()
        .fold((first, first), |(lo, hi), &c| (lo.min(c), hi.max(c)));
    lo.index().is_some() && hi.index().is_some_and(|h| h < names as u64)
}

impl Codes<'_> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        with_codes!(self, rows => rows.len())
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The codes of rows `start..end`.
    pub fn slice(&self, start: usize, end: usize) -> Self {
        match self {
            Codes::I8(r) => Codes::I8(&r[start..end]),
            Codes::I16(r) => Codes::I16(&r[start..end]),
            Codes::I32(r) => Codes::I32(&r[start..end]),
            Codes::I64(r) => Codes::I64(&r[start..end]),
            Codes::U8(r) => Codes::U8(&r[start..end]),
            Codes::U16(r) => Codes::U16(&r[start..end]),
            Codes::U32(r) => Codes::U32(&r[start..end]),
            Codes::U64(r) => Codes::U64(&r[start..end]),
        }
    }

    /// The name index of row `i` (validated rows only).
    #[inline(always)]
    fn at(&self, i: usize) -> usize {
        with_codes!(self, rows => rows[i].index().unwrap_or(0) as usize)
    }
}

/// A validity bitmap in Arrow's layout: row `i` is present when bit `offset + i` is set (least
/// significant bit first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bitmap<'a> {
    /// The bits.
    pub bits: &'a [u8],
    /// Bit of row 0.
    pub offset: usize,
}

impl Bitmap<'_> {
    /// The first null row among the first `n` (`what` names the column in the error);
    /// `invalid_input` when the bitmap is too short.
    pub fn first_null(&self, what: &str, n: usize) -> Result<Option<usize>> {
        if self.bits.len() * 8 < self.offset + n {
            return Err(Error::invalid(format!(
                "{what}: the validity bitmap is shorter than the column"
            )));
        }
        Ok((0..n).find(|&i| {
            let bit = self.offset + i;
            self.bits[bit / 8] & (1 << (bit % 8)) == 0
        }))
    }
}

/// A text column (dashboards or metrics) of a [`Batch`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Names<'a> {
    /// The same name for every row.
    One(&'a str),
    /// One name per row.
    Each(&'a [&'a str]),
    /// Dictionary-encoded: row `i` is `names[codes[i]]`; a row whose `valid` bit is clear (or whose
    /// code is negative) is a null, which is refused.
    Coded {
        /// The distinct names (a bad name no row uses is not refused).
        names: &'a [&'a str],
        /// One code per row.
        codes: Codes<'a>,
        /// Validity of the rows, if the column has one.
        valid: Option<Bitmap<'a>>,
    },
}

impl<'a> Names<'a> {
    /// The name of row `i` (validated rows only).
    #[inline(always)]
    fn at(&self, i: usize) -> &'a str {
        match self {
            Names::One(name) => name,
            Names::Each(rows) => rows[i],
            Names::Coded { names, codes, .. } => names[codes.at(i)],
        }
    }

    /// Checks the rows' length, codes and names, reporting the first bad row as `what[i]`.
    fn check(&self, what: &str, n: usize) -> Result<()> {
        let at_row = |i: usize, e: Error| match e {
            Error::InvalidInput(msg) => Error::invalid(format!("{what}[{i}]: {msg}")),
            other => other,
        };
        let label = what.trim_end_matches('s');
        match self {
            Names::One(name) => check_name(label, name),
            Names::Each(rows) => {
                if rows.len() != n {
                    return Err(Error::invalid(format!(
                        "{what} has {} rows, values has {n}",
                        rows.len()
                    )));
                }
                rows.iter()
                    .enumerate()
                    .try_for_each(|(i, name)| check_name(label, name).map_err(|e| at_row(i, e)))
            }
            Names::Coded {
                names,
                codes,
                valid,
            } => {
                if codes.len() != n {
                    return Err(Error::invalid(format!(
                        "{what} has {} codes, values has {n}",
                        codes.len()
                    )));
                }
                if let Some(i) = valid.map(|v| v.first_null(what, n)).transpose()?.flatten() {
                    return Err(Error::invalid(format!("{what}[{i}] is null")));
                }
                // The usual batch: every code in range (one pass over the codes without branches)
                // and every name valid (checked once each, when names are few next to rows).
                if names.len() <= n / ROWS_PER_NAME_CHECKED
                    && with_codes!(codes, rows => all_in_range(rows, names.len()))
                    && names.iter().all(|name| check_name(label, name).is_ok())
                {
                    return Ok(());
                }
                // Otherwise the first row using each name: only used names are checked, and an
                // error names a row.
                let mut first_use = vec![usize::MAX; names.len()];
                with_codes!(codes, rows => {
                    for (i, &c) in rows.iter().enumerate() {
                        let Some(k) = c.index() else {
                            return Err(Error::invalid(format!("{what}[{i}] is null (code {c})")));
                        };
                        let slot = usize::try_from(k).ok().and_then(|k| first_use.get_mut(k));
                        let Some(slot) = slot else {
                            return Err(Error::invalid(format!(
                                "{what}[{i}]: code {c} is out of range ({} names)",
                                names.len()
                            )));
                        };
                        if *slot == usize::MAX {
                            *slot = i;
                        }
                    }
                });
                // The bad name whose first use comes first names the row (no sort: one pass).
                let mut bad: Option<(usize, Error)> = None;
                for (name, &row) in names.iter().zip(&first_use) {
                    if row == usize::MAX || bad.as_ref().is_some_and(|(r, _)| *r < row) {
                        continue;
                    }
                    if let Err(e) = check_name(label, name) {
                        bad = Some((row, e));
                    }
                }
                bad.map_or(Ok(()), |(row, e)| Err(at_row(row, e)))
            }
        }
    }
}

/// A batch of rows given as columns, for [`Aggregator::add_batch`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Batch<'a> {
    /// Dashboard of each row.
    pub dashboards: Names<'a>,
    /// Metric of each row.
    pub metrics: Names<'a>,
    /// Value of each row (its length is the batch's).
    pub values: &'a [f64],
    /// Validity of `values`, if the column has one (a null is refused).
    pub values_valid: Option<Bitmap<'a>>,
    /// Event time of each row (ms).
    pub ts: Column<'a, i64>,
    /// Validity of `ts`, if the column has one (a null is refused).
    pub ts_valid: Option<Bitmap<'a>>,
    /// Tags of every row (need not be sorted).
    pub tags: &'a [(&'a str, &'a str)],
}

impl Batch<'_> {
    /// Checks the whole batch: lengths, nulls, codes (each below the number of names), finite
    /// values, the names rows use, tags. Returns whether the tags are sorted.
    fn check(&self) -> Result<bool> {
        let n = self.values.len();
        self.dashboards.check("dashboards", n)?;
        self.metrics.check("metrics", n)?;
        if let Column::Each(rows) = self.ts {
            if rows.len() != n {
                return Err(Error::invalid(format!(
                    "ts has {} rows, values has {n}",
                    rows.len()
                )));
            }
        }
        if let (Some(valid), Column::Each(_)) = (self.ts_valid, self.ts) {
            if let Some(i) = valid.first_null("ts", n)? {
                return Err(Error::invalid(format!("ts[{i}] is null")));
            }
        }
        let null = self.values_valid.map(|v| v.first_null("values", n));
        if let Some(i) = null.transpose()?.flatten() {
            return Err(Error::invalid(format!("values[{i}] is null")));
        }
        if let Some(i) = self.values.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "values[{i}] is not finite ({})",
                self.values[i]
            )));
        }
        check_tags(self.tags)
    }
}

impl Aggregator {
    /// Adds the rows of `batch`. The whole batch is validated first — lengths, nulls, codes (each
    /// below the number of names), finite values, the names rows use, tags — and refused with
    /// `invalid_input` naming the first bad row, without applying any row; `too_large` as
    /// [`add`](Aggregator::add). Returns the number of rows applied, late ones included. The
    /// results are those of adding the rows one by one, in order.
    pub fn add_batch(&mut self, batch: Batch<'_>) -> Result<usize> {
        self.add_batches(&[batch])
    }

    /// Adds several batches (the chunks of one table) as one input: every batch is validated before
    /// any row is applied (an error names the batch, `batch 2: metrics[7] ...`, when there are
    /// several), then they are applied in order. Errors as [`add_batch`](Self::add_batch).
    pub fn add_batches(&mut self, batches: &[Batch<'_>]) -> Result<usize> {
        let mut sorted = Vec::with_capacity(batches.len());
        for (j, b) in batches.iter().enumerate() {
            let ok = b.check().map_err(|e| match e {
                Error::InvalidInput(msg) if batches.len() > 1 => {
                    Error::invalid(format!("batch {j}: {msg}"))
                }
                other => other,
            })?;
            sorted.push(ok);
        }
        let now = self.begin_input()?;
        let mut rows = 0;
        for (b, &ok) in batches.iter().zip(&sorted) {
            if ok {
                self.apply_batch(b, b.tags);
            } else {
                let mut tags = b.tags.to_vec();
                tags.sort_unstable();
                self.apply_batch(b, &tags);
            }
            rows += b.values.len();
        }
        self.end_input(now);
        Ok(rows)
    }

    /// Applies a validated batch whose tags are sorted.
    fn apply_batch(&mut self, b: &Batch<'_>, tags: &[(&str, &str)]) {
        match (b.dashboards, b.metrics) {
            (Names::One(d), Names::One(m)) => {
                let hash = self.keys.hash(d, m, tags);
                for (i, &v) in b.values.iter().enumerate() {
                    self.ingest(hash, d, m, v, b.ts.get(i), tags, None);
                }
            }
            (Names::One(d), Names::Coded { names, codes, .. }) => {
                self.apply_coded(names.len(), codes, b, tags, |k| (d, names[k]));
            }
            (Names::Coded { names, codes, .. }, Names::One(m)) => {
                self.apply_coded(names.len(), codes, b, tags, |k| (names[k], m));
            }
            (ds, ms) => {
                for (i, &v) in b.values.iter().enumerate() {
                    let (d, m) = (ds.at(i), ms.at(i));
                    let hash = self.keys.hash(d, m, tags);
                    self.ingest(hash, d, m, v, b.ts.get(i), tags, None);
                }
            }
        }
    }

    /// Applies validated rows whose key is `key_of(code)`. Each code's slot comes from the
    /// [`CodeMemo`] (checked against the slot's key the first time a call uses it) or from a lookup,
    /// and the slot of the row [`AHEAD`] rows on is prefetched while this one is placed (once the
    /// slots outgrow the cache: [`super::keys::KeyTable::worth_prefetching`]).
    fn apply_coded<'n>(
        &mut self,
        names: usize,
        codes: Codes<'_>,
        b: &Batch<'_>,
        tags: &[(&str, &str)],
        key_of: impl Fn(usize) -> (&'n str, &'n str),
    ) {
        let mut memo = std::mem::take(&mut self.memo);
        memo.begin(names);
        let mut epoch = self.keys.removals;
        with_codes!(codes, rows => {
            for (i, (&c, &v)) in rows.iter().zip(b.values).enumerate() {
                let ahead = rows.get(i + AHEAD).filter(|_| self.keys.worth_prefetching());
                if let Some(&ahead) = ahead {
                    let k = ahead.index().unwrap_or(0) as usize;
                    if let Some(e) = memo.entries.get(k) {
                        self.keys.prefetch(e.kid);
                        if e.stamp != memo.stamp {
                            // And its name, which the memo's check will compare with the slot's.
                            let (d, m) = key_of(k);
                            prefetch_str(d);
                            prefetch_str(m);
                        }
                    }
                }
                let k = c.index().unwrap_or(0) as usize;
                let ts = b.ts.get(i);
                if self.keys.removals != epoch {
                    // A forgotten key's slot may be reused: check every entry again before use.
                    memo.restamp();
                    epoch = self.keys.removals;
                }
                self.seq += 1;
                let (d, m) = key_of(k);
                let e = memo.entries[k];
                let kid = if e.stamp == memo.stamp {
                    e.kid
                } else if self.keys.holds(e.kid, d, m, tags) {
                    memo.entries[k].stamp = memo.stamp;
                    e.kid
                } else {
                    let hash = self.keys.hash(d, m, tags);
                    match self.slot_for(hash, d, m, tags, ts) {
                        Some(kid) => {
                            memo.entries[k] = MemoEntry { kid, stamp: memo.stamp };
                            kid
                        }
                        None => {
                            self.push_late(d, m, v, ts, tags, None);
                            self.observe(ts);
                            continue;
                        }
                    }
                };
                self.place(kid, d, m, v, ts, tags, None);
            }
        });
        // Kept for the next call only while it is small next to the keys themselves (a column
        // with many unused categories gets a memo for this call only).
        if memo.fits(self.keys.len()) {
            self.memo = memo;
        }
    }
}

/// Names a [`CodeMemo`] may have beyond two per interned key and still be kept between calls: the
/// memo (8 bytes per name, its capacity at most twice its length plus 64) retains at most 32 bytes
/// per key (some 7% of a key's cost) plus about 64 KiB.
const MEMO_SPARE: usize = 4096;

/// A slot id no key has.
const UNKNOWN: u32 = u32::MAX;

/// The categorical columns' name code → key slot map, kept across calls.
///
/// Entry `k` is the slot the name of code `k` had when last seen. It is trusted while its stamp is
/// the current one (set during this call, no key forgotten since) and otherwise checked against the
/// slot's key before use, so it stays right when the names, their order or the tags change between
/// calls, and saves the hash and the table probe when they do not (the usual case: the same
/// categories call after call). Its size follows the last call's number of names, and it is kept
/// only while that is at most two per interned key plus [`MEMO_SPARE`]: it is dropped at the end of
/// a call over more names, when eviction leaves it larger than that, and on `flush()`.
#[derive(Debug, Default)]
pub(super) struct CodeMemo {
    entries: Vec<MemoEntry>,
    /// The stamp of entries trusted now (0: none).
    pub(super) stamp: u32,
}

/// One name's remembered slot.
#[derive(Debug, Clone, Copy)]
struct MemoEntry {
    kid: u32,
    stamp: u32,
}

impl CodeMemo {
    /// Starts a call over `names` names: one entry each, none trusted yet.
    fn begin(&mut self, names: usize) {
        let stale = MemoEntry {
            kid: UNKNOWN,
            stamp: 0,
        };
        self.entries.resize(names, stale);
        if self.entries.capacity() > 2 * names + 64 {
            self.entries.shrink_to_fit();
        }
        self.restamp();
    }

    /// Whether the memo is small enough to keep next to `keys` interned keys (see [`MEMO_SPARE`]).
    pub(super) fn fits(&self, keys: usize) -> bool {
        self.entries.len() <= 2 * keys + MEMO_SPARE
    }

    /// Makes every entry untrusted (a new stamp; entries are reset when the counter wraps).
    fn restamp(&mut self) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.entries.iter_mut().for_each(|e| e.stamp = 0);
            self.stamp = 1;
        }
    }
}
