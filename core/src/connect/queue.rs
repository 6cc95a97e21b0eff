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
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_records: 10_000,
            max_bytes: 16 << 20,
            batch: 1_000,
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
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Inner {
    records: VecDeque<(Record, usize)>,
    bytes: usize,
    closed: bool,
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
        }
        self.ready.notify_one();
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

    /// Waits for records and takes up to `batch` of them, oldest first. `None` once the queue is
    /// closed and empty.
    pub async fn next_batch(&self) -> Option<Vec<Record>> {
        loop {
            let notified = self.ready.notified();
            {
                let mut q = self.inner.lock();
                if !q.records.is_empty() {
                    let n = q.records.len().min(self.config.batch);
                    let mut out = Vec::with_capacity(n);
                    for _ in 0..n {
                        if let Some((r, w)) = q.records.pop_front() {
                            q.bytes -= w;
                            out.push(r);
                        }
                    }
                    return Some(out);
                }
                if q.closed {
                    return None;
                }
            }
            notified.await;
        }
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
}
