//! Python face of `dashfeed::clock`: `ManualClock`, a test clock that breakers, limiters, aggregators and
//! hubs can be built on (`clock=`), moved only by `advance`.

use dashfeed::clock::{ManualClock, SharedClock, SystemClock};
use pyo3::prelude::*;
use std::time::Duration;

/// A monotonic clock that moves only when told to (for deterministic tests and replays).
#[pyclass(module = "dashfeed", name = "ManualClock", frozen)]
pub struct PyManualClock {
    inner: ManualClock,
}

#[pymethods]
impl PyManualClock {
    #[new]
    fn new() -> Self {
        PyManualClock {
            inner: ManualClock::new(),
        }
    }

    /// Moves the clock forward by `seconds`.
    fn advance(&self, seconds: f64) -> PyResult<()> {
        let d = Duration::try_from_secs_f64(seconds).map_err(|_| {
            crate::error::to_py(dashfeed::Error::invalid(
                "advance needs a finite, non-negative number of seconds",
            ))
        })?;
        self.inner.advance(d);
        Ok(())
    }

    /// Moves the clock forward by `ms` milliseconds.
    fn advance_ms(&self, ms: u64) {
        self.inner.advance_ms(ms);
    }

    /// Milliseconds since the clock was made.
    #[getter]
    fn now_ms(&self) -> u64 {
        use dashfeed::clock::Clock;
        self.inner.now_ms()
    }
}

/// The clock for a new core object: the given `ManualClock`, or the system's monotonic clock.
pub fn shared(clock: Option<&Bound<'_, PyManualClock>>) -> SharedClock {
    match clock {
        Some(c) => c.get().inner.shared(),
        None => SystemClock::shared(),
    }
}

/// Adds `ManualClock` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyManualClock>()
}
