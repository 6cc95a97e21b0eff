//! Node face of `dashfeed::clock`: `ManualClock`, a test clock that breakers, limiters, aggregators and
//! hubs can be built on, moved only by `advance` / `advanceMs`.

use crate::error::{guard, Code, Result};
use crate::napi::args;
use dashfeed::clock::{Clock, ManualClock as CoreManualClock, SharedClock, SystemClock};
use dashfeed::Error;
use napi::bindgen_prelude::{ClassInstance, FromNapiValue, Unknown};
use napi_derive::napi;
use std::time::Duration;

/// A monotonic clock that moves only when told to (for deterministic tests and replays).
#[napi(js_name = "ManualClock")]
pub struct ManualClock {
    pub(crate) inner: CoreManualClock,
}

#[napi]
impl ManualClock {
    /// A manual clock at 0.
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        ManualClock {
            inner: CoreManualClock::new(),
        }
    }

    /// Moves the clock forward by `seconds`.
    #[napi(catch_unwind)]
    pub fn advance(&self, seconds: f64) -> napi::Result<(), Code> {
        guard(|| {
            let d = Duration::try_from_secs_f64(seconds).map_err(|_| {
                Error::invalid("advance needs a finite, non-negative number of seconds")
            })?;
            self.inner.advance(d);
            Ok(())
        })
    }

    /// Moves the clock forward by `ms` milliseconds.
    #[napi(catch_unwind)]
    pub fn advance_ms(&self, ms: f64) -> napi::Result<(), Code> {
        guard(|| {
            if !(ms.is_finite() && ms >= 0.0) {
                return Err(Error::invalid("advanceMs needs a finite, non-negative number").into());
            }
            self.inner.advance(Duration::from_secs_f64(ms / 1000.0));
            Ok(())
        })
    }

    /// Milliseconds since the clock was made.
    #[napi(getter)]
    pub fn now_ms(&self) -> f64 {
        self.inner.now_nanos() as f64 / 1e6
    }
}

/// The clock for a new core object: the given `ManualClock`, or the system's monotonic clock.
pub fn shared(clock: Option<&ManualClock>) -> SharedClock {
    match clock {
        Some(c) => c.inner.shared(),
        None => SystemClock::shared(),
    }
}

/// The `clock` option: a `ManualClock`, or the system clock for an absent, `undefined` or `null`
/// value; anything else is `invalid_input`.
pub fn read(v: Option<Unknown<'_>>) -> Result<SharedClock> {
    match v {
        Some(v) if !args::nullish(&v)? => {
            let c = ClassInstance::<ManualClock>::from_unknown(v)
                .map_err(|_| args::wrong_type_of(&v, "clock", "a ManualClock"))?;
            Ok(shared(Some(&c)))
        }
        _ => Ok(shared(None)),
    }
}
