//! Python face of `dashfeed::breaker`: the native `CircuitBreaker` (`call`, `acquire`, state, counters,
//! listeners) and its `Permit`. The Python package subclasses it to add `call_async` and the decorator
//! (bindings-python/python/dashfeed/breaker.py); the state machine and the guarded call's decision
//! (`dashfeed::breaker::Guard`: what is recorded, and whether the value, the fallback or an error
//! answers) are the core's, for `call` here and `call_async` through `_admit` / `_settle`.

use crate::clock::{shared, PyManualClock};
use crate::error::{secs, to_py, to_py_in, IntoPyResult};
use crate::options::kwargs;
use dashfeed::breaker::{
    Answer, BreakerConfig, BreakerEvent, CallEnd, CircuitBreaker, Failure, Guard, OwnedPermit,
};
use dashfeed::options::{FromOptions, Style};
use dashfeed::Error;
use pyo3::exceptions::asyncio::CancelledError;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn event_dict<'py>(py: Python<'py>, ev: &BreakerEvent) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("type", ev.name())?;
    match ev {
        BreakerEvent::StateChange { from, to } => {
            d.set_item("from", from.name())?;
            d.set_item("to", to.name())?;
        }
        BreakerEvent::Rejected { state, retry_after } => {
            d.set_item("state", state.name())?;
            d.set_item("retry_after", retry_after.as_secs_f64())?;
        }
        BreakerEvent::Success { duration } => d.set_item("duration", duration.as_secs_f64())?,
        BreakerEvent::Failure { duration, kind } => {
            d.set_item("duration", duration.as_secs_f64())?;
            d.set_item("kind", kind.name())?;
        }
        _ => {}
    }
    Ok(d)
}

/// A circuit breaker. See `dashfeed.CircuitBreaker` for the documented Python API.
#[pyclass(module = "dashfeed._native", name = "CircuitBreaker", subclass, frozen)]
pub struct PyCircuitBreaker {
    inner: Arc<CircuitBreaker>,
    /// Exception classes that do not count (a tuple, possibly empty).
    excluded: Py<PyTuple>,
    fallback: Option<Py<PyAny>>,
}

impl PyCircuitBreaker {
    fn elapsed(&self, t0: u64) -> Duration {
        Duration::from_nanos(self.inner.clock().now_nanos().saturating_sub(t0))
    }

    fn guard(&self) -> Guard {
        Guard {
            fallback: self.fallback.is_some(),
        }
    }

    /// How `err` counts, for the core's decision: excluded classes do not. In `call_async`
    /// (`awaited`), a cancelled call does not count either, and a `BaseException` that is not an
    /// `Exception` (`KeyboardInterrupt`, `SystemExit`) counts but no fallback answers it.
    fn failure_of(
        &self,
        py: Python<'_>,
        err: &Bound<'_, PyAny>,
        awaited: bool,
    ) -> PyResult<Failure> {
        if awaited && err.is_instance_of::<CancelledError>() {
            return Ok(Failure::Excluded);
        }
        if awaited && !err.is_instance_of::<PyException>() {
            return Ok(Failure::Fatal);
        }
        Ok(if err.is_instance(self.excluded.bind(py).as_any())? {
            Failure::Excluded
        } else {
            Failure::Counted
        })
    }

    /// Maps the core's answer for `call`: the value, `fallback(*args, **kwargs)`, or an error.
    fn answer(
        &self,
        py: Python<'_>,
        answer: Answer,
        result: PyResult<Bound<'_, PyAny>>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        match (answer, &self.fallback) {
            (Answer::Fallback, Some(fb)) => Ok(fb.bind(py).call(args, kwargs)?.unbind()),
            (Answer::Raise(e), _) => Err(to_py_in(py, e)),
            _ => result.map(Bound::unbind),
        }
    }
}

