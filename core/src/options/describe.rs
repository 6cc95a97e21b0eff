//! [`describe`]: the config that a binding's options map builds, as one canonical map (snake_case
//! keys, durations in ms, `null` for "off"), whatever the language's spelling and unit. The
//! cross-language vectors (tests/vectors/config/options.json) compare it in Rust, Python and Node.

use super::{FromOptions, Style};
use crate::breaker::{BreakerConfig, RateWindow};
use crate::codec::Value;
use crate::error::{Error, Result};
use crate::hub::{HubConfig, SubscribeOptions};
use crate::limit::LimiterConfig;
use crate::server::{AuthConfig, JwtKey, ServerConfig};
use std::time::Duration;

/// Milliseconds of a duration (fractions kept).
fn ms(d: Duration) -> Value {
    let ms = d.as_nanos() as f64 / 1e6;
    if ms.fract() == 0.0 {
        Value::Int(ms as i64)
    } else {
        Value::Float(ms)
    }
}

fn opt_ms(d: Option<Duration>) -> Value {
    d.map_or(Value::Nil, ms)
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

fn breaker(c: &BreakerConfig) -> Value {
    let rate = c.failure_rate.as_ref().map(|r| {
        let window = match r.window {
            RateWindow::Count(n) => map(vec![("count", n.into())]),
            RateWindow::Time { duration, buckets } => {
                map(vec![("time_ms", ms(duration)), ("buckets", buckets.into())])
            }
        };
        map(vec![
            ("threshold", r.threshold.into()),
            ("minimum_calls", r.minimum_calls.into()),
            ("window", window),
        ])
    });
    map(vec![
        ("failure_threshold", c.failure_threshold.into()),
        ("reset_timeout_ms", ms(c.reset_timeout)),
        ("half_open_max_calls", c.half_open_max_calls.into()),
        ("success_threshold", c.success_threshold.into()),
        ("failure_rate", rate.into()),
        ("slow_call_ms", opt_ms(c.slow_call_duration)),
        ("timeout_ms", opt_ms(c.timeout)),
    ])
}

fn limiter(c: &LimiterConfig) -> Value {
    map(vec![("rate", c.rate.into()), ("burst", c.burst.into())])
}

fn hub(c: &HubConfig) -> Value {
    map(vec![
        ("history", c.history.into()),
        ("history_age_ms", opt_ms(c.history_age)),
        ("policy", c.policy.name().into()),
        ("queue", c.queue_messages.into()),
        ("queue_bytes", c.queue_bytes.into()),
        ("compress_over", c.compress_over.into()),
        ("dedupe", c.dedupe_capacity.into()),
        ("dedupe_horizon_ms", opt_ms(c.dedupe_horizon)),
    ])
}

fn subscribe(s: &SubscribeOptions) -> Value {
    let mut fields = vec![
        ("policy", s.policy.map(|p| p.name()).into()),
        ("queue", s.queue_messages.into()),
        ("queue_bytes", s.queue_bytes.into()),
        ("format", s.format.name().into()),
        ("compress", s.compress.into()),
    ];
    if let Some(since) = &s.since {
        let pair = vec![since.epoch.clone().into(), since.seq.into()];
        fields.push(("since", Value::Array(pair)));
    }
    map(fields)
}

fn auth(a: &AuthConfig) -> Value {
    let algorithm = match a.key {
        JwtKey::Hs256Secret(_) => "HS256",
        JwtKey::Rs256PublicPem(_) => "RS256",
        JwtKey::Es256PublicPem(_) => "ES256",
    };
    map(vec![
        ("algorithm", algorithm.into()),
        ("issuer", a.issuer.clone().into()),
        ("audience", a.audience.clone().into()),
        ("leeway_ms", ms(a.leeway)),
    ])
}

fn server(c: &ServerConfig) -> Value {
    let rate = |l: &LimiterConfig| Value::Array(vec![l.rate.into(), l.burst.into()]);
    let text = |p: &std::path::Path| Value::from(p.to_string_lossy().into_owned());
    let origins = c
        .allowed_origins
        .as_ref()
        .map(|o| Value::Array(o.iter().map(|s| s.as_str().into()).collect()));
    let tls = c.tls.as_ref().map(|t| {
        map(vec![
            ("cert", text(&t.cert_pem_path)),
            ("key", text(&t.key_pem_path)),
        ])
    });
    map(vec![
        ("host", c.host.as_str().into()),
        ("port", c.port.into()),
        ("auth", c.auth.as_ref().map(auth).into()),
        ("allowed_origins", origins.into()),
        ("max_connections", c.max_connections.into()),
        ("max_message_bytes", c.max_message_bytes.into()),
        ("max_frame_bytes", c.max_frame_bytes.into()),
        ("ping_interval_ms", ms(c.ping_interval)),
        ("idle_timeout_ms", ms(c.idle_timeout)),
        ("write_delay_ms", ms(c.write_delay)),
        ("message_rate", rate(&c.message_rate)),
        ("ingest_rate", rate(&c.ingest_rate)),
        ("policy", c.policy.map(|p| p.name()).into()),
        ("queue", c.queue_messages.into()),
        ("queue_bytes", c.queue_bytes.into()),
        ("static_dir", c.static_dir.as_deref().map(text).into()),
        ("tls", tls.into()),
    ])
}

/// Builds the config of `module` (`"breaker"`, `"limiter"`, `"hub"`, `"subscribe"`, `"server"`,
/// `"auth"`) from `options` read in `style`, and describes it canonically. Errors are the
/// `from_value` errors; an unknown module is `invalid_input`.
pub fn describe(module: &str, options: &Value, style: Style) -> Result<Value> {
    Ok(match module {
        "breaker" => breaker(&BreakerConfig::from_value(options, style)?),
        "limiter" => limiter(&LimiterConfig::from_value(options, style)?),
        "hub" => hub(&HubConfig::from_value(options, style)?),
        "subscribe" => subscribe(&SubscribeOptions::from_value(options, style)?),
        "server" => server(&ServerConfig::from_value(options, style)?),
        "auth" => auth(&AuthConfig::from_value(options, style)?),
        other => {
            return Err(Error::invalid(format!(
                "unknown options module {other:?} (expected breaker, limiter, hub, subscribe, server or auth)"
            )))
        }
    })
}
