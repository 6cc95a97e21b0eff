//! Node face of `dashfeed::connect`: broker sources and sinks, each built from an options object
//! (the keys of a `[[source]]` / `[[sink]]` entry of `dashfeed serve --config`, camelCase not
//! translated: the core's snake_case keys, as in the config file). `Source(kind, options)` /
//! `Sink(kind, options)` take any kind; `RedisCache`, `RedisStreamSource`, ... are the same with
//! the kind fixed. Durations are milliseconds (the Node convention); every wait is a Promise
//! rejected with a coded error.

use crate::error::Result;
use crate::hub::Hub;
use crate::job::{self, Job};
use crate::napi::convert;
use crate::units::timeout;
use crate::window::Aggregator;
use dashfeed::codec::Value;
use dashfeed::connect::{
    Ingest, LinkStats as CoreStats, SinkHandle, SinkSpec, SourceHandle, SourceSpec,
};
use dashfeed::hub::{Hub as CoreHub, TapId};
use dashfeed::pipeline::AggregatorIngest;
use dashfeed::server::HubIngest;
use dashfeed::Error;
use napi::bindgen_prelude::{AsyncTask, ClassInstance, JsValue, Unknown};
use napi_derive::napi;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// A link's figures: `source.stats()`, `sink.stats()`, `pipeline.links()`.
#[napi(object)]
pub struct LinkStats {
    /// `kind:target`, as in /metrics and /healthz.
    pub name: String,
    /// Connected and not failing.
    pub up: bool,
    /// The breaker: `closed`, `open` or `half_open`.
    pub breaker: String,
    /// Broker messages read (sources) or records written (sinks).
    pub messages: i64,
    /// Events applied (sources).
    pub events: i64,
    /// Messages refused, by error code (`decode_error`, `invalid_input`, ...).
    pub rejected: HashMap<String, i64>,
    /// Refused messages copied to the dead-letter stream / topic.
    pub dead_lettered: i64,
    /// Failed broker calls retried.
    pub retries: i64,
    /// Records waiting in a sink's queue.
    pub queued: i64,
    /// Their bytes.
    pub queued_bytes: i64,
    /// Publications refused because the queue was full (`slow_consumer`).
    pub full: i64,
    /// Consumer lag where the broker reports it.
    pub lag: Option<i64>,
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<CoreStats> for LinkStats {
    fn from(s: CoreStats) -> Self {
        LinkStats {
            name: s.name,
            up: s.up,
            breaker: s.breaker.name().into(),
            messages: count(s.messages),
            events: count(s.events),
            rejected: s
                .rejected
                .into_iter()
                .map(|(c, n)| (c.to_string(), count(n)))
                .collect(),
            dead_lettered: count(s.dead_lettered),
            retries: count(s.retries),
            queued: count(s.queued),
            queued_bytes: count(s.queued_bytes),
            full: count(s.full),
            lag: (s.lag >= 0).then_some(s.lag),
        }
    }
}

/// The options object as a core value (`undefined` / `null`: none).
fn options(options: Option<Unknown<'_>>) -> Result<Value> {
    match options {
        Some(o) => Ok(crate::walk::to_value(o.value().env, o.raw(), 16)?),
        None => Ok(Value::Nil),
    }
}

/// The `Hub` or `Aggregator` a source feeds.
fn target(v: &Unknown<'_>) -> Result<Arc<dyn Ingest>> {
    let (env, raw) = (v.value().env, v.raw());
    if let Ok(h) = convert::from_js::<ClassInstance<Hub>>(env, raw) {
        return Ok(Arc::new(HubIngest::new(h.core().clone())));
    }
    if let Ok(a) = convert::from_js::<ClassInstance<Aggregator>>(env, raw) {
        return Ok(Arc::new(AggregatorIngest::for_aggregator(a.inner.clone())?));
    }
    Err(Error::invalid("attach() takes a Hub or an Aggregator").into())
}

fn hub_of(v: &Unknown<'_>) -> Result<CoreHub> {
    convert::from_js::<ClassInstance<Hub>>(v.value().env, v.raw())
        .map(|h| h.core().clone())
        .map_err(|_| Error::invalid("expected a Hub").into())
}

/// A Promise of a core future, run on the shared runtime.
fn promise<T: Send + 'static>(
    fut: impl std::future::Future<Output = dashfeed::Result<T>> + Send + 'static,
    to_js: job::ToJs<T>,
) -> AsyncTask<Job<T>> {
    Job::spawn(move || dashfeed::runtime::handle()?.block_on(fut), to_js)
}