#[pymethods]
impl PyCircuitBreaker {
    #[new]
    #[pyo3(signature = (*, failure_threshold = 5, reset_timeout = 60.0, half_open_max_calls = 1, success_threshold = 1,
        failure_rate = None, minimum_calls = None, rate_window = None, rate_window_seconds = None, rate_buckets = 10,
        slow_call_duration = None, timeout = None, excluded = None, fallback = None, on_state_change = None,
        clock = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        failure_threshold: u32,
        reset_timeout: f64,
        half_open_max_calls: u32,
        success_threshold: u32,
        failure_rate: Option<f64>,
        minimum_calls: Option<u32>,
        rate_window: Option<u32>,
        rate_window_seconds: Option<f64>,
        rate_buckets: u32,
        slow_call_duration: Option<f64>,
        timeout: Option<f64>,
        excluded: Option<&Bound<'_, PyAny>>,
        fallback: Option<Py<PyAny>>,
        on_state_change: Option<Py<PyAny>>,
        clock: Option<&Bound<'_, PyManualClock>>,
    ) -> PyResult<Self> {
        let options = kwargs!(
            failure_threshold,
            reset_timeout,
            half_open_max_calls,
            success_threshold,
            failure_rate,
            minimum_calls,
            rate_window,
            rate_window_seconds,
            rate_buckets,
            slow_call_duration,
            timeout,
        );
        let config = BreakerConfig::from_value(&options, Style::PYTHON).py()?;
        let inner = CircuitBreaker::with_clock(config, shared(clock)).py()?;
        let excluded = match excluded {
            None => PyTuple::empty(py).unbind(),
            Some(e) if e.is_instance_of::<PyTuple>() => e.cast::<PyTuple>()?.clone().unbind(),
            Some(e) => PyTuple::new(py, [e])?.unbind(),
        };
        if let Some(cb) = on_state_change {
            inner.add_listener(move |ev| {
                if let BreakerEvent::StateChange { from, to } = ev {
                    Python::attach(|py| {
                        if let Err(e) = cb.call1(py, (from.name(), to.name())) {
                            e.write_unraisable(py, Some(cb.bind(py)));
                        }
                    })
                }
            });
        }
        Ok(PyCircuitBreaker {
            inner: Arc::new(inner),
            excluded,
            fallback,
        })
    }

    /// Calls `fn(*args, **kwargs)` through the breaker; raises `CircuitOpenError` without calling it when
    /// open. The exception `fn` raises passes through unchanged.
    #[pyo3(signature = (func, *args, **kwargs))]
    fn call(
        &self,
        py: Python<'_>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let permit = match self.inner.acquire() {
            Ok(p) => p,
            Err(e) => {
                let answer = self.guard().rejected(e);
                return self.answer(py, answer, Ok(py.None().into_bound(py)), args, kwargs);
            }
        };
        let t0 = self.inner.clock().now_nanos();
        let result = func.call(args, kwargs);
        let end = match &result {
            Ok(_) => CallEnd::Returned,
            Err(err) => CallEnd::Failed(self.failure_of(py, err.value(py).as_any(), false)?),
        };
        let answer = permit.settle(self.guard(), end, self.elapsed(t0));
        self.answer(py, answer, result, args, kwargs)
    }

    /// `call_async`'s admission: a permit, or `None` when the breaker rejects the call and the
    /// fallback answers; raises `CircuitOpenError` when it rejects it without a fallback.
    fn _admit(&self) -> PyResult<Option<PyPermit>> {
        match self.inner.acquire_owned() {
            Ok(permit) => Ok(Some(PyPermit {
                inner: Mutex::new(Some(permit)),
            })),
            Err(e) => match self.guard().rejected(e) {
                Answer::Raise(e) => Err(to_py(e)),
                _ => Ok(None),
            },
        }
    }

    /// `call_async`'s end: reports how the call ended (it returned; it raised `error`; or it
    /// `timed_out`) on `permit` and says what to answer: `"value"`, `"fallback"` or `"raise"` (the
    /// error stands); raises the core's error when that is the answer (a timeout).
    #[pyo3(signature = (permit, error = None, timed_out = false))]
    fn _settle(
        &self,
        py: Python<'_>,
        permit: &PyPermit,
        error: Option<&Bound<'_, PyAny>>,
        timed_out: bool,
    ) -> PyResult<&'static str> {
        let end = match error {
            _ if timed_out => CallEnd::TimedOut,
            Some(err) => CallEnd::Failed(self.failure_of(py, err, true)?),
            None => CallEnd::Returned,
        };
        Ok(match permit.take()?.settle(self.guard(), end) {
            Answer::Value => "value",
            Answer::Fallback => "fallback",
            Answer::Raise(e) => return Err(to_py(e)),
            Answer::Rethrow | Answer::FilterError => "raise",
        })
    }

    /// Asks for a permit to make one call; raises `CircuitOpenError` when the breaker rejects it.
    fn acquire(&self) -> PyResult<PyPermit> {
        let permit = self.inner.acquire_owned().py()?;
        Ok(PyPermit {
            inner: Mutex::new(Some(permit)),
        })
    }

    /// Whether `exc` is one of the excluded exception classes.
    fn is_excluded(&self, py: Python<'_>, exc: &Bound<'_, PyAny>) -> PyResult<bool> {
        exc.is_instance(self.excluded.bind(py).as_any())
    }

    /// The fallback given to the constructor, if any.
    #[getter]
    fn fallback(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.fallback.as_ref().map(|f| f.clone_ref(py))
    }

    /// The call timeout in seconds, if configured.
    #[getter]
    fn timeout(&self) -> Option<f64> {
        self.inner.config().timeout.map(|d| d.as_secs_f64())
    }

    /// `"closed"`, `"open"` or `"half_open"`.
    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state().name()
    }

    /// Counters and state as a dict.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.counters();
        let d = PyDict::new(py);
        d.set_item("state", self.inner.state().name())?;
        for (k, v) in [
            ("calls", c.calls),
            ("successes", c.successes),
            ("failures", c.failures),
            ("ignored", c.ignored),
            ("rejections", c.rejections),
            ("slow_calls", c.slow_calls),
            ("timeouts", c.timeouts),
            ("state_changes", c.state_changes),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// Forces the breaker open until `close()` or `reset()`.
    fn open(&self) {
        self.inner.open();
    }

    /// Closes the breaker.
    fn close(&self) {
        self.inner.close();
    }

    /// Closes the breaker and zeroes its counters.
    fn reset(&self) {
        self.inner.reset();
    }

    /// Calls `callback(event: dict)` for every transition, rejection and outcome; returns an id for
    /// `remove_listener`. Exceptions in the callback are reported as unraisable, never propagated.
    fn add_listener(&self, callback: Py<PyAny>) -> u64 {
        let id = self.inner.add_listener(move |ev| {
            Python::attach(|py| {
                let res = event_dict(py, ev).and_then(|d| callback.call1(py, (d,)));
                if let Err(e) = res {
                    e.write_unraisable(py, Some(callback.bind(py)));
                }
            })
        });
        id.into()
    }

    /// Removes a listener added with `add_listener`.
    fn remove_listener(&self, id: u64) -> bool {
        self.inner.remove_listener(id.into())
    }
}

