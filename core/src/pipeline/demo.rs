//! `dashfeed demo`: this machine's metrics and synthetic API traffic, aggregated in 1 s tumbling windows
//! (count, mean, p50, p99) and 10 s hopping windows (1 s slide, published as `metric@10s`), fanned out by
//! the hub and served with the live page by the server. No Redis, no Kafka, nothing to configure.

use super::procfs::HostSampler;
use super::synthetic::LatencyGenerator;
use crate::error::{Error, Result};
use crate::event::now_ms;
use crate::hub::{Hub, HubConfig};
use crate::server::{Server, ServerConfig, ServerHandle};
use crate::window::{Aggregator, AggregatorConfig, WindowSpec};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Options of the demo.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Interface to bind. Default `127.0.0.1`.
    pub host: String,
    /// Port; 0 picks a free one. Default 8080.
    pub port: u16,
    /// Open the page in a browser, if one can be started.
    pub open: bool,
    /// How often sources are sampled. Default 250 ms.
    pub tick: Duration,
    /// Requests per second of the synthetic API traffic. Default 400.
    pub api_rps: u32,
    /// Seed of the synthetic traffic.
    pub seed: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            host: "127.0.0.1".into(),
            port: 8080,
            open: false,
            tick: Duration::from_millis(250),
            api_rps: 400,
            seed: 42,
        }
    }
}

/// A running demo: stop it with [`shutdown_blocking`](Demo::shutdown_blocking).
pub struct Demo {
    server: ServerHandle,
    stop: Arc<Notify>,
    task: Option<JoinHandle<()>>,
    dir: PathBuf,
}

fn aggregator(window: WindowSpec) -> Result<Aggregator> {
    let mut config = AggregatorConfig::new(window);
    config.quantiles = vec![0.5, 0.99];
    config.lateness_ms = 200;
    config.idle_close_ms = Some(2_000);
    Aggregator::new(config)
}

/// One sampling step: feeds both aggregators and publishes what closed.
struct Feeder {
    hub: Hub,
    host: HostSampler,
    api: LatencyGenerator,
    one_second: Aggregator,
    ten_seconds: Aggregator,
    api_rps: u32,
    ticks_per_second: u32,
}

impl Feeder {
    fn add(
        &mut self,
        dashboard: &str,
        metric: &str,
        value: f64,
        ts: i64,
        tags: &[(&str, &str)],
    ) -> Result<()> {
        self.one_second
            .add_parts(dashboard, metric, value, ts, tags, None)?;
        self.ten_seconds
            .add_parts(dashboard, metric, value, ts, tags, None)
    }

