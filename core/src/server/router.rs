//! Request routing: one function from method and path to the endpoint that answers.

use super::state::State;
use super::web::{self, path_id, Resp};
use super::{api, sse, static_files, ws};
use http::header::{HeaderValue, ALLOW};
use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::sync::Arc;

fn not_found() -> Resp {
    web::error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

fn not_allowed(allow: &'static str) -> Resp {
    let mut r = web::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed",
    );
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

/// Answers one request.
pub(crate) async fn route(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let get = method == Method::GET;
    let resp = if path == "/ws" {
        if get {
            ws::serve(&state, req, None)
        } else {
            not_allowed("GET")
        }
    } else if path.starts_with("/dashboard/") {
        match (get, path_id(&path, "/dashboard/")) {
            (false, _) => not_allowed("GET"),
            (true, Some(id)) => ws::serve(&state, req, Some(id)),
            (true, None) => not_found(),
        }
    } else if path.starts_with("/sse/") {
        match (get, path_id(&path, "/sse/")) {
            (false, _) => not_allowed("GET"),
            (true, Some(id)) => sse::serve(&state, &req, id),
            (true, None) => not_found(),
        }
    } else if path.starts_with("/api/dashboards/") {
        match (get, path_id(&path, "/api/dashboards/")) {
            (false, _) => not_allowed("GET"),
            (true, Some(id)) => api::snapshot(&state, &req, &id),
            (true, None) => not_found(),
        }
    } else if path == "/api/events" {
        if method == Method::POST {
            api::ingest(&state, req).await
        } else {
            not_allowed("POST")
        }
    } else if path == "/healthz" {
        api::healthz(&state)
    } else if path == "/metrics" {
        api::metrics(&state, req.headers())
    } else if path.starts_with("/api/") {
        not_found()
    } else {
        match &state.config.static_dir {
            Some(dir) if get || method == Method::HEAD => static_files::serve(dir, &path).await,
            Some(_) => not_allowed("GET, HEAD"),
            None => not_found(),
        }
    };
    Ok(resp)
}
