//! Micro-benchmark of the circuit breaker and the rate limiter: nanoseconds per guarded call in the
//! closed state (1 and 2 threads), per rejected call in the open state, a 50 % failure mix with count
//! and time windows, `call()` with real clock reads, and a limiter check. Median of 5 runs each.
//!
//! Run: `cargo run -p dashfeed --release --example bench_breaker`

use dashfeed::breaker::{BreakerConfig, CircuitBreaker, RateConfig, RateWindow};
use dashfeed::limit::{LimiterConfig, RateLimiter};
use dashfeed::Result;
use std::hint::black_box;
use std::time::{Duration, Instant};

const RUNS: usize = 5;
const N: u64 = 2_000_000;
const D: Duration = Duration::from_micros(50);

/// Median of `RUNS` runs of `f`, which returns the elapsed time for `N` operations per thread.
fn median_ns(mut f: impl FnMut() -> Duration) -> f64 {
    let mut v: Vec<f64> = (0..RUNS)
        .map(|_| f().as_nanos() as f64 / N as f64)
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[RUNS / 2]
}

/// Runs `op` `N` times on each of `threads` threads; returns the wall time.
fn run(threads: usize, op: &(impl Fn(u64) + Sync)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for i in 0..N {
                    op(i);
                }
            });
        }
    });
    start.elapsed()
}

fn report(name: &str, ns: f64) {
    println!("{name:<58} {ns:>8.1} ns");
}

fn mix(window: RateWindow) -> Result<CircuitBreaker> {
    CircuitBreaker::new(BreakerConfig {
        failure_threshold: 0,
        failure_rate: Some(RateConfig {
            threshold: 0.9,
            window,
            minimum_calls: 10,
        }),
        ..BreakerConfig::default()
    })
}

fn main() -> Result<()> {
    println!("median of {RUNS} runs, {N} operations per thread per run");

    let closed = CircuitBreaker::new(BreakerConfig::default())?;
    let guarded = |_: u64| {
        if let Ok(p) = closed.acquire() {
            p.success(black_box(D));
        }
    };
    report(
        "closed: acquire + success, 1 thread",
        median_ns(|| run(1, &guarded)),
    );
    report(
        "closed: acquire + success, 2 threads (per call per thread)",
        median_ns(|| run(2, &guarded)),
    );

    let via_call = |i: u64| {
        let _ = black_box(closed.call(|| Ok::<u64, ()>(black_box(i))));
    };
    report(
        "closed: call(f) incl. 2 monotonic clock reads, 1 thread",
        median_ns(|| run(1, &via_call)),
    );

    let open = CircuitBreaker::new(BreakerConfig {
        failure_threshold: 1,
        reset_timeout: Duration::from_secs(3600),
        ..BreakerConfig::default()
    })?;
    if let Ok(p) = open.acquire() {
        p.failure(D);
    }
    let rejected = |_: u64| {
        black_box(open.acquire().is_err());
    };
    report(
        "open: rejected acquire (reads the clock), 1 thread",
        median_ns(|| run(1, &rejected)),
    );
    report(
        "open: rejected acquire, 2 threads",
        median_ns(|| run(2, &rejected)),
    );

    let count = mix(RateWindow::Count(100))?;
    let time = mix(RateWindow::Time {
        duration: Duration::from_secs(10),
        buckets: 10,
    })?;
    for (name, b) in [
        ("count window 100", &count),
        ("time window 10 s / 10", &time),
    ] {
        let op = |i: u64| {
            if let Ok(p) = b.acquire() {
                if i % 2 == 0 {
                    p.failure(black_box(D));
                } else {
                    p.success(black_box(D));
                }
            }
        };
        report(
            &format!("50% failures, {name}, 1 thread"),
            median_ns(|| run(1, &op)),
        );
        report(
            &format!("50% failures, {name}, 2 threads"),
            median_ns(|| run(2, &op)),
        );
        if b.counters().rejections != 0 {
            println!("  (unexpected rejections: the mix should stay closed)");
        }
    }

    let limiter = RateLimiter::new(LimiterConfig::new(1e9, 1_000_000))?;
    let check = |_: u64| {
        black_box(limiter.check("client-42").is_ok());
    };
    report(
        "limiter: check of a known key, 1 thread",
        median_ns(|| run(1, &check)),
    );
    Ok(())
}
