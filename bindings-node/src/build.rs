//! Core → JavaScript: a core [`Build`] that makes JS values straight from the decoder, with no
//! intermediate tree.
//!
//! nil → `null`; integers → `number`, or `bigint` beyond ±(2^53−1); floats → `number`; str →
//! `string`; bin → `Buffer` (a copy); arrays; a map whose keys are all strings → a plain object,
//! any other map → a JS `Map`. Object keys are defined as own data properties
//! (`napi_define_properties`, one call per object), so a `"__proto__"` key is an ordinary property
//! and never changes the prototype, and the key text goes to V8 as UTF-8 without a JS string made
//! per key.
//!
//! Raw Node-API: one call per decoded node. Bench rows: `node bench/codec.js`, the `decode` rows of
//! "spans with bytes" (a `Buffer` and a BigInt-range integer per item). Payloads that JSON carries
//! exactly decode through `JSON.parse` instead (`codec`, the other messages' rows); this builder
//! takes the rest, and every core value handed to JavaScript by reference (`values`: `Message.data`,
//! `toJSON()`, `parseEvents`, background jobs' results), which no bench row reads.

use crate::error::{JsError, Result};
use crate::napi::raw::{self, napi_call};
use crate::napi::realm::{self, Builtin};
use crate::walk::MAX_SAFE;
use dashfeed::codec::Build;
use napi::sys;
use std::ptr;
use std::vec::Drain;

/// A built node.
#[derive(Clone, Copy)]
pub enum Node {
    /// A JS string (usable as an object key as it is).
    Str(sys::napi_value),
    /// Any other JS value.
    Js(sys::napi_value),
    /// A map key kept as NUL-terminated UTF-8 at this offset of `JsBuilder::names`; it becomes a JS
    /// string only if its map turns out to need a JS `Map`.
    Key(usize),
}

/// Builds JS values for the running callback.
pub struct JsBuilder {
    env: sys::napi_env,
    /// Keys of the maps being built, NUL-terminated. Maps complete innermost first, so each map's
    /// keys are the tail of this buffer when it completes, and are cut off then.
    names: Vec<u8>,
    /// Property descriptors, reused from map to map.
    props: Vec<sys::napi_property_descriptor>,
}

impl JsBuilder {
    /// A builder for the running callback.
    pub fn new(env: sys::napi_env) -> Self {
        JsBuilder {
            env,
            names: Vec::new(),
            props: Vec::new(),
        }
    }

    /// The JS value of a node (a pending key becomes a JS string).
    pub fn js(&self, node: Node) -> Result<sys::napi_value> {
        match node {
            Node::Str(v) | Node::Js(v) => Ok(v),
            Node::Key(at) => {
                let end = self.names[at..]
                    .iter()
                    .position(|&b| b == 0)
                    .map_or(self.names.len(), |n| at + n);
                let text = std::str::from_utf8(&self.names[at..end]).unwrap_or_default();
                raw::string(self.env, text)
            }
        }
    }

    fn object(&mut self, mut kv: Drain<'_, Node>) -> Result<sys::napi_value> {
        let env = self.env;
        let mut obj = ptr::null_mut();
        napi_call!(napi_create_object(env, &mut obj))?;
        let mut cut = self.names.len();
        self.props.clear();
        while let (Some(k), Some(v)) = (kv.next(), kv.next()) {
            let (utf8name, name) = match k {
                Node::Key(at) => {
                    cut = cut.min(at);
                    (self.names[at..].as_ptr().cast(), ptr::null_mut())
                }
                Node::Str(s) | Node::Js(s) => (ptr::null(), s),
            };
            self.props.push(sys::napi_property_descriptor {
                utf8name,
                name,
                method: None,
                getter: None,
                setter: None,
                value: self.js(v)?,
                attributes: sys::PropertyAttributes::writable
                    | sys::PropertyAttributes::enumerable
                    | sys::PropertyAttributes::configurable,
                data: ptr::null_mut(),
            });
        }
        let (n, props) = (self.props.len(), self.props.as_ptr());
        if n > 0 {
            napi_call!(napi_define_properties(env, obj, n, props))?;
        }
        self.names.truncate(cut);
        Ok(obj)
    }

