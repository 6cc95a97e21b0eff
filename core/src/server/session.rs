//! [`Session`]: the protocol state of one WebSocket connection, without I/O — its subscriptions (several
//! dashboards), its grant, its rate-limit and malformed-message strikes; what it does with each client
//! message (replies queued for the socket, or a [`Closing`]); and how it drains its subscriptions'
//! queues into wire frames (the hub's bytes as they are).
//!
//! Wake-ups: every subscription's ready callback sets one flag and wakes the connection task
//! ([`Wake`]); the task drains all subscriptions per wake-up, so a burst becomes one batch.

use super::auth::Grant;
use super::batch::Batcher;
use super::protocol::{self, close, codes, ClientOp};
use super::state::State;
use crate::codec::{is_gzip, Format};
use crate::error::Error;
use crate::hub::{Since, Subscription, Wire};
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Context;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

/// Set by the subscriptions' ready callbacks; read by the connection task.
#[derive(Debug, Default)]
pub(crate) struct Wake {
    dirty: AtomicBool,
    waker: AtomicWaker,
}

impl Wake {
    /// Marks that a subscription has something (or ended) and wakes the task.
    pub(crate) fn notify(&self) {
        self.dirty.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Registers the task's waker, then takes the flag.
    pub(crate) fn take(&self, cx: &Context<'_>) -> bool {
        self.waker.register(cx.waker());
        self.dirty.swap(false, Ordering::AcqRel)
    }
}

/// Why and how a connection is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closing {
    /// Close code (see [`protocol::close`]).
    pub(crate) code: u16,
    /// Close reason.
    pub(crate) reason: &'static str,
}

impl Closing {
    pub(crate) const fn new(code: u16, reason: &'static str) -> Self {
        Closing { code, reason }
    }
}

/// A wire frame for `bytes` in `format`: JSON text, or binary (MessagePack, and gzip in either format).
///
/// JSON goes out as a raw text frame: the codec's JSON is UTF-8 by construction (it writes Rust
/// strings), and the same bytes are sent to every subscriber, so checking them again per delivery
/// (`Utf8Bytes::try_from`, ~1% of the server's CPU in bench/cluster's fan-out) would only repeat work.
pub(crate) fn frame(format: Format, bytes: Bytes) -> Message {
    if format == Format::Json && !is_gzip(&bytes) {
        debug_assert!(std::str::from_utf8(&bytes).is_ok(), "codec JSON is UTF-8");
        return Message::Frame(Frame::message(bytes, OpCode::Data(Data::Text), true));
    }
    Message::Binary(bytes)
}

struct Sub {
    dashboard: String,
    sub: Subscription,
}

/// The protocol state of one connection.
pub(crate) struct Session {
    state: Arc<State>,
    key: String,
    format: Format,
    wire: Wire,
    /// The client opted in to batch frames (`?batch=1`).
    batch: bool,
    grant: Option<Grant>,
    fixed: Option<String>,
    subs: Vec<Sub>,
    wake: Arc<Wake>,
    rate_strikes: u32,
    bad_strikes: u32,
    expiry_changed: bool,
}

impl Session {
    /// A session reading `wire` (in batch frames when `batch`); on `/dashboard/{id}` (`fixed`) it
    /// subscribes at once.
    pub(crate) fn new(
        state: Arc<State>,
        wire: Wire,
        batch: bool,
        grant: Option<Grant>,
        fixed: Option<(String, Option<Since>)>,
        wake: Arc<Wake>,
    ) -> Result<Self, Closing> {
        let key = format!("conn:{}", state.next_conn_id());
        let mut s = Session {
            state,
            key,
            format: wire.format,
            wire,
            batch,
            grant,
            fixed: fixed.as_ref().map(|(d, _)| d.clone()),
            subs: Vec::new(),
            wake,
            rate_strikes: 0,
            bad_strikes: 0,
            expiry_changed: false,
        };
        if let Some((dashboard, since)) = fixed {
            let mut replies = VecDeque::new();
            s.subscribe(dashboard, since, &mut replies)?;
            if !replies.is_empty() {
                return Err(Closing::new(close::INTERNAL_ERROR, "cannot subscribe"));
            }
        }
        Ok(s)
    }

    /// The connection's grant (auth on).
    pub(crate) fn grant(&self) -> Option<&Grant> {
        self.grant.as_ref()
    }

