//! [`HubConfig::from_value`] and [`SubscribeOptions::from_value`]: the options of `Hub(...)` /
//! `new Hub(options)` and of `subscribe(dashboard, ...)`, read once here (names, defaults, ranges,
//! messages; see [`crate::options`] for key spelling and units).
//!
//! Hub options (snake_case; Node spells them camelCase, durations in ms instead of seconds):
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `history` | 1000 | publications kept per dashboard for `since` (0 keeps none) |
//! | `history_age` | `null` (count only) | publications older than this leave history |
//! | `policy` | `"conflate"` | default slow-consumer policy |
//! | `queue` / `queue_bytes` | 1024 / 1 MiB | default queue caps of a subscription |
//! | `compress_over` | 1024 | gzip wire messages longer than this; `null`: never |
//! | `dedupe` | 10 000 | publication ids remembered per dashboard |
//! | `dedupe_horizon` | 300 s | how long an id is remembered; `null`: by count only |
//!
//! Subscribe options: `since` (the resume point: a map with `epoch` and `seq`, or the pair
//! `[epoch, seq]`; a binding turns its `Message` into the map), `policy`, `queue`, `queue_bytes`
//! (default: the hub's), `format` (`"msgpack"`, the default, or `"json"`) and `compress` (default
//! true). The hub's clock is an object of the binding's language, read by the binding.

use super::config::{HubConfig, Policy, Since, SubscribeOptions};
use crate::codec::{Format, Value};
use crate::error::{Error, Result};
use crate::options::{FromOptions, KeyCase, Options, Style, MAX_SAFE};

const HUB_KEYS: [&str; 8] = [
    "history",
    "history_age",
    "policy",
    "queue",
    "queue_bytes",
    "compress_over",
    "dedupe",
    "dedupe_horizon",
];

const SUBSCRIBE_KEYS: [&str; 6] = [
    "since",
    "policy",
    "queue",
    "queue_bytes",
    "format",
    "compress",
];

/// `since`: absent / `null` → none; `{epoch, seq}` (extra keys ignored: a message-like map) or
/// `[epoch, seq]`, with a string epoch and a whole, non-negative seq.
fn since(o: &Options<'_>) -> Result<Option<Since>> {
    let Some(v) = o.get("since") else {
        return Ok(None);
    };
    let shape = match o.style().keys {
        KeyCase::Snake => "since must be (epoch, seq), {'epoch': ..., 'seq': ...} or a Message",
        KeyCase::Camel => "since must be { epoch, seq }, [epoch, seq] or a Message",
    };
    let (epoch, seq) = match v {
        Value::Map(_) => (v.get("epoch"), v.get("seq")),
        Value::Array(pair) if pair.len() == 2 => (pair.first(), pair.get(1)),
        _ => return Err(Error::invalid(shape)),
    };
    let epoch = match epoch {
        Some(Value::Str(e)) => e.clone(),
        None | Some(Value::Nil) => return Err(Error::invalid("since needs an epoch")),
        Some(_) => return Err(Error::invalid("since epoch must be a string")),
    };
    let seq = match seq {
        Some(Value::Int(n)) if *n >= 0 => *n as u64,
        Some(Value::UInt(n)) => *n,
        Some(Value::Float(f)) if f.fract() == 0.0 && *f >= 0.0 && *f <= MAX_SAFE as f64 => {
            *f as u64
        }
        None | Some(Value::Nil) => return Err(Error::invalid("since needs a seq")),
        Some(_) => {
            return Err(Error::invalid(
                "since seq must be a whole, non-negative number",
            ))
        }
    };
    Ok(Some(Since::new(epoch, seq)))
}

fn policy(o: &Options<'_>) -> Result<Option<Policy>> {
    o.string("policy")?.map(str::parse).transpose()
}

