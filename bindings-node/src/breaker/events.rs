//! Breaker events for JavaScript: `breaker.on(name, cb)` / `breaker.off(...)` and their delivery.
//!
//! The core calls its listeners on the thread that caused an event, possibly inside a garbage
//! collector finalizer (a dropped permit counts as ignored), where JavaScript must not run. So the
//! one core listener of a breaker (registered while it has JS listeners) only queues the event, and
//! every binding entry point that drives the breaker (`fire`, `call`, `acquire`, a permit report,
//! `state`, `open`, ...) calls [`Events::flush`] before it returns: the JS callbacks run
//! synchronously on the JS thread, in the order the core emitted the events. A listener may call the
//! breaker; the events that causes are delivered after it returns (by the same flush). A listener
//! that throws does not break the call nor stop the other listeners: its exception is re-thrown as
//! an uncaught exception (`napi::js::call_listener`, the module's one policy). The listener
//! functions live in the breaker's holder object (see `guarded::Shared`), so the garbage collector
//! sees them.
//!
//! Names: `'stateChange'` (`{ type, from, to }`) and, for the same event, `'open'`, `'halfOpen'` or
//! `'close'` by the state entered; `'reject'` (`{ type, state, retryAfter }`), `'success'`
//! (`{ type, duration }`), `'failure'` (`{ type, duration, kind }`) and `'ignored'` (`{ type }`).
//! States are the core names (`'closed'`, `'open'`, `'half_open'`); times are in ms.

use super::options::BreakerEvent as EventObject;
use crate::error::Result;
use crate::napi::js;
use dashfeed::breaker::{BreakerEvent, CircuitBreaker, ListenerId, State};
use dashfeed::Error;
use napi::bindgen_prelude::{Env, FromNapiValue, JsObjectValue, Object, ToNapiValue, Unknown};
use napi::{JsValue, ValueType};
use std::cell::{Cell, RefCell};
use std::sync::{Arc, Mutex};

/// Events delivered by one flush at most; the rest wait for the next entry point (a listener that
/// makes a call on every event cannot loop forever).
const MAX_PER_FLUSH: usize = 10_000;

/// A JS event name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any state change.
    StateChange,
    /// Entered `open`.
    Open,
    /// Entered `half_open`.
    HalfOpen,
    /// Entered `closed`.
    Close,
    /// A call was rejected.
    Reject,
    /// A call succeeded.
    Success,
    /// A call counted as a failure.
    Failure,
    /// A call was ignored.
    Ignored,
}

/// Every name `on` accepts, for error messages.
pub const NAMES: &str =
    "'open', 'halfOpen', 'close', 'stateChange', 'reject', 'success', 'failure', 'ignored'";

impl Kind {
    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "stateChange" => Kind::StateChange,
            "open" => Kind::Open,
            "halfOpen" => Kind::HalfOpen,
            "close" => Kind::Close,
            "reject" => Kind::Reject,
            "success" => Kind::Success,
            "failure" => Kind::Failure,
            "ignored" => Kind::Ignored,
            _ => return None,
        })
    }

    /// The kinds a core event is delivered to, and the `type` of its JS object.
    fn of(ev: &BreakerEvent) -> ([Option<Kind>; 2], &'static str) {
        match ev {
            BreakerEvent::StateChange { to, .. } => {
                let entered = match to {
                    State::Open => Kind::Open,
                    State::HalfOpen => Kind::HalfOpen,
                    State::Closed => Kind::Close,
                };
                ([Some(Kind::StateChange), Some(entered)], "stateChange")
            }
            BreakerEvent::Rejected { .. } => ([Some(Kind::Reject), None], "reject"),
            BreakerEvent::Success { .. } => ([Some(Kind::Success), None], "success"),
            BreakerEvent::Failure { .. } => ([Some(Kind::Failure), None], "failure"),
            BreakerEvent::Ignored => ([Some(Kind::Ignored), None], "ignored"),
            // An event kind newer than this binding: no JS name, not delivered.
            _ => ([None, None], ""),
        }
    }
}

/// The JS listeners of one breaker (their kinds here; the functions themselves in the breaker's
/// holder object, under their ids, where the garbage collector sees them) and the queue the core
/// fills.
#[derive(Debug, Default)]
pub struct Events {
    queue: Arc<Mutex<Vec<BreakerEvent>>>,
    listeners: RefCell<Vec<(u32, Kind)>>,
    core_id: Cell<Option<ListenerId>>,
    next_id: Cell<u32>,
    flushing: Cell<bool>,
}

/// Clears the `flushing` flag however the flush ends.
struct Flushing<'a>(&'a Cell<bool>);

