//! The fuzz targets: each takes raw bytes (a first byte choosing options, then the input), runs one
//! parser of dashfeed on them and panics when an invariant does not hold:
//!
//! - no panic inside dashfeed;
//! - the bytes live at the peak of the call stay within [`BYTES_PER_INPUT_BYTE`] per byte of input the
//!   configured limits let through, plus [`SLACK`] (so a gzip bomb or a huge declared length is refused
//!   without allocating for it);
//! - every error carries a documented code (`Error::CODES`, and the subset the target's docs name);
//! - whatever decodes re-encodes, decodes back equal (floats compared bit for bit) and re-encodes to the
//!   same MessagePack bytes.

use super::alloc::peak_during;
use super::jwt;
use dashfeed::codec::{is_gzip, Codec, Format, Limits, Value, MAX_DEPTH_LIMIT};
use dashfeed::connect::{PayloadFormat, PayloadParser};
use dashfeed::event::parse_events;
use dashfeed::hub::{Hub, HubConfig};
use dashfeed::pipeline::PipelineConfig;
use dashfeed::server::protocol::{self, ClientOp};
use dashfeed::server::{AuthConfig, HubIngest, Ingest, Verifier};
use dashfeed::Error;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One fuzz target: its name (also its corpus folder under `tests/fuzz/corpus/`) and entry point.
pub struct Target {
    /// Name of the target and of its corpus folder.
    pub name: &'static str,
    /// Runs the target on one input; panics when an invariant does not hold.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "codec_decode",
        run: codec_decode,
    },
    Target {
        name: "client_op",
        run: client_op,
    },
    Target {
        name: "ingest_events",
        run: ingest_events,
    },
    Target {
        name: "connector_payload",
        run: connector_payload,
    },
    Target {
        name: "pipeline_config",
        run: pipeline_config,
    },
    Target {
        name: "jwt_verify",
        run: jwt_verify,
    },
];

/// Bytes a decoded tree may hold per byte of plain input at the peak of a decode: a one-byte msgpack
/// element becomes a 32-byte `Value` on the decoder's stack (capacity doubling: 64) and again in its
/// container; a two-byte map entry a 64-byte pair.
pub const BYTES_PER_INPUT_BYTE: usize = 128;
/// Fixed allowance: inflate state and read chunk, error messages, small tables.
pub const SLACK: usize = 256 << 10;

/// Decode limits chosen by bits 1–2 of a codec input's first byte.
pub const LIMITS: [Limits; 4] = [
    Limits {
        max_input: 64 << 10,
        max_decompressed: 64 << 10,
        max_depth: 128,
    },
    Limits {
        max_input: 1 << 10,
        max_decompressed: 4 << 10,
        max_depth: 8,
    },
    Limits {
        max_input: 16 << 10,
        max_decompressed: 1 << 10,
        max_depth: MAX_DEPTH_LIMIT,
    },
    Limits {
        max_input: 256,
        max_decompressed: 256,
        max_depth: 1,
    },
];

/// The codec options of a first byte: bit 0 the format (0 msgpack, 1 JSON), bits 1–2 the limits.
pub fn codec_options(sel: u8) -> (Format, Limits) {
    let format = if sel & 1 == 0 {
        Format::MsgPack
    } else {
        Format::Json
    };
    (format, LIMITS[usize::from(sel >> 1) & 3])
}

/// Size limits chosen by bits 1–2 of a message target's first byte.
pub const MESSAGE_LIMITS: [usize; 4] = [1024, 64, 64 << 10, 1 << 20];

fn check_peak(target: &str, peak: usize, plain_bytes: usize) {
    let bound = BYTES_PER_INPUT_BYTE * plain_bytes + SLACK;
    assert!(
        peak <= bound,
        "{target}: {peak} bytes live at the peak for {plain_bytes} bytes of plain input (bound {bound})"
    );
}

/// docs/protocol.md, whose "Errors" table lists the codes of the server's error messages.
const PROTOCOL_MD: &str = include_str!("../../../docs/protocol.md");

/// Whether `code` is documented: a crate error code (`Error::CODES`, in error.rs) or a code of the
/// error table of docs/protocol.md.
pub fn documented(code: &str) -> bool {
    if Error::CODES.contains(&code) {
        return true;
    }
    let table = PROTOCOL_MD
        .split("### Errors")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap_or_default();
    table
        .lines()
        .any(|l| l.starts_with(&format!("| `{code}` |")))
}

fn check_code(target: &str, code: &str, allowed: &[&str], what: &dyn std::fmt::Display) {
    assert!(
        documented(code),
        "{target}: undocumented error code {code:?}: {what}"
    );
    assert!(
        allowed.contains(&code),
        "{target}: error code {code:?} is not one of {allowed:?}: {what}"
    );
}

