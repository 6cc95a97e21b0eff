//! [`SourceCore`]: what every source shares — its link, the cancellation of its task, and the step
//! that hands parsed events to the target and retries a refused batch with backoff
//! ([`SourceCore::deliver`]), so that a source acknowledges a message only once it was applied.

use super::backoff::Backoff;
use super::link::Link;
use super::payload::PayloadParser;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::server::Ingest;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running source's shared state.
pub struct SourceCore {
    link: Arc<Link>,
    target: Arc<dyn Ingest>,
    parser: PayloadParser,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<Result<()>>>>,
}

impl std::fmt::Debug for SourceCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceCore")
            .field("link", &self.link.name())
            .finish_non_exhaustive()
    }
}

/// What became of one message.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// Its events.
    Events(Vec<Event>),
    /// Refused with this code (counted; acknowledge it and, if configured, dead-letter it).
    Rejected(&'static str, String),
}

impl SourceCore {
    /// The shared state of a source feeding `target`.
    pub fn new(link: Arc<Link>, target: Arc<dyn Ingest>, parser: PayloadParser) -> Arc<SourceCore> {
        Arc::new(SourceCore {
            link,
            target,
            parser,
            cancel: CancellationToken::new(),
            task: Mutex::new(None),
        })
    }

    /// The source's link.
    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }

    /// Cancelled when the source is asked to stop.
    pub fn cancelled(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Sets the task that runs the source.
    pub fn set_task(&self, task: JoinHandle<Result<()>>) {
        *self.task.lock() = Some(task);
    }

    /// Parses one message, counting a refusal.
    pub fn parse(&self, bytes: &[u8], origin: Option<&str>) -> Parsed {
        self.link.count_messages(1);
        match self.parser.parse(bytes, origin) {
            Ok(evs) => Parsed::Events(evs),
            Err(e) => self.reject(e),
        }
    }

    /// Parses one message given as a decoded map, counting a refusal.
    pub fn parse_value(&self, value: &crate::codec::Value, origin: Option<&str>) -> Parsed {
        self.link.count_messages(1);
        match self.parser.parse_value(value, origin) {
            Ok(evs) => Parsed::Events(evs),
            Err(e) => self.reject(e),
        }
    }

    fn reject(&self, e: Error) -> Parsed {
        self.link.count_rejected(e.code());
        Parsed::Rejected(e.code(), e.to_string())
    }

    /// Hands `events` to the target, retrying with backoff while it refuses (a full sink, a closed
    /// hub). `Err(closed)` when the source was stopped before the target took them: the caller must not
    /// acknowledge.
    pub async fn deliver(&self, events: Vec<Event>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let n = events.len() as u64;
        let mut backoff = Backoff::connector();
        loop {
            match self.target.ingest(events.clone()) {
                Ok(_) => {
                    self.link.count_events(n);
                    return Ok(());
                }
                Err(e) if e.code() == "invalid_input" => {
                    // Parsed events the target still refuses (its own rules): counted, never retried.
                    self.link.count_rejected(e.code());
                    return Ok(());
                }
                Err(_) => {
                    self.link.count_retry();
                    let wait = backoff.next_wait().max(Duration::from_millis(1));
                    tokio::select! {
                        _ = self.cancel.cancelled() => return Err(Error::Closed),
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// Hands one ordered partition's `events` (with their offsets; `next` is the position after the
    /// batch) to the target, retrying like [`deliver`](SourceCore::deliver); returns how far the
    /// partition may be committed (see [`Ingest::ingest_partition`]).
    pub async fn deliver_partition(
        &self,
        partition: &str,
        events: Vec<(i64, Event)>,
        next: i64,
    ) -> Result<Option<i64>> {
        let n = events.len() as u64;
        let mut backoff = Backoff::connector();
        loop {
            match self
                .target
                .ingest_partition(partition, events.clone(), next)
            {
                Ok(settled) => {
                    self.link.count_events(n);
                    return Ok(settled);
                }
                Err(e) if e.code() == "invalid_input" => {
                    self.link.count_rejected(e.code());
                    return Ok(Some(next));
                }
                Err(_) => {
                    self.link.count_retry();
                    let wait = backoff.next_wait().max(Duration::from_millis(1));
                    tokio::select! {
                        _ = self.cancel.cancelled() => return Err(Error::Closed),
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// The target events go to (for rebalance callbacks).
    pub fn target(&self) -> &Arc<dyn Ingest> {
        &self.target
    }

    /// Waits `wait`, or less when stopped: `false` once stopped.
    pub async fn pause(&self, wait: Duration) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            _ = tokio::time::sleep(wait) => true,
        }
    }

    /// Stops the source: its task finishes the message in hand (acknowledging what was applied) and
    /// ends, within `timeout` (then it is aborted).
    pub async fn stop(&self, timeout: Duration) -> Result<()> {
        self.cancel.cancel();
        let task = self.task.lock().take();
        let Some(mut task) = task else {
            return Ok(());
        };
        match tokio::time::timeout(timeout, &mut task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(Error::Internal(format!("source task failed: {e}"))),
            Err(_) => {
                task.abort();
                Err(Error::Timeout(timeout))
            }
        }
    }
}
