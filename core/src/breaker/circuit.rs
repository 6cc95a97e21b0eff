//! [`CircuitBreaker`]: admission (`acquire`), outcome reporting and the transitions of the lock-free
//! state machine, on an injectable monotonic clock.
//!
//! Cost of a guarded call in the closed state: `acquire` is one atomic load plus one increment of a
//! per-thread counter stripe; a successful report is one more load and increment (plus the rolling
//! window's atomics when a failure-rate rule is configured). No lock is taken; transitions are single
//! compare-and-swaps on the state word (see `state.rs`), and listeners run after the swap, outside any
//! lock.

use super::config::BreakerConfig;
use super::counters::{BreakerCounters, Counter, Counters};
use super::guard::{CallEnd, Failure, Guard};
use super::listener::{BreakerEvent, FailureKind, Listener, ListenerId, Listeners};
use super::permit::{Outcome, OwnedPermit, Permit};
use super::state::{State, Word};
use super::window::Rolling;
use crate::clock::{SharedClock, SystemClock};
use crate::error::{Error, Result};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const NANOS_PER_MS: u64 = 1_000_000;

/// What a permit remembers: the generation it was granted in and whether it is a half-open trial.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    pub(crate) gen: u32,
    pub(crate) trial: bool,
}

/// How an outcome counts.
#[derive(Debug, Clone, Copy)]
enum Class {
    Success,
    Failure(FailureKind),
    Ignored,
}

/// The state word on its own cache line, away from the read-mostly configuration.
#[derive(Debug)]
#[repr(align(128))]
struct Padded(AtomicU64);

