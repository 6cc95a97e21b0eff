//! `dashfeed` for Node.js: thin napi-rs wrappers over the `dashfeed` core.
//!
//! One file per core module (`codec`, ...), each converting arguments, calling the core and mapping
//! errors once through `error` (every thrown error is a JS `Error` whose `.code` is the core's
//! stable code). `walk` (JS → core) and `build` (core → JS) are the value conversions every binding
//! file reuses. Every raw Node-API piece (checked calls, native functions, argument readers, the
//! hot-path method glue, the compiled JavaScript helpers, per-environment state) lives in `napi`. The
//! napi CLI builds this crate into `dashfeed.<platform>.node`, with the `index.js` loader and the
//! `index.d.ts` types at the repository root (`npm install` runs the build). Durations are
//! milliseconds throughout (`units` warns once about values that look like seconds).

mod breaker;
mod build;
mod clock;
mod codec;
mod connect;
mod error;
mod event;
mod fast;
mod hub;
mod job;
mod limit;
mod napi;
mod options;
mod pipeline;
mod server;
mod units;
mod values;
mod walk;
mod window;

/// The module's allocator: jemalloc (docs/architecture.md, "Bindings"). Here, not in the core, so
/// that the core's tests keep their own counting allocators whatever else a build includes.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