/// One permitted call: report exactly one outcome (a permit dropped unreported counts as ignored).
#[pyclass(module = "dashfeed", name = "Permit", frozen)]
pub struct PyPermit {
    inner: Mutex<Option<OwnedPermit>>,
}

impl PyPermit {
    fn take(&self) -> PyResult<OwnedPermit> {
        self.inner
            .lock()
            .ok()
            .and_then(|mut g| g.take())
            .ok_or_else(|| to_py(Error::invalid("this permit's outcome was already reported")))
    }

    fn duration(&self, duration: Option<f64>) -> PyResult<Option<Duration>> {
        duration.map(|s| secs("duration", s)).transpose()
    }
}

#[pymethods]
impl PyPermit {
    /// Reports a success; `duration` in seconds defaults to the time since `acquire()`.
    #[pyo3(signature = (duration = None))]
    fn success(&self, duration: Option<f64>) -> PyResult<()> {
        let d = self.duration(duration)?;
        let p = self.take()?;
        let d = d.unwrap_or_else(|| p.elapsed());
        p.success(d);
        Ok(())
    }

    /// Reports a failure; `duration` in seconds defaults to the time since `acquire()`.
    #[pyo3(signature = (duration = None))]
    fn failure(&self, duration: Option<f64>) -> PyResult<()> {
        let d = self.duration(duration)?;
        let p = self.take()?;
        let d = d.unwrap_or_else(|| p.elapsed());
        p.failure(d);
        Ok(())
    }

    /// Reports a timeout (a failure); `duration` defaults to the time since `acquire()`.
    #[pyo3(signature = (duration = None))]
    fn timeout(&self, duration: Option<f64>) -> PyResult<()> {
        let d = self.duration(duration)?;
        let p = self.take()?;
        let d = d.unwrap_or_else(|| p.elapsed());
        p.timeout(d);
        Ok(())
    }

    /// Reports an outcome that does not count (an excluded error).
    fn ignore(&self) -> PyResult<()> {
        self.take()?.ignore();
        Ok(())
    }

    /// Seconds since the permit was granted, on the breaker's clock.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.inner
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|p| p.elapsed().as_secs_f64()))
            .unwrap_or(0.0)
    }
}

/// Adds `CircuitBreaker` and `Permit` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCircuitBreaker>()?;
    m.add_class::<PyPermit>()
}
