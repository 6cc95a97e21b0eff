//! `GET /ws` and `GET /dashboard/{id}`: every check that happens before the upgrade (Origin, token,
//! dashboard id and permission, handshake headers, connection cap), then the `101` response and the
//! connection task (tracked for shutdown) that runs once hyper hands over the socket.

use super::conn::{self, Start};
use super::state::{since_from_query, State};
use super::upgrade;
use super::web::{self, Refused, Resp};
use crate::event::MAX_NAME_BYTES;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// 400 unless `dashboard` is a valid id (1 to 256 bytes).
pub(crate) fn check_id(dashboard: &str) -> Result<(), Refused> {
    if dashboard.is_empty() || dashboard.len() > MAX_NAME_BYTES {
        return Err(Box::new(web::error(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            &format!("a dashboard id is 1 to {MAX_NAME_BYTES} bytes"),
        )));
    }
    Ok(())
}

/// Handles an upgrade request; `fixed` is the dashboard of `/dashboard/{id}`.
pub(crate) fn serve(state: &Arc<State>, mut req: Request<Incoming>, fixed: Option<String>) -> Resp {
    match prepare(state, &req, fixed) {
        Err(r) => *r,
        Ok((hs, start)) => {
            let on_upgrade = hyper::upgrade::on(&mut req);
            let cancel = state.cancel.clone();
            state.tracker.spawn(async move {
                let upgraded = tokio::select! {
                    r = on_upgrade => r,
                    _ = cancel.cancelled() => return,
                };
                if let Ok(upgraded) = upgraded {
                    conn::run(TokioIo::new(upgraded), start).await;
                }
            });
            upgrade::response(&hs)
        }
    }
}

fn prepare(
    state: &Arc<State>,
    req: &Request<Incoming>,
    fixed: Option<String>,
) -> Result<(upgrade::Handshake, Start), Refused> {
    let headers = req.headers();
    let query = req.uri().query();
    state.check_origin(headers)?;
    let grant = state.authorize(headers, query)?;
    if let Some(d) = &fixed {
        check_id(d)?;
        state.check_dashboard(grant.as_ref(), d)?;
    }
    let hs = upgrade::check(headers, query).inspect_err(|_| state.metrics.reject("bad_request"))?;
    if state.cancel.is_cancelled() {
        return Err(Box::new(web::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "closed",
            "the server is shutting down",
        )));
    }
    let Some(slot) = state.try_stream() else {
        state.metrics.reject("too_many_connections");
        return Err(Box::new(web::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            "connection limit reached",
        )));
    };
    let since = since_from_query(query);
    let start = Start {
        state: state.clone(),
        wire: hs.wire,
        grant,
        fixed: fixed.map(|d| (d, since)),
        slot,
    };
    Ok((hs, start))
}
