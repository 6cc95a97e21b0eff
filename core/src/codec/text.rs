//! Decoded values as canonical JSON text, for bindings whose runtime parses JSON faster than it can
//! build a value node by node through its C API (V8's `JSON.parse` against one Node-API call per
//! node). [`Codec::decode_plain_json`] runs the codec's own decoder, with its limits and errors,
//! into [`JsonText`]; the text is produced only when parsing it yields exactly the value the
//! binding's builder would make, and `None` tells the binding to build as usual.
//!
//! Representable: nil, booleans, integers within ±(2^53 − 1) (wider ones become `bigint`s in
//! JavaScript), finite floats (written shortest round-trip, so the parsed double is the same one;
//! −0.0 stays −0), strings, arrays, and maps whose keys are all strings (others become a JS
//! `Map`). Bytes, unsigned integers above `i64::MAX`, NaN and ±Infinity are not.

use super::build::Build;
use super::Codec;
use crate::error::{Error, Result};
use std::vec::Drain;

/// Largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// Why no text was made.
#[derive(Debug)]
pub enum TextError {
    /// The value has a part JSON cannot carry as the binding would build it.
    NotJson,
    /// The input is not valid (the codec's error, as every decode reports it).
    Core(Error),
}

impl From<Error> for TextError {
    fn from(e: Error) -> Self {
        TextError::Core(e)
    }
}

/// A written node: its bytes `out[start..end]`, and whether it is a string (a usable map key).
#[derive(Clone, Copy, Debug)]
pub struct Span {
    start: usize,
    end: usize,
    string: bool,
}

/// Writes each decoded node as JSON into one buffer. Nodes arrive children first, in order, so a
/// container's children are the tail of the buffer when it completes: the container rewrites that
/// tail with its brackets and separators (through `scratch`, reused).
#[derive(Default)]
pub struct JsonText {
    out: Vec<u8>,
    scratch: Vec<u8>,
}

impl JsonText {
    /// A writer with room for about `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        JsonText {
            out: Vec::with_capacity(capacity),
            scratch: Vec::new(),
        }
    }

    /// A scalar written by serde_json (integers; floats shortest round-trip; strings escaped).
    fn written<T: serde::Serialize + ?Sized>(
        &mut self,
        v: &T,
        string: bool,
    ) -> Result<Span, TextError> {
        let start = self.out.len();
        serde_json::to_writer(&mut self.out, v)
            .map_err(|e| Error::Internal(format!("writing JSON: {e}")))?;
        Ok(Span {
            start,
            end: self.out.len(),
            string,
        })
    }

    fn scalar(&mut self, text: &[u8]) -> Span {
        let start = self.out.len();
        self.out.extend_from_slice(text);
        Span {
            start,
            end: self.out.len(),
            string: false,
        }
    }

    /// Rewrites the tail holding `items` as `open item , item ... close` (a map's items alternate
    /// key `:` value; a key that is not a string is not JSON).
    fn container(&mut self, items: Drain<'_, Span>, map: bool) -> Result<Span, TextError> {
        let (open, close) = if map { (b'{', b'}') } else { (b'[', b']') };
        let mut from = self.out.len();
        self.scratch.clear();
        self.scratch.push(open);
        for (i, item) in items.enumerate() {
            let key = map && i % 2 == 0;
            if key && !item.string {
                return Err(TextError::NotJson);
            }
            if i == 0 {
                from = item.start;
            } else {
                self.scratch.push(if key || !map { b',' } else { b':' });
            }
            self.scratch
                .extend_from_slice(&self.out[item.start..item.end]);
        }
        self.scratch.push(close);
        self.out.truncate(from);
        self.out.extend_from_slice(&self.scratch);
        Ok(Span {
            start: from,
            end: self.out.len(),
            string: false,
        })
    }

    /// The text of the value whose node is `root`.
    pub fn finish(mut self, root: Span) -> Vec<u8> {
        self.out.truncate(root.end);
        self.out.drain(..root.start);
        self.out
    }
}

