//! JavaScript → core: walks a JS value top-down and emits it into a core [`Emit`] (the MessagePack
//! writer, or a [`ValueEmitter`] for JSON and for the other binding files), with no intermediate
//! tree.
//!
//! - `null` / `undefined` → nil; booleans; strings.
//! - A number is an integer when it is integral, within ±(2^53−1) and not −0 (as msgpackr decides);
//!   any other number (fractions, −0, NaN, ±Infinity, huge magnitudes) is a float64.
//! - A `bigint` is an integer; outside −2^63 … 2^64−1 it is `encode_error`.
//! - The bytes of a `Buffer`, any other TypedArray, a `DataView` or an `ArrayBuffer` → bin (read in
//!   place).
//! - Arrays → array; a `Map` → map in insertion order, keys of any supported type.
//! - A plain object, or a class instance, → map of its own enumerable string keys in `Object.keys`
//!   order (getters run; symbol keys are skipped; `toJSON` is not called).
//! - Functions, symbols, `Date`, `Promise` and `Set` are `unsupported_type`, naming the type.
//! - Containers nested deeper than `max_depth` (a cyclic structure included) are `too_deep`.
//!
//! Raw Node-API: one call per property read. Bench rows: `node bench/codec.js`, the `encode` rows, and
//! `node bench/hub.js` (every `hub.publish` walks its data).

use crate::error::{JsError, Result};
use crate::napi::raw::{self, napi_call};
use crate::napi::realm::{self, Builtin};
use dashfeed::codec::{self, Emit, Value, ValueEmitter};
use dashfeed::Error;
use napi::sys;
use std::ptr;

/// Largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// Converts a JS value to a core value (what the other binding files take as input).
pub fn to_value(env: sys::napi_env, v: sys::napi_value, max_depth: usize) -> Result<Value> {
    let mut out = ValueEmitter::new();
    Walk::new(env, max_depth, &mut out).value(v, 0)?;
    Ok(out.finish()?)
}

/// A JS value as the core's encoder walks it (`Codec::encode_from`).
pub struct Source {
    env: sys::napi_env,
    value: sys::napi_value,
    max_depth: usize,
}

impl Source {
    /// `value`, to be walked during the running callback.
    pub fn new(env: sys::napi_env, value: sys::napi_value, max_depth: usize) -> Self {
        Source {
            env,
            value,
            max_depth,
        }
    }
}

impl codec::Source for Source {
    type Error = JsError;

    fn emit<S: Emit>(&mut self, sink: &mut S) -> Result<()> {
        Walk::new(self.env, self.max_depth, sink).value(self.value, 0)
    }
}

fn unsupported(what: &str) -> JsError {
    Error::UnsupportedType(format!(
        "cannot encode {what} (null, boolean, number, bigint, string, Buffer/TypedArray, Array, \
         Map and plain objects are supported)"
    ))
    .into()
}

/// Walks JS values into an [`Emit`], refusing unsupported types and nesting deeper than
/// `max_depth`.
pub struct Walk<'a, E: Emit> {
    env: sys::napi_env,
    max_depth: usize,
    out: &'a mut E,
    /// `Object.prototype`, fetched at the first object.
    object_proto: Option<sys::napi_value>,
}

impl<'a, E: Emit> Walk<'a, E> {
    /// A walker for the running callback.
    pub fn new(env: sys::napi_env, max_depth: usize, out: &'a mut E) -> Self {
        Walk {
            env,
            max_depth,
            out,
            object_proto: None,
        }
    }

    /// Emits one JS value; `depth` is the number of containers around it.
    pub fn value(&mut self, v: sys::napi_value, depth: usize) -> Result<()> {
        let env = self.env;
        match raw::type_of(env, v)? {
            sys::ValueType::napi_string => raw::with_str(env, v, |s| self.out.emit_str(s))??,
            sys::ValueType::napi_number => {
                let mut f = 0.0;
                napi_call!(napi_get_value_double(env, v, &mut f))?;
                if f.fract() == 0.0 && f.abs() <= MAX_SAFE && !(f == 0.0 && f.is_sign_negative()) {
                    self.out.emit_int(f as i64)?
                } else {
                    self.out.emit_float(f)?
                }
            }
            sys::ValueType::napi_object => self.object(v, depth)?,
            sys::ValueType::napi_boolean => {
                let mut b = false;
                napi_call!(napi_get_value_bool(env, v, &mut b))?;
                self.out.emit_bool(b)?
            }
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => self.out.emit_nil()?,
            sys::ValueType::napi_bigint => self.bigint(v)?,
            sys::ValueType::napi_function => return Err(unsupported("a function")),
            sys::ValueType::napi_symbol => return Err(unsupported("a Symbol")),
            _ => return Err(unsupported("an external value")),
        }
        Ok(())
    }

