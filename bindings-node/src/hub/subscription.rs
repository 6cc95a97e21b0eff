//! `Subscription`: the JavaScript class over a [`Feed`] — `for await (const msg of sub)`,
//! `recv(timeoutMs)`, `on('message' | 'close' | 'error', listener)`, `tryRecv()`,
//! `tryRecvMany(max)`, `close()`, `closed`, `dashboard`, `stats`.
//!
//! Raw Node-API only in `subscription_next` (bench rows: `node bench/hub.js`, the `for await` columns); the
//! rest are plain `#[napi]` methods.

use super::feed::Feed;
use super::waiter::Event;
use crate::error::{guard, Code};
use crate::napi::args::{is_nullish, number, string};
use crate::napi::glue;
use crate::napi::js::{self, iter_result};
use napi::bindgen_prelude::{Env, ObjectFinalize, This, Unknown};
use napi::JsValue;
use napi_derive::napi;
use std::sync::Arc;

/// Figures of one subscription.
#[napi(object)]
pub struct SubscriptionStats {
    /// Messages waiting in the core queue.
    pub queued_messages: f64,
    /// Encoded bytes waiting in the core queue (in the subscription's format).
    pub queued_bytes: f64,
    /// Most messages ever queued at once.
    pub peak_messages: f64,
    /// Most bytes ever queued at once.
    pub peak_bytes: f64,
    /// Messages taken from the queue.
    pub received: f64,
    /// Messages dropped by the `drop_oldest` policy.
    pub dropped: f64,
    /// Queued messages merged away by the `conflate` policy.
    pub conflated: f64,
}

/// A subscriber of one dashboard: `for await (const msg of sub)`, or `sub.on('message', cb)`.
/// The first message is the snapshot (or, with `since`, a `recovered` header and the missed
/// updates), then live updates under the subscription's slow-consumer policy. Iteration ends when
/// the subscription is closed; it throws an `Error` with `code === 'slow_consumer'` when the
/// `disconnect` policy ended it. Leaving a `for await` loop early closes the subscription.
///
/// An open subscription keeps the process alive only while someone waits on it (a pending
/// `next()` / `recv()`, or a `'message'` listener); `close()` lets go at once. Once it has ended and
/// everything was taken, its `'error'` / `'close'` listeners are called before the process exits.
#[napi(js_name = "Subscription", custom_finalize)]
pub struct Subscription {
    pub(crate) feed: Arc<Feed>,
}

impl ObjectFinalize for Subscription {
    fn finalize(self, env: Env) -> napi::Result<()> {
        self.feed.dispose(env.raw());
        Ok(())
    }
}

/// `Subscription.prototype.next` as it runs: a plain Node-API callback, defined on the prototype
/// when the module loads (see `crate::fast`; bench row: `node bench/hub.js`, the `for await`
/// rows).
///
/// # Safety
/// A Node-API callback: Node calls it with the environment and the info of the running call.
pub unsafe extern "C" fn subscription_next(
    env: napi::sys::napi_env,
    info: napi::sys::napi_callback_info,
) -> napi::sys::napi_value {
    glue::run(env, || {
        // SAFETY: this call's info; the receiver is used only during the call.
        let (this, [], _) = unsafe { glue::args::<0>(env, info)? };
        // SAFETY: the reference is used only during this call (`this` is kept alive by it).
        let sub = unsafe { glue::receiver::<Subscription>(env, this)? };
        sub.feed.wait(env, false, None)
    })
}

fn unknown<'env>(env: &'env Env, v: napi::sys::napi_value) -> Unknown<'env> {
    crate::napi::convert::unknown(env.raw(), v)
}

#[napi]
impl Subscription {
    /// The dashboard subscribed to.
    #[napi(getter, catch_unwind)]
    pub fn dashboard(&self) -> String {
        self.feed.sub.dashboard().to_owned()
    }

    /// True once ended: by `close()`, by the hub (`remove`), or by the `disconnect` policy.
    #[napi(getter, catch_unwind)]
    pub fn closed(&self) -> bool {
        self.feed.sub.is_closed()
    }

