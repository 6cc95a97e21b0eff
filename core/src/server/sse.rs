//! `GET /sse/{id}`: Server-Sent Events. Each hub message becomes one event:
//!
//! ```text
//! id: <epoch>:<seq>
//! event: snapshot | update | recovered
//! data: <the message's JSON>
//! ```
//!
//! `recovered` events carry no `id` (the browser keeps the previous one until the missed updates that
//! follow have arrived). A reconnecting `EventSource` sends `Last-Event-ID: <epoch>:<seq>`, which
//! resumes like `since` (`?epoch=…&seq=…` does the same for other clients). A comment line keeps idle
//! streams alive every `ping_interval`. A slow consumer under `disconnect` gets `event: error` and the
//! stream ends; at shutdown every stream ends.
//!
//! A pump task per stream (tracked for shutdown) moves messages from the subscription into a small
//! bounded channel that the response body reads, several events per chunk when they are queued.
//! Streams subscribe to plain JSON ([`Wire::plain`]): the hub encodes it once per message for every
//! stream, never gzipped (an event stream is text).

use super::state::{since_from_query, Slot, State};
use super::web::{self, Body, Refused, Resp};
use crate::codec::Format;
use crate::error::{Error, Result};
use crate::hub::{Kind, Message, Since, Subscription, Wire};
use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Chunks buffered between the pump and the response body.
const CHANNEL: usize = 2;
/// Events written per chunk at most.
const CHUNK_EVENTS: usize = 64;

/// The resume point of a `Last-Event-ID: <epoch>:<seq>` header.
fn since_from_header(req: &Request<Incoming>) -> Option<Since> {
    let v = req.headers().get("last-event-id")?.to_str().ok()?;
    let (epoch, seq) = v.trim().rsplit_once(':')?;
    Some(Since {
        epoch: epoch.to_owned(),
        seq: seq.parse().ok()?,
    })
}

/// Handles `GET /sse/{id}`.
pub(crate) fn serve(state: &Arc<State>, req: &Request<Incoming>, dashboard: String) -> Resp {
    match open(state, req, &dashboard) {
        Err(r) => *r,
        Ok((sub, slot)) => {
            let (tx, rx) = mpsc::channel(CHANNEL);
            state.tracker.spawn(pump(state.clone(), sub, tx, slot));
            let mut r = Response::new(Body::Stream(rx));
            *r.status_mut() = StatusCode::OK;
            let h = r.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert("x-accel-buffering", HeaderValue::from_static("no"));
            r
        }
    }
}

fn open(
    state: &Arc<State>,
    req: &Request<Incoming>,
    dashboard: &str,
) -> std::result::Result<(Subscription, Slot), Refused> {
    let query = req.uri().query();
    let (_grant, (), slot) = state.admit(req.headers(), query, Some(dashboard), || Ok(()))?;
    let since = since_from_header(req).or_else(|| since_from_query(query));
    let opts = state.subscribe_options(Wire::plain(Format::Json), since);
    let sub = state
        .hub
        .subscribe(dashboard, opts)
        .map_err(|e| Box::new(web::error_from(&e)))?;
    Ok((sub, slot))
}

fn append_event(buf: &mut Vec<u8>, m: &Message) -> Result<()> {
    let json = m.wire(Wire::plain(Format::Json))?;
    if m.kind() != Kind::Recovered {
        buf.extend_from_slice(b"id: ");
        buf.extend_from_slice(m.epoch().as_bytes());
        buf.push(b':');
        buf.extend_from_slice(m.seq().to_string().as_bytes());
        buf.push(b'\n');
    }
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(m.kind().name().as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    buf.extend_from_slice(&json);
    buf.extend_from_slice(b"\n\n");
    Ok(())
}

fn error_event(e: &Error, dashboard: &str) -> Bytes {
    let mut buf = b"event: error\ndata: ".to_vec();
    if let Ok(body) = super::protocol::error_from(Format::Json, e, Some(dashboard)) {
        buf.extend_from_slice(&body);
    }
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

/// One chunk of events: `first` and whatever else is queued (up to [`CHUNK_EVENTS`]).
fn chunk(sub: &Subscription, first: &Message) -> Result<(Bytes, u64)> {
    let mut buf = Vec::with_capacity(512);
    append_event(&mut buf, first)?;
    let mut n = 1;
    if let Ok(more) = sub.try_recv_many(CHUNK_EVENTS - 1) {
        for m in &more {
            append_event(&mut buf, m)?;
            n += 1;
        }
    }
    Ok((Bytes::from(buf), n))
}

async fn pump(state: Arc<State>, sub: Subscription, tx: mpsc::Sender<Bytes>, slot: Slot) {
    let gauge = state.metrics.sse_connections().clone();
    gauge.inc();
    let dashboard = sub.dashboard().to_owned();
    state.metrics.add_active(&dashboard, 1);
    let period = state.config.ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        let out = tokio::select! {
            _ = state.cancel.cancelled() => break,
            _ = tx.closed() => break,
            _ = ping.tick() => Bytes::from_static(b": ping\n\n"),
            r = sub.recv() => match r {
                Ok(Some(first)) => match chunk(&sub, &first) {
                    Ok((bytes, n)) => {
                        state.metrics.sse_frames().inc_by(n);
                        bytes
                    }
                    Err(e) => error_event(&e, &dashboard),
                },
                Ok(None) => break,
                Err(e) => {
                    if e.code() == "slow_consumer" {
                        state.metrics.reject("slow_consumer");
                    }
                    let _ = tx.try_send(error_event(&e, &dashboard));
                    break;
                }
            },
        };
        tokio::select! {
            _ = state.cancel.cancelled() => break,
            sent = tx.send(out) => if sent.is_err() { break },
        }
    }
    state.metrics.add_active(&dashboard, -1);
    gauge.dec();
    drop(slot);
}
