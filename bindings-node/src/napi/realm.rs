//! Per-environment state, kept in the addon's Node-API instance data: references to the built-ins
//! the conversions consult, and the slab that small `Buffer`s are cut from.
//!
//! - Built-ins: finding `globalThis.Object.prototype` takes three property reads on every call; a
//!   reference made once takes one. They are resolved when the environment first calls into a
//!   conversion.
//! - Buffers: a `Buffer` made by Node-API (`napi_create_buffer_copy`) allocates its own ArrayBuffer
//!   and backing store (~0.5 µs, and GC pressure from external memory). Like Node's
//!   `Buffer.allocUnsafe` pool, outputs under 4 KiB are instead copied into a shared 8 KiB
//!   ArrayBuffer and returned as `Buffer.from(slab, offset, length)` views (~0.15 µs). As with
//!   Node's pool, a retained small Buffer keeps its slab alive and `buf.buffer` is the whole slab
//!   (transferring it detaches every Buffer cut from it). The slab is re-checked before each write,
//!   so a slab that JavaScript detached is replaced, never written.
//!
//! The instance data is the addon's one slot per environment (the main thread and each worker):
//! binding files that need per-environment state add it to [`Realm`]. Each environment runs on a
//! thread of its own, which [`enter`] notes for [`current`].

use super::raw::{self, napi_call};
use crate::error::Result;
use napi::sys;
use std::ffi::c_void;
use std::ptr;

/// Size of a slab.
const SLAB: usize = 8 * 1024;
/// Outputs shorter than this are cut from a slab; longer ones get a Buffer of their own.
const SLAB_ITEM: usize = SLAB / 2;

/// A built-in value resolved once per environment.
#[derive(Clone, Copy)]
pub enum Builtin {
    /// `Object.prototype`.
    ObjectPrototype = 0,
    /// `Map`.
    Map,
    /// `Set`.
    Set,
    /// `Array.from`.
    ArrayFrom,
    /// `Buffer.from`.
    BufferFrom,
    /// `Object.keys`.
    ObjectKeys,
    /// `JSON.parse`.
    JsonParse,
    /// `Array.of`.
    ArrayOf,
    /// `Array.prototype.push`.
    ArrayPush,
}

/// The per-environment state.
struct Realm {
    /// References to the [`Builtin`]s, in their order.
    builtins: [sys::napi_ref; 9],
    /// The current slab (an ArrayBuffer of `SLAB` bytes), or null.
    slab: sys::napi_ref,
    /// Bytes of the slab already handed out.
    used: usize,
}

/// Frees the state when its environment is torn down. The references are left to Node, which
/// releases every reference an environment still holds at teardown (deleting them here could touch
/// them after).
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    if !data.is_null() {
        // SAFETY: `data` is the `Box<Realm>` leaked by `realm`, handed back exactly once.
        drop(unsafe { Box::from_raw(data.cast::<Realm>()) });
    }
}

fn reference(env: sys::napi_env, v: sys::napi_value) -> Result<sys::napi_ref> {
    let mut out = ptr::null_mut();
    napi_call!(napi_create_reference(env, v, 1, &mut out))?;
    Ok(out)
}

fn deref(env: sys::napi_env, r: sys::napi_ref) -> Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    napi_call!(napi_get_reference_value(env, r, &mut out))?;
    Ok(out)
}

