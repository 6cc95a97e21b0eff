//! [`ResultColumns`]: window results as columns, one vector per field, with the dashboards, metrics
//! and tag sets dictionary-encoded: what [`Aggregator::poll_columns`] and
//! [`Aggregator::flush_columns`] return.
//!
//! A poll at many keys returns about one result per key and window (100k keys, 1 s windows: ~920,000
//! results per million events). As [`WindowResult`]s each one is a struct with its own reference to
//! its key, and a binding makes one object of it; as columns a binding hands out a handful of arrays
//! (an Arrow record batch in Python, TypedArrays in Node) whatever the number of results, and the
//! aggregator writes the columns while it closes the windows (`ready.rs`), when their state is in
//! cache, without touching the keys' reference counts. Rows are in the order [`Aggregator::poll`]
//! would have returned them, and row `i` holds exactly the fields of that [`WindowResult`]
//! ([`ResultColumns::row`]).

use super::aggregator::Aggregator;
use super::keys::Win;
use super::result::WindowResult;
use crate::event::Key;
use std::sync::Arc;

/// Window results as columns (see the module docs). Row `i` of every column belongs to the same
/// result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultColumns {
    /// The dashboards, dictionary-encoded.
    pub dashboard: Categorical,
    /// The metrics, dictionary-encoded.
    pub metric: Categorical,
    /// The keys' tags, dictionary-encoded by set.
    pub tags: TagSets,
    /// Per row: window start in ms (see [`WindowResult::start_ms`]).
    pub start_ms: Vec<i64>,
    /// Per row: window end in ms (see [`WindowResult::end_ms`]).
    pub end_ms: Vec<i64>,
    /// Per row: number of events.
    pub count: Vec<u64>,
    /// Per row: sum of the values.
    pub sum: Vec<f64>,
    /// Per row: smallest value.
    pub min: Vec<f64>,
    /// Per row: largest value.
    pub max: Vec<f64>,
    /// Per row: `sum / count`.
    pub mean: Vec<f64>,
    /// Per row: value of the earliest event.
    pub first: Vec<f64>,
    /// Per row: value of the latest event.
    pub last: Vec<f64>,
    /// The configured quantiles (`0.5`, `0.99`), in configuration order: one column each in
    /// [`quantile_values`](Self::quantile_values).
    pub quantiles: Vec<f64>,
    /// Per quantile of [`quantiles`](Self::quantiles), per row: its estimate (NaN for a result
    /// without quantiles, which an aggregator configured with them does not make).
    pub quantile_values: Vec<Vec<f64>>,
    /// Per row: `true` for a window's final result, `false` for a partial update.
    pub is_final: Vec<bool>,
}

/// A text column, dictionary-encoded: each distinct text once (unique, as pandas' and Arrow's
/// categories want them) and a code per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Categorical {
    /// The distinct texts, one after the other: text `c` is `bytes[offsets[c]..offsets[c + 1]]`.
    pub bytes: String,
    /// `names + 1` offsets into [`bytes`](Self::bytes), starting at 0 (the Arrow layout).
    pub offsets: Vec<usize>,
    /// Per row: the index of its text.
    pub codes: Vec<u32>,
}

impl Default for Categorical {
    fn default() -> Self {
        Categorical {
            bytes: String::new(),
            offsets: vec![0],
            codes: Vec::new(),
        }
    }
}

impl Categorical {
    /// Number of distinct texts.
    pub fn names_len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Text `c` (empty past the end).
    pub fn name(&self, c: u32) -> &str {
        let c = c as usize;
        match (self.offsets.get(c), self.offsets.get(c + 1)) {
            (Some(&a), Some(&b)) => self.bytes.get(a..b).unwrap_or(""),
            _ => "",
        }
    }

