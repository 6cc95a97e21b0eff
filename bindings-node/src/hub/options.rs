//! Options of `new Hub(options)` and `hub.subscribe(dashboard, options)`, read into the core's
//! `HubConfig` / `SubscribeOptions` (ranges are checked by the core), and the `since` resume point.

use crate::clock::ManualClock;
use crate::error::Result;
use crate::napi::args::{entries, integer, is_nullish, string};
use crate::napi::raw;
use crate::walk::MAX_SAFE;
use dashfeed::codec::Format;
use dashfeed::hub::{HubConfig, Policy, Since, SubscribeOptions as CoreSubscribeOptions};
use dashfeed::Error;
use napi::bindgen_prelude::{ClassInstance, Either, FromNapiValue, Null, Unknown};
use napi::{sys, JsValue};
use napi_derive::napi;
use std::time::Duration;

/// Options of `new Hub(options)`; every one is optional. Durations are in milliseconds (the
/// Python module's are seconds).
#[napi(object, object_to_js = false)]
pub struct HubOptions<'a> {
    /// Publications kept per dashboard for resumes with `since` (default 1000; 0 keeps none).
    pub history: Option<f64>,
    /// Publications older than this many ms leave history (default `null`: count only).
    pub history_age: Option<Either<f64, Null>>,
    /// Default slow-consumer policy of subscriptions (default `'conflate'`).
    #[napi(ts_type = "'conflate' | 'drop_oldest' | 'disconnect'")]
    pub policy: Option<String>,
    /// Default queue cap of a subscription, in messages (default 1024).
    pub queue: Option<f64>,
    /// Default queue cap of a subscription, in encoded bytes (default 1 MiB).
    pub queue_bytes: Option<f64>,
    /// Wire messages longer than this many bytes are gzipped (default 1024; `null`: never).
    pub compress_over: Option<Either<f64, Null>>,
    /// Publication ids remembered per dashboard for dedupe (default 10000).
    pub dedupe: Option<f64>,
    /// How long (ms) a publication id is remembered (default 300000; `null`: by count only).
    pub dedupe_horizon: Option<Either<f64, Null>>,
    /// A test clock for history ages and dedupe horizons (default: the system monotonic clock).
    pub clock: Option<ClassInstance<'a, ManualClock>>,
}

/// Options of `hub.subscribe(dashboard, options)`; every one is optional.
#[napi(object, object_to_js = false)]
pub struct SubscribeOptions<'a> {
    /// Resume point: the `epoch` and `seq` of the last message applied (`{ epoch, seq }`,
    /// `[epoch, seq]` or that `Message`). Without it the first message is the snapshot.
    #[napi(
        ts_type = "{ epoch: string; seq: number | bigint } | [string, number | bigint] | Message | null"
    )]
    pub since: Option<Unknown<'a>>,
    /// Slow-consumer policy (default: the hub's).
    #[napi(ts_type = "'conflate' | 'drop_oldest' | 'disconnect'")]
    pub policy: Option<String>,
    /// Queue cap in messages (default: the hub's).
    pub queue: Option<f64>,
    /// Queue cap in encoded bytes (default: the hub's).
    pub queue_bytes: Option<f64>,
    /// Wire format counted against `queueBytes` and encoded eagerly (default `'msgpack'`).
    #[napi(ts_type = "'msgpack' | 'json'")]
    pub format: Option<String>,
    /// Gzip messages over the hub's `compressOver` in this subscriber's bytes (default `true`);
    /// `false` never gzips.
    pub compress: Option<bool>,
}

const HUB_KEYS: [&str; 9] = [
    "history",
    "historyAge",
    "policy",
    "queue",
    "queueBytes",
    "compressOver",
    "dedupe",
    "dedupeHorizon",
    "clock",
];

const SUBSCRIBE_KEYS: [&str; 6] = [
    "since",
    "policy",
    "queue",
    "queueBytes",
    "format",
    "compress",
];

/// A count or size: a non-negative whole number.
fn count(name: &str, n: f64) -> Result<usize> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE {
        return Ok(n as usize);
    }
    Err(Error::invalid(format!("{name} must be a non-negative integer, not {n}")).into())
}

/// A duration in ms: positive and finite.
fn millis(name: &str, ms: f64) -> Result<Duration> {
    if ms.is_finite() && ms >= 0.0 {
        return Ok(Duration::from_secs_f64(ms / 1000.0));
    }
    Err(Error::invalid(format!(
        "{name} must be a finite, non-negative number of ms, not {ms}"
    ))
    .into())
}

