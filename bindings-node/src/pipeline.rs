//! Node face of `dashfeed::pipeline`: the `Demo` (sources → windows → hub → server with the live page)
//! that `npx dashfeed demo` runs (bindings-node/js/cli.js), the `Pipeline` of
//! `npx dashfeed serve --config`, and `Hub.publishResults` (window results into the hub, the core's
//! `pipeline::results`; a `#[napi] impl Hub` block of its own, so that `hub` knows nothing of
//! windows).

use crate::connect::{links, LinkStats};
use crate::error::{guard, Code, Result};
use crate::hub::Hub;
use crate::job::{self, Job};
use crate::napi::{args, convert};
use crate::units::timeout;
use crate::window::WindowResultObject;
use dashfeed::codec::{Codec, Format, Value};
use dashfeed::pipeline::{Demo as CoreDemo, DemoConfig, Pipeline as CorePipeline, PipelineConfig};
use dashfeed::Error;
use napi::bindgen_prelude::{
    AsyncTask, ClassInstance, FromNapiValue, JsObjectValue, JsValue, Unknown,
};
use napi_derive::napi;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[napi]
impl Hub {
    /// Publishes window results (`aggregator.poll()`): one publication per dashboard and window
    /// end, mapping each series (`metric`, or `metric{k=v}` with tags) to its result object.
    /// Returns the seqs.
    #[napi(catch_unwind, ts_args_type = "results: Array<WindowResult>")]
    pub fn publish_results(&self, results: Unknown<'_>) -> napi::Result<Vec<f64>, Code> {
        guard(|| {
            let env = results.value().env;
            let objects: Vec<WindowResultObject> = convert::from_js(env, results.raw())?;
            let core = objects
                .iter()
                .map(|o| o.to_core(env))
                .collect::<Result<Vec<_>>>()?;
            let seqs = self.core().publish_results(&core)?;
            Ok(seqs.into_iter().map(|s| s as f64).collect())
        })
    }
}

/// Options of `new Demo(options)`.
#[napi(object)]
pub struct DemoOptions {
    /// Interface to bind (default `'127.0.0.1'`).
    pub host: Option<String>,
    /// Port (default 8080; 0 picks a free one).
    pub port: Option<u32>,
    /// Open the page in a browser if one exists.
    pub open: Option<bool>,
}

/// The live demo: `new Demo({ port })`, `start()` (resolves with the URL), `close()`.
#[napi]
pub struct Demo {
    config: DemoConfig,
    running: Arc<Mutex<Option<CoreDemo>>>,
}

#[napi]
impl Demo {
    /// A demo with `options` (not started).
    #[napi(constructor, catch_unwind)]
    pub fn new(options: Option<DemoOptions>) -> napi::Result<Self, Code> {
        guard(|| {
            let o = options.unwrap_or(DemoOptions {
                host: None,
                port: None,
                open: None,
            });
            let port = match o.port {
                Some(p) => {
                    u16::try_from(p).map_err(|_| Error::invalid("port must be at most 65535"))?
                }
                None => 8080,
            };
            let config = DemoConfig {
                host: o.host.unwrap_or_else(|| "127.0.0.1".into()),
                port,
                open: o.open.unwrap_or(false),
                ..DemoConfig::default()
            };
            Ok(Demo {
                config,
                running: Arc::new(Mutex::new(None)),
            })
        })
    }

    /// Starts everything; resolves with the page's URL (rejects with a coded error).
    #[napi(ts_return_type = "Promise<string>")]
    pub fn start(&self) -> AsyncTask<Job<String>> {
        let (running, config) = (self.running.clone(), self.config.clone());
        Job::spawn(
            move || {
                let mut guard = running
                    .lock()
                    .map_err(|_| Error::Internal("demo lock poisoned".into()))?;
                if guard.is_none() {
                    *guard = Some(CoreDemo::start(config)?);
                }
                Ok(guard.as_ref().map(|d| d.url()).unwrap_or_default())
            },
            job::string,
        )
    }

    /// Stops everything (clients get close 1001).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self) -> AsyncTask<Job<()>> {
        let running = self.running.clone();
        Job::spawn(
            move || {
                let d = running
                    .lock()
                    .map_err(|_| Error::Internal("demo lock poisoned".into()))?
                    .take();
                match d {
                    Some(mut d) => d.shutdown_blocking(Duration::from_secs(10)),
                    None => Ok(()),
                }
            },
            job::undefined,
        )
    }
}

/// Sources → dedupe → aggregator → hub → sinks and the server, from a config (the document of
/// `dashfeed serve --config`): `new Pipeline(tomlText | object, { hub })` or
/// `Pipeline.fromFile(path)`; `start()` resolves with the URL; `close()` stops sources (committing
/// what was applied), flushes sinks and closes clients with 1001.
#[napi]
pub struct Pipeline {
    config: PipelineConfig,
    hub: Option<dashfeed::hub::Hub>,
    running: Arc<Mutex<Option<CorePipeline>>>,
}

impl Pipeline {
    fn with<T>(&self, f: impl FnOnce(&CorePipeline) -> T) -> crate::error::Result<T> {
        let guard = self
            .running
            .lock()
            .map_err(|_| Error::Internal("pipeline lock poisoned".into()))?;
        Ok(f(guard.as_ref().ok_or(Error::Closed)?))
    }
}