/// The state of `env`, made at the first call. Callers hold the pointer only while no JavaScript
/// runs.
fn realm(env: sys::napi_env) -> Result<*mut Realm> {
    let mut data = ptr::null_mut();
    napi_call!(napi_get_instance_data(env, &mut data))?;
    if !data.is_null() {
        return Ok(data.cast());
    }
    let global = raw::global(env)?;
    let object = raw::named(env, global, c"Object")?;
    let array = raw::named(env, global, c"Array")?;
    let buffer = raw::named(env, global, c"Buffer")?;
    let json = raw::named(env, global, c"JSON")?;
    let values = [
        raw::named(env, object, c"prototype")?,
        raw::named(env, global, c"Map")?,
        raw::named(env, global, c"Set")?,
        raw::named(env, array, c"from")?,
        raw::named(env, buffer, c"from")?,
        raw::named(env, object, c"keys")?,
        raw::named(env, json, c"parse")?,
        raw::named(env, array, c"of")?,
        raw::named(env, raw::named(env, array, c"prototype")?, c"push")?,
    ];
    let mut builtins = [ptr::null_mut(); 9];
    for (slot, v) in builtins.iter_mut().zip(values) {
        *slot = reference(env, v)?;
    }
    let state = Box::into_raw(Box::new(Realm {
        builtins,
        slab: ptr::null_mut(),
        used: 0,
    }));
    if let Err(e) = napi_call!(napi_set_instance_data(
        env,
        state.cast(),
        Some(finalize),
        ptr::null_mut()
    )) {
        // SAFETY: `state` was not handed to Node; this is its only owner.
        drop(unsafe { Box::from_raw(state) });
        return Err(e);
    }
    Ok(state)
}

thread_local! {
    /// The environment whose JavaScript runs on this thread (Node runs each environment, the main
    /// thread's and each worker's, on a thread of its own), noted when the module loads into it.
    static CURRENT: std::cell::Cell<sys::napi_env> = const { std::cell::Cell::new(ptr::null_mut()) };
}

/// Notes `env` as this thread's environment (once, when the module loads into it).
pub fn enter(env: sys::napi_env) {
    CURRENT.with(|c| c.set(env));
}

/// This thread's environment, once the module has loaded into it (for code that has no `env` at
/// hand: `crate::error::guard`).
pub fn current() -> Option<sys::napi_env> {
    let env = CURRENT.with(std::cell::Cell::get);
    (!env.is_null()).then_some(env)
}

/// A built-in of the current environment.
pub fn builtin(env: sys::napi_env, which: Builtin) -> Result<sys::napi_value> {
    let state = realm(env)?;
    // SAFETY: `state` is this environment's live Realm; it is read, and no JavaScript runs
    // meanwhile.
    let r = unsafe { (*state).builtins[which as usize] };
    deref(env, r)
}

/// Arguments per `Array.of` / `push` call in [`array`]: a call's arguments are copied onto the
/// stack, so a bounded number per call.
const ARRAY_CHUNK: usize = 4096;

/// Arrays shorter than this are filled element by element (a call into JavaScript costs about
/// what a few element stores do).
const FEW: usize = 8;

/// A new JS array of `items`, made by `Array.of` (and `push` past [`ARRAY_CHUNK`] items): one
/// call for up to a few thousand elements, where a `napi_set_element` per element (a generic
/// property store each) costs several times as much.
pub fn array(env: sys::napi_env, items: &[sys::napi_value]) -> Result<sys::napi_value> {
    if items.len() < FEW {
        let mut out = ptr::null_mut();
        napi_call!(napi_create_array_with_length(env, items.len(), &mut out))?;
        for (i, &item) in (0u32..).zip(items) {
            napi_call!(napi_set_element(env, out, i, item))?;
        }
        return Ok(out);
    }
    let of = builtin(env, Builtin::ArrayOf)?;
    let (first, rest) = items.split_at(items.len().min(ARRAY_CHUNK));
    let mut out = ptr::null_mut();
    napi_call!(napi_call_function(
        env,
        of,
        of,
        first.len(),
        first.as_ptr(),
        &mut out
    ))?;
    if !rest.is_empty() {
        let push = builtin(env, Builtin::ArrayPush)?;
        for chunk in rest.chunks(ARRAY_CHUNK) {
            let mut ignored = ptr::null_mut();
            napi_call!(napi_call_function(
                env,
                out,
                push,
                chunk.len(),
                chunk.as_ptr(),
                &mut ignored
            ))?;
        }
    }
    Ok(out)
}

