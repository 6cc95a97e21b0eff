//! One wire message as the hub keeps it: a [`Publication`] holds the message's fields and its bytes per
//! [`Wire`] (format, gzip or not), encoded lazily at most once and then shared (as [`Bytes`]) by every
//! subscriber and by history.
//!
//! Memory: what history keeps is a [`Publication::slim`] copy — the same wire bytes, without the decoded
//! data (a 4 KiB string that gzips to 60 bytes is kept as 60 bytes); its `data()` is decoded from its
//! bytes when a resumed subscriber asks. Gzip runs on one reusable compressor per thread
//! ([`crate::codec::compress`]), so no publication pins a compressor's buffers.
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

/// The bytes a subscriber reads: a format, gzipped above the hub's `compress_over` or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Wire {
    /// MessagePack or JSON.
    pub format: Format,
    /// Gzip messages longer than the hub's `compress_over` (false: never, as plain WebSocket clients
    /// and SSE need).
    pub compress: bool,
}

impl Wire {
    /// `format`, gzipped above the hub's threshold.
    pub const fn compressed(format: Format) -> Self {
        Wire {
            format,
            compress: true,
        }
    }

    /// `format`, never gzipped.
    pub const fn plain(format: Format) -> Self {
        Wire {
            format,
            compress: false,
        }
    }

    /// Index in per-wire arrays.
    pub(crate) fn index(self) -> usize {
        format_index(self.format) * 2 + usize::from(self.compress)
    }
}

