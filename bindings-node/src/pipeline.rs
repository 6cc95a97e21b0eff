//! Node face of `dashfeed::pipeline`: the `Demo` (sources → windows → hub → server with the live page)
//! that `npx dashfeed demo` runs (bindings-node/js/cli.js).

use crate::error::{guard, Code};
use dashfeed::pipeline::{Demo as CoreDemo, DemoConfig};
use dashfeed::Error;
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// `start()` / `close()` off the JS thread.
pub struct DemoTask {
    running: Arc<Mutex<Option<CoreDemo>>>,
    start: Option<DemoConfig>,
}

impl Task for DemoTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<String> {
        let to_napi = |e: Error| napi::Error::from_reason(format!("{} (code {})", e, e.code()));
        let mut guard = self
            .running
            .lock()
            .map_err(|_| to_napi(Error::Internal("demo lock poisoned".into())))?;
        match self.start.take() {
            Some(config) => {
                if guard.is_none() {
                    *guard = Some(CoreDemo::start(config).map_err(to_napi)?);
                }
                Ok(guard.as_ref().map(|d| d.url()).unwrap_or_default())
            }
            None => {
                if let Some(mut d) = guard.take() {
                    drop(guard);
                    d.shutdown_blocking(Duration::from_secs(10))
                        .map_err(to_napi)?;
                }
                Ok(String::new())
            }
        }
    }

    fn resolve(&mut self, _env: Env, output: String) -> napi::Result<String> {
        Ok(output)
    }
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

    /// Starts everything; resolves with the page's URL.
    #[napi]
    pub fn start(&self) -> AsyncTask<DemoTask> {
        AsyncTask::new(DemoTask {
            running: self.running.clone(),
            start: Some(self.config.clone()),
        })
    }

    /// Stops everything (clients get close 1001).
    #[napi]
    pub fn close(&self) -> AsyncTask<DemoTask> {
        AsyncTask::new(DemoTask {
            running: self.running.clone(),
            start: None,
        })
    }
}
