//! Options of `new Hub(options)` and `hub.subscribe(dashboard, options)`: `HubOptions` and
//! `SubscribeOptions` declare them for index.d.ts; the core reads them (`HubConfig::from_value`,
//! `SubscribeOptions::from_value`: names, defaults, ranges, messages). The clock and the `since`
//! resume point are JS values, read here.

use crate::clock::ManualClock;
use crate::error::Result;
use crate::napi::args;
use dashfeed::hub::{HubConfig, Since, SubscribeOptions as CoreSubscribeOptions};
use dashfeed::options::{FromOptions, Style};
use dashfeed::Error;
use napi::bindgen_prelude::{
    ClassInstance, Either, Env, FromNapiValue, JsObjectValue, Null, Object, Unknown,
};
use napi::{JsValue, ValueType};
use napi_derive::napi;

/// Options of `new Hub(options)`; every one is optional. Durations are in milliseconds (the
/// Python module's are seconds).
#[napi(object, object_to_js = false)]
#[expect(
    dead_code,
    reason = "declares the options type of index.d.ts; the core reads the values"
)]
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
#[expect(
    dead_code,
    reason = "declares the options type of index.d.ts; the core reads the values"
)]
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

/// Reads `new Hub(options)` through the core's `HubConfig::from_value`; the clock stays here.
pub fn hub_config(
    env: &Env,
    options: Option<Unknown<'_>>,
) -> Result<(HubConfig, dashfeed::clock::SharedClock)> {
    let o = crate::options::read(options, &["clock"])?;
    let mut warn = crate::units::warner(env, "Hub");
    let config = HubConfig::from_value_with(&o.value, Style::NODE, &mut warn)?;
    Ok((config, crate::clock::read(o.held("clock"))?))
}

/// Reads `hub.subscribe(dashboard, options)` through the core's `SubscribeOptions::from_value`;
/// the resume point `since` stays here.
pub fn subscribe_options(options: Option<Unknown<'_>>) -> Result<CoreSubscribeOptions> {
    let o = crate::options::read(options, &["since"])?;
    let since = match o.held("since") {
        Some(s) if !args::nullish(&s)? => Some(since(s)?),
        _ => None,
    };
    Ok(CoreSubscribeOptions {
        since,
        ..CoreSubscribeOptions::from_value(&o.value, Style::NODE)?
    })
}

/// `since`: `{ epoch, seq }` (a `Message` has both), or `[epoch, seq]`.
fn since(v: Unknown<'_>) -> Result<Since> {
    let bad = || Error::invalid("since must be { epoch, seq }, [epoch, seq] or a Message");
    if v.get_type()? != ValueType::Object {
        return Err(bad().into());
    }
    let obj = Object::from_unknown(v)?;
    let (epoch, seq): (Unknown, Unknown) = if v.is_array()? {
        if obj.get_array_length()? != 2 {
            return Err(bad().into());
        }
        (obj.get_element(0)?, obj.get_element(1)?)
    } else {
        (
            obj.get_named_property("epoch")?,
            obj.get_named_property("seq")?,
        )
    };
    let epoch = args::string(epoch.value().env, epoch.raw(), "since epoch")?;
    let seq = args::integer(seq.value().env, seq.raw(), "since seq")?;
    let seq = u64::try_from(seq).map_err(|_| Error::invalid("since seq must not be negative"))?;
    Ok(Since::new(epoch, seq))
}
