//! `parseEvents`: the core's event parser (dashfeed's fields and the reference notes' `dashboard_id` /
//! `dashboardId` / `metric_name` / `timestamp` / `metadata`) on a decoded message or on its wire bytes.

use crate::error::{guard, Code};
use crate::napi::args;
use crate::values::to_js;
use dashfeed::codec::Value;
use dashfeed::event::{self, EVENT_MAX_DEPTH};
use dashfeed::Format;
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// Options of `parseEvents`.
#[napi(object)]
pub struct ParseEventsOptions {
    /// Format of a Buffer message: `"json"` (default) or `"msgpack"`; gzip is recognised by its magic
    /// bytes.
    #[napi(ts_type = "'msgpack' | 'json'")]
    pub format: Option<String>,
    /// Largest message in bytes, before and after gzip (default 1 MiB).
    pub max_bytes: Option<f64>,
}

/// `parseEvents(message, options?)`: the events of one message (an object, an array of objects, or
/// JSON / MessagePack bytes) as `{dashboard, metric, value, ts, id, tags[, metadata]}` objects. An
/// invalid or ambiguous event throws `invalid_input` (the whole message is refused).
#[napi(
    catch_unwind,
    ts_args_type = "message: unknown, options?: ParseEventsOptions",
    ts_return_type = "Array<{ dashboard: string; metric: string; value: number; ts: number; id: string | null; tags: Record<string, string>; metadata?: Record<string, unknown> }>"
)]
pub fn parse_events<'env>(
    env: &'env Env,
    message: Unknown<'env>,
    options: Option<ParseEventsOptions>,
) -> napi::Result<Unknown<'env>, Code> {
    guard(|| {
        let raw_env = env.raw();
        let (format, max_bytes) = match &options {
            Some(o) => (
                o.format.as_deref().map(str::parse).transpose()?,
                o.max_bytes,
            ),
            None => (None, None),
        };
        let format = format.unwrap_or(Format::Json);
        let max_bytes = max_bytes.map_or(1 << 20, |m| m.max(0.0) as usize);
        let parsed = args::with_bytes(&message, |b| event::parse_events(b, format, max_bytes))?;
        let events = match parsed {
            Some(events) => events?,
            None => event::events_from_value(&crate::walk::to_value(
                raw_env,
                message.raw(),
                EVENT_MAX_DEPTH,
            )?)?,
        };
        let out = Value::Array(events.iter().map(|e| e.to_value()).collect());
        to_js(env, &out)
    })
}
