//! The receiving side of a cluster: one task subscribed to the bus channel applies every broadcast
//! publication to the local mirror of its dashboard, fills gaps from the shared history, resets a
//! mirror that lost its place, and answers [`Ask::Ensure`] (a new mirror read from Redis). Being the
//! only task that changes mirrors, it needs no coordination: a publication that arrives while a
//! mirror is being read waits in the subscription and is applied (or skipped as already included)
//! after.
//!
//! On every (re)subscription each existing mirror is brought up to date first: the publications
//! broadcast while the subscription was down are read from the history stream, or the mirror is
//! reset when they are gone.

use super::frame::{data_codec, decode_group, Frame, Synced};
use super::script::{RETIRE, SYNC};
use super::sequencer::{load_scripts, Ask};
use super::Shared;
use crate::codec::{Codec, Format, Value};
use crate::connect::backoff::Backoff;
use crate::connect::redis::{cache_value, redis_err};
use crate::error::{Error, Result};
use crate::hub::{Applied, MirrorState};
use futures_util::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The bus task.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut asks: mpsc::Receiver<Ask>,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::connector();
    let data = data_codec(shared.config.max_message_bytes);
    'connect: while !cancel.is_cancelled() {
        let connected = async {
            let ps = subscribe(&shared).await?;
            // Also (re)connects the command connection and loads the scripts into a Redis that
            // restarted, before the first publish needs them.
            let mut con = shared.con.clone();
            shared.link.call(load_scripts(&mut con)).await?;
            // Mirrors made before this subscription may have missed publications.
            for d in shared.hub.dashboards() {
                resync(&shared, &d, &data).await?;
            }
            Ok::<_, Error>(ps)
        }
        .await;
        let ps = match connected {
            Ok(ps) => ps,
            Err(e) => {
                shared.bus_link.set_down(e.to_string());
                shared.bus_link.count_retry();
                let wait = match e {
                    Error::CircuitOpen { retry_after } => retry_after,
                    _ => backoff.next_wait(),
                };
                let pause = tokio::time::sleep(wait.max(Duration::from_millis(5)));
                tokio::pin!(pause);
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break 'connect,
                        _ = &mut pause => continue 'connect,
                        ask = asks.recv() => match ask {
                            Some(ask) => refuse(ask, &e),
                            None => break 'connect,
                        },
                    }
                }
            }
        };
        backoff.reset();
        shared.bus_link.set_up();
        shared.connected.store(true, Ordering::Release);
        let mut messages = ps.into_on_message();
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break 'connect,
                ask = asks.recv() => match ask {
                    Some(ask) => answer(&shared, ask, &data).await,
                    None => break 'connect,
                },
                msg = messages.next() => match msg {
                    Some(m) => on_message(&shared, m.get_payload_bytes(), &data).await,
                    None => {
                        shared.connected.store(false, Ordering::Release);
                        shared.bus_link.set_down("cluster bus: subscription lost");
                        shared.bus_link.count_retry();
                        continue 'connect;
                    }
                },
            }
        }
    }
    shared.connected.store(false, Ordering::Release);
}

async fn subscribe(shared: &Shared) -> Result<redis::aio::PubSub> {
    shared
        .bus_link
        .call(async {
            let mut ps = shared.client.get_async_pubsub().await.map_err(redis_err)?;
            ps.subscribe(&shared.keys.channel)
                .await
                .map_err(redis_err)?;
            Ok(ps)
        })
        .await
}

/// Answers an ask while the bus is down.
fn refuse(ask: Ask, why: &Error) {
    let err = Error::Io(format!("cluster bus not connected: {why}"));
    match ask {
        Ask::Ensure { reply, .. } => {
            let _ = reply.send(Err(err));
        }
        Ask::CatchUp { reply, .. } => {
            let _ = reply.send(Err(err));
        }
    }
}

async fn answer(shared: &Shared, ask: Ask, data: &Codec) {
    match ask {
        Ask::Ensure {
            dashboard,
            create,
            reply,
        } => {
            let r = ensure(shared, &dashboard, create, data).await;
            let _ = reply.send(r);
        }
        Ask::CatchUp { dashboard, reply } => {
            let _ = reply.send(resync(shared, &dashboard, data).await);
        }
    }
}