    /// A JS `Map` for a map with a key that is not a string.
    fn map_object(&mut self, mut kv: Drain<'_, Node>) -> Result<sys::napi_value> {
        let env = self.env;
        let ctor = realm::builtin(env, Builtin::Map)?;
        let mut map = ptr::null_mut();
        napi_call!(napi_new_instance(env, ctor, 0, ptr::null(), &mut map))?;
        let set = raw::named(env, map, c"set")?;
        let mut cut = self.names.len();
        while let (Some(k), Some(v)) = (kv.next(), kv.next()) {
            if let Node::Key(at) = k {
                cut = cut.min(at);
            }
            let args = [self.js(k)?, self.js(v)?];
            let mut ignored = ptr::null_mut();
            napi_call!(napi_call_function(
                env,
                map,
                set,
                2,
                args.as_ptr(),
                &mut ignored
            ))?;
        }
        self.names.truncate(cut);
        Ok(map)
    }
}

impl Build for JsBuilder {
    type Out = Node;
    type Error = JsError;

    fn nil(&mut self) -> Result<Node> {
        let mut out = ptr::null_mut();
        napi_call!(napi_get_null(self.env, &mut out))?;
        Ok(Node::Js(out))
    }
    fn bool(&mut self, v: bool) -> Result<Node> {
        let mut out = ptr::null_mut();
        napi_call!(napi_get_boolean(self.env, v, &mut out))?;
        Ok(Node::Js(out))
    }
    fn int(&mut self, v: i64) -> Result<Node> {
        let mut out = ptr::null_mut();
        if (v as f64).abs() <= MAX_SAFE {
            napi_call!(napi_create_int64(self.env, v, &mut out))?;
        } else {
            napi_call!(napi_create_bigint_int64(self.env, v, &mut out))?;
        }
        Ok(Node::Js(out))
    }
    fn uint(&mut self, v: u64) -> Result<Node> {
        if let Ok(i) = i64::try_from(v) {
            return self.int(i);
        }
        let mut out = ptr::null_mut();
        napi_call!(napi_create_bigint_uint64(self.env, v, &mut out))?;
        Ok(Node::Js(out))
    }
    fn float(&mut self, v: f64) -> Result<Node> {
        let mut out = ptr::null_mut();
        napi_call!(napi_create_double(self.env, v, &mut out))?;
        Ok(Node::Js(out))
    }
    fn str(&mut self, v: &str) -> Result<Node> {
        raw::string(self.env, v).map(Node::Str)
    }
    fn bin(&mut self, v: &[u8]) -> Result<Node> {
        realm::buffer(self.env, v).map(Node::Js)
    }
    fn key_str(&mut self, v: &str) -> Result<Node> {
        if v.as_bytes().contains(&0) {
            return self.str(v); // an inner NUL would cut the C string short: pass a JS string
        }
        let at = self.names.len();
        self.names.extend_from_slice(v.as_bytes());
        self.names.push(0);
        Ok(Node::Key(at))
    }
    fn array(&mut self, items: Drain<'_, Node>) -> Result<Node> {
        let values = items
            .map(|item| self.js(item))
            .collect::<Result<Vec<_>>>()?;
        realm::array(self.env, &values).map(Node::Js)
    }
    fn map(&mut self, kv: Drain<'_, Node>) -> Result<Node> {
        let all_strings = kv
            .as_slice()
            .iter()
            .step_by(2)
            .all(|k| !matches!(k, Node::Js(_)));
        let out = if all_strings {
            self.object(kv)?
        } else {
            self.map_object(kv)?
        };
        Ok(Node::Js(out))
    }
}
