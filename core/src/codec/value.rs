//! The dynamic [`Value`] that the codec reads and writes, and its serde glue.
//!
//! `Value` is the common currency between the bindings (Python / JS values) and the encoders. Maps keep
//! insertion order, so MessagePack output matches `msgpack.packb` byte for byte. Deserialization goes through
//! [`ValueSeed`], which enforces the nesting limit and never pre-allocates from a declared length.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use std::cell::Cell;
use std::fmt;

/// Most elements pre-allocated from a declared container length; the rest grows as elements arrive.
const CAUTIOUS_PREALLOC: usize = 1024;

/// A dynamically typed value: what JSON and MessagePack can carry.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `None` / `null` / msgpack nil.
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// A signed integer (every integer that fits `i64` is stored here).
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    UInt(u64),
    /// A 64-bit float.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// Raw bytes (msgpack bin).
    Bin(Vec<u8>),
    /// An ordered list.
    Array(Vec<Value>),
    /// A map with its insertion order kept; keys may be any value (msgpack allows it).
    Map(Vec<(Value, Value)>),
}

impl Value {
    /// Looks up a string key in a map value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as `f64` when it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::UInt(u) => Some(u as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The value as `&str` when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<u64> for Value {
    fn from(u: u64) -> Self {
        i64::try_from(u).map(Value::Int).unwrap_or(Value::UInt(u))
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<u32> for Value {
    fn from(u: u32) -> Self {
        Value::Int(u.into())
    }
}
impl From<u16> for Value {
    fn from(u: u16) -> Self {
        Value::Int(u.into())
    }
}
impl From<usize> for Value {
    fn from(u: usize) -> Self {
        Value::from(u as u64)
    }
}
/// `None` is nil (an options map's "not given" / "off").
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Nil, Into::into)
    }
}

/// Serializes a [`Value`] for a binary format: bytes stay bytes (msgpack `bin`).
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Ser {
            v: self,
            json: false,
        }
        .serialize(s)
    }
}

/// Serialization view of a value; `json` refuses bytes, which JSON cannot carry.
pub(crate) struct Ser<'a> {
    pub(crate) v: &'a Value,
    pub(crate) json: bool,
}

impl Serialize for Ser<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let json = self.json;
        match self.v {
            Value::Nil => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(st) => s.serialize_str(st),
            Value::Bin(b) if json => Err(S::Error::custom(format!(
                "bytes ({} long) cannot be encoded as JSON",
                b.len()
            ))),
            Value::Bin(b) => s.serialize_bytes(b),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&Ser { v, json })?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(&Ser { v: k, json }, &Ser { v, json })?;
                }
                map.end()
            }
        }
    }
}

/// Deserializes one [`Value`] while counting nesting depth against a limit.
///
/// When the limit is crossed, `tripped` is set so that the caller reports `too_deep` rather than the
/// format's generic error.
pub(crate) struct ValueSeed<'a> {
    pub(crate) depth_left: usize,
    pub(crate) tripped: &'a Cell<bool>,
}

impl<'a> ValueSeed<'a> {
    fn nested(&self) -> Option<ValueSeed<'a>> {
        if self.depth_left == 0 {
            self.tripped.set(true);
            None
        } else {
            Some(ValueSeed {
                depth_left: self.depth_left - 1,
                tripped: self.tripped,
            })
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON or MessagePack value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f32<E>(self, v: f32) -> Result<Value, E> {
        Ok(Value::Float(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bin(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bin(v))
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, _d: D) -> Result<Value, D::Error> {
        Err(de::Error::custom(
            "MessagePack extension types are not supported",
        ))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Some(inner) = self.nested() else {
            return Err(de::Error::custom("nesting too deep"));
        };
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(CAUTIOUS_PREALLOC));
        while let Some(v) = seq.next_element_seed(ValueSeed {
            depth_left: inner.depth_left,
            tripped: inner.tripped,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Some(inner) = self.nested() else {
            return Err(de::Error::custom("nesting too deep"));
        };
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(CAUTIOUS_PREALLOC));
        let seed = || ValueSeed {
            depth_left: inner.depth_left,
            tripped: inner.tripped,
        };
        while let Some(k) = map.next_key_seed(seed())? {
            let v = map.next_value_seed(seed())?;
            out.push((k, v));
        }
        Ok(Value::Map(out))
    }
}
