//! Core [`Value`] → JavaScript, by reference: feeds a value the core holds (a message's data, its
//! wire map) node by node into the module's [`JsBuilder`], as the decoder does, so that every JS
//! value dashfeed returns has the same shape (see `build`).

use crate::build::{JsBuilder, Node};
use crate::error::Result;
use dashfeed::codec::{Build, Value};
use napi::sys;

/// The JS value of `v`.
pub fn to_js(env: sys::napi_env, v: &Value) -> Result<sys::napi_value> {
    let mut builder = JsBuilder::new(env);
    let mut stack = Vec::new();
    let node = node(&mut builder, v, &mut stack)?;
    builder.js(node)
}

fn node(b: &mut JsBuilder, v: &Value, stack: &mut Vec<Node>) -> Result<Node> {
    match v {
        Value::Nil => b.nil(),
        Value::Bool(x) => b.bool(*x),
        Value::Int(x) => b.int(*x),
        Value::UInt(x) => b.uint(*x),
        Value::Float(x) => b.float(*x),
        Value::Str(x) => b.str(x),
        Value::Bin(x) => b.bin(x),
        Value::Array(items) => {
            let start = stack.len();
            for item in items {
                let out = node(b, item, stack)?;
                stack.push(out);
            }
            b.array(stack.drain(start..))
        }
        Value::Map(entries) => {
            let start = stack.len();
            for (k, v) in entries {
                let k = match k {
                    Value::Str(s) => b.key_str(s)?,
                    other => node(b, other, stack)?,
                };
                stack.push(k);
                let v = node(b, v, stack)?;
                stack.push(v);
            }
            b.map(stack.drain(start..))
        }
    }
}