    fn bigint(&mut self, v: sys::napi_value) -> Result<()> {
        let (mut i, mut u, mut lossless) = (0i64, 0u64, false);
        napi_call!(napi_get_value_bigint_int64(
            self.env,
            v,
            &mut i,
            &mut lossless
        ))?;
        if lossless {
            return Ok(self.out.emit_int(i)?);
        }
        napi_call!(napi_get_value_bigint_uint64(
            self.env,
            v,
            &mut u,
            &mut lossless
        ))?;
        if lossless {
            return Ok(self.out.emit_uint(u)?);
        }
        let msg = "bigint is out of the MessagePack range -(2n ** 63n) .. 2n ** 64n - 1n";
        Err(Error::Encode(msg.into()).into())
    }

    fn enter(&self, depth: usize) -> Result<()> {
        if depth >= self.max_depth {
            return Err(Error::TooDeep {
                limit: self.max_depth,
            }
            .into());
        }
        Ok(())
    }

    fn object(&mut self, v: sys::napi_value, depth: usize) -> Result<()> {
        let env = self.env;
        let mut yes = false;
        napi_call!(napi_is_array(env, v, &mut yes))?;
        if yes {
            self.enter(depth)?;
            return self.array(v, depth);
        }
        if self.is_plain(v)? {
            self.enter(depth)?;
            return self.fields(v, depth);
        }
        if let Some(done) = raw::with_bytes(env, v, |b| self.out.emit_bin(b))? {
            return Ok(done?);
        }
        napi_call!(napi_is_date(env, v, &mut yes))?;
        if yes {
            return Err(unsupported(
                "a Date (send date.getTime() or date.toISOString())",
            ));
        }
        napi_call!(napi_is_promise(env, v, &mut yes))?;
        if yes {
            return Err(unsupported("a Promise (await it first)"));
        }
        napi_call!(napi_instanceof(
            env,
            v,
            realm::builtin(env, Builtin::Map)?,
            &mut yes
        ))?;
        if yes {
            self.enter(depth)?;
            return self.map(v, depth);
        }
        napi_call!(napi_instanceof(
            env,
            v,
            realm::builtin(env, Builtin::Set)?,
            &mut yes
        ))?;
        if yes {
            return Err(unsupported("a Set (send Array.from(set))"));
        }
        // A class instance or an object without a prototype: its own enumerable properties.
        self.enter(depth)?;
        self.fields(v, depth)
    }

    /// True when the prototype of `v` is `Object.prototype` (an object literal): the common case,
    /// decided in two calls before any of the exotic-object checks.
    fn is_plain(&mut self, v: sys::napi_value) -> Result<bool> {
        let env = self.env;
        let proto = match self.object_proto {
            Some(p) => p,
            None => *self
                .object_proto
                .insert(realm::builtin(env, Builtin::ObjectPrototype)?),
        };
        let (mut own, mut same) = (ptr::null_mut(), false);
        napi_call!(napi_get_prototype(env, v, &mut own))?;
        napi_call!(napi_strict_equals(env, own, proto, &mut same))?;
        Ok(same)
    }

    fn array(&mut self, v: sys::napi_value, depth: usize) -> Result<()> {
        let n = raw::array_len(self.env, v)?;
        self.out.emit_array(n as usize)?;
        for i in 0..n {
            let item = raw::element(self.env, v, i)?;
            self.value(item, depth + 1)?;
        }
        Ok(())
    }

    /// Own enumerable string-keyed properties, in `Object.keys` order.
    fn fields(&mut self, v: sys::napi_value, depth: usize) -> Result<()> {
        let env = self.env;
        let keys = realm::object_keys(env, v)?;
        let n = raw::array_len(env, keys)?;
        self.out.emit_map(n as usize)?;
        for i in 0..n {
            let key = raw::element(env, keys, i)?;
            raw::with_str(env, key, |s| self.out.emit_str(s))??;
            let mut item = ptr::null_mut();
            napi_call!(napi_get_property(env, v, key, &mut item))?;
            self.value(item, depth + 1)?;
        }
        Ok(())
    }

    /// A JS `Map`, read through one `Array.from(map)` call rather than the iterator protocol per
    /// entry.
    fn map(&mut self, v: sys::napi_value, depth: usize) -> Result<()> {
        let env = self.env;
        let array_from = realm::builtin(env, Builtin::ArrayFrom)?;
        let mut entries = ptr::null_mut();
        napi_call!(napi_call_function(
            env,
            array_from,
            array_from,
            1,
            &v,
            &mut entries
        ))?;
        let n = raw::array_len(env, entries)?;
        self.out.emit_map(n as usize)?;
        for i in 0..n {
            let entry = raw::element(env, entries, i)?;
            self.value(raw::element(env, entry, 0)?, depth + 1)?;
            self.value(raw::element(env, entry, 1)?, depth + 1)?;
        }
        Ok(())
    }
}
