//! The client protocol (documented in `docs/protocol.md`): WebSocket subprotocols, client operations
//! ([`ClientOp::parse`]), the server's own replies (`error`, `pong`; the hub's `snapshot` / `update` /
//! `recovered` bytes are sent as they are), and the close codes ([`close`]).

use crate::codec::{Codec, Format, Value};
use crate::error::{Error, Result};
use crate::hub::Since;
use bytes::Bytes;

/// Subprotocol for JSON text frames.
pub const PROTOCOL_JSON: &str = "dashfeed.v1.json";
/// Subprotocol for MessagePack binary frames.
pub const PROTOCOL_MSGPACK: &str = "dashfeed.v1.msgpack";

/// Deepest nesting accepted in a client message.
const CLIENT_MAX_DEPTH: usize = 8;

/// WebSocket close codes sent by the server.
pub mod close {
    /// Normal closure: the client closed, or the dashboard of a `/dashboard/{id}` stream was removed.
    pub const NORMAL: u16 = 1000;
    /// Going away: the server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error: an unmasked client frame, a bad opcode, reserved bits, ...
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Invalid payload: a text frame that is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy violation: too many consecutive malformed messages.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// Message too big: a client frame or message over the configured size.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// Internal error: a message could not be encoded (a bug).
    pub const INTERNAL_ERROR: u16 = 1011;
    /// Unauthorized: a `refresh` carried an invalid token.
    pub const UNAUTHORIZED: u16 = 4001;
    /// Forbidden: a refreshed token no longer opens the dashboard of a `/dashboard/{id}` stream.
    pub const FORBIDDEN: u16 = 4003;
    /// Slow consumer: the subscription queue overflowed under the `disconnect` policy.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// Rate limited: too many consecutive messages over the per-connection rate.
    pub const RATE_LIMITED: u16 = 4029;
    /// Token expired: the token expired and no valid `refresh` arrived in time.
    pub const TOKEN_EXPIRED: u16 = 4401;
    /// Idle timeout: nothing (not even a pong) received for `idle_timeout`.
    pub const IDLE_TIMEOUT: u16 = 4408;
}

/// Error codes of `{"type":"error"}` messages, besides the crate's own (`decode_error`,
/// `invalid_input`, `rate_limited`, `slow_consumer`, `closed`).
pub mod codes {
    /// The `op` is not one of `subscribe`, `unsubscribe`, `ping`, `refresh`.
    pub const UNKNOWN_OP: &str = "unknown_op";
    /// The token does not open this dashboard.
    pub const FORBIDDEN: &str = "forbidden";
    /// `unsubscribe` of a dashboard this connection does not follow.
    pub const NOT_SUBSCRIBED: &str = "not_subscribed";
    /// One `subscribe` more than `max_subscriptions`.
    pub const TOO_MANY_SUBSCRIPTIONS: &str = "too_many_subscriptions";
}

/// A client → server operation.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientOp {
    /// Follow `dashboard`, resuming after `since` when given. Subscribing again replaces the
    /// subscription (a resync).
    Subscribe {
        /// Dashboard id.
        dashboard: String,
        /// Resume point.
        since: Option<Since>,
    },
    /// Stop following `dashboard`.
    Unsubscribe {
        /// Dashboard id.
        dashboard: String,
    },
    /// Application-level ping; answered by a `pong` echoing `id`.
    Ping {
        /// Any scalar, echoed back.
        id: Option<Value>,
    },
    /// Replaces the connection's token before it expires.
    Refresh {
        /// The new JWT.
        token: String,
    },
}

/// Why a client message was refused: an error `code` and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// One of `decode_error`, `invalid_input`, `unknown_op`.
    pub code: &'static str,
    /// What was wrong.
    pub message: String,
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal {
        code: "invalid_input",
        message: message.into(),
    }
}