    fn step(&mut self) -> Result<()> {
        let ts = now_ms();
        // /proc may be missing (not Linux): then only the api dashboard runs.
        if let Ok(samples) = self.host.sample() {
            for (metric, tags, value) in samples {
                let tags: Vec<(&str, &str)> =
                    tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                self.add("host", metric, value, ts, &tags)?;
            }
        }
        // Latency per request; request and error rates per endpoint once per tick (their window mean is
        // the rate per second).
        let mut per_endpoint: Vec<(&'static str, u32, u32)> = Vec::new();
        for r in self.api.tick(self.api_rps, self.ticks_per_second) {
            self.add(
                "api",
                "latency_ms",
                r.latency_ms,
                ts,
                &[("endpoint", r.endpoint)],
            )?;
            match per_endpoint.iter_mut().find(|(e, _, _)| *e == r.endpoint) {
                Some(slot) => {
                    slot.1 += 1;
                    slot.2 += u32::from(r.error);
                }
                None => per_endpoint.push((r.endpoint, 1, u32::from(r.error))),
            }
        }
        let tps = f64::from(self.ticks_per_second);
        for (endpoint, requests, errors) in per_endpoint {
            let tags = [("endpoint", endpoint)];
            self.add(
                "api",
                "requests_per_s",
                f64::from(requests) * tps,
                ts,
                &tags,
            )?;
            self.add("api", "errors_per_s", f64::from(errors) * tps, ts, &tags)?;
        }
        let closed = self.one_second.poll();
        self.hub.publish_results(&closed)?;
        let closed = self.ten_seconds.poll();
        self.hub.publish_results_as(&closed, "@10s")?;
        Ok(())
    }
}

impl Demo {
    /// Starts the demo on the shared runtime: the server (with the page) and the sampling task.
    pub fn start(config: DemoConfig) -> Result<Demo> {
        if config.tick.is_zero() || config.tick > Duration::from_secs(10) {
            return Err(Error::invalid("tick must be between 1 ms and 10 s"));
        }
        let dir =
            std::env::temp_dir().join(format!("dashfeed-demo-{}-{}", std::process::id(), now_ms()));
        super::assets::write_to(&dir)?;
        let hub = Hub::new(HubConfig {
            history: 2_000,
            ..HubConfig::default()
        })?;
        let server_config = ServerConfig {
            host: config.host.clone(),
            port: config.port,
            static_dir: Some(dir.clone()),
            ..ServerConfig::default()
        };
        let server = Server::start(hub.clone(), server_config)?;
        let ticks_per_second = (1000 / config.tick.as_millis().max(1)) as u32;
        let mut feeder = Feeder {
            hub,
            host: HostSampler::new(),
            api: LatencyGenerator::new(config.seed),
            one_second: aggregator(WindowSpec::tumbling(1_000))?,
            ten_seconds: aggregator(WindowSpec::hopping(10_000, 1_000))?,
            api_rps: config.api_rps,
            ticks_per_second: ticks_per_second.max(1),
        };
        let stop = Arc::new(Notify::new());
        let stopped = stop.clone();
        let tick = config.tick;
        let task = crate::runtime::handle()?.spawn(async move {
            let mut every = tokio::time::interval(tick);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = stopped.notified() => break,
                    _ = every.tick() => {
                        // A failing step (a full pending buffer, say) is skipped, not fatal: the next
                        // tick polls again.
                        let _ = feeder.step();
                    }
                }
            }
        });
        let demo = Demo {
            server,
            stop,
            task: Some(task),
            dir,
        };
        if config.open {
            open_browser(&demo.url());
        }
        Ok(demo)
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Stops sampling, closes every client with 1001 and stops the server.
    pub fn shutdown_blocking(&mut self, timeout: Duration) -> Result<()> {
        self.stop.notify_one();
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let res = self.server.shutdown_blocking(timeout);
        let _ = std::fs::remove_dir_all(&self.dir);
        res
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.task.is_some() {
            let _ = self.shutdown_blocking(Duration::from_secs(5));
        }
    }
}

/// Tries the platform's "open this URL" command; a machine without a browser just keeps the URL.
fn open_browser(url: &str) {
    let cmds: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else {
        &["xdg-open", "sensible-browser"]
    };
    for cmd in cmds {
        if std::process::Command::new(cmd)
            .arg(url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_serves_its_page_and_publishes_windows() {
        let mut demo = Demo::start(DemoConfig {
            port: 0,
            tick: Duration::from_millis(20),
            ..Default::default()
        })
        .expect("demo starts");
        let hub = demo.server.hub().clone();
        // Bounded wait for the first 1 s windows to close (real time: the sources are real).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let ready = ["host", "api"].iter().all(|d| {
                hub.snapshot(d).ok().flatten().is_some_and(|s| {
                    s.data()
                        .unwrap()
                        .get("latency_ms{endpoint=/feed}")
                        .is_some()
                        || s.seq() > 0
                })
            });
            if ready {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let api = hub.snapshot("api").unwrap().expect("api topic");
        assert!(
            api.data()
                .unwrap()
                .get("latency_ms{endpoint=/feed}")
                .is_some(),
            "{:?}",
            api.data().unwrap()
        );
        let host = hub.snapshot("host").unwrap().expect("host topic");
        assert!(host.data().unwrap().get("mem_used_percent").is_some());
        let page = std::fs::read_to_string(demo.dir.join("index.html")).unwrap();
        assert!(page.contains("<html"));
        demo.shutdown_blocking(Duration::from_secs(5)).unwrap();
        assert!(!demo.dir.exists());
    }
}