    /// The distinct texts, in code order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.names_len() as u32).map(|c| self.name(c))
    }

    /// Adds text `name` as the next code (the caller checked that it is new).
    pub(super) fn push_name(&mut self, name: &str) -> u32 {
        let code = self.names_len() as u32;
        self.bytes.push_str(name);
        self.offsets.push(self.bytes.len());
        code
    }
}

/// The tags column, dictionary-encoded by set: each distinct set of tags once (sorted by name) and
/// a code per row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagSets {
    /// The distinct tag sets (the first one of a batch without tags is the empty set).
    pub sets: Vec<Vec<(String, String)>>,
    /// Per row: the index of its set.
    pub codes: Vec<u32>,
}

impl TagSets {
    /// The size of the tags written out row by row, as a map column (Arrow's) holds them: the
    /// number of entries, the bytes of their names and the bytes of their values, over all rows.
    /// A binding checks these against its format's limits (Arrow's 32-bit offsets) before building.
    pub fn expanded_size(&self) -> (usize, usize, usize) {
        let per_set: Vec<(usize, usize, usize)> = self
            .sets
            .iter()
            .map(|set| {
                let names = set.iter().map(|(k, _)| k.len()).sum();
                let values = set.iter().map(|(_, v)| v.len()).sum();
                (set.len(), names, values)
            })
            .collect();
        self.codes.iter().fold((0, 0, 0), |(e, n, v), &c| {
            let (se, sn, sv) = per_set.get(c as usize).copied().unwrap_or_default();
            (
                e.saturating_add(se),
                n.saturating_add(sn),
                v.saturating_add(sv),
            )
        })
    }
}

/// The numbers of one result: a row of [`ResultColumns`] but its texts, quantiles and finality.
pub(super) struct Numbers {
    start_ms: i64,
    end_ms: i64,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    mean: f64,
    first: f64,
    last: f64,
}

impl Numbers {
    /// The numbers of window `w`'s result (as [`WindowResult::of`] makes them).
    pub(super) fn of_window(w: &Win) -> Self {
        let acc = &w.acc;
        Numbers {
            start_ms: w.start,
            end_ms: w.end,
            count: acc.count,
            sum: acc.sum,
            min: acc.min,
            max: acc.max,
            mean: acc.mean(),
            first: acc.first.value,
            last: acc.last.value,
        }
    }

    /// The result of `key` with these numbers.
    pub(super) fn into_result(
        self,
        key: Arc<Key>,
        quantiles: Vec<(f64, f64)>,
        is_final: bool,
    ) -> WindowResult {
        WindowResult {
            key,
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            count: self.count,
            sum: self.sum,
            min: self.min,
            max: self.max,
            mean: self.mean,
            first: self.first,
            last: self.last,
            quantiles,
            is_final,
        }
    }

    /// The numbers of a result.
    pub(super) fn of_result(r: &WindowResult) -> Self {
        Numbers {
            start_ms: r.start_ms,
            end_ms: r.end_ms,
            count: r.count,
            sum: r.sum,
            min: r.min,
            max: r.max,
            mean: r.mean,
            first: r.first,
            last: r.last,
        }
    }
}

impl ResultColumns {
    /// Empty columns with one quantile column per entry of `quantiles`.
    pub fn new(quantiles: &[f64]) -> Self {
        ResultColumns {
            quantiles: quantiles.to_vec(),
            quantile_values: vec![Vec::new(); quantiles.len()],
            ..Self::default()
        }
    }

    /// Makes room for `n` more rows.
    pub(super) fn reserve(&mut self, n: usize) {
        for codes in [
            &mut self.dashboard.codes,
            &mut self.metric.codes,
            &mut self.tags.codes,
        ] {
            codes.reserve(n);
        }
        self.start_ms.reserve(n);
        self.end_ms.reserve(n);
        self.count.reserve(n);
        for col in [
            &mut self.sum,
            &mut self.min,
            &mut self.max,
            &mut self.mean,
            &mut self.first,
            &mut self.last,
        ] {
            col.reserve(n);
        }
        self.quantile_values.iter_mut().for_each(|c| c.reserve(n));
        self.is_final.reserve(n);
    }

