//! Encoding a binding's own values (a Python dict, a JS object) with no intermediate tree where the
//! format allows: the encode-then-compress step every binding runs, in one place.
//!
//! The binding walks its value into the core's [`Emit`] sink ([`Source::emit`]): for MessagePack
//! the sink is the [`MsgPackWriter`] itself; for JSON it is a [`ValueEmitter`] whose [`Value`] is
//! then written as JSON. The bytes are gzipped above the codec's `compress_over`
//! ([`Codec::maybe_compress`]). The steps that touch no foreign object (writing JSON, gzip) run
//! through [`Source::detached`], where Python releases its interpreter lock for large values.

use super::build::{Emit, MsgPackWriter, ValueEmitter};
use super::{Codec, Format};
use crate::error::Error;

/// A value a binding encodes by walking it into a core sink.
pub trait Source {
    /// The binding's error: its own failures while walking, or the core's.
    type Error: From<Error>;

    /// Emits the value, top-down, into `sink`.
    fn emit<S: Emit>(&mut self, sink: &mut S) -> Result<(), Self::Error>;

    /// Runs `work`, which touches no foreign object (writing JSON, gzip). A binding may release its
    /// interpreter lock around it (Python does for large values); the default just runs it.
    fn detached<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        work()
    }
}

/// First capacity of the MessagePack writer: most dashboard messages fit without a regrowth.
const FIRST_CAPACITY: usize = 256;

impl Codec {
    /// Encodes what `source` emits in this codec's format, gzipped when longer than
    /// `compress_over`: the same bytes [`encode`](Codec::encode) makes of the equivalent [`Value`].
    pub fn encode_from<S: Source>(&self, source: &mut S) -> Result<Vec<u8>, S::Error> {
        let plain = match self.format {
            Format::MsgPack => {
                let mut w = MsgPackWriter::with_capacity(FIRST_CAPACITY);
                source.emit(&mut w)?;
                w.into_bytes()
            }
            Format::Json => {
                let mut e = ValueEmitter::new();
                source.emit(&mut e)?;
                let v = e.finish()?;
                source.detached(|| self.encode_plain(&v))?
            }
        };
        Ok(source.detached(|| self.maybe_compress(plain))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Value;

    /// A binding's own data, as a walker sees it: rows of (name, reading, raw bytes, tag), encoded
    /// as an array of maps.
    struct Rows(Vec<(String, f64, Vec<u8>, Option<i64>)>);

    impl Rows {
        fn new(n: usize) -> Self {
            Rows(
                (0..n)
                    .map(|i| {
                        let tag = (i % 2 == 0).then_some(-(i as i64));
                        (format!("metric-{i}"), i as f64 / 4.0, vec![i as u8; 3], tag)
                    })
                    .collect(),
            )
        }

        /// The same data as a core value.
        fn value(&self) -> Value {
            let row = |(name, x, raw, tag): &(String, f64, Vec<u8>, Option<i64>)| {
                Value::Map(vec![
                    ("name".into(), Value::Str(name.clone())),
                    ("x".into(), Value::Float(*x)),
                    ("raw".into(), Value::Bin(raw.clone())),
                    ("tag".into(), tag.map_or(Value::Nil, Value::Int)),
                ])
            };
            Value::Array(self.0.iter().map(row).collect())
        }
    }

    impl Source for Rows {
        type Error = Error;
        fn emit<S: Emit>(&mut self, sink: &mut S) -> Result<(), Error> {
            sink.emit_array(self.0.len())?;
            for (name, x, raw, tag) in &self.0 {
                sink.emit_map(4)?;
                sink.emit_str("name")?;
                sink.emit_str(name)?;
                sink.emit_str("x")?;
                sink.emit_float(*x)?;
                sink.emit_str("raw")?;
                sink.emit_bin(raw)?;
                sink.emit_str("tag")?;
                match tag {
                    Some(t) => sink.emit_int(*t)?,
                    None => sink.emit_nil()?,
                }
            }
            Ok(())
        }
    }

    /// A source that fails half-way, as a walker meeting an unsupported type does.
    struct Broken;

    impl Source for Broken {
        type Error = Error;
        fn emit<S: Emit>(&mut self, sink: &mut S) -> Result<(), Error> {
            sink.emit_array(2)?;
            sink.emit_nil()?;
            Err(Error::UnsupportedType("a function".into()))
        }
    }

    #[test]
    fn walked_values_encode_like_values_in_both_formats_compressed_or_not() {
        for format in [Format::MsgPack, Format::Json] {
            for compress_over in [None, Some(0), Some(1024)] {
                let codec = Codec {
                    compress_over,
                    ..Codec::new(format)
                };
                for n in [0, 3, 400] {
                    let mut rows = Rows::new(n);
                    let expected = codec.encode(&rows.value());
                    let at = format!("{format} {compress_over:?} {n} rows");
                    assert_eq!(codec.encode_from(&mut rows), expected, "{at}");
                }
            }
        }
    }

    #[test]
    fn a_walk_error_stands() {
        for format in [Format::MsgPack, Format::Json] {
            let err = Codec::new(format).encode_from(&mut Broken);
            assert_eq!(err.map_err(|e| e.code()), Err("unsupported_type"));
        }
    }
}