/// The plain bytes a decode under `max_input` / `max_decompressed` can reach for `input`.
fn plain_bytes(input: &[u8], max_input: usize, max_decompressed: usize) -> usize {
    if input.len() > max_input {
        0
    } else if is_gzip(input) {
        max_decompressed
    } else {
        input.len()
    }
}

/// Nesting of containers (a scalar is 0, an array of scalars 1).
pub fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Map(pairs) => {
            1 + pairs
                .iter()
                .map(|(k, v)| depth(k).max(depth(v)))
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    }
}

/// Equality with floats compared bit for bit (NaN equals the same NaN, `-0.0` differs from `0.0`).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}

/// Whether JSON carries `v` unchanged: no bytes, finite floats, string map keys.
pub fn json_safe(v: &Value) -> bool {
    match v {
        Value::Bin(_) => false,
        Value::Float(f) => f.is_finite(),
        Value::Array(items) => items.iter().all(json_safe),
        Value::Map(pairs) => pairs
            .iter()
            .all(|(k, v)| matches!(k, Value::Str(_)) && json_safe(v)),
        _ => true,
    }
}

/// A value for a failure report: the start of its MessagePack bytes in hex (a derived `Debug` of a
/// 512-deep value recurses deep enough to overflow a test thread's stack in a debug build).
pub fn brief(v: &Value) -> String {
    let bytes = Codec {
        compress_over: None,
        ..Codec::default()
    }
    .encode(v)
    .unwrap_or_default();
    let hex: String = bytes.iter().take(96).map(|b| format!("{b:02x}")).collect();
    format!("msgpack {hex}{}", if bytes.len() > 96 { "…" } else { "" })
}

/// decode(encode(v)) == v in MessagePack (plain and gzipped) and, when JSON carries `v`, in JSON; the
/// MessagePack bytes of the decoded value are the bytes it was decoded from.
pub fn roundtrip(v: &Value) {
    let limits = Limits {
        max_depth: MAX_DEPTH_LIMIT,
        ..Limits::default()
    };
    let mp = Codec {
        compress_over: None,
        limits,
        ..Codec::new(Format::MsgPack)
    };
    let bytes = mp
        .encode(v)
        .unwrap_or_else(|e| panic!("msgpack encode failed: {e}: {}", brief(v)));
    let back = mp
        .decode(&bytes)
        .unwrap_or_else(|e| panic!("msgpack decode of our own bytes failed: {e}: {}", brief(v)));
    assert!(
        same(&back, v),
        "msgpack round trip: {} came back as {}",
        brief(v),
        brief(&back)
    );
    let again = mp.encode(&back).unwrap_or_default();
    assert_eq!(again, bytes, "msgpack re-encode differs for {}", brief(v));
    let gz = Codec {
        compress_over: Some(0),
        ..mp
    };
    let zipped = gz
        .encode(v)
        .unwrap_or_else(|e| panic!("gzip encode failed: {e}"));
    let back = gz
        .decode(&zipped)
        .unwrap_or_else(|e| panic!("gzip decode of our own bytes failed: {e}: {}", brief(v)));
    assert!(
        same(&back, v),
        "gzip round trip: {} came back as {}",
        brief(v),
        brief(&back)
    );
    let json = Codec {
        format: Format::Json,
        ..mp
    };
    match json.encode(v) {
        Ok(text) => {
            let back = json.decode(&text).unwrap_or_else(|e| {
                panic!("JSON decode of our own text failed: {e}: {}", brief(v))
            });
            if json_safe(v) {
                assert!(
                    same(&back, v),
                    "JSON round trip: {} came back as {}",
                    brief(v),
                    brief(&back)
                );
            }
        }
        Err(e) => {
            check_code("json encode", e.code(), &["encode_error"], &e);
            assert!(
                !json_safe(v),
                "JSON refused a value it carries: {e}: {}",
                brief(v)
            );
        }
    }
}

/// Codec decode with every limit on (first byte: [`codec_options`]).
pub fn codec_decode(data: &[u8]) {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let (format, limits) = codec_options(sel);
    let codec = Codec {
        format,
        compress_over: None,
        level: 0,
        limits,
    };
    let (res, peak) = peak_during(|| codec.decode(input));
    let plain = plain_bytes(input, limits.max_input, limits.max_decompressed);
    check_peak("codec_decode", peak, plain);
    match res {
        Err(e) => {
            let allowed = ["decode_error", "too_large", "too_deep"];
            check_code("codec_decode", e.code(), &allowed, &e);
            if input.len() > limits.max_input {
                assert_eq!(e.code(), "too_large", "input over max_input: {e}");
            }
        }
        Ok(v) => {
            assert!(
                input.len() <= limits.max_input,
                "input over max_input decoded"
            );
            let d = depth(&v);
            assert!(d <= limits.max_depth, "depth {d} over {}", limits.max_depth);
            roundtrip(&v);
        }
    }
}

