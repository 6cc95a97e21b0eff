//! The publishing side of a cluster: [`Sequencer`] is the hub's [`Route`]. A publish call queues its
//! items for one writer task and waits (bounded by `timeout_ms`) for the answer; the writer takes
//! every request waiting, up to `batch` publications, and numbers them in one pipelined round trip of
//! [`PUBLISH`](super::script::PUBLISH) script calls, so concurrent publishers — threads, HTTP ingest,
//! sources — share round trips. Redis runs each script atomically, in order: that order is the seq
//! order every node applies.
//!
//! A batch that fails (Redis down, breaker open) fails every call in it; its publications may or may
//! not have been numbered (the reply was lost), which is why ids make retries safe.

use super::script::{Keys, PUBLISH};
use super::Shared;
use crate::codec::{Codec, Format, Value};
use crate::connect::redis::{cache_entry, redis_err};
use crate::error::{Error, Result};
use crate::hub::{Landed, Outgoing, Route};
use redis::aio::ConnectionManager;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::mpsc;

/// The answer to a publish request.
type Answer = Result<Vec<Option<Landed>>>;

/// One publish call waiting for Redis.
pub(crate) struct Request {
    items: Vec<Outgoing>,
    reply: SyncSender<Answer>,
}

/// A question for the bus task (it owns the local mirrors).
pub(crate) enum Ask {
    /// Mirror `dashboard` locally (see [`Route::ensure`]).
    Ensure {
        dashboard: String,
        create: bool,
        reply: SyncSender<Result<bool>>,
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
        let req = Request {
            items: items.to_vec(),
            reply,
        };
        self.writes.try_send(req).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::SlowConsumer,
            mpsc::error::TrySendError::Closed(_) => Error::Closed,
        })?;
        wait(&answer, self.timeout)
    }

    fn ensure(&self, dashboard: &str, create: bool) -> Result<bool> {
        let (reply, answer) = sync_channel(1);
        let ask = Ask::Ensure {
            dashboard: dashboard.to_owned(),
            create,
            reply,
        };
        self.asks.try_send(ask).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::SlowConsumer,
            mpsc::error::TrySendError::Closed(_) => Error::Closed,
        })?;
        wait(&answer, self.timeout)
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
    let batch = shared.config.batch;
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
                    let _ = req.reply.send(Ok(landed));
                    landed = rest;
                }
            }
            Err(e) => {
                for req in pending.drain(..) {
                    let _ = req.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// One script call's arguments, built once (a retry after `NOSCRIPT` reuses them).
fn script_call(
    keys: &Keys,
    sha: &str,
    item: &Outgoing,
    cfg: &ScriptArgs,
    msgpack: &Codec,
    json: &Codec,
) -> Result<redis::Cmd> {
    let d: &str = &item.dashboard;
    let data = msgpack.encode_plain(&item.data)?;
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(sha).arg(4).arg(keys.meta(d)).arg(keys.history(d));
    cmd.arg(keys.snapshot(d));
    match &item.id {
        Some(id) => cmd.arg(keys.id(d, id)),
        None => cmd.arg(keys.meta(d)),
    };
    cmd.arg(&*cfg.epoch)
        .arg(cfg.history)
        .arg(cfg.ts_ms)
        .arg(data)
        .arg(if item.id.is_some() { "1" } else { "0" })
        .arg(cfg.id_horizon_ms)
        .arg(&keys.channel)
        .arg(d);
    if let Value::Map(pairs) = &*item.data {
        for (k, v) in pairs {
            if let Value::Str(field) = k {
                cmd.arg(field)
                    .arg(json.encode_plain(&cache_entry(v, cfg.ts_ms))?);
            }
        }
    }
    Ok(cmd)
}

/// What every call of one batch shares.
struct ScriptArgs {
    epoch: Arc<str>,
    history: usize,
    ts_ms: i64,
    id_horizon_ms: u64,
}

async fn publish_batch(shared: &Shared, items: &[&Outgoing]) -> Answer {
    let args = ScriptArgs {
        epoch: crate::hub::new_epoch()?,
        history: shared.history,
        ts_ms: crate::event::now_ms(),
        id_horizon_ms: shared.id_horizon_ms,
    };
    let (msgpack, json) = (Codec::new(Format::MsgPack), Codec::new(Format::Json));
    let mut pipe = redis::pipe();
    for item in items {
        let cmd = script_call(
            &shared.keys,
            &shared.publish_sha,
            item,
            &args,
            &msgpack,
            &json,
        )?;
        pipe.add_command(cmd);
    }
    let mut con = shared.con.clone();
    let replies: Vec<(String, i64)> = shared.link.call(run_pipe(&pipe, &mut con)).await?;
    if replies.len() != items.len() {
        return Err(Error::Io(format!(
            "redis: {} replies to {} publications",
            replies.len(),
            items.len()
        )));
    }
    shared.link.count_events(items.len() as u64);
    Ok(replies
        .into_iter()
        .map(|(epoch, seq)| u64::try_from(seq).ok().map(|s| (s, Arc::from(epoch))))
        .collect())
}

/// Runs `pipe`; after a Redis restart (`NOSCRIPT`) loads the script and runs it once more — no call
/// of a batch refused with `NOSCRIPT` ran.
async fn run_pipe(
    pipe: &redis::Pipeline,
    con: &mut ConnectionManager,
) -> Result<Vec<(String, i64)>> {
    for _ in 0..2 {
        match pipe.query_async::<Vec<(String, i64)>>(con).await {
            Ok(v) => return Ok(v),
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                load_scripts(con).await?;
            }
            Err(e) => return Err(redis_err(e)),
        }
    }
    Err(Error::Io(
        "redis: the cluster scripts do not stay loaded".into(),
    ))
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
