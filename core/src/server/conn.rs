//! The I/O loop of one WebSocket connection: a single task that polls, in order, the shutdown signal,
//! the token expiry, the idle deadline and the ping timer, then writes, then reads.
//!
//! Writes are coalesced: on each wake-up every queued reply and hub message (up to a budget) is fed
//! into the socket's write buffer and the buffer is flushed once, so a burst costs a few socket writes,
//! not one per message. With a `write_delay`, hub messages wait that long after the first one is ready
//! (one timer per connection, reset, not reallocated), so that everything published meanwhile shares
//! the write. Hub messages are taken from the subscription queues only while the socket
//! accepts more, so a client that does not read leaves them in its (bounded) hub queue, where the
//! slow-consumer policy applies. Reads stop while too many replies wait, so a flooding client cannot
//! grow memory either.
//!
//! Closing: a close frame with the code, then the peer's close is awaited (both within
//! `close_timeout`). After a protocol error the stream cannot be read any more: the server sends its
//! close frame, shuts its write side and drains what the client still sends for a moment, so that
//! the close frame is not destroyed by a TCP reset.

use super::auth::Grant;
use super::protocol::close;
use super::session::{Closing, Session, Wake};
use super::state::{Slot, State};
use crate::codec::Format;
use crate::hub::{Since, Wire};
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::WaitForCancellationFutureOwned;

/// Messages fed into the socket per poll before yielding to reads and timers.
const FEED_BUDGET: usize = 1024;
/// Hub messages taken from the subscription queues at once.
const STAGE_MAX: usize = 256;
/// Replies waiting for the socket before reads pause.
const REPLY_MAX: usize = 64;
/// Socket write buffer: bytes fed before a write is attempted (a flush always writes everything).
const WRITE_BUFFER: usize = 64 << 10;
/// Initial read buffer of a WebSocket connection (also the most read per call): client messages are
/// small commands, and every idle connection keeps this buffer (the buffer grows for a bigger one).
const READ_BUFFER: usize = 512;
/// Most bytes read and dropped while lingering after an error close.
const LINGER_BYTES: usize = 4 << 20;

/// Everything the connection task needs besides the socket.
pub(crate) struct Start {
    pub(crate) state: Arc<State>,
    pub(crate) wire: Wire,
    pub(crate) batch: bool,
    pub(crate) grant: Option<Grant>,
    pub(crate) fixed: Option<(String, Option<Since>)>,
    pub(crate) slot: Slot,
}

enum Step {
    Incoming(Message),
    ReadError(WsError),
    Close(Closing),
    Gone,
}

struct Conn<S> {
    state: Arc<State>,
    ws: WebSocketStream<S>,
    session: Session,
    wake: Arc<Wake>,
    replies: VecDeque<Message>,
    staged: VecDeque<Message>,
    need_flush: bool,
    /// Hub messages were signalled and not drained yet (waiting for `write_delay`).
    hub_pending: bool,
    /// The last drain stopped at its budget: drain again without waiting.
    hub_more: bool,
    /// The `write_delay` timer, made on first use; armed while `hub_pending`.
    delay: Option<Pin<Box<Sleep>>>,
    delay_armed: bool,
    ping: Interval,
    idle: Pin<Box<Sleep>>,
    last_seen: Instant,
    expiry: Option<Pin<Box<Sleep>>>,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
}

/// The WebSocket settings of the server's connections.
pub(crate) fn ws_config(state: &State) -> WebSocketConfig {
    WebSocketConfig::default()
        // Client messages are small (subscribe, ping); the buffer grows for bigger ones. A small initial
        // buffer keeps idle connections cheap (tungstenite allocates it up front).
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(Some(state.config.max_message_bytes))
        .max_frame_size(Some(state.config.max_frame_bytes))
}

/// Runs one upgraded connection to its end.
pub(crate) async fn run<S>(io: S, start: Start)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Start {
        state,
        wire,
        batch,
        grant,
        fixed,
        slot,
    } = start;
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config(&state))).await;
    let gauge = state.metrics.ws_connections().clone();
    gauge.inc();
    let wake = Arc::new(Wake::default());
    match Session::new(state.clone(), wire, batch, grant, fixed, wake.clone()) {
        Ok(session) => Conn::new(state.clone(), ws, session, wake).run().await,
        Err(closing) => {
            let mut ws = ws;
            let _ =
                tokio::time::timeout(state.config.close_timeout, ws.close(Some(frame(closing))))
                    .await;
        }
    }
    gauge.dec();
    drop(slot);
}

