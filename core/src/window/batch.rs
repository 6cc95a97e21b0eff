//! Columnar input: [`Column`] (one value for the whole batch, or one per row) and
//! [`Aggregator::add_columns`], which validates the whole batch before applying any row.

use super::aggregator::Aggregator;
use super::keys::{check_name, check_tags};
use crate::error::{Error, Result};

/// A batch column: one value for every row, or one value per row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Column<'a, T> {
    /// The same value for every row.
    One(T),
    /// One value per row.
    Each(&'a [T]),
}

impl<T: Copy> Column<'_, T> {
    /// The value of row `i` (`i` must be below the batch length).
    #[inline]
    pub fn get(&self, i: usize) -> T {
        match self {
            Column::One(v) => *v,
            Column::Each(rows) => rows[i],
        }
    }

    /// Checks that a per-row column has `n` rows.
    fn check_len(&self, what: &str, n: usize) -> Result<()> {
        match self {
            Column::Each(rows) if rows.len() != n => Err(Error::invalid(format!(
                "{what} has {} rows, values has {n}",
                rows.len()
            ))),
            _ => Ok(()),
        }
    }
}

/// Checks the names of a string column, reporting the first bad row.
fn check_names(what: &str, column: &Column<'_, &str>) -> Result<()> {
    let at_row = |i: usize, e: Error| match e {
        Error::InvalidInput(msg) => Error::invalid(format!("{what}[{i}]: {msg}")),
        other => other,
    };
    match column {
        Column::One(name) => check_name(what, name),
        Column::Each(names) => names
            .iter()
            .enumerate()
            .try_for_each(|(i, name)| check_name(what, name).map_err(|e| at_row(i, e))),
    }
}

impl Aggregator {
    /// Adds `values.len()` events given as columns: dashboards, metrics and event times (ms), each one
    /// value for the batch or one per row, and tags shared by every row (need not be sorted).
    ///
    /// The whole batch is validated first — column lengths, finite values, names, tags — and refused
    /// with `invalid_input` (naming the first bad row) without applying any row; `too_large` as
    /// [`add`](Aggregator::add). Returns the number of rows applied (`values.len()`), late ones included.
    pub fn add_columns(
        &mut self,
        dashboards: Column<'_, &str>,
        metrics: Column<'_, &str>,
        values: &[f64],
        ts_ms: Column<'_, i64>,
        tags: &[(&str, &str)],
    ) -> Result<usize> {
        let n = values.len();
        dashboards.check_len("dashboards", n)?;
        metrics.check_len("metrics", n)?;
        ts_ms.check_len("ts", n)?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "values[{i}] is not finite ({})",
                values[i]
            )));
        }
        check_names("dashboard", &dashboards)?;
        check_names("metric", &metrics)?;
        if !check_tags(tags)? {
            let mut sorted = tags.to_vec();
            sorted.sort_unstable();
            return self.apply_columns(dashboards, metrics, values, ts_ms, &sorted);
        }
        self.apply_columns(dashboards, metrics, values, ts_ms, tags)
    }

    fn apply_columns(
        &mut self,
        dashboards: Column<'_, &str>,
        metrics: Column<'_, &str>,
        values: &[f64],
        ts_ms: Column<'_, i64>,
        tags: &[(&str, &str)],
    ) -> Result<usize> {
        let now = self.begin_input()?;
        if let (Column::One(d), Column::One(m)) = (dashboards, metrics) {
            let hash = self.keys.hash(d, m, tags);
            for (i, &v) in values.iter().enumerate() {
                self.ingest(hash, d, m, v, ts_ms.get(i), tags, None);
            }
        } else {
            for (i, &v) in values.iter().enumerate() {
                let (d, m) = (dashboards.get(i), metrics.get(i));
                let hash = self.keys.hash(d, m, tags);
                self.ingest(hash, d, m, v, ts_ms.get(i), tags, None);
            }
        }
        self.end_input(now);
        Ok(values.len())
    }
}
