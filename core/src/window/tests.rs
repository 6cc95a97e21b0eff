//! Unit tests of the [`Aggregator`](super::Aggregator): each window kind, lateness and late output, idle
//! close on a manual clock, emit modes, batches, caps, memory release and determinism.

use super::*;
use crate::clock::ManualClock;
use crate::event::Event;

fn cfg(window: WindowSpec) -> AggregatorConfig {
    AggregatorConfig::new(window)
}

fn agg(config: AggregatorConfig) -> Aggregator {
    Aggregator::new(config).unwrap()
}

fn add(a: &mut Aggregator, metric: &str, value: f64, ts: i64) {
    a.add_parts("d", metric, value, ts, &[], None).unwrap();
}

/// (metric, start, end, count, sum, final) of each result.
fn brief(results: &[WindowResult]) -> Vec<(String, i64, i64, u64, f64, bool)> {
    results
        .iter()
        .map(|r| {
            let m = r.key.metric.clone();
            (m, r.start_ms, r.end_ms, r.count, r.sum, r.is_final)
        })
        .collect()
}

fn row(m: &str, s: i64, e: i64, c: u64, sum: f64, fin: bool) -> (String, i64, i64, u64, f64, bool) {
    (m.to_string(), s, e, c, sum, fin)
}

#[test]
fn tumbling_windows_close_on_the_watermark_in_end_then_open_order() {
    let mut a = agg(cfg(WindowSpec::tumbling(1000)));
    add(&mut a, "b", 1.0, 100);
    add(&mut a, "a", 2.0, 200);
    add(&mut a, "b", 3.0, 999);
    assert!(
        a.poll().is_empty(),
        "nothing closes before the watermark reaches 1000"
    );
    add(&mut a, "a", 4.0, 1000);
    let r = a.poll();
    assert_eq!(
        brief(&r),
        [
            row("b", 0, 1000, 2, 4.0, true),
            row("a", 0, 1000, 1, 2.0, true)
        ],
        "same end: the window opened first comes first"
    );
    assert_eq!((r[0].min, r[0].max, r[0].mean), (1.0, 3.0, 2.0));
    assert_eq!((r[0].first, r[0].last), (1.0, 3.0));
    a.advance_to(5000).unwrap();
    assert_eq!(brief(&a.poll()), [row("a", 1000, 2000, 1, 4.0, true)]);
    assert_eq!(a.stats().late, 0);
}

#[test]
fn negative_event_times_align_to_the_epoch() {
    let mut a = agg(cfg(WindowSpec::tumbling(1000)));
    add(&mut a, "m", 1.0, -1);
    add(&mut a, "m", 1.0, -1000);
    a.advance_to(0).unwrap();
    assert_eq!(brief(&a.poll()), [row("m", -1000, 0, 2, 2.0, true)]);
}

#[test]
fn out_of_order_within_grace_counts_and_past_grace_is_late() {
    let mut c = cfg(WindowSpec::tumbling(1000));
    c.lateness_ms = 500;
    let mut a = agg(c);
    add(&mut a, "m", 1.0, 900);
    add(&mut a, "m", 2.0, 1400); // watermark 900: [0,1000) stays open
    add(&mut a, "m", 3.0, 950); // out of order, within grace
    assert!(a.poll().is_empty());
    add(&mut a, "m", 4.0, 1500); // watermark 1000: [0,1000) closes
    assert_eq!(brief(&a.poll()), [row("m", 0, 1000, 2, 4.0, true)]);
    let ev = Event::new("d", "m", 5.0, Some(999))
        .unwrap()
        .with_id("retry-1")
        .unwrap();
    a.add(&ev).unwrap(); // its window closed: late
    assert_eq!(a.stats().late, 1);
    assert_eq!(a.take_late(), vec![ev]);
    assert!(a.take_late().is_empty());
    a.flush();
    // The late value never reached a result.
    assert_eq!(a.stats().events, 5);
}

