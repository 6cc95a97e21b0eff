//! The publishing side of a cluster: [`Sequencer`] is the hub's [`Route`]. A publish call queues its
//! items for one writer task and waits (bounded by `timeout_ms`) for the answer; the writer takes
//! every request waiting (up to 64 script calls' worth) and numbers them in one round trip: one
//! [`PUBLISH`](super::script::PUBLISH) script call per `batch` publications, each broadcast as one bus
//! message, so concurrent publishers — threads, HTTP ingest, sources — share round trips. Redis runs each script atomically, in order: that order is the seq
//! order every node applies.
//!
//! A batch that fails (Redis down, breaker open) fails every call in it; its publications may or may
//! not have been numbered (the reply was lost), which is why ids make retries safe.

use super::frame::encode_group;
use super::script::PUBLISH;
use super::Shared;
use crate::codec::{Codec, Format, Value};
use crate::connect::redis::{cache_entry, redis_err};
use crate::error::{Error, Result};
use crate::hub::{Landed, Outgoing, Publishing, Route};
use redis::aio::ConnectionManager;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::{mpsc, oneshot};

/// Script calls (of up to `batch` publications each) the writer sends per round trip at most.
const CALLS_PER_ROUND_TRIP: usize = 64;
/// A script call ends once its publications' data (MessagePack) reach this many bytes, so a batch
/// of big publications does not become one huge call that blocks Redis.
const CALL_BYTES: usize = 1 << 20;

/// The answer to a publish request.
type Answer = Result<Vec<Option<Landed>>>;

/// One publish call waiting for Redis.
pub(crate) struct Request {
    items: Arc<[Outgoing]>,
    reply: Reply,
}

/// Where the answer to a publish call goes: a thread blocked in [`Route::publish`], or the future
/// of [`Route::publish_async`].
enum Reply {
    Blocking(SyncSender<Answer>),
    Async(oneshot::Sender<Answer>),
}

impl Reply {
    fn send(self, answer: Answer) {
        // A caller that gave up (timed out, dropped its future) no longer wants the answer.
        match self {
            Reply::Blocking(tx) => {
                let _ = tx.send(answer);
            }
            Reply::Async(tx) => {
                let _ = tx.send(answer);
            }
        }
    }
}

/// A question for the bus task (it owns the local mirrors).
pub(crate) enum Ask {
    /// Mirror `dashboard` locally (see [`Route::ensure`]).
    Ensure {
        dashboard: String,
        create: bool,
        reply: SyncSender<Result<bool>>,
    },
    /// Bring the mirror of `dashboard` up to the shared feed (see [`Route::catch_up`]).
    CatchUp {
        dashboard: String,
        reply: SyncSender<Result<()>>,
    },
}

/// The route of a clustered hub.
pub(crate) struct Sequencer {
    pub(crate) writes: mpsc::Sender<Request>,
    pub(crate) asks: mpsc::Sender<Ask>,
    pub(crate) timeout: Duration,
}

impl Route for Sequencer {
    fn publish(&self, items: &[Outgoing]) -> Answer {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = sync_channel(1);
        self.submit(Request {
            items: Arc::from(items),
            reply: Reply::Blocking(reply),
        })?;
        wait(&answer, self.timeout)
    }

    fn publish_async(&self, items: Arc<[Outgoing]>) -> Publishing {
        if items.is_empty() {
            return Box::pin(std::future::ready(Ok(Vec::new())));
        }
        let (reply, answer) = oneshot::channel();
        let submitted = self.submit(Request {
            items,
            reply: Reply::Async(reply),
        });
        let timeout = self.timeout;
        Box::pin(async move {
            submitted?;
            match tokio::time::timeout(timeout, answer).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(Error::Closed),
                Err(_) => Err(Error::Timeout(timeout)),
            }
        })
    }

    fn ensure(&self, dashboard: &str, create: bool) -> Result<bool> {
        let (reply, answer) = sync_channel(1);
        self.ask(Ask::Ensure {
            dashboard: dashboard.to_owned(),
            create,
            reply,
        })?;
        wait(&answer, self.timeout)
    }

    fn catch_up(&self, dashboard: &str) -> Result<()> {
        let (reply, answer) = sync_channel(1);
        self.ask(Ask::CatchUp {
            dashboard: dashboard.to_owned(),
            reply,
        })?;
        wait(&answer, self.timeout)
    }
}

