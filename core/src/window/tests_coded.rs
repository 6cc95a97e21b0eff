//! Tests of the categorical batch input ([`Aggregator::add_batch`]): the same results as adding the
//! rows one by one (every window kind, late rows, keys forgotten and slots reused mid-batch), and
//! every refused batch leaving the aggregator's state untouched.

use super::*;

fn agg(window: WindowSpec) -> Aggregator {
    let mut c = AggregatorConfig::new(window);
    if window.is_time_based() {
        c.lateness_ms = 500;
    }
    c.quantiles = vec![0.5];
    Aggregator::new(c).unwrap()
}

/// A deterministic pseudo-random sequence (xorshift).
fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed | 1;
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}

type Rows = (Vec<u32>, Vec<f64>, Vec<i64>);

/// Rows over `keys` names whose event time mostly rises over `span` ms, with some late ones.
fn rows(n: usize, keys: u64, span: i64, seed: u64) -> Rows {
    let mut r = rng(seed);
    let mut codes = Vec::new();
    let mut values = Vec::new();
    let mut ts = Vec::new();
    for i in 0..n {
        let t = span * i as i64 / n as i64;
        // A third of the keys in the first and last thirds of the time, the others in the middle
        // one (so keys go idle and are forgotten, the later ones from the end of the slot array,
        // which is then given back), and now and then any key (so forgotten keys come back).
        let (lo, n_keys) = if t < span / 3 || t >= 2 * span / 3 {
            (0, keys / 3)
        } else {
            (keys / 3, keys - keys / 3)
        };
        codes.push(if r(50) == 0 { r(keys) } else { lo + r(n_keys) } as u32);
        values.push(r(1000) as f64 / 7.0);
        ts.push(if r(20) == 0 { t - r(5_000) as i64 } else { t });
    }
    (codes, values, ts)
}

fn results(a: &mut Aggregator) -> (Vec<WindowResult>, Vec<crate::Event>, AggregatorStats) {
    let late = a.take_late();
    let stats = a.stats();
    (a.flush(), late, stats)
}

#[test]
fn coded_rows_give_the_results_of_adding_them_one_by_one() {
    let kinds = [
        WindowSpec::tumbling(1_000),
        WindowSpec::hopping(2_000, 500),
        WindowSpec::session(700),
        WindowSpec::count(3),
    ];
    let names: Vec<String> = (0..151).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    for window in kinds {
        // 10 minutes of event time: keys idle for over a minute are forgotten and their slots
        // reused by others within the batch.
        let (codes, values, ts) = rows(5_000, 151, 600_000, 7);
        let mut one = agg(window);
        for i in 0..codes.len() {
            let m = refs[codes[i] as usize];
            one.add_parts("d", m, values[i], ts[i], &[("h", "x")], None)
                .unwrap();
        }
        for (label, split) in [("one batch", codes.len()), ("batches of 333", 333)] {
            let mut coded = agg(window);
            let mut at = 0;
            while at < codes.len() {
                let end = (at + split).min(codes.len());
                let n = coded
                    .add_batch(Batch {
                        dashboards: Names::One("d"),
                        metrics: Names::Coded {
                            names: &refs,
                            codes: Codes::U32(&codes[at..end]),
                            valid: None,
                        },
                        values: &values[at..end],
                        values_valid: None,
                        ts: Column::Each(&ts[at..end]),
                        ts_valid: None,
                        tags: &[("h", "x")],
                    })
                    .unwrap();
                assert_eq!(n, end - at);
                at = end;
            }
            let mut reference = agg(window);
            for i in 0..codes.len() {
                let m = refs[codes[i] as usize];
                reference
                    .add_parts("d", m, values[i], ts[i], &[("h", "x")], None)
                    .unwrap();
            }
            assert!(coded.keys.removals > 0, "keys were forgotten mid-batch");
            // (Count windows keep most keys open: few go idle, none from the array's end.)
            assert!(
                coded.keys.trims > 0 || !window.is_time_based(),
                "free slots were given back mid-batch"
            );
            assert_eq!(
                results(&mut coded),
                results(&mut reference),
                "{window:?}, {label}"
            );
        }
        assert!(
            one.stats().late > 0 || !window.is_time_based(),
            "the rows include late ones"
        );
    }
}

