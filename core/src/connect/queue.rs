//! [`SinkQueue`]: the bounded buffer between the hub and one sink's writer task.
//!
//! Bounded by records and by bytes (each record's [`Record::weight`]). The hub asks
//! [`has_room`](SinkQueue::has_room) before it applies a publication and refuses it with
//! `slow_consumer` when a sink is full, so a record is never dropped after its publication was made:
//! the refusal travels back to the source (which retries and does not acknowledge) or to the caller.
//! The writer takes batches ([`next_batch`](SinkQueue::next_batch)) and keeps a batch until the broker
//! accepted it.

use super::record::Record;
use crate::error::{Error, Result};
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::VecDeque;
use tokio::sync::Notify;

/// Bounds of a sink's queue and the size of its write batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Most records waiting. Default 10 000.
    pub max_records: usize,
    /// Most bytes waiting (by [`Record::weight`]). Default 16 MiB.
    pub max_bytes: usize,
    /// Most records per write (one pipelined round trip or one produce batch). Default 1 000.
    pub batch: usize,
    /// How long the writer waits after a batch's first record for more to join it (fewer, larger
    /// writes; like Kafka's `linger.ms`). A full batch, a flush or a close does not wait. Default 5.
    pub linger_ms: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_records: 10_000,
            max_bytes: 16 << 20,
            batch: 1_000,
            linger_ms: 5,
        }
    }
}

impl QueueConfig {
    /// `invalid_input` unless every bound is at least 1.
    pub fn validate(&self) -> Result<()> {
        if self.max_records == 0 || self.max_bytes == 0 || self.batch == 0 {
            return Err(Error::invalid(
                "queue max_records, max_bytes and batch must be at least 1",
            ));
        }
        if self.linger_ms > 10_000 {
            return Err(Error::invalid("queue linger_ms must be at most 10000"));
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Inner {
    records: VecDeque<(Record, usize)>,
    bytes: usize,
    closed: bool,
    /// Set by `hurry`: the next batch is taken without lingering.
    hurry: bool,
    /// Records of the batch the writer took and has not finished writing ([`SinkQueue::done`]).
    taken: usize,
}

/// A bounded multi-producer, single-consumer queue of records.
#[derive(Debug)]
pub struct SinkQueue {
    config: QueueConfig,
    inner: Mutex<Inner>,
    ready: Notify,
}

impl SinkQueue {
    /// An empty queue with these bounds.
    pub fn new(config: QueueConfig) -> Result<Self> {
        config.validate()?;
        Ok(SinkQueue {
            config,
            inner: Mutex::new(Inner::default()),
            ready: Notify::new(),
        })
    }

    /// The bounds.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Whether one more record fits: `slow_consumer` when full, `closed` after [`close`](SinkQueue::close).
    pub fn has_room(&self) -> Result<()> {
        let q = self.inner.lock();
        if q.closed {
            return Err(Error::Closed);
        }
        if q.records.len() >= self.config.max_records || q.bytes >= self.config.max_bytes {
            return Err(Error::SlowConsumer);
        }
        Ok(())
    }

    /// Queues `record` after [`has_room`](SinkQueue::has_room) said yes. Publishers racing past the
    /// check may overshoot the bounds by one record each; the next check refuses.
    pub fn push(&self, record: Record) {
        let w = record.weight();
        {
            let mut q = self.inner.lock();
            if q.closed {
                return;
            }
            q.bytes += w;
            q.records.push_back((record, w));
            // The writer waits for the first record, then lingers: wake it again only once full.
            let n = q.records.len();
            let full = n == self.config.batch.min(self.config.max_records)
                || q.bytes >= self.config.max_bytes;
            if n != 1 && !full {
                return;
            }
        }
        self.ready.notify_one();
    }

    /// Ends the current linger: the writer takes what is queued now (what `flush` does). Nothing
    /// to do when nothing is queued.
    pub fn hurry(&self) {
        {
            let mut q = self.inner.lock();
            if q.records.is_empty() {
                return;
            }
            q.hurry = true;
        }
        self.ready.notify_one();
    }

    /// Whether [`close`](SinkQueue::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().closed
    }

    /// Records waiting plus those of the batch being written, read under one lock (a record is
    /// never in neither).
    pub fn pending(&self) -> usize {
        let q = self.inner.lock();
        q.records.len() + q.taken
    }

    /// The writer finished the batch it took (written, or given up at shutdown).
    pub fn done(&self) {
        self.inner.lock().taken = 0;
    }

    /// Records and bytes waiting.
    pub fn len(&self) -> (usize, usize) {
        let q = self.inner.lock();
        (q.records.len(), q.bytes)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.inner.lock().records.is_empty()
    }

    /// Waits for records and takes up to `batch` of them, oldest first, once the batch is full or
    /// `linger_ms` after its first record (at once when closing or [`hurry`](SinkQueue::hurry)ing).
    /// `None` once the queue is closed and empty.
    pub async fn next_batch(&self) -> Option<Vec<Record>> {
        let mut due: Option<tokio::time::Instant> = None;
        loop {
            let notified = self.ready.notified();
            let linger_until = {
                let mut q = self.inner.lock();
                if q.records.is_empty() {
                    if q.closed {
                        return None;
                    }
                    None
                } else {
                    let now = tokio::time::Instant::now();
                    let until = *due.get_or_insert(
                        now + std::time::Duration::from_millis(self.config.linger_ms),
                    );
                    let full = q.records.len() >= self.config.batch.min(self.config.max_records)
                        || q.bytes >= self.config.max_bytes;
                    if full || q.closed || q.hurry || now >= until {
                        q.hurry = false;
                        return Some(self.take(&mut q));
                    }
                    Some(until)
                }
            };
            match linger_until {
                Some(until) => {
                    let _ = tokio::time::timeout_at(until, notified).await;
                }
                None => notified.await,
            }
        }
    }

    /// Takes up to `batch` records, oldest first.
    fn take(&self, q: &mut Inner) -> Vec<Record> {
        let n = q.records.len().min(self.config.batch);
        q.taken = n;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            if let Some((r, w)) = q.records.pop_front() {
                q.bytes -= w;
                out.push(r);
            }
        }
        out
    }

    /// Refuses new records; the writer drains what is queued, then [`next_batch`] ends.
    ///
    /// [`next_batch`]: SinkQueue::next_batch
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.ready.notify_waiters();
        self.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Value;
    use std::sync::Arc;

    fn rec(seq: u64) -> Record {
        Record {
            dashboard: Arc::from("d"),
            epoch: Arc::from("e"),
            seq,
            ts_ms: 0,
            data: Arc::new(Value::Map(vec![("cpu".into(), Value::Float(1.0))])),
        }
    }

    #[tokio::test]
    async fn full_queue_refuses_with_slow_consumer_and_drains_in_order() {
        let q = SinkQueue::new(QueueConfig {
            max_records: 3,
            max_bytes: 1 << 20,
            batch: 2,
            linger_ms: 5,
        })
        .unwrap();
        for s in 1..=3 {
            q.has_room().unwrap();
            q.push(rec(s));
        }
        assert_eq!(q.has_room().unwrap_err().code(), "slow_consumer");
        let b = q.next_batch().await.unwrap();
        assert_eq!(b.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2]);
        q.has_room().unwrap();
        q.close();
        assert_eq!(q.has_room().unwrap_err().code(), "closed");
        assert_eq!(q.next_batch().await.unwrap()[0].seq, 3);
        assert!(q.next_batch().await.is_none());
    }