impl Build for JsonText {
    type Out = Span;
    type Error = TextError;

    fn nil(&mut self) -> Result<Span, TextError> {
        Ok(self.scalar(b"null"))
    }
    fn bool(&mut self, v: bool) -> Result<Span, TextError> {
        Ok(self.scalar(if v { b"true" } else { b"false" }))
    }
    fn int(&mut self, v: i64) -> Result<Span, TextError> {
        // The same test as the builders that make a `bigint` beyond it.
        if (v as f64).abs() > MAX_SAFE {
            return Err(TextError::NotJson);
        }
        self.written(&v, false)
    }
    fn uint(&mut self, v: u64) -> Result<Span, TextError> {
        match i64::try_from(v) {
            Ok(i) => self.int(i),
            Err(_) => Err(TextError::NotJson),
        }
    }
    fn float(&mut self, v: f64) -> Result<Span, TextError> {
        if !v.is_finite() {
            return Err(TextError::NotJson);
        }
        self.written(&v, false)
    }
    fn str(&mut self, v: &str) -> Result<Span, TextError> {
        self.written(v, true)
    }
    fn bin(&mut self, _: &[u8]) -> Result<Span, TextError> {
        Err(TextError::NotJson)
    }
    fn array(&mut self, items: Drain<'_, Span>) -> Result<Span, TextError> {
        self.container(items, false)
    }
    fn map(&mut self, kv: Drain<'_, Span>) -> Result<Span, TextError> {
        self.container(kv, true)
    }
}

