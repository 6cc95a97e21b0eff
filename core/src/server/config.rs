//! [`ServerConfig`]: every setting of the feed server, with its defaults and [`ServerConfig::validate`],
//! and [`TlsConfig`]. Everything is a plain value (strings, numbers, paths, durations) so that the
//! bindings can build it field by field.

use super::auth::AuthConfig;
use super::ingest::Ingest;
use crate::error::{Error, Result};
use crate::hub::Policy;
use crate::limit::LimiterConfig;
use crate::metrics::{HealthCheck, Metrics};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Certificate and private key files (PEM) for HTTPS / WSS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain, leaf first (PEM, one or more `CERTIFICATE` blocks).
    pub cert_pem_path: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_pem_path: PathBuf,
}

/// Settings of a [`Server`](super::Server). `Default` gives the documented defaults.
#[derive(Clone)]
pub struct ServerConfig {
    /// Interface to bind. Default `"127.0.0.1"`.
    pub host: String,
    /// Port to bind; 0 picks a free one. Default 8080.
    pub port: u16,
    /// Most open streaming connections (WebSocket + SSE); further upgrades get 503. Default 10 000.
    pub max_connections: usize,
    /// Most open TCP connections (streaming or not); further sockets are closed at once. `None`
    /// (the default) means `max_connections + 1024`; a value must be at least `max_connections`.
    pub max_sockets: Option<usize>,
    /// Largest client WebSocket message, in bytes (bigger: close 1009). Default 64 KiB.
    pub max_message_bytes: usize,
    /// Largest client WebSocket frame payload, in bytes (bigger: close 1009). Default 64 KiB.
    pub max_frame_bytes: usize,
    /// Most request headers (more: 431). Default 100.
    pub max_headers: usize,
    /// Largest request head (request line + headers), in bytes (bigger: 431). Default 16 KiB.
    pub max_header_bytes: usize,
    /// Largest `POST /api/events` body, in bytes, before and after gzip (bigger: 413). Default 1 MiB.
    pub max_body_bytes: usize,
    /// Most dashboards one WebSocket connection subscribes to at once. Default 64.
    pub max_subscriptions: usize,
    /// WebSocket ping (and SSE keep-alive comment) period. Default 20 s.
    pub ping_interval: Duration,
    /// A WebSocket client that sends nothing (not even a pong) for this long is closed (4408).
    /// Default 60 s.
    pub idle_timeout: Duration,
    /// Time allowed to receive a request head, a TLS handshake, and an ingest body. Default 10 s.
    pub header_read_timeout: Duration,
    /// Time allowed for a closing handshake (and for flushing the close frame). Default 5 s.
    pub close_timeout: Duration,
    /// Hold a WebSocket connection's hub messages up to this long after the first one is ready, so
    /// that what arrives meanwhile goes out in the same socket write (Centrifugo's `write_delay`):
    /// fewer writes per delivery at the price of this much latency. Replies (acks, errors, pongs) are
    /// not delayed. Zero (the default) writes as soon as a message is ready; at most 1 s.
    pub write_delay: Duration,
    /// JWT authentication; `None` turns it off (the demo). Default `None`.
    pub auth: Option<AuthConfig>,
    /// Allowed `Origin` values (for example `"https://dash.example.com"`), compared without case;
    /// `"*"` or `None` allows any. Requests without an `Origin` header (non-browser clients) are
    /// allowed.
    pub allowed_origins: Option<Vec<String>>,
    /// Client messages per WebSocket connection. Default 50/s with bursts of 100.
    pub message_rate: LimiterConfig,
    /// Consecutive over-rate messages answered with a `rate_limited` error; the next one closes the
    /// connection (4029). Default 20.
    pub rate_limit_close_after: u32,
    /// Consecutive malformed messages answered with an error; the next one closes the connection
    /// (1008). Default 32.
    pub max_invalid_messages: u32,
    /// Ingested events per dashboard. Default 1000/s with bursts of 2000.
    pub ingest_rate: LimiterConfig,
    /// Slow-consumer policy of the server's subscriptions; `None` takes the hub's.
    pub policy: Option<Policy>,
    /// Queue cap per subscription, in messages; `None` takes the hub's.
    pub queue_messages: Option<usize>,
    /// Queue cap per subscription, in bytes; `None` takes the hub's.
    pub queue_bytes: Option<usize>,
    /// Directory served at `/` (its `index.html`) and below. Default `None` (no static files).
    pub static_dir: Option<PathBuf>,
    /// HTTPS / WSS with these files. Default `None` (plain TCP).
    pub tls: Option<TlsConfig>,
    /// Where `POST /api/events` sends events; `None` publishes each into the hub.
    pub ingest: Option<Arc<dyn Ingest>>,
    /// Links reported by `/healthz` (503 while one is down), added to the metrics' health registry
    /// at start. With shared `metrics`, register links there instead ([`Metrics::register_health`])
    /// so that they are not listed twice.
    pub health: Vec<Arc<dyn HealthCheck>>,
    /// Metrics to record into, shared with a pipeline: its owner watches the hub
    /// ([`Metrics::watch_hub`]). `None` creates the server's own, which watches the server's hub.
    pub metrics: Option<Arc<Metrics>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 8080,
            max_connections: 10_000,
            max_sockets: None,
            max_message_bytes: 64 << 10,
            max_frame_bytes: 64 << 10,
            max_headers: 100,
            max_header_bytes: 16 << 10,
            max_body_bytes: 1 << 20,
            max_subscriptions: 64,
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            write_delay: Duration::ZERO,
            auth: None,
            allowed_origins: None,
            message_rate: LimiterConfig::new(50.0, 100),
            rate_limit_close_after: 20,
            max_invalid_messages: 32,
            ingest_rate: LimiterConfig::new(1000.0, 2000),
            policy: None,
            queue_messages: None,
            queue_bytes: None,
            static_dir: None,
            tls: None,
            ingest: None,
            health: Vec::new(),
            metrics: None,
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("max_connections", &self.max_connections)
            .field("max_sockets", &self.max_sockets)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("max_headers", &self.max_headers)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_subscriptions", &self.max_subscriptions)
            .field("ping_interval", &self.ping_interval)
            .field("idle_timeout", &self.idle_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("close_timeout", &self.close_timeout)
            .field("write_delay", &self.write_delay)
            .field("auth", &self.auth)
            .field("allowed_origins", &self.allowed_origins)
            .field("message_rate", &self.message_rate)
            .field("ingest_rate", &self.ingest_rate)
            .field("policy", &self.policy)
            .field("static_dir", &self.static_dir)
            .field("tls", &self.tls)
            .field("ingest", &self.ingest.is_some())
            .field("health", &self.health.len())
            .finish_non_exhaustive()
    }
}