fn field_str(map: &Value, name: &str, op: &str) -> std::result::Result<String, Refusal> {
    match map.get(name) {
        Some(Value::Str(s)) => Ok(s.clone()),
        Some(_) => Err(invalid(format!("{op}: {name} must be a string"))),
        None => Err(invalid(format!("{op}: {name} is required"))),
    }
}

fn parse_since(v: &Value) -> std::result::Result<Since, Refusal> {
    let bad = || invalid("subscribe: since must be {\"epoch\": string, \"seq\": integer >= 0}");
    let epoch = match v.get("epoch") {
        Some(Value::Str(s)) => s.clone(),
        _ => return Err(bad()),
    };
    let seq = match v.get("seq") {
        Some(Value::Int(i)) if *i >= 0 => *i as u64,
        Some(Value::UInt(u)) => *u,
        _ => return Err(bad()),
    };
    Ok(Since { epoch, seq })
}

impl ClientOp {
    /// Parses one client message: JSON (`format = Json`, a text frame) or MessagePack (a binary frame,
    /// gzip allowed). At most `max_bytes` long, also after gzip.
    pub fn parse(
        bytes: &[u8],
        format: Format,
        max_bytes: usize,
    ) -> std::result::Result<Self, Refusal> {
        let codec = Codec::bounded(format, max_bytes, CLIENT_MAX_DEPTH);
        let value = codec.decode(bytes).map_err(|e| Refusal {
            code: "decode_error",
            message: format!("not a valid {} message: {e}", format.name()),
        })?;
        ClientOp::from_value(&value)
    }

    /// Interprets a decoded message.
    pub fn from_value(value: &Value) -> std::result::Result<Self, Refusal> {
        if !matches!(value, Value::Map(_)) {
            return Err(Refusal {
                code: "decode_error",
                message: "a message must be a map with an \"op\"".into(),
            });
        }
        let op = match value.get("op") {
            Some(Value::Str(op)) => op.as_str(),
            Some(_) => return Err(invalid("op must be a string")),
            None => return Err(invalid("op is required")),
        };
        match op {
            "subscribe" => Ok(ClientOp::Subscribe {
                dashboard: field_str(value, "dashboard", op)?,
                since: match value.get("since") {
                    None | Some(Value::Nil) => None,
                    Some(v) => Some(parse_since(v)?),
                },
            }),
            "unsubscribe" => Ok(ClientOp::Unsubscribe {
                dashboard: field_str(value, "dashboard", op)?,
            }),
            "ping" => match value.get("id") {
                None => Ok(ClientOp::Ping { id: None }),
                Some(Value::Array(_) | Value::Map(_) | Value::Bin(_)) => Err(invalid(
                    "ping: id must be a number, string, boolean or null",
                )),
                Some(v) => Ok(ClientOp::Ping {
                    id: Some(v.clone()),
                }),
            },
            "refresh" => Ok(ClientOp::Refresh {
                token: field_str(value, "token", op)?,
            }),
            other => Err(Refusal {
                code: codes::UNKNOWN_OP,
                message: format!(
                    "unknown op {other:?} (expected subscribe, unsubscribe, ping or refresh)"
                ),
            }),
        }
    }
}

fn encode(format: Format, v: &Value) -> Result<Bytes> {
    Codec {
        compress_over: None,
        ..Codec::new(format)
    }
    .encode(v)
    .map(Bytes::from)
}

/// `{"type":"error","code":…,"message":…}` with `"dashboard"` and `"retry_after_ms"` when given.
pub fn error_message(
    format: Format,
    code: &str,
    message: &str,
    dashboard: Option<&str>,
    retry_after_ms: Option<u64>,
) -> Result<Bytes> {
    let mut m: Vec<(Value, Value)> = Vec::with_capacity(5);
    m.push(("type".into(), "error".into()));
    m.push(("code".into(), code.into()));
    m.push(("message".into(), message.into()));
    if let Some(d) = dashboard {
        m.push(("dashboard".into(), d.into()));
    }
    if let Some(ms) = retry_after_ms {
        m.push(("retry_after_ms".into(), Value::from(ms)));
    }
    encode(format, &Value::Map(m))
}

