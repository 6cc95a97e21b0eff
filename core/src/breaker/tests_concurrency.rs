//! Concurrency tests of the breaker: exact half-open admission, exact counters and single transitions
//! with many threads (bounded loops, manual clock, no sleeps).

use super::*;
use crate::clock::ManualClock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const THREADS: usize = 8;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn half_open_never_admits_more_trials_than_allowed_at_once() {
    const MAX: u32 = 3;
    let clock = ManualClock::new();
    let cfg = BreakerConfig {
        failure_threshold: 1,
        reset_timeout: ms(100),
        half_open_max_calls: MAX,
        success_threshold: MAX_COUNT,
        ..BreakerConfig::default()
    };
    let b = CircuitBreaker::with_clock(cfg, clock.shared()).unwrap();
    b.acquire().unwrap().failure(ms(1));
    clock.advance_ms(100);
    assert_eq!(b.state(), State::HalfOpen);

    let in_flight = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let admitted = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (b, in_flight, peak, admitted) = (&b, &in_flight, &peak, &admitted);
            s.spawn(move || {
                for i in 0..20_000 {
                    if let Ok(p) = b.acquire() {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        assert!(now <= MAX as usize, "{now} trials at once");
                        admitted.fetch_add(1, Ordering::Relaxed);
                        // Hold the slot across a reschedule so that other threads pile up on it.
                        std::thread::yield_now();
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        // Successes (below the threshold) and ignores both free the slot.
                        if (i + t) % 2 == 0 {
                            p.success(ms(1));
                        } else {
                            p.ignore();
                        }
                    }
                }
            });
        }
    });
    assert!(peak.load(Ordering::SeqCst) <= MAX as usize);
    assert!(admitted.load(Ordering::SeqCst) > 0);
    assert_eq!(b.state(), State::HalfOpen);
    // Every slot was given back: exactly MAX permits can be taken now.
    let held: Vec<_> = (0..MAX).map(|_| b.acquire().unwrap()).collect();
    assert!(b.acquire().is_err());
    drop(held);
    let c = b.counters();
    assert_eq!(
        c.calls,
        admitted.load(Ordering::SeqCst) as u64 + 1 + MAX as u64
    );
    assert_eq!(
        c.calls + c.rejections,
        (THREADS * 20_000) as u64 + 1 + MAX as u64 + 1
    );
}

#[test]
fn closed_state_counters_are_exact_under_contention() {
    let b =
        CircuitBreaker::with_clock(BreakerConfig::default(), ManualClock::new().shared()).unwrap();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..5_000 {
                    b.acquire().unwrap().success(ms(1));
                }
            });
        }
    });
    let c = b.counters();
    assert_eq!((c.calls, c.successes), (40_000, 40_000));
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn concurrent_failures_open_the_breaker_exactly_once() {
    let b = CircuitBreaker::with_clock(
        BreakerConfig {
            failure_threshold: 50,
            ..BreakerConfig::default()
        },
        ManualClock::new().shared(),
    )
    .unwrap();
    let changes = Arc::new(AtomicUsize::new(0));
    let c2 = Arc::clone(&changes);
    b.add_listener(move |e| {
        if let BreakerEvent::StateChange { .. } = e {
            c2.fetch_add(1, Ordering::SeqCst);
        }
    });
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..1_000 {
                    if let Ok(p) = b.acquire() {
                        p.failure(ms(1));
                    }
                }
            });
        }
    });
    assert_eq!(b.state(), State::Open);
    assert_eq!(changes.load(Ordering::SeqCst), 1);
    let c = b.counters();
    assert_eq!(c.state_changes, 1);
    assert!(c.failures >= 50);
    assert_eq!(c.calls + c.rejections, (THREADS * 1_000) as u64);
}

#[test]
fn a_mixed_load_below_the_rate_threshold_never_opens() {
    let clock = ManualClock::new();
    let cfg = BreakerConfig {
        failure_threshold: 0,
        failure_rate: Some(RateConfig {
            threshold: 0.9,
            window: RateWindow::Count(100),
            minimum_calls: 10,
        }),
        ..BreakerConfig::default()
    };
    let b = CircuitBreaker::with_clock(cfg, clock.shared()).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for i in 0..5_000 {
                    let p = b.acquire().unwrap();
                    if i % 2 == 0 {
                        p.failure(ms(1));
                    } else {
                        p.success(ms(1));
                    }
                }
            });
        }
    });
    assert_eq!(b.state(), State::Closed);
    let (calls, failures) = b.window_totals().unwrap();
    assert_eq!(calls, 100);
    assert!((30..=70).contains(&failures), "{failures}");
}