#[test]
fn late_event_of_an_unknown_key_creates_no_state() {
    let mut a = agg(cfg(WindowSpec::tumbling(1000)));
    add(&mut a, "m", 1.0, 5000);
    a.add_parts("d", "other", 1.0, 10, &[("k", "v")], None)
        .unwrap();
    assert_eq!(a.stats().keys, 1);
    let late = a.take_late();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].tags, vec![("k".to_string(), "v".to_string())]);
}

#[test]
fn hopping_windows_overlap_and_partly_late_events_are_reported() {
    let mut a = agg(cfg(WindowSpec::hopping(1000, 500)));
    add(&mut a, "m", 1.0, 700); // windows [0,1000) and [500,1500)
    add(&mut a, "m", 2.0, 1200); // [500,1500) and [1000,2000)
    a.advance_to(1000).unwrap();
    assert_eq!(brief(&a.poll()), [row("m", 0, 1000, 1, 1.0, true)]);
    add(&mut a, "m", 4.0, 600); // [0,1000) closed, [500,1500) open
    assert_eq!(
        a.take_late().len(),
        1,
        "missing from a closed result: reported"
    );
    a.advance_to(3000).unwrap();
    assert_eq!(
        brief(&a.poll()),
        [
            row("m", 500, 1500, 3, 7.0, true),
            row("m", 1000, 2000, 1, 2.0, true)
        ]
    );
}

#[test]
fn sessions_extend_and_merge_when_an_event_bridges_them() {
    let mut c = cfg(WindowSpec::session(100));
    c.lateness_ms = 500;
    let mut a = agg(c);
    add(&mut a, "m", 1.0, 1000);
    add(&mut a, "m", 2.0, 1050); // same session, now [1000, 1150)
    add(&mut a, "m", 3.0, 1200); // 150 after the last: a new session [1200, 1300)
    assert_eq!(a.stats().open_windows, 2);
    add(&mut a, "m", 4.0, 1120); // [1120, 1220) overlaps both: one session [1000, 1300)
    assert_eq!(a.stats().open_windows, 1);
    a.advance_to(1799).unwrap();
    assert!(a.poll().is_empty());
    a.advance_to(1800).unwrap(); // watermark 1300
    let r = a.poll();
    assert_eq!(brief(&r), [row("m", 1000, 1300, 4, 10.0, true)]);
    assert_eq!((r[0].first, r[0].last), (1.0, 3.0));
    add(&mut a, "m", 9.0, 1199); // 1199 + 100 <= watermark 1300: late
    assert_eq!(a.stats().late, 1);
    add(&mut a, "m", 9.0, 1201); // [1201, 1301) is still open: a new session
    assert_eq!(a.stats().open_windows, 1);
}

#[test]
fn an_old_event_inside_an_open_session_joins_it() {
    let mut a = agg(cfg(WindowSpec::session(100)));
    for (v, ts) in [(1.0, 1000), (2.0, 1090), (3.0, 1180)] {
        add(&mut a, "m", v, ts); // one session [1000, 1280); watermark 1180
    }
    add(&mut a, "m", 4.0, 1050); // its own span [1050, 1150) ended, but its session is open
    assert_eq!(a.stats().late, 0);
    add(&mut a, "m", 5.0, 500); // [500, 600) overlaps no open session and has closed: late
    assert_eq!(a.stats().late, 1);
    assert_eq!(brief(&a.flush()), [row("m", 1000, 1280, 4, 10.0, true)]);
}

#[test]
fn events_exactly_gap_apart_start_a_new_session() {
    let mut c = cfg(WindowSpec::session(100));
    c.lateness_ms = 1000;
    let mut a = agg(c);
    add(&mut a, "m", 1.0, 0);
    add(&mut a, "m", 1.0, 100);
    assert_eq!(a.stats().open_windows, 2);
    add(&mut a, "m", 1.0, 99);
    assert_eq!(a.stats().open_windows, 1);
}

