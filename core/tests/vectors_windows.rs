//! Replays the cross-language window vectors in tests/vectors/windows (shared with the Python and Node
//! suites; the format is in the README.md there).

use dashfeed::clock::ManualClock;
use dashfeed::window::{Aggregator, AggregatorConfig, Column, WindowResult};
use dashfeed::{Codec, Event, Format, Value};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/windows")
}

fn load(path: &PathBuf) -> Value {
    let bytes = std::fs::read(path).unwrap();
    Codec::new(Format::Json).decode(&bytes).unwrap()
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) => items,
        other => panic!("expected a list, got {other:?}"),
    }
}

fn entries(v: &Value) -> &[(Value, Value)] {
    match v {
        Value::Map(entries) => entries,
        other => panic!("expected a map, got {other:?}"),
    }
}

/// A number; the strings "NaN", "Infinity" and "-Infinity" stand for the non-finite floats.
fn num(v: &Value) -> f64 {
    match v.as_str() {
        Some("NaN") => f64::NAN,
        Some("Infinity") => f64::INFINITY,
        Some("-Infinity") => f64::NEG_INFINITY,
        _ => v.as_f64().unwrap_or_else(|| panic!("not a number: {v:?}")),
    }
}

fn int(v: &Value) -> i64 {
    match *v {
        Value::Int(i) => i,
        ref other => panic!("not an integer: {other:?}"),
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

fn tags(v: Option<&Value>) -> Vec<(&str, &str)> {
    v.map_or(Vec::new(), |t| {
        entries(t).iter().map(|(k, v)| (text(k), text(v))).collect()
    })
}

/// The config map with the special non-finite strings in `quantiles` turned into floats.
fn config_value(v: &Value) -> Value {
    let converted = entries(v)
        .iter()
        .map(|(k, x)| {
            let x = if k.as_str() == Some("quantiles") {
                match x {
                    Value::Array(qs) => {
                        Value::Array(qs.iter().map(|q| Value::Float(num(q))).collect())
                    }
                    other => other.clone(),
                }
            } else {
                x.clone()
            };
            (k.clone(), x)
        })
        .collect();
    Value::Map(converted)
}

fn same_number(got: &Value, want: &Value) -> bool {
    match (got.as_f64(), want.as_f64()) {
        (Some(g), Some(w)) => g == w || (g.is_nan() && w.is_nan()),
        _ => false,
    }
}

fn same_map_unordered(got: &Value, want: &Value, tol: Option<f64>) -> bool {
    let (g, w) = (entries(got), entries(want));
    g.len() == w.len()
        && w.iter().all(|(k, wv)| {
            got.get(text(k)).is_some_and(|gv| match tol {
                Some(t) => {
                    let (gf, wf) = (num(gv), num(wv));
                    (gf - wf).abs() <= t * wf.abs()
                }
                None => gv == wv,
            })
        })
}

fn check_result(ctx: &str, got: &WindowResult, want: &Value, tol: f64) {
    let got_v = got.to_value();
    let (g, w) = (entries(&got_v), entries(want));
    let names = |e: &[(Value, Value)]| {
        let mut n: Vec<String> = e.iter().map(|(k, _)| text(k).to_string()).collect();
        n.sort();
        n
    };
    assert_eq!(names(g), names(w), "{ctx}: result fields");
    for (k, wv) in w {
        let key = text(k);
        let gv = got_v.get(key).unwrap();
        let ok = match key {
            "dashboard" | "metric" | "final" => gv == wv,
            "tags" => same_map_unordered(gv, wv, None),
            "quantiles" => same_map_unordered(gv, wv, Some(tol)),
            _ => same_number(gv, wv),
        };
        assert!(
            ok,
            "{ctx}: {key} is {gv:?}, expected {wv:?}\n got  {got_v:?}\n want {want:?}"
        );
    }
}

fn check_results(ctx: &str, got: &[WindowResult], want: &Value, tol: f64) {
    let want = items(want);
    assert_eq!(
        got.len(),
        want.len(),
        "{ctx}: number of results, got {got:#?}"
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        check_result(&format!("{ctx} result {i}"), g, w, tol);
    }
}

fn check_late(ctx: &str, got: &[Event], want: &Value) {
    let want = items(want);
    assert_eq!(
        got.len(),
        want.len(),
        "{ctx}: number of late events, got {got:?}"
    );
    for (g, w) in got.iter().zip(want) {
        let want_tags: Vec<(String, String)> = {
            let mut t: Vec<(String, String)> = tags(w.get("tags"))
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            t.sort();
            t
        };
        let want_id = w.get("id").and_then(Value::as_str);
        let same = g.dashboard == text(w.get("dashboard").unwrap())
            && g.metric == text(w.get("metric").unwrap())
            && g.value == num(w.get("value").unwrap())
            && g.ts_ms == int(w.get("ts").unwrap())
            && g.tags == want_tags
            && g.id.as_deref() == want_id;
        assert!(same, "{ctx}: late event {g:?}, expected {w:?}");
    }
}

fn check_stats(ctx: &str, agg: &Aggregator, want: &Value) {
    let s = agg.stats();
    for (k, wv) in entries(want) {
        let got = match text(k) {
            "events" => Value::from(s.events),
            "late" => Value::from(s.late),
            "open_windows" => Value::from(s.open_windows as u64),
            "keys" => Value::from(s.keys as u64),
            "pending_results" => Value::from(s.pending_results as u64),
            "pending_late" => Value::from(s.pending_late as u64),
            "watermark" => s.watermark.map_or(Value::Nil, Value::Int),
            other => panic!("{ctx}: unknown stat {other}"),
        };
        assert_eq!(&got, wv, "{ctx}: stat {}", text(k));
    }
}

fn str_column(v: &Value) -> Vec<&str> {
    match v {
        Value::Array(xs) => xs.iter().map(text).collect(),
        one => vec![text(one)],
    }
}

fn as_column<'a, T: Copy>(values: &'a [T], one: bool) -> Column<'a, T> {
    if one {
        Column::One(values[0])
    } else {
        Column::Each(values)
    }
}

