//! `Message`: one hub message as JavaScript sees it — its fields, its `data` (a plain object built
//! on first access and kept), its pre-encoded wire bytes (`raw(format)`) and its wire map
//! (`toJSON()` / `toObject()`).
//!
//! A message object is made once per publication per wake-up pass: the subscriptions woken together
//! (one publish reaching many subscribers, whatever their wire format) share it, as they share the
//! core's publication. Its
//! fields (`kind`, `dashboard`, `epoch`, `seq`, `recovered`, `missed`) are read-only own properties
//! set when it is made, so reading them costs no native call; the class getters are their
//! declaration (and answer for an object made otherwise). `raw()` is a plain `#[napi]` method that
//! copies the encoded bytes into a new `Buffer`; the `raw` wrapper of `bindings-node/js/hub.js`,
//! installed over it when the module loads (`crate::fast`), keeps that Buffer on the message object
//! per format, so the subscribers sharing a message make one native call, not one each.
//!
//! Raw Node-API: a message object is made per publication per wake-up pass (its fields defined in
//! one call). Bench rows: `node bench/hub.js`, every row.

use crate::error::{guard, Code, Result};
use crate::napi::raw::{self, napi_call};
use crate::values::to_js as value_to_js;
use dashfeed::codec::Format;
use dashfeed::hub::Message as CoreMessage;
use napi::bindgen_prelude::{Env, JavaScriptClassExt, ObjectFinalize, Unknown};
use napi::{sys, JsValue};
use napi_derive::napi;
use rustc_hash::FxHashMap;
use std::cell::Cell;
use std::ptr;

/// A hub message: `kind` (`'snapshot'`, `'update'`, `'recovered'`), `dashboard`, `epoch`, `seq`,
/// `data`, `recovered`, `missed`, and `raw(format)`, the wire bytes encoded once for every
/// subscriber. Subscribers woken by the same publication in one wake-up pass receive the same
/// object (as EventEmitter listeners share their arguments; `tryRecv` and a timed `recv` make
/// their own): treat it, its `data` and its `raw()` Buffer as read-only.
#[napi(js_name = "Message", custom_finalize)]
pub struct Message {
    pub(crate) inner: CoreMessage,
    /// The `data` object, once built (a strong reference).
    data: Cell<sys::napi_ref>,
}

impl ObjectFinalize for Message {
    fn finalize(self, env: Env) -> napi::Result<()> {
        let data = self.data.get();
        if !data.is_null() {
            // SAFETY: our reference, deleted once, on the environment's thread.
            unsafe { sys::napi_delete_reference(env.raw(), data) };
        }
        Ok(())
    }
}

/// Message objects made during one wake-up pass, by publication ([`CoreMessage::publication_key`]:
/// the objects made hold their publications, so a key is not reused within the pass). Looked up once
/// per delivery, hence the Fx hash of one word (SipHash was ~3% of a 1,000-subscriber fan-out in
/// `node bench/hub.js`).
#[derive(Default)]
pub struct Pass {
    made: FxHashMap<usize, sys::napi_value>,
}

/// A JS `Message` for `m`: the object already made for the same publication in this `pass`, if any.
pub fn to_js(
    env: sys::napi_env,
    m: CoreMessage,
    pass: Option<&mut Pass>,
) -> Result<sys::napi_value> {
    let Some(pass) = pass else {
        return make(env, m);
    };
    let key = m.publication_key();
    if let Some(&v) = pass.made.get(&key) {
        return Ok(v);
    }
    let v = make(env, m)?;
    pass.made.insert(key, v);
    Ok(v)
}

/// Makes a `Message` object with its field properties.
fn make(env: sys::napi_env, m: CoreMessage) -> Result<sys::napi_value> {
    let (kind, seq, recovered, missed) = (m.kind().name(), m.seq(), m.recovered(), m.missed());
    let dashboard = raw::string(env, m.dashboard())?;
    let epoch = raw::string(env, m.epoch())?;
    let obj = Message::new(m).into_instance(&Env::from_raw(env))?.value;
    let (mut seq_v, mut rec_v, mut missed_v, mut null) = (
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
        ptr::null_mut(),
    );
    napi_call!(napi_get_null(env, &mut null))?;
    napi_call!(napi_create_double(env, seq as f64, &mut seq_v))?;
    match recovered {
        Some(b) => napi_call!(napi_get_boolean(env, b, &mut rec_v))?,
        None => rec_v = null,
    }
    match missed {
        Some(n) => napi_call!(napi_create_double(env, n as f64, &mut missed_v))?,
        None => missed_v = null,
    }
    let field = |name, value| raw::property(name, value, sys::PropertyAttributes::enumerable);
    let props = [
        field(c"kind", raw::string(env, kind)?),
        field(c"dashboard", dashboard),
        field(c"epoch", epoch),
        field(c"seq", seq_v),
        field(c"recovered", rec_v),
        field(c"missed", missed_v),
    ];
    napi_call!(napi_define_properties(
        env,
        obj,
        props.len(),
        props.as_ptr()
    ))?;
    Ok(obj)
}

