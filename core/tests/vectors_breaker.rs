//! Replays the cross-language breaker and limiter transcripts in tests/vectors/breaker (shared with the
//! Python and Node suites; format in tests/vectors/breaker/README.md).

use dashfeed::breaker::{
    Answer, BreakerConfig, BreakerEvent, CallEnd, CircuitBreaker, Failure, Guard, Permit,
    RateConfig, RateWindow,
};
use dashfeed::clock::{Clock, ManualClock};
use dashfeed::limit::{LimiterConfig, RateLimiter};
use dashfeed::Error;
use serde_json::Value as J;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BREAKER_FILES: &[&str] = &[
    "consecutive.json",
    "half_open.json",
    "rate_count.json",
    "rate_time.json",
    "slow_timeout.json",
    "excluded.json",
    "manual.json",
    "guarded.json",
];

fn load(name: &str) -> J {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/vectors/breaker")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ms(j: &J) -> Duration {
    Duration::from_millis(j.as_u64().unwrap_or_else(|| panic!("not a ms count: {j}")))
}

fn opt_ms(j: &J, key: &str) -> Option<Duration> {
    j.get(key).map(ms)
}

fn breaker_config(c: &J) -> BreakerConfig {
    let failure_rate = c.get("failure_rate").map(|r| {
        let w = &r["window"];
        let window = match w.get("count") {
            Some(n) => RateWindow::Count(n.as_u64().unwrap() as u32),
            None => RateWindow::Time {
                duration: ms(&w["time_ms"]),
                buckets: w["buckets"].as_u64().unwrap() as u32,
            },
        };
        RateConfig {
            threshold: r["threshold"].as_f64().unwrap(),
            window,
            minimum_calls: r["minimum_calls"].as_u64().unwrap() as u32,
        }
    });
    BreakerConfig {
        failure_threshold: c["failure_threshold"].as_u64().unwrap() as u32,
        failure_rate,
        slow_call_duration: opt_ms(c, "slow_call_ms"),
        reset_timeout: ms(&c["reset_timeout_ms"]),
        half_open_max_calls: c["half_open_max_calls"].as_u64().unwrap() as u32,
        success_threshold: c["success_threshold"].as_u64().unwrap() as u32,
        timeout: opt_ms(c, "timeout_ms"),
    }
}

fn check_rejection(r: Result<(), Error>, step: &J, at: &str) {
    let expected = ms(&step["retry_after_ms"]);
    match r {
        Err(Error::CircuitOpen { retry_after }) => assert_eq!(retry_after, expected, "{at}"),
        other => panic!("{at}: expected circuit_open, got {other:?}"),
    }
}

/// A step's `answer`, or its default (README.md).
fn expected_answer(step: &J) -> &str {
    match (
        step.get("answer"),
        step["expect"].as_str(),
        step["outcome"].as_str(),
    ) {
        (Some(a), _, _) => a.as_str().unwrap(),
        (None, Some("rejected"), _) => "circuit_open",
        (None, _, Some("success")) => "value",
        (None, _, _) => "error",
    }
}

/// A `call` step as a binding runs it: fn advances the clock by `d` and ends as the step's outcome;
/// the core's [`Guard`] decides what is recorded and answered. Returns the answer's name and, when
/// rejected, the `retry_after`. Without a fallback or a timer, `call_with` makes the call (the same
/// decision), so that it is replayed too.
fn guarded_call(
    b: &CircuitBreaker,
    clock: &ManualClock,
    guard: Guard,
    step: &J,
    d: u64,
) -> (&'static str, Option<Duration>) {
    let outcome = step["outcome"].as_str().unwrap();
    let end = match outcome {
        "success" => CallEnd::Returned,
        "failure" => CallEnd::Failed(Failure::Counted),
        "ignored" => CallEnd::Failed(Failure::Excluded),
        "timed_out" => CallEnd::TimedOut,
        other => panic!("unknown outcome {other}"),
    };
    if !guard.fallback && end != CallEnd::TimedOut {
        let result = b.call_with(
            || {
                clock.advance_ms(d);
                match end {
                    CallEnd::Returned => Ok(()),
                    _ => Err(end),
                }
            },
            |e| *e == CallEnd::Failed(Failure::Excluded),
        );
        return match result {
            Ok(Ok(())) => ("value", None),
            Ok(Err(_)) => ("error", None),
            Err(Error::CircuitOpen { retry_after }) => ("circuit_open", Some(retry_after)),
            Err(e) => panic!("unexpected {e}"),
        };
    }
    let permit = match b.acquire() {
        Ok(p) => p,
        Err(e) => {
            let Error::CircuitOpen { retry_after } = e else {
                panic!("unexpected {e}")
            };
            return (name(&guard.rejected(e)), Some(retry_after));
        }
    };
    clock.advance_ms(d);
    (
        name(&permit.settle(guard, end, Duration::from_millis(d))),
        None,
    )
}

/// The vectors' name of an answer.
fn name(answer: &Answer) -> &'static str {
    match answer {
        Answer::Value => "value",
        Answer::Fallback => "fallback",
        Answer::Rethrow => "error",
        Answer::FilterError => "filter_error",
        Answer::Raise(e) => e.code(),
    }
}