impl Sequencer {
    /// Queues a publish call for the writer task.
    fn submit(&self, req: Request) -> Result<()> {
        self.writes.try_send(req).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::SlowConsumer,
            mpsc::error::TrySendError::Closed(_) => Error::Closed,
        })
    }

    fn ask(&self, ask: Ask) -> Result<()> {
        self.asks.try_send(ask).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::SlowConsumer,
            mpsc::error::TrySendError::Closed(_) => Error::Closed,
        })
    }
}

/// Waits for a task's answer; on a runtime worker thread the wait is announced to tokio
/// (`block_in_place`) so that the runtime's other tasks — the writer among them — keep running.
fn wait<T>(answer: &Receiver<Result<T>>, timeout: Duration) -> Result<T> {
    let recv = || answer.recv_timeout(timeout);
    let got = match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(recv)
        }
        _ => recv(),
    };
    match got {
        Ok(answer) => answer,
        Err(RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout)),
        Err(RecvTimeoutError::Disconnected) => Err(Error::Closed),
    }
}

/// The writer task: batches of requests, one round trip each.
pub(crate) async fn write_loop(shared: Arc<Shared>, mut rx: mpsc::Receiver<Request>) {
    let mut pending: Vec<Request> = Vec::new();
    let batch = shared.config.batch * CALLS_PER_ROUND_TRIP;
    while let Some(first) = rx.recv().await {
        let mut count = first.items.len();
        pending.push(first);
        while count < batch {
            match rx.try_recv() {
                Ok(more) => {
                    count += more.items.len();
                    pending.push(more);
                }
                Err(_) => break,
            }
        }
        let items: Vec<&Outgoing> = pending.iter().flat_map(|r| r.items.iter()).collect();
        match publish_batch(&shared, &items).await {
            Ok(mut landed) => {
                for req in pending.drain(..) {
                    let rest = landed.split_off(req.items.len().min(landed.len()));
                    req.reply.send(Ok(landed));
                    landed = rest;
                }
            }
            Err(e) => {
                for req in pending.drain(..) {
                    req.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// The publications of one dashboard in one script call, in their publish order.
struct Group<'a> {
    dashboard: &'a str,
    /// Indices into the call's items.
    items: Vec<usize>,
}

/// The call's items grouped by dashboard, in the order each dashboard first appears.
fn groups<'a>(items: &[&'a Outgoing]) -> Vec<Group<'a>> {
    let mut out: Vec<Group<'a>> = Vec::new();
    let mut index: hashbrown::HashMap<&str, usize> = hashbrown::HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let d: &'a str = &item.dashboard;
        let g = *index.entry(d).or_insert_with(|| {
            out.push(Group {
                dashboard: d,
                items: Vec::new(),
            });
            out.len() - 1
        });
        out[g].items.push(i);
    }
    out
}

/// The named fields of one publication (the snapshot fields it sets).
fn named_fields(item: &Outgoing) -> impl Iterator<Item = (&str, &Value)> {
    let fields: &[(Value, Value)] = match &*item.data {
        Value::Map(pairs) => pairs,
        _ => &[],
    };
    fields.iter().filter_map(|(k, v)| match k {
        Value::Str(field) => Some((field.as_str(), v)),
        _ => None,
    })
}