impl FromOptions for HubConfig {
    /// Reads the hub's options (see the module docs).
    fn from_value_with(v: &Value, style: Style, warn: &mut dyn FnMut(&str, f64)) -> Result<Self> {
        let o = Options::new(v, "Hub options", style, &HUB_KEYS)?;
        let d = HubConfig::default();
        let mut duration = |name: &str| o.nullable(name, |o, k| o.duration(k, &mut *warn));
        let history_age = duration("history_age")?;
        let dedupe_horizon = duration("dedupe_horizon")?;
        let config = HubConfig {
            history: o.size("history")?.unwrap_or(d.history),
            history_age: history_age.unwrap_or(d.history_age),
            policy: policy(&o)?.unwrap_or(d.policy),
            queue_messages: o.size("queue")?.unwrap_or(d.queue_messages),
            queue_bytes: o.size("queue_bytes")?.unwrap_or(d.queue_bytes),
            compress_over: o
                .nullable("compress_over", Options::size)?
                .unwrap_or(d.compress_over),
            dedupe_capacity: o.size("dedupe")?.unwrap_or(d.dedupe_capacity),
            dedupe_horizon: dedupe_horizon.unwrap_or(d.dedupe_horizon),
            ..d
        };
        config.validate()?;
        Ok(config)
    }
}

impl FromOptions for SubscribeOptions {
    /// Reads subscribe options (see the module docs). Queue caps must be at least 1. No option is
    /// a duration: `warn` is never called.
    fn from_value_with(v: &Value, style: Style, _: &mut dyn FnMut(&str, f64)) -> Result<Self> {
        let o = Options::new(v, "subscribe options", style, &SUBSCRIBE_KEYS)?;
        let (queue_messages, queue_bytes) = (o.size("queue")?, o.size("queue_bytes")?);
        if queue_messages == Some(0) || queue_bytes == Some(0) {
            return Err(crate::Error::invalid("queue caps must be at least 1"));
        }
        Ok(SubscribeOptions {
            since: since(&o)?,
            policy: policy(&o)?,
            queue_messages,
            queue_bytes,
            format: o.string("format")?.unwrap_or("msgpack").parse::<Format>()?,
            compress: Some(o.boolean("compress")?.unwrap_or(true)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::tests::map;
    use std::time::Duration;

    #[test]
    fn null_turns_nullable_options_off_and_absent_keeps_the_default() {
        let v = map(&[
            ("compressOver", Value::Nil),
            ("dedupeHorizon", Value::Nil),
            ("historyAge", Value::Int(2000)),
            ("queueBytes", Value::Int(10)),
        ]);
        let c = HubConfig::from_value(&v, Style::NODE).unwrap();
        assert_eq!(c.compress_over, None);
        assert_eq!(c.dedupe_horizon, None);
        assert_eq!(c.history_age, Some(Duration::from_secs(2)));
        assert_eq!(c.queue_bytes, 10);
        assert_eq!(
            HubConfig::from_value(&Value::Nil, Style::PYTHON).unwrap(),
            HubConfig::default()
        );
        let bad = map(&[("queue", Value::Int(0))]);
        assert_eq!(
            HubConfig::from_value(&bad, Style::PYTHON)
                .unwrap_err()
                .code(),
            "invalid_input"
        );
    }

    #[test]
    fn subscribe_options_default_to_the_hub() {
        let s = SubscribeOptions::from_value(&Value::Nil, Style::NODE).unwrap();
        assert_eq!(s.policy, None);
        assert_eq!(s.format, Format::MsgPack);
        assert_eq!(s.compress, Some(true));
        let v = map(&[("policy", Value::from("yolo"))]);
        assert!(SubscribeOptions::from_value(&v, Style::NODE).is_err());
    }

    #[test]
    fn since_is_a_map_or_a_pair_with_a_whole_seq() {
        let read = |v: Value| {
            let o = map(&[("since", v)]);
            SubscribeOptions::from_value(&o, Style::NODE).map(|s| s.since)
        };
        let want = Some(Since::new("e1", 7));
        let m = map(&[
            ("epoch", "e1".into()),
            ("seq", Value::Int(7)),
            ("x", Value::Nil),
        ]);
        assert_eq!(read(m).unwrap(), want);
        let pair = Value::Array(vec!["e1".into(), Value::Float(7.0)]);
        assert_eq!(read(pair).unwrap(), want);
        assert_eq!(read(Value::Nil).unwrap(), None);
        for bad in [
            Value::from("x"),
            Value::Array(vec!["e1".into()]),
            map(&[("epoch", "e1".into())]),
            map(&[("seq", Value::Int(1))]),
            map(&[("epoch", Value::Int(1)), ("seq", Value::Int(1))]),
            map(&[("epoch", "e1".into()), ("seq", Value::Int(-1))]),
            map(&[("epoch", "e1".into()), ("seq", Value::Float(1.5))]),
        ] {
            assert_eq!(read(bad).unwrap_err().code(), "invalid_input");
        }
    }
}
