//! The guarded call's decision, one for every binding: how a call through the breaker ended
//! ([`CallEnd`]) → what the breaker records ([`Outcome`]) and what the caller gets ([`Answer`]).
//!
//! A binding runs what only it can run (the user's function, its error filter, the fallback, a timer)
//! and maps the answer to its language; the rules live here:
//! - rejected (`circuit_open`): the fallback answers if there is one, else the `circuit_open` error;
//! - returned: a success (the core still counts it a failure if slow or at least `timeout` long),
//!   answered with the function's value;
//! - failed with a counted error: a failure, answered by the fallback if there is one, else the
//!   function's own error stands;
//! - failed with an excluded error (or a cancelled call): ignored, and the error stands (no fallback);
//! - failed with an error the fallback may not answer ([`Failure::Fatal`]): a failure, the error stands;
//! - the error filter itself threw: a failure, and the filter's exception is raised;
//! - timed out (the binding's timer fired first): a timeout failure, answered by the fallback if there
//!   is one, else the `timeout` error.
//!
//! ```
//! use dashfeed::breaker::{Answer, BreakerConfig, CallEnd, CircuitBreaker, Failure, Guard};
//! use std::time::Duration;
//!
//! let breaker = CircuitBreaker::new(BreakerConfig::default()).unwrap();
//! let guard = Guard { fallback: true };
//! let permit = breaker.acquire().unwrap();
//! let answer = permit.settle(guard, CallEnd::Failed(Failure::Counted), Duration::from_millis(2));
//! assert_eq!(answer, Answer::Fallback);
//! assert_eq!(breaker.counters().failures, 1);
//! ```

use super::permit::Outcome;
use crate::error::Error;
use std::time::Duration;

/// How a failed call's error counts, as the binding's error filter (excluded classes) said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// A failure; the fallback answers if there is one, else the error stands.
    Counted,
    /// Not counted (an excluded error, or a cancelled call): ignored, the error stands, no fallback.
    Excluded,
    /// A failure that no fallback may answer (Python's `call_async`: a `BaseException` that is not an
    /// `Exception`, such as `KeyboardInterrupt`): the error stands.
    Fatal,
    /// The error filter itself threw: a failure, and the filter's exception is raised.
    FilterThrew,
}

/// How a guarded call that was let through ended, as the binding saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallEnd {
    /// The function returned (or its awaitable resolved).
    Returned,
    /// The function raised (or its awaitable rejected).
    Failed(Failure),
    /// The binding's timer fired before the call finished (the breaker's `timeout`).
    TimedOut,
}

/// What the binding answers the caller with.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The function's value.
    Value,
    /// What `fallback(...args)` returns (or raises).
    Fallback,
    /// The function's own error, unchanged.
    Rethrow,
    /// The exception the error filter threw.
    FilterError,
    /// This core error: `circuit_open` (rejected) or `timeout` (timed out).
    Raise(Error),
}

/// The guarded call's settings that decide answers: whether a fallback is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Guard {
    /// A fallback answers rejected, counted-failed and timed-out calls.
    pub fallback: bool,
}

impl Guard {
    /// The answer to a call the breaker rejected with `err` (the function was not called; the
    /// rejection is already counted).
    pub fn rejected(self, err: Error) -> Answer {
        if self.fallback {
            Answer::Fallback
        } else {
            Answer::Raise(err)
        }
    }

    /// What to record for a call that ended as `end`, and the answer; `timeout` is the breaker's
    /// (the duration the `timeout` error names).
    pub fn ended(self, end: CallEnd, timeout: Option<Duration>) -> (Outcome, Answer) {
        let or_fallback = |otherwise: Answer| {
            if self.fallback {
                Answer::Fallback
            } else {
                otherwise
            }
        };
        match end {
            CallEnd::Returned => (Outcome::Success, Answer::Value),
            CallEnd::Failed(Failure::Counted) => (Outcome::Failure, or_fallback(Answer::Rethrow)),
            CallEnd::Failed(Failure::Excluded) => (Outcome::Ignored, Answer::Rethrow),
            CallEnd::Failed(Failure::Fatal) => (Outcome::Failure, Answer::Rethrow),
            CallEnd::Failed(Failure::FilterThrew) => (Outcome::Failure, Answer::FilterError),
            CallEnd::TimedOut => (
                Outcome::Timeout,
                or_fallback(Answer::Raise(Error::Timeout(timeout.unwrap_or_default()))),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table, with and without a fallback. The shared transcripts
    /// (tests/vectors/breaker/guarded.json) replay the ends every binding can produce; `Fatal` and
    /// `FilterThrew` come from one binding each, so they are pinned here.
    #[test]
    fn every_end_has_one_outcome_and_answer() {
        let t = Some(Duration::from_millis(30));
        let timeout = Answer::Raise(Error::Timeout(Duration::from_millis(30)));
        let failed = CallEnd::Failed;
        let (fallback, rethrow) = (Answer::Fallback, Answer::Rethrow);
        let table = [
            (
                CallEnd::Returned,
                Outcome::Success,
                Answer::Value,
                Answer::Value,
            ),
            (
                failed(Failure::Counted),
                Outcome::Failure,
                rethrow.clone(),
                fallback.clone(),
            ),
            (
                failed(Failure::Excluded),
                Outcome::Ignored,
                rethrow.clone(),
                rethrow.clone(),
            ),
            (
                failed(Failure::Fatal),
                Outcome::Failure,
                rethrow.clone(),
                rethrow,
            ),
            (
                failed(Failure::FilterThrew),
                Outcome::Failure,
                Answer::FilterError,
                Answer::FilterError,
            ),
            (CallEnd::TimedOut, Outcome::Timeout, timeout, fallback),
        ];
        for (end, outcome, bare, with_fallback) in table {
            assert_eq!(
                Guard { fallback: false }.ended(end, t),
                (outcome, bare),
                "{end:?}"
            );
            assert_eq!(
                Guard { fallback: true }.ended(end, t),
                (outcome, with_fallback),
                "{end:?} with a fallback"
            );
        }
        let open = Error::CircuitOpen {
            retry_after: Duration::from_millis(5),
        };
        assert_eq!(
            Guard { fallback: false }.rejected(open.clone()),
            Answer::Raise(open.clone())
        );
        assert_eq!(Guard { fallback: true }.rejected(open), Answer::Fallback);
    }
}
