//! [`LatestValues`]: the latest value per metric, merged from publication data maps in order (a metric's
//! newest value wins, metrics keep the order in which they first appeared).
//!
//! It is the topic snapshot, and also what the `conflate` policy folds a slow subscriber's queue into.

use crate::codec::Value;
use hashbrown::HashMap;

/// Latest value per metric, in first-seen order.
#[derive(Debug, Default, Clone)]
pub(crate) struct LatestValues {
    entries: Vec<(Value, Value)>,
    index: HashMap<String, usize>,
}

impl LatestValues {
    /// Merges `parts` (validated data maps) in order.
    pub(crate) fn merged<'a>(parts: impl IntoIterator<Item = &'a Value>) -> Value {
        let mut latest = LatestValues::default();
        for part in parts {
            latest.merge(part);
        }
        latest.into_value()
    }

    /// Applies one data map: each of its metrics takes its new value. Non-map data and non-string keys
    /// (refused earlier by validation) are ignored.
    pub(crate) fn merge(&mut self, data: &Value) {
        let Value::Map(pairs) = data else {
            return;
        };
        for (k, v) in pairs {
            let Value::Str(name) = k else {
                continue;
            };
            match self.index.get(name.as_str()) {
                Some(&i) => self.entries[i].1 = v.clone(),
                None => {
                    self.index.insert(name.clone(), self.entries.len());
                    self.entries.push((k.clone(), v.clone()));
                }
            }
        }
    }

    /// Number of metrics.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The state as a map value (a copy).
    pub(crate) fn to_value(&self) -> Value {
        Value::Map(self.entries.clone())
    }

    /// The state as a map value.
    pub(crate) fn into_value(self) -> Value {
        Value::Map(self.entries)
    }
}
