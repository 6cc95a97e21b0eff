//! The timeout of `Subscription.recv(timeoutMs)`: a JavaScript `setTimeout` whose callback is a
//! native function carrying (a weak handle on the feed, the waiter id), freed with the function.
//! The timer is kept as a raw reference because the feed's waiter state holds raw handles (see
//! `feed`).

use super::feed::WeakFeed;
use crate::error::Result;
use crate::napi::js::{self, Env, Value};
use dashfeed::Error;
use napi::sys;
use std::rc::Rc;

/// Longest delay `setTimeout` honours (larger ones fire after 1 ms).
const MAX_DELAY_MS: f64 = 2_147_483_647.0;

/// What the timer's callback needs: its feed (not kept alive by the timer) and the waiter's id.
struct TimerData {
    feed: WeakFeed,
    id: u64,
}

/// The timer fired: the waiter (if still waiting) resolves with `null`.
fn on_timeout(env: Env, t: &Rc<TimerData>, _this: Value, _args: &[Value]) -> Result<Value> {
    if let Some(feed) = t.feed.upgrade() {
        feed.expire(env, t.id)?;
    }
    js::undefined(env)
}

/// Starts a timer that calls `feed.expire(id)` after `ms`; returns a strong reference to the
/// `Timeout` object (for [`clear`]).
pub fn start(env: Env, feed: WeakFeed, id: u64, ms: f64) -> Result<sys::napi_ref> {
    if !(ms.is_finite() && ms >= 0.0) {
        let msg = format!("timeout must be a finite, non-negative number of ms, not {ms}");
        return Err(Error::invalid(msg).into());
    }
    let data = Rc::new(TimerData { feed, id });
    let callback = js::function(env, c"recvTimeout", data, on_timeout)?;
    let timeout = js::set_timeout(env, callback, ms.min(MAX_DELAY_MS))?;
    js::keep(env, timeout)
}

/// Cancels a timer from [`start`] and frees its reference; a null reference is no timer.
pub fn clear(env: Env, timer: sys::napi_ref) -> Result<()> {
    if timer.is_null() {
        return Ok(());
    }
    let t = js::release(env, timer)?;
    if !t.is_null() {
        js::clear_timeout(env, t)?;
    }
    Ok(())
}
