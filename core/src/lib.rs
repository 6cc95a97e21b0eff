//! dashfeed — a real-time dashboard feed engine.
//!
//! This crate is the one core that the Python (`bindings-python`) and Node (`bindings-node`) modules wrap.
//! Every piece of logic lives here; the bindings only convert values and map [`Error`] once.
//!
//! Modules (the architecture, data flow and bindings' rules are in `docs/architecture.md`):
//! - [`error`]: the [`Error`] enum with a stable snake_case [`Error::code`] per variant.
//! - [`event`]: the metric [`Event`] and its grouping [`Key`].
//! - [`codec`]: MessagePack / JSON with gzip above a threshold, and decode limits.
//! - [`window`]: window specs, accumulators, quantile sketch, watermark and the `Aggregator`.
//! - [`hub`]: topics, sequence numbers and epochs, history, snapshots, subscriptions, dedupe.
//! - [`breaker`]: the circuit breaker on an injectable clock.
//! - [`clock`]: the monotonic clock trait, real and manual (for tests).
//! - [`limit`]: rate limiters keyed by client or dashboard.
//! - [`metrics`]: the Prometheus registry (the reference notes' series and dashfeed's own).
//! - [`connect`]: Redis and Kafka sources and sinks behind breakers (features `redis`, `kafka`).
//! - [`cluster`]: several nodes sharing their dashboards through Redis (feature `redis`).
//! - [`pipeline`]: wiring sources → aggregator → hub → server; the `demo` entry.
//! - [`server`]: HTTP + WebSocket + SSE endpoints, JWT auth, Origin checks, limits, graceful shutdown.
//! - [`options`]: the bindings' options maps (Python / Node spelling and units), read once.
//! - [`runtime`]: the one lazily started tokio runtime that the bindings share.

// The library's one unsafe block is a CPU prefetch hint (`prefetch_bytes` in window/keys.rs, allowed
// there alone); its tests' counting allocators are separate crates.
#![deny(unsafe_code)]

pub mod breaker;
pub mod clock;
#[cfg(feature = "redis")]
pub mod cluster;
pub mod codec;
pub mod connect;
pub mod error;
pub mod event;
pub mod hub;
pub mod limit;
pub mod metrics;
pub mod options;
pub mod pipeline;
pub mod runtime;
pub mod server;
pub mod window;

pub use codec::{Codec, Format, Limits, Value};
pub use error::{Error, Result};
pub use event::{Event, Key};
