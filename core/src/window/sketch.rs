//! [`QuantileSketch`]: a mergeable relative-error quantile sketch of the DDSketch family
//! (Masson, Rim, Lee: "DDSketch: a fast and fully-mergeable quantile sketch with relative-error
//! guarantees", VLDB 2019).
//!
//! Values are counted in logarithmic buckets: bucket `i` holds magnitudes in `(γ^(i-1), γ^i]` with
//! `γ = (1+α)/(1−α)`, and reports `2γ^i/(γ+1)`, which is within `α` ([`RELATIVE_ACCURACY`], under 1%) of
//! every value in the bucket. Positive and negative values have their own stores; zero (and subnormal
//! magnitudes) its own count. Each store is dense and spans at most [`MAX_BUCKETS`] buckets (about 35
//! decades of magnitude); wider data collapses its smallest magnitudes into the lowest bucket, as
//! DDSketch's collapsing-lowest store does.
//!
//! Small sets are kept exactly: up to [`EXACT_MAX`] values are held as they come and quantiles read from
//! a sorted copy (no error); the 65th value moves them into the buckets. Dashboards often see only a few
//! values per key and window, where this is both faster and exact.
//!
//! **Quantile definition: nearest rank.** The `q`-quantile of `n` values is the value of rank `⌈q·n⌉`
//! (1-based; rank 1 when `q·n < 1`) in sorted order: the smallest value with at least a fraction `q` of
//! the values at or below it, as in HdrHistogram and numpy's `quantile(method="inverted_cdf")` (`q·n`
//! is the double-precision product, as numpy computes it). It is always one of the values: `q = 1` gives
//! the maximum, and so does p99 of fewer than 100 values; p50 of two values is the smaller one. It is
//! exact while the values are held exactly; in buckets, the bucket holding the value of that same rank
//! is reported, so the estimate is within relative error `α` of it.
//!
//! Written here rather than taken from a crate because the aggregator needs a sketch that can be reset
//! and pooled between windows without freeing its buckets, and that tracks nothing the window's
//! accumulator already tracks (sum, min, max).

/// Relative accuracy `α` of every quantile estimate (0.99%).
pub const RELATIVE_ACCURACY: f64 = 0.0099;

/// Most values kept exactly before the sketch switches to buckets.
pub const EXACT_MAX: usize = 64;

/// Most buckets one store (positive or negative) spans.
pub const MAX_BUCKETS: usize = 4096;

/// Dense bucket counts: `counts[i]` is the count of bucket key `offset + i`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Store {
    counts: Vec<u64>,
    offset: i32,
}

impl Store {
    #[inline]
    fn add(&mut self, key: i32, n: u64) {
        let idx = i64::from(key) - i64::from(self.offset);
        if idx >= 0 && (idx as usize) < self.counts.len() {
            self.counts[idx as usize] += n;
        } else if self.counts.is_empty() {
            self.offset = key;
            self.counts.push(n);
        } else if idx < 0 {
            self.grow_low(key, n);
        } else {
            self.grow_high(key, n);
        }
    }

    /// Extends the store down to `key` (with slack, so that slowly decreasing data does not shift the
    /// buckets on every value), or collapses `key` into the lowest bucket when the span is full.
    #[cold]
    fn grow_low(&mut self, key: i32, n: u64) {
        let len = self.counts.len();
        let needed = (i64::from(self.offset) - i64::from(key)) as usize;
        let room = MAX_BUCKETS - len;
        let grow = if needed <= room {
            needed.max(len).min(room)
        } else {
            room
        };
        self.counts.splice(0..0, std::iter::repeat_n(0, grow));
        self.offset -= grow as i32;
        if needed <= grow {
            self.counts[(i64::from(key) - i64::from(self.offset)) as usize] += n;
        } else {
            self.counts[0] += n;
        }
    }

