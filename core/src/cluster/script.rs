//! What dashfeed keeps in Redis for a cluster, and the two Lua scripts that touch it atomically.
//!
//! Per dashboard `d` (prefix `dashfeed`):
//! - `dashfeed:meta:d` — hash `epoch` (16 hex digits), `seq` (the last publication's number);
//! - `dashfeed:history:d` — stream of the last publications of the current epoch (a new epoch deletes
//!   it), entry id `{seq}-0`, field `d` (the data map as MessagePack), trimmed with `MAXLEN ~`;
//! - `dashboard:d` — the latest-value snapshot in the Redis cache's layout
//!   (`{metric}` → `{"value","timestamp","metadata"}` JSON);
//! - `dashfeed:id:d:{id}` — a publication id seen, expiring after the dedupe horizon.
//!
//! [`PUBLISH`] numbers a batch of publications: it creates the epoch when a dashboard has none (a new
//! dashboard, or a Redis that restarted empty), drops duplicate ids, takes the next seqs, appends to
//! the history, updates the snapshot and broadcasts the [`Frame`]s on `dashfeed:bus`. [`SYNC`] reads a
//! dashboard's epoch, seq, snapshot and history entries in one step, so that they agree.

use crate::codec::{Codec, Format};
use crate::error::{Error, Result};
use std::sync::Arc;

/// Numbers and broadcasts a batch of publications in one script call, in order: per dashboard of the
/// batch one `HMGET` of its epoch and seq, one `HSET` of the new seq and one `HSET` of the snapshot
/// fields (the newest value of each wins); per publication one `XADD`; one `PUBLISH` of all frames.
///
/// KEYS, 4 per publication: meta, history, snapshot, id key (the meta key again when there is none).
/// ARGV: epoch candidate, history MAXLEN, ts ms, id horizon ms, bus channel, publication count, then per
/// publication: dashboard, data (MessagePack), has id (`0`/`1`), snapshot field count, and the field /
/// value pairs. Returns `{epoch, seq}` per publication, seq `-1` for a duplicate id.
pub(crate) const PUBLISH: &str = r#"
local call, argv, keys, unpack, tonumber = redis.call, ARGV, KEYS, unpack, tonumber
local n = tonumber(argv[6])
local candidate, maxlen, ts, horizon = argv[1], argv[2], argv[3], argv[4]
local a = 7
local out, frames, state, order = {}, {}, {}, {}
for p = 1, n do
  local k = (p - 1) * 4
  local meta = keys[k + 1]
  local d, data, nf = argv[a], argv[a + 1], tonumber(argv[a + 3])
  local has_id = argv[a + 2] == '1'
  local first = a + 4
  a = first + 2 * nf
  local s = state[meta]
  if not s then
    local m = call('HMGET', meta, 'epoch', 'seq')
    if not m[1] then
      m = {candidate, 0}
      call('DEL', keys[k + 2])
      call('HSET', meta, 'epoch', candidate)
    end
    s = {m[1], tonumber(m[2]) or 0, keys[k + 2], keys[k + 3], {}, 0}
    state[meta] = s
    order[#order + 1] = meta
  end
  if has_id and not call('SET', keys[k + 4], '1', 'NX', 'PX', horizon) then
    out[p] = {s[1], -1}
  else
    local seq = s[2] + 1
    s[2] = seq
    call('XADD', s[3], 'MAXLEN', '~', maxlen, seq .. '-0', 'd', data)
    local f, m = s[5], s[6]
    for i = first, a - 1 do
      m = m + 1
      f[m] = argv[i]
    end
    s[6] = m
    frames[#frames + 1] = s[1] .. '\n' .. seq .. '\n' .. ts .. '\n' .. #d .. '\n' .. #data .. '\n' .. d .. data
    out[p] = {s[1], seq}
  end
end
for _, meta in ipairs(order) do
  call('HSET', meta, 'seq', state[meta][2])
end
-- The snapshot hashes may be shared with other writers: a key of another type must not stop the
-- batch half way (Lua has no rollback), so their writes come last and their errors are ignored.
for _, meta in ipairs(order) do
  local s = state[meta]
  local f, m = s[5], s[6]
  for i = 1, m, 400 do
    redis.pcall('HSET', s[4], unpack(f, i, math.min(i + 399, m)))
  end
end
if #frames > 0 then
  call('PUBLISH', argv[5], table.concat(frames))
end
return out
"#;

/// Reads one dashboard's shared state.
///
/// KEYS: meta, history, snapshot. ARGV: epoch candidate (empty: do not create a missing dashboard),
/// most history entries, `after` (entries with a greater seq, oldest first; empty: the newest ones,
/// newest first). Returns nil for a missing dashboard not created, else `{epoch, seq, snapshot
/// field/value list, entries}`.
pub(crate) const SYNC: &str = r#"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  if ARGV[1] == '' then return false end
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local snap = redis.call('HGETALL', KEYS[3])
local hist
if ARGV[3] == '' then
  hist = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[2])
else
  hist = redis.call('XRANGE', KEYS[2], (tonumber(ARGV[3]) + 1) .. '-0', '+', 'COUNT', ARGV[2])
end
return {epoch, seq, snap, hist}
"#;

/// Retires a dashboard's shared feed that lost publications some node applied (Redis came back from
/// an older save, or failed over to a replica that was behind): when the epoch is still `ARGV[1]` and
/// the seq below `ARGV[2]`, meta and history are deleted, so the next sync starts a new epoch that
/// every node and client sees as `recovered: false` (reusing the lost seqs would be a silent gap).
///
/// KEYS: meta, history. Returns 1 when retired.
pub(crate) const RETIRE: &str = r#"
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
if m[1] == ARGV[1] and (tonumber(m[2]) or 0) < tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0
"#;

/// The key names of one cluster.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(crate) prefix: String,
    pub(crate) snapshot_prefix: String,
    pub(crate) channel: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str, snapshot_prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
            snapshot_prefix: snapshot_prefix.to_owned(),
            channel: format!("{prefix}:bus"),
        }
    }
    pub(crate) fn meta(&self, d: &str) -> String {
        format!("{}:meta:{d}", self.prefix)
    }
    pub(crate) fn history(&self, d: &str) -> String {
        format!("{}:history:{d}", self.prefix)
    }
    pub(crate) fn snapshot(&self, d: &str) -> String {
        format!("{}{d}", self.snapshot_prefix)
    }
    pub(crate) fn id(&self, d: &str, id: &str) -> String {
        format!("{}:id:{d}:{id}", self.prefix)
    }
}

