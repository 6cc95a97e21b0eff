//! The JavaScript side of one subscription ([`Feed`]): the messages taken from the core queue but
//! not handed out yet (a [`JsBuffer`]), the promises of `next()` / `recv()` waiting for a message,
//! the `'message'`, `'close'` and `'error'` listeners, and what keeps the process (and the JS
//! object) alive.
//!
//! Flow: the core calls the subscription's ready callback when its queue becomes non-empty or the
//! subscription ends; the callback hands the feed to the environment's [`Waker`], which runs
//! [`Feed::handle`] on the JavaScript thread. `handle` settles waiting promises first (one message
//! each), then gives every other message to the `'message'` listeners, then — once the subscription
//! has ended and everything queued was delivered — emits `'error'` (slow consumer) and `'close'`
//! once and lets go of the listeners. Messages move from the core queue in batches; a `for await`
//! loop takes the buffered ones in JavaScript.
//!
//! Locking: the state is under one mutex, taken only on the JavaScript thread and never held while
//! user JavaScript runs (listeners may call back into the subscription); the buffer helpers of
//! `bindings-node/js/hub.js` run under it (they call nothing else).
//!
//! Raw Node-API (the `crate::napi` kit): every wake-up and every delivered message crosses this file. Bench
//! rows: `node bench/hub.js`, the `for await` and `on('message')` columns at 1, 100 and 1,000 subscribers
//! (appending a batch in one call instead of a `napi_set_element` per message, and `raw()` kept on the
//! shared object, took 1,000-subscriber delivery from ~1.1M to ~3.1-3.7M deliveries per CPU-s).

use super::buffer::{JsBuffer, Shape};
use super::message::{self, Pass};
use super::timer;
use super::waiter::{settle, Event, Item, Waiter};
use super::waker::Waker;
use crate::error::Result;
use crate::napi::js::{self, Handle};
use crate::napi::raw::napi_call;
use dashfeed::hub::Subscription as CoreSubscription;
use dashfeed::Error;
use napi::sys;
use std::collections::VecDeque;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Messages taken from the core queue per refill.
const BATCH: usize = 256;
/// Batches handed to listeners per wake-up before yielding to the event loop.
const MAX_BATCHES: usize = 4;

struct Js {
    buffer: JsBuffer,
    waiters: VecDeque<Waiter>,
    listeners: Vec<(Event, Handle<sys::napi_ref>)>,
    /// Counted in the waker and holding `this` strongly (see [`Feed::sync_hold`]).
    holding: bool,
    /// Reference to the JS `Subscription` (weak unless holding).
    this: Handle<sys::napi_ref>,
    /// `close()` was called: deliver nothing more.
    closed_by_user: bool,
    /// `'close'` was emitted and the listeners let go.
    done: bool,
    next_id: u64,
    /// Bumped on every `on` / `off`: the listener loop stops between two messages when it changes.
    generation: u32,
}

/// The weak handle a timer keeps on its feed.
pub type WeakFeed = Weak<Feed>;

/// The JavaScript side of a subscription; shared (in an `Arc`) with the core's ready callback.
pub struct Feed {
    /// The core subscription.
    pub sub: CoreSubscription,
    waker: Arc<Waker>,
    /// Already in the waker's list.
    queued: AtomicBool,
    js: Mutex<Js>,
}

impl Feed {
    /// Wraps `sub` and registers its ready callback with the waker of `env`.
    pub fn new(env: sys::napi_env, sub: CoreSubscription) -> Result<Arc<Feed>> {
        let feed = Arc::new(Feed {
            sub,
            waker: Waker::of(env)?,
            queued: AtomicBool::new(false),
            js: Mutex::new(Js {
                buffer: JsBuffer::new(env)?,
                waiters: VecDeque::new(),
                listeners: Vec::new(),
                holding: false,
                this: Handle(ptr::null_mut()),
                closed_by_user: false,
                done: false,
                next_id: 0,
                generation: 0,
            }),
        });
        let weak = Arc::downgrade(&feed);
        feed.sub.on_ready(move || {
            if let Some(f) = weak.upgrade() {
                f.schedule();
            }
        });
        Ok(feed)
    }

    fn lock(&self) -> MutexGuard<'_, Js> {
        self.js.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers the JS object (weakly): made strong while a consumer waits.
    pub fn set_this(&self, env: sys::napi_env, this: sys::napi_value) -> Result<()> {
        let mut r = ptr::null_mut();
        napi_call!(napi_create_reference(env, this, 0, &mut r))?;
        self.lock().this = Handle(r);
        Ok(())
    }

