//! `dashfeed serve` configs for the fuzzer: TOML documents made of the real sections and keys (each
//! value mostly of its key's type, sometimes of another), a few `[[source]]` / `[[sink]]` tables of
//! every connector kind, and the same document as the bindings' JSON. Then mutated at the byte level.

use super::{framed, inputs};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

/// The type of a key's value.
#[derive(Debug, Clone, Copy)]
enum Hint {
    Int,
    Dur,
    Str,
    Bool,
    Float,
    Strs,
    Floats,
    Window,
    Emit,
    Queue,
    Props,
}

const SERVER: &[(&str, Hint)] = &[
    ("host", Hint::Str),
    ("port", Hint::Int),
    ("max_connections", Hint::Int),
    ("max_message_bytes", Hint::Int),
    ("max_body_bytes", Hint::Int),
    ("allowed_origins", Hint::Strs),
    ("ping_interval", Hint::Dur),
    ("idle_timeout", Hint::Dur),
    ("write_delay", Hint::Dur),
    ("demo_page", Hint::Bool),
    ("ingest_rate", Hint::Float),
    ("ingest_burst", Hint::Int),
];
const AUTH: &[(&str, Hint)] = &[
    ("hs256_secret", Hint::Str),
    ("hs256_secret_env", Hint::Str),
    ("rs256_public_key_file", Hint::Str),
    ("issuer", Hint::Str),
    ("audience", Hint::Str),
    ("leeway", Hint::Dur),
];
const TLS: &[(&str, Hint)] = &[("cert", Hint::Str), ("key", Hint::Str)];
const HUB: &[(&str, Hint)] = &[
    ("history", Hint::Int),
    ("history_age", Hint::Dur),
    ("policy", Hint::Str),
    ("queue_messages", Hint::Int),
    ("queue_bytes", Hint::Int),
    ("compress_over", Hint::Int),
];
const AGGREGATOR: &[(&str, Hint)] = &[
    ("window", Hint::Window),
    ("lateness", Hint::Dur),
    ("quantiles", Hint::Floats),
    ("emit", Hint::Emit),
    ("idle_close", Hint::Dur),
    ("max_pending_results", Hint::Int),
    ("max_pending_late", Hint::Int),
];
const DEDUPE: &[(&str, Hint)] = &[("capacity", Hint::Int), ("horizon", Hint::Dur)];
const CLUSTER: &[(&str, Hint)] = &[
    ("redis", Hint::Str),
    ("prefix", Hint::Str),
    ("snapshot_prefix", Hint::Str),
    ("history", Hint::Int),
    ("timeout_ms", Hint::Int),
    ("batch", Hint::Int),
];
/// Keys of every connector kind, mixed: each table gets a kind and a few of them.
const CONNECTOR: &[(&str, Hint)] = &[
    ("url", Hint::Str),
    ("stream", Hint::Str),
    ("group", Hint::Str),
    ("consumer", Hint::Str),
    ("count", Hint::Int),
    ("block_ms", Hint::Int),
    ("claim_idle_ms", Hint::Int),
    ("field", Hint::Str),
    ("channels", Hint::Strs),
    ("patterns", Hint::Strs),
    ("channel", Hint::Str),
    ("format", Hint::Str),
    ("max_message_bytes", Hint::Int),
    ("brokers", Hint::Str),
    ("topics", Hint::Strs),
    ("topic", Hint::Str),
    ("batch", Hint::Int),
    ("dead_letter", Hint::Str),
    ("session_timeout_ms", Hint::Int),
    ("message_timeout_ms", Hint::Int),
    ("properties", Hint::Props),
    ("prefix", Hint::Str),
    ("ttl_s", Hint::Int),
    ("seed", Hint::Bool),
    ("seed_max", Hint::Int),
    ("maxlen", Hint::Int),
    ("queue", Hint::Queue),
];
const SOURCE_KINDS: &[&str] = &[
    "redis_stream",
    "redis_pubsub",
    "kafka",
    "redis_cache",
    "kettle",
];
const SINK_KINDS: &[&str] = &[
    "redis_cache",
    "redis_stream",
    "redis_pubsub",
    "kafka",
    "file",
];

const INTS: &[&str] = &[
    "0",
    "1",
    "5",
    "8080",
    "65535",
    "65536",
    "-1",
    "100000",
    "9223372036854775807",
    "1_000",
    "0x10",
    "1e3",
];
const DURS: &[&str] = &[
    "\"10s\"",
    "\"250ms\"",
    "\"1.5s\"",
    "\"0ms\"",
    "\"1m\"",
    "\"2h\"",
    "\"1d\"",
    "\"10\"",
    "\"s\"",
    "\"1.0001s\"",
    "\"999999999999999999999999d\"",
    "\"99999999999999999999.9999d\"",
    "\"-1s\"",
    "\" 5 s\"",
    "500",
    "0",
    "18446744073709551615",
];
const STRS: &[&str] = &[
    "ops",
    "",
    "127.0.0.1",
    "0.0.0.0",
    "redis://127.0.0.1:1",
    "127.0.0.1:9",
    "conflate",
    "drop_oldest",
    "disconnect",
    "json",
    "msgpack",
    "auto",
    "HOME",
    "no/such/file.pem",
    "*",
    "s3cret",
];
const FLOATS: &[&str] = &[
    "0.5", "0.99", "1.0", "nan", "inf", "-inf", "-1.0", "1e308", "0.0", "2", "1e-9", "2e9",
];
const WINDOWS: &[&str] = &[
    "{ kind = \"tumbling\", size = \"1s\" }",
    "{ kind = \"hopping\", size = \"10s\", slide = \"5s\" }",
    "{ kind = \"hopping\", size = \"1s\", slide = \"3s\" }",
    "{ kind = \"session\", gap = \"30s\" }",
    "{ kind = \"count\", n = 3 }",
    "{ kind = \"count\", n = 0 }",
    "{ kind = \"tumbling\" }",
    "{ kind = \"tumbling\", size = 0 }",
    "{ kind = \"sliding\", size = \"1s\" }",
];
const EMITS: &[&str] = &[
    "\"final\"",
    "{ mode = \"updates\", interval = \"1s\" }",
    "{ mode = \"updates\" }",
    "{ mode = \"final\", interval = 5 }",
    "\"updates\"",
];
const QUEUES: &[&str] = &[
    "{ max_records = 10, max_bytes = 1000, batch = 5, linger_ms = 1 }",
    "{ max_records = 0 }",
    "{ batch = 100, max_records = 1 }",
    "{ linger_ms = \"1s\" }",
];
const PROPS: &[&str] = &[
    "{ \"acks\" = \"all\" }",
    "{ \"bootstrap.servers\" = \"x\" }",
    "{ a = 1 }",
    "{}",
];

