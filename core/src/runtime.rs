//! The one tokio runtime that the bindings share.
//!
//! It starts lazily on first use (importing the Python module or requiring the Node module starts no
//! threads), runs on named worker threads (`dashfeed-worker`), and lives for the rest of the process.
//! Servers, connectors and timers spawn onto it; bindings block on it only with their interpreter lock
//! released.

use crate::error::{Error, Result};
use std::sync::OnceLock;
use tokio::runtime::{Builder, Handle, Runtime};

/// Name of the runtime's worker threads.
pub const THREAD_NAME: &str = "dashfeed-worker";

/// Why the runtime could not start: a setting (`invalid_input`) or the system (`internal`).
enum StartError {
    Setting(String),
    System(String),
}

static RUNTIME: OnceLock<std::result::Result<Runtime, StartError>> = OnceLock::new();

/// Worker count: `TOKIO_WORKER_THREADS` when set (a positive integer, as tokio itself requires; one
/// suits several processes sharing a few cores, at the price of one busy task holding up the rest),
/// else the available cores, at most 4, at least 2 (so one busy task never starves I/O).
fn worker_threads() -> std::result::Result<usize, StartError> {
    match std::env::var_os("TOKIO_WORKER_THREADS") {
        Some(v) => v
            .to_str()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                StartError::Setting(format!(
                    "TOKIO_WORKER_THREADS must be a positive integer, not {v:?}"
                ))
            }),
        None => Ok(std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(2, 4)),
    }
}

/// The shared runtime, started on first call.
pub fn get() -> Result<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(worker_threads()?)
                .thread_name(THREAD_NAME)
                .enable_all()
                .build()
                .map_err(|e| StartError::System(e.to_string()))
        })
        .as_ref()
        .map_err(|e| match e {
            StartError::Setting(msg) => {
                Error::invalid(format!("cannot start the tokio runtime: {msg}"))
            }
            StartError::System(msg) => {
                Error::Internal(format!("cannot start the tokio runtime: {msg}"))
            }
        })
}

/// A handle to the shared runtime, for spawning.
pub fn handle() -> Result<Handle> {
    get().map(|rt| rt.handle().clone())
}

/// Whether the runtime has been started in this process.
pub fn is_started() -> bool {
    RUNTIME.get().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_once_on_named_threads() {
        let a = get().unwrap() as *const Runtime;
        let b = get().unwrap() as *const Runtime;
        assert_eq!(a, b);
        assert!(is_started());
        let name = handle()
            .unwrap()
            .block_on(async {
                tokio::spawn(async { std::thread::current().name().map(str::to_owned) }).await
            })
            .unwrap();
        assert_eq!(name.as_deref(), Some(THREAD_NAME));
        let t = get().unwrap().block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), async { 7 }).await
        });
        assert_eq!(t.unwrap(), 7);
    }
}
