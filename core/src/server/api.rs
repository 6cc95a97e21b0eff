//! The plain HTTP endpoints: `GET /api/dashboards/{id}` (the snapshot, for polling), `POST /api/events`
//! (ingest), `GET /healthz` and `GET /metrics`.

use super::ingest::{body_format, parse_events};
use super::state::{check_id, State};
use super::web::{self, Resp};
use crate::codec::{decompress, is_gzip, Format};
use crate::error::Error;
use crate::metrics::{OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE};
use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_TYPE, RETRY_AFTER,
};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use std::sync::Arc;

fn accepts(headers: &HeaderMap, name: http::header::HeaderName, what: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains(what))
}

/// `GET /api/dashboards/{id}`: the snapshot message (the same map as on the WebSocket), JSON or
/// MessagePack (`?format=msgpack` or `Accept: application/msgpack`); gzip passes through with
/// `Content-Encoding: gzip` when the client accepts it. 404 for a dashboard without a topic.
pub(crate) fn snapshot(state: &Arc<State>, req: &Request<Incoming>, dashboard: &str) -> Resp {
    let headers = req.headers();
    let query = req.uri().query();
    let grant = match state
        .check_origin(headers)
        .and_then(|()| state.authorize(headers, query))
    {
        Ok(g) => g,
        Err(r) => return *r,
    };
    if let Err(r) =
        check_id(dashboard).and_then(|()| state.check_dashboard(grant.as_ref(), dashboard))
    {
        return *r;
    }
    let format = match web::query_param(query, "format") {
        Some(f) => match f.parse::<Format>() {
            Ok(f) => f,
            Err(e) => return web::error_from(&e),
        },
        None if accepts(headers, ACCEPT, "msgpack") => Format::MsgPack,
        None => Format::Json,
    };
    let msg = match state.hub.snapshot(dashboard) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return web::error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("unknown dashboard {dashboard:?}"),
            )
        }
        Err(e) => return web::error_from(&e),
    };
    let raw = match msg.raw(format) {
        Ok(b) => b,
        Err(e) => return web::error_from(&e),
    };
    let content_type = match format {
        Format::Json => "application/json",
        Format::MsgPack => "application/msgpack",
    };
    let gzipped = is_gzip(&raw);
    let pass_gzip = gzipped && accepts(headers, ACCEPT_ENCODING, "gzip");
    let body = if gzipped && !pass_gzip {
        match decompress(&raw, usize::MAX) {
            Ok(b) => Bytes::from(b),
            Err(e) => return web::error_from(&e),
        }
    } else {
        raw
    };
    let mut r = web::bytes(StatusCode::OK, content_type, body);
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if pass_gzip {
        r.headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}

fn too_large(limit: usize) -> Resp {
    web::error_from(&Error::TooLarge {
        what: "body",
        limit,
    })
}

/// `POST /api/events`: a JSON or MessagePack event or array of events (see [`super::ingest`]). Each
/// event takes one unit of its dashboard's ingest rate; events over it are not ingested. 202 with
/// `{"received","accepted","rate_limited"}`; 429 when every event was rate limited.
pub(crate) async fn ingest(state: &Arc<State>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let grant = match state
        .check_origin(&parts.headers)
        .and_then(|()| state.authorize(&parts.headers, parts.uri.query()))
    {
        Ok(g) => g,
        Err(r) => return *r,
    };
    let max = state.config.max_body_bytes;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        state.metrics.reject("too_big");
        return too_large(max);
    }
    let read = tokio::time::timeout(
        state.config.header_read_timeout,
        Limited::new(body, max).collect(),
    );
    let bytes = match read.await {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            state.metrics.reject("too_big");
            return too_large(max);
        }
        Ok(Err(e)) => return web::error(StatusCode::BAD_REQUEST, "io_error", &e.to_string()),
        Err(_) => {
            return web::error(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the request body did not arrive in time",
            )
        }
    };
    let ct = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let events = match parse_events(&bytes, body_format(ct), max) {
        Ok(ev) => ev,
        Err(e) => return web::error_from(&e),
    };
    if let Some(g) = &grant {
        if let Some(ev) = events.iter().find(|ev| !g.allows(&ev.dashboard)) {
            state.metrics.reject("forbidden");
            return web::error(
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!("the token does not open dashboard {:?}", ev.dashboard),
            );
        }
    }
    let received = events.len();
    let mut retry_after = None;
    let passed: Vec<_> = events
        .into_iter()
        .filter(|ev| match state.ingest_limiter.check(&ev.dashboard) {
            Ok(()) => true,
            Err(Error::RateLimited { retry_after: r }) => {
                retry_after = Some(r);
                false
            }
            Err(_) => false,
        })
        .collect();
    let limited = received - passed.len();
    if limited > 0 {
        state.metrics.reject("rate_limited");
    }
    if passed.is_empty() && limited > 0 {
        let ms = retry_after.map_or(1000, |r| r.as_millis().max(1) as u64);
        let mut r = web::error_from(&Error::RateLimited {
            retry_after: std::time::Duration::from_millis(ms),
        });
        if let Ok(v) = HeaderValue::from_str(&ms.div_ceil(1000).to_string()) {
            r.headers_mut().insert(RETRY_AFTER, v);
        }
        return r;
    }
    // One `dashboard_processing_seconds` observation for the request, the hub's publishes included.
    let ingested = match &state.hub_ingest {
        // A clustered hub waits for Redis: awaited here, not blocking a runtime thread.
        Some(sink) if state.hub.is_clustered() => {
            let start = std::time::Instant::now();
            let n = sink.ingest_async(passed).await;
            if n.is_ok() {
                state.hub.observe_processing(start.elapsed());
            }
            n
        }
        _ => state.hub.timed(|| state.ingest.ingest(passed)),
    };
    let accepted = match ingested {
        Ok(n) => n,
        Err(e) => return web::error_from(&e),
    };
    let body = serde_json::json!({
        "received": received,
        "accepted": accepted,
        "rate_limited": limited,
    });
    web::json(StatusCode::ACCEPTED, body.to_string().into_bytes())
}

/// `GET /healthz`: 200 `{"status":"ok"}` while every registered link is up (with `"checks"` when
/// links are registered), 503 `{"status":"down","checks":{name: "up" | "down: why"}}` otherwise.
pub(crate) fn healthz(state: &State) -> Resp {
    let checks = state.metrics.health();
    let down = checks.iter().any(|(_, r)| r.is_err());
    let mut body = serde_json::Map::new();
    body.insert("status".into(), if down { "down" } else { "ok" }.into());
    if !checks.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = checks
            .into_iter()
            .map(|(name, r)| {
                let v = match r {
                    Ok(()) => "up".to_string(),
                    Err(e) => format!("down: {e}"),
                };
                (name, v.into())
            })
            .collect();
        body.insert("checks".into(), map.into());
    }
    let status = if down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    web::json(
        status,
        serde_json::Value::Object(body).to_string().into_bytes(),
    )
}

/// `GET /metrics`: Prometheus text, or OpenMetrics when the `Accept` header asks for it.
pub(crate) fn metrics(state: &State, headers: &HeaderMap) -> Resp {
    let openmetrics = accepts(headers, ACCEPT, "application/openmetrics-text");
    match state.metrics.encode(openmetrics) {
        Ok(text) => {
            let ct = if openmetrics {
                OPENMETRICS_CONTENT_TYPE
            } else {
                PROMETHEUS_CONTENT_TYPE
            };
            web::bytes(StatusCode::OK, ct, Bytes::from(text))
        }
        Err(e) => web::error_from(&e),
    }
}