/// A TOML basic string holding `s`.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn of_hint(hint: Hint) -> BoxedStrategy<String> {
    let s = || {
        prop_oneof![
            3 => select(STRS).prop_map(quoted),
            1 => any::<String>().prop_map(|s| quoted(&s)),
        ]
    };
    match hint {
        Hint::Int => prop_oneof![
            3 => select(INTS).prop_map(str::to_owned),
            1 => any::<i64>().prop_map(|i| i.to_string())
        ]
        .boxed(),
        Hint::Dur => select(DURS).prop_map(str::to_owned).boxed(),
        Hint::Str => s().boxed(),
        Hint::Bool => select(&["true", "false"][..])
            .prop_map(str::to_owned)
            .boxed(),
        Hint::Float => select(FLOATS).prop_map(str::to_owned).boxed(),
        Hint::Strs => vec(s(), 0..4)
            .prop_map(|v| format!("[{}]", v.join(", ")))
            .boxed(),
        Hint::Floats => vec(select(FLOATS), 0..4)
            .prop_map(|v| format!("[{}]", v.join(", ")))
            .boxed(),
        Hint::Window => select(WINDOWS).prop_map(str::to_owned).boxed(),
        Hint::Emit => select(EMITS).prop_map(str::to_owned).boxed(),
        Hint::Queue => select(QUEUES).prop_map(str::to_owned).boxed(),
        Hint::Props => select(PROPS).prop_map(str::to_owned).boxed(),
    }
}

const ALL_HINTS: &[Hint] = &[
    Hint::Int,
    Hint::Dur,
    Hint::Str,
    Hint::Bool,
    Hint::Float,
    Hint::Strs,
    Hint::Floats,
    Hint::Window,
    Hint::Queue,
];

/// `key = value` lines for a subset of `keys`, each value of its key's type nine times in ten.
fn lines(keys: &'static [(&'static str, Hint)], most: usize) -> BoxedStrategy<String> {
    let one = |(key, hint): (&'static str, Hint)| {
        prop_oneof![
            9 => of_hint(hint),
            1 => select(ALL_HINTS).prop_flat_map(of_hint),
        ]
        .prop_map(move |v| format!("{key} = {v}\n"))
    };
    subsequence(keys.to_vec(), 0..=most.min(keys.len()))
        .prop_flat_map(move |chosen| chosen.into_iter().map(one).collect::<Vec<_>>())
        .prop_map(|v| v.concat())
        .boxed()
}

fn section(header: &'static str, keys: &'static [(&'static str, Hint)]) -> BoxedStrategy<String> {
    option::weighted(0.4, lines(keys, 4))
        .prop_map(move |body| body.map_or_else(String::new, |b| format!("[{header}]\n{b}")))
        .boxed()
}

fn entries(header: &'static str, kinds: &'static [&'static str]) -> BoxedStrategy<String> {
    vec((select(kinds), lines(CONNECTOR, 5)), 0..3)
        .prop_map(move |tables| {
            tables
                .into_iter()
                .map(|(kind, body)| format!("[[{header}]]\nkind = {}\n{body}", quoted(kind)))
                .collect()
        })
        .boxed()
}

/// A whole config document as TOML text.
pub fn config_text() -> BoxedStrategy<String> {
    (
        section("server", SERVER),
        section("server.auth", AUTH),
        section("server.tls", TLS),
        section("hub", HUB),
        section("aggregator", AGGREGATOR),
        section("dedupe", DEDUPE),
        section("cluster", CLUSTER),
        entries("source", SOURCE_KINDS),
        entries("sink", SINK_KINDS),
        option::weighted(0.05, "[a-z]{1,8}").prop_map(|k| k.map(|k| format!("{k} = 1\n"))),
    )
        .prop_map(|(a, b, c, d, e, f, g, h, i, junk)| {
            [a, b, c, d, e, f, g, h, i, junk.unwrap_or_default()].concat()
        })
        .boxed()
}

/// Config inputs (bit 0 of the first byte: 0 TOML, 1 the same document as JSON).
pub fn config_input() -> BoxedStrategy<Vec<u8>> {
    let doc = (any::<u8>(), config_text()).prop_map(|(s, text)| {
        if s & 1 == 0 {
            return (s, text.into_bytes());
        }
        let json = toml::from_str::<toml::Value>(&text)
            .ok()
            .and_then(|v| serde_json::to_vec(&v).ok());
        match json {
            Some(j) => (s, j),
            None => (s & !1, text.into_bytes()),
        }
    });
    inputs("pipeline_config", framed(doc).boxed())
}
