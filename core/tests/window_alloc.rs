//! Memory an aggregator really retains (counted by a global allocator, not by open-window counts):
//! what one open key costs, that closed windows and forgotten keys give their memory back, and that
//! a key whose windows spilled out of its slot (several open at once) returns to the inline form,
//! that the categorical columns' name → slot memo stays small next to the keys, that results
//! written as columns keep no memory per result once polled, and that a flush gives back the
//! memory of every key.
//!
//! This binary holds one test, so that no other thread allocates during the measurement.

use dashfeed::window::{
    Aggregator, AggregatorConfig, Batch, Codes, Column, Names, WindowSpec, MIN_KEY_RETAIN_MS,
};
use std::sync::atomic::Ordering::Relaxed;

mod alloc_support;
use alloc_support::{Counting, LIVE};

#[global_allocator]
static ALLOC: Counting = Counting;

const KEYS: usize = 20_000;

fn live() -> usize {
    LIVE.load(Relaxed)
}

#[test]
fn open_keys_cost_a_bounded_few_hundred_bytes_and_closed_state_is_given_back() {
    let names: Vec<String> = (0..KEYS).map(|i| format!("metric_{i}")).collect();
    let base = live();
    let mut agg = Aggregator::new(AggregatorConfig {
        // Lateness keeps a key's previous window open while its next one opens: two per key.
        lateness_ms: 1000,
        ..AggregatorConfig::new(WindowSpec::Tumbling { size_ms: 1000 })
    })
    .unwrap();

    // One open window per key.
    for (i, m) in names.iter().enumerate() {
        agg.add_parts("d", m, i as f64, 100, &[], None).unwrap();
    }
    assert_eq!(agg.stats().open_windows, KEYS);
    let one = live() - base;
    let per_key = one / KEYS;
    // The slot with its inline window (184 B), the interned key (Arc + two short strings), its
    // hash-table entry and its place in the close schedule, with the containers' spare capacity:
    // 436 B measured. With the windows in a `Vec` of their own it was 745 B (a first push reserves
    // four windows).
    assert!(
        per_key <= 480,
        "{per_key} bytes per key with one open window ({one} in all)"
    );

    // A second open window per key (the first is held by the lateness): the windows spill to the
    // heap (702 B per key in all measured; 772 B with a `Vec`).
    for (i, m) in names.iter().enumerate() {
        agg.add_parts("d", m, i as f64, 1100, &[], None).unwrap();
    }
    assert_eq!(agg.stats().open_windows, 2 * KEYS);
    let two = live() - base;
    assert!(
        two <= KEYS * 800,
        "{} bytes per key with two open windows",
        two / KEYS
    );

    // Close the first windows only: each key keeps one window open, back inside its slot (a key that
    // reports across every boundary, with lateness, must not stay spilled).
    agg.advance_to(2000).unwrap();
    let results = agg.poll();
    assert_eq!(results.len(), KEYS);
    drop(results);
    assert_eq!(agg.stats().open_windows, KEYS);
    let back = live() - base;
    assert!(
        back <= one + KEYS * 32,
        "{} bytes per key with one window left of two ({} with one open from the start)",
        back / KEYS,
        per_key
    );

    // Close everything: once the results are taken, only the interned keys (kept for
    // MIN_KEY_RETAIN_MS) remain, with their place in the idle list.
    agg.advance_to(5000).unwrap();
    let results = agg.poll();
    assert_eq!(results.len(), KEYS);
    drop(results);
    assert_eq!(agg.stats().open_windows, 0);
    let idle = live() - base;
    assert!(
        idle <= one + KEYS * 64,
        "idle keys retain {idle} bytes, with one open window each {one}"
    );

    // Past the key retention every key is forgotten, and the slots they left are given back.
    agg.advance_to(5000 + MIN_KEY_RETAIN_MS as i64 + 1000)
        .unwrap();
    assert!(agg.poll().is_empty());
    assert_eq!(agg.stats().keys, 0);
    let forgotten = live() - base;
    assert!(
        forgotten <= 64 * 1024,
        "forgotten keys still hold {forgotten} bytes (idle: {idle})"
    );
    assert_frees_all(agg, base);

    // Categorical input: the name → slot memo kept between calls costs at most a few bytes per key.
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let codes: Vec<u32> = (0..KEYS as u32).collect();
    let values = vec![1.0; KEYS];
    let many: Vec<String> = (0..10 * KEYS).map(|i| format!("other_{i}")).collect();
    let many_refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let base = live();
    let mut agg = Aggregator::new(AggregatorConfig::new(WindowSpec::Tumbling {
        size_ms: 1000,
    }))
    .unwrap();
    agg.add_batch(coded(&refs, &codes, &values)).unwrap();
    let all = live() - base;
    assert!(
        all <= one + KEYS * 16,
        "{} bytes per key added as a coded column ({per_key} one by one)",
        all / KEYS
    );
    // A column of ten times as many categories as there are keys, of which the rows use three: no
    // memo is kept for it.
    let before = live();
    agg.add_batch(coded(&many_refs, &codes[..3], &values[..3]))
        .unwrap();
    let grown = live() as isize - before as isize;
    assert!(
        grown <= 16 * 1024,
        "a call over {} names of which 3 were used kept {grown} bytes",
        many.len()
    );
    // Kept again by a call over the keys' own names, then given back with the keys by a flush.
    agg.add_batch(coded(&refs, &codes, &values)).unwrap();
    let kept = live() - base;
    drop(agg.flush());
    let flushed = live() - base;
    assert!(
        flushed <= 4 * 1024,
        "a flush kept {flushed} bytes of the {kept} that {KEYS} keys held"
    );
    assert_frees_all(agg, base);

    // Results as columns: a pending result costs its row of numbers and codes (85 bytes, with the
    // vectors' room to grow: ~190 with the metric's text and the per-slot memo; a row of
    // `WindowResult` alone is 128), and between polls the aggregator keeps a 16-byte memo entry per slot plus room for
    // the next batch (at most 16,384 rows of 85 bytes, and their texts' table), nothing per result.
    let base = live();
    let mut agg = Aggregator::new(AggregatorConfig::new(WindowSpec::Tumbling {
        size_ms: 1000,
    }))
    .unwrap();
    assert!(agg.poll_columns().is_empty()); // results are written as columns from now on
    agg.add_batch(coded(&refs, &codes, &values)).unwrap();
    let open = live() - base;
    agg.advance_to(1_100).unwrap(); // every window closes: KEYS results pending
    assert_eq!(agg.stats().pending_results, KEYS);
    let pending = live() as isize - (base + open) as isize;
    assert!(
        pending <= (KEYS * 224) as isize,
        "{} bytes per pending result as columns",
        pending / KEYS as isize
    );
    let cols = agg.poll_columns();
    assert_eq!(cols.len(), KEYS);
    assert_eq!(cols.metric.names_len(), KEYS);
    drop(cols);
    let kept = live() as isize - (base + open) as isize;
    assert!(
        kept <= (KEYS * 16 + 16_384 * 104 + 64 * 1024) as isize,
        "after a poll as columns, {kept} bytes kept beyond the {open} bytes of the open keys"
    );
    // Windows open again on every key: a flush as columns returns their KEYS results and keeps
    // nothing (no room for a next batch, no memo, no table).
    for m in &names {
        agg.add_parts("d", m, 1.0, 1_200, &[], None).unwrap();
    }
    assert_eq!(agg.flush_columns().len(), KEYS);
    let flushed = live() - base;
    assert!(
        flushed <= 4 * 1024,
        "a flush as columns kept {flushed} bytes"
    );
    assert_frees_all(agg, base);

    // With quantiles: closed windows' sketches are pooled for reuse, and a flush frees the pool too.
    let base = live();
    let mut agg = Aggregator::new(AggregatorConfig {
        quantiles: vec![0.5, 0.99],
        ..AggregatorConfig::new(WindowSpec::Tumbling { size_ms: 1000 })
    })
    .unwrap();
    for m in &names[..2000] {
        agg.add_parts("d", m, 1.0, 100, &[], None).unwrap();
    }
    for m in &names[..2000] {
        agg.add_parts("d", m, 2.0, 1100, &[], None).unwrap();
    }
    drop(agg.poll()); // the first windows closed: their sketches went to the pool
    let held = live() - base;
    drop(agg.flush());
    let flushed = live() - base;
    assert!(
        flushed <= 4 * 1024,
        "a flush with quantiles kept {flushed} bytes of {held}"
    );
}

/// Drops `agg` and checks the heap is back to `base` (within 1 KiB).
fn assert_frees_all(agg: Aggregator, base: usize) {
    drop(agg);
    let left = live().saturating_sub(base);
    assert!(
        left <= 1024,
        "a dropped aggregator frees everything: {left} bytes left"
    );
}

/// A batch of `values.len()` rows at time 100 on dashboard `d`, the metric column coded.
fn coded<'a>(names: &'a [&'a str], codes: &'a [u32], values: &'a [f64]) -> Batch<'a> {
    Batch {
        dashboards: Names::One("d"),
        metrics: Names::Coded {
            names,
            codes: Codes::U32(codes),
            valid: None,
        },
        values,
        values_valid: None,
        ts: Column::One(100),
        ts_valid: None,
        tags: &[],
    }
}