    #[test]
    fn bounds_are_checked() {
        let ok = QueueConfig::default();
        assert!(ok.validate().is_ok());
        for bad in [
            QueueConfig {
                linger_ms: 10_001,
                ..ok
            },
            QueueConfig { batch: 0, ..ok },
            QueueConfig {
                max_records: 0,
                ..ok
            },
        ] {
            assert_eq!(SinkQueue::new(bad).unwrap_err().code(), "invalid_input");
        }
        assert!(QueueConfig {
            linger_ms: 10_000,
            ..ok
        }
        .validate()
        .is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_writer_lingers_for_a_fuller_batch_unless_full_or_hurried() {
        let q = Arc::new(
            SinkQueue::new(QueueConfig {
                max_records: 100,
                max_bytes: 1 << 20,
                batch: 4,
                linger_ms: 5,
            })
            .unwrap(),
        );
        let t0 = tokio::time::Instant::now();
        q.push(rec(1));
        let later = {
            let q = q.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                q.push(rec(2));
            })
        };
        // One record, then another 2 ms later: both go in one batch taken 5 ms after the first.
        let b = q.next_batch().await.unwrap();
        later.await.unwrap();
        assert_eq!(b.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(t0.elapsed(), std::time::Duration::from_millis(5));
        // A full batch does not wait.
        let t1 = tokio::time::Instant::now();
        for s in 3..=6 {
            q.push(rec(s));
        }
        assert_eq!(q.next_batch().await.unwrap().len(), 4);
        assert_eq!(t1.elapsed(), std::time::Duration::ZERO);
        // Hurried (a flush): what is queued goes at once.
        q.push(rec(7));
        q.hurry();
        assert_eq!(q.next_batch().await.unwrap()[0].seq, 7);
        assert_eq!(t1.elapsed(), std::time::Duration::ZERO);
    }
}
