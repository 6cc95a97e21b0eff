//! Node face of `dashfeed::window`: the `Aggregator` class (per-event `add`, columnar `addMany` over
//! TypedArrays read in place, `poll`, `pollColumns`, `flush`, `flushColumns`, `takeLate`, `advanceTo`,
//! `watermark`, `stats`), the
//! window helpers `tumbling` / `hopping` / `session` / `count`, and the plain result objects.
//! Options become the core's configuration map and go through `AggregatorConfig::from_value`, as in
//! every language, so validation and defaults are the core's.
//!
//! Raw Node-API only in `aggregator_add` (bench row: `node bench/window.js`, "dashfeed add (per event)");
//! the rest are plain `#[napi]` methods.

mod columns;
mod names;
mod result_columns;
mod results;

pub(crate) use results::WindowResultObject;

use crate::clock::ManualClock;
use crate::error::{guard, Code, Result};
use crate::napi::args::{self, entries, integer, is_nullish, number, with_text};
use crate::napi::glue;
use crate::napi::script;
use crate::walk;
use columns::{Texts, Times, Values};
use dashfeed::codec::Value;
use dashfeed::event::now_ms;
use dashfeed::window::{Aggregator as CoreAggregator, AggregatorConfig, Batch};
use dashfeed::Error;
use names::{KeptNames, Slot};
use napi::bindgen_prelude::{ClassInstance, Either, Env, JsValue, This, Unknown};
use napi::sys;
use napi_derive::napi;
use parking_lot::{Mutex, MutexGuard};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The aggregator's JavaScript helpers (`{ codes, categorical, forget, results }`, see `napi::script`).
const HELPERS: &str = include_str!("../js/window.js");

/// Deepest nesting read from an option value (`{window: {kind, size}}` is 2).
const OPTION_DEPTH: usize = 8;

/// Options of `new Aggregator(options)`. Durations are strings with a unit (`'250ms'`, `'10s'`,
/// `'1m'`) or whole numbers of ms.
#[napi(object, object_to_js = false)]
pub struct AggregatorOptions<'a> {
    /// The window: a duration (tumbling windows of that size) or a window spec (see `tumbling`,
    /// `hopping`, `session`, `count`).
    #[napi(ts_type = "string | number | WindowSpec")]
    pub window: Unknown<'a>,
    /// Grace for out-of-order events: watermark = highest event time − lateness (default 0).
    #[napi(ts_type = "string | number")]
    pub lateness: Option<Unknown<'a>>,
    /// Quantiles to compute, each in (0, 1), e.g. `[0.5, 0.99]` (results name them `p50`, `p99`).
    #[napi(ts_type = "number[]")]
    pub quantiles: Option<Unknown<'a>>,
    /// `'final'` (default: one result per window, on close) or `{ mode: 'updates', interval }`.
    #[napi(
        ts_type = "'final' | { mode: 'final' } | { mode: 'updates'; interval: string | number }"
    )]
    pub emit: Option<Unknown<'a>>,
    /// Close the last windows of a stream quiet for this long on the monotonic clock.
    #[napi(ts_type = "string | number")]
    pub idle_close: Option<Unknown<'a>>,
    /// Results that may wait for `poll()` before input calls fail with `too_large` (default 100000).
    #[napi(ts_type = "number")]
    pub max_pending_results: Option<Unknown<'a>>,
    /// Late events that may wait for `takeLate()` before input calls fail with `too_large`.
    #[napi(ts_type = "number")]
    pub max_pending_late: Option<Unknown<'a>>,
    /// A test clock for `idleClose` (default: the system monotonic clock).
    pub clock: Option<ClassInstance<'a, ManualClock>>,
}

/// Options `new Aggregator` accepts.
const OPTION_KEYS: [&str; 8] = [
    "window",
    "lateness",
    "quantiles",
    "emit",
    "idleClose",
    "maxPendingResults",
    "maxPendingLate",
    "clock",
];

/// A window spec, as `tumbling()`, `hopping()`, `session()` and `count()` make it.
#[napi(object)]
pub struct WindowSpec {
    /// The window kind.
    #[napi(ts_type = "'tumbling' | 'hopping' | 'session' | 'count'")]
    pub kind: String,
    /// Window length (tumbling, hopping).
    pub size: Option<Either<String, f64>>,
    /// Start-to-start distance of hopping windows.
    pub slide: Option<Either<String, f64>>,
    /// Quiet time that ends a session.
    pub gap: Option<Either<String, f64>>,
    /// Events per count window.
    pub n: Option<f64>,
}

