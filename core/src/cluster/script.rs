//! What dashfeed keeps in Redis for a cluster, and the Lua scripts that touch it atomically.
//!
//! Per dashboard `d` (prefix `dashfeed`):
//! - `dashfeed:meta:d` — hash `epoch` (16 hex digits), `seq` (the last publication's number);
//! - `dashfeed:history:d` — stream of the last publications of the current epoch (a new epoch deletes
//!   it). One entry per script call and dashboard: entry id `{last seq}-0`, field `d` a MessagePack
//!   array of the call's data maps for that dashboard, numbered `last - len + 1 ..= last`; trimmed by
//!   seq (`MINID ~ last - history + 1`), so it keeps about `history` publications however they were
//!   grouped;
//! - `dashboard:d` — the latest-value snapshot in the Redis cache's layout
//!   (`{metric}` → `{"value","timestamp","metadata"}` JSON);
//! - `dashfeed:id:d:{id}` — a publication id seen, expiring after the dedupe horizon.
//!
//! [`PUBLISH`] numbers a batch of publications: it creates the epoch when a dashboard has none (a new
//! dashboard, or a Redis that restarted empty), drops duplicate ids, takes the next seqs, appends to
//! the history, updates the snapshot and broadcasts one group frame per dashboard on `dashfeed:bus`
//! (the frame layout is in [`super::frame`]). [`SYNC`] reads a dashboard's epoch, seq, snapshot and
//! history entries in one step, so that they agree.
//!
//! Redis does per dashboard and call — not per publication — one `HMGET`, one `XADD`, two `HSET`s
//! and a few string operations; only publications with an id cost one more `SET NX` each.

/// Numbers and broadcasts a batch of publications in one script call, grouped by dashboard (the node
/// groups them, keeping each dashboard's order): per group one `HMGET` of the epoch and seq, one
/// `XADD` of the group's data array, one `HSET` of the new seq and one `HSET` of the snapshot fields;
/// one `PUBLISH` of every group's frame.
///
/// KEYS: meta, history, snapshot per group, then one id key per publication that has an id (in
/// order). ARGV: epoch candidate, history length, ts ms, id horizon ms, bus channel, group count, then
/// per group: dashboard, publication count `n`, mode, and
/// - mode `0` (no ids): the data array (MessagePack, the node built it), the snapshot field count,
///   field / value pairs (merged by the node: the newest value of each field);
/// - mode `1`: per publication: has id (`0`/`1`), data map (MessagePack), snapshot field count, the
///   field / value pairs; a duplicate id drops the publication (Lua builds the array of the others).
///
/// Returns per group `{epoch, first seq, duplicates}`: the kept publications are numbered from the
/// first seq on, and `duplicates` has one `1` (dropped) or `0` per publication in mode `1` (empty in
/// mode `0`).
pub(crate) const PUBLISH: &str = r#"
local call, argv, keys, unpack, tonumber, char = redis.call, ARGV, KEYS, unpack, tonumber, string.char
local candidate, history, ts, horizon = argv[1], tonumber(argv[2]), argv[3], argv[4]
local groups = tonumber(argv[6])
local a, idk = 7, 3 * groups
local out, frames, writes = {}, {}, {}
local function array(n)
  if n < 16 then return char(0x90 + n) end
  if n < 65536 then return char(0xdc, math.floor(n / 256), n % 256) end
  return char(0xdd, math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
end
for g = 1, groups do
  local meta, hist = keys[3 * g - 2], keys[3 * g - 1]
  local d, n, mode = argv[a], tonumber(argv[a + 1]), argv[a + 2]
  a = a + 3
  local m = call('HMGET', meta, 'epoch', 'seq')
  local epoch, seq = m[1], tonumber(m[2]) or 0
  if not epoch then
    epoch, seq = candidate, 0
    call('DEL', hist)
    call('HSET', meta, 'epoch', candidate)
  end
  local blob, kept, flags = nil, n, ''
  local w = {keys[3 * g]}
  if mode == '0' then
    blob = argv[a]
    local nf = tonumber(argv[a + 1])
    for i = a + 2, a + 1 + 2 * nf do w[#w + 1] = argv[i] end
    a = a + 2 + 2 * nf
  else
    local parts, dup = {}, {}
    kept = 0
    for i = 1, n do
      local has_id, data, nf = argv[a], argv[a + 1], tonumber(argv[a + 2])
      local drop = false
      if has_id == '1' then
        idk = idk + 1
        drop = not call('SET', keys[idk], '1', 'NX', 'PX', horizon)
      end
      if drop then
        dup[i] = '1'
      else
        dup[i] = '0'
        kept = kept + 1
        parts[kept] = data
        for j = a + 3, a + 2 + 2 * nf do w[#w + 1] = argv[j] end
      end
      a = a + 3 + 2 * nf
    end
    blob = array(kept) .. table.concat(parts)
    flags = table.concat(dup)
  end
  out[g] = {epoch, seq + 1, flags}
  if kept > 0 then
    local last = seq + kept
    call('XADD', hist, 'MINID', '~', math.max(0, last - history + 1), last .. '-0', 'd', blob)
    call('HSET', meta, 'seq', last)
    writes[#writes + 1] = w
    frames[#frames + 1] = epoch .. '\n' .. (seq + 1) .. '\n' .. ts .. '\n' .. #d .. '\n' .. #blob .. '\n' .. d .. blob
  end
end
-- The snapshot hashes may be shared with other writers: a key of another type must not stop the
-- batch half way (Lua has no rollback), so their writes come last and their errors are ignored.
for _, w in ipairs(writes) do
  for i = 2, #w, 800 do
    redis.pcall('HSET', w[1], unpack(w, i, math.min(i + 799, #w)))
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
/// history length `h`, `after` (the entries holding the publications after this seq; empty: the ones
/// holding the newest `h`). Entries come oldest first, at most `h` of them, and none when more than `h`
/// publications follow `after` (the caller then resets). Returns nil for a missing dashboard not
/// created, else `{epoch, seq, snapshot field/value list, entries}`.
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
local h = tonumber(ARGV[2])
local from
if ARGV[3] == '' then
  from = math.max(1, seq - h + 1)
else
  from = tonumber(ARGV[3]) + 1
end
local hist = {}
if from <= seq and seq - from < h then
  hist = redis.call('XRANGE', KEYS[2], from .. '-0', '+', 'COUNT', h)
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