    /// Asks for a `handle` on the JavaScript thread (any thread).
    pub fn schedule(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.waker.wake(self.clone());
        }
    }

    /// The `for await` iterator over `this` (the JS Subscription).
    pub fn iterator(&self, env: sys::napi_env, this: sys::napi_value) -> Result<sys::napi_value> {
        self.lock().buffer.iterator(env, this)
    }

    /// Takes up to a batch from the core queue as message objects (for the buffer); none once the
    /// subscription has ended and its queue is drained (the end is reported by `finish`).
    fn refill(&self, env: sys::napi_env, pass: &mut Pass) -> Result<Vec<sys::napi_value>> {
        let Ok(batch) = self.sub.try_recv_many(BATCH) else {
            return Ok(Vec::new());
        };
        batch
            .into_iter()
            .map(|m| message::to_js(env, m, Some(&mut *pass)))
            .collect()
    }

    /// The next message for a waiter (in `shape`): from the buffer, else from the core (the rest of
    /// the batch stays buffered). In a wake-up pass, `pass` lets the subscriptions woken together
    /// share each publication's object.
    fn next_item(
        &self,
        env: sys::napi_env,
        js: &Js,
        shape: Shape,
        pass: &mut Pass,
    ) -> Result<Item> {
        if let Some(m) = js.buffer.pop(env, shape)? {
            return Ok(Item::Message(m));
        }
        if js.closed_by_user {
            return Ok(Item::End(None));
        }
        match self.sub.try_recv_many(BATCH) {
            Ok(batch) => {
                let objs = batch
                    .into_iter()
                    .map(|m| message::to_js(env, m, Some(&mut *pass)))
                    .collect::<Result<Vec<_>>>()?;
                Ok(match js.buffer.push_all(env, &objs, Some(shape))? {
                    Some(first) => Item::Message(first),
                    None => Item::Empty,
                })
            }
            Err(Error::Closed) => Ok(Item::End(None)),
            Err(e) => Ok(Item::End(Some(e))),
        }
    }

    /// Takes what `tryRecv` / `tryRecvMany` return: up to `max` message objects, buffered ones
    /// first, after the waiters that came first (none while one still waits); the core error
    /// (`closed`, `slow_consumer`) once ended and drained.
    pub fn take(self: &Arc<Self>, env: sys::napi_env, max: usize) -> Result<Vec<sys::napi_value>> {
        self.serve_earlier_waiters(env)?;
        let js = self.lock();
        if !js.waiters.is_empty() {
            // Nothing was there for them: what comes next is theirs (the ready callback brings it).
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        while out.len() < max {
            match js.buffer.pop(env, Shape::Bare)? {
                Some(m) => out.push(m),
                None => break,
            }
        }
        if js.closed_by_user {
            if out.is_empty() && max > 0 {
                return Err(Error::Closed.into());
            }
            return Ok(out);
        }
        if out.len() < max {
            match self.sub.try_recv_many(max - out.len()) {
                Ok(more) => {
                    for m in more {
                        out.push(message::to_js(env, m, None)?);
                    }
                }
                Err(e) if out.is_empty() => {
                    drop(js);
                    self.end_handed_out(env)?; // drained and ended
                    return Err(e.into());
                }
                Err(_) => {
                    // Reported by the next call; the pass emits 'error' / 'close' now.
                    drop(js);
                    self.end_handed_out(env)?;
                    return Ok(out);
                }
            }
        }
        drop(js);
        if self.sub.is_closed() {
            // Perhaps the last message of an ended subscription: a pass reports its end.
            self.sync_hold(env)?;
        }
        Ok(out)
    }

    /// A promise for the next message: `{ value, done }` (`next()`), or the message / `null`
    /// (`recv(timeoutMs)`). A buffered message settles it at once. Otherwise it waits; when the core
    /// queue already holds messages (or the end), the feed asks for a wake-up pass at once instead
    /// of taking them here, so every subscription that ran dry in this turn of the event loop
    /// refills in one pass and shares each publication's message object. (Taking them here, a burst
    /// longer than one refill gave each subscriber objects of its own: 4-6x the CPU per delivery
    /// at 1,000 subscribers, `node bench/hub.js --burst 300`.) A timed `recv` (after any earlier
    /// waiter) and a call on an ended subscription still take from the core at once; settling the
    /// end there asks for a pass too, which emits `'error'` / `'close'`.
    pub fn wait(
        self: &Arc<Self>,
        env: sys::napi_env,
        recv: bool,
        timeout_ms: Option<f64>,
    ) -> Result<sys::napi_value> {
        let (mut deferred, mut promise) = (ptr::null_mut(), ptr::null_mut());
        napi_call!(napi_create_promise(env, &mut deferred, &mut promise))?;
        let shape = if recv { Shape::Bare } else { Shape::Step };
        if timeout_ms.is_some() {
            // It takes at once (below), after the waiters that came first.
            self.serve_earlier_waiters(env)?;
        }
        let item = {
            let mut js = self.lock();
            // Earlier waiters come first.
            let item = match js.waiters.is_empty() {
                true => match js.buffer.pop(env, shape)? {
                    Some(m) => Item::Message(m),
                    None if js.closed_by_user => Item::End(None),
                    // A timed `recv` takes what is queued now: its timer could fire before the
                    // wake-up pass, and `recv(0)` must still return a queued message. So does a
                    // call on an ended subscription: no wake-up may come for it.
                    None if timeout_ms.is_some() || self.sub.is_closed() => {
                        self.next_item(env, &js, shape, &mut Pass::default())?
                    }
                    None => Item::Empty,
                },
                false => Item::Empty,
            };
            if let Item::Empty = item {
                js.next_id += 1;
                let id = js.next_id;
                js.waiters.push_back(Waiter {
                    deferred: Handle(deferred),
                    recv,
                    id,
                    timer: None,
                });
                drop(js);
                if let Some(ms) = timeout_ms {
                    self.arm_timer(env, id, ms)?;
                }
                self.sync_hold(env)?;
                if self.sub.is_ready() {
                    self.schedule();
                }
                return Ok(promise);
            }
            item
        };
        let ended = matches!(item, Item::End(_));
        settle(env, deferred, recv, item)?;
        if ended {
            self.end_handed_out(env)?;
        } else if self.sub.is_closed() {
            self.sync_hold(env)?; // perhaps its last message: a pass reports the end
        }
        Ok(promise)
    }

    /// Starts the timer of `recv(timeout)` waiter `id`.
    fn arm_timer(self: &Arc<Self>, env: sys::napi_env, id: u64, ms: f64) -> Result<()> {
        let env = napi::Env::from_raw(env);
        let timer = timer::start(&env, Arc::downgrade(self), id, ms)?;
        let mut js = self.lock();
        if let Some(w) = js.waiters.iter_mut().find(|w| w.id == id) {
            w.timer = Some(timer);
            return Ok(());
        }
        drop(js);
        timer::clear(&env, Some(timer))
    }

    /// The timer of `recv` waiter `id` fired: it resolves with `null`.
    pub fn expire(self: &Arc<Self>, env: sys::napi_env, id: u64) -> Result<()> {
        let waiter = {
            let mut js = self.lock();
            let at = js.waiters.iter().position(|w| w.id == id);
            at.and_then(|i| js.waiters.remove(i))
        };
        if let Some(w) = waiter {
            timer::clear(&napi::Env::from_raw(env), w.timer)?;
            napi_call!(napi_resolve_deferred(env, w.deferred.0, js::null(env)?))?;
            self.sync_hold(env)?;
        }
        Ok(())
    }

    /// Adds a listener (and, for `'message'`, delivers what is already queued, asynchronously).
    pub fn listen(
        self: &Arc<Self>,
        env: sys::napi_env,
        event: Event,
        func: sys::napi_value,
    ) -> Result<()> {
        let mut r = ptr::null_mut();
        napi_call!(napi_create_reference(env, func, 1, &mut r))?;
        {
            let mut js = self.lock();
            js.listeners.push((event, Handle(r)));
            js.generation = js.generation.wrapping_add(1);
            js.buffer.set_generation(env, js.generation)?;
        }
        if event == Event::Message {
            self.sync_hold(env)?;
            self.schedule();
        }
        Ok(())
    }

    /// Removes one registration of `func` for `event`.
    pub fn unlisten(
        self: &Arc<Self>,
        env: sys::napi_env,
        event: Event,
        func: sys::napi_value,
    ) -> Result<()> {
        let removed = {
            let mut js = self.lock();
            let mut found = None;
            for (i, (e, r)) in js.listeners.iter().enumerate() {
                if *e != event {
                    continue;
                }
                let (mut f, mut same) = (ptr::null_mut(), false);
                napi_call!(napi_get_reference_value(env, r.0, &mut f))?;
                napi_call!(napi_strict_equals(env, f, func, &mut same))?;
                if same {
                    found = Some(i);
                    break;
                }
            }
            if found.is_some() {
                js.generation = js.generation.wrapping_add(1);
                js.buffer.set_generation(env, js.generation)?;
            }
            found.map(|i| js.listeners.remove(i).1)
        };
        if let Some(r) = removed {
            napi_call!(napi_delete_reference(env, r.0))?;
            self.sync_hold(env)?;
        }
        Ok(())
    }

    /// `close()`: ends the subscription, settles the waiters (done / `null`) and emits `'close'`
    /// before returning. Idempotent.
    pub fn close(self: &Arc<Self>, env: sys::napi_env) -> Result<()> {
        {
            let mut js = self.lock();
            js.closed_by_user = true;
            js.buffer.close(env)?;
        }
        self.sub.close();
        self.handle(env, &mut Pass::default())
    }

    /// [`handle`](Feed::handle), reporting a failure as an uncaught exception (a wake-up has no
    /// caller to throw to).
    pub fn handle_reporting(self: &Arc<Self>, env: sys::napi_env, pass: &mut Pass) {
        if let Err(e) = self.handle(env, pass) {
            crate::error::report(env, e);
        }
    }

    /// Delivers what is ready (see the module docs). JavaScript thread only.
    pub fn handle(self: &Arc<Self>, env: sys::napi_env, pass: &mut Pass) -> Result<()> {
        self.queued.store(false, Ordering::Release);
        self.settle_waiters(env, pass)?;
        self.deliver(env, pass)?;
        self.finish(env)?;
        self.sync_hold(env)
    }

    /// Settles the waiting promises, oldest first, while there is something for them: a message
    /// (buffered or queued in the core) or the end.
    fn settle_waiters(&self, env: sys::napi_env, pass: &mut Pass) -> Result<()> {
        loop {
            let (w, item) = {
                let mut js = self.lock();
                if js.waiters.is_empty() {
                    break;
                }
                let shape = js.waiters.front().map_or(Shape::Step, Waiter::shape);
                match self.next_item(env, &js, shape, pass)? {
                    Item::Empty => break,
                    item => (js.waiters.pop_front(), item),
                }
            };
            if let Some(w) = w {
                timer::clear(&napi::Env::from_raw(env), w.timer)?;
                settle(env, w.deferred.0, w.recv, item)?;
            }
        }
        Ok(())
    }

    /// Before a call that takes messages at once (`tryRecv`, a timed `recv`): the waiters that came
    /// first get theirs first (a waiting `next()` may have messages queued for it, left to the next
    /// wake-up pass).
    fn serve_earlier_waiters(self: &Arc<Self>, env: sys::napi_env) -> Result<()> {
        if self.lock().waiters.is_empty() {
            return Ok(());
        }
        self.settle_waiters(env, &mut Pass::default())?;
        self.sync_hold(env)
    }

    /// Gives the buffered and queued messages to the `'message'` listeners.
    fn deliver(self: &Arc<Self>, env: sys::napi_env, pass: &mut Pass) -> Result<()> {
        for _ in 0..MAX_BATCHES {
            let (buffer, funcs, fresh) = {
                let js = self.lock();
                if js.closed_by_user || !js.listeners.iter().any(|(e, _)| *e == Event::Message) {
                    return Ok(());
                }
                // A listener loop that stopped early (a listener was added or removed) leaves messages
                // in the buffer: take more from the core only once it is empty, so the buffer never
                // holds more than one batch and the rest stays under the core queue's policy.
                let buffered = js.buffer.len(env)?;
                let fresh = if buffered == 0 {
                    self.refill(env, pass)?
                } else {
                    Vec::new()
                };
                if fresh.is_empty() && buffered == 0 {
                    return Ok(());
                }
                (js.buffer, listeners(env, &js, Event::Message)?, fresh)
            };
            buffer.deliver(env, funcs, &fresh)?; // runs JavaScript: without the lock
        }
        self.schedule(); // more is waiting: continue after other callbacks had their turn
        Ok(())
    }

    /// The end reached a consumer outside a wake-up pass (`tryRecv`, a `next()` settled at once):
    /// the process is held until the pass that emits `'error'` / `'close'` ran (`sync_hold`).
    fn end_handed_out(self: &Arc<Self>, env: sys::napi_env) -> Result<()> {
        self.sync_hold(env)?;
        self.schedule(); // without listeners too: one may be added before the pass
        Ok(())
    }

    /// Whether [`finish`](Feed::finish) has its end to report: closed by the user, or ended by the
    /// core with nothing left to take.
    fn finishable(&self, env: sys::napi_env, js: &Js) -> Result<bool> {
        if js.done {
            return Ok(false);
        }
        if js.closed_by_user {
            return Ok(true);
        }
        Ok(self.sub.is_closed()
            && js.buffer.len(env)? == 0
            && self.sub.stats().queued_messages == 0)
    }

    /// Once ended and drained: `'error'` (slow consumer) and `'close'`, once; listeners let go.
    fn finish(&self, env: sys::napi_env) -> Result<()> {
        let (reason, taken) = {
            let mut js = self.lock();
            if !self.finishable(env, &js)? {
                return Ok(());
            }
            let reason = match self.sub.try_recv() {
                Err(Error::Closed) | Ok(_) => None,
                Err(e) if !js.closed_by_user => Some(e),
                Err(_) => None,
            };
            js.done = true;
            (reason, std::mem::take(&mut js.listeners))
        };
        let mut on_error = Vec::new();
        let mut on_close = Vec::new();
        for (e, r) in &taken {
            let mut f = ptr::null_mut();
            napi_call!(napi_get_reference_value(env, r.0, &mut f))?;
            match e {
                Event::Error => on_error.push(f),
                Event::Close => on_close.push(f),
                Event::Message => {}
            }
            napi_call!(napi_delete_reference(env, r.0))?;
        }
        let had_messages = taken.iter().any(|(e, _)| *e == Event::Message);
        if let Some(e) = reason {
            let err = crate::error::to_js(env, &e)?;
            if on_error.is_empty() && had_messages {
                js::uncaught(env, err); // an EventEmitter's unhandled 'error'
            }
            for f in on_error {
                js::call_listener(env, f, &[err])?;
            }
        }
        for f in on_close {
            js::call_listener(env, f, &[])?;
        }
        Ok(())
    }

    /// Keeps the process and the JS object alive exactly while a consumer waits, or while
    /// `'close'` / `'error'` listeners have an end to report (then a pass is asked for, which
    /// reports it: nothing else may come to run it).
    fn sync_hold(self: &Arc<Self>, env: sys::napi_env) -> Result<()> {
        let finish_pending = {
            let mut js = self.lock();
            // Waiters hold until settled, even past the end; `'message'` listeners until `'close'`.
            let finish_pending = !js.listeners.is_empty() && self.finishable(env, &js)?;
            let want = !js.waiters.is_empty()
                || (!js.done && js.listeners.iter().any(|(e, _)| *e == Event::Message))
                || finish_pending;
            if want != js.holding && !js.this.0.is_null() {
                js.holding = want;
                let mut count = 0;
                if want {
                    self.waker.hold(env);
                    napi_call!(napi_reference_ref(env, js.this.0, &mut count))?;
                } else {
                    self.waker.release(env);
                    napi_call!(napi_reference_unref(env, js.this.0, &mut count))?;
                }
            }
            finish_pending
        };
        if finish_pending {
            self.schedule();
        }
        Ok(())
    }

    /// The JS object was collected (or its environment is going away): unsubscribe and free
    /// every reference.
    pub fn dispose(&self, env: sys::napi_env) {
        self.sub.clear_on_ready();
        self.sub.close();
        let mut js = self.lock();
        js.done = true;
        js.buffer.dispose(env);
        let this = js.this.0;
        let refs: Vec<sys::napi_ref> = js.listeners.drain(..).map(|(_, r)| r.0).collect();
        for r in refs.into_iter().chain([this]).filter(|r| !r.is_null()) {
            // SAFETY: a reference of this environment, deleted once.
            unsafe { sys::napi_delete_reference(env, r) };
        }
        js.this = Handle(ptr::null_mut());
        if js.holding {
            js.holding = false;
            self.waker.release(env);
        }
    }
}

/// The listener functions registered for `event`, as a JS array.
fn listeners(env: sys::napi_env, js: &Js, event: Event) -> Result<sys::napi_value> {
    let mut arr = ptr::null_mut();
    napi_call!(napi_create_array(env, &mut arr))?;
    let mut i = 0;
    for (e, r) in &js.listeners {
        if *e == event {
            let mut f = ptr::null_mut();
            napi_call!(napi_get_reference_value(env, r.0, &mut f))?;
            napi_call!(napi_set_element(env, arr, i, f))?;
            i += 1;
        }
    }
    Ok(arr)
}
