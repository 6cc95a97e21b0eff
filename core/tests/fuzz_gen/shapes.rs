//! Structure-aware generators: values of every type and size form, event messages in every accepted
//! shape (aliases, both time fields, tags and metadata, single or batched), client operations,
//! `dashfeed serve` configs built from their real sections and keys, and JWT headers and claims. Each
//! target's input is a first byte choosing its options and a payload encoded as the target reads it,
//! then mutated at the byte level ([`framed`]).

use super::{framed, inputs};
use dashfeed::codec::{compress, Codec, Format, Value};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use std::time::{SystemTime, UNIX_EPOCH};

const INT_EDGES: &[i64] = &[
    0,
    -1,
    -32,
    -33,
    127,
    128,
    255,
    256,
    -128,
    -129,
    65_535,
    65_536,
    -32_769,
    4_294_967_295,
    4_294_967_296,
    -2_147_483_649,
    i64::MAX,
    i64::MIN,
];

/// Times around the seconds / milliseconds switch and the representable range.
const TIMES: &[f64] = &[
    1_764_288_000.123,
    99_999_999_999.0,
    1e11,
    1_764_288_000_123.0,
    8.99e15,
    9e15,
    -9e15,
    0.5,
    -1.0,
    1e300,
];

const NAMES: &[&str] = &["ops", "cpu", "mem", "team-a", "host", "a", "*", "ops "];

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-z0-9_.-]{0,12}",
        2 => any::<String>(),
        1 => (any::<char>(), 0usize..400).prop_map(|(c, n)| c.to_string().repeat(n)),
        1 => Just("x".repeat(257)),
    ]
    .boxed()
}

fn float(json: bool) -> BoxedStrategy<f64> {
    let mut special = vec![
        0.0,
        -0.0,
        0.5,
        0.1,
        1.0,
        1e300,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
    ];
    if !json {
        special.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
    }
    let any_finite = any::<f64>().prop_map(move |f| if json && !f.is_finite() { 0.0 } else { f });
    prop_oneof![any_finite, select(special)].boxed()
}

/// A scalar; bytes only when `json` is false.
pub fn leaf(json: bool) -> BoxedStrategy<Value> {
    let scalar = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-40i64..300).prop_map(Value::Int),
        select(INT_EDGES).prop_map(Value::Int),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Value::UInt),
        float(json).prop_map(Value::Float),
        text().prop_map(Value::Str),
    ];
    if json {
        return scalar.boxed();
    }
    prop_oneof![8 => scalar, 1 => vec(any::<u8>(), 0..300).prop_map(Value::Bin)].boxed()
}

/// Any value; JSON-safe (string keys, no bytes, finite floats) when `json`.
pub fn value(json: bool) -> BoxedStrategy<Value> {
    leaf(json)
        .prop_recursive(5, 96, 8, move |inner| {
            let key = if json {
                text().prop_map(Value::Str).boxed()
            } else {
                prop_oneof![3 => text().prop_map(Value::Str), 1 => inner.clone()].boxed()
            };
            prop_oneof![
                vec(inner.clone(), 0..8).prop_map(Value::Array),
                vec((key, inner), 0..8).prop_map(Value::Map),
            ]
        })
        .boxed()
}

/// Containers nested up to 600 deep (the depth limits are 1 to 512).
fn deep(json: bool) -> BoxedStrategy<Value> {
    (0usize..600, leaf(json), any::<bool>())
        .prop_map(|(n, mut v, maps)| {
            for _ in 0..n {
                v = if maps {
                    Value::Map(vec![("k".into(), v)])
                } else {
                    Value::Array(vec![v])
                };
            }
            v
        })
        .boxed()
}

/// `v` encoded in `format`, gzipped at `level` when given.
pub fn pack(format: Format, v: &Value, level: Option<u32>) -> Vec<u8> {
    let codec = Codec {
        compress_over: None,
        ..Codec::new(format)
    };
    let plain = codec.encode(v).unwrap_or_default();
    match level {
        Some(l) => compress(&plain, l).unwrap_or(plain),
        None => plain,
    }
}