/// Makes a mirror of `dashboard` unless there is one.
async fn ensure(shared: &Shared, dashboard: &str, create: bool, data: &Codec) -> Result<bool> {
    if shared.hub.mirror_position(dashboard).is_some() {
        return Ok(true);
    }
    match sync(shared, dashboard, create, None).await? {
        Some(s) => {
            shared.hub.mirror_reset(dashboard, state(shared, s, data))?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Applies every frame of one bus message, in order. The frames are applied in one wake-up batch
/// ([`crate::hub::batch`]): a connection subscribed to the dashboard is woken once per bus message
/// with all its frames, not once per frame (with two worker threads, a woken connection otherwise
/// drains and writes each frame on its own while the bus is still applying the next). A frame that
/// finds a gap ends the batch, the mirror is resynced from the shared history (an await, so outside
/// the thread-local batch), and the rest of the message is applied in a new batch.
async fn on_message(shared: &Shared, payload: &[u8], data: &Codec) {
    shared.bus_link.count_messages(1);
    let frames = match Frame::parse_all(payload) {
        Ok(frames) => frames,
        Err(e) => return shared.bus_link.count_rejected(e.code()),
    };
    let mut next = 0;
    while next < frames.len() {
        let stopped = crate::hub::batch(|| {
            for (i, f) in frames.iter().enumerate().skip(next) {
                if !apply_frame(shared, f, data) {
                    return Some(i);
                }
            }
            None
        });
        match stopped {
            Some(i) => {
                // A failed resync leaves the mirror as it is; the next frame finds the gap again.
                let _ = resync(shared, frames[i].dashboard, data).await;
                next = i + 1;
            }
            None => break,
        }
    }
}

/// Applies one group frame to its mirror; `false` when the mirror needs a resync (a gap, another
/// epoch or an undecodable frame).
fn apply_frame(shared: &Shared, f: &Frame<'_>, data: &Codec) -> bool {
    let Some((epoch, seq)) = shared.hub.mirror_position(f.dashboard) else {
        return true; // not mirrored on this node
    };
    let publications = match decode_group(f.data, f.first, data) {
        Ok(p) => p,
        Err(e) => {
            shared.bus_link.count_rejected(e.code());
            return false;
        }
    };
    if *epoch == *f.epoch && f.first + publications.len() as u64 <= seq + 1 {
        return true; // already applied
    }
    for (s, v) in publications {
        match shared.hub.mirror_apply(f.dashboard, f.epoch, s, v) {
            Ok(Applied::Done) => shared.bus_link.count_events(1),
            Ok(Applied::Duplicate | Applied::NoTopic) => {}
            Ok(Applied::Gap { .. } | Applied::OtherEpoch) | Err(_) => return false,
        }
    }
    true
}

/// Brings an existing mirror up to the shared state: the missed publications from the history, or
/// a reset when they are gone or the epoch changed.
async fn resync(shared: &Shared, dashboard: &str, data: &Codec) -> Result<()> {
    let Some((epoch, seq)) = shared.hub.mirror_position(dashboard) else {
        return Ok(());
    };
    if let Some(s) = sync(shared, dashboard, true, Some(seq)).await? {
        if *s.epoch == *epoch && s.seq >= seq {
            let entries = s.publications(seq + 1, data);
            let reached = shared.hub.mirror_fill(dashboard, &epoch, &entries)?;
            if reached == Some(s.seq) {
                return Ok(());
            }
        } else if *s.epoch == *epoch {
            // Redis is behind what this node applied: it lost publications. A new epoch, never
            // the same seqs again with other data.
            retire(shared, dashboard, &epoch, seq).await?;
        }
    }
    if let Some(s) = sync(shared, dashboard, true, None).await? {
        shared.hub.mirror_reset(dashboard, state(shared, s, data))?;
    }
    Ok(())
}

/// Runs [`RETIRE`] for `dashboard` at `(epoch, seq)`.
async fn retire(shared: &Shared, dashboard: &str, epoch: &str, seq: u64) -> Result<()> {
    let keys = &shared.keys;
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(RETIRE)
        .arg(2)
        .arg(keys.meta(dashboard))
        .arg(keys.history(dashboard))
        .arg(epoch)
        .arg(seq);
    let mut con = shared.con.clone();
    shared
        .link
        .call(async {
            cmd.query_async::<i64>(&mut con)
                .await
                .map(|_| ())
                .map_err(redis_err)
        })
        .await
}

/// One [`SYNC`] call: the newest history entries (`after` `None`) or the ones after `after`.
async fn sync(
    shared: &Shared,
    dashboard: &str,
    create: bool,
    after: Option<u64>,
) -> Result<Option<Synced>> {
    let keys = &shared.keys;
    let candidate = match create {
        true => crate::hub::new_epoch()?.to_string(),
        false => String::new(),
    };
    // The script is loaded in the same round trip (a restarted Redis has lost it; SYNC only reads
    // and creates a missing epoch, so running it is never repeated).
    let mut pipe = redis::pipe();
    pipe.cmd("SCRIPT").arg("LOAD").arg(SYNC).ignore();
    pipe.cmd("EVALSHA")
        .arg(&shared.sync_sha)
        .arg(3)
        .arg(keys.meta(dashboard))
        .arg(keys.history(dashboard))
        .arg(keys.snapshot(dashboard))
        .arg(candidate)
        .arg(shared.history)
        .arg(after.map(|a| a.to_string()).unwrap_or_default());
    let mut con = shared.con.clone();
    let (reply,): (redis::Value,) = shared
        .link
        .call(async {
            pipe.query_async::<(redis::Value,)>(&mut con)
                .await
                .map_err(redis_err)
        })
        .await?;
    Synced::from_reply(reply)
}

/// The mirror state of a [`SYNC`] reply read in tail mode.
fn state(shared: &Shared, s: Synced, data: &Codec) -> MirrorState {
    let json = Codec::bounded(Format::Json, 1 << 20, 64);
    let mut fields: Vec<(String, Value)> = s
        .snapshot
        .iter()
        .map(|(k, v)| {
            let entry = json.decode(v).unwrap_or_else(|_| Value::Bin(v.clone()));
            (k.clone(), cache_value(entry))
        })
        .filter(|(_, v)| !matches!(v, Value::Bin(_)))
        .collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    let from = s
        .seq
        .saturating_sub(shared.history as u64)
        .saturating_add(1);
    let history = s.publications(from, data);
    MirrorState {
        epoch: s.epoch,
        seq: s.seq,
        latest: Value::Map(
            fields
                .into_iter()
                .map(|(k, v)| (Value::Str(k), v))
                .collect(),
        ),
        history,
    }
}
