//! Unit tests of every breaker transition, driven by a `ManualClock` (no sleeps).

use super::*;
use crate::clock::ManualClock;
use crate::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn make(cfg: BreakerConfig) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(cfg, clock.shared()).unwrap();
    (b, clock)
}

fn base() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 3,
        reset_timeout: ms(1000),
        ..BreakerConfig::default()
    }
}

fn retry_after(b: &CircuitBreaker) -> Duration {
    match b.acquire() {
        Err(Error::CircuitOpen { retry_after }) => retry_after,
        other => panic!("expected circuit_open, got {other:?}"),
    }
}

fn fail(b: &CircuitBreaker) {
    b.acquire().unwrap().failure(ms(1));
}

fn succeed(b: &CircuitBreaker) {
    b.acquire().unwrap().success(ms(1));
}

#[test]
fn opens_after_consecutive_failures_and_a_success_resets_the_count() {
    let (b, _clock) = make(base());
    fail(&b);
    fail(&b);
    succeed(&b);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    let c = b.counters();
    assert_eq!(
        (c.calls, c.failures, c.successes, c.state_changes),
        (6, 5, 1, 1)
    );
}

#[test]
fn open_rejects_with_time_left_then_half_opens_after_reset_timeout() {
    let (b, clock) = make(base());
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(retry_after(&b), ms(1000));
    clock.advance_ms(400);
    assert_eq!(retry_after(&b), ms(600));
    clock.advance_ms(599);
    assert_eq!(retry_after(&b), ms(1));
    assert_eq!(b.state(), State::Open);
    clock.advance_ms(1);
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.counters().rejections, 3);
    let e = b.acquire().map(|p| p.is_trial());
    assert_eq!(e, Ok(true));
}

#[test]
fn half_open_limits_trials_and_success_threshold_closes() {
    let (b, clock) = make(BreakerConfig {
        half_open_max_calls: 2,
        success_threshold: 3,
        ..base()
    });
    for _ in 0..3 {
        fail(&b);
    }
    clock.advance_ms(1000);
    let p1 = b.acquire().unwrap();
    let p2 = b.acquire().unwrap();
    assert!(p1.is_trial() && p2.is_trial());
    assert_eq!(retry_after(&b), Duration::ZERO);
    p1.success(ms(1));
    assert_eq!(b.state(), State::HalfOpen);
    let p3 = b.acquire().unwrap();
    assert!(b.acquire().is_err());
    p2.success(ms(1));
    assert_eq!(b.state(), State::HalfOpen);
    p3.success(ms(1));
    assert_eq!(b.state(), State::Closed);
    assert!(!b.acquire().unwrap().is_trial());
}

#[test]
fn a_half_open_failure_reopens_and_restarts_the_timeout() {
    let (b, clock) = make(BreakerConfig {
        half_open_max_calls: 2,
        success_threshold: 2,
        ..base()
    });
    for _ in 0..3 {
        fail(&b);
    }
    clock.advance_ms(1500);
    let p1 = b.acquire().unwrap();
    let p2 = b.acquire().unwrap();
    p1.success(ms(1));
    clock.advance_ms(250);
    p2.failure(ms(1));
    assert_eq!(b.state(), State::Open);
    assert_eq!(retry_after(&b), ms(1000));
    clock.advance_ms(999);
    assert_eq!(b.state(), State::Open);
    clock.advance_ms(1);
    assert_eq!(b.state(), State::HalfOpen);
    // The earlier success does not carry over to the new half-open period.
    succeed(&b);
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
}

fn rate(threshold: f64, window: RateWindow, minimum_calls: u32) -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 0,
        failure_rate: Some(RateConfig {
            threshold,
            window,
            minimum_calls,
        }),
        ..base()
    }
}

#[test]
fn count_window_opens_on_rate_only_after_minimum_calls() {
    let (b, _clock) = make(rate(0.5, RateWindow::Count(10), 4));
    fail(&b);
    fail(&b);
    fail(&b);
    // 3 of 3 failed but minimum_calls is 4.
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.window_totals(), Some((3, 3)));
    // The fourth call, a success, reaches the minimum with 75 % failures: opens.
    succeed(&b);
    assert_eq!(b.state(), State::Open);
    // Opening clears the window.
    assert_eq!(b.window_totals(), Some((0, 0)));
}

#[test]
fn count_window_stays_closed_below_the_threshold_and_slides() {
    let (b, _clock) = make(rate(0.5, RateWindow::Count(4), 4));
    for ok in [false, true, true, true, true, false] {
        if ok {
            succeed(&b)
        } else {
            fail(&b)
        }
    }
    // The window holds the last four: [ok, ok, ok, failed]: 25 %.
    assert_eq!(b.window_totals(), Some((4, 1)));
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    // [ok, ok, failed, failed]: 50 % = threshold: opens.
    assert_eq!(b.state(), State::Open);
}

