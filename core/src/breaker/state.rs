//! The breaker's [`State`] and the packed state word that makes the state machine lock-free.
//!
//! The whole machine lives in one `AtomicU64` so that every transition is a single compare-and-swap:
//!
//! ```text
//! bits  0..2   state tag: 0 closed, 1 open, 2 half-open
//! bit   2      forced (manual open(): no timeout, stays open until close()/reset())
//! closed:     bits 3..24  consecutive failures (saturating)
//! half-open:  bits 3..24  trial calls in flight,  bits 24..44  trial successes
//! open:       bits 3..44  time (ms on the breaker's clock) at which trials may start
//! bits 44..64  generation: +1 on every transition
//! ```
//!
//! A permit remembers the generation it was granted in; its outcome only drives the machine while the
//! generation is unchanged, so a call that started before a transition cannot, for example, take or
//! free a half-open trial slot of a later generation.

use std::fmt;

/// Breaker state as seen by callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls pass; failures are counted.
    Closed,
    /// Calls are rejected until the reset timeout elapses (or until `close()` when forced open).
    Open,
    /// A limited number of trial calls pass; successes close the breaker, a failure reopens it.
    HalfOpen,
}

impl State {
    /// The stable name used by the bindings and the vectors: `"closed"`, `"open"` or `"half_open"`.
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const TAG_MASK: u64 = 0b11;
const TAG_CLOSED: u64 = 0;
const TAG_OPEN: u64 = 1;
const TAG_HALF_OPEN: u64 = 2;
const FORCED: u64 = 1 << 2;
const A_SHIFT: u32 = 3;
const A_MAX: u64 = (1 << 21) - 1;
const B_SHIFT: u32 = 24;
const B_MAX: u64 = (1 << 20) - 1;
const T_SHIFT: u32 = 3;
/// Largest representable open-until time in ms (about 69 years of uptime).
pub(crate) const T_MAX: u64 = (1 << 41) - 1;
const GEN_SHIFT: u32 = 44;
const GEN_MASK: u64 = (1 << 20) - 1;

/// The packed state word (see the module docs for the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    /// The initial word: closed, generation 0, no failures.
    pub(crate) const INITIAL: Word = Word(0);

    fn with_gen(gen: u32, rest: u64) -> Word {
        Word(((gen as u64 & GEN_MASK) << GEN_SHIFT) | rest)
    }

    /// Closed with `failures` consecutive failures (saturating).
    pub(crate) fn closed(gen: u32, failures: u32) -> Word {
        Word::with_gen(gen, TAG_CLOSED | ((failures as u64).min(A_MAX) << A_SHIFT))
    }

    /// Open until `until_ms` (saturating), forced or not.
    pub(crate) fn open(gen: u32, until_ms: u64, forced: bool) -> Word {
        let forced = if forced { FORCED } else { 0 };
        Word::with_gen(gen, TAG_OPEN | forced | (until_ms.min(T_MAX) << T_SHIFT))
    }

    /// Half-open with `in_flight` trials running and `successes` trial successes.
    pub(crate) fn half_open(gen: u32, in_flight: u32, successes: u32) -> Word {
        Word::with_gen(
            gen,
            TAG_HALF_OPEN
                | ((in_flight as u64).min(A_MAX) << A_SHIFT)
                | ((successes as u64).min(B_MAX) << B_SHIFT),
        )
    }

    /// The state this word encodes.
    pub(crate) fn state(self) -> State {
        match self.0 & TAG_MASK {
            TAG_CLOSED => State::Closed,
            TAG_OPEN => State::Open,
            _ => State::HalfOpen,
        }
    }

    /// The generation (changes on every transition; wraps at 2^20).
    pub(crate) fn gen(self) -> u32 {
        ((self.0 >> GEN_SHIFT) & GEN_MASK) as u32
    }

    /// The generation after this one.
    pub(crate) fn next_gen(self) -> u32 {
        ((self.gen() as u64 + 1) & GEN_MASK) as u32
    }

    /// Whether the breaker was opened by hand.
    pub(crate) fn forced(self) -> bool {
        self.0 & FORCED != 0
    }

    /// Closed: consecutive failures. Half-open: trials in flight.
    pub(crate) fn count_a(self) -> u32 {
        ((self.0 >> A_SHIFT) & A_MAX) as u32
    }

    /// Half-open: trial successes.
    pub(crate) fn count_b(self) -> u32 {
        ((self.0 >> B_SHIFT) & B_MAX) as u32
    }

    /// Open: the time in ms at which trial calls may start.
    pub(crate) fn until_ms(self) -> u64 {
        (self.0 >> T_SHIFT) & T_MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_without_bleeding_into_each_other() {
        let w = Word::closed(GEN_MASK as u32, u32::MAX);
        assert_eq!(w.state(), State::Closed);
        assert_eq!(w.count_a(), A_MAX as u32);
        assert_eq!(w.count_b(), 0);
        assert_eq!(w.gen(), GEN_MASK as u32);
        assert_eq!(w.next_gen(), 0);

        let w = Word::half_open(7, 1_000_000, 999_999);
        assert_eq!(w.state(), State::HalfOpen);
        assert_eq!((w.count_a(), w.count_b(), w.gen()), (1_000_000, 999_999, 7));
        assert!(!w.forced());

        let w = Word::open(3, u64::MAX, true);
        assert_eq!(w.state(), State::Open);
        assert_eq!((w.until_ms(), w.gen()), (T_MAX, 3));
        assert!(w.forced());
        let w = Word::open(3, 12_345, false);
        assert_eq!(w.until_ms(), 12_345);
        assert!(!w.forced());

        assert_eq!(Word::INITIAL.state(), State::Closed);
        assert_eq!(Word::INITIAL.count_a(), 0);
    }

    #[test]
    fn state_names_are_stable() {
        assert_eq!(State::Closed.name(), "closed");
        assert_eq!(State::Open.to_string(), "open");
        assert_eq!(State::HalfOpen.name(), "half_open");
    }
}
