//! Core [`Value`] → JavaScript, by reference: the core's walk (`dashfeed::codec::build_value`) feeds a
//! value the core holds (a message's data, its wire map) node by node into the module's
//! [`JsBuilder`], as the decoder does, so that every JS value dashfeed returns has the same shape (see
//! `build`).

use crate::build::JsBuilder;
use crate::error::Result;
use dashfeed::codec::{build_value, Value};
use napi::sys;

/// The JS value of `v`.
pub fn to_js(env: sys::napi_env, v: &Value) -> Result<sys::napi_value> {
    let mut builder = JsBuilder::new(env);
    let node = build_value(v, &mut builder)?;
    builder.js(node)
}