#[napi]
impl Pipeline {
    /// A pipeline from TOML text or an object of the same keys (not started). `options.hub`: use
    /// this `Hub` instead of a new one. Unknown keys and wrong types throw `invalid_input` naming
    /// the key (and its line, for TOML).
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "config: string | Record<string, unknown>, options?: { hub?: Hub }"
    )]
    pub fn new(config: Unknown<'_>, options: Option<Unknown<'_>>) -> napi::Result<Self, Code> {
        guard(|| {
            let env = config.value().env;
            let config = match crate::walk::to_value(env, config.raw(), 32)? {
                Value::Str(text) => PipelineConfig::parse(&text)?,
                v @ Value::Map(_) => {
                    PipelineConfig::from_json(&Codec::new(Format::Json).encode_plain(&v)?)?
                }
                _ => {
                    return Err(Error::invalid("config must be TOML text or an object").into());
                }
            };
            let hub = match options {
                Some(o) if !args::nullish(&o)? => {
                    let h: Unknown = o.coerce_to_object()?.get_named_property("hub")?;
                    if args::nullish(&h)? {
                        None
                    } else {
                        let h = ClassInstance::<Hub>::from_unknown(h)
                            .map_err(|_| Error::invalid("options.hub must be a Hub"))?;
                        Some(h.core().clone())
                    }
                }
                _ => None,
            };
            Ok(Pipeline {
                config,
                hub,
                running: Arc::new(Mutex::new(None)),
            })
        })
    }

    /// A pipeline from a TOML file (errors name the file, the key and the line).
    #[napi(factory, catch_unwind)]
    pub fn from_file(path: String) -> napi::Result<Self, Code> {
        guard(|| {
            Ok(Pipeline {
                config: PipelineConfig::read(std::path::Path::new(&path))?,
                hub: None,
                running: Arc::new(Mutex::new(None)),
            })
        })
    }

    /// Starts sinks (seeding the hub from Redis caches), the server, then the sources; resolves
    /// with the server's URL. Starting twice resolves with the same URL.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn start(&self) -> AsyncTask<Job<String>> {
        let (running, config, hub) = (self.running.clone(), self.config.clone(), self.hub.clone());
        Job::spawn(
            move || {
                let mut guard = running
                    .lock()
                    .map_err(|_| Error::Internal("pipeline lock poisoned".into()))?;
                if guard.is_none() {
                    *guard = Some(match hub {
                        Some(h) => CorePipeline::start_with_hub(config, h)?,
                        None => CorePipeline::start(config)?,
                    });
                }
                Ok(guard.as_ref().map(|p| p.url()).unwrap_or_default())
            },
            job::string,
        )
    }

    /// The server's base URL (throws `closed` when not started).
    #[napi(getter, catch_unwind)]
    pub fn url(&self) -> napi::Result<String, Code> {
        guard(|| self.with(|p| p.url()))
    }

    /// The bound port.
    #[napi(getter, catch_unwind)]
    pub fn port(&self) -> napi::Result<u32, Code> {
        guard(|| self.with(|p| u32::from(p.server().port())))
    }

    /// The pipeline's hub (publish to it, subscribe to it).
    #[napi(getter, catch_unwind)]
    pub fn hub(&self) -> napi::Result<Hub, Code> {
        guard(|| self.with(|p| Hub::from_core(p.hub().clone())))
    }

    /// Dashboards seeded from Redis caches at start.
    #[napi(getter, catch_unwind)]
    pub fn seeded(&self) -> napi::Result<u32, Code> {
        guard(|| self.with(|p| u32::try_from(p.seeded()).unwrap_or(u32::MAX)))
    }

    /// Every source's, sink's and the cluster's link figures.
    #[napi(catch_unwind)]
    pub fn links(&self) -> napi::Result<Vec<LinkStats>, Code> {
        guard(|| self.with(|p| links(&p.links())))
    }

    /// Resolves once every sink wrote what it holds (`timeoutMs`, default 10 000).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn flush(&self, timeout_ms: Option<f64>) -> AsyncTask<Job<()>> {
        let (running, t) = (self.running.clone(), timeout(timeout_ms));
        Job::spawn(
            move || {
                let t = t.map_err(|_| Error::invalid("timeout must be a non-negative number"))?;
                let guard = running
                    .lock()
                    .map_err(|_| Error::Internal("pipeline lock poisoned".into()))?;
                let p = guard.as_ref().ok_or(Error::Closed)?;
                dashfeed::runtime::handle()?.block_on(p.flush(t))
            },
            job::undefined,
        )
    }

    /// Stops sources (committing what was applied), flushes sinks, closes clients with 1001.
    /// Closing twice does nothing.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self, timeout_ms: Option<f64>) -> AsyncTask<Job<()>> {
        let (running, t) = (self.running.clone(), timeout(timeout_ms));
        Job::spawn(
            move || {
                let t = t.map_err(|_| Error::invalid("timeout must be a non-negative number"))?;
                let p = running
                    .lock()
                    .map_err(|_| Error::Internal("pipeline lock poisoned".into()))?
                    .take();
                match p {
                    Some(p) => p.shutdown_blocking(t),
                    None => Ok(()),
                }
            },
            job::undefined,
        )
    }
}
