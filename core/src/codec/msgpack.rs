//! MessagePack: encoding through rmp-serde (output identical to msgpack-python's `packb`), decoding with
//! `rmp` markers into [`Value`], checked for depth, declared lengths, UTF-8 and trailing bytes.

use super::value::Ser;
use super::Value;
use crate::error::{Error, Result};
use rmp::Marker;
use serde::Serialize;

/// Encodes `v` as MessagePack (smallest int forms, float64, str, bin, maps in order).
pub(super) fn encode(v: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    Ser { v, json: false }
        .serialize(&mut rmp_serde::Serializer::new(&mut out))
        .map_err(|e| Error::Encode(e.to_string()))?;
    Ok(out)
}

/// Decodes exactly one MessagePack value that spans all of `bytes`.
///
/// Markers come from `rmp`; the reader checks every declared length against the bytes that remain before
/// allocating, refuses strings that are not UTF-8 (as msgpack-python does), extension types, and nesting
/// deeper than `max_depth`.
pub(super) fn decode(bytes: &[u8], max_depth: usize) -> Result<Value> {
    if bytes.is_empty() {
        return Err(Error::Decode("empty input".into()));
    }
    let mut rd = Reader {
        buf: bytes,
        pos: 0,
        max_depth,
    };
    let v = rd.value(max_depth)?;
    if rd.pos != bytes.len() {
        return Err(Error::Decode(format!(
            "{} trailing bytes after the value at offset {}",
            bytes.len() - rd.pos,
            rd.pos
        )));
    }
    Ok(v)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() - self.pos < n {
            return Err(Error::Decode(format!(
                "truncated input: {n} bytes needed at offset {}, {} left",
                self.pos,
                self.buf.len() - self.pos
            )));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len8(&mut self) -> Result<usize> {
        Ok(self.array::<1>()?[0] as usize)
    }
    fn len16(&mut self) -> Result<usize> {
        Ok(u16::from_be_bytes(self.array()?) as usize)
    }
    fn len32(&mut self) -> Result<usize> {
        Ok(u32::from_be_bytes(self.array()?) as usize)
    }

    /// Refuses a container that declares more elements than bytes remain (each element takes ≥ 1 byte).
    fn check_count(&self, n: usize, per_item: usize) -> Result<()> {
        let left = self.buf.len() - self.pos;
        if n.saturating_mul(per_item) > left {
            return Err(Error::Decode(format!(
                "container declares {n} elements but only {left} bytes remain at offset {}",
                self.pos
            )));
        }
        Ok(())
    }

    fn str(&mut self, n: usize) -> Result<Value> {
        let at = self.pos;
        let raw = self.take(n)?;
        std::str::from_utf8(raw)
            .map(|s| Value::Str(s.to_owned()))
            .map_err(|e| Error::Decode(format!("str at offset {at} is not valid UTF-8: {e}")))
    }

    fn seq(&mut self, n: usize, depth_left: usize) -> Result<Value> {
        if depth_left == 0 {
            return Err(Error::TooDeep {
                limit: self.max_depth,
            });
        }
        self.check_count(n, 1)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.value(depth_left - 1)?);
        }
        Ok(Value::Array(out))
    }

    fn map(&mut self, n: usize, depth_left: usize) -> Result<Value> {
        if depth_left == 0 {
            return Err(Error::TooDeep {
                limit: self.max_depth,
            });
        }
        self.check_count(n, 2)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.value(depth_left - 1)?;
            let v = self.value(depth_left - 1)?;
            out.push((k, v));
        }
        Ok(Value::Map(out))
    }

    fn value(&mut self, depth_left: usize) -> Result<Value> {
        let at = self.pos;
        let marker = Marker::from_u8(self.array::<1>()?[0]);
        Ok(match marker {
            Marker::Null => Value::Nil,
            Marker::True => Value::Bool(true),
            Marker::False => Value::Bool(false),
            Marker::FixPos(v) => Value::Int(v as i64),
            Marker::FixNeg(v) => Value::Int(v as i64),
            Marker::U8 => Value::Int(self.array::<1>()?[0] as i64),
            Marker::U16 => Value::Int(u16::from_be_bytes(self.array()?) as i64),
            Marker::U32 => Value::Int(u32::from_be_bytes(self.array()?) as i64),
            Marker::U64 => Value::from(u64::from_be_bytes(self.array()?)),
            Marker::I8 => Value::Int(i8::from_be_bytes(self.array()?) as i64),
            Marker::I16 => Value::Int(i16::from_be_bytes(self.array()?) as i64),
            Marker::I32 => Value::Int(i32::from_be_bytes(self.array()?) as i64),
            Marker::I64 => Value::Int(i64::from_be_bytes(self.array()?)),
            Marker::F32 => Value::Float(f32::from_be_bytes(self.array()?) as f64),
            Marker::F64 => Value::Float(f64::from_be_bytes(self.array()?)),
            Marker::FixStr(n) => self.str(n as usize)?,
            Marker::Str8 => {
                let n = self.len8()?;
                self.str(n)?
            }
            Marker::Str16 => {
                let n = self.len16()?;
                self.str(n)?
            }
            Marker::Str32 => {
                let n = self.len32()?;
                self.str(n)?
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                let n = match marker {
                    Marker::Bin8 => self.len8()?,
                    Marker::Bin16 => self.len16()?,
                    _ => self.len32()?,
                };
                Value::Bin(self.take(n)?.to_vec())
            }
            Marker::FixArray(n) => self.seq(n as usize, depth_left)?,
            Marker::Array16 => {
                let n = self.len16()?;
                self.seq(n, depth_left)?
            }
            Marker::Array32 => {
                let n = self.len32()?;
                self.seq(n, depth_left)?
            }
            Marker::FixMap(n) => self.map(n as usize, depth_left)?,
            Marker::Map16 => {
                let n = self.len16()?;
                self.map(n, depth_left)?
            }
            Marker::Map32 => {
                let n = self.len32()?;
                self.map(n, depth_left)?
            }
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32 => {
                return Err(Error::Decode(format!(
                    "MessagePack extension type at offset {at} is not supported"
                )))
            }
            Marker::Reserved => {
                return Err(Error::Decode(format!(
                    "reserved marker 0xc1 at offset {at}"
                )))
            }
        })
    }
}