/// Reads `new Hub(options)`: the core config and the clock.
pub fn hub_config(
    env: sys::napi_env,
    options: Option<Unknown<'_>>,
) -> Result<(HubConfig, dashfeed::clock::SharedClock)> {
    let Some(options) = options else {
        return Ok((HubConfig::default(), crate::clock::shared(None)));
    };
    entries(env, options.raw(), "Hub options", &HUB_KEYS)?;
    if is_nullish(env, options.raw())? {
        return Ok((HubConfig::default(), crate::clock::shared(None)));
    }
    // SAFETY: a value of the running callback.
    let o = unsafe { HubOptions::from_napi_value(env, options.raw()) }?;
    let d = HubConfig::default();
    let nullable = |name: &str, v: Option<Either<f64, Null>>, default: Option<Duration>| match v {
        None => Ok(default),
        Some(Either::A(ms)) => {
            crate::units::check_ms(env, "Hub", name, ms);
            millis(name, ms).map(Some)
        }
        Some(Either::B(Null)) => Ok(None),
    };
    let config = HubConfig {
        history: o.history.map_or(Ok(d.history), |n| count("history", n))?,
        history_age: nullable("historyAge", o.history_age, d.history_age)?,
        policy: o.policy.map_or(Ok(d.policy), |p| p.parse::<Policy>())?,
        queue_messages: o
            .queue
            .map_or(Ok(d.queue_messages), |n| count("queue", n))?,
        queue_bytes: o
            .queue_bytes
            .map_or(Ok(d.queue_bytes), |n| count("queueBytes", n))?,
        compress_over: match o.compress_over {
            None => d.compress_over,
            Some(Either::A(n)) => Some(count("compressOver", n)?),
            Some(Either::B(Null)) => None,
        },
        dedupe_capacity: o
            .dedupe
            .map_or(Ok(d.dedupe_capacity), |n| count("dedupe", n))?,
        dedupe_horizon: nullable("dedupeHorizon", o.dedupe_horizon, d.dedupe_horizon)?,
        ..d
    };
    Ok((config, crate::clock::shared(o.clock.as_deref())))
}

/// Reads `hub.subscribe(dashboard, options)`.
pub fn subscribe_options(
    env: sys::napi_env,
    options: Option<Unknown<'_>>,
) -> Result<CoreSubscribeOptions> {
    let Some(options) = options else {
        return Ok(CoreSubscribeOptions::default());
    };
    entries(env, options.raw(), "subscribe options", &SUBSCRIBE_KEYS)?;
    if is_nullish(env, options.raw())? {
        return Ok(CoreSubscribeOptions::default());
    }
    // SAFETY: a value of the running callback.
    let o = unsafe { SubscribeOptions::from_napi_value(env, options.raw()) }?;
    Ok(CoreSubscribeOptions {
        since: match o.since {
            Some(s) if !is_nullish(env, s.raw())? => Some(since(env, s.raw())?),
            _ => None,
        },
        policy: o.policy.map(|p| p.parse::<Policy>()).transpose()?,
        queue_messages: o.queue.map(|n| count("queue", n)).transpose()?,
        queue_bytes: o.queue_bytes.map(|n| count("queueBytes", n)).transpose()?,
        format: o.format.as_deref().unwrap_or("msgpack").parse::<Format>()?,
        compress: o.compress,
    })
}

/// `since`: `{ epoch, seq }` (a `Message` has both), or `[epoch, seq]`.
fn since(env: sys::napi_env, v: sys::napi_value) -> Result<Since> {
    let bad = || Error::invalid("since must be { epoch, seq }, [epoch, seq] or a Message");
    if raw::type_of(env, v)? != sys::ValueType::napi_object {
        return Err(bad().into());
    }
    let mut is_array = false;
    crate::napi::raw::napi_call!(napi_is_array(env, v, &mut is_array))?;
    let (epoch, seq) = if is_array {
        if raw::array_len(env, v)? != 2 {
            return Err(bad().into());
        }
        (raw::element(env, v, 0)?, raw::element(env, v, 1)?)
    } else {
        (raw::named(env, v, c"epoch")?, raw::named(env, v, c"seq")?)
    };
    let epoch = string(env, epoch, "since epoch")?;
    let seq = integer(env, seq, "since seq")?;
    let seq = u64::try_from(seq).map_err(|_| Error::invalid("since seq must not be negative"))?;
    Ok(Since::new(epoch, seq))
}
