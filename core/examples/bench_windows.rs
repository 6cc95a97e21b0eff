//! Throughput of the window aggregator on one core.
//!
//! `cargo run --release -p dashfeed --example bench_windows [events] [label filter]`
//!
//! 1M events (default) spread evenly over 60 s of event time, 1 s tumbling windows, keys drawn at
//! random; each run builds a new aggregator, feeds every event, polls after each batch and flushes at
//! the end. Prints the median of 5 runs (events/s and ns/event) for: 1k keys and 100k keys without
//! quantiles through `add_columns` (batches of 4096), 1k keys with p50/p99, 1k keys through the
//! per-event `add_parts`, and 1k / 10k / 100k keys through `add_batch` with the metric column
//! dictionary-encoded (names + u32 codes: one key lookup per distinct name), and the last at 1k and
//! 100k keys again polling the results as columns (`poll_columns`).

use dashfeed::window::{
    Aggregator, AggregatorConfig, Batch, Codes, Column, Names, WindowResult, WindowSpec,
};
use std::hint::black_box;
use std::time::Instant;

const RUNS: usize = 5;
const BATCH: usize = 4096;
const SPAN_MS: i64 = 60_000;

struct Data {
    names: Vec<String>,
    key_of: Vec<u32>,
    values: Vec<f64>,
    ts: Vec<i64>,
}

fn data(events: usize, keys: usize) -> Data {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let key_of = (0..events).map(|_| (next() % keys as u64) as u32).collect();
    let values = (0..events)
        .map(|_| (next() % 100_000) as f64 * 0.01)
        .collect();
    let ts = (0..events)
        .map(|i| 1_700_000_000_000 + i as i64 * SPAN_MS / events as i64)
        .collect();
    let names = (0..keys).map(|k| format!("metric.{k}")).collect();
    Data {
        names,
        key_of,
        values,
        ts,
    }
}

#[derive(Clone, Copy)]
enum Api {
    Columns,
    Parts,
    Coded,
    /// `Coded`, polling with `poll_columns` (the results as columns) instead of `poll_into`.
    CodedColumns,
}

/// One run: returns (seconds, results emitted).
fn run(d: &Data, metrics: &[&str], quantiles: &[f64], api: Api) -> dashfeed::Result<(f64, usize)> {
    let mut cfg = AggregatorConfig::new(WindowSpec::tumbling(1_000));
    cfg.quantiles = quantiles.to_vec();
    cfg.max_pending_results = usize::MAX;
    let mut agg = Aggregator::new(cfg)?;
    let mut out: Vec<WindowResult> = Vec::with_capacity(1 << 16);
    let mut emitted = 0;
    let start = Instant::now();
    match api {
        Api::Columns => {
            for ((m, v), t) in metrics
                .chunks(BATCH)
                .zip(d.values.chunks(BATCH))
                .zip(d.ts.chunks(BATCH))
            {
                black_box(agg.add_columns(
                    Column::One("bench"),
                    Column::Each(m),
                    v,
                    Column::Each(t),
                    &[],
                )?);
                agg.poll_into(&mut out);
                emitted += out.len();
                out.clear();
            }
        }
        Api::Coded | Api::CodedColumns => {
            let names: Vec<&str> = d.names.iter().map(String::as_str).collect();
            for ((c, v), t) in d
                .key_of
                .chunks(BATCH)
                .zip(d.values.chunks(BATCH))
                .zip(d.ts.chunks(BATCH))
            {
                black_box(agg.add_batch(Batch {
                    dashboards: Names::One("bench"),
                    metrics: Names::Coded {
                        names: &names,
                        codes: Codes::U32(c),
                        valid: None,
                    },
                    values: v,
                    values_valid: None,
                    ts: Column::Each(t),
                    ts_valid: None,
                    tags: &[],
                })?);
                if matches!(api, Api::CodedColumns) {
                    emitted += black_box(agg.poll_columns()).len();
                } else {
                    agg.poll_into(&mut out);
                    emitted += out.len();
                    out.clear();
                }
            }
        }
        Api::Parts => {
            for (i, ((m, &v), &t)) in metrics.iter().zip(&d.values).zip(&d.ts).enumerate() {
                agg.add_parts("bench", m, v, t, &[], None)?;
                if i % BATCH == BATCH - 1 {
                    agg.poll_into(&mut out);
                    emitted += out.len();
                    out.clear();
                }
            }
        }
    }
    emitted += match api {
        Api::CodedColumns => agg.flush_columns().len(),
        _ => agg.flush().len(),
    };
    Ok((start.elapsed().as_secs_f64(), emitted))
}

fn bench(
    label: &str,
    events: usize,
    keys: usize,
    quantiles: &[f64],
    api: Api,
) -> dashfeed::Result<()> {
    if let Some(only) = std::env::args().nth(2) {
        if !label.contains(only.as_str()) {
            return Ok(());
        }
    }
    let d = data(events, keys);
    let metrics: Vec<&str> = d
        .key_of
        .iter()
        .map(|&k| d.names[k as usize].as_str())
        .collect();
    let mut times = Vec::with_capacity(RUNS);
    let mut emitted = 0;
    for _ in 0..RUNS {
        let (secs, n) = run(&d, &metrics, quantiles, api)?;
        times.push(secs);
        emitted = n;
    }
    times.sort_by(f64::total_cmp);
    let median = times[RUNS / 2];
    println!(
        "{label:<44} {:>7.1} M events/s {:>7.1} ns/event  ({emitted} results; runs {:.1}-{:.1} ms)",
        events as f64 / median / 1e6,
        median * 1e9 / events as f64,
        times[0] * 1e3,
        times[RUNS - 1] * 1e3,
    );
    Ok(())
}

fn main() -> dashfeed::Result<()> {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    println!(
        "{events} events over 60 s of event time, 1 s tumbling windows, median of {RUNS} runs"
    );
    let no_q: &[f64] = &[];
    bench(
        "1k keys, count/sum/min/max/mean, add_columns",
        events,
        1_000,
        no_q,
        Api::Columns,
    )?;
    bench(
        "100k keys, no quantiles, add_columns",
        events,
        100_000,
        no_q,
        Api::Columns,
    )?;
    bench(
        "1k keys, p50/p99, add_columns",
        events,
        1_000,
        &[0.5, 0.99],
        Api::Columns,
    )?;
    bench(
        "1k keys, no quantiles, add_parts",
        events,
        1_000,
        no_q,
        Api::Parts,
    )?;
    bench(
        "1k keys, no quantiles, add_batch (codes)",
        events,
        1_000,
        no_q,
        Api::Coded,
    )?;
    bench(
        "10k keys, no quantiles, add_batch (codes)",
        events,
        10_000,
        no_q,
        Api::Coded,
    )?;
    bench(
        "100k keys, no quantiles, add_batch (codes)",
        events,
        100_000,
        no_q,
        Api::Coded,
    )?;
    bench(
        "1k keys, add_batch (codes), poll_columns",
        events,
        1_000,
        no_q,
        Api::CodedColumns,
    )?;
    bench(
        "100k keys, add_batch (codes), poll_columns",
        events,
        100_000,
        no_q,
        Api::CodedColumns,
    )
}