impl Drop for Flushing<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl Events {
    /// Adds `func` as a listener of `kind`, kept in `holder`; returns its id (for `off`).
    pub fn add(
        &self,
        core: &CircuitBreaker,
        holder: &mut Object<'_>,
        kind: Kind,
        func: Unknown<'_>,
    ) -> Result<u32> {
        let id = self.next_id.get().wrapping_add(1).max(1);
        self.next_id.set(id);
        holder.set_element(id, func)?;
        self.listeners.borrow_mut().push((id, kind));
        if self.core_id.get().is_none() {
            let queue = Arc::clone(&self.queue);
            let cid = core.add_listener(move |ev| {
                let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
                q.push(*ev);
            });
            self.core_id.set(Some(cid));
        }
        Ok(id)
    }

    /// Removes the listener with this id; false if there is none.
    pub fn remove_id(
        &self,
        core: &CircuitBreaker,
        holder: &mut Object<'_>,
        id: u32,
    ) -> Result<bool> {
        let removed = {
            let mut list = self.listeners.borrow_mut();
            let before = list.len();
            list.retain(|(i, _)| *i != id);
            before != list.len()
        };
        if removed {
            holder.delete_element(id)?;
        }
        if self.listeners.borrow().is_empty() {
            if let Some(cid) = self.core_id.take() {
                core.remove_listener(cid);
            }
            self.queue.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        Ok(removed)
    }

    /// Removes the first listener of `kind` that is `func`; false if there is none.
    pub fn remove_fn(
        &self,
        core: &CircuitBreaker,
        env: &Env,
        holder: &mut Object<'_>,
        kind: Kind,
        func: &Unknown<'_>,
    ) -> Result<bool> {
        let ids: Vec<u32> = self
            .listeners
            .borrow()
            .iter()
            .filter(|(_, k)| *k == kind)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let f: Unknown = holder.get_element(id)?;
            if env.strict_equals(f, *func)? {
                return self.remove_id(core, holder, id);
            }
        }
        Ok(false)
    }

    /// Delivers the queued events to the JS listeners kept in the holder (see the module docs).
    /// Cheap when the breaker has no JS listener.
    pub fn flush<'env>(
        &self,
        env: &Env,
        holder: impl FnOnce() -> Result<Option<Object<'env>>>,
    ) -> Result<()> {
        if self.core_id.get().is_none() || self.flushing.get() {
            return Ok(());
        }
        self.flushing.set(true);
        let _reset = Flushing(&self.flushing);
        let mut holder = Some(holder);
        let mut functions = None;
        let mut delivered = 0;
        while delivered < MAX_PER_FLUSH {
            let batch = {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                if q.is_empty() {
                    break;
                }
                let n = q.len().min(MAX_PER_FLUSH - delivered);
                q.drain(..n).collect::<Vec<_>>()
            };
            delivered += batch.len();
            if let Some(get) = holder.take() {
                functions = get()?;
            }
            // Without the holder (collected with the breaker), nobody listens any more.
            let Some(h) = &functions else {
                continue;
            };
            for ev in &batch {
                self.dispatch(env, h, ev)?;
            }
        }
        Ok(())
    }

    /// Calls the listeners of one event with its JS object.
    fn dispatch(&self, env: &Env, holder: &Object<'_>, ev: &BreakerEvent) -> Result<()> {
        let (kinds, type_name) = Kind::of(ev);
        if kinds == [None, None] {
            return Ok(());
        }
        let ids: Vec<u32> = self
            .listeners
            .borrow()
            .iter()
            .filter(|(_, k)| kinds.contains(&Some(*k)))
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let payload = event_object(ev, type_name).into_unknown(env)?;
        for id in ids {
            let f: Unknown = holder.get_element(id)?;
            // A listener removed by an earlier one in this dispatch is no longer there.
            if f.get_type()? != ValueType::Function {
                continue;
            }
            js::call_listener(env.raw(), f.raw(), &[payload.raw()])?;
        }
        Ok(())
    }
}

/// The JS object of a core event (see the module docs for its fields).
fn event_object(ev: &BreakerEvent, type_name: &str) -> EventObject {
    let name = |s: State| Some(s.name().to_string());
    let mut o = EventObject {
        r#type: type_name.to_string(),
        from: None,
        to: None,
        state: None,
        retry_after: None,
        duration: None,
        kind: None,
    };
    match ev {
        BreakerEvent::StateChange { from, to } => {
            o.from = name(*from);
            o.to = name(*to);
        }
        BreakerEvent::Rejected { state, retry_after } => {
            o.state = name(*state);
            o.retry_after = Some(crate::units::ms_of(*retry_after));
        }
        BreakerEvent::Success { duration } => o.duration = Some(crate::units::ms_of(*duration)),
        BreakerEvent::Failure { duration, kind } => {
            o.duration = Some(crate::units::ms_of(*duration));
            o.kind = Some(kind.name().to_string());
        }
        _ => {}
    }
    o
}

/// The kind named by a JS string, or `invalid_input` listing the names.
pub fn kind_named(name: &Unknown<'_>) -> Result<Kind> {
    let parsed = if name.get_type()? == ValueType::String {
        Kind::parse(&String::from_unknown(*name)?)
    } else {
        None
    };
    parsed
        .ok_or_else(|| Error::invalid(format!("unknown breaker event; use one of {NAMES}")).into())
}