fn add_columns(agg: &mut Aggregator, step: &Value) -> dashfeed::Result<usize> {
    let field = |k: &str| step.get(k).unwrap();
    let one = |k: &str| !matches!(field(k), Value::Array(_));
    let dashboards = str_column(field("dashboards"));
    let metrics = str_column(field("metrics"));
    let values: Vec<f64> = items(field("values")).iter().map(num).collect();
    let ts: Vec<i64> = match field("ts") {
        Value::Array(xs) => xs.iter().map(int).collect(),
        one => vec![int(one)],
    };
    agg.add_columns(
        as_column(&dashboards, one("dashboards")),
        as_column(&metrics, one("metrics")),
        &values,
        as_column(&ts, one("ts")),
        &tags(step.get("tags")),
    )
}

fn add_event(agg: &mut Aggregator, e: &Value) -> dashfeed::Result<()> {
    let d = text(e.get("dashboard").unwrap());
    let m = text(e.get("metric").unwrap());
    let value = num(e.get("value").unwrap());
    let ts = int(e.get("ts").unwrap());
    let t = tags(e.get("tags"));
    match e.get("id").and_then(Value::as_str) {
        // Through `add` (the Event path), unvalidated so that the aggregator's own checks run.
        Some(id) => agg.add(&Event {
            dashboard: d.into(),
            metric: m.into(),
            value,
            ts_ms: ts,
            id: Some(id.into()),
            tags: t
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            metadata: None,
        }),
        None => agg.add_parts(d, m, value, ts, &t, None),
    }
}

fn expect_outcome<T: std::fmt::Debug>(ctx: &str, got: dashfeed::Result<T>, step: &Value) {
    match step.get("error").and_then(Value::as_str) {
        Some(code) => assert_eq!(got.unwrap_err().code(), code, "{ctx}"),
        None => {
            got.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        }
    }
}

/// Replays scenario `sc`; `columns`: results taken with `poll_columns` / `flush_columns` (as rows
/// again through `ResultColumns::to_rows`) instead of `poll` / `flush`.
fn run(file: &str, sc: &Value, columns: bool) {
    let name = format!(
        "{file}/{}{}",
        text(sc.get("name").unwrap()),
        if columns { " (columns)" } else { "" }
    );
    let config = AggregatorConfig::from_value(&config_value(sc.get("config").unwrap()));
    if let Some(code) = sc.get("config_error") {
        assert_eq!(config.unwrap_err().code(), text(code), "{name}");
        return;
    }
    let clock = ManualClock::new();
    let config = config.unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut agg = Aggregator::with_clock(config, clock.shared()).unwrap();
    let tol = sc.get("quantile_tolerance").map_or(0.0, num);
    for (i, step) in items(sc.get("steps").unwrap()).iter().enumerate() {
        let op = text(step.get("op").unwrap());
        let ctx = format!("{name} step {i} ({op})");
        match op {
            "add" => expect_outcome(&ctx, add_event(&mut agg, step.get("event").unwrap()), step),
            "add_columns" => expect_outcome(&ctx, add_columns(&mut agg, step), step),
            "advance_to" => {
                let ts = int(step.get("ts").unwrap());
                expect_outcome(&ctx, agg.advance_to(ts), step);
            }
            "clock" => clock.advance_ms(int(step.get("advance_ms").unwrap()) as u64),
            "poll" | "flush" => {
                let results = match (op, columns) {
                    ("poll", false) => agg.poll(),
                    ("poll", true) => agg.poll_columns().to_rows(),
                    (_, false) => agg.flush(),
                    (_, true) => agg.flush_columns().to_rows(),
                };
                check_results(&ctx, &results, step.get("expect").unwrap(), tol);
            }
            "take_late" => check_late(&ctx, &agg.take_late(), step.get("expect").unwrap()),
            "stats" => check_stats(&ctx, &agg, step.get("expect").unwrap()),
            other => panic!("{ctx}: unknown op {other}"),
        }
    }
}

#[test]
fn window_vectors_replay() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "batch.json",
        "count.json",
        "emit_updates.json",
        "errors.json",
        "hopping.json",
        "idle_close.json",
        "quantiles.json",
        "quantiles_numpy.json",
        "session.json",
        "tumbling.json",
    ] {
        assert!(names.iter().any(|n| n == expected), "missing {expected}");
    }
    let mut count = 0;
    for (path, name) in files.iter().zip(&names) {
        let doc = load(path);
        for sc in items(doc.get("scenarios").unwrap()) {
            run(name, sc, false);
            run(name, sc, true);
            count += 1;
        }
    }
    assert!(count >= 30, "only {count} scenarios");
}
