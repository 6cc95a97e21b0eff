//! What travels between Redis and a node: the group frames of a bus message, and the [`SYNC`] reply
//! (epoch, seq, snapshot, history entries), both holding publications grouped per dashboard as a
//! MessagePack array of data maps numbered from a known seq on (see [`super::script`]).
//!
//! [`SYNC`]: super::script::SYNC

use crate::codec::{Codec, Format, Value};
use crate::error::{Error, Result};
use std::sync::Arc;

/// The publications of one dashboard in one script call, as broadcast on the bus. A bus message is
/// one or more frames back to back, each `epoch \n first seq \n ts \n len(dashboard) \n len(data) \n
/// dashboard data`, data being a MessagePack array of data maps numbered `first`, `first + 1`, ...
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frame<'a> {
    pub(crate) epoch: &'a str,
    /// The seq of the first publication of `data`.
    pub(crate) first: u64,
    pub(crate) ts_ms: i64,
    pub(crate) dashboard: &'a str,
    /// The data maps, a MessagePack array.
    pub(crate) data: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Parses every frame of a bus message; `decode_error` when it is not made of frames (nothing of it
    /// is then applied: the mirrors find the gap and fill it from the history).
    pub(crate) fn parse_all(bytes: &'a [u8]) -> Result<Vec<Frame<'a>>> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (frame, tail) = Frame::parse_one(rest)?;
            out.push(frame);
            rest = tail;
        }
        if out.is_empty() {
            return Err(Error::Decode("cluster bus: an empty message".into()));
        }
        Ok(out)
    }

    fn parse_one(bytes: &'a [u8]) -> Result<(Frame<'a>, &'a [u8])> {
        let bad = || Error::Decode("cluster bus: not a dashfeed frame".into());
        let mut rest = bytes;
        let mut field = || -> Result<&'a str> {
            let nl = rest.iter().position(|b| *b == b'\n').ok_or_else(bad)?;
            let (head, tail) = rest.split_at(nl);
            rest = &tail[1..];
            std::str::from_utf8(head).map_err(|_| bad())
        };
        let epoch = field()?;
        let first = field()?.parse::<u64>().map_err(|_| bad())?;
        let ts_ms = field()?.parse::<i64>().map_err(|_| bad())?;
        let dlen = field()?.parse::<usize>().map_err(|_| bad())?;
        let len = field()?.parse::<usize>().map_err(|_| bad())?;
        if rest.len() < dlen.saturating_add(len) || first == 0 {
            return Err(bad());
        }
        let (d, tail) = rest.split_at(dlen);
        let (data, tail) = tail.split_at(len);
        let dashboard = std::str::from_utf8(d).map_err(|_| bad())?;
        let frame = Frame {
            epoch,
            first,
            ts_ms,
            dashboard,
            data,
        };
        Ok((frame, tail))
    }
}

/// The codec of data read back from Redis: a group of publications (an array of data maps) of up to
/// `max_bytes`.
pub(crate) fn data_codec(max_bytes: usize) -> Codec {
    Codec::bounded(Format::MsgPack, max_bytes, crate::hub::MAX_DATA_DEPTH + 3)
}

/// The publications of a group: `(seq, data)` from `first` on; `decode_error` when `bytes` is not an
/// array of maps.
pub(crate) fn decode_group(
    bytes: &[u8],
    first: u64,
    data: &Codec,
) -> Result<Vec<(u64, Arc<Value>)>> {
    let bad = || Error::Decode("cluster: a publication group is not an array of maps".into());
    let Value::Array(items) = data.decode(bytes)? else {
        return Err(bad());
    };
    items
        .into_iter()
        .zip(first..)
        .map(|(v, seq)| match v {
            Value::Map(_) => Ok((seq, Arc::new(v))),
            _ => Err(bad()),
        })
        .collect()
}