impl Message {
    /// Wraps a core message.
    pub fn new(inner: CoreMessage) -> Self {
        Message {
            inner,
            data: Cell::new(ptr::null_mut()),
        }
    }

    /// The value `r` refers to, or a new one made by `make` and kept in `r` (the `data` object).
    fn cached(
        env: sys::napi_env,
        r: &Cell<sys::napi_ref>,
        make: impl FnOnce() -> Result<sys::napi_value>,
    ) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        if r.get().is_null() {
            out = make()?;
            let mut made = ptr::null_mut();
            napi_call!(napi_create_reference(env, out, 1, &mut made))?;
            r.set(made);
        } else {
            napi_call!(napi_get_reference_value(env, r.get(), &mut out))?;
        }
        Ok(out)
    }
}

fn unknown(env: &Env, v: sys::napi_value) -> Unknown<'_> {
    crate::napi::convert::unknown(env.raw(), v)
}

#[napi]
impl Message {
    /// `'snapshot'`, `'update'` or `'recovered'`.
    #[napi(
        getter,
        catch_unwind,
        ts_return_type = "'snapshot' | 'update' | 'recovered'"
    )]
    pub fn kind(&self) -> &'static str {
        self.inner.kind().name()
    }

    /// The dashboard id.
    #[napi(getter, catch_unwind)]
    pub fn dashboard(&self) -> String {
        self.inner.dashboard().to_owned()
    }

    /// The epoch (16 hex digits) of the topic history this message belongs to.
    #[napi(getter, catch_unwind)]
    pub fn epoch(&self) -> String {
        self.inner.epoch().to_owned()
    }

    /// The sequence number: of the publication (update), of the last publication included
    /// (snapshot), or the latest one at resume time (recovered).
    #[napi(getter, catch_unwind)]
    pub fn seq(&self) -> f64 {
        self.inner.seq() as f64
    }

    /// `true` on a `recovered` header, `false` on a snapshot sent because a resume was
    /// impossible, `null` otherwise.
    #[napi(getter, catch_unwind)]
    pub fn recovered(&self) -> Option<bool> {
        self.inner.recovered()
    }

    /// On a `recovered` header: how many updates follow; `null` otherwise.
    #[napi(getter, catch_unwind)]
    pub fn missed(&self) -> Option<f64> {
        self.inner.missed().map(|n| n as f64)
    }

    /// The data (metric → value): built on first access, then the same object.
    #[napi(getter, catch_unwind, ts_return_type = "Record<string, unknown>")]
    pub fn data<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            let raw_env = env.raw();
            let v = Message::cached(raw_env, &self.data, || {
                value_to_js(env, &*self.inner.data()?).map(|v| v.raw())
            })?;
            Ok(unknown(env, v))
        })
    }

    /// The wire bytes in `format` (`'msgpack'`, the default, or `'json'`), gzipped above the hub's
    /// `compressOver`: encoded once per publication and format whatever the subscriber count. The
    /// method that runs is the `raw` wrapper of `bindings-node/js/hub.js`, installed over this one
    /// when the module loads: it calls this one once per message object and format and returns
    /// the same Buffer on every later call (bench rows: `node bench/hub.js`).
    #[napi(
        catch_unwind,
        ts_args_type = "format?: 'msgpack' | 'json'",
        ts_return_type = "Buffer"
    )]
    pub fn raw<'env>(
        &self,
        env: &'env Env,
        format: Option<Unknown<'env>>,
    ) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            // Read here, not typed by napi-rs: a non-string is `invalid_input` like a bad name.
            let format = match format {
                Some(f) if !crate::napi::args::nullish(&f)? => {
                    crate::napi::args::string(env.raw(), f.raw(), "format")?
                }
                _ => "msgpack".to_owned(),
            };
            let format = format.parse::<Format>()?;
            let bytes = self.inner.raw(format)?;
            let buffer = crate::napi::realm::buffer(env.raw(), &bytes)?;
            Ok(unknown(env, buffer))
        })
    }

    /// The wire message as a plain object, fields in wire order (`type` first); what
    /// `JSON.stringify(message)` writes.
    #[napi(
        js_name = "toJSON",
        catch_unwind,
        ts_return_type = "Record<string, unknown>"
    )]
    pub fn to_json<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>, Code> {
        guard(|| value_to_js(env, &self.inner.to_value()?))
    }

    /// The same as `toJSON()`.
    #[napi(catch_unwind, ts_return_type = "Record<string, unknown>")]
    pub fn to_object<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>, Code> {
        self.to_json(env)
    }

    /// `Message(kind="update", dashboard="ops", epoch="…", seq=13)`.
    #[napi(js_name = "toString", catch_unwind)]
    pub fn to_js_string(&self) -> String {
        format!(
            "Message(kind={:?}, dashboard={:?}, epoch={:?}, seq={})",
            self.inner.kind().name(),
            self.inner.dashboard(),
            self.inner.epoch(),
            self.inner.seq()
        )
    }
}
