//! Serialization of dashboard messages: MessagePack (rmp) or JSON (serde_json), gzip (flate2) above a
//! size threshold, and decode limits.
//!
//! This is the reference notes' `OptimizedSerializer` done right: the encoded bytes are gzipped only when
//! they are longer than `compress_over`, and decode recognises gzip by its magic bytes (`1f 8b`) instead of
//! trying to decompress and catching the failure. Decoding enforces three limits, each a distinct error:
//! input size (`too_large`), decompressed size (`too_large`, read through a capped reader so that a gzip
//! bomb never allocates past the cap) and nesting depth (`too_deep`).

pub mod build;
mod gzip;
mod json;
mod msgpack;
mod source;
mod text;
mod value;

pub use build::{build_value, Build, Emit, MsgPackWriter, ValueBuilder, ValueEmitter};
pub use gzip::{compress, decompress, is_gzip};
pub use source::Source;
pub use text::{JsonText, Span, TextError};
pub use value::Value;

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// Wire format of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// MessagePack (the default): compact, byte-identical to `msgpack.packb`.
    #[default]
    MsgPack,
    /// JSON text (UTF-8), compact separators.
    Json,
}

impl Format {
    /// The name used in options and subprotocols: `"msgpack"` or `"json"`.
    pub fn name(self) -> &'static str {
        match self {
            Format::MsgPack => "msgpack",
            Format::Json => "json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        // Case-insensitive without a lowercased copy: bindings parse the format on every `raw()`.
        if s.eq_ignore_ascii_case("msgpack") || s.eq_ignore_ascii_case("messagepack") {
            Ok(Format::MsgPack)
        } else if s.eq_ignore_ascii_case("json") {
            Ok(Format::Json)
        } else {
            let other = s.to_ascii_lowercase();
            Err(Error::invalid(format!(
                "unknown format {other:?} (expected \"msgpack\" or \"json\")"
            )))
        }
    }
}

/// Decode limits. Each crossing is a clear error; none of them allocates past its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes (compressed or not). Default 16 MiB.
    pub max_input: usize,
    /// Largest payload after gzip decompression, in bytes. Default 16 MiB.
    pub max_decompressed: usize,
    /// Deepest nesting of arrays and maps. Default 128.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input: 16 << 20,
            max_decompressed: 16 << 20,
            max_depth: 128,
        }
    }
}

/// Highest accepted `max_depth`: decoding and the bindings' walkers recurse once per level, and this many
/// levels stay well inside a 2 MiB thread stack even in a debug build.
pub const MAX_DEPTH_LIMIT: usize = 512;

/// Default threshold above which encoded payloads are gzipped (the reference notes' 1024 bytes).
pub const DEFAULT_COMPRESS_OVER: usize = 1024;
/// Default gzip level: 1, the fastest (as nginx's `gzip_comp_level` default). On dashboard payloads it is
/// ~3x cheaper than level 6 for ~6% more bytes; raise it with [`Codec::level`] when bandwidth matters more.
pub const DEFAULT_LEVEL: u32 = 1;

/// An encoder/decoder: format, compression threshold and level, and decode limits.
///
/// ```
/// use dashfeed::{Codec, Format, Value};
/// let codec = Codec::default(); // msgpack, gzip over 1024 bytes
/// let v = Value::Map(vec![("cpu".into(), 0.42.into())]);
/// let bytes = codec.encode(&v).unwrap();
/// assert_eq!(codec.decode(&bytes).unwrap(), v);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    /// Wire format.
    pub format: Format,
    /// Gzip the encoded bytes when they are longer than this; `None` never compresses.
    pub compress_over: Option<usize>,
    /// Gzip level, 0 (store) to 9 (smallest).
    pub level: u32,
    /// Decode limits.
    pub limits: Limits,
}

impl Default for Codec {
    fn default() -> Self {
        Codec {
            format: Format::MsgPack,
            compress_over: Some(DEFAULT_COMPRESS_OVER),
            level: DEFAULT_LEVEL,
            limits: Limits::default(),
        }
    }
}

impl Codec {
    /// A codec for `format` with the default threshold, level and limits.
    pub fn new(format: Format) -> Self {
        Codec {
            format,
            ..Codec::default()
        }
    }