/// An event that arrived after its window had closed (`takeLate()`).
#[napi(object, use_nullable = true)]
pub struct LateEvent {
    /// Dashboard id.
    pub dashboard: String,
    /// Metric name.
    pub metric: String,
    /// The value.
    pub value: f64,
    /// Event time (ms).
    pub ts: i64,
    /// The idempotency id given to `add`, or `null`.
    pub id: Option<String>,
    /// Tags, sorted by name.
    pub tags: BTreeMap<String, String>,
}

/// Counters and sizes of an aggregator.
#[napi(object, use_nullable = true)]
pub struct AggregatorStats {
    /// Events accepted (late ones included).
    pub events: i64,
    /// Late events.
    pub late: i64,
    /// Windows open now.
    pub open_windows: i64,
    /// Keys held now.
    pub keys: i64,
    /// Results waiting for `poll()`.
    pub pending_results: i64,
    /// Late events waiting for `takeLate()`.
    pub pending_late: i64,
    /// The watermark (ms), `null` before any event time.
    pub watermark: Option<i64>,
}

/// A duration argument of the window helpers: a string or a number, else `invalid_input`.
fn duration(v: Unknown<'_>, what: &str) -> Result<Either<String, f64>> {
    let env = v.value().env;
    match raw_type(&v)? {
        sys::ValueType::napi_string => Ok(Either::A(args::string(env, v.raw(), what)?)),
        _ => Ok(Either::B(number(env, v.raw(), what)?)),
    }
}

fn raw_type(v: &Unknown<'_>) -> Result<i32> {
    crate::napi::raw::type_of(v.value().env, v.raw())
}

fn spec(kind: &str) -> WindowSpec {
    WindowSpec {
        kind: kind.into(),
        size: None,
        slide: None,
        gap: None,
        n: None,
    }
}

/// Tumbling windows of `size`, aligned to the Unix epoch: window k covers [k·size, (k+1)·size).
#[napi(catch_unwind, ts_args_type = "size: string | number")]
pub fn tumbling(size: Unknown<'_>) -> napi::Result<WindowSpec, Code> {
    guard(|| {
        Ok(WindowSpec {
            size: Some(duration(size, "size")?),
            ..spec("tumbling")
        })
    })
}

/// Windows of `size` starting every `slide` (they overlap when slide < size).
#[napi(
    catch_unwind,
    ts_args_type = "size: string | number, slide: string | number"
)]
pub fn hopping(size: Unknown<'_>, slide: Unknown<'_>) -> napi::Result<WindowSpec, Code> {
    guard(|| {
        Ok(WindowSpec {
            size: Some(duration(size, "size")?),
            slide: Some(duration(slide, "slide")?),
            ..spec("hopping")
        })
    })
}

/// Per-key sessions that end after `gap` without events; a bridging event merges two sessions.
#[napi(catch_unwind, ts_args_type = "gap: string | number")]
pub fn session(gap: Unknown<'_>) -> napi::Result<WindowSpec, Code> {
    guard(|| {
        Ok(WindowSpec {
            gap: Some(duration(gap, "gap")?),
            ..spec("session")
        })
    })
}

/// Every `n` events of a key form a window.
#[napi(catch_unwind, ts_args_type = "n: number")]
pub fn count(n: Unknown<'_>) -> napi::Result<WindowSpec, Code> {
    guard(|| {
        let env = n.value().env;
        Ok(WindowSpec {
            n: Some(number(env, n.raw(), "n")?),
            ..spec("count")
        })
    })
}

/// The `window` option: a duration means tumbling windows of that size.
fn window_value(env: sys::napi_env, v: sys::napi_value) -> Result<Value> {
    match crate::napi::raw::type_of(env, v)? {
        sys::ValueType::napi_string | sys::ValueType::napi_number => Ok(Value::Map(vec![
            ("kind".into(), "tumbling".into()),
            ("size".into(), walk::to_value(env, v, 1)?),
        ])),
        _ => walk::to_value(env, v, OPTION_DEPTH),
    }
}

/// Windowed aggregation: tumbling / hopping / session / count windows with watermark, lateness,
/// quantiles, late output and idle close.
#[napi(js_name = "Aggregator")]
pub struct Aggregator {
    /// Shared with sources attached to it (`source.attach(aggregator)`).
    pub(crate) inner: Arc<Mutex<CoreAggregator>>,
    /// The names `addMany` keeps between calls (see `window/names.rs`).
    names: Mutex<KeptNames>,
}

