//! The WebSocket opening handshake (RFC 6455 §4.2) on a hyper request: header checks, the subprotocol
//! (and so the frame format) choice, and the `101 Switching Protocols` response.
//!
//! Format: the first of `dashfeed.v1.json` / `dashfeed.v1.msgpack` the client offers, echoed back; with
//! no subprotocol offered, `?format=json|msgpack` (default JSON).
//!
//! Gzip: a client that offers a dashfeed subprotocol reads gzipped binary frames for messages over the
//! hub's threshold (`?compress=none` turns it off). A client that offers none is a plain client (the
//! reference notes' `new WebSocket(url)` + `JSON.parse(event.data)`): it never gets gzip, so JSON
//! messages are always text frames, unless it asks with `?compress=gzip`. A `dashfeed.token.<jwt>` entry carries
//! a token and is never echoed, so it must come with a format subprotocol (browsers fail a connection
//! whose offered subprotocols get no answer); other unknown subprotocols are refused with 400.

use super::auth::TOKEN_PROTOCOL_PREFIX;
use super::protocol::{PROTOCOL_JSON, PROTOCOL_MSGPACK};
use super::web::{self, Body, Refused, Resp};
use crate::codec::Format;
use crate::hub::Wire;
use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// An accepted opening handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Handshake {
    /// Frame format and gzip setting of the connection.
    pub(crate) wire: Wire,
    /// The client reads batch frames (`?batch=1`): see [`super::batch`].
    pub(crate) batch: bool,
    /// The subprotocol to echo, if the client offered one.
    protocol: Option<&'static str>,
    /// `Sec-WebSocket-Accept`.
    accept: String,
}

fn bad(message: &str) -> Refused {
    Box::new(web::error(StatusCode::BAD_REQUEST, "bad_request", message))
}

/// Checks the upgrade headers and picks the format; the error is the response to send instead.
pub(crate) fn check(headers: &HeaderMap, query: Option<&str>) -> Result<Handshake, Refused> {
    if !web::header_has_token(headers, UPGRADE, "websocket")
        || !web::header_has_token(headers, CONNECTION, "upgrade")
    {
        let mut r = web::error(
            StatusCode::UPGRADE_REQUIRED,
            "bad_request",
            "this endpoint needs a WebSocket upgrade",
        );
        r.headers_mut()
            .insert(UPGRADE, HeaderValue::from_static("websocket"));
        return Err(Box::new(r));
    }
    if headers.get(SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        let mut r = web::error(
            StatusCode::UPGRADE_REQUIRED,
            "bad_request",
            "only WebSocket version 13 is supported",
        );
        r.headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(Box::new(r));
    }
    let Some(key) = headers.get(SEC_WEBSOCKET_KEY) else {
        return Err(bad("Sec-WebSocket-Key is required"));
    };
    let accept = derive_accept_key(key.as_bytes());
    let mut offered_other = false;
    let mut offered_token = false;
    let mut protocol = None;
    for v in headers.get_all(SEC_WEBSOCKET_PROTOCOL) {
        let Ok(v) = v.to_str() else {
            return Err(bad("Sec-WebSocket-Protocol is not ASCII"));
        };
        for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if p.starts_with(TOKEN_PROTOCOL_PREFIX) {
                offered_token = true;
            } else if p == PROTOCOL_JSON || p == PROTOCOL_MSGPACK {
                if protocol.is_none() {
                    protocol = Some(if p == PROTOCOL_JSON {
                        PROTOCOL_JSON
                    } else {
                        PROTOCOL_MSGPACK
                    });
                }
            } else {
                offered_other = true;
            }
        }
    }
    let format = match protocol {
        Some(PROTOCOL_MSGPACK) => Format::MsgPack,
        Some(_) => Format::Json,
        None if offered_other => {
            return Err(bad(
                "unsupported subprotocol (offer dashfeed.v1.json or dashfeed.v1.msgpack)",
            ))
        }
        None if offered_token => {
            return Err(bad(
                "a dashfeed.token.* subprotocol needs dashfeed.v1.json or dashfeed.v1.msgpack beside it",
            ))
        }
        None => match web::query_param(query, "format") {
            None => Format::Json,
            Some(f) => f.parse().map_err(|e: crate::Error| bad(&e.to_string()))?,
        },
    };
    let compress = match web::query_param(query, "compress").as_deref() {
        None => protocol.is_some(),
        Some("gzip" | "true" | "1") => true,
        Some("none" | "false" | "0") => false,
        Some(_) => return Err(bad("compress must be gzip or none")),
    };
    let batch = match web::query_param(query, "batch").as_deref() {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(_) => return Err(bad("batch must be 1 or 0")),
    };
    Ok(Handshake {
        wire: Wire { format, compress },
        batch,
        protocol,
        accept,
    })
}

/// The `101 Switching Protocols` response of an accepted handshake.
pub(crate) fn response(h: &Handshake) -> Resp {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = r.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&h.accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(p) = h.protocol {
        headers.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(protocols: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        h.insert(
            SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        if let Some(p) = protocols {
            h.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
        }
        h
    }

    #[test]
    fn picks_format_and_derives_accept() {
        let h = check(&headers(None), None).unwrap();
        assert_eq!(h.wire, Wire::plain(Format::Json));
        assert_eq!(h.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let h = check(&headers(None), Some("format=msgpack")).unwrap();
        assert_eq!(h.wire, Wire::plain(Format::MsgPack));
        let h = check(&headers(None), Some("compress=gzip")).unwrap();
        assert_eq!(h.wire, Wire::compressed(Format::Json));
        let h = check(&headers(Some("dashfeed.v1.json")), None).unwrap();
        assert_eq!(h.wire, Wire::compressed(Format::Json));
        let h = check(&headers(Some("dashfeed.v1.json")), Some("compress=none")).unwrap();
        assert_eq!(h.wire, Wire::plain(Format::Json));
        let h = check(
            &headers(Some("dashfeed.token.a.b.c, dashfeed.v1.msgpack")),
            None,
        )
        .unwrap();
        assert_eq!(
            (h.wire, h.protocol),
            (Wire::compressed(Format::MsgPack), Some(PROTOCOL_MSGPACK))
        );
        let r = response(&h);
        assert_eq!(r.headers()[SEC_WEBSOCKET_PROTOCOL], "dashfeed.v1.msgpack");
        assert!(!h.batch);
        let h = check(&headers(Some("dashfeed.v1.json")), Some("batch=1")).unwrap();
        assert!(h.batch);
    }

    #[test]
    fn refuses_bad_handshakes() {
        for (h, q, status) in [
            (headers(Some("chat")), None, StatusCode::BAD_REQUEST),
            (
                headers(Some("dashfeed.token.x")),
                None,
                StatusCode::BAD_REQUEST,
            ),
            (headers(None), Some("format=xml"), StatusCode::BAD_REQUEST),
            (headers(None), Some("compress=br"), StatusCode::BAD_REQUEST),
            (headers(None), Some("batch=on"), StatusCode::BAD_REQUEST),
            (HeaderMap::new(), None, StatusCode::UPGRADE_REQUIRED),
        ] {
            assert_eq!(check(&h, q).unwrap_err().status(), status);
        }
        let mut h = headers(None);
        h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert_eq!(
            check(&h, None).unwrap_err().status(),
            StatusCode::UPGRADE_REQUIRED
        );
    }
}