    /// A decoder for untrusted messages in `format`: at most `max_bytes` before and after gzip, nesting at
    /// most `max_depth`, never compressing (ingest bodies, client messages, broker messages).
    pub fn bounded(format: Format, max_bytes: usize, max_depth: usize) -> Self {
        Codec {
            format,
            compress_over: None,
            level: 0,
            limits: Limits {
                max_input: max_bytes,
                max_decompressed: max_bytes,
                max_depth,
            },
        }
    }

    /// Checks option ranges (`level` ≤ 9, limits > 0, `max_depth` ≤ [`MAX_DEPTH_LIMIT`]).
    pub fn validate(&self) -> Result<()> {
        if self.limits.max_depth > MAX_DEPTH_LIMIT {
            return Err(Error::invalid(format!(
                "max_depth {} is above {MAX_DEPTH_LIMIT}: deeper recursion could overflow a thread's stack",
                self.limits.max_depth
            )));
        }
        if self.level > 9 {
            return Err(Error::invalid(format!(
                "gzip level {} is not in 0..=9",
                self.level
            )));
        }
        if self.limits.max_input == 0 || self.limits.max_decompressed == 0 {
            return Err(Error::invalid("size limits must be positive"));
        }
        Ok(())
    }

    /// Encodes `v` without compression.
    pub fn encode_plain(&self, v: &Value) -> Result<Vec<u8>> {
        match self.format {
            Format::MsgPack => msgpack::encode(v),
            Format::Json => json::encode(v),
        }
    }

    /// Encodes `v`, gzipping the result when it is longer than `compress_over`.
    pub fn encode(&self, v: &Value) -> Result<Vec<u8>> {
        let plain = self.encode_plain(v)?;
        self.maybe_compress(plain)
    }

    /// Gzips already encoded bytes when they cross the threshold; returns them unchanged otherwise.
    pub fn maybe_compress(&self, plain: Vec<u8>) -> Result<Vec<u8>> {
        match self.compress_over {
            Some(over) if plain.len() > over => compress(&plain, self.level),
            _ => Ok(plain),
        }
    }

    /// Decodes bytes written by [`encode`](Codec::encode), by msgpack-python / msgpackr / any JSON encoder,
    /// gzipped or not. Gzip is recognised by its magic bytes.
    pub fn decode(&self, bytes: &[u8]) -> Result<Value> {
        match self.format {
            // The JSON decoder makes a `Value` already: no second walk through a builder.
            Format::Json => {
                let plain = self.unwrap_gzip(bytes)?;
                json::decode(plain.as_deref().unwrap_or(bytes), self.limits.max_depth)
            }
            Format::MsgPack => self.decode_with(bytes, &mut ValueBuilder),
        }
    }

    /// Like [`decode`](Codec::decode), but each node is made by `builder` (the bindings build their own
    /// objects directly).
    pub fn decode_with<B: Build>(&self, bytes: &[u8], builder: &mut B) -> Result<B::Out, B::Error> {
        let plain = self.unwrap_gzip(bytes)?;
        self.decode_plain_with(plain.as_deref().unwrap_or(bytes), builder)
    }

    /// Checks the input limit and, when `bytes` is gzip, decompresses it under the decompressed-size cap.
    /// `Ok(None)` means the input is not compressed. Needs no interpreter lock: bindings call it detached.
    pub fn unwrap_gzip(&self, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
        if bytes.len() > self.limits.max_input {
            return Err(Error::TooLarge {
                what: "input",
                limit: self.limits.max_input,
            });
        }
        if is_gzip(bytes) {
            return decompress(bytes, self.limits.max_decompressed).map(Some);
        }
        Ok(None)
    }

    /// Decodes uncompressed bytes through `builder`.
    pub fn decode_plain_with<B: Build>(
        &self,
        bytes: &[u8],
        builder: &mut B,
    ) -> Result<B::Out, B::Error> {
        match self.format {
            Format::MsgPack => msgpack::decode(bytes, self.limits.max_depth, builder),
            Format::Json => {
                let v = json::decode(bytes, self.limits.max_depth)?;
                build_value(&v, builder)
            }
        }
    }
}

#[cfg(test)]
mod tests;
