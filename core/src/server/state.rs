//! [`State`]: what every connection of a server shares — hub, settings, metrics, JWT verifier, rate
//! limiters, the ingest sink, the shutdown signal and task tracker, and the connection caps (with RAII
//! [`Slot`]s so that a count can never leak).

use super::auth::{find_token, Grant, Verifier};
use super::config::ServerConfig;
use super::ingest::{HubIngest, Ingest};
use super::web::{self, Refused};
use crate::error::Result;
use crate::hub::Wire;
use crate::hub::{Hub, Since, SubscribeOptions};
use crate::limit::RateLimiter;
use crate::metrics::Metrics;
use http::{HeaderMap, HeaderValue, StatusCode};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shared state of one server.
pub(crate) struct State {
    pub(crate) hub: Hub,
    pub(crate) config: ServerConfig,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) verifier: Option<Verifier>,
    pub(crate) msg_limiter: RateLimiter,
    pub(crate) ingest_limiter: RateLimiter,
    pub(crate) ingest: Arc<dyn Ingest>,
    /// The default sink (no `ingest` configured), which the request handler awaits instead of
    /// calling [`Ingest::ingest`].
    pub(crate) hub_ingest: Option<HubIngest>,
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
    streams: AtomicUsize,
    sockets: AtomicUsize,
    next_conn: AtomicU64,
}

/// A taken place under a cap; gives it back when dropped.
pub(crate) struct Slot {
    state: Arc<State>,
    socket: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let counter = if self.socket {
            &self.state.sockets
        } else {
            &self.state.streams
        };
        counter.fetch_sub(1, Ordering::AcqRel);
    }
}

fn take(counter: &AtomicUsize, cap: usize) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < cap).then_some(n + 1)
        })
        .is_ok()
}

impl State {
    pub(crate) fn new(hub: Hub, config: ServerConfig) -> Result<Self> {
        config.validate()?;
        let metrics = match &config.metrics {
            Some(shared) => shared.clone(),
            None => Arc::new(Metrics::new()),
        };
        // The served hub's publications are this server's `dashboard_messages_processed_total`.
        metrics.watch_hub(&hub);
        for check in &config.health {
            metrics.register_health(check.clone());
        }
        let verifier = config.auth.as_ref().map(Verifier::new).transpose()?;
        let ingest: Arc<dyn Ingest> = match &config.ingest {
            Some(sink) => sink.clone(),
            None => Arc::new(HubIngest::new(hub.clone())),
        };
        let hub_ingest = config.ingest.is_none().then(|| HubIngest::new(hub.clone()));
        Ok(State {
            msg_limiter: RateLimiter::new(config.message_rate.clone())?,
            ingest_limiter: RateLimiter::new(config.ingest_rate.clone())?,
            hub,
            metrics,
            verifier,
            ingest,
            hub_ingest,
            config,
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            streams: AtomicUsize::new(0),
            sockets: AtomicUsize::new(0),
            next_conn: AtomicU64::new(1),
        })
    }

    /// A place for one more streaming connection, or `None` at `max_connections`.
    pub(crate) fn try_stream(self: &Arc<Self>) -> Option<Slot> {
        take(&self.streams, self.config.max_connections).then(|| Slot {
            state: self.clone(),
            socket: false,
        })
    }

    /// A place for one more socket, or `None` at `max_sockets`.
    pub(crate) fn try_socket(self: &Arc<Self>) -> Option<Slot> {
        let cap = self
            .config
            .max_sockets
            .unwrap_or(self.config.max_connections.saturating_add(1024));
        take(&self.sockets, cap).then(|| Slot {
            state: self.clone(),
            socket: true,
        })
    }

    /// Open streaming connections.
    pub(crate) fn streams(&self) -> usize {
        self.streams.load(Ordering::Acquire)
    }

    /// A fresh connection id (the per-connection rate limiter key).
    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// 403 unless the request's Origin is allowed.
    pub(crate) fn check_origin(&self, headers: &HeaderMap) -> std::result::Result<(), Refused> {
        if web::origin_allowed(self.config.allowed_origins.as_deref(), headers) {
            return Ok(());
        }
        self.metrics.reject("origin");
        Err(Box::new(web::error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "origin not allowed",
        )))
    }

    /// The request's grant: `Ok(None)` with auth off; 401 without a valid token.
    pub(crate) fn authorize(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> std::result::Result<Option<Grant>, Refused> {
        let Some(verifier) = &self.verifier else {
            return Ok(None);
        };
        let refused = |message: &str| {
            self.metrics.reject("unauthorized");
            let mut r = web::error(StatusCode::UNAUTHORIZED, "unauthorized", message);
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
            Box::new(r)
        };
        let Some(token) = find_token(headers, query) else {
            return Err(refused("a token is required"));
        };
        verifier
            .verify(&token)
            .map(Some)
            .map_err(|e| refused(&e.to_string()))
    }

    /// 403 unless `grant` (when auth is on) opens `dashboard`.
    pub(crate) fn check_dashboard(
        &self,
        grant: Option<&Grant>,
        dashboard: &str,
    ) -> std::result::Result<(), Refused> {
        match grant {
            Some(g) if !g.allows(dashboard) => {
                self.metrics.reject("forbidden");
                Err(Box::new(web::error(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    &format!("the token does not open dashboard {dashboard:?}"),
                )))
            }
            _ => Ok(()),
        }
    }

    /// The admission of a streaming request (WebSocket or SSE), in this order: Origin, token, the
    /// dashboard it names (a valid id the grant opens), `check` (what the protocol itself requires,
    /// e.g. the WebSocket handshake), then shutdown and the connection cap. Gives the grant, what
    /// `check` returned and the connection slot.
    pub(crate) fn admit<T>(
        self: &Arc<Self>,
        headers: &HeaderMap,
        query: Option<&str>,
        dashboard: Option<&str>,
        check: impl FnOnce() -> std::result::Result<T, Refused>,
    ) -> std::result::Result<(Option<Grant>, T, Slot), Refused> {
        self.check_origin(headers)?;
        let grant = self.authorize(headers, query)?;
        if let Some(d) = dashboard {
            check_id(d)?;
            self.check_dashboard(grant.as_ref(), d)?;
        }
        let checked = check()?;
        if self.cancel.is_cancelled() {
            return Err(Box::new(web::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "closed",
                "the server is shutting down",
            )));
        }
        let Some(slot) = self.try_stream() else {
            self.metrics.reject("too_many_connections");
            return Err(Box::new(web::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_connections",
                "connection limit reached",
            )));
        };
        Ok((grant, checked, slot))
    }

    /// Subscription options of the server's connections reading `wire`.
    pub(crate) fn subscribe_options(&self, wire: Wire, since: Option<Since>) -> SubscribeOptions {
        SubscribeOptions {
            since,
            policy: self.config.policy,
            queue_messages: self.config.queue_messages,
            queue_bytes: self.config.queue_bytes,
            format: wire.format,
            compress: Some(wire.compress),
        }
    }
}

/// 400 unless `dashboard` is a valid id (the rule of [`check_name`](crate::event::check_name)).
pub(crate) fn check_id(dashboard: &str) -> std::result::Result<(), Refused> {
    crate::event::check_name("dashboard", dashboard).map_err(|e| Box::new(web::error_from(&e)))
}

/// A resume point from `?epoch=…&seq=…`, if both are present and valid.
pub(crate) fn since_from_query(query: Option<&str>) -> Option<Since> {
    let epoch = web::query_param(query, "epoch")?;
    let seq = web::query_param(query, "seq")?.parse().ok()?;
    Some(Since { epoch, seq })
}
