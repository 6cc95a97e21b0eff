//! Benchmark of the hub's fan-out: one publisher, 1 / 100 / 1000 subscribers (tokio tasks awaiting
//! `Subscription::recv`), updates of about 200 B and 4 KiB (MessagePack, gzip over 1 KiB as by default).
//!
//! For each case, median of `RUNS` runs:
//! - throughput: the publisher runs flat out, kept at most `WINDOW` publications ahead of the slowest
//!   subscriber (so nothing is dropped; queues use `disconnect`, so a loss would fail the run); reported as
//!   deliveries (messages received by subscribers) per wall second and per CPU second of the process
//!   (getrusage: publisher, consumers and runtime together). Building each update's `Value` is part of
//!   the publish cost, as it is for a caller.
//! - latency: publish → receive time of `LATENCY_MSGS` paced publications, offered at a quarter of the
//!   measured delivery capacity, p50 and p99 over every subscriber.
//!
//! Run: `cargo run -p dashfeed --release --example bench_hub` (`-- --quick` for a short pass,
//! `-- --no-gzip` to see the cost of compression, `-- --size 4KiB --subs 100` for one case).

use dashfeed::hub::{Hub, HubConfig, Policy, SubscribeOptions};
use dashfeed::{Error, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const RUNS: usize = 3;
const WINDOW: u64 = 512;
const LATENCY_MSGS: u64 = 200;

/// Process start, the origin of the `t` field (nanoseconds) carried by each update.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn now_ns() -> i64 {
    origin().elapsed().as_nanos() as i64
}

/// User + system CPU time of the whole process.
fn cpu_time() -> Duration {
    // SAFETY: `rusage` is plain old data (all-zero is a valid value) and getrusage only writes into it.
    let (rc, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_SELF, &mut usage), usage)
    };
    if rc != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// A dashboard update with `metrics` float metrics (≈14 B each in MessagePack) and a send time `t`.
fn update(i: u64, metrics: usize, names: &[String]) -> Value {
    let mut pairs = Vec::with_capacity(metrics + 1);
    pairs.push(("t".into(), Value::Int(now_ns())));
    for (k, name) in names.iter().enumerate().take(metrics) {
        let v = ((i as f64) * 0.37 + k as f64 * 1.13).sin() * 100.0;
        pairs.push((Value::Str(name.clone()), Value::Float(v)));
    }
    Value::Map(pairs)
}

#[derive(Clone, Copy)]
struct Case {
    subscribers: usize,
    label: &'static str,
    metrics: usize,
    publications: u64,
}

struct Outcome {
    deliveries_per_s: f64,
    deliveries_per_cpu_s: f64,
    p50_us: f64,
    p99_us: f64,
    wire_bytes: usize,
}

/// The hub settings: defaults, or no gzip with `--no-gzip`.
fn config() -> HubConfig {
    let gzip = !std::env::args().any(|a| a == "--no-gzip");
    HubConfig {
        compress_over: if gzip {
            HubConfig::default().compress_over
        } else {
            None
        },
        ..HubConfig::default()
    }
}

fn options(queue_messages: usize) -> SubscribeOptions {
    SubscribeOptions {
        policy: Some(Policy::Disconnect),
        queue_messages: Some(queue_messages),
        queue_bytes: Some(64 << 20),
        ..SubscribeOptions::default()
    }
}