#[test]
fn coded_dashboards_and_pairs_of_coded_columns_match_the_string_path() {
    let (codes, values, ts) = rows(2_000, 5, 30_000, 3);
    let dcodes: Vec<i16> = codes.iter().map(|&c| (c % 3) as i16).collect();
    let mcodes: Vec<u8> = codes.iter().map(|&c| c as u8).collect();
    let (ds, ms) = (["a", "b", "c"], ["p", "q", "r", "s", "t"]);
    let mut coded = agg(WindowSpec::tumbling(1_000));
    let mut dash_only = agg(WindowSpec::tumbling(1_000));
    let mut reference = agg(WindowSpec::tumbling(1_000));
    let both = Batch {
        dashboards: Names::Coded {
            names: &ds,
            codes: Codes::I16(&dcodes),
            valid: None,
        },
        metrics: Names::Coded {
            names: &ms,
            codes: Codes::U8(&mcodes),
            valid: None,
        },
        values: &values,
        values_valid: None,
        ts: Column::Each(&ts),
        ts_valid: None,
        tags: &[],
    };
    coded.add_batch(both).unwrap();
    let mut by_dash = both;
    by_dash.metrics = Names::One("p");
    dash_only.add_batch(by_dash).unwrap();
    let mut ref_dash = agg(WindowSpec::tumbling(1_000));
    for i in 0..values.len() {
        let (d, m) = (ds[dcodes[i] as usize], ms[mcodes[i] as usize]);
        reference
            .add_parts(d, m, values[i], ts[i], &[], None)
            .unwrap();
        ref_dash
            .add_parts(d, "p", values[i], ts[i], &[], None)
            .unwrap();
    }
    assert_eq!(results(&mut coded), results(&mut reference));
    assert_eq!(results(&mut dash_only), results(&mut ref_dash));
}

/// A batch of 3 rows over `metrics`; every refusal below must leave `a` as it was.
fn three<'a>(metrics: Names<'a>, values: &'a [f64]) -> Batch<'a> {
    Batch {
        dashboards: Names::One("d"),
        metrics,
        values,
        values_valid: None,
        ts: Column::Each(&[100, 200, 300]),
        ts_valid: None,
        tags: &[],
    }
}

