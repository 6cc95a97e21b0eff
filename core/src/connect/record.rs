//! [`Record`]: one hub publication as the sinks see it, and its wire form
//! (`{"dashboard", "epoch", "seq", "ts", "data"}` in JSON or MessagePack) for streams, topics and
//! channels.

use crate::codec::{Codec, Format, Value};
use crate::error::Result;
use serde::Deserialize;
use std::sync::Arc;

/// Wire format of records written to a stream, channel or topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordFormat {
    /// JSON text (the default).
    #[default]
    Json,
    /// MessagePack.
    Msgpack,
}

impl RecordFormat {
    /// The codec format.
    pub fn format(self) -> Format {
        match self {
            RecordFormat::Json => Format::Json,
            RecordFormat::Msgpack => Format::MsgPack,
        }
    }
}

/// A publication handed to a sink: which dashboard, its place in the topic, when, and its data map.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The dashboard id.
    pub dashboard: Arc<str>,
    /// The topic's epoch.
    pub epoch: Arc<str>,
    /// The publication's seq.
    pub seq: u64,
    /// Wall-clock time of the publication, ms since the Unix epoch.
    pub ts_ms: i64,
    /// The data map (metric or series → value).
    pub data: Arc<Value>,
}

impl Record {
    /// The record as one map: `{"dashboard", "epoch", "seq", "ts", "data"}`.
    pub fn to_value(&self) -> Value {
        Value::Map(vec![
            ("dashboard".into(), Value::Str(self.dashboard.to_string())),
            ("epoch".into(), Value::Str(self.epoch.to_string())),
            (
                "seq".into(),
                Value::Int(i64::try_from(self.seq).unwrap_or(i64::MAX)),
            ),
            ("ts".into(), Value::Int(self.ts_ms)),
            ("data".into(), (*self.data).clone()),
        ])
    }

    /// The record's bytes in `format` (never compressed: brokers compress batches themselves).
    pub fn encode(&self, format: Format) -> Result<Vec<u8>> {
        Codec::new(format).encode_plain(&self.to_value())
    }

    /// A rough size for queue accounting: the data's encoded length is not known yet, so count the
    /// strings and numbers it holds.
    pub fn weight(&self) -> usize {
        64 + self.dashboard.len() + self.epoch.len() + value_weight(&self.data)
    }
}

fn value_weight(v: &Value) -> usize {
    match v {
        Value::Str(s) => 8 + s.len(),
        Value::Bin(b) => 8 + b.len(),
        Value::Array(items) => 8 + items.iter().map(value_weight).sum::<usize>(),
        Value::Map(pairs) => {
            8 + pairs
                .iter()
                .map(|(k, v)| value_weight(k) + value_weight(v))
                .sum::<usize>()
        }
        _ => 9,
    }
}
