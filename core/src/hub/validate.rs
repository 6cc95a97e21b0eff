//! Input checks of the hub: dashboard ids and publication data.
//!
//! Data is checked once, before it is published, so that its encoding in either wire format cannot fail
//! later for one subscriber and not another: a map of unique, non-empty metric names to values that both
//! JSON and MessagePack carry (no bytes, string keys in nested maps, bounded nesting).

use crate::codec::Value;
use crate::error::{Error, Result};
use crate::event::check_name;
use hashbrown::HashSet;

/// Deepest nesting of a metric value (the wire message adds two levels; decoders allow 128).
pub const MAX_DATA_DEPTH: usize = 64;

/// Maps with more metrics than this are checked for duplicates with a hash set, smaller ones pairwise.
const PAIRWISE_MAX: usize = 16;

/// Checks a dashboard id (the rule of [`check_name`]).
pub(crate) fn check_dashboard(dashboard: &str) -> Result<()> {
    check_name("dashboard", dashboard)
}

/// Checks a publication id (the rule of [`check_name`]).
pub(crate) fn check_id(id: &str) -> Result<()> {
    check_name("publication id", id)
}

/// Checks publication data: a map from unique metric names (non-empty strings of at most
/// [`MAX_NAME_BYTES`](crate::event::MAX_NAME_BYTES) bytes) to numbers, strings, booleans, nil, arrays or string-keyed maps, nested at
/// most [`MAX_DATA_DEPTH`] deep. Bytes are refused because JSON cannot carry them.
pub(crate) fn check_data(data: &Value) -> Result<()> {
    let Value::Map(pairs) = data else {
        return Err(Error::invalid(
            "publication data must be a map of metric name to value",
        ));
    };
    for (k, v) in pairs {
        let Value::Str(name) = k else {
            return Err(Error::invalid(format!(
                "metric names must be strings, got {k:?}"
            )));
        };
        check_name("metric name", name)?;
        check_value(v, MAX_DATA_DEPTH).map_err(|e| match e {
            Error::InvalidInput(msg) => Error::invalid(format!("metric {name:?}: {msg}")),
            other => other,
        })?;
    }
    check_unique(pairs)
}

fn check_unique(pairs: &[(Value, Value)]) -> Result<()> {
    let dup = |name: &str| Err(Error::invalid(format!("metric {name:?} given twice")));
    if pairs.len() <= PAIRWISE_MAX {
        for (i, (k, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(other, _)| other == k) {
                return dup(k.as_str().unwrap_or_default());
            }
        }
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(pairs.len());
    for (k, _) in pairs {
        let name = k.as_str().unwrap_or_default();
        if !seen.insert(name) {
            return dup(name);
        }
    }
    Ok(())
}

fn check_value(v: &Value, depth_left: usize) -> Result<()> {
    match v {
        Value::Nil
        | Value::Bool(_)
        | Value::Int(_)
        | Value::UInt(_)
        | Value::Float(_)
        | Value::Str(_) => Ok(()),
        Value::Bin(b) => Err(Error::invalid(format!(
            "bytes ({} long) cannot be published: JSON subscribers cannot receive them",
            b.len()
        ))),
        Value::Array(items) => {
            let depth = nested(depth_left)?;
            items.iter().try_for_each(|item| check_value(item, depth))
        }
        Value::Map(pairs) => {
            let depth = nested(depth_left)?;
            pairs.iter().try_for_each(|(k, item)| match k {
                Value::Str(_) => check_value(item, depth),
                other => Err(Error::invalid(format!(
                    "nested map keys must be strings, got {other:?}"
                ))),
            })
        }
    }
}

fn nested(depth_left: usize) -> Result<usize> {
    depth_left
        .checked_sub(1)
        .ok_or_else(|| Error::invalid(format!("value nested deeper than {MAX_DATA_DEPTH} levels")))
}