impl Codec {
    /// The JSON text of the value `bytes` (already un-gzipped) holds, decoded under this codec's
    /// limits: `Ok(Some(text))` when parsing the text gives exactly the value the bindings build
    /// (see the module docs), `Ok(None)` when it would not (build the value instead), and the
    /// codec's error for invalid input, as [`decode`](Codec::decode) reports it.
    pub fn decode_plain_json(&self, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut text = JsonText::with_capacity(bytes.len() + bytes.len() / 2 + 16);
        match self.decode_plain_with(bytes, &mut text) {
            Ok(root) => Ok(Some(text.finish(root))),
            Err(TextError::NotJson) => Ok(None),
            Err(TextError::Core(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Format, Value};

    fn msgpack(v: &Value) -> Vec<u8> {
        Codec::default().encode_plain(v).unwrap()
    }

    fn text(codec: &Codec, bytes: &[u8]) -> Option<String> {
        let t = codec.decode_plain_json(bytes).unwrap();
        t.map(|t| String::from_utf8(t).unwrap())
    }

    fn map(entries: Vec<(Value, Value)>) -> Value {
        Value::Map(entries)
    }

    /// Parsing the text with the JSON codec gives the value the MessagePack decoder gives.
    fn same_value(v: &Value) -> String {
        let codec = Codec::default();
        let bytes = msgpack(v);
        let t = text(&codec, &bytes).expect("representable");
        let json = Codec {
            format: Format::Json,
            ..Codec::default()
        };
        assert_eq!(
            json.decode(t.as_bytes()).unwrap(),
            codec.decode(&bytes).unwrap(),
            "{t}"
        );
        t
    }

    #[test]
    fn representable_values_become_the_json_of_the_same_value() {
        let max = 9_007_199_254_740_991i64;
        let v = map(vec![
            ("a".into(), Value::Int(1)),
            ("neg".into(), Value::Int(-max)),
            ("max".into(), Value::Int(max)),
            ("f".into(), Value::Float(0.1)),
            ("whole".into(), Value::Float(5.0)),
            ("tiny".into(), Value::Float(5e-324)),
            ("big".into(), Value::Float(1e300)),
            (
                "s".into(),
                Value::from("quote \" back \\ nl \n tab \t é 😀 \u{1}"),
            ),
            ("__proto__".into(), Value::from("own")),
            ("nil".into(), Value::Nil),
            ("t".into(), Value::Bool(true)),
            ("f0".into(), Value::Bool(false)),
            ("empty".into(), Value::Array(vec![])),
            ("emptymap".into(), map(vec![])),
            (
                "nested".into(),
                Value::Array(vec![
                    map(vec![(
                        "x".into(),
                        Value::Array(vec![Value::Int(1), Value::Nil]),
                    )]),
                    Value::Array(vec![Value::Array(vec![])]),
                ]),
            ),
        ]);
        let t = same_value(&v);
        assert!(t.starts_with(
            r#"{"a":1,"neg":-9007199254740991,"max":9007199254740991,"f":0.1,"whole":5.0"#
        ));
        assert!(t.ends_with(r#""nested":[{"x":[1,null]},[[]]]}"#), "{t}");
        assert_eq!(same_value(&Value::Float(-0.0)), "-0.0");
        assert_eq!(same_value(&Value::Array(vec![])), "[]");
        assert_eq!(same_value(&Value::Int(7)), "7");
        assert_eq!(same_value(&Value::from("x")), r#""x""#);
    }

    #[test]
    fn values_json_cannot_carry_as_built_give_none() {
        let codec = Codec::default();
        let not = [
            Value::Int(9_007_199_254_740_992),
            Value::Int(i64::MIN),
            Value::UInt(u64::MAX),
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            Value::Bin(vec![1, 2]),
            map(vec![(Value::Int(1), Value::Nil)]),
            map(vec![("a".into(), Value::Nil), (Value::Int(1), Value::Nil)]),
            Value::Array(vec![Value::Int(1), map(vec![(Value::Nil, Value::Nil)])]),
        ];
        for v in not {
            assert_eq!(text(&codec, &msgpack(&v)), None, "{v:?}");
        }
    }

    #[test]
    fn invalid_input_is_the_decoders_error() {
        let codec = Codec {
            limits: crate::codec::Limits {
                max_depth: 3,
                ..crate::codec::Limits::default()
            },
            ..Codec::default()
        };
        let bytes = msgpack(&Value::Array(vec![Value::from("abc")]));
        for bad in [&bytes[..bytes.len() - 1], &[0xc1][..], &[][..]] {
            let expected = codec.decode(bad).unwrap_err().to_string();
            let got = codec.decode_plain_json(bad).unwrap_err().to_string();
            assert_eq!(got, expected);
        }
        let deep = Value::Array(vec![Value::Array(vec![Value::Array(vec![Value::Array(
            vec![],
        )])])]);
        let err = codec.decode_plain_json(&msgpack(&deep)).unwrap_err();
        assert!(matches!(err, Error::TooDeep { limit: 3 }), "{err}");
    }

    #[test]
    fn json_input_is_rewritten_canonically_or_refused_when_wider_than_a_js_number() {
        let json = Codec {
            format: Format::Json,
            ..Codec::default()
        };
        let t = text(&json, br#" { "a" : [1, 2.50, "x"], "b": {} } "#).unwrap();
        assert_eq!(t, r#"{"a":[1,2.5,"x"],"b":{}}"#);
        assert_eq!(text(&json, b"9007199254740993"), None);
        assert!(json.decode_plain_json(b"{").is_err());
    }

    #[test]
    fn every_codec_vector_that_is_representable_round_trips() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/vectors/codec/values.json"
        );
        let cases: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let codec = Codec::default();
        let mut representable = 0;
        for case in cases["cases"].as_array().unwrap() {
            let Some(hex) = case.get("msgpack").and_then(|h| h.as_str()) else {
                continue;
            };
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let Ok(value) = codec.decode(&bytes) else {
                continue;
            };
            if let Some(t) = text(&codec, &bytes) {
                representable += 1;
                let json = Codec {
                    format: Format::Json,
                    ..Codec::default()
                };
                assert_eq!(json.decode(t.as_bytes()).unwrap(), value, "{t}");
            }
        }
        assert!(representable > 5, "only {representable} vectors checked");
    }
}