/// The format of a message target: bit 0 of the first byte.
fn message_format(sel: u8) -> Format {
    if sel & 1 == 0 {
        Format::Json
    } else {
        Format::MsgPack
    }
}

/// A WebSocket client message (first byte: bit 0 JSON / msgpack, bits 1–2 [`MESSAGE_LIMITS`]). Every
/// refusal has a code of the protocol's table, and every reply the server makes to it encodes.
pub fn client_op(data: &[u8]) {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let format = message_format(sel);
    let max = MESSAGE_LIMITS[usize::from(sel >> 1) & 3];
    let (res, peak) = peak_during(|| ClientOp::parse(input, format, max));
    check_peak("client_op", peak, plain_bytes(input, max, max));
    for wire in [Format::Json, Format::MsgPack] {
        let reply = match &res {
            Err(r) => {
                let allowed = ["decode_error", "invalid_input", "unknown_op"];
                check_code("client_op", r.code, &allowed, &r.message);
                protocol::error_message(wire, r.code, &r.message, None, None)
            }
            Ok(ClientOp::Ping { id }) => {
                if let Some(id) = id {
                    assert!(
                        !matches!(id, Value::Array(_) | Value::Map(_) | Value::Bin(_)),
                        "ping id must be a scalar: {id:?}"
                    );
                }
                protocol::pong(wire, id.as_ref())
            }
            Ok(ClientOp::Subscribe { dashboard, .. } | ClientOp::Unsubscribe { dashboard }) => {
                let message = "the token does not open this dashboard";
                protocol::error_message(wire, "forbidden", message, Some(dashboard), None)
            }
            Ok(ClientOp::Refresh { .. }) => protocol::pong(wire, None),
        };
        let bytes = reply.unwrap_or_else(|e| panic!("the reply to {res:?} does not encode: {e}"));
        Codec::new(wire)
            .decode(&bytes)
            .unwrap_or_else(|e| panic!("the reply to {res:?} does not decode: {e}"));
    }
}

/// An HTTP ingest body (first byte: bit 0 JSON / msgpack, bits 1–2 [`MESSAGE_LIMITS`]), then the events
/// it holds published into a hub as `POST /api/events` does.
pub fn ingest_events(data: &[u8]) {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let format = message_format(sel);
    let max = MESSAGE_LIMITS[usize::from(sel >> 1) & 3];
    let (res, peak) = peak_during(|| parse_events(input, format, max));
    check_peak("ingest_events", peak, plain_bytes(input, max, max));
    let allowed = ["decode_error", "too_large", "too_deep", "invalid_input"];
    let events = match res {
        Err(e) => return check_code("ingest_events", e.code(), &allowed, &e),
        Ok(events) => events,
    };
    for ev in &events {
        ev.validate()
            .unwrap_or_else(|e| panic!("a parsed event does not validate: {e}: {ev:?}"));
        roundtrip(&ev.to_value());
    }
    let received = events.len();
    let hub = Hub::new(HubConfig::default()).unwrap_or_else(|e| panic!("hub: {e}"));
    match HubIngest::new(hub).ingest(events) {
        Ok(accepted) => assert!(accepted <= received),
        Err(e) => check_code("ingest_events publish", e.code(), &["invalid_input"], &e),
    }
}

/// A broker message through a source's [`PayloadParser`] (first byte: bits 0–1 the payload format, auto
/// / JSON / msgpack / auto, bit 2 an origin id, bit 3 the size limit).
pub fn connector_payload(data: &[u8]) {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let format = [
        PayloadFormat::Auto,
        PayloadFormat::Json,
        PayloadFormat::Msgpack,
        PayloadFormat::Auto,
    ][usize::from(sel & 3)];
    let origin = (sel & 4 != 0).then_some("events/0/42");
    let max = if sel & 8 == 0 { 4 << 10 } else { 128 };
    let parser = PayloadParser {
        format,
        max_bytes: max,
    };
    let (res, peak) = peak_during(|| parser.parse(input, origin));
    check_peak("connector_payload", peak, plain_bytes(input, max, max));
    let allowed = ["decode_error", "too_large", "too_deep", "invalid_input"];
    match &res {
        Err(e) => check_code("connector_payload", e.code(), &allowed, e),
        Ok(events) => {
            for ev in events {
                ev.validate()
                    .unwrap_or_else(|e| panic!("a parsed event does not validate: {e}"));
                assert!(origin.is_none() || ev.id.is_some(), "no id from the origin");
            }
        }
    }
    // The same message as a decoded value (a Redis stream entry's fields) parses alike.
    let decoded = Codec::bounded(
        format.format_of(input),
        max,
        dashfeed::event::EVENT_MAX_DEPTH,
    )
    .decode(input);
    if let Ok(v) = decoded {
        let again = parser.parse_value(&v, origin);
        if let Err(e) = &again {
            check_code("connector_payload value", e.code(), &["invalid_input"], e);
        }
        assert_eq!(res.is_ok(), again.is_ok(), "{res:?} vs {again:?}");
    }
}