    /// Extends the store up to `key`; past [`MAX_BUCKETS`] the lowest buckets collapse into one.
    #[cold]
    fn grow_high(&mut self, key: i32, n: u64) {
        let span = (i64::from(key) - i64::from(self.offset) + 1) as usize;
        if span > MAX_BUCKETS {
            let new_offset = key - (MAX_BUCKETS as i32 - 1);
            let drop = (i64::from(new_offset) - i64::from(self.offset)) as usize;
            let drop = drop.min(self.counts.len());
            let collapsed: u64 = self.counts.drain(..drop).sum();
            self.offset = new_offset;
            if self.counts.is_empty() {
                self.counts.push(0);
            }
            self.counts[0] += collapsed;
            self.counts.resize(MAX_BUCKETS, 0);
        } else {
            self.counts.resize(span, 0);
        }
        let last = self.counts.len() - 1;
        self.counts[last] += n;
    }

    fn merge(&mut self, other: &Store) {
        for (i, &c) in other.counts.iter().enumerate() {
            if c > 0 {
                self.add(other.offset + i as i32, c);
            }
        }
    }
}

/// A mergeable quantile sketch with relative error [`RELATIVE_ACCURACY`] (exact up to [`EXACT_MAX`]
/// values).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileSketch {
    /// While `count <= EXACT_MAX`: every value, in arrival order; afterwards empty.
    exact: Vec<f64>,
    positive: Store,
    negative: Store,
    zero: u64,
    count: u64,
    ln_gamma: f64,
    inv_ln_gamma: f64,
    scale: f64,
}

impl Default for QuantileSketch {
    fn default() -> Self {
        QuantileSketch::new()
    }
}

/// The 0-based index in sorted order of the `q`-quantile of `n ≥ 1` values by nearest rank: rank
/// `⌈q·n⌉` (1-based), at least 1 and at most `n`, with `q·n` the double-precision product (numpy's
/// `inverted_cdf`).
#[inline]
fn nearest_rank(q: f64, n: u64) -> u64 {
    let rank = (q * n as f64).ceil() as u64;
    rank.clamp(1, n) - 1
}

/// Assigns quantile estimates while the buckets are walked once in value order.
struct RankWalk<'a> {
    /// (rank, index into `out`), by increasing rank.
    order: Vec<(u64, usize)>,
    next: usize,
    seen: u64,
    out: &'a mut [f64],
}

impl RankWalk<'_> {
    /// Accounts for `count` values at `value`; returns whether every rank has been assigned.
    fn visit(&mut self, count: u64, value: impl Fn() -> f64) -> bool {
        self.seen += count;
        while let Some(&(rank, i)) = self.order.get(self.next) {
            if rank >= self.seen {
                break;
            }
            self.out[i] = value();
            self.next += 1;
        }
        self.next == self.order.len()
    }
}

