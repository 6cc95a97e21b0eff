//! Python face of `dashfeed::limit`: the keyed `RateLimiter` (`check` returns a `RateDecision`;
//! `try_acquire` raises `RateLimitedError`). The package's subclass adds the async `acquire`.

use crate::clock::{shared, PyManualClock};
use crate::error::{to_py, IntoPyResult};
use crate::options::kwargs;
use dashfeed::limit::{LimiterConfig, RateLimiter};
use dashfeed::options::{FromOptions, Style};
use dashfeed::Error;
use pyo3::prelude::*;

/// Whether a call may go ahead now, and if not, how long to wait. True when allowed.
#[pyclass(module = "dashfeed", name = "RateDecision", frozen)]
pub struct PyRateDecision {
    /// True when the call may go ahead now.
    #[pyo3(get)]
    allowed: bool,
    /// Seconds to wait before the call would be allowed (0.0 when allowed).
    #[pyo3(get)]
    retry_after: f64,
}

#[pymethods]
impl PyRateDecision {
    fn __bool__(&self) -> bool {
        self.allowed
    }

    fn __repr__(&self) -> String {
        format!(
            "RateDecision(allowed={}, retry_after={})",
            if self.allowed { "True" } else { "False" },
            self.retry_after
        )
    }
}

/// A rate limiter keyed by client or dashboard: `rate` calls per second with bursts of `burst`.
#[pyclass(module = "dashfeed._native", name = "RateLimiter", subclass, frozen)]
pub struct PyRateLimiter {
    inner: RateLimiter,
}

fn decide(r: dashfeed::Result<()>) -> PyResult<PyRateDecision> {
    match r {
        Ok(()) => Ok(PyRateDecision {
            allowed: true,
            retry_after: 0.0,
        }),
        Err(Error::RateLimited { retry_after }) => Ok(PyRateDecision {
            allowed: false,
            retry_after: retry_after.as_secs_f64(),
        }),
        Err(e) => Err(to_py(e)),
    }
}

#[pymethods]
impl PyRateLimiter {
    #[new]
    #[pyo3(signature = (rate, burst = None, *, clock = None))]
    fn new(
        rate: f64,
        burst: Option<u32>,
        clock: Option<&Bound<'_, PyManualClock>>,
    ) -> PyResult<Self> {
        let config = LimiterConfig::from_value(&kwargs!(rate, burst), Style::PYTHON).py()?;
        let inner = RateLimiter::with_clock(config, shared(clock)).py()?;
        Ok(PyRateLimiter { inner })
    }

    /// Takes one call for `key` if allowed; the decision says how long to wait otherwise.
    fn check(&self, key: &str) -> PyResult<PyRateDecision> {
        decide(self.inner.check(key))
    }

    /// Takes `n` calls at once for `key` (all or nothing); `n` above the burst is `InvalidInputError`.
    fn check_n(&self, key: &str, n: u32) -> PyResult<PyRateDecision> {
        decide(self.inner.check_n(key, n))
    }

    /// Like `check`, but raises `RateLimitedError` (with `.retry_after`) when limited.
    fn try_acquire(&self, key: &str) -> PyResult<()> {
        self.inner.check(key).py()
    }

    /// Drops keys whose budget is full again (they behave as new keys).
    fn retain_recent(&self) {
        self.inner.retain_recent();
    }

    /// Calls per second.
    #[getter]
    fn rate(&self) -> f64 {
        self.inner.config().rate
    }

    /// Calls allowed at once.
    #[getter]
    fn burst(&self) -> u32 {
        self.inner.config().burst
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// Adds `RateLimiter` and `RateDecision` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRateLimiter>()?;
    m.add_class::<PyRateDecision>()
}
