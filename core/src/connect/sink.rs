//! [`SinkCore`]: what every sink shares — the hub tap that queues publications in a bounded
//! [`SinkQueue`], and the one writer task that takes batches and writes each behind the link's
//! breaker, retrying a failed batch with backoff until the broker takes it (a batch is never dropped
//! while the sink runs). `flush` waits until everything queued is written; `close` flushes within a
//! timeout and reports what could not be written.

use super::backoff::Backoff;
use super::link::Link;
use super::queue::{QueueConfig, SinkQueue};
use super::record::Record;
use crate::error::{Error, Result};
use crate::hub::{Tap, Tapped};
use parking_lot::Mutex;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Writes batches of records to one broker. Implemented by each sink.
pub trait Writer: Send + 'static {
    /// Writes `batch` (in order); an error leaves it to be retried whole.
    fn write<'a>(&'a mut self, batch: &'a [Record])
        -> impl Future<Output = Result<()>> + Send + 'a;
}

/// The shared part of a sink: its link, queue and writer task. It is the hub [`Tap`].
#[derive(Debug)]
pub struct SinkCore {
    link: Arc<Link>,
    queue: Arc<SinkQueue>,
    idle: Notify,
    stopping: AtomicBool,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl SinkCore {
    /// Starts the writer task of a sink on `rt`.
    pub fn start<W: Writer>(
        link: Arc<Link>,
        queue: QueueConfig,
        writer: W,
        rt: &Handle,
    ) -> Result<Arc<SinkCore>> {
        let core = Arc::new(SinkCore {
            link,
            queue: Arc::new(SinkQueue::new(queue)?),
            idle: Notify::new(),
            stopping: AtomicBool::new(false),
            task: Mutex::new(None),
        });
        let task = rt.spawn(run(core.clone(), writer));
        *core.task.lock() = Some(task);
        Ok(core)
    }

    /// The sink's link.
    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }

    /// Whether the sink was closed (it takes no more records).
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// Records and bytes waiting, plus the batch being written.
    pub fn pending(&self) -> usize {
        self.queue.pending()
    }

    /// Queues `record` directly (what the tap does for each publication): `slow_consumer` when full.
    pub fn offer(&self, record: Record) -> Result<()> {
        self.check_room()?;
        self.enqueue(record);
        Ok(())
    }

    fn check_room(&self) -> Result<()> {
        self.queue.has_room().inspect_err(|e| {
            if e.code() == "slow_consumer" {
                self.link.count_full();
            }
        })
    }

    fn enqueue(&self, record: Record) {
        self.queue.push(record);
        self.link.count_events(1);
        let (n, bytes) = self.queue.len();
        self.link.set_queued(n, bytes);
    }

    /// Waits until everything queued so far is written, at most `timeout` (`timeout` error with the
    /// count still pending).
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let idle = self.idle.notified();
            if self.pending() == 0 {
                return Ok(());
            }
            self.queue.hurry(); // no lingering for what a flush waits on
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return Err(Error::Timeout(timeout));
            }
        }
    }

    /// Refuses new records, writes what is queued within `timeout`, and stops the writer. A
    /// `timeout` error when records were left unwritten (the breaker was open or the broker down).
    pub async fn close(&self, timeout: Duration) -> Result<()> {
        self.queue.close();
        let flushed = self.flush(timeout).await;
        self.stopping.store(true, Ordering::Release);
        self.idle.notify_waiters();
        let task = self.task.lock().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        flushed
    }
}

impl Tap for SinkCore {
    fn ready(&self) -> Result<()> {
        self.check_room()
    }

    fn published(&self, p: Tapped<'_>) {
        self.enqueue(Record {
            dashboard: p.dashboard.clone(),
            epoch: p.epoch.clone(),
            seq: p.seq,
            ts_ms: p.ts_ms,
            data: p.data.clone(),
        });
    }
}

async fn run<W: Writer>(core: Arc<SinkCore>, mut writer: W) {
    let mut backoff = Backoff::connector();
    while let Some(batch) = core.queue.next_batch().await {
        let (n, bytes) = core.queue.len();
        core.link.set_queued(n, bytes);
        loop {
            match core.link.call(writer.write(&batch)).await {
                Ok(()) => {
                    core.link.count_messages(batch.len() as u64);
                    backoff.reset();
                    break;
                }
                Err(e) => {
                    if core.stopping.load(Ordering::Acquire) {
                        return;
                    }
                    core.link.count_retry();
                    let wait = match e {
                        Error::CircuitOpen { retry_after } => {
                            retry_after.max(Duration::from_millis(10))
                        }
                        _ => backoff.next_wait(),
                    };
                    tokio::time::sleep(wait).await;
                }
            }
        }
        core.queue.done();
        core.idle.notify_waiters();
    }
    core.idle.notify_waiters();
}
