//! Breaker events ([`BreakerEvent`]) and the listener registry.
//!
//! Listeners are kept in an immutable `Arc<[..]>` that registration replaces (copy on write). Emitting
//! takes a snapshot of that list under a short read lock, releases the lock, then calls each listener,
//! so a listener may itself register or remove listeners or call the breaker without deadlocking. When
//! no listener is registered, emitting costs one relaxed atomic load.

use super::state::State;
use parking_lot::RwLock;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why a call counted as a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The call reported a failure.
    Error,
    /// The call took longer than `slow_call_duration`.
    Slow,
    /// The call timed out (reported as such, or took at least `timeout`).
    Timeout,
}

impl FailureKind {
    /// Stable name: `"error"`, `"slow"` or `"timeout"`.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Error => "error",
            FailureKind::Slow => "slow",
            FailureKind::Timeout => "timeout",
        }
    }
}

/// Something a breaker did, passed to every listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerEvent {
    /// The state changed (each transition is emitted once, by the thread that made it).
    StateChange {
        /// State before.
        from: State,
        /// State after.
        to: State,
    },
    /// A call was rejected.
    Rejected {
        /// State that rejected it (`Open`, or `HalfOpen` with every trial slot taken).
        state: State,
        /// The `retry_after` of the returned `circuit_open` error.
        retry_after: Duration,
    },
    /// A call succeeded.
    Success {
        /// Its reported duration.
        duration: Duration,
    },
    /// A call counted as a failure.
    Failure {
        /// Its reported duration.
        duration: Duration,
        /// Why it is a failure.
        kind: FailureKind,
    },
    /// A call was ignored (excluded error, or its permit was dropped without a report).
    Ignored,
}

impl BreakerEvent {
    /// Stable name: `"state_change"`, `"rejected"`, `"success"`, `"failure"` or `"ignored"`.
    pub fn name(&self) -> &'static str {
        match self {
            BreakerEvent::StateChange { .. } => "state_change",
            BreakerEvent::Rejected { .. } => "rejected",
            BreakerEvent::Success { .. } => "success",
            BreakerEvent::Failure { .. } => "failure",
            BreakerEvent::Ignored => "ignored",
        }
    }
}

/// Handle returned by `add_listener`, used to remove the listener again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

impl From<ListenerId> for u64 {
    /// The id as a number, for bindings that hand it to their users.
    fn from(id: ListenerId) -> u64 {
        id.0
    }
}

impl From<u64> for ListenerId {
    /// Rebuilds an id that a binding handed out (an unknown id simply matches no listener).
    fn from(id: u64) -> ListenerId {
        ListenerId(id)
    }
}

/// A listener callback.
pub type Listener = Arc<dyn Fn(&BreakerEvent) + Send + Sync>;

type List = Arc<[(ListenerId, Listener)]>;

/// The registry of listeners of one breaker.
pub(crate) struct Listeners {
    any: AtomicBool,
    next_id: AtomicU64,
    list: RwLock<List>,
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("count", &self.list.read().len())
            .finish()
    }
}

impl Default for Listeners {
    fn default() -> Self {
        Listeners {
            any: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            list: RwLock::new(Arc::from(Vec::new())),
        }
    }
}

impl Listeners {
    /// Registers `f`.
    pub(crate) fn add(&self, f: Listener) -> ListenerId {
        let id = ListenerId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut list = self.list.write();
        let mut next: Vec<(ListenerId, Listener)> = list.iter().cloned().collect();
        next.push((id, f));
        *list = Arc::from(next);
        self.any.store(true, Ordering::Release);
        id
    }

    /// Removes the listener `id`; false if it was not registered.
    pub(crate) fn remove(&self, id: ListenerId) -> bool {
        let mut list = self.list.write();
        if !list.iter().any(|(i, _)| *i == id) {
            return false;
        }
        let next: Vec<(ListenerId, Listener)> =
            list.iter().filter(|(i, _)| *i != id).cloned().collect();
        self.any.store(!next.is_empty(), Ordering::Release);
        *list = Arc::from(next);
        true
    }

    /// Whether any listener is registered (cheap; may be momentarily stale).
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// Calls every listener with the event built by `make`, outside the registry's lock.
    #[inline]
    pub(crate) fn emit(&self, make: impl FnOnce() -> BreakerEvent) {
        if !self.active() {
            return;
        }
        let snapshot = self.list.read().clone();
        let event = make();
        for (_, f) in snapshot.iter() {
            f(&event);
        }
    }
}
