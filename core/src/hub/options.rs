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
//! Subscribe options: `policy`, `queue`, `queue_bytes` (default: the hub's), `format` (`"msgpack"`,
//! the default, or `"json"`) and `compress` (default true). The resume point `since` and the clock
//! are objects of the binding's language, read by the binding.

use super::config::{HubConfig, Policy, SubscribeOptions};
use crate::codec::{Format, Value};
use crate::error::Result;
use crate::options::{FromOptions, Options, Style};

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

const SUBSCRIBE_KEYS: [&str; 5] = ["policy", "queue", "queue_bytes", "format", "compress"];

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
    /// Reads subscribe options (see the module docs); `since` is left `None` for the binding to
    /// set. Queue caps must be at least 1. No option is a duration: `warn` is never called.
    fn from_value_with(v: &Value, style: Style, _: &mut dyn FnMut(&str, f64)) -> Result<Self> {
        let o = Options::new(v, "subscribe options", style, &SUBSCRIBE_KEYS)?;
        let (queue_messages, queue_bytes) = (o.size("queue")?, o.size("queue_bytes")?);
        if queue_messages == Some(0) || queue_bytes == Some(0) {
            return Err(crate::Error::invalid("queue caps must be at least 1"));
        }
        Ok(SubscribeOptions {
            since: None,
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
}