/// The MessagePack array of already encoded data maps (the group the node sends in one script call).
pub(crate) fn encode_group<'b>(maps: impl ExactSizeIterator<Item = &'b [u8]>) -> Vec<u8> {
    let parts: Vec<&[u8]> = maps.collect();
    let mut out = Vec::with_capacity(5 + parts.iter().map(|p| p.len()).sum::<usize>());
    // Writing into a Vec cannot fail.
    let len = u32::try_from(parts.len()).unwrap_or(u32::MAX);
    let _ = rmp::encode::write_array_len(&mut out, len);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// A dashboard's shared state as [`SYNC`](super::script::SYNC) returned it.
#[derive(Debug)]
pub(crate) struct Synced {
    pub(crate) epoch: Arc<str>,
    pub(crate) seq: u64,
    /// Snapshot field → cached JSON entry.
    pub(crate) snapshot: Vec<(String, Vec<u8>)>,
    /// History entries `(last seq, data array MessagePack)`, oldest first.
    pub(crate) entries: Vec<(u64, Vec<u8>)>,
}

impl Synced {
    /// Reads a [`SYNC`](super::script::SYNC) reply; `Ok(None)` for nil (missing dashboard).
    pub(crate) fn from_reply(v: redis::Value) -> Result<Option<Synced>> {
        use redis::Value as R;
        let bad = |what: &str| Error::Io(format!("redis: unexpected sync reply ({what})"));
        let items = match v {
            R::Nil => return Ok(None),
            R::Array(items) => items,
            _ => return Err(bad("not an array")),
        };
        let mut it = items.into_iter();
        let epoch = text(it.next()).ok_or_else(|| bad("epoch"))?;
        let seq = match it.next() {
            Some(R::Int(n)) => u64::try_from(n).map_err(|_| bad("seq"))?,
            _ => return Err(bad("seq")),
        };
        let mut snapshot = Vec::new();
        if let Some(R::Array(flat)) = it.next() {
            let mut f = flat.into_iter();
            while let (Some(k), Some(v)) = (f.next(), f.next()) {
                if let (Some(k), Some(v)) = (text(Some(k)), bytes(v)) {
                    snapshot.push((k, v));
                }
            }
        }
        let mut entries = Vec::new();
        if let Some(R::Array(list)) = it.next() {
            for e in list {
                if let Some(entry) = history_entry(e) {
                    entries.push(entry);
                }
            }
        }
        Ok(Some(Synced {
            epoch: Arc::from(epoch),
            seq,
            snapshot,
            entries,
        }))
    }

    /// The publications of the entries with a seq of at least `from`, seq ascending and gap-free up
    /// to the first entry that does not decode or does not follow on (the list ends there: a mirror
    /// is then filled or reset without them rather than given a hole).
    pub(crate) fn publications(&self, from: u64, data: &Codec) -> Vec<(u64, Arc<Value>)> {
        let mut out: Vec<(u64, Arc<Value>)> = Vec::new();
        for (last, bytes) in &self.entries {
            let Ok(items) = decode_group(bytes, 1, data) else {
                break;
            };
            let n = items.len() as u64;
            let Some(first) = (last + 1).checked_sub(n).filter(|f| *f >= 1 && n > 0) else {
                break;
            };
            if out.last().is_some_and(|(s, _)| s + 1 != first) {
                break;
            }
            out.extend(
                items
                    .into_iter()
                    .zip(first..)
                    .filter(|(_, seq)| *seq >= from)
                    .map(|((_, v), seq)| (seq, v)),
            );
        }
        out
    }
}

/// `(last seq, data)` of one stream entry `[id, [field, value, ...]]`.
fn history_entry(e: redis::Value) -> Option<(u64, Vec<u8>)> {
    let redis::Value::Array(pair) = e else {
        return None;
    };
    let mut p = pair.into_iter();
    let id = text(p.next())?;
    let seq = id.split('-').next()?.parse::<u64>().ok()?;
    let redis::Value::Array(fields) = p.next()? else {
        return None;
    };
    let mut f = fields.into_iter();
    while let (Some(k), Some(v)) = (f.next(), f.next()) {
        if text(Some(k)).as_deref() == Some("d") {
            return Some((seq, bytes(v)?));
        }
    }
    None
}

fn bytes(v: redis::Value) -> Option<Vec<u8>> {
    match v {
        redis::Value::BulkString(b) => Some(b),
        redis::Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

fn text(v: Option<redis::Value>) -> Option<String> {
    String::from_utf8(bytes(v?)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_and_refuse_garbage() {
        let raw = b"00aa\n7\n1700\n3\n5\nops\x91\x81\xa1a\x01e\n8\n0\n3\n1\na\nb\x90";
        let frames = Frame::parse_all(raw).unwrap();
        assert_eq!(frames.len(), 2);
        let f = &frames[0];
        assert_eq!(
            (f.epoch, f.first, f.ts_ms, f.dashboard),
            ("00aa", 7, 1700, "ops")
        );
        assert_eq!(f.data, b"\x91\x81\xa1a\x01");
        assert_eq!(
            (frames[1].dashboard, frames[1].data),
            ("a\nb", &b"\x90"[..])
        );
        for bad in [
            &b""[..],
            b"e\nx\n0\n1\n1\naz",
            b"e\n1\n0\n9\n1\nab",
            b"e\n1\n0",
            b"e\n1\n0\n1\n1\naz trailing",
            b"e\n0\n0\n1\n1\na\x90",
        ] {
            assert_eq!(Frame::parse_all(bad).unwrap_err().code(), "decode_error");
        }
    }

    fn map(n: i64) -> Vec<u8> {
        Codec::new(Format::MsgPack)
            .encode_plain(&Value::Map(vec![(Value::Str("n".into()), Value::Int(n))]))
            .unwrap()
    }

    #[test]
    fn groups_round_trip_and_refuse_what_is_not_an_array_of_maps() {
        let codec = data_codec(1 << 20);
        let maps: Vec<Vec<u8>> = (0..20).map(map).collect();
        let group = encode_group(maps.iter().map(|m| m.as_slice()));
        let got = decode_group(&group, 5, &codec).unwrap();
        assert_eq!(got.len(), 20);
        assert_eq!(got[0].0, 5);
        assert_eq!(got[19].0, 24);
        assert_eq!(got[19].1.get("n"), Some(&Value::Int(19)));
        for bad in [map(1), encode_group([&b"\x01"[..]].into_iter()), vec![0xc1]] {
            assert_eq!(
                decode_group(&bad, 1, &codec).unwrap_err().code(),
                "decode_error"
            );
        }
    }

    #[test]
    fn history_entries_expand_from_a_seq_and_stop_at_a_hole() {
        let codec = data_codec(1 << 20);
        let group = |from: i64, to: i64| {
            let maps: Vec<Vec<u8>> = (from..=to).map(map).collect();
            encode_group(maps.iter().map(|m| m.as_slice()))
        };
        let synced = |entries: Vec<(u64, Vec<u8>)>| Synced {
            epoch: Arc::from("e"),
            seq: 0,
            snapshot: Vec::new(),
            entries,
        };
        let s = synced(vec![(3, group(1, 3)), (4, group(4, 4)), (9, group(5, 9))]);
        let seqs: Vec<u64> = s.publications(3, &codec).iter().map(|p| p.0).collect();
        assert_eq!(seqs, (3..=9).collect::<Vec<_>>());
        assert_eq!(
            s.publications(1, &codec)[0].1.get("n"),
            Some(&Value::Int(1))
        );
        // A missing entry (4) or one that does not decode ends the list.
        let holed = synced(vec![(3, group(1, 3)), (9, group(5, 9))]);
        assert_eq!(holed.publications(1, &codec).len(), 3);
        let broken = synced(vec![(3, group(1, 3)), (4, vec![0xc1]), (5, group(5, 5))]);
        assert_eq!(broken.publications(1, &codec).len(), 3);
    }
}