/// The error message of a crate [`Error`] (its code and text).
pub fn error_from(format: Format, e: &Error, dashboard: Option<&str>) -> Result<Bytes> {
    let retry = match e {
        Error::RateLimited { retry_after } => Some(retry_after.as_millis() as u64),
        _ => None,
    };
    error_message(format, e.code(), &e.to_string(), dashboard, retry)
}

/// `{"type":"pong"}`, with the ping's `"id"` when it had one.
pub fn pong(format: Format, id: Option<&Value>) -> Result<Bytes> {
    let mut m: Vec<(Value, Value)> = vec![("type".into(), "pong".into())];
    if let Some(id) = id {
        m.push(("id".into(), id.clone()));
    }
    encode(format, &Value::Map(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> std::result::Result<ClientOp, Refusal> {
        ClientOp::parse(s.as_bytes(), Format::Json, 1024)
    }

    #[test]
    fn parses_every_op() {
        assert_eq!(
            parse(r#"{"op":"subscribe","dashboard":"ops","since":{"epoch":"e","seq":3}}"#),
            Ok(ClientOp::Subscribe {
                dashboard: "ops".into(),
                since: Some(Since::new("e", 3)),
            })
        );
        assert_eq!(
            parse(r#"{"op":"unsubscribe","dashboard":"ops"}"#),
            Ok(ClientOp::Unsubscribe {
                dashboard: "ops".into()
            })
        );
        assert_eq!(
            parse(r#"{"op":"ping","id":7}"#),
            Ok(ClientOp::Ping {
                id: Some(Value::Int(7))
            })
        );
        assert_eq!(
            parse(r#"{"op":"refresh","token":"a.b.c"}"#),
            Ok(ClientOp::Refresh {
                token: "a.b.c".into()
            })
        );
        let mp = Codec::new(Format::MsgPack)
            .encode(&Value::Map(vec![("op".into(), "ping".into())]))
            .unwrap();
        assert_eq!(
            ClientOp::parse(&mp, Format::MsgPack, 1024),
            Ok(ClientOp::Ping { id: None })
        );
    }

    #[test]
    fn refusals_carry_codes() {
        for (msg, code) in [
            ("{not json", "decode_error"),
            ("[1,2]", "decode_error"),
            (r#"{"op":"dance"}"#, "unknown_op"),
            (r#"{"op":7}"#, "invalid_input"),
            (r#"{"dashboard":"x"}"#, "invalid_input"),
            (r#"{"op":"subscribe"}"#, "invalid_input"),
            (r#"{"op":"subscribe","dashboard":5}"#, "invalid_input"),
            (
                r#"{"op":"subscribe","dashboard":"d","since":{"epoch":"e","seq":-1}}"#,
                "invalid_input",
            ),
            (
                r#"{"op":"subscribe","dashboard":"d","since":3}"#,
                "invalid_input",
            ),
            (r#"{"op":"ping","id":[1]}"#, "invalid_input"),
            (r#"{"op":"refresh"}"#, "invalid_input"),
        ] {
            assert_eq!(parse(msg).unwrap_err().code, code, "{msg}");
        }
        let long = format!(r#"{{"op":"ping","id":"{}"}}"#, "x".repeat(2000));
        assert_eq!(parse(&long).unwrap_err().code, "decode_error");
    }

    #[test]
    fn replies_have_fixed_field_order() {
        let e = error_message(Format::Json, "forbidden", "no", Some("ops"), None).unwrap();
        assert_eq!(
            &e[..],
            br#"{"type":"error","code":"forbidden","message":"no","dashboard":"ops"}"#
        );
        let p = pong(Format::Json, Some(&Value::Int(1))).unwrap();
        assert_eq!(&p[..], br#"{"type":"pong","id":1}"#);
    }
}
