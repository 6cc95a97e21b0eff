//! The JavaScript-side buffer of a subscription: the state object `{ buf, head, tail, closed, gen }` that the
//! helpers of `bindings-node/js/hub.js` (the `for await` iterator, the listener loop) share with
//! the native side. The native side moves messages from the core queue into `buf` in batches; the
//! iterator takes them without a native call per message.
//!
//! Raw Node-API: the buffer is touched once per refill and per listener pass. Bench rows: `node bench/hub.js`,
//! the `for await` and `on('message')` columns.

use crate::error::Result;
use crate::napi::js::{self, Handle};
use crate::napi::raw::{self, napi_call};
use crate::napi::script;
use napi::sys;
use std::ptr;

/// The subscription helpers: `{ iterate, take, fill, deliver, installRaw }`.
pub(crate) const HUB: &str = include_str!("../../js/hub.js");

/// How a message taken from the buffer is handed out: as it is (`tryRecv`, `recv()`, listeners), or
/// as the iterator result `{ value, done: false }` that `next()` resolves with (made in JavaScript:
/// through Node-API an object with two properties costs four calls). The numbers are the `shape`
/// argument of `take` / `fill` in `bindings-node/js/hub.js`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    /// The message object.
    Bare = 1,
    /// `{ value: message, done: false }`.
    Step = 2,
}

/// `shape` as the helpers' argument (`undefined`: take nothing).
fn shape_value(env: sys::napi_env, shape: Option<Shape>) -> Result<sys::napi_value> {
    let mut v = ptr::null_mut();
    match shape {
        Some(s) => napi_call!(napi_create_uint32(env, s as u32, &mut v))?,
        None => napi_call!(napi_get_undefined(env, &mut v))?,
    }
    Ok(v)
}

/// A subscription's `{ buf, head, tail, closed, gen }` object (strong references, JavaScript thread only; a copy
/// names the same object).
#[derive(Clone, Copy)]
pub struct JsBuffer {
    state: Handle<sys::napi_ref>,
    buf: Handle<sys::napi_ref>,
}

impl JsBuffer {
    /// A new, empty, open buffer.
    pub fn new(env: sys::napi_env) -> Result<JsBuffer> {
        let (mut state, mut buf, mut open) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        napi_call!(napi_create_object(env, &mut state))?;
        napi_call!(napi_create_array(env, &mut buf))?;
        napi_call!(napi_get_boolean(env, false, &mut open))?;
        napi_call!(napi_set_named_property(env, state, c"buf".as_ptr(), buf))?;
        napi_call!(napi_set_named_property(
            env,
            state,
            c"closed".as_ptr(),
            open
        ))?;
        let mut zero = ptr::null_mut();
        napi_call!(napi_create_uint32(env, 0, &mut zero))?;
        napi_call!(napi_set_named_property(env, state, c"gen".as_ptr(), zero))?;
        napi_call!(napi_set_named_property(env, state, c"head".as_ptr(), zero))?;
        napi_call!(napi_set_named_property(env, state, c"tail".as_ptr(), zero))?;
        let (mut s, mut b) = (ptr::null_mut(), ptr::null_mut());
        napi_call!(napi_create_reference(env, state, 1, &mut s))?;
        napi_call!(napi_create_reference(env, buf, 1, &mut b))?;
        Ok(JsBuffer {
            state: Handle(s),
            buf: Handle(b),
        })
    }

    fn get(env: sys::napi_env, r: sys::napi_ref) -> Result<sys::napi_value> {
        let mut v = ptr::null_mut();
        napi_call!(napi_get_reference_value(env, r, &mut v))?;
        if v.is_null() {
            return Err(dashfeed::Error::Internal("subscription buffer is gone".into()).into());
        }
        Ok(v)
    }

    /// Messages buffered (`tail - head`).
    pub fn len(&self, env: sys::napi_env) -> Result<u32> {
        let state = JsBuffer::get(env, self.state.0)?;
        let (mut head, mut tail) = (0u32, 0u32);
        napi_call!(napi_get_value_uint32(
            env,
            raw::named(env, state, c"head")?,
            &mut head
        ))?;
        napi_call!(napi_get_value_uint32(
            env,
            raw::named(env, state, c"tail")?,
            &mut tail
        ))?;
        Ok(tail.saturating_sub(head))
    }

