//! [`Pipeline`]: `dashfeed serve` — a [`PipelineConfig`] made running: sinks tapped on the hub (and
//! the hub's snapshots seeded from the Redis cache), the server with the pipeline as its ingest and
//! every link in `/healthz` and `/metrics`, then the sources. [`Pipeline::shutdown`] stops in the
//! reverse order: sources first (they acknowledge / commit what was applied), the aggregator's ready
//! windows published, sinks flushed, then the server closes its clients with 1001.

use super::apply::AggregatorIngest;
use super::assets;
use super::config::PipelineConfig;
use crate::connect::{SinkHandle, SourceHandle};
use crate::error::{Error, Result};
use crate::hub::{Dedupe, Hub};
use crate::metrics::Metrics;
use crate::server::{HubIngest, Ingest, Server, ServerHandle};
use crate::window::Aggregator;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long start waits for each cache to seed the hub before serving without it.
const SEED_TIMEOUT: Duration = Duration::from_secs(3);
/// How long start waits for the cluster bus before serving without it.
#[cfg(feature = "redis")]
const CLUSTER_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often ready windows (idle close, partial updates) are published.
const TICK: Duration = Duration::from_millis(100);

/// A running pipeline.
pub struct Pipeline {
    hub: Hub,
    server: ServerHandle,
    sources: Vec<SourceHandle>,
    sinks: Vec<SinkHandle>,
    aggregate: Option<Arc<AggregatorIngest>>,
    ingest: Arc<dyn Ingest>,
    ticker: Option<JoinHandle<()>>,
    page_dir: Option<PathBuf>,
    seeded: usize,
    #[cfg(feature = "redis")]
    cluster: Option<crate::cluster::Cluster>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("url", &self.server.url())
            .field("sources", &self.sources.len())
            .field("sinks", &self.sinks.len())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Starts `config` on the shared runtime with a new hub.
    pub fn start(config: PipelineConfig) -> Result<Pipeline> {
        let hub = Hub::new(config.hub_config()?)?;
        Pipeline::start_with_hub(config, hub)
    }