    /// True once after a `refresh` replaced the grant.
    pub(crate) fn take_expiry_changed(&mut self) -> bool {
        std::mem::take(&mut self.expiry_changed)
    }

    fn reply(&self, replies: &mut VecDeque<Message>, bytes: crate::error::Result<Bytes>) {
        if let Ok(b) = bytes {
            replies.push_back(frame(self.format, b));
        }
    }

    fn reply_error(
        &self,
        replies: &mut VecDeque<Message>,
        code: &str,
        message: &str,
        dashboard: Option<&str>,
    ) {
        self.reply(
            replies,
            protocol::error_message(self.format, code, message, dashboard, None),
        );
    }

    /// Handles one client message (`format`: JSON for text frames, MessagePack for binary ones).
    pub(crate) fn on_message(
        &mut self,
        bytes: &[u8],
        format: Format,
        replies: &mut VecDeque<Message>,
    ) -> Result<(), Closing> {
        if let Err(e) = self.state.msg_limiter.check(&self.key) {
            // The first `rate_limit_close_after` over-rate messages each get their error; the next
            // one closes the connection.
            self.state.metrics.reject("rate_limited");
            if self.rate_strikes >= self.state.config.rate_limit_close_after {
                return Err(Closing::new(close::RATE_LIMITED, "rate limited"));
            }
            self.rate_strikes += 1;
            self.reply(replies, protocol::error_from(self.format, &e, None));
            return Ok(());
        }
        self.rate_strikes = 0;
        let op = match ClientOp::parse(bytes, format, self.state.config.max_message_bytes) {
            Ok(op) => op,
            Err(refusal) => {
                // Same rule: `max_invalid_messages` errors, then the close on the next one.
                self.state.metrics.reject("invalid_message");
                if self.bad_strikes >= self.state.config.max_invalid_messages {
                    return Err(Closing::new(
                        close::POLICY_VIOLATION,
                        "too many invalid messages",
                    ));
                }
                self.bad_strikes += 1;
                self.reply_error(replies, refusal.code, &refusal.message, None);
                return Ok(());
            }
        };
        self.bad_strikes = 0;
        match op {
            ClientOp::Subscribe { dashboard, since } => self.subscribe(dashboard, since, replies),
            ClientOp::Unsubscribe { dashboard } => {
                match self.subs.iter().position(|s| s.dashboard == dashboard) {
                    Some(i) => self.remove(i),
                    None => self.reply_error(
                        replies,
                        codes::NOT_SUBSCRIBED,
                        "not subscribed to this dashboard",
                        Some(&dashboard),
                    ),
                }
                Ok(())
            }
            ClientOp::Ping { id } => {
                self.reply(replies, protocol::pong(self.format, id.as_ref()));
                Ok(())
            }
            ClientOp::Refresh { token } => self.refresh(&token, replies),
        }
    }

    fn subscribe(
        &mut self,
        dashboard: String,
        since: Option<Since>,
        replies: &mut VecDeque<Message>,
    ) -> Result<(), Closing> {
        if let Some(g) = &self.grant {
            if !g.allows(&dashboard) {
                self.state.metrics.reject("forbidden");
                self.reply_error(
                    replies,
                    codes::FORBIDDEN,
                    "the token does not open this dashboard",
                    Some(&dashboard),
                );
                return Ok(());
            }
        }
        let existing = self.subs.iter().position(|s| s.dashboard == dashboard);
        if existing.is_none() && self.subs.len() >= self.state.config.max_subscriptions {
            self.reply_error(
                replies,
                codes::TOO_MANY_SUBSCRIPTIONS,
                "subscription limit reached",
                Some(&dashboard),
            );
            return Ok(());
        }
        let opts = self.state.subscribe_options(self.wire, since);
        let sub = match self.state.hub.subscribe(&dashboard, opts) {
            Ok(sub) => sub,
            Err(e) => {
                self.reply(
                    replies,
                    protocol::error_from(self.format, &e, Some(&dashboard)),
                );
                return Ok(());
            }
        };
        let wake = self.wake.clone();
        sub.on_ready(move || wake.notify());
        match existing {
            // The replaced subscription closes when dropped here.
            Some(i) => self.subs[i].sub = sub,
            None => {
                self.state.metrics.add_active(&dashboard, 1);
                self.subs.push(Sub { dashboard, sub });
            }
        }
        Ok(())
    }

