//! Windowed aggregation: window specs, accumulators, the quantile sketch, the watermark, emit modes and
//! the [`Aggregator`].
//!
//! ```
//! use dashfeed::window::{Aggregator, AggregatorConfig, WindowSpec};
//! let mut cfg = AggregatorConfig::new(WindowSpec::tumbling(10_000));
//! cfg.quantiles = vec![0.5, 0.99];
//! let mut agg = Aggregator::new(cfg).unwrap();
//! agg.add_parts("host", "cpu", 0.42, 1_000, &[], None).unwrap();
//! agg.add_parts("host", "cpu", 0.58, 9_000, &[("core", "0")], None).unwrap();
//! agg.advance_to(10_000).unwrap(); // the watermark reaches 10 000: [0, 10 000) closes
//! let results = agg.poll();
//! assert_eq!(results.len(), 2); // one per key
//! assert_eq!((results[0].start_ms, results[0].end_ms, results[0].count), (0, 10_000, 1));
//! ```
//!
//! # Semantics
//!
//! **Keys.** Events are grouped by [`Key`](crate::Key) = (dashboard, metric, tags sorted by key).
//!
//! **Windows** ([`WindowSpec`]). Tumbling window k covers `[k·size, (k+1)·size)`; hopping windows
//! `[k·slide, k·slide + size)` (an event belongs to every one that holds it); all aligned to the Unix
//! epoch. A session is `[first event, last event + gap)`: an event joins every open session its own span
//! `[ts, ts + gap)` overlaps, merging them (two events less than `gap` apart share a session; the merged
//! session keeps the open sequence of the oldest part). A count window holds `n` events of one key and
//! closes when the n-th arrives; its `start`/`end` are the smallest and largest event times in it.
//!
//! **Accumulators.** count, sum (in arrival order; a merged session adds its parts' sums in start
//! order), min, max, mean, first and last (by event time, ties by arrival order), and the configured
//! quantiles by nearest rank (the value of rank `⌈q·n⌉`, 1-based and at least 1, in sorted order: numpy's
//! `inverted_cdf`) from a [`QuantileSketch`] (exact up to [`EXACT_MAX`] values per window, then relative
//! error under 1%; clamped to `[min, max]`).
//!
//! **Watermark.** Watermark = highest event time seen − lateness; it never goes down. A time window
//! `[s, e)` closes (emits its final result) as soon as watermark ≥ `e`. [`Aggregator::advance_to`] moves
//! event time as an event would. With `idle_close` set, once no input (add / add_parts / add_columns /
//! advance_to) has come for `idle_close` of monotonic clock time, event time is taken to have moved with
//! the clock: watermark = highest event time + quiet time − lateness, applied by [`Aggregator::poll`]
//! and at the start of the next input call (so results do not depend on how often `poll` runs).
//!
//! **Late events.** An event is late when a window it belongs to has already closed (tumbling: its
//! window's end ≤ watermark; session: it overlaps no open session and `ts + gap` ≤ watermark, so it
//! would form a session that is already closed; hopping: any of its windows closed — it still goes to
//! its open ones). Late events never touch closed results: they are counted
//! ([`AggregatorStats::late`]) and kept, in arrival order, for [`Aggregator::take_late`]. Count windows
//! have no late events.
//!
//! **Emit modes** ([`EmitMode`]). `final`: one result per window, on close, `is_final = true`.
//! `updates {interval}`: on each event-time tick — when the highest event time seen enters a new
//! epoch-aligned multiple of `interval` (the first event only sets the tick) — every open window changed
//! since its last emission emits a partial result (`is_final = false`); the final result follows on
//! close. Partial results are deterministic: they depend on event times only, not on the clock.
//!
//! **Order of results.** Results are produced as input is processed, event by event (a batch row by
//! row): when an event — or `advance_to`, idle close, `flush` — moves the watermark, the windows it
//! closes emit their final results in (end, open sequence) order; then, with emit `updates`, the
//! partial results of the tick it causes follow, in (end, open sequence) order. The open sequence
//! numbers windows in the order they were opened (by their first event; an event opening several
//! hopping windows opens them by increasing start). A count window closes as its n-th event arrives.
//! [`Aggregator::poll`] returns results in the order they were produced. The same calls with the same
//! events (and clock readings) give the same results, whatever the poll pattern.
//!
//! **Memory.** State is held only for open windows: a closed window's state is freed at once (its
//! sketch kept in a bounded pool for reuse). A key whose windows all closed stays interned until the
//! watermark has moved [`MIN_KEY_RETAIN_MS`] (one minute) or one window length, whichever is longer,
//! past its last window, so that a metric that reports at least that often is not re-interned (hashed,
//! allocated) every window; then it is freed. [`Aggregator::flush`]
//! closes and frees everything. Results and late events wait in bounded buffers
//! ([`AggregatorConfig::max_pending_results`], [`AggregatorConfig::max_pending_late`]): an input call
//! made while one is full fails with `too_large` and applies nothing, so nothing is ever dropped.

mod accum;
mod aggregator;
mod batch;
mod close;
mod coded;
mod config;
mod keys;
mod place;
mod ready;
mod result;
mod result_columns;
mod sketch;
mod spec;

pub use aggregator::{Aggregator, AggregatorStats};
pub use batch::Column;
pub use coded::{Batch, Bitmap, Codes, Names};
pub use config::{AggregatorConfig, DEFAULT_MAX_PENDING, MAX_QUANTILES};
pub use result::{quantile_name, WindowResult};
pub use result_columns::{Categorical, ResultColumns, TagSets};
pub use sketch::{QuantileSketch, EXACT_MAX, MAX_BUCKETS, RELATIVE_ACCURACY};
pub use spec::{
    parse_duration_ms, EmitMode, WindowSpec, MAX_DURATION_MS, MAX_WINDOWS_PER_EVENT,
    MIN_KEY_RETAIN_MS,
};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_coded;