/// Every wire, in [`Wire::index`] order.
pub(crate) const WIRES: [Wire; 4] = [
    Wire::plain(Format::MsgPack),
    Wire::compressed(Format::MsgPack),
    Wire::plain(Format::Json),
    Wire::compressed(Format::Json),
];

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

    /// The plain (never gzipped) serialization of `p` in `format`.
    fn encode_plain(&self, p: &Publication, format: Format) -> Result<Vec<u8>> {
        self.encodes.fetch_add(1, Ordering::Relaxed);
        let last_len = &self.last_len[format_index(format)];
        let capacity = 64 + last_len.load(Ordering::Relaxed).min(MAX_PREALLOC);
        let data = p.data()?;
        let plain = match format {
            Format::Json => {
                let mut out = Vec::with_capacity(capacity);
                JsonWire(p, &data)
                    .serialize(&mut serde_json::Serializer::new(&mut out))
                    .map_err(|e| Error::Encode(e.to_string()))?;
                out
            }
            Format::MsgPack => {
                let mut w = MsgPackWriter::with_capacity(capacity);
                write_msgpack(p, &data, &mut w)?;
                w.into_bytes()
            }
        };
        last_len.store(plain.len(), Ordering::Relaxed);
        Ok(plain)
    }

    /// Whether `len` plain bytes get gzipped on a compressing wire.
    fn gzips(&self, len: usize) -> bool {
        self.codec.compress_over.is_some_and(|over| len > over)
    }

    /// Gzips plain bytes; queues and history count `len`, so the allocation is kept close to it.
    fn gzip(&self, plain: &[u8]) -> Result<Bytes> {
        let mut out = crate::codec::compress(plain, self.codec.level)?;
        if out.capacity() - out.len() > out.len() / 8 + 16 {
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

/// A wire message with its lazily encoded, shared bytes.
pub(crate) struct Publication {
    pub(crate) kind: Kind,
    pub(crate) dashboard: Arc<str>,
    pub(crate) epoch: Arc<str>,
    pub(crate) seq: u64,
    /// The decoded data; `None` in a [`slim`](Publication::slim) copy (decoded from the bytes on demand).
    data: Option<Arc<Value>>,
    pub(crate) recovered: Option<bool>,
    pub(crate) missed: Option<u64>,
    /// Hub clock reading when the message was made (history age).
    pub(crate) at_nanos: u64,
    encoder: Arc<Encoder>,
    /// Bytes per [`Wire::index`].
    encoded: [OnceLock<Result<Bytes>>; 4],
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
            data: Some(f.data),
            recovered: f.recovered,
            missed: None,
            at_nanos: f.at_nanos,
            encoder: encoder.clone(),
            encoded: Default::default(),
        }
    }

    /// What history keeps of `self`: the same fields and wire bytes (at least one wire is encoded
    /// first, `wire`), without the decoded data. Fails when `self` cannot be encoded.
    pub(crate) fn slim(&self, wire: Wire) -> Result<Self> {
        if self.encoded.iter().all(|e| e.get().is_none()) {
            self.bytes(wire)?;
        }
        let encoded: [OnceLock<Result<Bytes>>; 4] = Default::default();
        for (to, from) in encoded.iter().zip(&self.encoded) {
            if let Some(Ok(b)) = from.get() {
                let _ = to.set(Ok(b.clone()));
            }
        }
        Ok(Publication {
            kind: self.kind,
            dashboard: self.dashboard.clone(),
            epoch: self.epoch.clone(),
            seq: self.seq,
            data: None,
            recovered: self.recovered,
            missed: self.missed,
            at_nanos: self.at_nanos,
            encoder: self.encoder.clone(),
            encoded,
        })
    }

    /// The data map: shared when this publication has it, otherwise decoded from its bytes.
    pub(crate) fn data(&self) -> Result<Arc<Value>> {
        if let Some(d) = &self.data {
            return Ok(d.clone());
        }
        for wire in WIRES {
            if let Some(Ok(b)) = self.encoded[wire.index()].get() {
                let codec = Codec {
                    format: wire.format,
                    limits: crate::codec::Limits {
                        max_input: usize::MAX,
                        max_decompressed: usize::MAX,
                        ..crate::codec::Limits::default()
                    },
                    ..Codec::default()
                };
                let wire_map = codec.decode(b)?;
                let data = match wire_map {
                    Value::Map(mut fields) => fields
                        .iter()
                        .position(|(k, _)| k.as_str() == Some("data"))
                        .map(|i| fields.swap_remove(i).1),
                    _ => None,
                };
                return Ok(Arc::new(data.unwrap_or(Value::Map(Vec::new()))));
            }
        }
        Err(Error::Internal(
            "a publication without data or bytes".into(),
        ))
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

    /// The bytes of `wire`, encoded on first use and shared afterwards. A compressed wire reuses the
    /// plain bytes when they are there (or when the message is under the threshold), and does not keep
    /// a plain copy otherwise.
    pub(crate) fn bytes(&self, wire: Wire) -> Result<&Bytes> {
        let plain = Wire::plain(wire.format);
        let slot = |w: Wire| &self.encoded[w.index()];
        let encode_plain = || {
            self.encoder
                .encode_plain(self, wire.format)
                .map(Bytes::from)
        };
        let out = if !wire.compress {
            slot(plain).get_or_init(encode_plain)
        } else {
            slot(wire).get_or_init(|| match slot(plain).get() {
                Some(Ok(b)) if self.encoder.gzips(b.len()) => self.encoder.gzip(b),
                Some(done) => done.clone(),
                None => {
                    let bytes = self.encoder.encode_plain(self, wire.format)?;
                    if self.encoder.gzips(bytes.len()) {
                        self.encoder.gzip(&bytes)
                    } else {
                        // Under the threshold both wires are the same bytes: share them.
                        let b = Bytes::from(bytes);
                        let _ = slot(plain).set(Ok(b.clone()));
                        Ok(b)
                    }
                }
            })
        };
        out.as_ref().map_err(Clone::clone)
    }
}

/// Number of fields of the wire map of `p`.
fn field_count(p: &Publication) -> usize {
    5 + usize::from(p.recovered.is_some())
}

/// JSON serialization of a publication (with its data) as its wire map, in the fixed field order:
/// `type, dashboard, epoch, seq, [recovered], data` (snapshot, update) or
/// `type, dashboard, epoch, seq, recovered, missed` (recovered).
struct JsonWire<'a>(&'a Publication, &'a Value);

impl Serialize for JsonWire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (p, data) = (self.0, self.1);
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
            Kind::Snapshot | Kind::Update => m.serialize_entry("data", data)?,
        }
        m.end()
    }
}

/// MessagePack of the same wire map, as msgpack-python's `packb` writes the equivalent dict.
fn write_msgpack(p: &Publication, data: &Value, w: &mut MsgPackWriter) -> Result<()> {
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
            w.value(data)
        }
    }
}

/// The wire map of `p` as a [`Value`], in the same field order as its bytes.
pub(crate) fn to_value(p: &Publication) -> Result<Value> {
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
        Kind::Snapshot | Kind::Update => m.push(("data".into(), (*p.data()?).clone())),
    }
    Ok(Value::Map(m))
}