fn run_breaker_case(file: &str, case: &J) {
    let name = format!("{file}/{}", case["name"].as_str().unwrap());
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(breaker_config(&case["config"]), clock.shared())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let entered = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&entered);
    b.add_listener(move |e| {
        if let BreakerEvent::StateChange { to, .. } = e {
            sink.lock().unwrap().push(to.name().to_string());
        }
    });
    let mut permits: HashMap<String, Permit<'_>> = HashMap::new();
    let guard = Guard {
        fallback: case["config"]["fallback"].as_bool().unwrap_or(false),
    };
    for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
        let at = format!("{name} step {i} {step}");
        match step["op"].as_str().unwrap() {
            "acquire" => match step["expect"].as_str().unwrap() {
                "allowed" => {
                    let p = b.acquire().unwrap_or_else(|e| panic!("{at}: {e}"));
                    permits.insert(step["permit"].as_str().unwrap().to_string(), p);
                }
                _ => check_rejection(b.acquire().map(drop), step, &at),
            },
            "report" => {
                let p = permits
                    .remove(step["permit"].as_str().unwrap())
                    .unwrap_or_else(|| panic!("{at}: unknown permit"));
                let d = ms(&step["duration_ms"]);
                match step["outcome"].as_str().unwrap() {
                    "success" => p.success(d),
                    "failure" => p.failure(d),
                    "timeout" => p.timeout(d),
                    "ignored" => p.ignore(),
                    other => panic!("{at}: unknown outcome {other}"),
                }
            }
            "call" => {
                let d = step["duration_ms"].as_u64().unwrap();
                let before = clock.now_ms();
                let (answer, retry_after) = guarded_call(&b, &clock, guard, step, d);
                assert_eq!(answer, expected_answer(step), "{at}: answer");
                match step["expect"].as_str().unwrap() {
                    "allowed" => assert_eq!(retry_after, None, "{at}: rejected"),
                    _ => {
                        assert_eq!(clock.now_ms(), before, "{at}: fn was called");
                        assert_eq!(retry_after, Some(ms(&step["retry_after_ms"])), "{at}");
                    }
                }
            }
            "advance" => clock.advance_ms(step["ms"].as_u64().unwrap()),
            "open" => b.open(),
            "close" => b.close(),
            "reset" => b.reset(),
            "counters" => {
                let c = b.counters();
                let actual = serde_json::json!({
                    "calls": c.calls, "successes": c.successes, "failures": c.failures,
                    "ignored": c.ignored, "rejections": c.rejections, "slow_calls": c.slow_calls,
                    "timeouts": c.timeouts, "state_changes": c.state_changes,
                });
                for (k, v) in step["expect"].as_object().unwrap() {
                    assert_eq!(&actual[k], v, "{at}: counter {k}");
                }
            }
            other => panic!("{at}: unknown op {other}"),
        }
        assert_eq!(
            b.state().name(),
            step["state"].as_str().unwrap(),
            "{at}: state"
        );
        let expected: Vec<String> = step
            .get("transitions")
            .map(|t| serde_json::from_value(t.clone()).unwrap())
            .unwrap_or_default();
        let got = std::mem::take(&mut *entered.lock().unwrap());
        assert_eq!(got, expected, "{at}: transitions");
    }
}

#[test]
fn breaker_transcripts() {
    let mut cases = 0;
    for file in BREAKER_FILES {
        let doc = load(file);
        for case in doc["cases"].as_array().unwrap() {
            run_breaker_case(file, case);
            cases += 1;
        }
    }
    assert!(cases >= 25, "{cases} cases");
}

#[test]
fn limiter_transcripts() {
    let doc = load("limiter.json");
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let c = &case["config"];
        let mut cfg = LimiterConfig::new(
            c["rate"].as_f64().unwrap(),
            c["burst"].as_u64().unwrap() as u32,
        );
        if let Some(s) = opt_ms(c, "sweep_interval_ms") {
            cfg.sweep_interval = s;
        }
        let clock = ManualClock::new();
        let l = RateLimiter::with_clock(cfg, clock.shared()).unwrap();
        let mut now = 0;
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let at = format!("{name} step {i} {step}");
            let t = step["t_ms"].as_u64().unwrap();
            assert!(t >= now, "{at}: time goes backwards");
            clock.advance_ms(t - now);
            now = t;
            match step["op"].as_str().unwrap() {
                "check" => {
                    let key = step["key"].as_str().unwrap();
                    let r = match step.get("n") {
                        Some(n) => l.check_n(key, n.as_u64().unwrap() as u32),
                        None => l.check(key),
                    };
                    match (step["expect"].as_str().unwrap(), r) {
                        ("allowed", Ok(())) => {}
                        ("limited", Err(Error::RateLimited { retry_after })) => {
                            assert_eq!(retry_after, ms(&step["retry_after_ms"]), "{at}")
                        }
                        ("error", Err(e)) => assert_eq!(e.code(), step["code"], "{at}"),
                        (_, r) => panic!("{at}: got {r:?}"),
                    }
                }
                "retain_recent" => {
                    l.retain_recent();
                    assert_eq!(l.len() as u64, step["keys"].as_u64().unwrap(), "{at}");
                }
                other => panic!("{at}: unknown op {other}"),
            }
        }
    }
}
