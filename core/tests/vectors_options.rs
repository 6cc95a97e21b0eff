//! Replays tests/vectors/config/options.json (shared with the Python and Node suites; format in
//! tests/vectors/config/README.md): each case's Python options read with `Style::PYTHON` and its Node
//! options with `Style::NODE` must describe the expected config, or fail with the expected code.

use dashfeed::codec::{Codec, Format, Value};
use dashfeed::options::{describe, Style};
use std::path::PathBuf;

fn cases() -> Vec<(String, Value)> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/config/options.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = Codec::new(Format::Json)
        .decode(&text)
        .expect("options.json is JSON");
    let Some(Value::Array(cases)) = doc.get("cases") else {
        panic!("options.json has no cases");
    };
    cases
        .iter()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str).expect("a name");
            (name.to_owned(), c.clone())
        })
        .collect()
}

/// Equal as the vectors mean it: numbers by value, maps by their keys, whatever the order.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.iter().any(|(k2, v2)| k == k2 && same(v, v2)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

#[test]
fn every_case_builds_its_config_or_fails_with_its_code_in_both_styles() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut replayed = 0;
    for (name, case) in &cases {
        let module = case
            .get("module")
            .and_then(Value::as_str)
            .expect("a module");
        let styles = [("python", Style::PYTHON), ("node", Style::NODE)];
        let mut any = false;
        for (lang, style) in styles {
            let Some(options) = case.get(lang) else {
                continue;
            };
            any = true;
            let got = describe(module, options, style);
            match (case.get("expect"), case.get("error"), got) {
                (Some(want), None, Ok(got)) => {
                    assert!(
                        same(&got, want),
                        "{name} ({lang}): got {got:?}, want {want:?}"
                    )
                }
                (None, Some(code), Err(e)) => {
                    assert_eq!(Some(e.code()), code.as_str(), "{name} ({lang}): {e}")
                }
                (_, _, got) => panic!("{name} ({lang}): unexpected {got:?}"),
            }
            replayed += 1;
        }
        assert!(any, "{name}: no options");
    }
    assert!(replayed > cases.len(), "{replayed} replays");
}

#[test]
fn an_unknown_module_is_invalid_input() {
    let err = describe("breakr", &Value::Nil, Style::NODE).unwrap_err();
    assert_eq!(err.code(), "invalid_input");
}