/// The snapshot field / cache entry pairs of one publication (its named fields).
fn snapshot_fields<'i>(
    item: &'i Outgoing,
    json: &Codec,
    ts_ms: i64,
) -> impl Iterator<Item = Result<(&'i str, Vec<u8>)>> + 'i {
    let json = *json;
    named_fields(item).map(move |(field, v)| {
        json.encode_plain(&cache_entry(v, ts_ms))
            .map(|e| (field, e))
    })
}

/// One script call numbering `items` (grouped by dashboard) with their data already encoded
/// (`data[i]` is `items[i]`'s MessagePack). Built once: a retry after `NOSCRIPT` reuses it.
fn script_call(
    shared: &Shared,
    items: &[&Outgoing],
    data: &[Vec<u8>],
    groups: &[Group<'_>],
    cfg: &ScriptArgs,
) -> Result<redis::Cmd> {
    let json = Codec::new(Format::Json);
    let keys = &shared.keys;
    let ids = items.iter().filter(|i| i.id.is_some()).count();
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(&shared.publish_sha).arg(groups.len() * 3 + ids);
    for g in groups {
        cmd.arg(keys.meta(g.dashboard))
            .arg(keys.history(g.dashboard))
            .arg(keys.snapshot(g.dashboard));
    }
    for g in groups {
        for item in g.items.iter().map(|&i| items[i]) {
            if let Some(id) = &item.id {
                cmd.arg(keys.id(g.dashboard, id));
            }
        }
    }
    cmd.arg(&*cfg.epoch)
        .arg(cfg.history)
        .arg(cfg.ts_ms)
        .arg(cfg.id_horizon_ms)
        .arg(&keys.channel)
        .arg(groups.len());
    for g in groups {
        cmd.arg(g.dashboard).arg(g.items.len());
        if g.items.iter().all(|&i| items[i].id.is_none()) {
            // One array for the group, and each snapshot field once (its newest value).
            cmd.arg("0")
                .arg(encode_group(g.items.iter().map(|&i| data[i].as_slice())));
            // The newest value of each field, in the order the fields first appear; only those
            // are encoded.
            let mut fields: Vec<(&str, &Value)> = Vec::new();
            let mut at: hashbrown::HashMap<&str, usize> = hashbrown::HashMap::new();
            for &i in &g.items {
                for (name, v) in named_fields(items[i]) {
                    match at.get(name) {
                        Some(&k) => fields[k].1 = v,
                        None => {
                            at.insert(name, fields.len());
                            fields.push((name, v));
                        }
                    }
                }
            }
            cmd.arg(fields.len());
            for (name, v) in fields {
                cmd.arg(name)
                    .arg(json.encode_plain(&cache_entry(v, cfg.ts_ms))?);
            }
        } else {
            // Duplicate ids are only known in Redis: each publication goes on its own.
            cmd.arg("1");
            for &i in &g.items {
                let fields =
                    snapshot_fields(items[i], &json, cfg.ts_ms).collect::<Result<Vec<_>>>()?;
                cmd.arg(if items[i].id.is_some() { "1" } else { "0" })
                    .arg(data[i].as_slice())
                    .arg(fields.len());
                for (name, entry) in &fields {
                    cmd.arg(*name).arg(entry.as_slice());
                }
            }
        }
    }
    Ok(cmd)
}

/// Where the script calls of a batch end: at most `batch` publications and, past the first one,
/// at most [`CALL_BYTES`] of data per call.
fn call_ends(data: &[Vec<u8>], batch: usize) -> Vec<usize> {
    let mut ends = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, d) in data.iter().enumerate() {
        if i > start && (i - start == batch || bytes + d.len() > CALL_BYTES) {
            ends.push(i);
            (start, bytes) = (i, 0);
        }
        bytes += d.len();
    }
    if start < data.len() {
        ends.push(data.len());
    }
    ends
}

/// What every call of one batch shares.
struct ScriptArgs {
    epoch: Arc<str>,
    history: usize,
    ts_ms: i64,
    id_horizon_ms: u64,
}

/// A script call's reply for one group: `(epoch, first seq, duplicates)` (see
/// [`PUBLISH`](super::script::PUBLISH)).
type GroupReply = (String, i64, String);

/// Gives each item of a call its `(seq, epoch)`, `None` for a dropped duplicate, from the replies of
/// its groups.
fn landed(
    groups: &[Group<'_>],
    replies: Vec<GroupReply>,
    out: &mut [Option<Landed>],
) -> Result<()> {
    if replies.len() != groups.len() {
        return Err(Error::Io(format!(
            "redis: {} replies to {} dashboards",
            replies.len(),
            groups.len()
        )));
    }
    for (g, (epoch, first, dups)) in groups.iter().zip(replies) {
        let epoch: Arc<str> = Arc::from(epoch);
        let mut seq =
            u64::try_from(first).map_err(|_| Error::Io(format!("redis: first seq {first}")))?;
        let dups = dups.as_bytes();
        for (k, &i) in g.items.iter().enumerate() {
            if dups.get(k) == Some(&b'1') {
                out[i] = None;
            } else {
                out[i] = Some((seq, epoch.clone()));
                seq += 1;
            }
        }
    }
    Ok(())
}

async fn publish_batch(shared: &Shared, items: &[&Outgoing]) -> Answer {
    let args = ScriptArgs {
        epoch: crate::hub::new_epoch()?,
        history: shared.history,
        ts_ms: crate::event::now_ms(),
        id_horizon_ms: shared.id_horizon_ms,
    };
    // One script call per `batch` publications, all in one pipelined round trip. The pipeline loads
    // the script first (ignored reply): a Redis that restarted since the last round trip has it
    // again before the first call, so no call of a round trip is refused while others ran (a retry
    // would publish those twice).
    let msgpack = Codec::new(Format::MsgPack);
    let data = items
        .iter()
        .map(|item| msgpack.encode_plain(&item.data))
        .collect::<Result<Vec<_>>>()?;
    let mut pipe = redis::pipe();
    pipe.cmd("SCRIPT").arg("LOAD").arg(PUBLISH).ignore();
    let mut calls = Vec::new();
    let mut start = 0;
    for end in call_ends(&data, shared.config.batch) {
        let (its, ds) = (&items[start..end], &data[start..end]);
        let gs = groups(its);
        pipe.add_command(script_call(shared, its, ds, &gs, &args)?);
        calls.push((start, gs));
        start = end;
    }
    let mut con = shared.con.clone();
    let replies: Vec<Vec<GroupReply>> = shared
        .link
        .call(async {
            pipe.query_async::<Vec<Vec<GroupReply>>>(&mut con)
                .await
                .map_err(redis_err)
        })
        .await?;
    if replies.len() != calls.len() {
        return Err(Error::Io(format!(
            "redis: {} replies to {} script calls",
            replies.len(),
            calls.len()
        )));
    }
    let mut out: Vec<Option<Landed>> = vec![None; items.len()];
    for ((start, gs), reply) in calls.iter().zip(replies) {
        landed(gs, reply, &mut out[*start..])?;
    }
    shared.link.count_events(items.len() as u64);
    Ok(out)
}

/// Loads both scripts into Redis's script cache.
pub(crate) async fn load_scripts(con: &mut ConnectionManager) -> Result<()> {
    for code in [PUBLISH, super::script::SYNC] {
        redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(code)
            .query_async::<String>(con)
            .await
            .map_err(redis_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{call_ends, CALL_BYTES};

    #[test]
    fn calls_end_at_the_batch_size_or_the_byte_bound() {
        let small = vec![vec![0u8; 10]; 300];
        assert_eq!(call_ends(&small, 128), vec![128, 256, 300]);
        assert_eq!(call_ends(&small[..5], 128), vec![5]);
        assert!(call_ends(&[], 128).is_empty());
        let big = vec![vec![0u8; CALL_BYTES / 2 + 1]; 3];
        assert_eq!(
            call_ends(&big, 128),
            vec![1, 2, 3],
            "two halves do not fit one call"
        );
        let huge = vec![vec![0u8; 2 * CALL_BYTES], vec![0u8; 1]];
        assert_eq!(
            call_ends(&huge, 128),
            vec![1, 2],
            "an oversized publication goes alone"
        );
    }
}
