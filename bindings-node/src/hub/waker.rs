//! Waking JavaScript when subscriptions have something to deliver, from whichever thread published.
//!
//! Each Node environment (the main thread, each worker) has one [`Waker`]: a Node-API threadsafe
//! function and a list of ready feeds. The core's ready callback of a subscription (run by the
//! publishing thread, or by `close`) puts the feed in the list; only the push that makes the list
//! non-empty calls the threadsafe function, so a burst of publications to many subscribers costs one
//! loop wake-up, not one per subscriber and message. On the JavaScript thread the call drains the
//! list and lets each feed resolve its promises and call its listeners (`Feed::handle`). No polling
//! anywhere: an idle subscription costs nothing.
//!
//! The threadsafe function is unreferenced (it does not keep the process alive) except while some
//! consumer waits — a pending `next()` / `recv()` or a `'message'` listener on an open
//! subscription ([`Waker::hold`] / [`Waker::release`] count them), and from a `Hub.remove` on this
//! thread until the pass that reports the ends ([`Waker::hold_until_pass`]). Node finalizes it when
//! the environment is torn down; from then on wakes are dropped.
//!
//! Raw Node-API: the threadsafe function is called only when the ready list becomes non-empty (one loop
//! wake-up per burst, whatever the subscriber and message counts) and is referenced only while a consumer
//! waits; it carries no arguments to convert. Bench rows: `node bench/hub.js`, every row (one wake-up per
//! burst of 50 publications).

use super::feed::Feed;
use super::message::Pass;
use crate::error::{check, Result};
use crate::napi::raw;
use napi::sys;
use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The threadsafe function handle (a pointer Node-API lets any thread call).
struct Tsfn(sys::napi_threadsafe_function);

// SAFETY: Node-API allows `napi_call_threadsafe_function` from any thread; every other use of the
// handle happens on its environment's thread.
unsafe impl Send for Tsfn {}

struct State {
    /// `None` once Node finalized the threadsafe function (environment teardown).
    tsfn: Option<Tsfn>,
    /// Feeds to handle on the next call.
    ready: Vec<Arc<Feed>>,
}

/// The per-environment wake-up channel of subscriptions.
pub struct Waker {
    state: Mutex<State>,
    /// Consumers waiting (see the module docs); touched on the JavaScript thread only.
    waiting: AtomicUsize,
    /// One hold taken until the next pass has run ([`Waker::hold_until_pass`]); JS thread only.
    pass_hold: AtomicBool,
}

thread_local! {
    /// The waker of the environment running on this thread: (env, waker).
    static CURRENT: RefCell<Option<(usize, Arc<Waker>)>> = const { RefCell::new(None) };
}

impl Waker {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind: keep going with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The waker of `env` (made on first use). JavaScript thread only.
    pub fn of(env: sys::napi_env) -> Result<Arc<Waker>> {
        let key = env as usize;
        if let Some(w) = CURRENT.with(|c| {
            c.borrow()
                .as_ref()
                .filter(|(e, _)| *e == key)
                .map(|(_, w)| w.clone())
        }) {
            return Ok(w);
        }
        let waker = Arc::new(Waker {
            state: Mutex::new(State {
                tsfn: None,
                ready: Vec::new(),
            }),
            waiting: AtomicUsize::new(0),
            pass_hold: AtomicBool::new(false),
        });
        let name = raw::string(env, "dashfeed.Subscription")?;
        let data = Arc::into_raw(waker.clone()) as *mut c_void;
        let mut tsfn = ptr::null_mut();
        // SAFETY: a live env; `data` stays valid until `finalize` takes the Arc back.
        let status = unsafe {
            sys::napi_create_threadsafe_function(
                env,
                ptr::null_mut(),
                ptr::null_mut(),
                name,
                0,
                1,
                data,
                Some(finalize),
                data,
                Some(call_js),
                &mut tsfn,
            )
        };
        if let Err(e) = check(status, "napi_create_threadsafe_function") {
            // SAFETY: not handed to Node: this is the only owner of that count.
            drop(unsafe { Arc::from_raw(data as *const Waker) });
            return Err(e);
        }
        check(
            // SAFETY: the handle was just made on this thread.
            unsafe { sys::napi_unref_threadsafe_function(env, tsfn) },
            "napi_unref_threadsafe_function",
        )?;
        waker.lock().tsfn = Some(Tsfn(tsfn));
        CURRENT.with(|c| *c.borrow_mut() = Some((key, waker.clone())));
        Ok(waker)
    }

