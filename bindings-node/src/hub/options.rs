//! Options of `new Hub(options)` and `hub.subscribe(dashboard, options)`: `HubOptions` and
//! `SubscribeOptions` declare them for index.d.ts; the core reads them (`HubConfig::from_value`,
//! `SubscribeOptions::from_value`: names, defaults, ranges, messages, the `since` resume point).
//! The clock is a JS value, read here; a `Message` given as `since` is handed over as its
//! `{ epoch, seq }`.

use super::message::Message;
use crate::clock::ManualClock;
use crate::error::Result;
use dashfeed::codec::Value;
use dashfeed::hub::{HubConfig, SubscribeOptions as CoreSubscribeOptions};
use dashfeed::options::{FromOptions, Style};
use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::{ClassInstance, Either, Env, FromNapiValue, Null, Unknown};
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

/// Reads `hub.subscribe(dashboard, options)` through the core's `SubscribeOptions::from_value`,
/// `since` included (see [`since_value`]).
pub fn subscribe_options(options: Option<Unknown<'_>>) -> Result<CoreSubscribeOptions> {
    let o = crate::options::read(options, &["since"])?;
    let since = o.held("since");
    let mut value = o.value;
    if let (Some(since), Value::Map(entries)) = (since, &mut value) {
        entries.push(("since".into(), since_value(since)?));
    }
    Ok(CoreSubscribeOptions::from_value(&value, Style::NODE)?)
}

/// `since` as the core reads it: a `Message`, or any other object, as `{ epoch, seq }` (its other
/// keys are not looked at, however deep), an array as its first items; each part converted alone. A
/// part that is not a plain value (an object, a function, a symbol; a BigInt beyond 64 bits) goes as
/// its type's name, for the core to refuse with `invalid_input` and its message.
fn since_value(since: Unknown<'_>) -> Result<Value> {
    if let Ok(m) = ClassInstance::<Message>::from_unknown(since) {
        return Ok(Value::Map(vec![
            ("epoch".into(), m.inner.epoch().into()),
            ("seq".into(), m.inner.seq().into()),
        ]));
    }
    let part = |v: Unknown<'_>| -> Result<Value> {
        Ok(match v.get_type()? {
            ValueType::String
            | ValueType::Number
            | ValueType::BigInt
            | ValueType::Boolean
            | ValueType::Null
            | ValueType::Undefined => crate::options::value_of(&v)
                .unwrap_or_else(|_| Value::from("a BigInt beyond 64 bits")),
            other => Value::from(format!("{other:?}")),
        })
    };
    if since.get_type()? != ValueType::Object {
        return part(since);
    }
    let obj = since.coerce_to_object()?;
    if since.is_array()? {
        // A pair: more than 3 items are refused for their count whatever they hold.
        let len = obj.get_array_length()?.min(3);
        let items = (0..len).map(|i| part(obj.get_element::<Unknown>(i)?));
        return Ok(Value::Array(items.collect::<Result<_>>()?));
    }
    let mut map = Vec::new();
    for key in ["epoch", "seq"] {
        let v: Unknown = obj.get_named_property(key)?;
        if v.get_type()? != ValueType::Undefined {
            map.push((key.into(), part(v)?));
        }
    }
    Ok(Value::Map(map))
}
