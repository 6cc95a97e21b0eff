//! Core [`Value`] → JavaScript, by reference: the core's walk (`dashfeed::codec::build_value`) feeds a
//! value the core holds (a message's data, its wire map) node by node into the module's
//! [`JsBuilder`], as the decoder does, so that every JS value dashfeed returns has the same shape (see
//! `build`).

use crate::build::JsBuilder;
use crate::error::Result;
use crate::napi::convert;
use dashfeed::codec::{build_value, Value};
use napi::bindgen_prelude::{Env, Unknown};

/// The JS value of `v`.
pub fn to_js<'env>(env: &'env Env, v: &Value) -> Result<Unknown<'env>> {
    let mut builder = JsBuilder::new(env.raw());
    let node = build_value(v, &mut builder)?;
    Ok(convert::unknown(env.raw(), builder.js(node)?))
}
