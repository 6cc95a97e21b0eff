//! [`Link`]: one connector's connection to its broker as the rest of dashfeed sees it — a circuit
//! breaker guarding every broker call, the health `/healthz` reports, and the counters `/metrics`
//! exports (`dashfeed_connector_*{name}`, `dashfeed_source_rejected_total{source,code}`).

use crate::breaker::{BreakerConfig, CircuitBreaker, State};
use crate::error::{Error, Result};
use crate::metrics::HealthCheck;
use parking_lot::{Mutex, RwLock};
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The breaker settings of a connector unless configured: open after 3 consecutive failures, try
/// again after 1 s.
pub fn default_breaker() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 3,
        reset_timeout: Duration::from_secs(1),
        ..BreakerConfig::default()
    }
}

/// Figures of one link, as `/metrics` exports them.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkStats {
    /// The link's name, for example `redis_stream:events`.
    pub name: String,
    /// Whether the link is up (its last broker call succeeded and its breaker is not open).
    pub up: bool,
    /// The breaker's state.
    pub breaker: State,
    /// Messages read from the broker (sources) or records written to it (sinks).
    pub messages: u64,
    /// Events handed to the target (sources) or records queued (sinks).
    pub events: u64,
    /// Messages refused by parsing, by error code.
    pub rejected: Vec<(&'static str, u64)>,
    /// Messages copied to the dead-letter stream/topic.
    pub dead_lettered: u64,
    /// Reconnections and retried batches.
    pub retries: u64,
    /// Records waiting in the sink's queue (0 for sources).
    pub queued: u64,
    /// Bytes waiting in the sink's queue (0 for sources).
    pub queued_bytes: u64,
    /// Records refused because the sink's queue was full.
    pub full: u64,
    /// Messages the broker holds that this source has not read yet, when the broker says (`-1`: unknown).
    pub lag: i64,
}

/// A connector's link: breaker, health and counters. Shared in an `Arc` by the connector's task and
/// the metrics registry.
#[derive(Debug)]
pub struct Link {
    name: String,
    breaker: Arc<CircuitBreaker>,
    down: RwLock<Option<String>>,
    messages: AtomicU64,
    events: AtomicU64,
    rejected: Mutex<Vec<(&'static str, u64)>>,
    dead_lettered: AtomicU64,
    retries: AtomicU64,
    queued: AtomicU64,
    queued_bytes: AtomicU64,
    full: AtomicU64,
    lag: AtomicI64,
}

impl Link {
    /// A link named `name` (up until a call fails) with its own breaker.
    pub fn new(name: impl Into<String>, breaker: BreakerConfig) -> Result<Arc<Link>> {
        Ok(Arc::new(Link {
            name: name.into(),
            breaker: Arc::new(CircuitBreaker::new(breaker)?),
            down: RwLock::new(None),
            messages: AtomicU64::new(0),
            events: AtomicU64::new(0),
            rejected: Mutex::new(Vec::new()),
            dead_lettered: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            queued_bytes: AtomicU64::new(0),
            full: AtomicU64::new(0),
            lag: AtomicI64::new(-1),
        }))
    }

    /// The link's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The breaker guarding the link's broker calls.
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    /// Runs one broker call behind the breaker: `circuit_open` without calling while it is open; the
    /// call's result is reported to the breaker and flips the link's health.
    pub async fn call<T, F>(&self, call: F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let permit = self.breaker.acquire_owned()?;
        let started = Instant::now();
        match call.await {
            Ok(v) => {
                permit.success(started.elapsed());
                self.set_up();
                Ok(v)
            }
            Err(e) => {
                permit.failure(started.elapsed());
                self.set_down(e.to_string());
                Err(e)
            }
        }
    }

    /// Marks the link up.
    pub fn set_up(&self) {
        if self.down.read().is_some() {
            *self.down.write() = None;
        }
    }

    /// Marks the link down with the reason `/healthz` shows.
    pub fn set_down(&self, reason: impl Into<String>) {
        *self.down.write() = Some(reason.into());
    }

    /// Counts `n` messages read or written.
    pub fn count_messages(&self, n: u64) {
        self.messages.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` events handed on.
    pub fn count_events(&self, n: u64) {
        self.events.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one message refused with `code`.
    pub fn count_rejected(&self, code: &'static str) {
        let mut r = self.rejected.lock();
        match r.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => r.push((code, 1)),
        }
    }

    /// Counts one message copied to the dead-letter destination.
    pub fn count_dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one reconnection or retried batch.
    pub fn count_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one record refused by a full sink queue.
    pub fn count_full(&self) {
        self.full.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets what the sink's queue holds.
    pub fn set_queued(&self, records: usize, bytes: usize) {
        self.queued.store(records as u64, Ordering::Relaxed);
        self.queued_bytes.store(bytes as u64, Ordering::Relaxed);
    }

    /// Sets the lag the broker reports (`None`: unknown).
    pub fn set_lag(&self, lag: Option<u64>) {
        let v = lag.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        self.lag.store(v, Ordering::Relaxed);
    }

    /// The link's figures now.
    pub fn stats(&self) -> LinkStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LinkStats {
            name: self.name.clone(),
            up: self.check().is_ok(),
            breaker: self.breaker.state(),
            messages: get(&self.messages),
            events: get(&self.events),
            rejected: self.rejected.lock().clone(),
            dead_lettered: get(&self.dead_lettered),
            retries: get(&self.retries),
            queued: get(&self.queued),
            queued_bytes: get(&self.queued_bytes),
            full: get(&self.full),
            lag: self.lag.load(Ordering::Relaxed),
        }
    }
}

impl HealthCheck for Link {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> Result<()> {
        if let Some(reason) = &*self.down.read() {
            return Err(Error::Io(reason.clone()));
        }
        match self.breaker.state() {
            State::Open => Err(Error::Io("circuit open".into())),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_open_the_breaker_and_mark_the_link_down() {
        let link = Link::new("redis", default_breaker()).unwrap();
        for _ in 0..3 {
            let r: Result<()> = link.call(async { Err(Error::Io("refused".into())) }).await;
            assert_eq!(r.unwrap_err().code(), "io_error");
        }
        assert_eq!(link.breaker().state(), State::Open);
        assert!(link.check().is_err());
        let r = link.call(async { Ok(1) }).await;
        assert_eq!(r.unwrap_err().code(), "circuit_open");
        link.count_rejected("decode_error");
        link.count_rejected("decode_error");
        assert_eq!(link.stats().rejected, vec![("decode_error", 2)]);
    }
}
