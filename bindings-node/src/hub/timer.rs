//! The timeout of `Subscription.recv(timeoutMs)`: a JavaScript `setTimeout` whose callback (a
//! napi-rs closure) holds a weak handle on the feed and the waiter id. The `Timeout` object is kept
//! in the waiter as a napi-rs `ObjectRef`, released by [`clear`].

use super::feed::WeakFeed;
use crate::error::Result;
use crate::napi::js;
use dashfeed::Error;
use napi::bindgen_prelude::{Env, Object, ObjectRef};
use napi::JsValue;

/// Longest delay `setTimeout` honours (larger ones fire after 1 ms).
const MAX_DELAY_MS: f64 = 2_147_483_647.0;

/// A started timer: a strong reference to its `Timeout` object.
pub type Timer = ObjectRef<false>;

/// Starts a timer that calls `feed.expire(id)` after `ms` (the feed is not kept alive by it).
pub fn start(env: &Env, feed: WeakFeed, id: u64, ms: f64) -> Result<Timer> {
    if !(ms.is_finite() && ms >= 0.0) {
        let msg = format!("timeout must be a finite, non-negative number of ms, not {ms}");
        return Err(Error::invalid(msg).into());
    }
    let callback = env.create_function_from_closure::<(), (), _>("recvTimeout", move |ctx| {
        if let Some(feed) = feed.upgrade() {
            if let Err(e) = feed.expire(ctx.env.raw(), id) {
                crate::error::throw(ctx.env.raw(), e);
            }
        }
        Ok(())
    })?;
    let timeout = js::set_timeout(env.raw(), callback.raw(), ms.min(MAX_DELAY_MS))?;
    Ok(Object::from_raw(env.raw(), timeout).create_ref()?)
}

/// Cancels a timer from [`start`] and releases its reference; `None` is no timer.
pub fn clear(env: &Env, timer: Option<Timer>) -> Result<()> {
    let Some(timer) = timer else {
        return Ok(());
    };
    let timeout = timer.get_value(env)?;
    timer.unref(env)?;
    js::clear_timeout(env.raw(), timeout.raw())
}
