//! HTTP plumbing shared by the endpoints: the response [`Body`] (a whole buffer, or a stream fed by a
//! bounded channel for SSE), JSON responses and errors, query and path helpers, and the Origin check.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};
use http_body::{Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// A response body: all at once, or streamed from a bounded channel (SSE). The stream ends when its
/// sender is dropped.
#[derive(Debug)]
pub(crate) enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body {
    pub(crate) fn empty() -> Self {
        Body::Full(None)
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::Full(Some(b))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Stream(_) => SizeHint::default(),
        }
    }
}

/// The response type of every handler.
pub(crate) type Resp = Response<Body>;

/// A refusal: the response to send instead of going on (boxed: responses are large).
pub(crate) type Refused = Box<Resp>;

/// A response with `status`, `content_type` and `body`.
pub(crate) fn bytes(status: StatusCode, content_type: &'static str, body: Bytes) -> Resp {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Resp {
    bytes(status, "application/json", Bytes::from(body))
}

/// `{"type":"error","code":…,"message":…}` with `status`.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Resp {
    let body = serde_json::json!({"type": "error", "code": code, "message": message});
    json(status, body.to_string().into_bytes())
}

/// The HTTP status of a crate error code.
pub(crate) fn status_of(code: &str) -> StatusCode {
    match code {
        "invalid_input" | "decode_error" | "too_deep" | "unsupported_type" => {
            StatusCode::BAD_REQUEST
        }
        "too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "rate_limited" => StatusCode::TOO_MANY_REQUESTS,
        "circuit_open" | "closed" | "timeout" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The error response of a crate error.
pub(crate) fn error_from(e: &crate::error::Error) -> Resp {
    error(status_of(e.code()), e.code(), &e.to_string())
}

/// The value of query parameter `name`, percent-decoded.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}

/// The single path segment after `prefix`, percent-decoded: `None` when the path does not start with
/// `prefix`, the rest is empty, contains a `/`, or is not UTF-8.
pub(crate) fn path_id(path: &str, prefix: &str) -> Option<String> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Whether the request's `Origin` is allowed: always without an allowlist or an `Origin` header;
/// otherwise one entry must equal it, without regard to case (`*` allows any).
pub(crate) fn origin_allowed(allowed: Option<&[String]>, headers: &HeaderMap) -> bool {
    let Some(allowed) = allowed else {
        return true;
    };
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/');
    allowed
        .iter()
        .any(|a| a == "*" || a.trim().trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// Whether a header holds `token` in its comma-separated list (case-insensitive).
pub(crate) fn header_has_token(
    headers: &HeaderMap,
    name: http::header::HeaderName,
    token: &str,
) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ids_and_queries() {
        assert_eq!(path_id("/sse/ops", "/sse/").as_deref(), Some("ops"));
        assert_eq!(path_id("/sse/team%20a", "/sse/").as_deref(), Some("team a"));
        assert_eq!(path_id("/sse/", "/sse/"), None);
        assert_eq!(path_id("/sse/a/b", "/sse/"), None);
        assert_eq!(path_id("/sse/%ff", "/sse/"), None);
        assert_eq!(
            query_param(Some("a=1&format=msgpack"), "format").as_deref(),
            Some("msgpack")
        );
        assert_eq!(query_param(None, "format"), None);
    }

    #[test]
    fn origins() {
        let mut h = HeaderMap::new();
        let allowed = vec!["https://Dash.example.com".to_string()];
        assert!(origin_allowed(Some(&allowed), &h));
        h.insert(
            http::header::ORIGIN,
            HeaderValue::from_static("https://dash.example.com"),
        );
        assert!(origin_allowed(Some(&allowed), &h));
        assert!(origin_allowed(None, &h));
        h.insert(
            http::header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!origin_allowed(Some(&allowed), &h));
    }
}