#[test]
fn count_windows_close_on_the_nth_event_and_flush_emits_partial_ones() {
    let mut a = agg(cfg(WindowSpec::count(3)));
    for (i, ts) in [50, 10, 30, 40].into_iter().enumerate() {
        add(&mut a, "m", i as f64, ts);
    }
    add(&mut a, "n", 7.0, 5);
    let r = a.poll();
    assert_eq!(brief(&r), [row("m", 10, 50, 3, 3.0, true)]);
    assert_eq!(
        (r[0].first, r[0].last),
        (1.0, 0.0),
        "first/last by event time"
    );
    let r = a.flush();
    assert_eq!(
        brief(&r),
        [row("n", 5, 5, 1, 7.0, true), row("m", 40, 40, 1, 3.0, true)]
    );
    assert_eq!(a.stats().open_windows, 0);
    assert_eq!(a.stats().keys, 0);
}

#[test]
fn idle_close_advances_the_watermark_with_the_clock() {
    let clock = ManualClock::new();
    let mut c = cfg(WindowSpec::tumbling(10_000));
    c.lateness_ms = 2_000;
    c.idle_close_ms = Some(5_000);
    let mut a = Aggregator::with_clock(c, clock.shared()).unwrap();
    add(&mut a, "m", 1.0, 59_900);
    clock.advance_ms(4_999);
    assert!(a.poll().is_empty(), "not idle for long enough");
    clock.advance_ms(1);
    // Watermark = 59 900 + 5 000 − 2 000 = 62 900 ≥ 60 000.
    assert_eq!(brief(&a.poll()), [row("m", 50_000, 60_000, 1, 1.0, true)]);
    assert_eq!(a.watermark(), Some(62_900));
    add(&mut a, "m", 2.0, 62_000); // below the watermark, but its window [60 000, 70 000) is open
    assert_eq!(a.stats().late, 0);
    add(&mut a, "m", 3.0, 59_999);
    assert_eq!(a.stats().late, 1);
}

#[test]
fn idle_close_applies_at_the_next_input_without_poll() {
    let clock = ManualClock::new();
    let mut c = cfg(WindowSpec::tumbling(1_000));
    c.idle_close_ms = Some(100);
    let mut a = Aggregator::with_clock(c.clone(), clock.shared()).unwrap();
    add(&mut a, "m", 1.0, 500);
    clock.advance_ms(600);
    add(&mut a, "m", 2.0, 900); // the quiet 600 ms moved the watermark to 1100 first: late
    assert_eq!(a.stats().late, 1);
    assert_eq!(brief(&a.poll()), [row("m", 0, 1000, 1, 1.0, true)]);
    // Without idle close the same input is not late.
    let mut b = Aggregator::with_clock(cfg(WindowSpec::tumbling(1_000)), clock.shared()).unwrap();
    add(&mut b, "m", 1.0, 500);
    clock.advance_ms(600);
    add(&mut b, "m", 2.0, 900);
    assert_eq!(b.stats().late, 0);
}

#[test]
fn updates_emit_partials_on_event_time_ticks_then_the_final() {
    let mut c = cfg(WindowSpec::tumbling(10_000));
    c.emit = EmitMode::Updates { interval_ms: 1_000 };
    let mut a = agg(c);
    add(&mut a, "m", 1.0, 100);
    add(&mut a, "m", 2.0, 900);
    assert!(a.poll().is_empty(), "no tick yet");
    add(&mut a, "m", 3.0, 1_000); // tick 1
    assert_eq!(brief(&a.poll()), [row("m", 0, 10_000, 3, 6.0, false)]);
    add(&mut a, "n", 1.0, 1_500);
    add(&mut a, "n", 1.0, 2_100); // tick 2: only "n" changed
    assert_eq!(brief(&a.poll()), [row("n", 0, 10_000, 2, 2.0, false)]);
    add(&mut a, "m", 5.0, 10_000); // closes [0, 10 000), then tick 10
    assert_eq!(
        brief(&a.poll()),
        [
            row("m", 0, 10_000, 3, 6.0, true),
            row("n", 0, 10_000, 2, 2.0, true),
            row("m", 10_000, 20_000, 1, 5.0, false),
        ]
    );
}

