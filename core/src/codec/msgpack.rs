//! MessagePack on the `rmp` crate: encoding through [`MsgPackWriter`] (output identical to msgpack-python's
//! `packb`), decoding through a [`Build`] implementation, checked for depth, declared lengths, UTF-8 and
//! trailing bytes.

use super::build::{Build, MsgPackWriter};
use super::Value;
use crate::error::{Error, Result};
use rmp::Marker;

/// Encodes `v` as MessagePack (smallest int forms, float64, str, bin, maps in order).
pub(super) fn encode(v: &Value) -> Result<Vec<u8>> {
    let mut w = MsgPackWriter::with_capacity(128);
    w.value(v)?;
    Ok(w.into_bytes())
}

/// Decodes exactly one MessagePack value that spans all of `bytes`, making each node with `b`.
///
/// Markers come from `rmp`; the reader checks every declared length against the bytes that remain before
/// allocating, refuses strings that are not UTF-8 (as msgpack-python does), extension types, and nesting
/// deeper than `max_depth`.
pub(super) fn decode<B: Build>(
    bytes: &[u8],
    max_depth: usize,
    b: &mut B,
) -> Result<B::Out, B::Error> {
    if bytes.is_empty() {
        return Err(Error::Decode("empty input".into()).into());
    }
    let mut rd = Reader {
        buf: bytes,
        pos: 0,
        max_depth,
    };
    let mut stack = Vec::new();
    let v = rd.value(max_depth, b, &mut stack)?;
    if rd.pos != bytes.len() {
        let msg = format!(
            "{} trailing bytes after the value at offset {}",
            bytes.len() - rd.pos,
            rd.pos
        );
        return Err(Error::Decode(msg).into());
    }
    Ok(v)
}