    /// The subscription's slow-consumer policy.
    #[napi(
        getter,
        catch_unwind,
        ts_return_type = "'conflate' | 'drop_oldest' | 'disconnect'"
    )]
    pub fn policy(&self) -> &'static str {
        self.feed.sub.policy().name()
    }

    /// The next message if one is waiting, else `null`. Throws `closed` once closed and drained,
    /// `slow_consumer` when the `disconnect` policy ended it. A pending `next()` / `recv()` is
    /// served first: this returns what is left after it (`null` while one still waits), and throws
    /// only once it has seen the end.
    #[napi(catch_unwind, ts_return_type = "Message | null")]
    pub fn try_recv<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            let got = self.feed.take(env.raw(), 1)?;
            let v = match got.first() {
                Some(&m) => m,
                None => js::null(env.raw())?,
            };
            Ok(unknown(env, v))
        })
    }

    /// Up to `max` (default 64) waiting messages, without waiting; throws like `tryRecv` once
    /// ended and drained. Like `tryRecv`, it comes after a pending `next()` / `recv()` (`[]` while
    /// one still waits).
    #[napi(
        catch_unwind,
        ts_args_type = "max?: number",
        ts_return_type = "Array<Message>"
    )]
    pub fn try_recv_many<'env>(
        &self,
        env: &'env Env,
        max: Option<Unknown<'env>>,
    ) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            let max = match max {
                Some(m) if !is_nullish(env.raw(), m.raw())? => {
                    let n = number(env.raw(), m.raw(), "max")?;
                    if !(n.is_finite() && n >= 0.0) {
                        let msg = "max must be a non-negative number";
                        return Err(dashfeed::Error::invalid(msg).into());
                    }
                    n as usize
                }
                _ => 64,
            };
            let got = self.feed.take(env.raw(), max)?;
            Ok(unknown(env, js::array(env.raw(), &got)?))
        })
    }

    /// The next message, waiting up to `timeoutMs` (forever when omitted): resolves with the
    /// message, or `null` on timeout or once the subscription is closed; rejects with
    /// `slow_consumer`.
    #[napi(
        catch_unwind,
        ts_args_type = "timeoutMs?: number | null",
        ts_return_type = "Promise<Message | null>"
    )]
    pub fn recv<'env>(
        &self,
        env: &'env Env,
        timeout_ms: Option<Unknown<'env>>,
    ) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            let timeout = match timeout_ms {
                Some(t) if !crate::napi::args::is_nullish(env.raw(), t.raw())? => {
                    Some(number(env.raw(), t.raw(), "timeoutMs")?)
                }
                _ => None,
            };
            let p = self.feed.wait(env.raw(), true, timeout)?;
            Ok(unknown(env, p))
        })
    }

    /// The async-iterator step: resolves `{ value: message, done: false }`, or `{ done: true }`
    /// once closed; rejects with `slow_consumer`. The method that runs is a plain Node-API callback
    /// with this body, defined over this one when the module loads (without napi-rs's per-call
    /// borrow table; bench rows: `node bench/hub.js`, the `for await` columns).
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<IteratorResult<Message, undefined>>"
    )]
    pub fn next<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            let p = self.feed.wait(env.raw(), false, None)?;
            Ok(unknown(env, p))
        })
    }

    /// Ends the iteration early (`break` in `for await`): closes the subscription.
    #[napi(
        js_name = "return",
        catch_unwind,
        ts_return_type = "Promise<IteratorResult<Message, undefined>>"
    )]
    pub fn finish<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            let raw_env = env.raw();
            self.feed.close(raw_env)?;
            let done = iter_result(raw_env, js::undefined(raw_env)?, true)?;
            Ok(unknown(env, js::resolved(raw_env, done)?))
        })
    }

    /// `for await (const msg of sub)`: an iterator that takes the messages already moved out of
    /// the core queue without a native call each, and waits (`next()`) when there are none.
    #[napi(
        well_known_symbol = "asyncIterator",
        catch_unwind,
        ts_return_type = "AsyncIterator<Message, undefined>"
    )]
    pub fn async_iterator<'env>(
        &self,
        env: &'env Env,
        this: This<'env>,
    ) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            let it = self.feed.iterator(env.raw(), this.object.raw())?;
            Ok(unknown(env, it))
        })
    }

    /// Adds a listener: `'message'` (each message, as an argument), `'close'` (once, when the
    /// subscription has ended and everything queued was delivered) or `'error'` (the
    /// `slow_consumer` error, before `'close'`; with `'message'` listeners and no `'error'`
    /// listener it becomes an uncaught exception, as with an EventEmitter). A listener that throws
    /// stops neither the delivery nor the other listeners; its exception is re-thrown in a
    /// microtask, so it reaches `process.on('uncaughtException')` (without a handler Node prints
    /// it and exits), as with an EventEmitter listener. Returns the subscription.
    #[napi(
        catch_unwind,
        ts_generic_types = "E extends 'message' | 'close' | 'error'",
        ts_args_type = "event: E, listener: E extends 'message' ? (message: Message) => void : E extends 'error' ? (error: Error & { code: string }) => void : () => void",
        ts_return_type = "this"
    )]
    pub fn on<'env>(
        &self,
        this: This<'env>,
        event: Unknown<'env>,
        listener: Unknown<'env>,
    ) -> napi::Result<This<'env>, Code> {
        guard(|| {
            let env = event.value().env;
            let event = Event::parse(&string(env, event.raw(), "event")?)?;
            if crate::napi::raw::type_of(env, listener.raw())?
                != napi::sys::ValueType::napi_function
            {
                return Err(dashfeed::Error::invalid("listener must be a function").into());
            }
            self.feed.listen(env, event, listener.raw())?;
            Ok(this)
        })
    }

    /// Removes a listener added with `on`. Returns the subscription.
    #[napi(
        catch_unwind,
        ts_generic_types = "E extends 'message' | 'close' | 'error'",
        ts_args_type = "event: E, listener: E extends 'message' ? (message: Message) => void : E extends 'error' ? (error: Error & { code: string }) => void : () => void",
        ts_return_type = "this"
    )]
    pub fn off<'env>(
        &self,
        this: This<'env>,
        event: Unknown<'env>,
        listener: Unknown<'env>,
    ) -> napi::Result<This<'env>, Code> {
        guard(|| {
            let env = event.value().env;
            let event = Event::parse(&string(env, event.raw(), "event")?)?;
            self.feed.unlisten(env, event, listener.raw())?;
            Ok(this)
        })
    }

    /// Unsubscribes: pending `next()` / `recv()` settle (done / `null`), `'close'` is emitted,
    /// and nothing keeps the process alive any more. Idempotent; works in any state.
    #[napi(catch_unwind)]
    pub fn close(&self, env: &Env) -> napi::Result<(), Code> {
        guard(|| self.feed.close(env.raw()))
    }

    /// Queue figures and policy counters.
    #[napi(getter, catch_unwind)]
    pub fn stats(&self) -> SubscriptionStats {
        let s = self.feed.sub.stats();
        SubscriptionStats {
            queued_messages: s.queued_messages as f64,
            queued_bytes: s.queued_bytes as f64,
            peak_messages: s.peak_messages as f64,
            peak_bytes: s.peak_bytes as f64,
            received: s.received as f64,
            dropped: s.dropped as f64,
            conflated: s.conflated as f64,
        }
    }
}