#[test]
fn closed_window_state_is_freed() {
    let mut c = cfg(WindowSpec::tumbling(1_000));
    c.quantiles = vec![0.5];
    let mut a = agg(c);
    for k in 0..50 {
        let m = format!("m{k}");
        for t in 0..10 {
            add(&mut a, &m, f64::from(t), i64::from(t) * 100);
        }
    }
    assert_eq!((a.stats().open_windows, a.stats().keys), (50, 50));
    a.advance_to(1_000).unwrap();
    assert_eq!(a.poll().len(), 50);
    assert_eq!(a.stats().open_windows, 0);
    a.advance_to(60_999).unwrap();
    assert_eq!(a.stats().keys, 50, "idle keys stay interned for a minute");
    a.advance_to(61_000).unwrap(); // a minute after their last window ended, idle keys are freed
    assert_eq!(a.stats().keys, 0);
    assert!(a.sched.is_empty() && a.idle.is_empty() && a.dirty.is_empty());
    // Keys that keep sending are not re-interned every window.
    add(&mut a, "x", 1.0, 61_500);
    a.advance_to(100_000).unwrap();
    add(&mut a, "x", 1.0, 100_100);
    a.advance_to(160_000).unwrap();
    assert_eq!(a.stats().keys, 1);
    a.advance_to(161_000).unwrap();
    assert_eq!((a.stats().open_windows, a.stats().keys), (0, 0));
}

#[test]
fn forgotten_keys_give_back_their_slots_and_the_rest_keep_their_windows() {
    let mut a = agg(cfg(WindowSpec::tumbling(1_000)));
    // 300 keys; keys 0, 100 and 200 keep reporting every second, the others go quiet.
    for k in 0..300 {
        add(&mut a, &format!("m{k}"), 1.0, 0);
    }
    let kept = ["m0", "m100", "m200"];
    for s in 1..70 {
        for m in kept {
            add(&mut a, m, 1.0, s * 1_000);
        }
    }
    assert_eq!(
        a.stats().keys,
        3,
        "the quiet keys are forgotten after a minute"
    );
    assert!(
        a.keys.slots.len() <= 201 && a.keys.slots.capacity() < 300,
        "free slots past the last key are given back: {} of capacity {}",
        a.keys.slots.len(),
        a.keys.slots.capacity()
    );
    assert!(a
        .idle
        .iter()
        .all(|&(kid, ..)| (kid as usize) < a.keys.slots.len()));
    // New keys take the lowest free slots; old and new keys aggregate as before.
    for k in 0..50 {
        add(&mut a, &format!("new{k}"), 2.0, 70_100);
        add(&mut a, &format!("new{k}"), 3.0, 70_200);
    }
    for m in kept {
        add(&mut a, m, 5.0, 70_300);
    }
    assert!(a.keys.slots.len() <= 201);
    assert!(
        a.keys.slots[1..=50]
            .iter()
            .all(|s| s.key.as_ref().is_some_and(|k| k.metric.starts_with("new"))),
        "new keys take the lowest free ids"
    );
    a.poll();
    a.advance_to(71_000).unwrap();
    let r = a.poll();
    assert_eq!(r.len(), 53);
    for w in &r {
        let (count, sum) = if w.key.metric.starts_with("new") {
            (2, 5.0)
        } else {
            (1, 5.0)
        };
        assert_eq!((w.start_ms, w.count, w.sum), (70_000, count, sum), "{w:?}");
    }
    // Everything forgotten: the slot array shrinks to its floor.
    a.advance_to(200_000).unwrap();
    assert_eq!(a.stats().keys, 0);
    assert!(a.keys.slots.is_empty() && a.idle.is_empty());
}

