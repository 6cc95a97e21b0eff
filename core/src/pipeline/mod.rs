//! Wiring sources → aggregator → hub → server: the `demo` entry (and, later, `serve` from a config).
//!
//! - [`procfs`]: this machine's metrics from /proc (dashboard `host`);
//! - [`synthetic`]: seeded request-latency traffic with bursts (dashboard `api`);
//! - [`assets`]: the demo page and the browser client, compiled into the library so that every install
//!   (pip, npm) can serve them;
//! - [`demo`]: the whole demo on the shared runtime, started and stopped by the Python and Node CLIs.

pub mod assets;
pub mod demo;
pub mod procfs;
pub mod synthetic;

pub use demo::{Demo, DemoConfig};