fn gzip_level() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![4 => Just(None), 1 => Just(Some(1)), 1 => Just(Some(9))]
}

/// A first byte whose bit 0 is `bit`.
fn sel_with_bit0(bit: u8) -> impl Strategy<Value = u8> {
    any::<u8>().prop_map(move |s| (s & !1) | bit)
}

/// Codec inputs: values in either format, plain or gzipped, deep nestings, and gzip bombs.
pub fn codec_input() -> BoxedStrategy<Vec<u8>> {
    let msgpack = (sel_with_bit0(0), value(false), gzip_level())
        .prop_map(|(s, v, gz)| (s, pack(Format::MsgPack, &v, gz)));
    let json = (sel_with_bit0(1), value(true), gzip_level())
        .prop_map(|(s, v, gz)| (s, pack(Format::Json, &v, gz)));
    let deep = (any::<u8>(), deep(false)).prop_map(|(s, v)| {
        let format = if s & 1 == 0 {
            Format::MsgPack
        } else {
            Format::Json
        };
        (s, pack(format, &v, None))
    });
    // Highly compressible payloads: a long string, or a long array of nils.
    let bomb = (any::<u8>(), 0usize..300_000, any::<bool>()).prop_map(|(s, n, nils)| {
        let plain = if nils {
            let mut b = vec![0xdd];
            b.extend_from_slice(&(n as u32).to_be_bytes());
            b.resize(5 + n, 0xc0);
            b
        } else {
            pack(Format::MsgPack, &Value::Str("a".repeat(n)), None)
        };
        (s, compress(&plain, 9).unwrap_or(plain))
    });
    let shapes = prop_oneof![3 => msgpack, 3 => json, 1 => deep, 1 => bomb];
    inputs("codec_decode", framed(shapes))
}

fn name() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => select(NAMES).prop_map(Value::from),
        1 => text().prop_map(Value::Str),
    ]
    .boxed()
}

fn number(json: bool) -> BoxedStrategy<Value> {
    prop_oneof![
        select(TIMES).prop_map(Value::Float),
        select(INT_EDGES).prop_map(Value::Int),
        (0i64..2_000_000_000_000).prop_map(Value::Int),
        float(json).prop_map(Value::Float),
        Just(Value::UInt(u64::MAX)),
    ]
    .boxed()
}

/// Mostly `right`, sometimes a value of another type.
fn typed(right: BoxedStrategy<Value>, json: bool) -> BoxedStrategy<Value> {
    prop_oneof![8 => right, 1 => leaf(json), 1 => value(json)].boxed()
}

fn tags() -> BoxedStrategy<Value> {
    vec((name(), name()), 0..5).prop_map(Value::Map).boxed()
}