/// What every source class holds: its spec until attached, then the running source.
pub struct SourceState {
    spec: SourceSpec,
    running: Mutex<Option<SourceHandle>>,
}

impl SourceState {
    fn new(kind: &str, opts: Option<Unknown<'_>>) -> Result<Self> {
        Ok(SourceState {
            spec: SourceSpec::from_options(kind, &options(opts)?)?,
            running: Mutex::new(None),
        })
    }

    fn attach(&self, target: &Unknown<'_>) -> Result<()> {
        let ingest = self::target(target)?;
        let mut running = self.running.lock();
        if running.is_some() {
            return Err(Error::invalid("this source is already attached").into());
        }
        let rt = dashfeed::runtime::handle()?;
        *running = Some(self.spec.clone().start(ingest, &rt)?);
        Ok(())
    }

    fn stop(&self, ms: Option<f64>) -> AsyncTask<Job<()>> {
        let t = timeout(ms);
        let handle = self.running.lock().take();
        promise(
            async move {
                let t = t.map_err(|_| Error::invalid("timeout must be a non-negative number"))?;
                match handle {
                    Some(h) => h.stop(t).await,
                    None => Ok(()),
                }
            },
            job::undefined,
        )
    }

    fn stats(&self) -> Result<LinkStats> {
        let guard = self.running.lock();
        let h = guard.as_ref().ok_or(Error::Closed)?;
        Ok(h.link().stats().into())
    }
}

/// What every sink class holds: the running writer and the hubs it taps.
pub struct SinkState {
    inner: SinkHandle,
    taps: Mutex<Vec<(CoreHub, TapId)>>,
}

impl SinkState {
    fn new(kind: &str, opts: Option<Unknown<'_>>) -> Result<Self> {
        let spec = SinkSpec::from_options(kind, &options(opts)?)?;
        let rt = dashfeed::runtime::handle()?;
        Ok(SinkState {
            inner: spec.start(&rt)?,
            taps: Mutex::new(Vec::new()),
        })
    }

    fn attach(&self, hub: &Unknown<'_>) -> Result<()> {
        let hub = hub_of(hub)?;
        let id = self.inner.attach(&hub)?;
        self.taps.lock().push((hub, id));
        Ok(())
    }

    fn flush(&self, ms: Option<f64>) -> AsyncTask<Job<()>> {
        let (h, t) = (self.inner.clone(), timeout(ms));
        promise(
            async move {
                let t = t.map_err(|_| Error::invalid("timeout must be a non-negative number"))?;
                h.flush(t).await
            },
            job::undefined,
        )
    }

    fn close(&self, ms: Option<f64>) -> AsyncTask<Job<()>> {
        for (hub, id) in self.taps.lock().drain(..) {
            hub.remove_tap(id);
        }
        let (h, t) = (self.inner.clone(), timeout(ms));
        promise(
            async move {
                let t = t.map_err(|_| Error::invalid("timeout must be a non-negative number"))?;
                h.close(t).await
            },
            job::undefined,
        )
    }

    fn load(&self, dashboard: String) -> AsyncTask<Job<Value>> {
        let cache = self.inner.cache().cloned();
        promise(
            async move {
                let cache =
                    cache.ok_or_else(|| Error::invalid("load() is for redis_cache sinks"))?;
                cache.load(&dashboard).await
            },
            job::value,
        )
    }

    fn seed(&self, hub: &Unknown<'_>) -> Result<AsyncTask<Job<f64>>> {
        let hub = hub_of(hub)?;
        let cache = self.inner.cache().cloned();
        Ok(promise(
            async move {
                let cache =
                    cache.ok_or_else(|| Error::invalid("seed() is for redis_cache sinks"))?;
                cache.seed(&hub).await.map(|n| n as f64)
            },
            job::number,
        ))
    }
}

/// The figures of `links` (for `Pipeline.links()`).
pub(crate) fn links(links: &[std::sync::Arc<dashfeed::connect::Link>]) -> Vec<LinkStats> {
    links.iter().map(|l| l.stats().into()).collect()
}

mod classes;
#[allow(unused_imports)] // the classes are exported to JS by napi, not used from Rust
pub use classes::*;

/// `Promise<void>` of a sink or source wait, for the classes.
type Done = AsyncTask<Job<()>>;