thread_local! {
    /// The aggregator `add` was last called on, in this thread's environment.
    static ADD_RECEIVER: std::cell::RefCell<glue::ReceiverCache> =
        const { std::cell::RefCell::new(glue::ReceiverCache::new()) };
}

/// `Aggregator.prototype.add` as it runs: a plain Node-API callback, defined on the prototype when
/// the module loads (see `crate::fast`; bench row: `node bench/window.js`, "dashfeed add (per
/// event)").
///
/// # Safety
/// A Node-API callback: Node calls it with the environment and the info of the running call.
pub unsafe extern "C" fn aggregator_add(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    glue::run(env, || {
        // SAFETY: this call's info; the receiver is used only during the call.
        let (this, args, argc) = unsafe { glue::args::<6>(env, info)? };
        // SAFETY: the reference is used only during this call (`this` is kept alive by it).
        let agg = ADD_RECEIVER.with(|c| {
            // SAFETY: as above; the cache serves only `Aggregator`.
            unsafe { glue::receiver_cached::<Aggregator>(env, this, c) }
        })?;
        agg.add_args(env, args, argc)?;
        // A null result is `undefined` to the caller, with no call to make it.
        Ok(std::ptr::null_mut())
    })
}

impl Aggregator {
    fn build(config: &Value, clock: dashfeed::clock::SharedClock) -> Result<Self> {
        let config = AggregatorConfig::from_value(config)?;
        Ok(Aggregator {
            inner: Arc::new(Mutex::new(CoreAggregator::with_clock(config, clock)?)),
            names: Mutex::new(KeptNames::default()),
        })
    }

    /// Drops the names `addMany` keeps (here and in the JS helper), as `flush()` does.
    fn forget_names(&self, env: &Env, this: &This<'_>) -> Result<()> {
        script::call(env.raw(), HELPERS, c"forget", &[this.object.raw()])?;
        self.names.lock().clear();
        Ok(())
    }

    /// The core aggregator, for the length of one call.
    fn core(&self) -> Result<MutexGuard<'_, CoreAggregator>> {
        // Held only while no JavaScript runs (every argument is read first); a source attached
        // to this aggregator takes the same lock from the runtime's threads.
        Ok(self.inner.lock())
    }

    /// `add(dashboard, metric, value, ts?, tags?, id?)` on raw arguments (`undefined` when
    /// missing). Every argument is read before the core is borrowed.
    /// `add(dashboard, metric, value, ts?, tags?, id?)` on its raw arguments (`argc` passed): each
    /// argument is read with as few Node-API calls as its common type allows, and the omitted
    /// `tags` / `id` with none.
    fn add_args(&self, env: sys::napi_env, args: [sys::napi_value; 6], argc: usize) -> Result<()> {
        let [dashboard, metric, value, ts, tags, id] = args;
        let value = number(env, value, "value")?;
        let ts = args::opt_integer(env, ts, "ts", true)?.unwrap_or_else(now_ms);
        let tags = if argc > 4 {
            args::tags(env, Some(tags))?
        } else {
            Vec::new()
        };
        let id = if argc > 5 && !is_nullish(env, id)? {
            Some(args::string(env, id, "id")?)
        } else {
            None
        };
        let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        with_text(env, dashboard, "dashboard", |d| {
            with_text(env, metric, "metric", |m| {
                Ok(self
                    .core()?
                    .add_parts(d, m, value, ts, &tags, id.as_deref())?)
            })
        })??
    }

    fn results<'env>(
        env: &'env Env,
        results: &[dashfeed::window::WindowResult],
    ) -> Result<Unknown<'env>> {
        let arr = results::results_to_js(env.raw(), results)?;
        Ok(crate::napi::convert::unknown(env.raw(), arr))
    }

    fn columns<'env>(
        env: &'env Env,
        cols: &dashfeed::window::ResultColumns,
    ) -> Result<Unknown<'env>> {
        let obj = result_columns::columns_to_js(env.raw(), cols)?;
        Ok(crate::napi::convert::unknown(env.raw(), obj))
    }
}