    /// Number of rows (results).
    pub fn len(&self) -> usize {
        self.start_ms.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.start_ms.is_empty()
    }

    /// Appends the numbers of one result (the caller pushes its texts' codes); `estimates` holds
    /// one value per configured quantile, or is `None` for none.
    pub(super) fn push_numbers(&mut self, n: &Numbers, estimates: Option<&[f64]>, is_final: bool) {
        self.start_ms.push(n.start_ms);
        self.end_ms.push(n.end_ms);
        self.count.push(n.count);
        self.sum.push(n.sum);
        self.min.push(n.min);
        self.max.push(n.max);
        self.mean.push(n.mean);
        self.first.push(n.first);
        self.last.push(n.last);
        self.is_final.push(is_final);
        for (j, col) in self.quantile_values.iter_mut().enumerate() {
            col.push(
                estimates
                    .and_then(|e| e.get(j))
                    .copied()
                    .unwrap_or(f64::NAN),
            );
        }
    }

    /// Row `i` as a [`WindowResult`] (`None` past the end): what [`Aggregator::poll`] would have
    /// returned in its place (with a key of its own rather than the aggregator's interned one).
    pub fn row(&self, i: usize) -> Option<WindowResult> {
        let tags = self.tags.sets.get(*self.tags.codes.get(i)? as usize)?;
        let key = Key {
            dashboard: self
                .dashboard
                .name(*self.dashboard.codes.get(i)?)
                .to_owned(),
            metric: self.metric.name(*self.metric.codes.get(i)?).to_owned(),
            tags: tags.clone(),
        };
        let numbers = Numbers {
            start_ms: *self.start_ms.get(i)?,
            end_ms: *self.end_ms.get(i)?,
            count: *self.count.get(i)?,
            sum: *self.sum.get(i)?,
            min: *self.min.get(i)?,
            max: *self.max.get(i)?,
            mean: *self.mean.get(i)?,
            first: *self.first.get(i)?,
            last: *self.last.get(i)?,
        };
        let quantiles = self
            .quantiles
            .iter()
            .zip(&self.quantile_values)
            .filter_map(|(&q, col)| Some((q, *col.get(i)?)))
            .filter(|(_, v)| !v.is_nan())
            .collect();
        Some(numbers.into_result(Arc::new(key), quantiles, *self.is_final.get(i)?))
    }

    /// Every row as a [`WindowResult`], in order; a key shared by several rows is made once.
    pub fn to_rows(&self) -> Vec<WindowResult> {
        let mut made: hashbrown::HashMap<[u32; 3], Arc<Key>> = hashbrown::HashMap::new();
        (0..self.len())
            .filter_map(|i| {
                let mut r = self.row(i)?;
                let id = [
                    self.dashboard.codes[i],
                    self.metric.codes[i],
                    self.tags.codes[i],
                ];
                r.key = Arc::clone(made.entry(id).or_insert(r.key));
                Some(r)
            })
            .collect()
    }
}

impl Aggregator {
    /// Like [`poll`](Self::poll), as columns: the results ready so far, oldest first, without a
    /// struct (and, in a binding, an object) per result. From this call on, the aggregator writes
    /// its results as columns as it closes windows, until [`poll`](Self::poll),
    /// [`poll_into`](Self::poll_into) or [`flush`](Self::flush) asks for rows again (either way
    /// every result is returned once, in order).
    pub fn poll_columns(&mut self) -> ResultColumns {
        self.check_idle();
        let slots = self.keys.slots.len();
        self.ready.take_columns(&self.cfg.quantiles, slots)
    }

    /// Like [`flush`](Self::flush), as columns.
    pub fn flush_columns(&mut self) -> ResultColumns {
        self.ready.prefer_columns(&self.cfg.quantiles);
        self.close_all();
        self.ready.take_columns(&self.cfg.quantiles, 0)
    }