#[test]
fn time_window_forgets_failures_older_than_its_span() {
    let window = RateWindow::Time {
        duration: ms(10_000),
        buckets: 10,
    };
    let (b, clock) = make(rate(0.5, window, 4));
    fail(&b);
    fail(&b);
    clock.advance_ms(10_000);
    // The two failures left the window: 1 failure in 4 calls.
    succeed(&b);
    succeed(&b);
    succeed(&b);
    fail(&b);
    assert_eq!(b.window_totals(), Some((4, 1)));
    assert_eq!(b.state(), State::Closed);
    clock.advance_ms(9_000);
    fail(&b);
    assert_eq!(b.window_totals(), Some((5, 2)));
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn consecutive_and_rate_rules_both_apply() {
    let mut cfg = rate(0.9, RateWindow::Count(100), 100);
    cfg.failure_threshold = 2;
    let (b, _clock) = make(cfg);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn slow_and_timed_out_calls_are_failures() {
    let (b, clock) = make(BreakerConfig {
        slow_call_duration: Some(ms(100)),
        timeout: Some(ms(500)),
        ..base()
    });
    b.acquire().unwrap().success(ms(100));
    assert_eq!(b.counters().successes, 1);
    b.acquire().unwrap().success(ms(101));
    b.acquire().unwrap().failure(ms(5));
    b.acquire().unwrap().success(ms(500));
    assert_eq!(b.state(), State::Open);
    let c = b.counters();
    assert_eq!((c.failures, c.slow_calls, c.timeouts), (3, 1, 1));
    clock.advance_ms(1000);
    // A slow trial reopens.
    b.acquire().unwrap().success(ms(200));
    assert_eq!(b.state(), State::Open);
    clock.advance_ms(1000);
    b.acquire().unwrap().timeout(ms(1));
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.counters().timeouts, 2);
}

#[test]
fn ignored_outcomes_count_nowhere_and_free_trial_slots() {
    let (b, clock) = make(base());
    fail(&b);
    fail(&b);
    b.acquire().unwrap().ignore();
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    clock.advance_ms(1000);
    let trial = b.acquire().unwrap();
    assert!(b.acquire().is_err());
    trial.ignore();
    assert_eq!(b.state(), State::HalfOpen);
    // A dropped permit is ignored too.
    drop(b.acquire().unwrap());
    succeed(&b);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.counters().ignored, 3);
}

#[test]
fn manual_open_holds_past_the_timeout_until_close() {
    let (b, clock) = make(base());
    b.open();
    assert_eq!(b.state(), State::Open);
    clock.advance_ms(5_000);
    assert_eq!(b.state(), State::Open);
    assert_eq!(retry_after(&b), ms(1000));
    b.close();
    assert_eq!(b.state(), State::Closed);
    succeed(&b);
    // Forcing an already open breaker keeps it open past its timeout.
    for _ in 0..3 {
        fail(&b);
    }
    b.open();
    clock.advance_ms(5_000);
    assert_eq!(b.state(), State::Open);
    b.reset();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.counters(), BreakerCounters::default());
}

#[test]
fn close_clears_failure_counts_and_window() {
    let mut cfg = rate(0.5, RateWindow::Count(10), 4);
    cfg.failure_threshold = 3;
    let (b, _clock) = make(cfg);
    fail(&b);
    fail(&b);
    b.close();
    assert_eq!(b.window_totals(), Some((0, 0)));
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn outcomes_of_permits_from_an_earlier_generation_do_not_drive_the_state() {
    let (b, clock) = make(BreakerConfig {
        failure_threshold: 1,
        ..base()
    });
    let old = b.acquire().unwrap();
    fail(&b);
    clock.advance_ms(1000);
    let trial = b.acquire().unwrap();
    // A failure from the closed period must not reopen the half-open breaker, nor free the slot.
    old.failure(ms(1));
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.acquire().is_err());
    trial.success(ms(1));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.counters().failures, 2);
}