/// One publication as broadcast on the bus. A bus message is one or more frames back to back, each
/// `epoch \n seq \n ts \n len(dashboard) \n len(data) \n dashboard data`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frame<'a> {
    pub(crate) epoch: &'a str,
    pub(crate) seq: u64,
    pub(crate) ts_ms: i64,
    pub(crate) dashboard: &'a str,
    /// The data map, MessagePack.
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
        let seq = field()?.parse::<u64>().map_err(|_| bad())?;
        let ts_ms = field()?.parse::<i64>().map_err(|_| bad())?;
        let dlen = field()?.parse::<usize>().map_err(|_| bad())?;
        let len = field()?.parse::<usize>().map_err(|_| bad())?;
        if rest.len() < dlen.saturating_add(len) {
            return Err(bad());
        }
        let (d, tail) = rest.split_at(dlen);
        let (data, tail) = tail.split_at(len);
        let dashboard = std::str::from_utf8(d).map_err(|_| bad())?;
        let frame = Frame {
            epoch,
            seq,
            ts_ms,
            dashboard,
            data,
        };
        Ok((frame, tail))
    }
}

/// The codec of data read back from Redis.
pub(crate) fn data_codec(max_bytes: usize) -> Codec {
    Codec::bounded(Format::MsgPack, max_bytes, crate::hub::MAX_DATA_DEPTH + 2)
}

/// A dashboard's shared state as [`SYNC`] returned it.
#[derive(Debug)]
pub(crate) struct Synced {
    pub(crate) epoch: Arc<str>,
    pub(crate) seq: u64,
    /// Snapshot field → cached JSON entry.
    pub(crate) snapshot: Vec<(String, Vec<u8>)>,
    /// History entries `(seq, data MessagePack)` in the order Redis gave them.
    pub(crate) entries: Vec<(u64, Vec<u8>)>,
}

impl Synced {
    /// Reads a [`SYNC`] reply; `Ok(None)` for nil (missing dashboard).
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
}

/// `(seq, data)` of one stream entry `[id, [field, value, ...]]`.
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
        let raw = b"00aa\n7\n1700\n3\n4\nops\x81\xa1a\x01e\n8\n0\n3\n1\na\nb\x80";
        let frames = Frame::parse_all(raw).unwrap();
        assert_eq!(frames.len(), 2);
        let f = &frames[0];
        assert_eq!(
            (f.epoch, f.seq, f.ts_ms, f.dashboard),
            ("00aa", 7, 1700, "ops")
        );
        assert_eq!(f.data, b"\x81\xa1a\x01");
        assert_eq!(
            (frames[1].dashboard, frames[1].data),
            ("a\nb", &b"\x80"[..])
        );
        for bad in [
            &b""[..],
            b"e\nx\n0\n1\n1\naz",
            b"e\n1\n0\n9\n1\nab",
            b"e\n1\n0",
            b"e\n1\n0\n1\n1\naz trailing",
        ] {
            assert_eq!(Frame::parse_all(bad).unwrap_err().code(), "decode_error");
        }
    }
}