    /// Starts `config` around an existing `hub` (a Python / Node `Hub` the caller also publishes to);
    /// the `[hub]` section is then ignored.
    pub fn start_with_hub(config: PipelineConfig, hub: Hub) -> Result<Pipeline> {
        config.check()?;
        let rt = crate::runtime::handle()?;
        let metrics = Arc::new(Metrics::new());
        metrics.watch_hub(&hub);
        #[cfg(feature = "redis")]
        let cluster = match &config.cluster {
            Some(c) => {
                let cluster = crate::cluster::Cluster::start(c.clone(), &hub, &rt)?;
                for link in cluster.links() {
                    metrics.register_link(link);
                }
                // Bounded: a Redis that is down at start leaves the links down in /healthz.
                rt.block_on(cluster.wait_connected(CLUSTER_CONNECT_TIMEOUT));
                Some(cluster)
            }
            None => None,
        };
        let mut sinks = Vec::with_capacity(config.sinks.len());
        for spec in config.sinks.clone() {
            let sink = spec.start(&rt)?;
            metrics.register_link(sink.link().clone());
            sinks.push(sink);
        }
        let mut seeded = 0;
        #[cfg(feature = "redis")]
        for sink in &sinks {
            // A clustered hub's snapshots are read from the shared Redis instead.
            if let Some(cache) = sink
                .cache()
                .filter(|c| c.config().seed && !hub.is_clustered())
            {
                let load = rt
                    .block_on(async { tokio::time::timeout(SEED_TIMEOUT, cache.seed(&hub)).await });
                if let Ok(Ok(n)) = load {
                    seeded += n;
                }
            }
        }
        for sink in &sinks {
            sink.attach(&hub)?;
        }
        let aggregate = match config.aggregator_config()? {
            Some(agg) => {
                let dedupe = Dedupe::new(
                    config.dedupe.capacity,
                    Some(Duration::from_millis(config.dedupe.horizon.0.max(1))),
                    crate::clock::SystemClock::shared(),
                )?;
                Some(Arc::new(AggregatorIngest::new(
                    Arc::new(Mutex::new(Aggregator::new(agg)?)),
                    Some(dedupe),
                    Some(hub.clone()),
                )))
            }
            None => None,
        };
        let ingest: Arc<dyn Ingest> = match &aggregate {
            Some(a) => a.clone(),
            None => Arc::new(HubIngest::new(hub.clone())),
        };
        let mut server_config = config.server_config()?;
        let page_dir = match (&server_config.static_dir, config.server.demo_page) {
            (None, true) => {
                let dir = std::env::temp_dir().join(format!(
                    "dashfeed-serve-{}-{}",
                    std::process::id(),
                    getrandom::u32().unwrap_or(0)
                ));
                assets::write_to(&dir)?;
                server_config.static_dir = Some(dir.clone());
                Some(dir)
            }
            _ => None,
        };
        // Without an aggregator the server's own default sink publishes into the same hub (and
        // awaits a clustered hub's round trip instead of blocking a runtime thread).
        server_config.ingest = aggregate.clone().map(|a| a as Arc<dyn Ingest>);
        server_config.metrics = Some(metrics.clone());
        let server = Server::start_on(hub.clone(), server_config, &rt)?;
        let mut sources = Vec::with_capacity(config.sources.len());
        for spec in config.sources.clone() {
            match spec.start(ingest.clone(), &rt) {
                Ok(source) => {
                    metrics.register_link(source.link().clone());
                    sources.push(source);
                }
                Err(e) => {
                    let _ = server.shutdown_blocking(Duration::from_secs(1));
                    return Err(e);
                }
            }
        }
        let ticker = aggregate.clone().map(|a| {
            rt.spawn(async move {
                let mut every = tokio::time::interval(TICK);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    every.tick().await;
                    let _ = a.tick(); // a full sink: the results wait for the next tick
                }
            })
        });
        Ok(Pipeline {
            hub,
            server,
            sources,
            sinks,
            aggregate,
            ingest,
            ticker,
            page_dir,
            seeded,
            #[cfg(feature = "redis")]
            cluster,
        })
    }

    /// The cluster this pipeline's hub is a node of (`[cluster]`).
    #[cfg(feature = "redis")]
    pub fn cluster(&self) -> Option<&crate::cluster::Cluster> {
        self.cluster.as_ref()
    }

    /// The hub.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The server.
    pub fn server(&self) -> &ServerHandle {
        &self.server
    }

    /// The step every source and HTTP ingest feeds (aggregator or hub).
    pub fn ingest(&self) -> &Arc<dyn Ingest> {
        &self.ingest
    }

    /// The running sources.
    pub fn sources(&self) -> &[SourceHandle] {
        &self.sources
    }

    /// The running sinks.
    pub fn sinks(&self) -> &[SinkHandle] {
        &self.sinks
    }

    /// Every link of the pipeline — sources, sinks, and the cluster's `cluster:redis` / `cluster:bus`
    /// — as `/healthz` and `/metrics` report them.
    pub fn links(&self) -> Vec<Arc<crate::connect::Link>> {
        let mut out: Vec<Arc<crate::connect::Link>> = self
            .sources
            .iter()
            .map(|s| s.link().clone())
            .chain(self.sinks.iter().map(|s| s.link().clone()))
            .collect();
        #[cfg(feature = "redis")]
        if let Some(c) = &self.cluster {
            out.extend(c.links());
        }
        out
    }

    /// Dashboards seeded from Redis caches at start.
    pub fn seeded(&self) -> usize {
        self.seeded
    }

    /// The server's base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Waits until every sink wrote what it holds (`timeout` error otherwise).
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        for sink in &self.sinks {
            sink.flush(timeout).await?;
        }
        Ok(())
    }

    /// Stops sources (committing what was applied), publishes ready windows, flushes and closes
    /// sinks, then stops the server. The first error is returned after every step ran.
    pub async fn shutdown(mut self, timeout: Duration) -> Result<()> {
        let mut first: Option<Error> = None;
        let mut keep = |r: Result<()>| {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        };
        for source in &self.sources {
            keep(source.stop(timeout).await);
        }
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        if let Some(a) = &self.aggregate {
            keep(a.tick().map(|_| ()));
        }
        for sink in &self.sinks {
            keep(sink.close(timeout).await);
        }
        let page_dir = self.page_dir.take();
        keep(self.server.shutdown().await);
        #[cfg(feature = "redis")]
        if let Some(c) = self.cluster.take() {
            c.stop();
        }
        if let Some(dir) = page_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// [`shutdown`](Pipeline::shutdown) from outside the runtime (bindings, CLIs).
    pub fn shutdown_blocking(self, timeout: Duration) -> Result<()> {
        let rt = crate::runtime::handle()?;
        rt.block_on(self.shutdown(timeout))
    }
}
