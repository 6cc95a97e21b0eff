//! Permits: what `acquire` hands out, and how the caller reports the call's [`Outcome`].
//!
//! A permit must be settled once with `success`, `failure`, `timeout`, `ignore` or `report`. A permit
//! dropped without a report counts as **ignored**: it frees its half-open trial slot and changes no
//! failure count (a panic or a cancelled future says nothing about the guarded dependency).

use super::circuit::{CircuitBreaker, Ticket};
use super::guard::{Answer, CallEnd, Guard};
use std::sync::Arc;
use std::time::Duration;

/// The outcome of a guarded call, as reported by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call succeeded. It still counts as a failure if it was slow or took at least `timeout`.
    Success,
    /// The call failed with an error that counts.
    Failure,
    /// The call timed out (a failure, counted in `timeouts`).
    Timeout,
    /// The call failed with an excluded error, or its result says nothing about the dependency: not
    /// counted either way.
    Ignored,
}

impl Outcome {
    /// Stable name: `"success"`, `"failure"`, `"timeout"` or `"ignored"`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Timeout => "timeout",
            Outcome::Ignored => "ignored",
        }
    }
}

/// Permission for one call, borrowed from the breaker (the cheapest form: no reference counting).
#[must_use = "report the call's outcome; a dropped permit counts as ignored"]
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    ticket: Ticket,
    settled: bool,
}

impl<'a> Permit<'a> {
    pub(crate) fn new(breaker: &'a CircuitBreaker, ticket: Ticket) -> Self {
        Permit {
            breaker,
            ticket,
            settled: false,
        }
    }

    /// Whether this permit is a half-open trial call.
    pub fn is_trial(&self) -> bool {
        self.ticket.trial
    }

    /// Reports `outcome` for a call that took `duration`.
    pub fn report(mut self, outcome: Outcome, duration: Duration) {
        self.settled = true;
        self.breaker.finish(self.ticket, outcome, duration);
    }

    /// Settles a guarded call that ended as `end` after `duration`: reports the outcome
    /// [`Guard::ended`] decides and returns the caller's answer.
    pub fn settle(self, guard: Guard, end: CallEnd, duration: Duration) -> Answer {
        let (outcome, answer) = guard.ended(end, self.breaker.config().timeout);
        self.report(outcome, duration);
        answer
    }

    /// Reports a success that took `duration`.
    pub fn success(self, duration: Duration) {
        self.report(Outcome::Success, duration);
    }

    /// Reports a failure that took `duration`.
    pub fn failure(self, duration: Duration) {
        self.report(Outcome::Failure, duration);
    }

    /// Reports a timeout after `duration`.
    pub fn timeout(self, duration: Duration) {
        self.report(Outcome::Timeout, duration);
    }

    /// Reports an ignored call (excluded error).
    pub fn ignore(self) {
        self.report(Outcome::Ignored, Duration::ZERO);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker
                .finish(self.ticket, Outcome::Ignored, Duration::ZERO);
        }
    }
}

/// Permission for one call that owns a reference to the breaker, for callers that cannot borrow
/// (async bindings, permits held across `await`). It also remembers when it was granted, on the
/// breaker's clock, so that [`elapsed`](OwnedPermit::elapsed) gives the call's duration.
#[must_use = "report the call's outcome; a dropped permit counts as ignored"]
#[derive(Debug)]
pub struct OwnedPermit {
    breaker: Arc<CircuitBreaker>,
    ticket: Ticket,
    started_nanos: u64,
    settled: bool,
}

impl OwnedPermit {
    pub(crate) fn new(breaker: Arc<CircuitBreaker>, ticket: Ticket, started_nanos: u64) -> Self {
        OwnedPermit {
            breaker,
            ticket,
            started_nanos,
            settled: false,
        }
    }

    /// Whether this permit is a half-open trial call.
    pub fn is_trial(&self) -> bool {
        self.ticket.trial
    }

    /// Time since the permit was granted, on the breaker's clock.
    pub fn elapsed(&self) -> Duration {
        let now = self.breaker.clock().now_nanos();
        Duration::from_nanos(now.saturating_sub(self.started_nanos))
    }

    /// Reports `outcome` for a call that took `duration`.
    pub fn report(mut self, outcome: Outcome, duration: Duration) {
        self.settled = true;
        self.breaker.finish(self.ticket, outcome, duration);
    }

    /// Reports `outcome` with the duration measured since the permit was granted.
    pub fn report_elapsed(self, outcome: Outcome) {
        let d = self.elapsed();
        self.report(outcome, d);
    }

    /// Settles a guarded call that ended as `end`, timed since the permit was granted: reports the
    /// outcome [`Guard::ended`] decides and returns the caller's answer.
    pub fn settle(self, guard: Guard, end: CallEnd) -> Answer {
        let (outcome, answer) = guard.ended(end, self.breaker.config().timeout);
        self.report_elapsed(outcome);
        answer
    }

    /// Reports a success that took `duration`.
    pub fn success(self, duration: Duration) {
        self.report(Outcome::Success, duration);
    }

    /// Reports a failure that took `duration`.
    pub fn failure(self, duration: Duration) {
        self.report(Outcome::Failure, duration);
    }

    /// Reports a timeout after `duration`.
    pub fn timeout(self, duration: Duration) {
        self.report(Outcome::Timeout, duration);
    }

    /// Reports an ignored call (excluded error).
    pub fn ignore(self) {
        self.report(Outcome::Ignored, Duration::ZERO);
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker
                .finish(self.ticket, Outcome::Ignored, Duration::ZERO);
        }
    }
}