#[test]
fn bad_batches_are_refused_with_invalid_input_and_apply_nothing() {
    let names = ["a", "b", ""];
    let vals = [1.0, 2.0, 3.0];
    let coded = |codes| Names::Coded {
        names: &names,
        codes,
        valid: None,
    };
    let mut a = agg(WindowSpec::tumbling(1_000));
    a.add_parts("d", "a", 5.0, 50, &[], None).unwrap();
    let before = a.stats();
    let bits = [0b0000_0101u8];
    let cases: Vec<(Batch, &str)> = vec![
        (
            three(coded(Codes::U32(&[0, 3, 1])), &vals),
            "metrics[1]: code 3 is out of range (3 names)",
        ),
        (
            three(coded(Codes::I64(&[0, 1, -1])), &vals),
            "metrics[2] is null (code -1)",
        ),
        (
            three(coded(Codes::I8(&[0, 1])), &vals),
            "metrics has 2 codes, values has 3",
        ),
        (
            three(coded(Codes::U16(&[0, 2, 1])), &vals),
            "metrics[1]: metric must not be empty",
        ),
        (
            three(
                Names::Coded {
                    names: &names,
                    codes: Codes::U32(&[0, 1, 1]),
                    valid: Some(Bitmap {
                        bits: &bits,
                        offset: 0,
                    }),
                },
                &vals,
            ),
            "metrics[1] is null",
        ),
        (
            Batch {
                values_valid: Some(Bitmap {
                    bits: &bits,
                    offset: 1,
                }),
                ..three(coded(Codes::U32(&[0, 1, 1])), &vals)
            },
            "values[0] is null",
        ),
        (
            Batch {
                ts_valid: Some(Bitmap {
                    bits: &bits,
                    offset: 0,
                }),
                ..three(coded(Codes::U32(&[0, 1, 1])), &vals)
            },
            "ts[1] is null",
        ),
        (
            Batch {
                values_valid: Some(Bitmap {
                    bits: &[],
                    offset: 0,
                }),
                ..three(coded(Codes::U32(&[0, 1, 1])), &vals)
            },
            "validity bitmap is shorter",
        ),
        (
            three(coded(Codes::U32(&[0, 1, 1])), &[1.0, f64::NAN, 2.0]),
            "values[1] is not finite",
        ),
        (
            Batch {
                ts: Column::Each(&[1, 2]),
                ..three(coded(Codes::U32(&[0, 1, 1])), &vals)
            },
            "ts has 2 rows",
        ),
    ];
    for (batch, want) in cases {
        let err = a.add_batch(batch).unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{want}");
        assert!(err.to_string().contains(want), "{err} / {want}");
        assert_eq!(a.stats(), before, "nothing applied: {want}");
    }
    // An unused bad name is not checked; the valid batch applies on the intact state.
    assert_eq!(
        a.add_batch(three(coded(Codes::U32(&[0, 1, 0])), &vals))
            .unwrap(),
        3
    );
    let r = a.flush();
    assert_eq!(
        (r[0].key.metric.as_str(), r[0].count, r[0].sum),
        ("a", 3, 9.0)
    );
    assert_eq!((r[1].key.metric.as_str(), r[1].count), ("b", 1));
}

#[test]
fn long_batches_over_few_names_are_checked_as_short_ones() {
    // Batches with many rows per name may take the one-pass check (codes' range, every name); each
    // refusal below falls back to the row-by-row check and names the same row as a short batch would.
    let names = ["a", "b", ""];
    let n = 64;
    let vals = vec![1.0; n];
    let ts: Vec<i64> = (0..n as i64).map(|i| 100 + i).collect();
    let batch = |codes| Batch {
        dashboards: Names::One("d"),
        metrics: Names::Coded {
            names: &names,
            codes,
            valid: None,
        },
        values: &vals,
        values_valid: None,
        ts: Column::Each(&ts),
        ts_valid: None,
        tags: &[],
    };
    let mut a = agg(WindowSpec::tumbling(1_000));
    a.add_parts("d", "a", 5.0, 50, &[], None).unwrap();
    let before = a.stats();
    let mut out_of_range = vec![0u32; n];
    out_of_range[40] = 3;
    let mut negative = vec![1i32; n];
    negative[50] = -2;
    let mut bad_name = vec![0u16; n];
    bad_name[33] = 2;
    bad_name[60] = 2;
    let cases = [
        (
            Codes::U32(&out_of_range),
            "metrics[40]: code 3 is out of range (3 names)",
        ),
        (Codes::I32(&negative), "metrics[50] is null (code -2)"),
        (
            Codes::U16(&bad_name),
            "metrics[33]: metric must not be empty",
        ),
    ];
    for (codes, want) in cases {
        let err = a.add_batch(batch(codes)).unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{want}");
        assert!(err.to_string().contains(want), "{err} / {want}");
        assert_eq!(a.stats(), before, "nothing applied: {want}");
    }
    // The bad name unused: accepted (by the row-by-row check), every row applied.
    let good: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
    assert_eq!(a.add_batch(batch(Codes::U8(&good))).unwrap(), n);
    // Every name valid, signed codes: accepted by the one-pass check itself.
    let valid = ["a", "b"];
    let signed: Vec<i64> = (0..n as i64).map(|i| (i + 1) % 2).collect();
    let all_valid = Batch {
        metrics: Names::Coded {
            names: &valid,
            codes: Codes::I64(&signed),
            valid: None,
        },
        ..batch(Codes::U8(&good))
    };
    assert_eq!(a.add_batch(all_valid).unwrap(), n);
    let r = a.flush();
    assert_eq!((r[0].key.metric.as_str(), r[0].count), ("a", 1 + n as u64));
    assert_eq!((r[1].key.metric.as_str(), r[1].count), ("b", n as u64));
}

