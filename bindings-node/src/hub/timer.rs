//! The timeout of `Subscription.recv(timeoutMs)`: a JavaScript `setTimeout` whose callback is a
//! native function carrying (a weak handle on the feed, the waiter id), freed with the function.
//!
//! Raw Node-API: a native function with data, freed with the function, for the feed's own waiters (whose
//! promises are Node-API deferreds held by the raw feed state). Not on a bench row: `recv(timeoutMs)` is not
//! a per-message path.

use super::feed::WeakFeed;
use crate::error::Result;
use crate::napi::raw::{self, napi_call};
use dashfeed::Error;
use napi::sys;
use std::ffi::c_void;
use std::ptr;

/// Longest delay `setTimeout` honours (larger ones fire after 1 ms).
const MAX_DELAY_MS: f64 = 2_147_483_647.0;

struct TimerData {
    feed: WeakFeed,
    id: u64,
}

unsafe extern "C" fn free_data(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    if !data.is_null() {
        // SAFETY: the box leaked by `start`, handed back once when its function is collected.
        drop(unsafe { Box::from_raw(data.cast::<TimerData>()) });
    }
}

unsafe extern "C" fn on_timeout(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut data = ptr::null_mut();
    let (argc, argv, this) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    // SAFETY: the callback's own info; only its data pointer is read.
    let ok = unsafe { sys::napi_get_cb_info(env, info, argc, argv, this, &mut data) };
    if ok == sys::Status::napi_ok && !data.is_null() {
        // SAFETY: `data` is the TimerData of this function, alive while the function is.
        let t = unsafe { &*data.cast::<TimerData>() };
        if let Some(feed) = t.feed.upgrade() {
            if feed.expire(env, t.id).is_err() {
                // Only Node-API failures end up here; the waiter is gone either way.
            }
        }
    }
    ptr::null_mut()
}

/// Calls the global function `name` with `args`.
fn call_global(
    env: sys::napi_env,
    name: &std::ffi::CStr,
    args: &[sys::napi_value],
) -> Result<sys::napi_value> {
    let global = raw::global(env)?;
    let f = raw::named(env, global, name)?;
    let mut out = ptr::null_mut();
    napi_call!(napi_call_function(
        env,
        global,
        f,
        args.len(),
        args.as_ptr(),
        &mut out
    ))?;
    Ok(out)
}

/// Starts a timer that calls `feed.expire(id)` after `ms`; returns a strong reference to the
/// `Timeout` object (for [`clear`]).
pub fn start(env: sys::napi_env, feed: WeakFeed, id: u64, ms: f64) -> Result<sys::napi_ref> {
    if !(ms.is_finite() && ms >= 0.0) {
        let msg = format!("timeout must be a finite, non-negative number of ms, not {ms}");
        return Err(Error::invalid(msg).into());
    }
    let data = Box::into_raw(Box::new(TimerData { feed, id }));
    let mut func = ptr::null_mut();
    // SAFETY: a live env; the name is a NUL-terminated literal.
    let status = unsafe {
        sys::napi_create_function(
            env,
            c"recvTimeout".as_ptr(),
            -1, // NUL-terminated
            Some(on_timeout),
            data.cast(),
            &mut func,
        )
    };
    if let Err(e) = crate::error::check(status, "napi_create_function") {
        // SAFETY: no function owns the box: reclaim it.
        drop(unsafe { Box::from_raw(data) });
        return Err(e);
    }
    // If adding the finalizer failed the box would leak (a few bytes), never dangle.
    napi_call!(napi_add_finalizer(
        env,
        func,
        data.cast(),
        Some(free_data),
        ptr::null_mut(),
        ptr::null_mut()
    ))?;
    let mut delay = ptr::null_mut();
    napi_call!(napi_create_double(env, ms.min(MAX_DELAY_MS), &mut delay))?;
    let timeout = call_global(env, c"setTimeout", &[func, delay])?;
    let mut r = ptr::null_mut();
    napi_call!(napi_create_reference(env, timeout, 1, &mut r))?;
    Ok(r)
}

/// Cancels a timer from [`start`] and frees its reference; a null reference is no timer.
pub fn clear(env: sys::napi_env, timer: sys::napi_ref) -> Result<()> {
    if timer.is_null() {
        return Ok(());
    }
    let mut t = ptr::null_mut();
    napi_call!(napi_get_reference_value(env, timer, &mut t))?;
    napi_call!(napi_delete_reference(env, timer))?;
    if !t.is_null() {
        call_global(env, c"clearTimeout", &[t])?;
    }
    Ok(())
}