    fn remove(&mut self, i: usize) {
        let gone = self.subs.swap_remove(i);
        self.state.metrics.add_active(&gone.dashboard, -1);
    }

    fn refresh(&mut self, token: &str, replies: &mut VecDeque<Message>) -> Result<(), Closing> {
        let Some(verifier) = &self.state.verifier else {
            return Ok(());
        };
        let grant = match verifier.verify(token) {
            Ok(g) => g,
            Err(_) => {
                self.state.metrics.reject("unauthorized");
                return Err(Closing::new(close::UNAUTHORIZED, "invalid token"));
            }
        };
        let old_subject = self.grant.as_ref().and_then(|g| g.subject.as_deref());
        if old_subject.is_some() && old_subject != grant.subject.as_deref() {
            self.state.metrics.reject("unauthorized");
            return Err(Closing::new(close::UNAUTHORIZED, "token subject changed"));
        }
        let mut i = 0;
        while i < self.subs.len() {
            if grant.allows(&self.subs[i].dashboard) {
                i += 1;
                continue;
            }
            self.state.metrics.reject("forbidden");
            if self.fixed.as_deref() == Some(self.subs[i].dashboard.as_str()) {
                return Err(Closing::new(
                    close::FORBIDDEN,
                    "dashboard no longer allowed",
                ));
            }
            let dashboard = self.subs[i].dashboard.clone();
            self.remove(i);
            self.reply_error(
                replies,
                codes::FORBIDDEN,
                "the new token does not open this dashboard",
                Some(&dashboard),
            );
        }
        self.grant = Some(grant);
        self.expiry_changed = true;
        Ok(())
    }

    /// Moves queued hub messages into `out`, `budget` at most (in batch frames when the client opted
    /// in). Returns whether some may be left (the caller drains again later). A removed dashboard ends
    /// its subscription (an error message `closed`; close 1000 on `/dashboard/{id}`); a slow consumer
    /// closes the connection.
    pub(crate) fn drain(
        &mut self,
        out: &mut VecDeque<Message>,
        budget: usize,
    ) -> Result<bool, Closing> {
        let mut batch = self.batch.then(|| Batcher::new(self.format));
        let more = self.drain_into(out, budget, &mut batch);
        if let Some(b) = &mut batch {
            b.finish(out);
        }
        more
    }

    fn drain_into(
        &mut self,
        out: &mut VecDeque<Message>,
        budget: usize,
        batch: &mut Option<Batcher>,
    ) -> Result<bool, Closing> {
        let mut taken = 0;
        let mut i = 0;
        while i < self.subs.len() {
            loop {
                let room = budget.saturating_sub(taken);
                if room == 0 {
                    return Ok(true);
                }
                match self.subs[i].sub.try_recv_many(room) {
                    Ok(msgs) if msgs.is_empty() => {
                        i += 1;
                        break;
                    }
                    Ok(msgs) => {
                        taken += msgs.len();
                        for m in msgs {
                            let bytes = m.wire(self.wire).map_err(|_| {
                                Closing::new(close::INTERNAL_ERROR, "encode failure")
                            })?;
                            match batch {
                                Some(b) => b.push(bytes, out),
                                None => out.push_back(frame(self.format, bytes)),
                            }
                        }
                    }
                    Err(Error::SlowConsumer) => {
                        self.state.metrics.reject("slow_consumer");
                        return Err(Closing::new(close::SLOW_CONSUMER, "slow consumer"));
                    }
                    Err(Error::Closed) => {
                        let dashboard = self.subs[i].dashboard.clone();
                        self.remove(i);
                        if self.fixed.as_deref() == Some(dashboard.as_str()) {
                            return Err(Closing::new(close::NORMAL, "dashboard removed"));
                        }
                        if let Some(b) = batch {
                            b.finish(out);
                        }
                        self.reply_error(out, "closed", "dashboard removed", Some(&dashboard));
                        break;
                    }
                    Err(_) => return Err(Closing::new(close::INTERNAL_ERROR, "encode failure")),
                }
            }
        }
        Ok(false)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for s in self.subs.drain(..) {
            self.state.metrics.add_active(&s.dashboard, -1);
        }
    }
}
