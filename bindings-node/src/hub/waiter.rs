//! The promises of `next()` / `recv(timeoutMs)` that wait for a message ([`Waiter`]), what settles
//! one ([`Item`]) and how ([`settle`]): `next()` resolves `{ value, done }`, `recv()` the message or
//! `null`; the slow-consumer end rejects either. Also the listener events ([`Event`]). The queue of
//! waiters, the listeners and when they are called are [`super::feed::Feed`]'s.
//!
//! Raw Node-API: a waiter is a napi deferred, settled with a message the buffer helpers already
//! shaped (only the end's `{ done: true }` is built through Node-API). Bench rows: `node bench/hub.js`, the `for await`
//! columns.

use super::buffer::Shape;
use super::timer::Timer;
use crate::error::Result;
use crate::napi::js::{self, Handle};
use crate::napi::raw::napi_call;
use dashfeed::Error;
use napi::sys;

/// A promise waiting for a message.
pub(super) struct Waiter {
    pub(super) deferred: Handle<sys::napi_deferred>,
    /// `next()` resolves `{ value, done }`; `recv()` resolves the message or `null`.
    pub(super) recv: bool,
    /// The id a `recv(timeout)` timer names, and that timer, if any.
    pub(super) id: u64,
    pub(super) timer: Option<Timer>,
}

impl Waiter {
    /// How this waiter's promise takes its message: bare (`recv()`), or as `{ value, done }`.
    pub(super) fn shape(&self) -> Shape {
        if self.recv {
            Shape::Bare
        } else {
            Shape::Step
        }
    }
}

/// What a waiter gets.
pub(super) enum Item {
    /// A `Message` object, in the shape its waiter resolves with (see [`Waiter::shape`]).
    Message(sys::napi_value),
    /// The end: `None` closed, `Some(err)` slow consumer.
    End(Option<Error>),
    /// Nothing yet.
    Empty,
}

/// Resolves (or rejects) a waiter's promise with `item` (a message already in the waiter's shape).
pub(super) fn settle(
    env: sys::napi_env,
    deferred: sys::napi_deferred,
    recv: bool,
    item: Item,
) -> Result<()> {
    let value = match item {
        Item::Message(shaped) => shaped,
        Item::End(Some(e)) => {
            let err = crate::error::to_js(env, &e)?;
            return napi_call!(napi_reject_deferred(env, deferred, err));
        }
        Item::End(None) | Item::Empty if recv => js::null(env)?,
        Item::End(None) | Item::Empty => js::iter_result(env, js::undefined(env)?, true)?,
    };
    napi_call!(napi_resolve_deferred(env, deferred, value))
}

/// A listener event.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Event {
    /// Each message.
    Message,
    /// The subscription ended (once).
    Close,
    /// The subscription was ended by the `disconnect` policy (before `'close'`).
    Error,
}

impl Event {
    /// Parses an event name.
    pub fn parse(name: &str) -> Result<Event> {
        match name {
            "message" => Ok(Event::Message),
            "close" => Ok(Event::Close),
            "error" => Ok(Event::Error),
            other => Err(Error::invalid(format!(
                "unknown event {other:?} (expected 'message', 'close' or 'error')"
            ))
            .into()),
        }
    }
}
