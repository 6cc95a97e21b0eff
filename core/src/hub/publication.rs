//! One wire message as the hub keeps it: a [`Publication`] holds the message's fields and its bytes per wire
//! format, encoded lazily at most once and then shared (as [`Bytes`]) by every subscriber and by history.
//!
//! The [`Encoder`] is hub-wide: compression settings, the encode counter (`encodes` in the hub stats, which
//! proves that fan-out does not encode per subscriber) and the shared empty map.

use crate::codec::{Codec, Format, MsgPackWriter, Value};
use crate::error::{Error, Result};
use bytes::Bytes;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The kind of a wire message (its `"type"` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The full latest state of a dashboard: the first message of a subscription without `since`, or a
    /// fresh start (`"recovered": false`) when a resume was impossible.
    Snapshot,
    /// One publication (or several merged by the `conflate` policy).
    Update,
    /// A successful resume: `missed` updates follow in order.
    Recovered,
}

impl Kind {
    /// The `"type"` value: `"snapshot"`, `"update"` or `"recovered"`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Snapshot => "snapshot",
            Kind::Update => "update",
            Kind::Recovered => "recovered",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Hub-wide encoding settings and counter.
#[derive(Debug)]
pub(crate) struct Encoder {
    /// Compression settings (`maybe_compress` does not depend on the format).
    codec: Codec,
    /// Wire encodes performed (one per publication and format at most).
    encodes: AtomicU64,
    /// The empty map carried as `data` by recovered headers.
    empty: Arc<Value>,
    /// Size of the last plain encode per format: the next buffer starts that large.
    last_len: [AtomicUsize; 2],
}

/// Largest buffer pre-allocated from the size of the previous message.
const MAX_PREALLOC: usize = 1 << 20;

impl Encoder {
    pub(crate) fn new(compress_over: Option<usize>, level: u32) -> Self {
        Encoder {
            codec: Codec {
                compress_over,
                level,
                ..Codec::default()
            },
            encodes: AtomicU64::new(0),
            empty: Arc::new(Value::Map(Vec::new())),
            last_len: [AtomicUsize::new(0), AtomicUsize::new(0)],
        }
    }

    /// Wire encodes so far.
    pub(crate) fn encodes(&self) -> u64 {
        self.encodes.load(Ordering::Relaxed)
    }

    /// Serializes `p` in `format`, gzipped above the threshold.
    fn encode(&self, p: &Publication, format: Format) -> Result<Bytes> {
        self.encodes.fetch_add(1, Ordering::Relaxed);
        let last_len = &self.last_len[format_index(format)];
        let capacity = 64 + last_len.load(Ordering::Relaxed).min(MAX_PREALLOC);
        let plain = match format {
            Format::Json => {
                let mut out = Vec::with_capacity(capacity);
                Wire(p)
                    .serialize(&mut serde_json::Serializer::new(&mut out))
                    .map_err(|e| Error::Encode(e.to_string()))?;
                out
            }
            Format::MsgPack => {
                let mut w = MsgPackWriter::with_capacity(capacity);
                write_msgpack(p, &mut w)?;
                w.into_bytes()
            }
        };
        last_len.store(plain.len(), Ordering::Relaxed);
        let mut out = self.codec.maybe_compress(plain)?;
        // Queues count `len`; keep the allocation close to it.
        if out.capacity() - out.len() > out.len() / 4 + 64 {
            out.shrink_to_fit();
        }
        Ok(Bytes::from(out))
    }
}

/// Index of a format in per-format arrays.
pub(crate) fn format_index(format: Format) -> usize {
    match format {
        Format::MsgPack => 0,
        Format::Json => 1,
    }
}

/// Every wire format, in [`format_index`] order.
pub(crate) const FORMATS: [Format; 2] = [Format::MsgPack, Format::Json];

/// A wire message with its lazily encoded, shared bytes.
pub(crate) struct Publication {
    pub(crate) kind: Kind,
    pub(crate) dashboard: Arc<str>,
    pub(crate) epoch: Arc<str>,
    pub(crate) seq: u64,
    pub(crate) data: Arc<Value>,
    pub(crate) recovered: Option<bool>,
    pub(crate) missed: Option<u64>,
    /// Hub clock reading when the message was made (history age).
    pub(crate) at_nanos: u64,
    encoder: Arc<Encoder>,
    encoded: [OnceLock<Result<Bytes>>; 2],
}

impl fmt::Debug for Publication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publication")
            .field("kind", &self.kind)
            .field("dashboard", &self.dashboard)
            .field("epoch", &self.epoch)
            .field("seq", &self.seq)
            .field("recovered", &self.recovered)
            .field("missed", &self.missed)
            .finish_non_exhaustive()
    }
}

