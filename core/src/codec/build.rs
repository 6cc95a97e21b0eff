//! Pluggable construction of decoded values, and a MessagePack writer driven from outside.
//!
//! The decoder parses bytes and enforces every limit, then asks a [`Build`] implementation to make each
//! node. [`ValueBuilder`] makes [`Value`]s; the Python and Node bindings make their own objects directly, so
//! a decode never builds an intermediate tree. [`MsgPackWriter`] is the encoding counterpart: whoever walks
//! a value (the core's [`Value`], a Python dict) calls it node by node and gets msgpack-python's exact bytes
//! (smallest int forms, float64, str/bin distinction) from `rmp`.

use super::Value;
use crate::error::{Error, Result};
use std::vec::Drain;

/// Makes one decoded node at a time. `Error` must absorb core errors (limits, malformed input).
pub trait Build {
    /// The node type produced.
    type Out;
    /// The error type of the builder (core errors convert into it).
    type Error: From<Error>;
    /// nil / None / null.
    fn nil(&mut self) -> Result<Self::Out, Self::Error>;
    /// A boolean.
    fn bool(&mut self, v: bool) -> Result<Self::Out, Self::Error>;
    /// A signed integer.
    fn int(&mut self, v: i64) -> Result<Self::Out, Self::Error>;
    /// An unsigned integer above `i64::MAX`.
    fn uint(&mut self, v: u64) -> Result<Self::Out, Self::Error>;
    /// A float.
    fn float(&mut self, v: f64) -> Result<Self::Out, Self::Error>;
    /// A string.
    fn str(&mut self, v: &str) -> Result<Self::Out, Self::Error>;
    /// Raw bytes.
    fn bin(&mut self, v: &[u8]) -> Result<Self::Out, Self::Error>;
    /// A string that is a map key. Defaults to [`Build::str`]; builders may cache keys, which repeat.
    fn key_str(&mut self, v: &str) -> Result<Self::Out, Self::Error> {
        self.str(v)
    }
    /// An array of already built items (drained from the decoder's stack: no allocation per container).
    fn array(&mut self, items: Drain<'_, Self::Out>) -> Result<Self::Out, Self::Error>;
    /// A map: already built keys and values, alternating, in input order (an even count).
    fn map(&mut self, kv: Drain<'_, Self::Out>) -> Result<Self::Out, Self::Error>;
}

/// Pairs up alternating keys and values.
pub fn pairs<T>(mut kv: Drain<'_, T>) -> Vec<(T, T)> {
    let mut out = Vec::with_capacity(kv.len() / 2);
    while let (Some(k), Some(v)) = (kv.next(), kv.next()) {
        out.push((k, v));
    }
    out
}

/// Hands `v` to a builder node by node, as the decoders do: the one walk by which the JSON decoder
/// and the bindings (a message's data, a described config) turn a core value into their own objects,
/// of the same shapes as `decode` makes.
pub fn build_value<B: Build>(v: &Value, b: &mut B) -> Result<B::Out, B::Error> {
    let mut stack = Vec::new();
    build_into(v, b, &mut stack)
}

fn build_into<B: Build>(v: &Value, b: &mut B, st: &mut Vec<B::Out>) -> Result<B::Out, B::Error> {
    match v {
        Value::Nil => b.nil(),
        Value::Bool(x) => b.bool(*x),
        Value::Int(x) => b.int(*x),
        Value::UInt(x) => b.uint(*x),
        Value::Float(x) => b.float(*x),
        Value::Str(x) => b.str(x),
        Value::Bin(x) => b.bin(x),
        Value::Array(items) => {
            let start = st.len();
            for item in items {
                let out = build_into(item, b, st)?;
                st.push(out);
            }
            b.array(st.drain(start..))
        }
        Value::Map(entries) => {
            let start = st.len();
            for (k, v) in entries {
                let k = match k {
                    Value::Str(s) => b.key_str(s)?,
                    other => build_into(other, b, st)?,
                };
                st.push(k);
                let v = build_into(v, b, st)?;
                st.push(v);
            }
            b.map(st.drain(start..))
        }
    }
}

/// Builds core [`Value`]s.
#[derive(Debug, Default, Clone, Copy)]
pub struct ValueBuilder;

impl Build for ValueBuilder {
    type Out = Value;
    type Error = Error;
    fn nil(&mut self) -> Result<Value> {
        Ok(Value::Nil)
    }
    fn bool(&mut self, v: bool) -> Result<Value> {
        Ok(Value::Bool(v))
    }
    fn int(&mut self, v: i64) -> Result<Value> {
        Ok(Value::Int(v))
    }
    fn uint(&mut self, v: u64) -> Result<Value> {
        Ok(Value::from(v))
    }
    fn float(&mut self, v: f64) -> Result<Value> {
        Ok(Value::Float(v))
    }
    fn str(&mut self, v: &str) -> Result<Value> {
        Ok(Value::Str(v.to_owned()))
    }
    fn bin(&mut self, v: &[u8]) -> Result<Value> {
        Ok(Value::Bin(v.to_vec()))
    }
    fn array(&mut self, items: Drain<'_, Value>) -> Result<Value> {
        Ok(Value::Array(items.collect()))
    }
    fn map(&mut self, kv: Drain<'_, Value>) -> Result<Value> {
        Ok(Value::Map(pairs(kv)))
    }
}

/// Writes MessagePack node by node, exactly as msgpack-python's `packb` would.
#[derive(Debug, Default, Clone)]
pub struct MsgPackWriter {
    buf: Vec<u8>,
}

fn werr<E: std::fmt::Display>(e: E) -> Error {
    Error::Encode(e.to_string())
}

impl MsgPackWriter {
    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        MsgPackWriter {
            buf: Vec::with_capacity(capacity),
        }
    }
    /// nil.
    pub fn nil(&mut self) {
        self.buf.push(0xc0);
    }
    /// A boolean.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(if v { 0xc3 } else { 0xc2 });
    }
    /// A signed integer in its smallest form (non-negative values use the uint forms, like msgpack-python).
    pub fn int(&mut self, v: i64) -> Result<()> {
        rmp::encode::write_sint(&mut self.buf, v)
            .map(drop)
            .map_err(werr)
    }
    /// An unsigned integer in its smallest form.
    pub fn uint(&mut self, v: u64) -> Result<()> {
        rmp::encode::write_uint(&mut self.buf, v)
            .map(drop)
            .map_err(werr)
    }
    /// A float64 (msgpack-python always packs Python floats as float64).
    pub fn float(&mut self, v: f64) -> Result<()> {
        rmp::encode::write_f64(&mut self.buf, v).map_err(werr)
    }
    /// A UTF-8 string (str8/16/32 as needed).
    pub fn str(&mut self, v: &str) -> Result<()> {
        rmp::encode::write_str(&mut self.buf, v).map_err(werr)
    }
    /// Raw bytes (bin8/16/32).
    pub fn bin(&mut self, v: &[u8]) -> Result<()> {
        rmp::encode::write_bin(&mut self.buf, v).map_err(werr)
    }
    /// The header of an array of `len` items; the items follow.
    pub fn array_len(&mut self, len: usize) -> Result<()> {
        let len = u32::try_from(len)
            .map_err(|_| Error::Encode(format!("array of {len} items is too long")))?;
        rmp::encode::write_array_len(&mut self.buf, len)
            .map(drop)
            .map_err(werr)
    }
    /// The header of a map of `len` entries; key, value, key, value... follow.
    pub fn map_len(&mut self, len: usize) -> Result<()> {
        let len = u32::try_from(len)
            .map_err(|_| Error::Encode(format!("map of {len} entries is too long")))?;
        rmp::encode::write_map_len(&mut self.buf, len)
            .map(drop)
            .map_err(werr)
    }
    /// Writes a whole core value.
    pub fn value(&mut self, v: &Value) -> Result<()> {
        match v {
            Value::Nil => self.nil(),
            Value::Bool(b) => self.bool(*b),
            Value::Int(i) => self.int(*i)?,
            Value::UInt(u) => self.uint(*u)?,
            Value::Float(f) => self.float(*f)?,
            Value::Str(s) => self.str(s)?,
            Value::Bin(b) => self.bin(b)?,
            Value::Array(items) => {
                self.array_len(items.len())?;
                for item in items {
                    self.value(item)?;
                }
            }
            Value::Map(entries) => {
                self.map_len(entries.len())?;
                for (k, val) in entries {
                    self.value(k)?;
                    self.value(val)?;
                }
            }
        }
        Ok(())
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Receives a value top-down, node by node: containers announce their length, then their items follow
/// (for maps: key, value, key, value...). A walker over foreign objects (a Python dict, a JS object) drives
/// an `Emit` once and gets either MessagePack bytes ([`MsgPackWriter`]) or a [`Value`] ([`ValueEmitter`]).
pub trait Emit {
    /// nil.
    fn emit_nil(&mut self) -> Result<()>;
    /// A boolean.
    fn emit_bool(&mut self, v: bool) -> Result<()>;
    /// A signed integer.
    fn emit_int(&mut self, v: i64) -> Result<()>;
    /// An unsigned integer.
    fn emit_uint(&mut self, v: u64) -> Result<()>;
    /// A float.
    fn emit_float(&mut self, v: f64) -> Result<()>;
    /// A string.
    fn emit_str(&mut self, v: &str) -> Result<()>;
    /// Raw bytes.
    fn emit_bin(&mut self, v: &[u8]) -> Result<()>;
    /// Starts an array of `len` items.
    fn emit_array(&mut self, len: usize) -> Result<()>;
    /// Starts a map of `len` entries.
    fn emit_map(&mut self, len: usize) -> Result<()>;
}

impl Emit for MsgPackWriter {
    fn emit_nil(&mut self) -> Result<()> {
        self.nil();
        Ok(())
    }
    fn emit_bool(&mut self, v: bool) -> Result<()> {
        self.bool(v);
        Ok(())
    }
    fn emit_int(&mut self, v: i64) -> Result<()> {
        self.int(v)
    }
    fn emit_uint(&mut self, v: u64) -> Result<()> {
        self.uint(v)
    }
    fn emit_float(&mut self, v: f64) -> Result<()> {
        self.float(v)
    }
    fn emit_str(&mut self, v: &str) -> Result<()> {
        self.str(v)
    }
    fn emit_bin(&mut self, v: &[u8]) -> Result<()> {
        self.bin(v)
    }
    fn emit_array(&mut self, len: usize) -> Result<()> {
        self.array_len(len)
    }
    fn emit_map(&mut self, len: usize) -> Result<()> {
        self.map_len(len)
    }
}

enum Frame {
    Array {
        items: Vec<Value>,
        left: usize,
    },
    Map {
        entries: Vec<(Value, Value)>,
        key: Option<Value>,
        left: usize,
    },
}

/// Assembles emitted nodes into a [`Value`].
#[derive(Default)]
pub struct ValueEmitter {
    stack: Vec<Frame>,
    root: Option<Value>,
}

impl ValueEmitter {
    /// An empty emitter.
    pub fn new() -> Self {
        ValueEmitter::default()
    }

    /// The finished value; `encode_error` when containers were announced but not filled.
    pub fn finish(self) -> Result<Value> {
        match (self.root, self.stack.is_empty()) {
            (Some(v), true) => Ok(v),
            _ => Err(Error::Encode(
                "incomplete value: a container was not filled".into(),
            )),
        }
    }

    fn push(&mut self, mut v: Value) -> Result<()> {
        loop {
            match self.stack.last_mut() {
                None => {
                    if self.root.replace(v).is_some() {
                        return Err(Error::Encode("more than one root value".into()));
                    }
                    return Ok(());
                }
                Some(Frame::Array { items, left }) => {
                    items.push(v);
                    *left -= 1;
                    if *left > 0 {
                        return Ok(());
                    }
                }
                Some(Frame::Map { entries, key, left }) => match key.take() {
                    None => {
                        *key = Some(v);
                        return Ok(());
                    }
                    Some(k) => {
                        entries.push((k, v));
                        *left -= 1;
                        if *left > 0 {
                            return Ok(());
                        }
                    }
                },
            }
            // The innermost container is full: close it and hand it to its parent.
            v = match self.stack.pop() {
                Some(Frame::Array { items, .. }) => Value::Array(items),
                Some(Frame::Map { entries, .. }) => Value::Map(entries),
                None => return Err(Error::Internal("value emitter stack underflow".into())),
            };
        }
    }
}

impl Emit for ValueEmitter {
    fn emit_nil(&mut self) -> Result<()> {
        self.push(Value::Nil)
    }
    fn emit_bool(&mut self, v: bool) -> Result<()> {
        self.push(Value::Bool(v))
    }
    fn emit_int(&mut self, v: i64) -> Result<()> {
        self.push(Value::Int(v))
    }
    fn emit_uint(&mut self, v: u64) -> Result<()> {
        self.push(Value::from(v))
    }
    fn emit_float(&mut self, v: f64) -> Result<()> {
        self.push(Value::Float(v))
    }
    fn emit_str(&mut self, v: &str) -> Result<()> {
        self.push(Value::Str(v.to_owned()))
    }
    fn emit_bin(&mut self, v: &[u8]) -> Result<()> {
        self.push(Value::Bin(v.to_vec()))
    }
    fn emit_array(&mut self, len: usize) -> Result<()> {
        if len == 0 {
            return self.push(Value::Array(Vec::new()));
        }
        self.stack.push(Frame::Array {
            items: Vec::with_capacity(len.min(1024)),
            left: len,
        });
        Ok(())
    }
    fn emit_map(&mut self, len: usize) -> Result<()> {
        if len == 0 {
            return self.push(Value::Map(Vec::new()));
        }
        self.stack.push(Frame::Map {
            entries: Vec::with_capacity(len.min(1024)),
            key: None,
            left: len,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emit_sample<E: Emit>(e: &mut E) -> Result<()> {
        e.emit_map(3)?;
        e.emit_str("a")?;
        e.emit_array(2)?;
        e.emit_int(1)?;
        e.emit_array(0)?;
        e.emit_str("b")?;
        e.emit_map(0)?;
        e.emit_str("c")?;
        e.emit_float(2.5)
    }

    #[test]
    fn value_emitter_and_writer_agree() {
        let mut ve = ValueEmitter::new();
        emit_sample(&mut ve).unwrap();
        let v = ve.finish().unwrap();
        let expected = Value::Map(vec![
            (
                "a".into(),
                Value::Array(vec![Value::Int(1), Value::Array(vec![])]),
            ),
            ("b".into(), Value::Map(vec![])),
            ("c".into(), Value::Float(2.5)),
        ]);
        assert_eq!(v, expected);
        let mut w = MsgPackWriter::default();
        emit_sample(&mut w).unwrap();
        let mut direct = MsgPackWriter::default();
        direct.value(&expected).unwrap();
        assert_eq!(w.into_bytes(), direct.into_bytes());
    }

    #[test]
    fn incomplete_or_double_roots_are_errors() {
        let mut ve = ValueEmitter::new();
        ve.emit_array(2).unwrap();
        ve.emit_nil().unwrap();
        assert_eq!(ve.finish().unwrap_err().code(), "encode_error");
        let mut ve = ValueEmitter::new();
        ve.emit_nil().unwrap();
        assert_eq!(ve.emit_nil().unwrap_err().code(), "encode_error");
    }
}
