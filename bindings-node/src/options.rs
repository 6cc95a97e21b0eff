//! JS options objects → the core's options maps. The object goes to the core as it is (its own
//! enumerable keys, camelCase, durations in ms: `dashfeed::options::Style::NODE`), except the keys
//! whose values are JS objects the binding keeps (functions, the clock), which are handed back as
//! napi-rs `Unknown`s. Keys with `undefined` values are left out, as if absent. Names, defaults,
//! ranges and messages are the core's `from_value`; a duration that looks like seconds is warned
//! about here (`units`), on the core's signal.

use crate::error::{guard, Code, Result};
use crate::napi::args::own_values;
use crate::walk;
use dashfeed::codec::Value;
use dashfeed::options::{describe, Style};
use napi::bindgen_prelude::{Env, JsValue, Unknown};
use napi::ValueType;
use napi_derive::napi;

/// Depth of option values converted for the core (`auth: {...}`, `messageRate: [r, b]`).
const DEPTH: usize = 8;

/// An options object read for the core: the map, and the values of the binding's own keys.
pub struct JsOptions<'env> {
    /// Every other key, converted.
    pub value: Value,
    held: Vec<(&'static str, Unknown<'env>)>,
}

impl<'env> JsOptions<'env> {
    /// The value of one of the binding's own keys, when given (not `undefined`).
    pub fn held(&self, key: &str) -> Option<Unknown<'env>> {
        self.held.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// Reads `options` (absent, `undefined` and `null` are an empty map; anything that is not an
/// object goes to the core, which refuses it), keeping the keys in `held` as they are.
pub fn read<'env>(
    options: Option<Unknown<'env>>,
    held: &[&'static str],
) -> Result<JsOptions<'env>> {
    let mut out = JsOptions {
        value: Value::Nil,
        held: Vec::new(),
    };
    let Some(obj) = options else {
        return Ok(out);
    };
    match obj.get_type()? {
        ValueType::Undefined | ValueType::Null => return Ok(out),
        ValueType::Object => {}
        _ => {
            out.value = walk::to_value(obj.value().env, obj.raw(), DEPTH)?;
            return Ok(out);
        }
    }
    let mut entries = Vec::new();
    own_values(&obj, |name, v| {
        if v.get_type()? == ValueType::Undefined {
            return Ok(());
        }
        match held.iter().find(|k| **k == name) {
            Some(k) => out.held.push((k, v)),
            None => entries.push((Value::from(name), value_of(&v)?)),
        }
        Ok(())
    })?;
    out.value = Value::Map(entries);
    Ok(out)
}

/// The core value of one option value, converted as [`read`] converts the others.
pub fn value_of(v: &Unknown<'_>) -> Result<Value> {
    walk::to_value(v.value().env, v.raw(), DEPTH)
}

/// `_describeOptions(module, options)`: the config the core builds from `options` (the options of
/// `module`'s constructor: `'breaker'`, `'limiter'` (`{ rate, burst }`), `'hub'`, `'subscribe'`,
/// `'server'`, `'auth'`), in the canonical form of tests/vectors/config. For the cross-language
/// tests; left out of index.d.ts (not part of the API).
#[napi(js_name = "_describeOptions", catch_unwind, skip_typescript)]
pub fn describe_options<'env>(
    env: &'env Env,
    module: String,
    options: Option<Unknown<'env>>,
) -> napi::Result<Unknown<'env>, Code> {
    guard(|| {
        let value = read(options, &[])?.value;
        crate::values::to_js(env, &describe(&module, &value, Style::NODE)?)
    })
}
