//! `GET /ws` and `GET /dashboard/{id}`: every check that happens before the upgrade (Origin, token,
//! dashboard id and permission, handshake headers, connection cap), then the `101` response and the
//! connection task (tracked for shutdown) that runs once hyper hands over the socket.

use super::conn::{self, Start};
use super::state::{since_from_query, State};
use super::upgrade;
use super::web::{Refused, Resp};
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

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
    let (grant, hs, slot) = state.admit(headers, query, fixed.as_deref(), || {
        upgrade::check(headers, query).inspect_err(|_| state.metrics.reject("bad_request"))
    })?;
    let since = since_from_query(query);
    let start = Start {
        state: state.clone(),
        wire: hs.wire,
        batch: hs.batch,
        grant,
        fixed: fixed.map(|d| (d, since)),
        slot,
    };
    Ok((hs, start))
}