/// `Object.keys(obj)`: V8 answers it from the object's enum cache, where the Node-API key query
/// (`napi_get_all_property_names`) collects and dedupes the keys anew on every call.
pub fn object_keys(env: sys::napi_env, obj: sys::napi_value) -> Result<sys::napi_value> {
    let keys = builtin(env, Builtin::ObjectKeys)?;
    let mut out = ptr::null_mut();
    napi_call!(napi_call_function(env, keys, keys, 1, &obj, &mut out))?;
    Ok(out)
}

/// `JSON.parse(text)` of UTF-8 `text` (which the caller made valid JSON): one string and one call,
/// where building the value takes a Node-API call per node.
pub fn json_parse(env: sys::napi_env, text: &[u8]) -> Result<sys::napi_value> {
    let parse = builtin(env, Builtin::JsonParse)?;
    let mut s = ptr::null_mut();
    napi_call!(napi_create_string_utf8(
        env,
        text.as_ptr().cast(),
        text.len() as isize,
        &mut s
    ))?;
    let mut out = ptr::null_mut();
    napi_call!(napi_call_function(env, parse, parse, 1, &s, &mut out))?;
    Ok(out)
}

/// A new `Buffer` holding a copy of `bytes`: a view into the current slab when `bytes` is small.
pub fn buffer(env: sys::napi_env, bytes: &[u8]) -> Result<sys::napi_value> {
    if bytes.is_empty() || bytes.len() >= SLAB_ITEM {
        return raw::buffer_copy(env, bytes);
    }
    let state = realm(env)?;
    let (slab, offset) = cut(env, state, bytes)?;
    // SAFETY: as in `builtin`.
    let from = deref(env, unsafe {
        (*state).builtins[Builtin::BufferFrom as usize]
    })?;
    let mut args = [slab, ptr::null_mut(), ptr::null_mut()];
    napi_call!(napi_create_uint32(env, offset as u32, &mut args[1]))?;
    napi_call!(napi_create_uint32(env, bytes.len() as u32, &mut args[2]))?;
    let mut out = ptr::null_mut();
    napi_call!(napi_call_function(
        env,
        from,
        from,
        3,
        args.as_ptr(),
        &mut out
    ))?;
    Ok(out)
}

/// Copies `bytes` into the current slab (a new one when it is full, gone or detached) and returns
/// the slab and the offset of the copy.
fn cut(env: sys::napi_env, state: *mut Realm, bytes: &[u8]) -> Result<(sys::napi_value, usize)> {
    // SAFETY: this environment's live Realm; only Node-API calls that run no JavaScript happen
    // while the borrow lasts.
    let r = unsafe { &mut *state };
    let mut current = None;
    if !r.slab.is_null() && r.used + bytes.len() <= SLAB {
        let slab = deref(env, r.slab)?;
        let (mut data, mut len) = (ptr::null_mut(), 0usize);
        napi_call!(napi_get_arraybuffer_info(env, slab, &mut data, &mut len))?;
        if len == SLAB && !data.is_null() {
            current = Some((slab, data.cast::<u8>()));
        }
    }
    let (slab, data) = match current {
        Some(found) => found,
        None => {
            let (mut slab, mut data) = (ptr::null_mut(), ptr::null_mut());
            napi_call!(napi_create_arraybuffer(env, SLAB, &mut data, &mut slab))?;
            let new_ref = reference(env, slab)?;
            if !r.slab.is_null() {
                napi_call!(napi_delete_reference(env, r.slab))?;
            }
            r.slab = new_ref;
            r.used = 0;
            (slab, data.cast::<u8>())
        }
    };
    let offset = r.used;
    // SAFETY: `data` starts the live, attached slab of SLAB bytes, and offset + len <= SLAB.
    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), data.add(offset), bytes.len()) };
    r.used = (offset + bytes.len() + 7) & !7; // 8-byte aligned views, as Node's pool keeps them
    Ok((slab, offset))
}
