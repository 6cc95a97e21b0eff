//! The crate-wide [`Error`] type.
//!
//! Every variant has a stable snake_case code ([`Error::code`]) that the Python and Node bindings expose
//! unchanged (`DashfeedError.code` in Python, `err.code` in Node). Codes are part of the public API: add new
//! ones, never rename.

use std::time::Duration;

/// `d` rounded up to whole milliseconds: how error messages show a wait. Two errors of one code whose
/// waits round to the same millisecond have the same message, so a binding may reuse the message of
/// the previous one (a rejected call is on a hot path).
pub fn whole_ms(d: Duration) -> Duration {
    let ms = d.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in dashfeed, each with a stable [`code`](Error::code).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input bytes are not valid for the format (bad marker, truncated, trailing bytes, bad UTF-8, ...).
    #[error("decode error: {0}")]
    Decode(String),
    /// A value cannot be represented in the requested format.
    #[error("encode error: {0}")]
    Encode(String),
    /// A value of a type dashfeed does not carry (for example a Python `set` or a JS function).
    #[error("unsupported type: {0}")]
    UnsupportedType(String),
    /// A size limit was crossed: `what` names the limit, `limit` is its value in bytes (or items).
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// Which limit (for example `"input"`, `"decompressed"`).
        what: &'static str,
        /// The configured limit.
        limit: usize,
    },
    /// Nesting deeper than the configured maximum.
    #[error("nesting deeper than the limit of {limit}")]
    TooDeep {
        /// The configured maximum depth.
        limit: usize,
    },
    /// An argument is out of its domain (non-finite value, empty or over-long name, bad option, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The circuit breaker is open; the next trial call is allowed after `retry_after` (the message
    /// shows it rounded up to whole milliseconds).
    #[error("circuit open; next trial in {:?}", whole_ms(*.retry_after))]
    CircuitOpen {
        /// Time until the breaker lets a trial call through.
        retry_after: Duration,
    },
    /// A rate limit was hit; the call may be retried after `retry_after` (the message shows it rounded
    /// up to whole milliseconds).
    #[error("rate limited; retry in {:?}", whole_ms(*.retry_after))]
    RateLimited {
        /// Time until a call would be allowed.
        retry_after: Duration,
    },
    /// A subscriber did not keep up and its policy is to disconnect.
    #[error("slow consumer: subscription queue full")]
    SlowConsumer,
    /// The object (subscription, server, connector) is closed.
    #[error("closed")]
    Closed,
    /// An operation did not finish in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// An I/O error (socket, file).
    #[error("i/o error: {0}")]
    Io(String),
    /// A bug: an invariant did not hold. Never expected; reported instead of panicking.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Every code a dashfeed error can carry, for bindings and documentation.
    pub const CODES: &'static [&'static str] = &[
        "decode_error",
        "encode_error",
        "unsupported_type",
        "too_large",
        "too_deep",
        "invalid_input",
        "circuit_open",
        "rate_limited",
        "slow_consumer",
        "closed",
        "timeout",
        "io_error",
        "internal",
    ];

    /// The stable snake_case code of this error, identical in Rust, Python and Node.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Decode(_) => "decode_error",
            Error::Encode(_) => "encode_error",
            Error::UnsupportedType(_) => "unsupported_type",
            Error::TooLarge { .. } => "too_large",
            Error::TooDeep { .. } => "too_deep",
            Error::InvalidInput(_) => "invalid_input",
            Error::CircuitOpen { .. } => "circuit_open",
            Error::RateLimited { .. } => "rate_limited",
            Error::SlowConsumer => "slow_consumer",
            Error::Closed => "closed",
            Error::Timeout(_) => "timeout",
            Error::Io(_) => "io_error",
            Error::Internal(_) => "internal",
        }
    }

    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidInput(msg.into())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_show_in_whole_milliseconds_rounded_up() {
        let open = |nanos| Error::CircuitOpen {
            retry_after: Duration::from_nanos(nanos),
        };
        assert_eq!(
            open(20_000_000_000).to_string(),
            "circuit open; next trial in 20s"
        );
        assert_eq!(
            open(3_599_999_812_345).to_string(),
            "circuit open; next trial in 3600s"
        );
        assert_eq!(
            open(1_234_000_001).to_string(),
            "circuit open; next trial in 1.235s"
        );
        assert_eq!(open(1).to_string(), "circuit open; next trial in 1ms");
        assert_eq!(open(0).to_string(), "circuit open; next trial in 0ns");
        let limited = Error::RateLimited {
            retry_after: Duration::from_micros(99_500),
        };
        assert_eq!(limited.to_string(), "rate limited; retry in 100ms");
        assert_eq!(whole_ms(Duration::MAX), Duration::from_millis(u64::MAX));
    }

    #[test]
    fn codes_are_unique_snake_case_and_listed() {
        let all = [
            Error::Decode(String::new()),
            Error::Encode(String::new()),
            Error::UnsupportedType(String::new()),
            Error::TooLarge {
                what: "input",
                limit: 1,
            },
            Error::TooDeep { limit: 1 },
            Error::InvalidInput(String::new()),
            Error::CircuitOpen {
                retry_after: Duration::ZERO,
            },
            Error::RateLimited {
                retry_after: Duration::ZERO,
            },
            Error::SlowConsumer,
            Error::Closed,
            Error::Timeout(Duration::ZERO),
            Error::Io(String::new()),
            Error::Internal(String::new()),
        ];
        let codes: Vec<_> = all.iter().map(Error::code).collect();
        assert_eq!(codes, Error::CODES);
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), codes.len());
        for c in codes {
            assert!(
                c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{c}"
            );
        }
    }
}