#[test]
fn flush_closes_everything_and_later_events_for_those_windows_are_late() {
    let mut a = agg(cfg(WindowSpec::tumbling(1_000)));
    add(&mut a, "m", 1.0, 100);
    add(&mut a, "m", 2.0, 1_100);
    let r = a.flush();
    assert_eq!(
        brief(&r),
        [
            row("m", 0, 1000, 1, 1.0, true),
            row("m", 1000, 2000, 1, 2.0, true)
        ]
    );
    assert_eq!((a.stats().open_windows, a.stats().keys), (0, 0));
    add(&mut a, "m", 3.0, 1_500);
    assert_eq!(a.stats().late, 1);
    assert!(a.flush().is_empty());
}

#[test]
fn columns_are_validated_before_any_row_is_applied() {
    let mut a = agg(cfg(WindowSpec::tumbling(1_000)));
    let metrics = ["a", "b", "c"];
    let bad = [1.0, f64::NAN, 3.0];
    let err = a
        .add_columns(
            Column::One("d"),
            Column::Each(&metrics),
            &bad,
            Column::One(0),
            &[],
        )
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    assert!(err.to_string().contains("values[1]"), "{err}");
    let short = a.add_columns(
        Column::One("d"),
        Column::Each(&metrics[..2]),
        &[1.0, 2.0, 3.0],
        Column::One(0),
        &[],
    );
    assert_eq!(short.unwrap_err().code(), "invalid_input");
    let empty_name = a.add_columns(
        Column::One("d"),
        Column::Each(&["a", "", "c"]),
        &[1.0, 2.0, 3.0],
        Column::Each(&[0, 1, 2]),
        &[],
    );
    assert!(empty_name.unwrap_err().to_string().contains("metric[1]"));
    let dup = a.add_columns(
        Column::One("d"),
        Column::One("m"),
        &[1.0],
        Column::One(0),
        &[("k", "1"), ("k", "2")],
    );
    assert_eq!(dup.unwrap_err().code(), "invalid_input");
    assert_eq!(a.stats().events, 0, "nothing applied");
    let n = a
        .add_columns(
            Column::Each(&["d", "e", "d"]),
            Column::Each(&metrics),
            &[1.0, 2.0, 3.0],
            Column::Each(&[10, 20, 30]),
            &[("z", "1"), ("a", "2")],
        )
        .unwrap();
    assert_eq!(n, 3);
    let n = a
        .add_columns(
            Column::One("d"),
            Column::One("a"),
            &[4.0, 5.0],
            Column::One(40),
            &[("a", "2"), ("z", "1")],
        )
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!((a.stats().events, a.stats().keys), (5, 3));
    let r = a.flush();
    assert_eq!(
        brief(&r)[0],
        row("a", 0, 1000, 3, 10.0, true),
        "unsorted tags found the same key"
    );
    assert_eq!(r[0].key.tags[0].0, "a");
    assert_eq!(r[1].key.dashboard, "e");
}

#[test]
fn invalid_single_events_are_refused_with_the_code() {
    let mut a = agg(cfg(WindowSpec::tumbling(1_000)));
    let long = "x".repeat(crate::event::MAX_NAME_BYTES + 1);
    let cases = [
        a.add_parts("", "m", 1.0, 0, &[], None),
        a.add_parts("d", "", 1.0, 0, &[], None),
        a.add_parts(&long, "m", 1.0, 0, &[], None),
        a.add_parts("d", "m", f64::INFINITY, 0, &[], None),
        a.add_parts("d", "m", f64::NAN, 0, &[], None),
        a.add_parts("d", "m", 1.0, 0, &[("h", "a"), ("h", "b")], None),
        a.add_parts("d", "m", 1.0, 0, &[("", "a")], None),
    ];
    for c in cases {
        assert_eq!(c.unwrap_err().code(), "invalid_input");
    }
    assert_eq!(a.stats().events, 0);
    assert_eq!(
        Aggregator::new(cfg(WindowSpec::tumbling(0)))
            .unwrap_err()
            .code(),
        "invalid_input"
    );
}

