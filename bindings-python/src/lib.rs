//! The `dashfeed._native` extension module: thin pyo3 wrappers over the `dashfeed` core.
//!
//! One file per core module; each wrapper converts arguments, calls the core and maps errors through
//! [`error::to_py`]. The pure-Python package `dashfeed` (bindings-python/python/dashfeed) re-exports these.

mod arrow;
mod breaker;
mod buffer;
mod clock;
mod codec;
mod columns;
mod connect;
mod error;
mod event;
mod gc;
mod hub;
mod limit;
mod names;
mod options;
mod pipeline;
mod result_columns;
mod server;
mod window;
mod wire_cache;

use pyo3::prelude::*;

/// The module's allocator: jemalloc (docs/architecture.md, "Bindings"). Here, not in the core, so
/// that the core's tests keep their own counting allocators whatever else a build includes.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    error::register(m)?;
    codec::register(m)?;
    event::register(m)?;
    clock::register(m)?;
    breaker::register(m)?;
    limit::register(m)?;
    hub::register(m)?;
    window::register(m)?;
    server::register(m)?;
    connect::register(m)?;
    pipeline::register(m)?;
    options::register(m)?;
    Ok(())
}