    /// The waker of `env` if it has one (no subscription made one yet: `None`). JavaScript thread
    /// only.
    pub fn existing(env: sys::napi_env) -> Option<Arc<Waker>> {
        CURRENT.with(|c| {
            c.borrow()
                .as_ref()
                .filter(|(e, _)| *e == env as usize)
                .map(|(_, w)| w.clone())
        })
    }

    /// Keeps the process alive until the next wake-up pass has run, when feeds wait for it: for a
    /// call on this thread that ended subscriptions (`Hub.remove`), whose `'error'` / `'close'`
    /// that pass emits (nothing else may be waiting to keep the event loop alive). JavaScript
    /// thread only.
    ///
    /// Called during a pass (`Hub.remove` from a `'message'` listener), the hold is released at
    /// the end of that pass, before the one that reports the ends: that one still runs, since Node
    /// runs a threadsafe-function call queued while the JavaScript thread was running one in the
    /// same tick (nodejs/node#38506, "node-api: faster threadsafe_function", in Node ≥ 16.2).
    pub fn hold_until_pass(&self, env: sys::napi_env) {
        if !self.lock().ready.is_empty() && !self.pass_hold.swap(true, Ordering::Relaxed) {
            self.hold(env);
        }
    }

    /// Schedules `feed.handle` on the JavaScript thread. Any thread.
    pub fn wake(&self, feed: Arc<Feed>) {
        let mut st = self.lock();
        let Some(tsfn) = st.tsfn.as_ref().map(|t| t.0) else {
            return; // the environment is gone: nobody is listening
        };
        st.ready.push(feed);
        if st.ready.len() == 1 {
            // SAFETY: the function is alive while `tsfn` is set, and the lock keeps `finalize`
            // from clearing it meanwhile.
            let status = unsafe {
                sys::napi_call_threadsafe_function(
                    tsfn,
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                )
            };
            if status != sys::Status::napi_ok {
                // `napi_closing`: the environment is shutting down.
                st.tsfn = None;
                st.ready.clear();
            }
        }
    }

    /// Counts one more waiting consumer: the process stays alive while any waits. JS thread only.
    pub fn hold(&self, env: sys::napi_env) {
        if self.waiting.fetch_add(1, Ordering::Relaxed) == 0 {
            if let Some(t) = self.lock().tsfn.as_ref() {
                // SAFETY: on the environment's thread, with a live handle. A failure only means
                // the process may exit while waiting, as it would without dashfeed.
                let _ = unsafe { sys::napi_ref_threadsafe_function(env, t.0) };
            }
        }
    }

    /// Counts one waiting consumer less. JS thread only.
    pub fn release(&self, env: sys::napi_env) {
        if self.waiting.fetch_sub(1, Ordering::Relaxed) == 1 {
            if let Some(t) = self.lock().tsfn.as_ref() {
                // SAFETY: as in `hold`.
                let _ = unsafe { sys::napi_unref_threadsafe_function(env, t.0) };
            }
        }
    }
}

/// Runs on the JavaScript thread for each call: handles every ready feed.
unsafe extern "C" fn call_js(
    env: sys::napi_env,
    _js_cb: sys::napi_value,
    context: *mut c_void,
    _data: *mut c_void,
) {
    if env.is_null() || context.is_null() {
        return; // teardown: the queue is being dropped
    }
    // SAFETY: `context` is the Arc<Waker> given at creation, alive until `finalize`.
    let waker = unsafe { &*(context as *const Waker) };
    let ready = std::mem::take(&mut waker.lock().ready);
    let mut scope = ptr::null_mut();
    // SAFETY: on the environment's thread, inside the threadsafe-function call.
    if unsafe { sys::napi_open_handle_scope(env, &mut scope) } != sys::Status::napi_ok {
        return;
    }
    // One pass: subscribers of the same publication share its message object.
    let mut pass = Pass::default();
    for feed in ready {
        feed.handle_reporting(env, &mut pass);
    }
    if waker.pass_hold.swap(false, Ordering::Relaxed) {
        waker.release(env);
    }
    // SAFETY: the scope opened above.
    unsafe { sys::napi_close_handle_scope(env, scope) };
}

/// Node finalizes the threadsafe function (environment teardown): stop waking, free the waker.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    if data.is_null() {
        return;
    }
    // SAFETY: `data` is the Arc<Waker> leaked at creation, handed back exactly once.
    let waker = unsafe { Arc::from_raw(data as *const Waker) };
    let ready = {
        let mut st = waker.lock();
        st.tsfn = None;
        std::mem::take(&mut st.ready)
    };
    drop(ready);
}