#[test]
fn full_output_buffers_refuse_input_until_drained() {
    let mut c = cfg(WindowSpec::tumbling(10));
    c.max_pending_results = 2;
    c.max_pending_late = 1;
    let mut a = agg(c);
    add(&mut a, "m", 1.0, 0);
    add(&mut a, "m", 1.0, 10);
    add(&mut a, "m", 1.0, 20);
    assert_eq!(a.stats().pending_results, 2);
    let err = a.add_parts("d", "m", 1.0, 30, &[], None).unwrap_err();
    assert_eq!(err.code(), "too_large");
    assert_eq!(a.advance_to(100).unwrap_err().code(), "too_large");
    assert_eq!(a.stats().events, 3, "the refused event was not applied");
    assert_eq!(a.poll().len(), 2);
    add(&mut a, "m", 1.0, 0); // late
    assert_eq!(
        a.add_parts("d", "m", 1.0, 30, &[], None)
            .unwrap_err()
            .code(),
        "too_large"
    );
    assert_eq!(a.take_late().len(), 1);
    add(&mut a, "m", 1.0, 30);
}

#[test]
fn quantiles_hold_negative_zero_and_skewed_values_within_one_percent() {
    let mut c = cfg(WindowSpec::tumbling(1_000_000));
    c.quantiles = vec![0.01, 0.25, 0.5, 0.9, 0.99];
    let mut a = agg(c);
    // Pareto-like heavy tail (inverse CDF on an even grid), with negatives and zeros mixed in.
    let mut values: Vec<f64> = (1..5000)
        .map(|i| 3.0 * (1.0 - f64::from(i) / 5000.0).powf(-1.0 / 1.2))
        .collect();
    values.extend((0..300).map(|i| -f64::from(i) * 0.7));
    values.extend([0.0; 50]);
    for (i, &v) in values.iter().enumerate() {
        add(&mut a, "lat", v, (i as i64 * 7919) % 1_000_000);
    }
    let r = a.flush();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    for &(q, got) in &r[0].quantiles {
        // Nearest rank: the value of rank ⌈q·n⌉ (1-based).
        let want = sorted[(q * sorted.len() as f64).ceil() as usize - 1];
        assert!(
            (got - want).abs() <= 0.01 * want.abs(),
            "q={q}: {got} vs {want}"
        );
    }
    assert_eq!(r[0].min, sorted[0]);
    assert_eq!(r[0].max, sorted[sorted.len() - 1]);
}

#[test]
fn same_input_gives_same_results_whatever_the_poll_pattern() {
    let run = |poll_every: usize| {
        let mut c = cfg(WindowSpec::session(50));
        c.lateness_ms = 10;
        c.emit = EmitMode::Updates { interval_ms: 40 };
        c.quantiles = vec![0.5];
        let mut a = agg(c);
        let mut out = Vec::new();
        let mut x: u64 = 7;
        for i in 0..2_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let ts = i as i64 * 3 - (x >> 60) as i64 * 5;
            let m = ["a", "b", "c"][(x >> 33) as usize % 3];
            add(&mut a, m, (x >> 40) as f64, ts);
            if i % poll_every == 0 {
                a.poll_into(&mut out);
            }
        }
        out.extend(a.flush());
        (out, a.take_late(), a.stats().late)
    };
    let once = run(1);
    assert!(!once.0.is_empty() && once.2 > 0);
    assert_eq!(once, run(1));
    assert_eq!(once, run(97));
}

#[test]
fn aggregator_and_results_can_move_between_threads() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Aggregator>();
    send_sync::<WindowResult>();
    send_sync::<AggregatorConfig>();
}
