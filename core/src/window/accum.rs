//! [`Accumulator`]: the per-window running aggregates — count, sum, min, max, first, last (by event
//! time; ties by arrival order) and an optional [`QuantileSketch`] — and their merge (session windows).

use super::sketch::QuantileSketch;

/// One observation remembered for `first` / `last`: its event time, arrival sequence and value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    /// Event time in ms.
    pub ts: i64,
    /// Arrival order (the aggregator's event counter), to break event-time ties.
    pub seq: u64,
    /// The value.
    pub value: f64,
}

impl Point {
    /// Whether `self` comes before `other` in (event time, arrival) order.
    fn before(&self, other: &Point) -> bool {
        (self.ts, self.seq) < (other.ts, other.seq)
    }
}

/// Running aggregates of one window; never empty (created with its first value).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Accumulator {
    /// Number of values.
    pub count: u64,
    /// Sum of values, added in arrival order.
    pub sum: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Earliest value by event time (earliest arrival among ties).
    pub first: Point,
    /// Latest value by event time (latest arrival among ties).
    pub last: Point,
    /// Quantile sketch, when quantiles are configured.
    pub sketch: Option<Box<QuantileSketch>>,
}

impl Accumulator {
    /// An accumulator holding one value; `sketch` must be empty (it is taken from a pool).
    #[inline]
    pub fn new(value: f64, ts: i64, seq: u64, mut sketch: Option<Box<QuantileSketch>>) -> Self {
        if let Some(s) = sketch.as_deref_mut() {
            s.add(value);
        }
        let p = Point { ts, seq, value };
        Accumulator {
            count: 1,
            sum: value,
            min: value,
            max: value,
            first: p,
            last: p,
            sketch,
        }
    }

    /// Adds one value observed at event time `ts`, arriving as number `seq`.
    #[inline(always)]
    pub fn add(&mut self, value: f64, ts: i64, seq: u64) {
        self.count += 1;
        self.sum += value;
        if value < self.min {
            self.min = value;
        }
        if value > self.max {
            self.max = value;
        }
        if ts < self.first.ts {
            self.first = Point { ts, seq, value };
        }
        if ts >= self.last.ts {
            self.last = Point { ts, seq, value };
        }
        if let Some(s) = self.sketch.as_deref_mut() {
            s.add(value);
        }
    }

    /// Folds `other` into `self` (`self`'s sum first) and hands back `other`'s sketch for reuse.
    pub fn merge(&mut self, other: Accumulator) -> Option<Box<QuantileSketch>> {
        self.count += other.count;
        self.sum += other.sum;
        if other.min < self.min {
            self.min = other.min;
        }
        if other.max > self.max {
            self.max = other.max;
        }
        if other.first.before(&self.first) {
            self.first = other.first;
        }
        if self.last.before(&other.last) {
            self.last = other.last;
        }
        if let (Some(mine), Some(theirs)) = (self.sketch.as_deref_mut(), other.sketch.as_deref()) {
            mine.merge(theirs);
        }
        other.sketch
    }

    /// Mean of the values.
    pub fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_follow_the_values() {
        let mut a = Accumulator::new(3.0, 10, 1, None);
        a.add(-1.0, 5, 2);
        a.add(7.5, 20, 3);
        a.add(2.0, 15, 4);
        assert_eq!(a.count, 4);
        assert_eq!(a.sum, 11.5);
        assert_eq!((a.min, a.max), (-1.0, 7.5));
        assert_eq!(a.mean(), 11.5 / 4.0);
        assert_eq!(a.first.value, -1.0);
        assert_eq!(a.last.value, 7.5);
    }

    #[test]
    fn first_and_last_break_event_time_ties_by_arrival() {
        let mut a = Accumulator::new(1.0, 100, 1, None);
        a.add(2.0, 100, 2);
        a.add(3.0, 100, 3);
        assert_eq!(a.first.value, 1.0);
        assert_eq!(a.last.value, 3.0);
        // Merged windows keep the same rule across both sides.
        let mut left = Accumulator::new(10.0, 50, 5, None);
        left.add(11.0, 60, 9);
        let mut right = Accumulator::new(20.0, 50, 4, None);
        right.add(21.0, 60, 6);
        left.merge(right);
        assert_eq!(
            left.first.value, 20.0,
            "(50, seq 4) is earlier than (50, seq 5)"
        );
        assert_eq!(
            left.last.value, 11.0,
            "(60, seq 9) is later than (60, seq 6)"
        );
        assert_eq!(
            (left.count, left.sum, left.min, left.max),
            (4, 62.0, 10.0, 21.0)
        );
    }

    #[test]
    fn sketches_merge_and_the_spent_one_is_handed_back() {
        let mut a = Accumulator::new(1.0, 0, 1, Some(Box::default()));
        let mut b = Accumulator::new(100.0, 1, 2, Some(Box::default()));
        b.add(200.0, 2, 3);
        let spent = a.merge(b);
        assert!(spent.is_some());
        let sketch = a.sketch.as_deref().unwrap();
        assert_eq!(sketch.count(), 3);
        assert!((sketch.quantile(1.0).unwrap() - 200.0).abs() <= 2.0);
    }
}
