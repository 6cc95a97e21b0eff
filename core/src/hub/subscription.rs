//! [`Subscription`]: one consumer of a topic — its bounded queue, and the ways to receive from it:
//! non-blocking [`try_recv`](Subscription::try_recv), blocking [`recv_timeout`](Subscription::recv_timeout)
//! (for a binding's thread with its interpreter lock released), `async` [`recv`](Subscription::recv)
//! (any executor; no polling), and a ready callback ([`on_ready`](Subscription::on_ready)) for event loops
//! that cannot block (a Node threadsafe function, Python's `call_soon_threadsafe`).
//!
//! Publishers push shared publications into the queue ([`SubShared::push`]); waiting receivers are woken
//! through an [`event_listener::Event`].

use super::config::{Policy, QueueLimits};
use super::message::Message;
use super::publication::{Publication, Wire};
use super::queue::{Pushed, Queue};
use super::stats::SubscriptionStats;
use super::topic::Topic;
use crate::codec::Format;
use crate::error::{Error, Result};
use event_listener::{Event, Listener};
use parking_lot::Mutex;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A callback run when a subscription's queue goes from empty to non-empty, and when it ends.
///
/// It runs on the publishing thread (never while a hub lock is held): it should only schedule work, for
/// example call a Node threadsafe function or `loop.call_soon_threadsafe`, and then the consumer drains
/// with [`Subscription::try_recv`] until `Ok(None)` or an error.
pub type ReadyCallback = Arc<dyn Fn() + Send + Sync>;

/// Queue and end state of a subscription, under its lock.
struct SubState {
    queue: Queue,
    /// Why the subscription ended: `Closed` (closed by its owner or its topic removed) or the
    /// slow-consumer error. Sticky.
    end: Option<Error>,
    on_ready: Option<ReadyCallback>,
    received: u64,
    dropped: u64,
    conflated: u64,
}

/// What one push did, for the topic's bookkeeping.
#[derive(Default)]
pub(crate) struct Delivery {
    /// The ready callback to run once the topic lock is released.
    pub(crate) wake: Option<ReadyCallback>,
    /// The subscription has ended and must be unregistered.
    pub(crate) ended: bool,
    /// It ended here, because its queue was full under `disconnect` (or its message could not be
    /// encoded).
    pub(crate) disconnected: bool,
    /// Messages dropped by `drop_oldest`.
    pub(crate) dropped: u64,
    /// Messages merged by `conflate`.
    pub(crate) conflated: u64,
}

/// The part of a subscription that its topic holds.
pub(crate) struct SubShared {
    pub(crate) id: u64,
    pub(crate) wire: Wire,
    state: Mutex<SubState>,
    event: Event,
    /// Receivers inside `recv` / `recv_timeout`, counted before the queue check that precedes each
    /// wait (see [`Listening`]). A push notifies `event` only when there is one: `Event::notify`
    /// takes the listener list's own lock every time, ~3% of a 1,000-subscriber fan-out whose
    /// consumers are woken by the ready callback instead (`node bench/hub.js`).
    listening: AtomicUsize,
}

/// A receiver counted in [`SubShared::listening`] while it lives.
///
/// No wake-up is lost: a receiver counts itself before it checks the queue (under the state lock),
/// and a push reads the count after it released that lock; so a receiver that found the queue
/// empty is counted by the time a later push looks.
struct Listening<'a>(&'a AtomicUsize);

impl<'a> Listening<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Listening(count)
    }
}

impl Drop for Listening<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SubShared {
    pub(crate) fn new(id: u64, limits: QueueLimits) -> Self {
        SubShared {
            id,
            wire: limits.wire,
            state: Mutex::new(SubState {
                queue: Queue::new(limits),
                end: None,
                on_ready: None,
                received: 0,
                dropped: 0,
                conflated: 0,
            }),
            event: Event::new(),
            listening: AtomicUsize::new(0),
        }
    }

    /// Wakes the receivers waiting in `recv` / `recv_timeout` (up to `n`), if any.
    fn notify(&self, n: usize) {
        if self.listening.load(Ordering::SeqCst) > 0 {
            self.event.notify(n);
        }
    }

    /// Queues the first messages of a new subscription (checked against the caps by the caller).
    pub(crate) fn push_initial(&self, items: &[Arc<Publication>]) -> Result<()> {
        let mut st = self.state.lock();
        for p in items {
            st.queue.push_unchecked(p.clone())?;
        }
        Ok(())
    }

