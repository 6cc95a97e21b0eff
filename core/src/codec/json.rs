//! JSON through serde_json: compact output, maps in insertion order, bytes refused, depth checked on input.

use super::value::{Ser, ValueSeed};
use super::Value;
use crate::error::{Error, Result};
use serde::de::DeserializeSeed;
use serde::Serialize;
use std::cell::Cell;

/// Encodes `v` as compact JSON. Non-finite floats become `null` (as `JSON.stringify` does); bytes and
/// non-scalar map keys are `encode_error`.
pub(super) fn encode(v: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    Ser { v, json: true }
        .serialize(&mut serde_json::Serializer::new(&mut out))
        .map_err(|e| Error::Encode(e.to_string()))?;
    Ok(out)
}

/// Decodes one JSON value; only whitespace may follow it.
pub(super) fn decode(bytes: &[u8], max_depth: usize) -> Result<Value> {
    let tripped = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // serde_json's own limit (128) is replaced by ours, which is configurable.
    de.disable_recursion_limit();
    let result = ValueSeed {
        depth_left: max_depth,
        tripped: &tripped,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match result {
        Ok(v) => Ok(v),
        Err(_) if tripped.get() => Err(Error::TooDeep { limit: max_depth }),
        Err(e) => Err(Error::Decode(format!("invalid JSON: {e}"))),
    }
}