#[napi]
impl Aggregator {
    /// `new Aggregator({ window: '1s', quantiles: [0.5, 0.99], lateness: '500ms' })`. Invalid
    /// options throw `invalid_input`.
    #[napi(constructor, catch_unwind, ts_args_type = "options: AggregatorOptions")]
    pub fn new(options: Unknown<'_>) -> napi::Result<Self, Code> {
        guard(|| {
            let env = options.value().env;
            entries(env, options.raw(), "Aggregator options", &OPTION_KEYS)?;
            if is_nullish(env, options.raw())? {
                return Err(Error::invalid("Aggregator needs options with a window").into());
            }
            let typed: AggregatorOptions = crate::napi::convert::from_js(env, options.raw())?;
            let clock = crate::clock::shared(typed.clock.as_deref());
            let fields = [
                ("window", Some(typed.window)),
                ("lateness", typed.lateness),
                ("quantiles", typed.quantiles),
                ("emit", typed.emit),
                ("idle_close", typed.idle_close),
                ("max_pending_results", typed.max_pending_results),
                ("max_pending_late", typed.max_pending_late),
            ];
            let mut map = Vec::new();
            for (key, v) in fields {
                let Some(v) = v else { continue };
                let value = match key {
                    "window" => window_value(env, v.raw())?,
                    _ => walk::to_value(env, v.raw(), OPTION_DEPTH)?,
                };
                map.push((Value::from(key), value));
            }
            Aggregator::build(&Value::Map(map), clock)
        })
    }