#[test]
fn listeners_see_transitions_and_rejections_in_order() {
    let (b, clock) = make(BreakerConfig {
        failure_threshold: 1,
        ..base()
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let id = b.add_listener(move |e| s.lock().unwrap().push(*e));
    fail(&b);
    let _ = b.acquire();
    clock.advance_ms(1000);
    succeed(&b);
    let events = seen.lock().unwrap().clone();
    use BreakerEvent::*;
    assert_eq!(
        events,
        vec![
            Failure {
                duration: ms(1),
                kind: FailureKind::Error
            },
            StateChange {
                from: State::Closed,
                to: State::Open
            },
            Rejected {
                state: State::Open,
                retry_after: ms(1000)
            },
            StateChange {
                from: State::Open,
                to: State::HalfOpen
            },
            Success { duration: ms(1) },
            StateChange {
                from: State::HalfOpen,
                to: State::Closed
            },
        ]
    );
    assert!(b.remove_listener(id));
    assert!(!b.remove_listener(id));
    fail(&b);
    assert_eq!(seen.lock().unwrap().len(), events.len());
}

#[test]
fn a_listener_may_register_listeners_and_call_the_breaker() {
    let (b, _clock) = make(BreakerConfig {
        failure_threshold: 1,
        ..base()
    });
    let b = Arc::new(b);
    let inner_calls = Arc::new(Mutex::new(0));
    let (weak, counter) = (Arc::downgrade(&b), Arc::clone(&inner_calls));
    b.add_listener(move |e| {
        if let (
            BreakerEvent::StateChange {
                to: State::Open, ..
            },
            Some(b),
        ) = (e, weak.upgrade())
        {
            assert_eq!(b.state(), State::Open);
            let c = Arc::clone(&counter);
            b.add_listener(move |_| *c.lock().unwrap() += 1);
        }
    });
    fail(&b);
    assert!(b.acquire().is_err());
    assert_eq!(*inner_calls.lock().unwrap(), 1);
}

#[test]
fn call_reports_outcomes_with_durations_on_the_breaker_clock() {
    let (b, clock) = make(BreakerConfig {
        slow_call_duration: Some(ms(50)),
        ..base()
    });
    assert_eq!(b.call(|| Ok::<_, &str>(7)), Ok(Ok(7)));
    let slow = b.call(|| {
        clock.advance_ms(51);
        Ok::<_, &str>(1)
    });
    assert_eq!(slow, Ok(Ok(1)));
    assert_eq!(b.counters().slow_calls, 1);
    assert_eq!(
        b.call_with(|| Err::<(), _>("excluded"), |e| *e == "excluded"),
        Ok(Err("excluded"))
    );
    assert_eq!(b.counters().ignored, 1);
    assert_eq!(b.call(|| Err::<(), _>("boom")), Ok(Err("boom")));
    b.call(|| Err::<(), _>("boom")).unwrap().unwrap_err();
    assert_eq!(b.state(), State::Open);
    let mut ran = false;
    let rejected = b.call(|| {
        ran = true;
        Ok::<_, &str>(())
    });
    assert_eq!(rejected.unwrap_err().code(), "circuit_open");
    assert!(!ran);
}

#[test]
fn owned_permit_measures_elapsed_time_on_the_breaker_clock() {
    let (b, clock) = make(BreakerConfig {
        slow_call_duration: Some(ms(10)),
        failure_threshold: 1,
        ..base()
    });
    let b = Arc::new(b);
    let p = b.acquire_owned().unwrap();
    clock.advance_ms(11);
    assert_eq!(p.elapsed(), ms(11));
    p.report_elapsed(Outcome::Success);
    assert_eq!(b.state(), State::Open);
    clock.advance_ms(1000);
    let p = b.acquire_owned().unwrap();
    assert!(p.is_trial());
    drop(p);
    assert_eq!(b.state(), State::HalfOpen);
    b.acquire_owned().unwrap().success(ms(1));
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn invalid_configs_are_refused_with_invalid_input() {
    let bad = [
        BreakerConfig {
            failure_threshold: 0,
            ..base()
        },
        BreakerConfig {
            failure_threshold: MAX_COUNT + 1,
            ..base()
        },
        BreakerConfig {
            reset_timeout: Duration::ZERO,
            ..base()
        },
        BreakerConfig {
            half_open_max_calls: 0,
            ..base()
        },
        BreakerConfig {
            success_threshold: 0,
            ..base()
        },
        BreakerConfig {
            slow_call_duration: Some(Duration::ZERO),
            ..base()
        },
        BreakerConfig {
            timeout: Some(Duration::ZERO),
            ..base()
        },
        rate(0.0, RateWindow::Count(10), 1),
        rate(1.5, RateWindow::Count(10), 1),
        rate(f64::NAN, RateWindow::Count(10), 1),
        rate(0.5, RateWindow::Count(0), 1),
        rate(0.5, RateWindow::Count(10), 0),
        rate(0.5, RateWindow::Count(10), 11),
        rate(
            0.5,
            RateWindow::Time {
                duration: ms(10),
                buckets: 0,
            },
            1,
        ),
        rate(
            0.5,
            RateWindow::Time {
                duration: ms(10),
                buckets: 11,
            },
            1,
        ),
    ];
    for cfg in bad {
        let err = CircuitBreaker::new(cfg.clone()).unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{cfg:?}");
    }
    assert!(CircuitBreaker::new(BreakerConfig::default()).is_ok());
    assert!(CircuitBreaker::new(rate(1.0, RateConfig::default().window, 100)).is_ok());
}