impl QuantileSketch {
    /// An empty sketch.
    pub fn new() -> Self {
        let gamma = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);
        let ln_gamma = gamma.ln();
        QuantileSketch {
            exact: Vec::new(),
            positive: Store::default(),
            negative: Store::default(),
            zero: 0,
            count: 0,
            ln_gamma,
            inv_ln_gamma: 1.0 / ln_gamma,
            scale: 2.0 / (1.0 + gamma),
        }
    }

    /// Number of values added (or merged in).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether no value was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether the values are still held exactly.
    fn is_exact(&self) -> bool {
        self.count as usize <= EXACT_MAX
    }

    /// Forgets every value but keeps the memory for reuse.
    pub fn clear(&mut self) {
        self.exact.clear();
        self.positive.counts.clear();
        self.negative.counts.clear();
        self.zero = 0;
        self.count = 0;
    }

    #[inline]
    fn key(&self, magnitude: f64) -> i32 {
        // ln of a positive normal f64 is within ±709, so the key fits easily in i32. Ceil by hand:
        // `f64::ceil` is a libm call on baseline x86-64.
        let x = magnitude.ln() * self.inv_ln_gamma;
        let k = x as i32;
        if f64::from(k) < x {
            k + 1
        } else {
            k
        }
    }

    fn bucket_value(&self, key: i32) -> f64 {
        (f64::from(key) * self.ln_gamma).exp() * self.scale
    }

    #[inline]
    fn add_to_buckets(&mut self, value: f64) {
        let magnitude = value.abs();
        if magnitude < f64::MIN_POSITIVE {
            self.zero += 1;
        } else if value > 0.0 {
            let k = self.key(magnitude);
            self.positive.add(k, 1);
        } else {
            let k = self.key(magnitude);
            self.negative.add(k, 1);
        }
    }

    /// Moves the exactly kept values into the buckets.
    fn spill(&mut self) {
        let exact = std::mem::take(&mut self.exact);
        for &v in &exact {
            self.add_to_buckets(v);
        }
        self.exact = exact;
        self.exact.clear();
    }

    /// Adds one value. Non-finite values are ignored (the aggregator refuses them earlier).
    #[inline]
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.count += 1;
        if self.is_exact() {
            self.exact.push(value);
        } else {
            if !self.exact.is_empty() {
                self.spill();
            }
            self.add_to_buckets(value);
        }
    }

    /// Adds every value of `other` to this sketch.
    pub fn merge(&mut self, other: &QuantileSketch) {
        if other.is_exact() {
            for &v in &other.exact {
                self.add(v);
            }
            return;
        }
        self.spill();
        self.count += other.count;
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
        self.zero += other.zero;
    }

    /// The estimated `q`-quantile (`0 ≤ q ≤ 1`) by nearest rank: within [`RELATIVE_ACCURACY`] of the
    /// value of rank `⌈q·n⌉` (1-based, at least 1) in sorted order (exact up to [`EXACT_MAX`] values;
    /// see the module documentation). `None` when the sketch is empty or `q` is outside `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let mut out = [0.0];
        self.quantiles_into(&[q], &mut out).then_some(out[0])
    }

    /// Writes the estimate of each `qs[i]` to `out[i]` in one pass over the buckets. Returns `false`
    /// (leaving `out` untouched) when the sketch is empty, the lengths differ or a `q` is outside
    /// `[0, 1]`.
    pub fn quantiles_into(&self, qs: &[f64], out: &mut [f64]) -> bool {
        if self.count == 0 || qs.len() != out.len() || !qs.iter().all(|q| (0.0..=1.0).contains(q)) {
            return false;
        }
        let rank = |q: f64| nearest_rank(q, self.count);
        if self.is_exact() {
            let mut sorted = [0.0; EXACT_MAX];
            let sorted = &mut sorted[..self.exact.len()];
            sorted.copy_from_slice(&self.exact);
            sorted.sort_unstable_by(f64::total_cmp);
            for (o, &q) in out.iter_mut().zip(qs) {
                *o = sorted[rank(q) as usize];
            }
            return true;
        }
        let mut order: Vec<(u64, usize)> =
            qs.iter().enumerate().map(|(i, &q)| (rank(q), i)).collect();
        order.sort_unstable();
        let mut walk = RankWalk {
            order,
            next: 0,
            seen: 0,
            out,
        };
        // Most negative first: negative keys from the largest magnitude down; then zero; then positive.
        for (i, &c) in self.negative.counts.iter().enumerate().rev() {
            let key = self.negative.offset + i as i32;
            if c > 0 && walk.visit(c, || -self.bucket_value(key)) {
                return true;
            }
        }
        if walk.visit(self.zero, || 0.0) {
            return true;
        }
        for (i, &c) in self.positive.counts.iter().enumerate() {
            let key = self.positive.offset + i as i32;
            if c > 0 && walk.visit(c, || self.bucket_value(key)) {
                return true;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nearest-rank quantile, written out independently of [`nearest_rank`].
    fn exact(sorted: &[f64], q: f64) -> f64 {
        let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
        sorted[rank - 1]
    }

    fn check(values: &[f64], qs: &[f64]) {
        let mut s = QuantileSketch::new();
        for &v in values {
            s.add(v);
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        for &q in qs {
            let want = exact(&sorted, q);
            let got = s.quantile(q).unwrap();
            assert!(
                (got - want).abs() <= RELATIVE_ACCURACY * want.abs() * (1.0 + 1e-9),
                "q={q}: got {got}, exact {want}"
            );
        }
    }

    /// `n` deterministic uniforms in (0, 1) (xorshift64).
    fn uniforms(n: usize, mut x: u64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
            })
            .collect()
    }

    #[test]
    fn lognormal_and_pareto_samples_are_within_one_percent() {
        let u = uniforms(40_000, 0x9E37_79B9_7F4A_7C15);
        let lognormal: Vec<f64> = u
            .chunks(2)
            .map(|p| {
                let z = (-2.0 * p[0].ln()).sqrt() * (2.0 * std::f64::consts::PI * p[1]).cos();
                (1.0 + 2.0 * z).exp()
            })
            .collect();
        let pareto: Vec<f64> = u[..20_000]
            .iter()
            .map(|v| 1.5 * v.powf(-1.0 / 1.1))
            .collect();
        let negated: Vec<f64> = lognormal.iter().map(|v| -v).collect();
        let qs = [
            0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0,
        ];
        check(&lognormal, &qs);
        check(&pareto, &qs);
        check(&negated, &qs);
    }

    #[test]
    fn quantiles_are_the_value_of_nearest_rank() {
        let of = |values: &[f64], q: f64| {
            let mut s = QuantileSketch::new();
            values.iter().for_each(|&v| s.add(v));
            s.quantile(q).unwrap()
        };
        // p99 of a small window is its maximum; p50 of two values the smaller; q·n < 1 is rank 1.
        assert_eq!(of(&[0.42, 0.5], 0.99), 0.5);
        assert_eq!(of(&[0.42, 0.5], 0.5), 0.42);
        assert_eq!(of(&[1.5, 0.0, 0.0, 0.0], 0.99), 1.5);
        assert_eq!(of(&[3.0, 1.0, 4.0, 2.0], 0.25), 1.0);
        assert_eq!(of(&[3.0, 1.0, 4.0, 2.0], 0.26), 2.0);
        assert_eq!(of(&[3.0, 1.0, 4.0, 2.0], 0.0), 1.0);
        assert_eq!(of(&[3.0, 1.0, 4.0, 2.0], 0.001), 1.0);
        assert_eq!(of(&[7.0], 0.5), 7.0);
        // The buckets pick by the same rank: of 64 ones and one 1000, p99 (rank 65) is the 1000; of
        // 99 ones and one 1000, p99 (rank 99) is a one and p99.5 (rank 100) the 1000.
        let near =
            |got: f64, want: f64| (got / want - 1.0).abs() <= RELATIVE_ACCURACY * (1.0 + 1e-9);
        let mut values = vec![1.0; EXACT_MAX];
        values.push(1000.0);
        assert!(near(of(&values, 0.99), 1000.0));
        assert!(near(of(&values, 0.98), 1.0));
        let mut values = vec![1.0; 99];
        values.push(1000.0);
        assert!(near(of(&values, 0.99), 1.0));
        assert!(near(of(&values, 0.995), 1000.0));
    }

    #[test]
    fn empty_sketch_and_bad_q_give_none() {
        let mut s = QuantileSketch::new();
        assert_eq!(s.quantile(0.5), None);
        s.add(1.0);
        assert_eq!(s.quantile(1.5), None);
        assert_eq!(s.quantile(f64::NAN), None);
        s.add(f64::NAN);
        assert_eq!(s.count(), 1);
    }

    #[test]
    fn small_sets_and_signs_are_within_the_bound() {
        let qs = [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0];
        check(&[42.0], &qs);
        check(&[42.0; 100], &qs);
        check(&[1.0, 2.0, 3.0, 4.0, 5.0].repeat(20), &qs);
        check(&[-5.0, -1.0, 0.0, 0.0, 1.0, 2.5, 1e6].repeat(20), &qs);
        check(&[-1e-20, -3.0, -2.0, -1e9].repeat(20), &qs);
        let wide: Vec<f64> = (-60..60).map(|i| 1.7f64.powi(i)).collect();
        check(&wide, &qs);
    }

    #[test]
    fn small_sets_are_exact_and_spill_into_buckets_past_the_limit() {
        let mut s = QuantileSketch::new();
        let values: Vec<f64> = (0..EXACT_MAX)
            .map(|i| ((i * 37) % 64) as f64 - 20.5)
            .collect();
        for &v in &values {
            s.add(v);
        }
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.0, 0.1, 0.5, 0.77, 1.0] {
            assert_eq!(
                s.quantile(q),
                Some(exact(&sorted, q)),
                "exact below the limit"
            );
        }
        s.add(1000.0);
        assert!(s.exact.is_empty(), "spilled");
        sorted.push(1000.0);
        let mut out = [0.0; 3];
        assert!(s.quantiles_into(&[0.99, 0.0, 0.5], &mut out));
        for (got, q) in out.into_iter().zip([0.99, 0.0, 0.5]) {
            let want = exact(&sorted, q);
            assert!((got - want).abs() <= RELATIVE_ACCURACY * want.abs() * (1.0 + 1e-9));
        }
        assert!(!s.quantiles_into(&[0.5], &mut [0.0; 2]), "length mismatch");
    }

    #[test]
    fn zero_and_tiny_values_count_as_zero() {
        let mut s = QuantileSketch::new();
        for v in [0.0, -0.0, 1e-320, 5.0].repeat(20) {
            s.add(v);
        }
        assert!(s.exact.is_empty());
        assert_eq!(s.quantile(0.5), Some(0.0));
        assert!((s.quantile(1.0).unwrap() - 5.0).abs() <= 0.05);
    }

    #[test]
    fn merge_equals_adding_everything_to_one_sketch() {
        let (mut a, mut b, mut all) = (
            QuantileSketch::new(),
            QuantileSketch::new(),
            QuantileSketch::new(),
        );
        for i in 0..500 {
            let v = (i as f64 - 100.0) * 1.37 * if i % 7 == 0 { 1.0 } else { 1.01 };
            if i % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            all.add(v);
        }
        a.merge(&b);
        assert_eq!(a.count(), 500);
        for q in [0.0, 0.1, 0.5, 0.9, 1.0] {
            assert_eq!(a.quantile(q), all.quantile(q), "q={q}");
        }
        // Exact sketches merge exactly while small, and spill when the sum passes the limit.
        let (mut x, mut y) = (QuantileSketch::new(), QuantileSketch::new());
        (0..30).for_each(|i| x.add(f64::from(i)));
        (30..60).for_each(|i| y.add(f64::from(i)));
        x.merge(&y);
        assert_eq!(x.quantile(1.0), Some(59.0));
        x.merge(&y);
        assert_eq!(x.count(), 90);
        assert!(x.exact.is_empty());
        let mut dense = all.clone();
        dense.merge(&x);
        assert_eq!(dense.count(), 590);
    }

    #[test]
    fn decreasing_and_increasing_data_grow_the_store_both_ways() {
        let mut values: Vec<f64> = (0..3000).map(|i| 1e6 * 0.995f64.powi(i)).collect();
        values.extend((0..3000).map(|i| 1e6 * 1.001f64.powi(i)));
        check(&values, &[0.0, 0.3, 0.5, 0.7, 1.0]);
    }

    #[test]
    fn a_range_wider_than_the_store_collapses_the_smallest_values() {
        let mut s = QuantileSketch::new();
        (0..EXACT_MAX).for_each(|_| s.add(1e-300));
        s.add(1.0);
        s.add(1e300);
        assert!(s.positive.counts.len() <= MAX_BUCKETS);
        assert_eq!(s.count(), EXACT_MAX as u64 + 2);
        // The largest value stays accurate; the smaller ones collapse into the lowest bucket.
        assert!((s.quantile(1.0).unwrap() / 1e300 - 1.0).abs() <= RELATIVE_ACCURACY);
        assert!(s.quantile(0.0).unwrap() <= s.quantile(1.0).unwrap());
        let mut low = QuantileSketch::new();
        (0..EXACT_MAX).for_each(|_| low.add(1e300));
        low.add(1e-300);
        assert_eq!(low.count(), EXACT_MAX as u64 + 1);
        assert!(low.positive.counts.len() <= MAX_BUCKETS);
        assert!((low.quantile(1.0).unwrap() / 1e300 - 1.0).abs() <= RELATIVE_ACCURACY);
    }

    #[test]
    fn clear_forgets_values_and_keeps_memory() {
        let mut s = QuantileSketch::new();
        for i in 1..100 {
            s.add(f64::from(i));
        }
        let cap = s.positive.counts.capacity();
        assert!(cap > 0);
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s.quantile(0.5), None);
        assert_eq!(s.positive.counts.capacity(), cap);
        s.add(7.0);
        assert!((s.quantile(0.5).unwrap() - 7.0).abs() <= 0.07);
    }
}