/// Flat-out run: returns (deliveries, wall time, CPU time, wire size of the last update).
fn throughput(
    rt: &tokio::runtime::Runtime,
    case: Case,
    names: &[String],
) -> Res<(u64, Duration, Duration, usize)> {
    let hub = Hub::new(config())?;
    let last = case.publications;
    let received: Arc<Vec<AtomicU64>> =
        Arc::new((0..case.subscribers).map(|_| AtomicU64::new(0)).collect());
    let mut tasks = Vec::with_capacity(case.subscribers);
    for s in 0..case.subscribers {
        let sub = hub.subscribe("bench", options(WINDOW as usize * 2))?;
        let received = received.clone();
        tasks.push(rt.spawn(async move {
            while let Some(m) = sub.recv().await? {
                received[s].store(m.seq(), Ordering::Relaxed);
                if m.seq() == last {
                    break;
                }
            }
            Ok::<u64, Error>(received[s].load(Ordering::Relaxed))
        }));
    }
    let (wall0, cpu0) = (Instant::now(), cpu_time());
    for i in 1..=last {
        if i % 64 == 0 {
            let slowest = || {
                received
                    .iter()
                    .map(|r| r.load(Ordering::Relaxed))
                    .min()
                    .unwrap_or(last)
            };
            for _ in 0..1_000_000 {
                if i.saturating_sub(slowest()) <= WINDOW {
                    break;
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        hub.publish("bench", update(i, case.metrics, names))?;
    }
    rt.block_on(async {
        for t in tasks {
            let seen = t.await??;
            if seen != last {
                return Err(format!("a subscriber stopped at {seen} of {last}").into());
            }
        }
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    })?;
    let (wall, cpu) = (wall0.elapsed(), cpu_time().saturating_sub(cpu0));
    let wire = hub
        .snapshot("bench")?
        .map(|m| m.raw(dashfeed::Format::MsgPack).map(|b| b.len()))
        .transpose()?
        .unwrap_or(0);
    Ok((last * case.subscribers as u64, wall, cpu, wire))
}

/// Paced run: returns every publish → receive latency in nanoseconds.
fn latency(
    rt: &tokio::runtime::Runtime,
    case: Case,
    names: &[String],
    interval: Duration,
) -> Res<Vec<u64>> {
    let hub = Hub::new(config())?;
    let mut tasks = Vec::with_capacity(case.subscribers);
    for _ in 0..case.subscribers {
        let sub = hub.subscribe("bench", options(LATENCY_MSGS as usize + 2))?;
        tasks.push(rt.spawn(async move {
            let mut lat = Vec::with_capacity(LATENCY_MSGS as usize);
            while let Some(m) = sub.recv().await? {
                if let Some(Value::Int(t)) = m.data()?.get("t") {
                    lat.push((now_ns() - t).max(0) as u64);
                }
                if m.seq() == LATENCY_MSGS {
                    break;
                }
            }
            Ok::<Vec<u64>, Error>(lat)
        }));
    }
    let mut next = Instant::now();
    for i in 1..=LATENCY_MSGS {
        next += interval;
        hub.publish("bench", update(i, case.metrics, names))?;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let mut all = Vec::with_capacity(LATENCY_MSGS as usize * case.subscribers);
    rt.block_on(async {
        for t in tasks {
            all.extend(t.await??);
        }
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    })?;
    all.sort_unstable();
    Ok(all)
}

fn run_case(rt: &tokio::runtime::Runtime, case: Case, names: &[String]) -> Res<Outcome> {
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let (deliveries, wall, cpu, wire) = throughput(rt, case, names)?;
        let dps = deliveries as f64 / wall.as_secs_f64();
        let per_cpu = deliveries as f64 / cpu.as_secs_f64().max(1e-9);
        // Offer a quarter of the measured capacity, at most one publication per 100 µs.
        let per_publication = case.subscribers as f64 / (0.25 * dps);
        let interval = Duration::from_secs_f64(per_publication.max(100e-6));
        let lat = latency(rt, case, names, interval)?;
        let pct = |p: usize| lat.get(lat.len() * p / 100).copied().unwrap_or(0) as f64 / 1000.0;
        runs.push(Outcome {
            deliveries_per_s: dps,
            deliveries_per_cpu_s: per_cpu,
            p50_us: pct(50),
            p99_us: pct(99),
            wire_bytes: wire,
        });
    }
    let median = |f: fn(&Outcome) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    Ok(Outcome {
        deliveries_per_s: median(|o| o.deliveries_per_s),
        deliveries_per_cpu_s: median(|o| o.deliveries_per_cpu_s),
        p50_us: median(|o| o.p50_us),
        p99_us: median(|o| o.p99_us),
        wire_bytes: runs.first().map_or(0, |o| o.wire_bytes),
    })
}

fn main() -> Res<()> {
    origin();
    let quick = std::env::args().any(|a| a == "--quick");
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()?;
    let names: Vec<String> = (0..300).map(|k| format!("m{k}")).collect();
    // Total deliveries per run, per payload size.
    let (small_target, large_target) = if quick {
        (200_000, 50_000)
    } else {
        (2_000_000, 400_000)
    };
    println!(
        "hub fan-out: 1 publisher thread, subscribers as tokio tasks on {workers} workers; median of {RUNS} runs"
    );
    println!(
        "{:<22} {:>10} {:>14} {:>16} {:>10} {:>10}",
        "case", "wire B", "deliveries/s", "deliveries/CPU-s", "p50 µs", "p99 µs"
    );
    let arg = |flag: &str| {
        let args: Vec<String> = std::env::args().collect();
        let at = args.iter().position(|a| a == flag)?;
        args.get(at + 1).cloned()
    };
    let (only_size, only_subs) = (arg("--size"), arg("--subs"));
    for (label, metrics, target) in [
        ("200 B", 14usize, small_target),
        ("4 KiB", 290, large_target),
    ] {
        if only_size
            .as_ref()
            .is_some_and(|s| *s != label.replace(' ', ""))
        {
            continue;
        }
        for subscribers in [1usize, 100, 1000] {
            if only_subs
                .as_ref()
                .is_some_and(|s| *s != subscribers.to_string())
            {
                continue;
            }
            let publications = (target / subscribers as u64).max(1000);
            let case = Case {
                subscribers,
                label,
                metrics,
                publications,
            };
            let o = run_case(&rt, case, &names)?;
            println!(
                "{:<22} {:>10} {:>14.0} {:>16.0} {:>10.1} {:>10.1}",
                format!("{} × {} subs", case.label, case.subscribers),
                o.wire_bytes,
                o.deliveries_per_s,
                o.deliveries_per_cpu_s,
                o.p50_us,
                o.p99_us
            );
        }
    }
    Ok(())
}