    /// Replaces everything queued with `p` (a `recovered: false` snapshot that supersedes them: the
    /// cluster mirror lost its place in the shared history). Returns the ready callback to run, if the
    /// queue was empty.
    pub(crate) fn replace_with(&self, p: &Arc<Publication>) -> Result<Option<ReadyCallback>> {
        let mut st = self.state.lock();
        if st.end.is_some() {
            return Ok(None);
        }
        let was_empty = st.queue.is_empty();
        st.queue.clear();
        st.queue.push_unchecked(p.clone())?;
        let wake = if was_empty { st.on_ready.clone() } else { None };
        drop(st);
        self.notify(1);
        Ok(wake)
    }

    /// Pushes one live publication, applying the policy.
    pub(crate) fn push(&self, p: &Arc<Publication>) -> Delivery {
        let mut st = self.state.lock();
        if st.end.is_some() {
            return Delivery {
                ended: true,
                ..Delivery::default()
            };
        }
        let was_empty = st.queue.is_empty();
        let outcome = st.queue.push(p);
        match outcome {
            Ok(Pushed::Queued { dropped, conflated }) => {
                st.dropped += dropped;
                st.conflated += conflated;
                let wake = if was_empty { st.on_ready.clone() } else { None };
                drop(st);
                self.notify(1);
                Delivery {
                    wake,
                    dropped,
                    conflated,
                    ..Delivery::default()
                }
            }
            Ok(Pushed::Overflow) => {
                drop(st);
                Delivery {
                    wake: self.end(Error::SlowConsumer, false),
                    ended: true,
                    disconnected: true,
                    ..Delivery::default()
                }
            }
            Err(e) => {
                drop(st);
                Delivery {
                    wake: self.end(e, false),
                    ended: true,
                    disconnected: true,
                    ..Delivery::default()
                }
            }
        }
    }

    /// Ends the subscription with `reason`, emptying the queue unless `keep_queue`, and wakes every
    /// receiver. Returns the ready callback to run, or `None` if the subscription had already ended (the
    /// first reason stays).
    pub(crate) fn end(&self, reason: Error, keep_queue: bool) -> Option<ReadyCallback> {
        let wake = {
            let mut st = self.state.lock();
            if !keep_queue {
                st.queue.clear();
            }
            if st.end.is_some() {
                return None;
            }
            st.end = Some(reason);
            st.on_ready.clone()
        };
        self.notify(usize::MAX);
        wake
    }
}

/// A subscriber of one dashboard. Dropping it (or [`close`](Subscription::close)) unsubscribes.
///
/// Receiving yields, in order: the first messages (a snapshot, or a `recovered` header and the missed
/// updates), then live updates as the policy lets them through. When the subscription has ended,
/// [`try_recv`](Subscription::try_recv) and [`recv_timeout`](Subscription::recv_timeout) fail with
/// `closed` (after the queued messages, when the topic was removed) or `slow_consumer`, and
/// [`recv`](Subscription::recv) returns `Ok(None)` for `closed`.
pub struct Subscription {
    shared: Arc<SubShared>,
    topic: Arc<Topic>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("dashboard", &self.dashboard())
            .field("id", &self.shared.id)
            .field("wire", &self.shared.wire)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(shared: Arc<SubShared>, topic: Arc<Topic>) -> Self {
        Subscription { shared, topic }
    }

    /// The dashboard this subscription follows.
    pub fn dashboard(&self) -> &str {
        self.topic.name()
    }

    /// The wire format whose bytes the queue counts (and that [`Message::wire`] finds pre-encoded).
    pub fn format(&self) -> Format {
        self.shared.wire.format
    }

    /// The format and gzip setting of this subscriber's bytes ([`Message::wire`] finds them pre-encoded).
    pub fn wire(&self) -> Wire {
        self.shared.wire
    }

    /// The slow-consumer policy.
    pub fn policy(&self) -> Policy {
        self.shared.state.lock().queue.limits().policy
    }

    /// The next message if one is queued: `Ok(None)` when none is; `Err(closed)` or `Err(slow_consumer)`
    /// once the subscription has ended and its queue is drained.
    pub fn try_recv(&self) -> Result<Option<Message>> {
        let mut st = self.shared.state.lock();
        if let Some(p) = st.queue.pop() {
            st.received += 1;
            return Ok(Some(Message::new(p)));
        }
        match &st.end {
            Some(reason) => Err(reason.clone()),
            None => Ok(None),
        }
    }