    /// Builds an aggregator from one configuration map, as in a config file or the test vectors:
    /// `{ window: { kind: 'tumbling', size: '1s' }, lateness: '500ms', idle_close: '5s', ... }`
    /// (snake_case keys, exactly what the core reads).
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "config: Record<string, unknown>, clock?: ManualClock | null"
    )]
    pub fn from_config(
        config: Unknown<'_>,
        clock: Option<Unknown<'_>>,
    ) -> napi::Result<Self, Code> {
        guard(|| {
            let env = config.value().env;
            let value = walk::to_value(env, config.raw(), OPTION_DEPTH)?;
            let clock = crate::clock::read(clock)?;
            Aggregator::build(&value, clock)
        })
    }

    /// Adds one event; `ts` is its time in ms since the Unix epoch (default: now). `tags` are part
    /// of the key; `id` is kept on late output. The method that runs is a plain Node-API callback
    /// with this body, defined over this one when the module loads (without napi-rs's per-call
    /// borrow table; bench row: `node bench/window.js`, "dashfeed add (per event)").
    #[napi(
        catch_unwind,
        ts_args_type = "dashboard: string, metric: string, value: number, ts?: number | bigint | null, tags?: Record<string, string> | null, id?: string | null"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &self,
        dashboard: Unknown<'_>,
        metric: Unknown<'_>,
        value: Unknown<'_>,
        ts: Option<Unknown<'_>>,
        tags: Option<Unknown<'_>>,
        id: Option<Unknown<'_>>,
    ) -> napi::Result<(), Code> {
        guard(|| {
            let env = dashboard.value().env;
            let undefined = crate::napi::js::undefined(env)?;
            let opt = |v: Option<Unknown<'_>>| v.map_or(undefined, |v| v.raw());
            let args = [
                dashboard.raw(),
                metric.raw(),
                value.raw(),
                opt(ts),
                opt(tags),
                opt(id),
            ];
            self.add_args(env, args, args.len())
        })
    }

    /// Adds a batch given as columns and returns the row count: `dashboards` and `metrics` are one
    /// string, an array of strings, or categorical `{ names, codes }` (an array of strings and a
    /// `Uint32Array` / `Int32Array` of one index into it per row, checked by the core); `values` a `Float64Array` (read in place) or an array of
    /// numbers; `ts` omitted (now), one time, a `BigInt64Array` (read in place), a `Float64Array` or
    /// an array of whole ms; `tags` apply to every row. The whole batch is validated first: on error
    /// nothing is applied. The names of the text columns are kept between calls (see
    /// `window/names.rs`; `flush()` drops them): a `string[]` column's dictionary grows, the last
    /// categorical names are compared with `===`, and only names not seen before are copied.
    #[napi(
        catch_unwind,
        ts_args_type = "dashboards: string | string[] | CategoricalColumn, metrics: string | string[] | CategoricalColumn, values: Float64Array | number[], ts?: number | bigint | BigInt64Array | Float64Array | number[] | null, tags?: Record<string, string> | null"
    )]
    pub fn add_many(
        &self,
        this: This<'_>,
        dashboards: Unknown<'_>,
        metrics: Unknown<'_>,
        values: Unknown<'_>,
        ts: Option<Unknown<'_>>,
        tags: Option<Unknown<'_>>,
    ) -> napi::Result<u32, Code> {
        guard(|| {
            let env = dashboards.value().env;
            // Everything that may run JavaScript first; the TypedArrays are borrowed last.
            let this = this.object.raw();
            let d_kept = (this, Slot::Dashboards, &self.names);
            let d_texts = Texts::read(env, dashboards.raw(), "dashboards", d_kept)?;
            let m_kept = (this, Slot::Metrics, &self.names);
            let m_texts = Texts::read(env, metrics.raw(), "metrics", m_kept)?;
            let tags = args::tags(env, tags.map(|t| t.raw()))?;
            let values = Values::read(env, values.raw())?;
            let times = Times::read(env, ts.map(|t| t.raw()))?;
            let tag_refs: Vec<(&str, &str)> =
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let (d_names, m_names) = (d_texts.names(), m_texts.names());
            // SAFETY: from here to the end of the core call no JavaScript runs.
            let (d_codes, m_codes, vals, ts_rows) = unsafe {
                (
                    d_texts.codes(env)?,
                    m_texts.codes(env)?,
                    values.slice(env)?,
                    times.rows(env)?,
                )
            };
            let n = self.core()?.add_batch(Batch {
                dashboards: d_texts.column(&d_names, &d_codes),
                metrics: m_texts.column(&m_names, &m_codes),
                values: &vals,
                values_valid: None,
                ts: times.column(&ts_rows),
                ts_valid: None,
                tags: &tag_refs,
            })?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
    }

    /// Moves event time to `ts` (ms), closing the windows the watermark passes.
    #[napi(catch_unwind, ts_args_type = "ts: number | bigint")]
    pub fn advance_to(&self, ts: Unknown<'_>) -> napi::Result<(), Code> {
        guard(|| {
            let ts = integer(ts.value().env, ts.raw(), "ts")?;
            Ok(self.core()?.advance_to(ts)?)
        })
    }

    /// The results ready so far (closed windows, and partial results with emit `updates`), oldest
    /// first, as plain objects.
    #[napi(catch_unwind, ts_return_type = "Array<WindowResult>")]
    pub fn poll<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            let results = self.core()?.poll();
            Aggregator::results(env, &results)
        })
    }

    /// Like `poll()`, as columns: one TypedArray per number and the dashboards, metrics and tags
    /// dictionary-encoded, instead of an object per result. From this call on, results are written
    /// as columns while windows close, until `poll()` or `flush()` asks for objects again (either
    /// way each result is returned once, in order).
    #[napi(catch_unwind, ts_return_type = "WindowColumns")]
    pub fn poll_columns<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            let cols = self.core()?.poll_columns();
            Aggregator::columns(env, &cols)
        })
    }

    /// Like `flush()`, as columns.
    #[napi(catch_unwind, ts_return_type = "WindowColumns")]
    pub fn flush_columns<'env>(
        &self,
        env: &'env Env,
        this: This<'_>,
    ) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            self.forget_names(env, &this)?;
            let cols = self.core()?.flush_columns();
            Aggregator::columns(env, &cols)
        })
    }

    /// Closes every open window and returns all pending results (for shutdown).
    #[napi(catch_unwind, ts_return_type = "Array<WindowResult>")]
    pub fn flush<'env>(&self, env: &'env Env, this: This<'_>) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            self.forget_names(env, &this)?;
            let results = self.core()?.flush();
            Aggregator::results(env, &results)
        })
    }

    /// The events that arrived after their window closed, oldest first (never mixed into results).
    #[napi(catch_unwind)]
    pub fn take_late(&self) -> napi::Result<Vec<LateEvent>, Code> {
        guard(|| {
            Ok(self
                .core()?
                .take_late()
                .into_iter()
                .map(|e| LateEvent {
                    dashboard: e.dashboard,
                    metric: e.metric,
                    value: e.value,
                    ts: e.ts_ms,
                    id: e.id,
                    tags: e.tags.into_iter().collect(),
                })
                .collect())
        })
    }

    /// The watermark (ms), or `null` before any event time.
    #[napi(getter, catch_unwind)]
    pub fn watermark(&self) -> napi::Result<Option<i64>, Code> {
        guard(|| Ok(self.core()?.watermark()))
    }

    /// Counters: events, late, openWindows, keys, pendingResults, pendingLate, watermark.
    #[napi(getter, catch_unwind)]
    pub fn stats(&self) -> napi::Result<AggregatorStats, Code> {
        guard(|| {
            let s = self.core()?.stats();
            let n = |x: usize| i64::try_from(x).unwrap_or(i64::MAX);
            Ok(AggregatorStats {
                events: i64::try_from(s.events).unwrap_or(i64::MAX),
                late: i64::try_from(s.late).unwrap_or(i64::MAX),
                open_windows: n(s.open_windows),
                keys: n(s.keys),
                pending_results: n(s.pending_results),
                pending_late: n(s.pending_late),
                watermark: s.watermark,
            })
        })
    }
}