    /// Appends messages (one call into JavaScript; a `napi_set_element` per message costs several
    /// times more: bench row `node bench/hub.js`, 1,000 subscribers), then takes the oldest in
    /// `shape` if one is given (in the same call: the promise that waited for these messages).
    pub fn push_all(
        &self,
        env: sys::napi_env,
        msgs: &[sys::napi_value],
        shape: Option<Shape>,
    ) -> Result<Option<sys::napi_value>> {
        if msgs.is_empty() {
            return Ok(None);
        }
        let mut args = Vec::with_capacity(msgs.len() + 2);
        args.push(JsBuffer::get(env, self.state.0)?);
        args.push(shape_value(env, shape)?);
        args.extend_from_slice(msgs);
        let out = script::call(env, HUB, c"fill", &args)?;
        Ok(shape.map(|_| out))
    }

    /// Takes the oldest message, in `shape` (one call into JavaScript); `None` when the buffer is
    /// empty.
    pub fn pop(&self, env: sys::napi_env, shape: Shape) -> Result<Option<sys::napi_value>> {
        let state = JsBuffer::get(env, self.state.0)?;
        let out = script::call(env, HUB, c"take", &[state, shape_value(env, Some(shape))?])?;
        Ok((raw::type_of(env, out)? != sys::ValueType::napi_undefined).then_some(out))
    }

    /// Sets `state.gen`, the listener generation the delivery loop compares between messages.
    pub fn set_generation(&self, env: sys::napi_env, generation: u32) -> Result<()> {
        let state = JsBuffer::get(env, self.state.0)?;
        let mut gen = ptr::null_mut();
        napi_call!(napi_create_uint32(env, generation, &mut gen))?;
        napi_call!(napi_set_named_property(env, state, c"gen".as_ptr(), gen))
    }

    /// Marks the buffer closed and empties it (the helpers stop handing out messages).
    pub fn close(&self, env: sys::napi_env) -> Result<()> {
        let state = JsBuffer::get(env, self.state.0)?;
        let buf = JsBuffer::get(env, self.buf.0)?;
        let (mut yes, mut zero) = (ptr::null_mut(), ptr::null_mut());
        napi_call!(napi_get_boolean(env, true, &mut yes))?;
        napi_call!(napi_create_uint32(env, 0, &mut zero))?;
        napi_call!(napi_set_named_property(env, state, c"closed".as_ptr(), yes))?;
        napi_call!(napi_set_named_property(env, state, c"head".as_ptr(), zero))?;
        napi_call!(napi_set_named_property(env, state, c"tail".as_ptr(), zero))?;
        napi_call!(napi_set_named_property(env, buf, c"length".as_ptr(), zero))
    }

    /// The async iterator of `for await (const msg of sub)` over `sub` (the JS Subscription).
    pub fn iterator(&self, env: sys::napi_env, sub: sys::napi_value) -> Result<sys::napi_value> {
        let state = JsBuffer::get(env, self.state.0)?;
        script::call(env, HUB, c"iterate", &[sub, state])
    }

    /// Appends `fresh` and hands the buffered messages to `listeners` (an array of functions), in
    /// one call into JavaScript; a listener's exception goes to the module's listener policy
    /// (`js::rethrow`).
    pub fn deliver(
        &self,
        env: sys::napi_env,
        listeners: sys::napi_value,
        fresh: &[sys::napi_value],
    ) -> Result<()> {
        let mut args = Vec::with_capacity(fresh.len() + 3);
        args.push(js::rethrow(env)?);
        args.push(listeners);
        args.push(JsBuffer::get(env, self.state.0)?);
        args.extend_from_slice(fresh);
        script::call(env, HUB, c"deliver", &args).map(|_| ())
    }

    /// Frees the references (the subscription object was collected).
    pub fn dispose(&self, env: sys::napi_env) {
        for r in [self.state.0, self.buf.0] {
            // SAFETY: our references, deleted once, on the environment's thread.
            unsafe { sys::napi_delete_reference(env, r) };
        }
    }
}