    /// Up to `max` queued messages at once (one lock): an empty list when none is queued; errors as
    /// [`try_recv`](Subscription::try_recv) once the subscription has ended and its queue is drained.
    /// Meant for a ready callback's consumer, which drains everything per wake-up.
    pub fn try_recv_many(&self, max: usize) -> Result<Vec<Message>> {
        let mut st = self.shared.state.lock();
        let n = st.queue.len().min(max);
        if n == 0 {
            return match &st.end {
                Some(reason) if max > 0 => Err(reason.clone()),
                _ => Ok(Vec::new()),
            };
        }
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match st.queue.pop() {
                Some(p) => out.push(Message::new(p)),
                None => break,
            }
        }
        st.received += out.len() as u64;
        Ok(out)
    }

    /// Waits up to `timeout` for the next message: `Ok(None)` when the time is up; errors as
    /// [`try_recv`](Subscription::try_recv). Blocks the calling thread (release any interpreter lock).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Message>> {
        if let Some(m) = self.try_recv()? {
            return Ok(Some(m));
        }
        let deadline = Instant::now().checked_add(timeout);
        let _counted = Listening::new(&self.shared.listening);
        loop {
            let listener = self.shared.event.listen();
            if let Some(m) = self.try_recv()? {
                return Ok(Some(m));
            }
            let notified = match deadline {
                Some(d) => listener.wait_deadline(d).is_some(),
                None => {
                    listener.wait();
                    true
                }
            };
            if !notified {
                return self.try_recv();
            }
        }
    }

    /// Waits for the next message without blocking a thread: `Ok(None)` once the subscription is closed
    /// and drained; `Err(slow_consumer)` when it was disconnected. Cancel-safe.
    pub async fn recv(&self) -> Result<Option<Message>> {
        loop {
            if let Some(out) = self.ready() {
                return out;
            }
            let counted = Listening::new(&self.shared.listening);
            let listener = self.shared.event.listen();
            if let Some(out) = self.ready() {
                return out;
            }
            listener.await;
            drop(counted);
        }
    }

    /// The outcome of `recv` if there is one now.
    fn ready(&self) -> Option<Result<Option<Message>>> {
        match self.try_recv() {
            Ok(Some(m)) => Some(Ok(Some(m))),
            Ok(None) => None,
            Err(Error::Closed) => Some(Ok(None)),
            Err(e) => Some(Err(e)),
        }
    }

    /// Runs `f` whenever the queue goes from empty to non-empty and when the subscription ends; runs it
    /// once right away if a message is already queued or the subscription has ended. Replaces any
    /// previous callback. See [`ReadyCallback`] for the contract.
    pub fn on_ready<F: Fn() + Send + Sync + 'static>(&self, f: F) {
        let cb: ReadyCallback = Arc::new(f);
        let call_now = {
            let mut st = self.shared.state.lock();
            st.on_ready = Some(cb.clone());
            !st.queue.is_empty() || st.end.is_some()
        };
        if call_now {
            cb();
        }
    }

    /// Removes the ready callback.
    pub fn clear_on_ready(&self) {
        self.shared.state.lock().on_ready = None;
    }

    /// Unsubscribes: the queue is emptied, receivers wake up and see the end (`closed`), the ready
    /// callback runs once, and the topic's subscriber count goes down. Idempotent.
    pub fn close(&self) {
        let wake = self.shared.end(Error::Closed, false);
        self.topic.unsubscribe(&self.shared);
        if let Some(wake) = wake {
            wake();
        }
    }

    /// True when a receive would not come back empty: a message is queued, or the subscription has
    /// ended (the receive reports how). An event loop's consumer asks this before deciding to wait.
    pub fn is_ready(&self) -> bool {
        let st = self.shared.state.lock();
        !st.queue.is_empty() || st.end.is_some()
    }

    /// Receivers counted as waiting (tests).
    #[cfg(test)]
    pub(crate) fn listening(&self) -> usize {
        self.shared.listening.load(Ordering::SeqCst)
    }

    /// True once the subscription has ended (closed, topic removed, or disconnected as slow).
    pub fn is_closed(&self) -> bool {
        self.shared.state.lock().end.is_some()
    }

    /// Queue figures and policy counters of this subscription.
    pub fn stats(&self) -> SubscriptionStats {
        let st = self.shared.state.lock();
        SubscriptionStats {
            queued_messages: st.queue.len(),
            queued_bytes: st.queue.bytes(),
            peak_messages: st.queue.peak_messages(),
            peak_bytes: st.queue.peak_bytes(),
            received: st.received,
            dropped: st.dropped,
            conflated: st.conflated,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.close();
    }
}