/// The `dashfeed serve` config (first byte: bit 0 TOML text / the bindings' JSON document).
pub fn pipeline_config(data: &[u8]) {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    // Key files and directories are the operator's paths and are read when named: keep the fuzzer
    // away from endless device files.
    if [&b"/dev/"[..], b"/proc/", b"/sys/"]
        .iter()
        .any(|p| input.windows(p.len()).any(|w| w == *p))
    {
        return;
    }
    let (res, peak) = if sel & 1 == 0 {
        let Ok(text) = std::str::from_utf8(input) else {
            return;
        };
        peak_during(|| PipelineConfig::parse(text))
    } else {
        peak_during(|| PipelineConfig::from_json(input))
    };
    check_peak("pipeline_config", peak, input.len());
    match res {
        Err(e) => check_code("pipeline_config", e.code(), &["invalid_input"], &e),
        Ok(cfg) => {
            cfg.check()
                .unwrap_or_else(|e| panic!("a parsed config does not check: {e}"));
            let server = cfg.server_config().map(|s| s.validate());
            assert!(matches!(server, Ok(Ok(()))), "server config: {server:?}");
        }
    }
}

/// Verifier options chosen by bits 1–3 of a JWT input's first byte: leeway, issuer, audience.
pub fn jwt_config(sel: u8) -> AuthConfig {
    let mut cfg = AuthConfig::hs256(jwt::SECRET);
    if sel & 2 != 0 {
        cfg.leeway = Duration::from_secs(60);
    }
    if sel & 4 != 0 {
        cfg.issuer = Some("fuzz-iss".into());
    }
    if sel & 8 != 0 {
        cfg.audience = Some("fuzz-aud".into());
    }
    cfg
}

/// The header used when a JWT input gives only claims.
pub const DEFAULT_HEADER: &[u8] = br#"{"alg":"HS256","typ":"JWT"}"#;

/// JWT verification (first byte: bit 0 raw token, else `header \0 claims` signed with the verifier's
/// secret; bits 1–3 [`jwt_config`]). A token is accepted only with alg HS256 and a numeric, unexpired
/// `exp` (and the configured issuer / audience); a refusal is `invalid_input` and never quotes the token.
pub fn jwt_verify(data: &[u8]) {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let cfg = jwt_config(sel);
    let verifier = Verifier::new(&cfg).unwrap_or_else(|e| panic!("verifier: {e}"));
    let (token, parts) = if sel & 1 != 0 {
        (String::from_utf8_lossy(input).into_owned(), None)
    } else {
        let (header, claims) = match input.iter().position(|&b| b == 0) {
            Some(i) => (&input[..i], &input[i + 1..]),
            None => (DEFAULT_HEADER, input),
        };
        (jwt::token(header, claims), Some((header, claims)))
    };
    let (res, peak) = peak_during(|| verifier.verify(&token));
    check_peak("jwt_verify", peak, token.len());
    let grant = match res {
        Err(e) => {
            check_code("jwt_verify", e.code(), &["invalid_input"], &e);
            // The signature of a token signed here is 43 characters no message holds by chance.
            let signature = token.rsplit('.').next().unwrap_or_default();
            let quoted = parts.is_some() && e.to_string().contains(signature);
            assert!(!quoted, "the refusal quotes the token: {e}");
            return;
        }
        Ok(grant) => grant,
    };
    assert!(grant.expires_at.is_finite(), "{grant:?}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    // jsonwebtoken compares whole seconds and rounds a fractional `exp`: up to ~1.5 s of slack.
    assert!(
        grant.expires_at + 2.0 >= now,
        "an expired token passed: {grant:?}"
    );
    let _ = grant.remaining();
    for d in ["ops", "team-a", "*", ""] {
        let _ = grant.allows(d);
    }
    if let Some((header, claims)) = parts {
        jwt::check_accepted(&cfg, header, claims);
    }
}
