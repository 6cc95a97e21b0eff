//! The one place that guards the unit of duration options: durations in the Node module are
//! milliseconds (as in opossum and Node's own timers), where the Python module takes seconds.
//!
//! A duration option above 0 and below 1 (`resetTimeout: 0.5`, `pingInterval: 0.25`) is most likely
//! seconds written where ms are meant. It is still taken as ms (a sub-millisecond value is valid), but
//! the first such value a process reads is reported once with `process.emitWarning` (type
//! `'DashfeedWarning'`, code `'DASHFEED_DURATION_UNIT'`): printed to stderr unless a `'warning'`
//! listener handles it, and `node --no-warnings` silences it. [`ms_of`] is the other direction: a
//! core duration as the ms a JS number holds; [`timeout`] reads the `timeoutMs` of the waits.

use crate::error::Result;
use napi::bindgen_prelude::{FnArgs, Function, JsObjectValue, Object, Unknown};
use napi::Env;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The `type` of the warning (`warning.name`).
pub const WARNING_TYPE: &str = "DashfeedWarning";
/// The `code` of the warning.
pub const WARNING_CODE: &str = "DASHFEED_DURATION_UNIT";

/// Set once the warning was given (or tried): once per process, whichever option triggered it.
static WARNED: AtomicBool = AtomicBool::new(false);

/// Milliseconds of a duration, as a JS number (exact for whole microseconds below 2^53 ns).
pub fn ms_of(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

/// The `timeoutMs` argument of a wait (a sink's `flush`, a pipeline's `close`, ...): milliseconds,
/// 10 s when absent.
pub fn timeout(ms: Option<f64>) -> Result<Duration> {
    let ms = ms.unwrap_or(10_000.0);
    Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| {
        dashfeed::Error::invalid("timeout must be a non-negative number of milliseconds").into()
    })
}

/// Warns, once per process, that the duration option `name` of `owner` (`"CircuitBreaker"`,
/// `"resetTimeout"`) is `ms` milliseconds, which the core flagged as looking like seconds
/// (`dashfeed::options::looks_like_seconds`). Never fails: a warning that cannot be emitted is
/// dropped.
pub fn check_ms(env: Env, owner: &str, name: &str, ms: f64) {
    if WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    let message = format!(
        "{owner} option {name} is {ms} ms: durations in the Node module are milliseconds (the Python module's are \
         seconds); for {ms} s write {}",
        (ms * 1e6).round() / 1e3
    );
    if emit(&env, message).is_err() {
        // Whatever the attempt raised must not leak into the caller's call.
        let _ = crate::napi::js::take_exception(env.raw());
    }
}

/// The warning callback of the core's option readers for `owner`'s options.
pub fn warner(env: &Env, owner: &'static str) -> impl FnMut(&str, f64) {
    let env = *env;
    move |name, ms| check_ms(env, owner, name, ms)
}

/// `process.emitWarning(message, type, code)`.
fn emit(env: &Env, message: String) -> Result<()> {
    let process: Object = env.get_global()?.get_named_property("process")?;
    let emit: Function<FnArgs<(String, &str, &str)>, Unknown> =
        process.get_named_property("emitWarning")?;
    // `FnArgs`: three arguments (a bare tuple would be one array argument).
    emit.apply(process, FnArgs::from((message, WARNING_TYPE, WARNING_CODE)))?;
    Ok(())
}