/// A circuit breaker. Share it by reference or in an `Arc`; every method takes `&self`.
pub struct CircuitBreaker {
    word: Padded,
    config: BreakerConfig,
    clock: SharedClock,
    window: Option<Rolling>,
    reset_nanos: u64,
    slow_nanos: u64,
    timeout_nanos: u64,
    counters: Counters,
    listeners: Listeners,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("state", &self.load().state())
            .field("config", &self.config)
            .finish()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl CircuitBreaker {
    /// A breaker on the system's monotonic clock. Errors with `invalid_input` on a bad config.
    pub fn new(config: BreakerConfig) -> Result<Self> {
        Self::with_clock(config, SystemClock::shared())
    }

    /// A breaker on `clock` (a `ManualClock` in tests). Errors with `invalid_input` on a bad config.
    pub fn with_clock(config: BreakerConfig, clock: SharedClock) -> Result<Self> {
        config.validate()?;
        Ok(CircuitBreaker {
            word: Padded(AtomicU64::new(Word::INITIAL.0)),
            window: config
                .failure_rate
                .as_ref()
                .map(|r| Rolling::new(&r.window)),
            reset_nanos: nanos(config.reset_timeout),
            slow_nanos: config.slow_call_duration.map_or(u64::MAX, nanos),
            timeout_nanos: config.timeout.map_or(u64::MAX, nanos),
            config,
            clock,
            counters: Counters::default(),
            listeners: Listeners::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The breaker's clock: bindings measure call durations on it so that a test clock drives them.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    fn load(&self) -> Word {
        Word(self.word.0.load(Ordering::Acquire))
    }

    fn cas(&self, cur: Word, next: Word) -> std::result::Result<(), Word> {
        self.word
            .0
            .compare_exchange(cur.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(Word)
    }

    /// End of the open period that starts at `now_nanos`, in whole ms (rounded up).
    fn until_ms(&self, now_nanos: u64) -> u64 {
        now_nanos
            .saturating_add(self.reset_nanos)
            .div_ceil(NANOS_PER_MS)
    }

    /// Bookkeeping after a successful transition.
    fn entered(&self, from: State, to: State) {
        self.counters.bump(Counter::StateChanges);
        if to == State::Open {
            if let Some(w) = &self.window {
                w.reset();
            }
        }
        if from != to {
            self.listeners
                .emit(|| BreakerEvent::StateChange { from, to });
        }
    }

    /// Moves a due (non-forced) open word to half-open. Returns the word in force afterwards.
    fn promote_if_due(&self, mut cur: Word, now_nanos: u64) -> Word {
        while cur.state() == State::Open
            && !cur.forced()
            && now_nanos >= cur.until_ms().saturating_mul(NANOS_PER_MS)
        {
            let next = Word::half_open(cur.next_gen(), 0, 0);
            match self.cas(cur, next) {
                Ok(()) => {
                    self.entered(State::Open, State::HalfOpen);
                    return next;
                }
                Err(actual) => cur = actual,
            }
        }
        cur
    }

    /// The current state. An open breaker whose reset timeout has elapsed moves to half-open here (and
    /// on the next `acquire`), emitting the transition: there is no background timer.
    pub fn state(&self) -> State {
        let cur = self.load();
        if cur.state() == State::Open && !cur.forced() {
            return self.promote_if_due(cur, self.clock.now_nanos()).state();
        }
        cur.state()
    }

    fn reject(&self, state: State, retry_after: Duration) -> Error {
        self.counters.bump(Counter::Rejections);
        self.listeners
            .emit(|| BreakerEvent::Rejected { state, retry_after });
        Error::CircuitOpen { retry_after }
    }

    /// Admission: a ticket, or the `circuit_open` error.
    fn admit(&self) -> Result<Ticket> {
        let mut cur = self.load();
        loop {
            match cur.state() {
                State::Closed => {
                    self.counters.bump(Counter::Calls);
                    return Ok(Ticket {
                        gen: cur.gen(),
                        trial: false,
                    });
                }
                State::HalfOpen => {
                    if cur.count_a() >= self.config.half_open_max_calls {
                        return Err(self.reject(State::HalfOpen, Duration::ZERO));
                    }
                    let next = Word::half_open(cur.gen(), cur.count_a() + 1, cur.count_b());
                    match self.cas(cur, next) {
                        Ok(()) => {
                            self.counters.bump(Counter::Calls);
                            return Ok(Ticket {
                                gen: cur.gen(),
                                trial: true,
                            });
                        }
                        Err(actual) => cur = actual,
                    }
                }
                State::Open => {
                    if cur.forced() {
                        return Err(self.reject(State::Open, self.config.reset_timeout));
                    }
                    let now = self.clock.now_nanos();
                    let until = cur.until_ms().saturating_mul(NANOS_PER_MS);
                    if now < until {
                        return Err(self.reject(State::Open, Duration::from_nanos(until - now)));
                    }
                    cur = self.promote_if_due(cur, now);
                }
            }
        }
    }

    /// Asks to make a call. `Ok(permit)`: make the call, then report its outcome on the permit.
    /// `Err(Error::CircuitOpen { retry_after })` (code `circuit_open`): do not call. `retry_after` is the
    /// time left until trials start, the reset timeout when forced open, and zero in the half-open
    /// state when every trial slot is taken (a trial is running; its end cannot be known).
    #[inline]
    pub fn acquire(&self) -> Result<Permit<'_>> {
        self.admit().map(|t| Permit::new(self, t))
    }

    /// Like [`acquire`](Self::acquire), with a permit that owns an `Arc` of the breaker and remembers
    /// its start time (for async callers).
    pub fn acquire_owned(self: &Arc<Self>) -> Result<OwnedPermit> {
        let ticket = self.admit()?;
        Ok(OwnedPermit::new(
            Arc::clone(self),
            ticket,
            self.clock.now_nanos(),
        ))
    }

    fn classify(&self, outcome: Outcome, duration: Duration) -> Class {
        let d = nanos(duration);
        match outcome {
            Outcome::Ignored => Class::Ignored,
            Outcome::Timeout => Class::Failure(FailureKind::Timeout),
            _ if d >= self.timeout_nanos => Class::Failure(FailureKind::Timeout),
            _ if d > self.slow_nanos => Class::Failure(FailureKind::Slow),
            Outcome::Success => Class::Success,
            Outcome::Failure => Class::Failure(FailureKind::Error),
        }
    }

    /// Applies a permit's outcome: counters, listeners, then the state machine.
    pub(crate) fn finish(&self, ticket: Ticket, outcome: Outcome, duration: Duration) {
        let class = self.classify(outcome, duration);
        match class {
            Class::Success => {
                self.counters.bump(Counter::Successes);
                self.listeners.emit(|| BreakerEvent::Success { duration });
            }
            Class::Failure(kind) => {
                self.counters.bump(Counter::Failures);
                match kind {
                    FailureKind::Slow => self.counters.bump(Counter::SlowCalls),
                    FailureKind::Timeout => self.counters.bump(Counter::Timeouts),
                    FailureKind::Error => {}
                }
                self.listeners
                    .emit(|| BreakerEvent::Failure { duration, kind });
            }
            Class::Ignored => {
                self.counters.bump(Counter::Ignored);
                self.listeners.emit(|| BreakerEvent::Ignored);
            }
        }
        match (class, ticket.trial) {
            (Class::Ignored, true) => self.release_trial(ticket.gen),
            (Class::Ignored, false) => {}
            (Class::Success, true) => self.trial_success(ticket.gen),
            (Class::Failure(_), true) => self.trial_failure(ticket.gen),
            (Class::Success, false) => self.closed_outcome(ticket.gen, false),
            (Class::Failure(_), false) => self.closed_outcome(ticket.gen, true),
        }
    }

    fn rate_trips(&self, calls: u64, failures: u64) -> bool {
        let Some(rate) = &self.config.failure_rate else {
            return false;
        };
        // Totals read while another writer is mid-update can be momentarily inconsistent: skip them.
        calls >= rate.minimum_calls as u64
            && failures <= calls
            && calls <= u32::MAX as u64
            && failures as f64 / calls as f64 >= rate.threshold
    }

    fn closed_outcome(&self, gen: u32, failed: bool) {
        let mut cur = self.load();
        if cur.state() != State::Closed || cur.gen() != gen {
            return;
        }
        let mut now = None;
        let mut rate_trip = false;
        if let Some(w) = &self.window {
            let t = if w.needs_time() {
                let t = self.clock.now_nanos();
                now = Some(t);
                t
            } else {
                0
            };
            let (calls, failures) = w.record(t, failed);
            rate_trip = self.rate_trips(calls, failures);
        }
        let threshold = self.config.failure_threshold;
        loop {
            if cur.state() != State::Closed || cur.gen() != gen {
                return;
            }
            // With the consecutive rule disabled the count stays 0: no write to the shared word.
            let failures = if failed && threshold != 0 {
                cur.count_a() + 1
            } else {
                0
            };
            let trip = rate_trip || (threshold != 0 && failures >= threshold);
            let next = if trip {
                let t = *now.get_or_insert_with(|| self.clock.now_nanos());
                Word::open(cur.next_gen(), self.until_ms(t), false)
            } else {
                Word::closed(gen, failures)
            };
            if next == cur {
                return;
            }
            match self.cas(cur, next) {
                Ok(()) => {
                    if trip {
                        self.entered(State::Closed, State::Open);
                    }
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    fn trial_success(&self, gen: u32) {
        let mut cur = self.load();
        while cur.state() == State::HalfOpen && cur.gen() == gen {
            let successes = cur.count_b() + 1;
            let closes = successes >= self.config.success_threshold;
            let next = if closes {
                Word::closed(cur.next_gen(), 0)
            } else {
                Word::half_open(gen, cur.count_a().saturating_sub(1), successes)
            };
            match self.cas(cur, next) {
                Ok(()) => {
                    if closes {
                        self.entered(State::HalfOpen, State::Closed);
                    }
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    fn trial_failure(&self, gen: u32) {
        let mut cur = self.load();
        while cur.state() == State::HalfOpen && cur.gen() == gen {
            let next = Word::open(cur.next_gen(), self.until_ms(self.clock.now_nanos()), false);
            match self.cas(cur, next) {
                Ok(()) => {
                    self.entered(State::HalfOpen, State::Open);
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    fn release_trial(&self, gen: u32) {
        let mut cur = self.load();
        while cur.state() == State::HalfOpen && cur.gen() == gen {
            let next = Word::half_open(gen, cur.count_a().saturating_sub(1), cur.count_b());
            match self.cas(cur, next) {
                Ok(()) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Forces the breaker open: every call is rejected (with `retry_after` = the reset timeout) until
    /// [`close`](Self::close) or [`reset`](Self::reset); the reset timeout does not apply.
    pub fn open(&self) {
        let mut cur = self.load();
        loop {
            if cur.state() == State::Open && cur.forced() {
                return;
            }
            let next = if cur.state() == State::Open {
                Word::open(cur.gen(), cur.until_ms(), true)
            } else {
                Word::open(cur.next_gen(), self.until_ms(self.clock.now_nanos()), true)
            };
            match self.cas(cur, next) {
                Ok(()) => {
                    if cur.state() != State::Open {
                        self.entered(cur.state(), State::Open);
                    }
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Closes the breaker from any state and clears its failure counts and rolling window. Permits
    /// granted before still report into the counters, but no longer drive the state machine.
    pub fn close(&self) {
        let mut cur = self.load();
        loop {
            let next = Word::closed(cur.next_gen(), 0);
            match self.cas(cur, next) {
                Ok(()) => break,
                Err(actual) => cur = actual,
            }
        }
        if let Some(w) = &self.window {
            w.reset();
        }
        if cur.state() != State::Closed {
            self.entered(cur.state(), State::Closed);
        }
    }

    /// [`close`](Self::close), then zeroes the [`counters`](Self::counters).
    pub fn reset(&self) {
        self.close();
        self.counters.clear();
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> BreakerCounters {
        self.counters.snapshot()
    }

    /// The failure-rate window's `(calls, failures)` now; `None` without a failure-rate rule.
    pub fn window_totals(&self) -> Option<(u64, u64)> {
        self.window
            .as_ref()
            .map(|w| w.totals(self.clock.now_nanos()))
    }

    /// Registers a listener, called for every [`BreakerEvent`] (transitions, rejections and outcomes)
    /// on the thread that caused it, outside any lock. A listener may register or remove listeners
    /// and call the breaker. Panics in a listener propagate to the caller whose call emitted the event
    /// (after the state change it reports has happened).
    pub fn add_listener(&self, f: impl Fn(&BreakerEvent) + Send + Sync + 'static) -> ListenerId {
        let f: Listener = Arc::new(f);
        self.listeners.add(f)
    }

    /// Removes a listener; `false` if it was not registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.listeners.remove(id)
    }

    /// Runs `f` under the breaker: every `Err` is a failure. See [`call_with`](Self::call_with).
    pub fn call<T, E>(
        &self,
        f: impl FnOnce() -> std::result::Result<T, E>,
    ) -> Result<Result<T, E>> {
        self.call_with(f, |_| false)
    }

    /// Runs `f` under the breaker. Outer `Err`: rejected with `circuit_open`, `f` was not called.
    /// `Ok(result)`: `f` ran and returned `result`, which was reported with the duration measured on
    /// the breaker's clock: `Ok` as a success (a failure if slow or at least `timeout`), an `Err` for
    /// which `is_excluded` is true as ignored, any other `Err` as a failure. If `f` panics the permit
    /// is dropped, which counts as ignored.
    pub fn call_with<T, E>(
        &self,
        f: impl FnOnce() -> std::result::Result<T, E>,
        is_excluded: impl FnOnce(&E) -> bool,
    ) -> Result<Result<T, E>> {
        let permit = self.acquire()?;
        let start = self.clock.now_nanos();
        let result = f();
        let d = Duration::from_nanos(self.clock.now_nanos().saturating_sub(start));
        let end = match &result {
            Ok(_) => CallEnd::Returned,
            Err(e) if is_excluded(e) => CallEnd::Failed(Failure::Excluded),
            Err(_) => CallEnd::Failed(Failure::Counted),
        };
        // Without a fallback the answer is the result itself: the value, or the error unchanged.
        let _answer = permit.settle(Guard::default(), end, d);
        Ok(result)
    }
}