fn map_of(fields: Vec<Option<(&'static str, Value)>>) -> Value {
    Value::Map(
        fields
            .into_iter()
            .flatten()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// One event object in any accepted shape, sometimes with a field given twice or of a wrong type.
pub fn event(json: bool) -> BoxedStrategy<Value> {
    let dash = || {
        (
            select(&["dashboard", "dashboard_id", "dashboardId"][..]),
            typed(name(), json),
        )
    };
    let metric = || (select(&["metric", "metric_name"][..]), typed(name(), json));
    let time = || (select(&["ts", "timestamp"][..]), typed(number(json), json));
    (
        option::weighted(0.9, dash()),
        option::weighted(0.2, dash()),
        option::weighted(0.9, metric()),
        option::weighted(0.2, metric()),
        option::weighted(0.9, typed(number(json), json).prop_map(|v| ("value", v))),
        option::weighted(0.5, time()),
        option::weighted(0.2, time()),
        option::weighted(0.3, typed(name(), json).prop_map(|v| ("id", v))),
        option::weighted(0.3, typed(tags(), json).prop_map(|v| ("tags", v))),
        option::weighted(0.3, typed(tags(), json).prop_map(|v| ("metadata", v))),
        option::weighted(0.2, leaf(json).prop_map(|v| ("extra", v))),
    )
        .prop_map(|(a, b, c, d, e, f, g, h, i, j, k)| map_of(vec![a, b, c, d, e, f, g, h, i, j, k]))
        .boxed()
}

/// An ingest body or broker message: one event, an array of them, or another value.
pub fn event_message(json: bool) -> BoxedStrategy<Value> {
    prop_oneof![
        4 => event(json),
        3 => vec(event(json), 0..5).prop_map(Value::Array),
        1 => value(json),
    ]
    .boxed()
}

/// HTTP ingest bodies (bit 0 of the first byte: 0 JSON, 1 msgpack).
pub fn ingest_input() -> BoxedStrategy<Vec<u8>> {
    let json = (sel_with_bit0(0), event_message(true), gzip_level())
        .prop_map(|(s, v, gz)| (s, pack(Format::Json, &v, gz)));
    let msgpack = (sel_with_bit0(1), event_message(false), gzip_level())
        .prop_map(|(s, v, gz)| (s, pack(Format::MsgPack, &v, gz)));
    inputs("ingest_events", framed(prop_oneof![json, msgpack]))
}

/// Broker messages (bits 0–1 of the first byte: auto, JSON, msgpack, auto).
pub fn payload_input() -> BoxedStrategy<Vec<u8>> {
    let json = (
        any::<u8>(),
        select(&[0u8, 1, 3][..]),
        event_message(true),
        gzip_level(),
    )
        .prop_map(|(s, f, v, gz)| ((s & !3) | f, pack(Format::Json, &v, gz)));
    let msgpack = (
        any::<u8>(),
        select(&[0u8, 2, 3][..]),
        event_message(false),
        gzip_level(),
    )
        .prop_map(|(s, f, v, gz)| ((s & !3) | f, pack(Format::MsgPack, &v, gz)));
    inputs("connector_payload", framed(prop_oneof![json, msgpack]))
}

fn client_message(json: bool) -> BoxedStrategy<Value> {
    let op = select(&["subscribe", "unsubscribe", "ping", "refresh", "dance", ""][..]);
    let seq = prop_oneof![
        (0i64..10).prop_map(Value::Int),
        select(INT_EDGES).prop_map(Value::Int),
        Just(Value::UInt(u64::MAX)),
        float(json).prop_map(Value::Float),
    ];
    let since = prop_oneof![
        3 => (
            option::weighted(0.9, typed(text().prop_map(Value::Str).boxed(), json).prop_map(|v| ("epoch", v))),
            option::weighted(0.9, typed(seq.boxed(), json).prop_map(|v| ("seq", v))),
        )
            .prop_map(|(e, s)| map_of(vec![e, s])),
        1 => leaf(json),
    ];
    (
        option::weighted(
            0.95,
            typed(op.prop_map(Value::from).boxed(), json).prop_map(|v| ("op", v)),
        ),
        option::weighted(0.7, typed(name(), json).prop_map(|v| ("dashboard", v))),
        option::weighted(0.3, since.prop_map(|v| ("since", v))),
        option::weighted(0.3, typed(leaf(json), json).prop_map(|v| ("id", v))),
        option::weighted(
            0.2,
            typed(text().prop_map(Value::Str).boxed(), json).prop_map(|v| ("token", v)),
        ),
        option::weighted(0.1, value(json).prop_map(|v| ("extra", v))),
    )
        .prop_map(|(a, b, c, d, e, f)| map_of(vec![a, b, c, d, e, f]))
        .boxed()
}

/// WebSocket client messages (bit 0 of the first byte: 0 JSON, 1 msgpack).
pub fn client_input() -> BoxedStrategy<Vec<u8>> {
    let json = (sel_with_bit0(0), client_message(true))
        .prop_map(|(s, v)| (s, pack(Format::Json, &v, None)));
    let msgpack = (sel_with_bit0(1), client_message(false), gzip_level())
        .prop_map(|(s, v, gz)| (s, pack(Format::MsgPack, &v, gz)));
    inputs("client_op", framed(prop_oneof![json, msgpack]))
}

pub use super::config_gen::config_input;

/// Seconds since the Unix epoch, now.
fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn json_text(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// JWT inputs: `header \0 claims` signed by the target (bit 0 clear), or raw tokens (bit 0 set).
pub fn jwt_input() -> BoxedStrategy<Vec<u8>> {
    use serde_json::{json, Value as J};
    let now = now_s();
    let alg = select(vec![
        json!("HS256"),
        json!("none"),
        json!("RS256"),
        json!("HS384"),
        json!("ES256"),
        json!("hs256"),
        json!(""),
        json!(5),
        J::Null,
    ]);
    let header = (
        alg,
        option::weighted(0.5, select(vec![json!("JWT"), json!("jwt"), json!(1)])),
        option::weighted(
            0.1,
            select(vec![json!("k1"), json!(["crit"]), json!({"a": 1})]),
        ),
    )
        .prop_map(|(alg, typ, kid)| {
            let mut h = serde_json::Map::new();
            h.insert("alg".into(), alg);
            if let Some(t) = typ {
                h.insert("typ".into(), t);
            }
            if let Some(k) = kid {
                h.insert("kid".into(), k);
            }
            json_text(&J::Object(h))
        });
    let time = move || {
        select(vec![
            json!(now + 3600),
            json!(now - 3600),
            json!(now - 30),
            json!(now as f64 + 0.5),
            json!(format!("{}", now + 3600)),
            json!(1e300),
            json!(-1),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(true),
            J::Null,
        ])
    };
    let patterns = select(vec![
        json!("*"),
        json!("ops"),
        json!(["team-*", "ops"]),
        json!([]),
        json!([1, "a"]),
        json!({"a": "b"}),
        json!("**a**b**"),
        json!(["*".repeat(300)]),
    ]);
    let claims = (
        option::weighted(0.9, time()),
        option::weighted(0.3, time()),
        option::weighted(
            0.5,
            select(vec![json!("alice"), json!(7), json!(""), J::Null]),
        ),
        option::weighted(0.5, patterns),
        option::weighted(
            0.4,
            select(vec![json!("fuzz-iss"), json!("other"), json!(["fuzz-iss"])]),
        ),
        option::weighted(
            0.4,
            select(vec![json!("fuzz-aud"), json!(["x", "fuzz-aud"]), json!(3)]),
        ),
    )
        .prop_map(|(exp, nbf, sub, dashboards, iss, aud)| {
            let mut c = serde_json::Map::new();
            let fields = [
                ("exp", exp),
                ("nbf", nbf),
                ("sub", sub),
                ("dashboards", dashboards),
                ("iss", iss),
                ("aud", aud),
            ];
            for (k, v) in fields {
                if let Some(v) = v {
                    c.insert(k.into(), v);
                }
            }
            json_text(&J::Object(c))
        });
    let signed = (
        any::<u8>(),
        framed((Just(0u8), header)),
        framed((Just(0u8), claims)),
    )
        .prop_map(|(s, h, c)| {
            let mut out = vec![s & !1];
            out.extend_from_slice(&h[1..]);
            out.push(0);
            out.extend_from_slice(&c[1..]);
            out
        });
    let raw = framed((
        any::<u8>().prop_map(|s| s | 1),
        select(vec![
            b"a.b.c".to_vec(),
            b"..".to_vec(),
            b"eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.".to_vec(),
            b"eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJl".to_vec(),
        ]),
    ));
    inputs("jwt_verify", prop_oneof![4 => signed, 1 => raw].boxed())
}