/// Longest accepted timer setting.
const MAX_TIMER: Duration = Duration::from_secs(24 * 3600);
/// Longest accepted `write_delay`.
const MAX_WRITE_DELAY: Duration = Duration::from_secs(1);

fn positive(what: &str, d: Duration) -> Result<()> {
    if d.is_zero() || d > MAX_TIMER {
        return Err(Error::invalid(format!(
            "{what} must be positive and at most 24 h, got {d:?}"
        )));
    }
    Ok(())
}

fn at_least(what: &str, value: usize, min: usize) -> Result<()> {
    if value < min {
        return Err(Error::invalid(format!(
            "{what} is {value}, it must be at least {min}"
        )));
    }
    Ok(())
}

impl ServerConfig {
    /// The defaults with `port` 0 (any free port): what tests and embedded servers use.
    pub fn ephemeral() -> Self {
        ServerConfig {
            port: 0,
            ..ServerConfig::default()
        }
    }

    /// Checks every range; errors with `invalid_input` naming the setting.
    pub fn validate(&self) -> Result<()> {
        if self.host.is_empty() {
            return Err(Error::invalid("host must not be empty"));
        }
        at_least("max_connections", self.max_connections, 1)?;
        if let Some(n) = self.max_sockets {
            at_least("max_sockets", n, self.max_connections)?;
        }
        at_least("max_message_bytes", self.max_message_bytes, 16)?;
        at_least("max_frame_bytes", self.max_frame_bytes, 16)?;
        at_least("max_headers", self.max_headers, 8)?;
        at_least("max_header_bytes", self.max_header_bytes, 1024)?;
        at_least("max_body_bytes", self.max_body_bytes, 64)?;
        at_least("max_subscriptions", self.max_subscriptions, 1)?;
        positive("ping_interval", self.ping_interval)?;
        positive("idle_timeout", self.idle_timeout)?;
        positive("header_read_timeout", self.header_read_timeout)?;
        positive("close_timeout", self.close_timeout)?;
        if self.write_delay > MAX_WRITE_DELAY {
            return Err(Error::invalid(format!(
                "write_delay must be at most 1 s, got {:?}",
                self.write_delay
            )));
        }
        if self.rate_limit_close_after == 0 {
            return Err(Error::invalid("rate_limit_close_after must be at least 1"));
        }
        if self.max_invalid_messages == 0 {
            return Err(Error::invalid("max_invalid_messages must be at least 1"));
        }
        self.message_rate
            .validate()
            .map_err(|e| Error::invalid(format!("message_rate: {e}")))?;
        self.ingest_rate
            .validate()
            .map_err(|e| Error::invalid(format!("ingest_rate: {e}")))?;
        if self.queue_messages == Some(0) || self.queue_bytes == Some(0) {
            return Err(Error::invalid("queue caps must be at least 1"));
        }
        if let Some(origins) = &self.allowed_origins {
            if origins.iter().any(|o| o.trim().is_empty()) {
                return Err(Error::invalid(
                    "allowed_origins must not contain empty values",
                ));
            }
        }
        if let Some(auth) = &self.auth {
            auth.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_the_setting() {
        ServerConfig::default().validate().unwrap();
        assert_eq!(ServerConfig::ephemeral().port, 0);
        let cases: Vec<(ServerConfig, &str)> = vec![
            (
                ServerConfig {
                    max_connections: 0,
                    ..ServerConfig::default()
                },
                "max_connections",
            ),
            (
                ServerConfig {
                    max_sockets: Some(5),
                    ..ServerConfig::default()
                },
                "max_sockets",
            ),
            (
                ServerConfig {
                    ping_interval: Duration::ZERO,
                    ..ServerConfig::default()
                },
                "ping_interval",
            ),
            (
                ServerConfig {
                    idle_timeout: Duration::MAX,
                    ..ServerConfig::default()
                },
                "idle_timeout",
            ),
            (
                ServerConfig {
                    message_rate: LimiterConfig::new(0.0, 1),
                    ..ServerConfig::default()
                },
                "message_rate",
            ),
            (
                ServerConfig {
                    queue_bytes: Some(0),
                    ..ServerConfig::default()
                },
                "queue caps",
            ),
            (
                ServerConfig {
                    host: String::new(),
                    ..ServerConfig::default()
                },
                "host",
            ),
        ];
        for (cfg, what) in cases {
            let err = cfg.validate().unwrap_err();
            assert_eq!(err.code(), "invalid_input");
            assert!(err.to_string().contains(what), "{err} should name {what}");
        }
    }
}