#[test]
fn the_name_memo_stays_right_when_names_order_and_tags_change_between_calls() {
    // Each call sends the names in another order (a code means another name from call to call),
    // some calls with tags and some without, some with more names than rows use: the memo's
    // remembered slots must be checked, not trusted, across calls.
    let names: Vec<String> = (0..97).map(|i| format!("n{i}")).collect();
    let (rows_codes, values, ts) = rows(6_000, 97, 400_000, 11);
    let mut r = rng(5);
    let mut coded = agg(WindowSpec::tumbling(1_000));
    let mut reference = agg(WindowSpec::tumbling(1_000));
    let mut at = 0;
    let mut call = 0;
    while at < rows_codes.len() {
        let end = (at + 1 + r(400) as usize).min(rows_codes.len());
        // A permutation of the names (rotated and, every other call, reversed), plus unused ones.
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.rotate_left(call * 7 % names.len());
        if call % 2 == 1 {
            order.reverse();
        }
        let mut position = vec![0u32; names.len()];
        for (p, &n) in order.iter().enumerate() {
            position[n] = p as u32;
        }
        let mut list: Vec<&str> = order.iter().map(|&n| names[n].as_str()).collect();
        list.extend(["unused-a", "unused-b"].iter().take(call % 3));
        let codes: Vec<u32> = rows_codes[at..end]
            .iter()
            .map(|&c| position[c as usize])
            .collect();
        let tags: &[(&str, &str)] = if call % 3 == 2 { &[("h", "x")] } else { &[] };
        coded
            .add_batch(Batch {
                dashboards: Names::One("d"),
                metrics: Names::Coded {
                    names: &list,
                    codes: Codes::U32(&codes),
                    valid: None,
                },
                values: &values[at..end],
                values_valid: None,
                ts: Column::Each(&ts[at..end]),
                ts_valid: None,
                tags,
            })
            .unwrap();
        for i in at..end {
            let m = names[rows_codes[i] as usize].as_str();
            reference
                .add_parts("d", m, values[i], ts[i], tags, None)
                .unwrap();
        }
        at = end;
        call += 1;
    }
    assert!(call > 20 && coded.keys.removals > 0);
    assert_eq!(results(&mut coded), results(&mut reference));
}

#[test]
fn the_name_memo_distrusts_every_entry_when_its_stamp_wraps() {
    let batch = |names: &'static [&'static str]| Batch {
        dashboards: Names::One("d"),
        metrics: Names::Coded {
            names,
            codes: Codes::U32(&[0, 1]),
            valid: None,
        },
        values: &[1.0, 2.0],
        values_valid: None,
        ts: Column::One(0),
        ts_valid: None,
        tags: &[],
    };
    let mut a = agg(WindowSpec::count(1_000));
    a.add_batch(batch(&["a", "b"])).unwrap();
    assert_eq!(a.memo.stamp, 1, "the first call's entries carry stamp 1");
    // The next call's stamp wraps back to 1, and its codes mean other names: entries stamped 1 by
    // the first call must not be trusted (every entry is reset on the wrap).
    a.memo.stamp = u32::MAX;
    a.add_batch(batch(&["b", "a"])).unwrap();
    assert_eq!(a.memo.stamp, 1);
    let out = a.flush();
    let sums: Vec<(&str, f64)> = out.iter().map(|r| (r.key.metric.as_str(), r.sum)).collect();
    assert_eq!(sums, [("a", 3.0), ("b", 3.0)]);
}