/// Fields of a new publication, before it gets its encoder.
pub(crate) struct Fields {
    pub(crate) kind: Kind,
    pub(crate) dashboard: Arc<str>,
    pub(crate) epoch: Arc<str>,
    pub(crate) seq: u64,
    pub(crate) data: Arc<Value>,
    pub(crate) recovered: Option<bool>,
    pub(crate) at_nanos: u64,
}

impl Publication {
    /// A snapshot or update message.
    pub(crate) fn new(f: Fields, encoder: &Arc<Encoder>) -> Self {
        Publication {
            kind: f.kind,
            dashboard: f.dashboard,
            epoch: f.epoch,
            seq: f.seq,
            data: f.data,
            recovered: f.recovered,
            missed: None,
            at_nanos: f.at_nanos,
            encoder: encoder.clone(),
            encoded: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// A `recovered` header: `missed` updates up to `seq` follow it.
    pub(crate) fn recovered_header(
        dashboard: Arc<str>,
        epoch: Arc<str>,
        seq: u64,
        missed: u64,
        at_nanos: u64,
        encoder: &Arc<Encoder>,
    ) -> Self {
        let mut p = Publication::new(
            Fields {
                kind: Kind::Recovered,
                dashboard,
                epoch,
                seq,
                data: encoder.empty.clone(),
                recovered: Some(true),
                at_nanos,
            },
            encoder,
        );
        p.missed = Some(missed);
        p
    }

    /// A message like `self` (same dashboard, epoch, seq and clock reading) with other kind and data.
    pub(crate) fn derive(&self, kind: Kind, data: Value, recovered: Option<bool>) -> Self {
        Publication::new(
            Fields {
                kind,
                dashboard: self.dashboard.clone(),
                epoch: self.epoch.clone(),
                seq: self.seq,
                data: Arc::new(data),
                recovered,
                at_nanos: self.at_nanos,
            },
            &self.encoder,
        )
    }

    /// The wire bytes in `format`, encoded on first use and shared afterwards.
    pub(crate) fn bytes(&self, format: Format) -> Result<&Bytes> {
        self.encoded[format_index(format)]
            .get_or_init(|| self.encoder.encode(self, format))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Number of fields of the wire map of `p`.
fn field_count(p: &Publication) -> usize {
    5 + usize::from(p.recovered.is_some())
}

/// JSON serialization of a publication as its wire map, in the fixed field order:
/// `type, dashboard, epoch, seq, [recovered], data` (snapshot, update) or
/// `type, dashboard, epoch, seq, recovered, missed` (recovered).
struct Wire<'a>(&'a Publication);

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let p = self.0;
        let mut m = s.serialize_map(Some(field_count(p)))?;
        m.serialize_entry("type", p.kind.name())?;
        m.serialize_entry("dashboard", &*p.dashboard)?;
        m.serialize_entry("epoch", &*p.epoch)?;
        m.serialize_entry("seq", &p.seq)?;
        if let Some(recovered) = p.recovered {
            m.serialize_entry("recovered", &recovered)?;
        }
        match p.kind {
            Kind::Recovered => m.serialize_entry("missed", &p.missed.unwrap_or(0))?,
            Kind::Snapshot | Kind::Update => m.serialize_entry("data", &*p.data)?,
        }
        m.end()
    }
}

/// MessagePack of the same wire map, as msgpack-python's `packb` writes the equivalent dict.
fn write_msgpack(p: &Publication, w: &mut MsgPackWriter) -> Result<()> {
    w.map_len(field_count(p))?;
    w.str("type")?;
    w.str(p.kind.name())?;
    w.str("dashboard")?;
    w.str(&p.dashboard)?;
    w.str("epoch")?;
    w.str(&p.epoch)?;
    w.str("seq")?;
    w.uint(p.seq)?;
    if let Some(recovered) = p.recovered {
        w.str("recovered")?;
        w.bool(recovered);
    }
    match p.kind {
        Kind::Recovered => {
            w.str("missed")?;
            w.uint(p.missed.unwrap_or(0))
        }
        Kind::Snapshot | Kind::Update => {
            w.str("data")?;
            w.value(&p.data)
        }
    }
}

/// The wire map of `p` as a [`Value`], in the same field order as its bytes.
pub(crate) fn to_value(p: &Publication) -> Value {
    let mut m: Vec<(Value, Value)> = Vec::with_capacity(6);
    m.push(("type".into(), p.kind.name().into()));
    m.push(("dashboard".into(), Value::Str(p.dashboard.to_string())));
    m.push(("epoch".into(), Value::Str(p.epoch.to_string())));
    m.push(("seq".into(), Value::from(p.seq)));
    if let Some(recovered) = p.recovered {
        m.push(("recovered".into(), Value::Bool(recovered)));
    }
    match p.kind {
        Kind::Recovered => m.push(("missed".into(), Value::from(p.missed.unwrap_or(0)))),
        Kind::Snapshot | Kind::Update => m.push(("data".into(), (*p.data).clone())),
    }
    Value::Map(m)
}