    /// Puts back results that [`poll_columns`](Self::poll_columns) or
    /// [`flush_columns`](Self::flush_columns) returned and the caller could not hand on (a binding
    /// whose format cannot hold them): they come first in the next poll, so nothing is lost.
    pub fn unpoll_columns(&mut self, results: ResultColumns) {
        self.ready.put_back(results.to_rows());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{AggregatorConfig, EmitMode, WindowSpec};

    #[test]
    fn results_put_back_come_first_in_the_next_poll() {
        for cfg in configs() {
            let (mut a, mut b) = (
                Aggregator::new(cfg.clone()).unwrap(),
                Aggregator::new(cfg).unwrap(),
            );
            let mut want = Vec::new();
            let mut got = Vec::new();
            for i in 0..2_500 {
                feed(&mut a, i);
                feed(&mut b, i);
                if i % 97 == 96 {
                    want.extend(a.poll());
                    // b takes its results as columns, gives them back, and polls again later.
                    let cols = b.poll_columns();
                    b.unpoll_columns(cols);
                    if i % 3 == 0 {
                        got.extend(b.poll_columns().to_rows());
                    } else if i % 3 == 1 {
                        got.extend(b.poll());
                    }
                }
            }
            want.extend(a.flush());
            let cols = b.flush_columns();
            b.unpoll_columns(cols);
            got.extend(b.poll());
            assert_eq!(got, want);
            assert!(b.poll_columns().is_empty());
        }
    }

    #[test]
    fn tags_expanded_size_counts_every_row() {
        let tags = TagSets {
            sets: vec![
                Vec::new(),
                vec![
                    ("host".into(), "a1".into()),
                    ("dc".into(), "eu-west".into()),
                ],
            ],
            codes: vec![1, 0, 1, 1],
        };
        // 3 rows of 2 entries: names 6 bytes a row, values 9.
        assert_eq!(tags.expanded_size(), (6, 18, 27));
        assert_eq!(TagSets::default().expanded_size(), (0, 0, 0));
    }

    fn configs() -> Vec<AggregatorConfig> {
        let mut updates = AggregatorConfig::new(WindowSpec::tumbling(1_000));
        updates.quantiles = vec![0.5, 0.99];
        updates.emit = EmitMode::Updates { interval_ms: 250 };
        updates.lateness_ms = 200;
        let mut hopping = AggregatorConfig::new(WindowSpec::hopping(2_000, 500));
        hopping.quantiles = vec![0.9];
        vec![
            AggregatorConfig::new(WindowSpec::tumbling(1_000)),
            updates,
            hopping,
            AggregatorConfig::new(WindowSpec::session(700)),
            AggregatorConfig::new(WindowSpec::count(5)),
        ]
    }

    /// Events over ~4 minutes of event time (keys are forgotten and their slots reused), on two
    /// dashboards, with short names (kept inline in the slot), long ones (not), tags shared by
    /// several keys, and late rows.
    fn feed(agg: &mut Aggregator, i: i64) {
        let long = "a.metric.name.longer.than.sixteen.bytes";
        let metric = match i % 9 {
            0 => long.to_owned(),
            k => format!("m{}", i / 400 + k),
        };
        let tags: &[(&str, &str)] = match i % 4 {
            0 => &[("host", "a")],
            1 => &[("host", "b"), ("zone", "z")],
            _ => &[],
        };
        let d = if i % 5 == 0 { "d2" } else { "d1" };
        let ts = i * 40 - if i % 31 == 0 { 900 } else { 0 };
        agg.add_parts(d, &metric, (i % 17) as f64 - 4.5, ts, tags, None)
            .unwrap();
    }

    /// Each batch of columns: every row's codes name existing texts, and texts and tag sets are
    /// unique.
    fn check_batch(cols: &ResultColumns) {
        for cat in [&cols.dashboard, &cols.metric] {
            assert_eq!(cat.codes.len(), cols.len());
            assert!(cat.codes.iter().all(|&c| (c as usize) < cat.names_len()));
            let mut names: Vec<&str> = cat.names().collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), cat.names_len(), "texts are unique");
        }
        assert_eq!(cols.tags.codes.len(), cols.len());
        for (i, s) in cols.tags.sets.iter().enumerate() {
            assert!(!cols.tags.sets[..i].contains(s), "tag sets are unique");
        }
        assert!(cols.quantile_values.iter().all(|q| q.len() == cols.len()));
    }

    /// Polling as columns, as rows, or switching between the two gives the results, in order, that
    /// polling as rows only gives.
    #[test]
    fn every_poll_pattern_gives_the_rows_poll_gives() {
        let patterns: [fn(usize) -> bool; 3] = [|_| true, |n| n % 2 == 0, |n| n % 5 < 3];
        // Polls every ~4 s of event time, and every 100 s: then a batch spans keys forgotten and
        // slots reused by other keys.
        let cases = configs()
            .into_iter()
            .flat_map(|c| [(c.clone(), 97), (c, 2_500)]);
        for (cfg, every) in cases {
            for (p, columns) in patterns.iter().enumerate() {
                let mut want_agg = Aggregator::new(cfg.clone()).unwrap();
                let mut agg = Aggregator::new(cfg.clone()).unwrap();
                let (mut want, mut got) = (Vec::new(), Vec::new());
                let mut polls = 0;
                for i in 0..6_000 {
                    feed(&mut want_agg, i);
                    feed(&mut agg, i);
                    if i % every == 0 {
                        want.extend(want_agg.poll());
                        if columns(polls) {
                            let cols = agg.poll_columns();
                            check_batch(&cols);
                            got.extend(cols.to_rows());
                        } else {
                            got.extend(agg.poll());
                        }
                        polls += 1;
                    }
                }
                assert_eq!(agg.stats(), want_agg.stats());
                want.extend(want_agg.flush());
                if p == 1 {
                    got.extend(agg.flush());
                } else {
                    let cols = agg.flush_columns();
                    check_batch(&cols);
                    got.extend((0..cols.len()).filter_map(|i| cols.row(i)));
                    assert!(cols.row(cols.len()).is_none());
                }
                assert!(want.len() > 500, "{:?}: {} results", cfg.window, want.len());
                assert!(agg.stats().keys == 0 && polls > 2);
                assert_eq!(got.len(), want.len(), "{:?}, pattern {p}", cfg.window);
                for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g, w, "{:?}, pattern {p}, result {j}", cfg.window);
                }
            }
        }
    }

    #[test]
    fn pending_columns_count_toward_the_pending_bound() {
        let mut cfg = AggregatorConfig::new(WindowSpec::tumbling(1_000));
        cfg.max_pending_results = 3;
        let mut agg = Aggregator::new(cfg).unwrap();
        assert!(agg.poll_columns().is_empty());
        for (i, m) in ["a", "b", "c"].iter().enumerate() {
            agg.add_parts("d", m, 1.0, i as i64, &[], None).unwrap();
        }
        agg.advance_to(5_000).unwrap();
        assert_eq!(agg.stats().pending_results, 3);
        let err = agg.add_parts("d", "a", 1.0, 5_000, &[], None).unwrap_err();
        assert_eq!(err.code(), "too_large");
        let cols = agg.poll_columns();
        assert_eq!(cols.len(), 3);
        assert_eq!(cols.metric.names().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(cols.dashboard.names().collect::<Vec<_>>(), ["d"]);
        assert_eq!(cols.dashboard.codes, [0, 0, 0]);
        assert_eq!(cols.tags.sets, [Vec::<(String, String)>::new()]);
        assert_eq!(agg.stats().pending_results, 0);
        agg.add_parts("d", "a", 1.0, 5_000, &[], None).unwrap();
    }
}
