//! Sharing one hub between worker threads. A JavaScript object lives in one thread, but the core hub
//! is thread-safe: `hub.share()` registers it under a token (a number, sent to a worker with
//! `workerData` or `postMessage`) and `Hub.attach(token)` in any thread of the process returns a
//! `Hub` on the same core hub — publications from either side reach the subscribers of both, each
//! woken in its own thread. The token stays valid while the sharing `Hub` object lives.

use dashfeed::hub::Hub as CoreHub;
use dashfeed::Error;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

static REGISTRY: LazyLock<Mutex<HashMap<u64, CoreHub>>> = LazyLock::new(Mutex::default);
static NEXT: AtomicU64 = AtomicU64::new(1);

fn registry() -> MutexGuard<'static, HashMap<u64, CoreHub>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers `hub` and returns its new token (never 0, never reused).
pub fn share(hub: &CoreHub) -> u64 {
    let token = NEXT.fetch_add(1, Ordering::Relaxed);
    registry().insert(token, hub.clone());
    token
}

/// The hub registered under `token`.
pub fn attach(token: u64) -> Result<CoreHub, Error> {
    registry().get(&token).cloned().ok_or_else(|| {
        Error::invalid(format!(
            "no shared hub has token {token} (is the sharing Hub still alive?)"
        ))
    })
}

/// Forgets `token` (its sharing `Hub` was collected).
pub fn unshare(token: u64) {
    registry().remove(&token);
}