fn frame(c: Closing) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(c.code),
        reason: c.reason.into(),
    }
}

/// The close to send after a read error, if the peer is still there to receive it.
fn read_error_close(e: &WsError) -> Option<(Closing, &'static str)> {
    match e {
        WsError::Capacity(_) => Some((
            Closing::new(close::MESSAGE_TOO_BIG, "message too big"),
            "too_big",
        )),
        WsError::Utf8(_) => Some((
            Closing::new(close::INVALID_PAYLOAD, "invalid UTF-8"),
            "invalid_payload",
        )),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(_) => Some((
            Closing::new(close::PROTOCOL_ERROR, "protocol error"),
            "protocol_error",
        )),
        _ => None,
    }
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn new(state: Arc<State>, ws: WebSocketStream<S>, session: Session, wake: Arc<Wake>) -> Self {
        let cfg = &state.config;
        let now = Instant::now();
        let mut ping = tokio::time::interval_at(now + cfg.ping_interval, cfg.ping_interval);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let expiry = session
            .grant()
            .map(|g| Box::pin(tokio::time::sleep(g.remaining())));
        Conn {
            idle: Box::pin(tokio::time::sleep(cfg.idle_timeout)),
            shutdown: Box::pin(state.cancel.clone().cancelled_owned()),
            state,
            ws,
            session,
            wake,
            replies: VecDeque::new(),
            staged: VecDeque::new(),
            need_flush: false,
            hub_pending: false,
            hub_more: false,
            delay: None,
            delay_armed: false,
            ping,
            last_seen: now,
            expiry,
        }
    }

    async fn run(mut self) {
        loop {
            match poll_fn(|cx| self.poll_step(cx)).await {
                Step::Incoming(msg) => {
                    self.last_seen = Instant::now();
                    let done = match &msg {
                        Message::Text(t) => {
                            self.session
                                .on_message(t.as_bytes(), Format::Json, &mut self.replies)
                        }
                        Message::Binary(b) => {
                            self.session
                                .on_message(b, Format::MsgPack, &mut self.replies)
                        }
                        Message::Close(_) => {
                            // tungstenite queued the close reply: flush it and end.
                            let _ = tokio::time::timeout(
                                self.state.config.close_timeout,
                                self.ws.flush(),
                            )
                            .await;
                            return;
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(()),
                    };
                    if let Err(closing) = done {
                        return Box::pin(self.close(closing)).await;
                    }
                    if self.session.take_expiry_changed() {
                        let left = self
                            .session
                            .grant()
                            .map_or(Duration::ZERO, |g| g.remaining());
                        self.expiry = Some(Box::pin(tokio::time::sleep(left)));
                    }
                }
                Step::Close(closing) => return Box::pin(self.close(closing)).await,
                Step::ReadError(e) => {
                    if let Some((closing, reason)) = read_error_close(&e) {
                        self.state.metrics.reject(reason);
                        Box::pin(self.close_after_error(closing)).await;
                    }
                    return;
                }
                Step::Gone => return,
            }
        }
    }

    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        if self.shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Step::Close(Closing::new(
                close::GOING_AWAY,
                "server shutting down",
            )));
        }
        if let Some(expiry) = &mut self.expiry {
            if expiry.as_mut().poll(cx).is_ready() {
                self.state.metrics.reject("token_expired");
                return Poll::Ready(Step::Close(Closing::new(
                    close::TOKEN_EXPIRED,
                    "token expired",
                )));
            }
        }
        while self.idle.as_mut().poll(cx).is_ready() {
            let deadline = self.last_seen + self.state.config.idle_timeout;
            if deadline <= Instant::now() {
                self.state.metrics.reject("idle_timeout");
                return Poll::Ready(Step::Close(Closing::new(
                    close::IDLE_TIMEOUT,
                    "idle timeout",
                )));
            }
            self.idle.as_mut().reset(deadline);
        }
        while self.ping.poll_tick(cx).is_ready() {
            if self.replies.len() < REPLY_MAX {
                self.replies.push_back(Message::Ping(Default::default()));
            }
        }
        match self.poll_write(cx) {
            Poll::Ready(Some(step)) => return Poll::Ready(step),
            Poll::Ready(None) | Poll::Pending => {}
        }
        if self.replies.len() < REPLY_MAX {
            match self.ws.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(msg))) => return Poll::Ready(Step::Incoming(msg)),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Step::ReadError(e)),
                Poll::Ready(None) => return Poll::Ready(Step::Gone),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }

    /// Feeds replies and hub messages while the socket takes them, then flushes once. `Ready(Some)`
    /// ends the connection.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Option<Step>> {
        let mut fed = 0u64;
        loop {
            if fed as usize >= FEED_BUDGET {
                cx.waker().wake_by_ref();
                break;
            }
            if self.replies.is_empty() && self.staged.is_empty() {
                if !self.hub_due(cx) {
                    break;
                }
                match self.session.drain(&mut self.staged, STAGE_MAX) {
                    Ok(true) => self.hub_more = true,
                    Ok(false) => {}
                    Err(closing) => return Poll::Ready(Some(Step::Close(closing))),
                }
                if self.staged.is_empty() {
                    continue;
                }
            }
            match self.ws.poll_ready_unpin(cx) {
                Poll::Pending => break,
                Poll::Ready(Err(_)) => return Poll::Ready(Some(Step::Gone)),
                Poll::Ready(Ok(())) => {}
            }
            let Some(msg) = self.replies.pop_front().or_else(|| self.staged.pop_front()) else {
                break;
            };
            if self.ws.start_send_unpin(msg).is_err() {
                return Poll::Ready(Some(Step::Gone));
            }
            fed += 1;
            self.need_flush = true;
        }
        if fed > 0 {
            self.state.metrics.ws_frames().inc_by(fed);
        }
        if self.need_flush {
            match self.ws.poll_flush_unpin(cx) {
                Poll::Ready(Ok(())) => self.need_flush = false,
                Poll::Ready(Err(_)) => return Poll::Ready(Some(Step::Gone)),
                Poll::Pending => {}
            }
        }
        Poll::Ready(None)
    }

    /// Whether the hub messages should be drained now: some were signalled (or the last drain stopped
    /// at its budget) and, with a `write_delay`, the delay since the first signal has passed.
    fn hub_due(&mut self, cx: &mut Context<'_>) -> bool {
        if std::mem::take(&mut self.hub_more) {
            return true;
        }
        if self.wake.take(cx) {
            self.hub_pending = true;
        }
        if !self.hub_pending {
            return false;
        }
        let delay = self.state.config.write_delay;
        if !delay.is_zero() {
            let deadline = Instant::now() + delay;
            let timer = self
                .delay
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if !self.delay_armed {
                timer.as_mut().reset(deadline);
                self.delay_armed = true;
            }
            if timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            self.delay_armed = false;
        }
        self.hub_pending = false;
        true
    }

    /// Sends the close frame and waits for the peer's, within `close_timeout`.
    async fn close(mut self, closing: Closing) {
        let limit = self.state.config.close_timeout;
        let _ = tokio::time::timeout(limit, async {
            self.ws.send(Message::Close(Some(frame(closing)))).await?;
            while let Some(r) = self.ws.next().await {
                r?;
            }
            Ok::<(), WsError>(())
        })
        .await;
    }

    /// After a read error: sends the close frame, shuts the write side and drains the socket briefly.
    async fn close_after_error(mut self, closing: Closing) {
        let limit = self.state.config.close_timeout;
        let _ = tokio::time::timeout(limit, async {
            if self
                .ws
                .send(Message::Close(Some(frame(closing))))
                .await
                .is_err()
            {
                return;
            }
            let io = self.ws.get_mut();
            if io.shutdown().await.is_err() {
                return;
            }
            // On the heap: an array here would be part of every connection's task, idle or not.
            let mut buf = vec![0u8; 8192];
            let mut total = 0;
            while total < LINGER_BYTES {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, F: Future, G: Fn(A) -> F>(_: &G) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn an_idle_connection_task_stays_small() {
        // Every connection's task holds the largest state of its future for its whole life: an 8 KiB
        // linger buffer on the close path once made it 11.5 KB (17 KB RSS per idle connection).
        type Io = hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>;
        let run_size = future_size(&|(io, s): (Io, Start)| run(io, s));
        let conn_size = std::mem::size_of::<Conn<Io>>();
        assert!(run_size <= 2560, "connection future is {run_size} bytes");
        assert!(conn_size <= 1024, "Conn is {conn_size} bytes");
    }
}