/// What a decode step returns.
type Res<B> = Result<<B as Build>::Out, <B as Build>::Error>;

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

    fn str<B: Build>(&mut self, n: usize, b: &mut B) -> Result<B::Out, B::Error> {
        let at = self.pos;
        let raw = self.take(n)?;
        let s = std::str::from_utf8(raw)
            .map_err(|e| Error::Decode(format!("str at offset {at} is not valid UTF-8: {e}")))?;
        b.str(s)
    }

    fn seq<B: Build>(&mut self, n: usize, depth: usize, b: &mut B, st: &mut Vec<B::Out>) -> Res<B> {
        if depth == 0 {
            return Err(Error::TooDeep {
                limit: self.max_depth,
            }
            .into());
        }
        self.check_count(n, 1)?;
        let start = st.len();
        for _ in 0..n {
            let v = self.value(depth - 1, b, st)?;
            st.push(v);
        }
        b.array(st.drain(start..))
    }

    fn map<B: Build>(&mut self, n: usize, depth: usize, b: &mut B, st: &mut Vec<B::Out>) -> Res<B> {
        if depth == 0 {
            return Err(Error::TooDeep {
                limit: self.max_depth,
            }
            .into());
        }
        self.check_count(n, 2)?;
        let start = st.len();
        for _ in 0..n {
            let k = match self.buf.get(self.pos) {
                // A fixstr key (the common case): let the builder reuse key objects.
                Some(&m @ 0xa0..=0xbf) => self.fixstr_key(m, b)?,
                _ => self.value(depth - 1, b, st)?,
            };
            st.push(k);
            let v = self.value(depth - 1, b, st)?;
            st.push(v);
        }
        b.map(st.drain(start..))
    }

    /// A fixstr map key (`m` is its marker), handed to [`Build::key_str`].
    #[cfg_attr(debug_assertions, inline(never))]
    fn fixstr_key<B: Build>(&mut self, m: u8, b: &mut B) -> Res<B> {
        self.pos += 1;
        let at = self.pos;
        let raw = self.take((m & 0x1f) as usize)?;
        let s = std::str::from_utf8(raw)
            .map_err(|e| Error::Decode(format!("str at offset {at} is not valid UTF-8: {e}")))?;
        b.key_str(s)
    }

    /// One value. Containers recurse from here; everything else is read by [`Reader::scalar`], kept
    /// out of this frame so that each nesting level costs little stack, even in a debug build (512
    /// levels of maps overflowed a 2 MiB thread when the scalar arms' temporaries lived here).
    fn value<B: Build>(&mut self, depth_left: usize, b: &mut B, st: &mut Vec<B::Out>) -> Res<B> {
        let at = self.pos;
        let marker = Marker::from_u8(self.array::<1>()?[0]);
        match marker {
            Marker::FixArray(n) => self.seq(n as usize, depth_left, b, st),
            Marker::Array16 | Marker::Array32 => {
                let n = self.var_len(marker)?;
                self.seq(n, depth_left, b, st)
            }
            Marker::FixMap(n) => self.map(n as usize, depth_left, b, st),
            Marker::Map16 | Marker::Map32 => {
                let n = self.var_len(marker)?;
                self.map(n, depth_left, b, st)
            }
            _ => self.scalar(marker, at, b),
        }
    }

    /// A value that is not a container, after its marker (read at offset `at`). Kept out of line in
    /// debug builds, where frames hold every arm's temporaries; release builds inline as they see fit
    /// (their frames are small either way).
    #[cfg_attr(debug_assertions, inline(never))]
    fn scalar<B: Build>(&mut self, marker: Marker, at: usize, b: &mut B) -> Res<B> {
        match marker {
            Marker::Null => b.nil(),
            Marker::True => b.bool(true),
            Marker::False => b.bool(false),
            Marker::FixPos(v) => b.int(v as i64),
            Marker::FixNeg(v) => b.int(v as i64),
            Marker::U8 => b.int(self.array::<1>()?[0] as i64),
            Marker::U16 => b.int(u16::from_be_bytes(self.array()?) as i64),
            Marker::U32 => b.int(u32::from_be_bytes(self.array()?) as i64),
            Marker::U64 => {
                let u = u64::from_be_bytes(self.array()?);
                match i64::try_from(u) {
                    Ok(i) => b.int(i),
                    Err(_) => b.uint(u),
                }
            }
            Marker::I8 => b.int(i8::from_be_bytes(self.array()?) as i64),
            Marker::I16 => b.int(i16::from_be_bytes(self.array()?) as i64),
            Marker::I32 => b.int(i32::from_be_bytes(self.array()?) as i64),
            Marker::I64 => b.int(i64::from_be_bytes(self.array()?)),
            Marker::F32 => b.float(f32::from_be_bytes(self.array()?) as f64),
            Marker::F64 => b.float(f64::from_be_bytes(self.array()?)),
            Marker::FixStr(n) => self.str(n as usize, b),
            Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let n = self.var_len(marker)?;
                self.str(n, b)
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                let n = self.var_len(marker)?;
                let raw = self.take(n)?;
                b.bin(raw)
            }
            Marker::FixArray(_)
            | Marker::Array16
            | Marker::Array32
            | Marker::FixMap(_)
            | Marker::Map16
            | Marker::Map32 => Err(Error::Internal(format!(
                "container marker at offset {at} read as a scalar"
            ))
            .into()),
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32 => {
                let msg = format!("MessagePack extension type at offset {at} is not supported");
                Err(Error::Decode(msg).into())
            }
            Marker::Reserved => {
                Err(Error::Decode(format!("reserved marker 0xc1 at offset {at}")).into())
            }
        }
    }

    /// The length that follows a str8/16/32, bin8/16/32, array16/32 or map16/32 marker.
    fn var_len(&mut self, marker: Marker) -> Result<usize> {
        Ok(match marker {
            Marker::Str8 | Marker::Bin8 => self.array::<1>()?[0] as usize,
            Marker::Str16 | Marker::Bin16 | Marker::Array16 | Marker::Map16 => {
                u16::from_be_bytes(self.array()?) as usize
            }
            _ => u32::from_be_bytes(self.array()?) as usize,
        })
    }
}
