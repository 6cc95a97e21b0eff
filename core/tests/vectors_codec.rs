//! Runs the cross-language codec vectors in tests/vectors/codec (shared with the Python and Node suites).

use dashfeed::{Codec, Format, Value};
use serde_json::Value as J;
use std::path::PathBuf;

fn vectors(name: &str) -> J {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/vectors/codec")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Rebuilds a value from the vector notation ({"$bin": hex} for bytes; '.'/exponent numbers are floats).
fn to_value(j: &J) -> Value {
    match j {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::UInt(u)
            } else {
                Value::Float(n.as_f64().unwrap())
            }
        }
        J::String(s) => Value::Str(s.clone()),
        J::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        J::Object(m) if m.len() == 1 && m.contains_key("$bin") => {
            Value::Bin(hex::decode(m["$bin"].as_str().unwrap()).unwrap())
        }
        J::Object(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (Value::Str(k.clone()), to_value(v)))
                .collect(),
        ),
    }
}

#[test]
fn msgpack_and_json_vectors() {
    let plain = Codec {
        compress_over: None,
        ..Codec::default()
    };
    let json = Codec {
        compress_over: None,
        ..Codec::new(Format::Json)
    };
    let cases = vectors("values.json");
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() > 40);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let value = to_value(&case["value"]);
        let expected = hex::decode(case["msgpack"].as_str().unwrap()).unwrap();
        assert_eq!(
            hex::encode(plain.encode(&value).unwrap()),
            hex::encode(&expected),
            "{name}"
        );
        assert_eq!(plain.decode(&expected).unwrap(), value, "{name}");
        if let Some(text) = case.get("json").and_then(J::as_str) {
            assert_eq!(
                String::from_utf8(json.encode(&value).unwrap()).unwrap(),
                text,
                "{name}"
            );
            assert_eq!(json.decode(text.as_bytes()).unwrap(), value, "{name}");
        }
    }
}

#[test]
fn gzip_vectors_from_python() {
    let cases = vectors("gzip.json");
    for case in cases["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let value = to_value(&case["value"]);
        let codec = Codec {
            compress_over: Some(case["compress_over"].as_u64().unwrap() as usize),
            ..Codec::default()
        };
        let python_gz = hex::decode(case["gzip"].as_str().unwrap()).unwrap();
        assert_eq!(codec.decode(&python_gz).unwrap(), value, "{name}");
        let ours = codec.encode(&value).unwrap();
        assert!(dashfeed::codec::is_gzip(&ours), "{name}");
        let unzipped = dashfeed::codec::decompress(&ours, 1 << 20).unwrap();
        assert_eq!(
            hex::encode(unzipped),
            case["msgpack"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn error_vectors() {
    let doc = vectors("errors.json");
    for case in doc["errors"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (codec, bytes) = match case.get("format").and_then(J::as_str) {
            Some("json") => (
                Codec::new(Format::Json),
                case["text"].as_str().unwrap().as_bytes().to_vec(),
            ),
            _ => (
                Codec::default(),
                hex::decode(case["hex"].as_str().unwrap()).unwrap(),
            ),
        };
        let err = codec.decode(&bytes).expect_err(name);
        assert_eq!(err.code(), case["code"].as_str().unwrap(), "{name}: {err}");
    }
    for case in doc["ok"].as_array().unwrap() {
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        Codec::default().decode(&bytes).unwrap();
    }
}
