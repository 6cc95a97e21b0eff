//! Wiring sources → aggregator → hub → server: the `demo` entry and `serve` from a config.
//!
//! - [`procfs`]: this machine's metrics from /proc (dashboard `host`);
//! - [`synthetic`]: seeded request-latency traffic with bursts (dashboard `api`);
//! - [`assets`]: the demo page and the browser client, compiled into the library so that every install
//!   (pip, npm) can serve them;
//! - [`demo`]: the whole demo on the shared runtime, started and stopped by the Python and Node CLIs;
//! - [`config`]: the `dashfeed serve --config` file ([`PipelineConfig`]);
//! - [`apply`]: dedupe → aggregator → hub, the step sources and HTTP ingest feed;
//! - `partitions`: one aggregator per Kafka partition, offsets committed once their windows published;
//! - [`serve`]: the running [`Pipeline`].

pub mod apply;
pub mod assets;
pub mod config;
pub mod demo;
mod partitions;
pub mod procfs;
pub mod results;
pub mod serve;
pub mod synthetic;

pub use apply::AggregatorIngest;
pub use config::PipelineConfig;
pub use demo::{Demo, DemoConfig};
pub use results::series_name;
pub use serve::Pipeline;
