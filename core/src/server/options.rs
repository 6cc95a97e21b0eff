//! [`ServerConfig::from_value`] and [`AuthConfig::from_value`]: the options of `Server(hub, ...)` /
//! `new Server(hub, options)` and of `Auth(...)`, read once here (names, defaults, ranges, messages;
//! see [`crate::options`] for key spelling and units).
//!
//! Server options (snake_case; Node spells them camelCase, durations in ms instead of seconds):
//! `host` (default `"127.0.0.1"`), `port` (default 0: any free port), `auth` (below),
//! `allowed_origins`, `max_connections` (10 000), `max_message_bytes` (65 536, also the frame cap),
//! `ping_interval` (20 s), `idle_timeout` (60 s), `write_delay` (0, at most 1 s), `message_rate` and
//! `ingest_rate` (pairs `[calls per second, burst]`, default 50/100 and 1000/2000), `policy`,
//! `queue`, `queue_bytes` (default: the hub's), `static_dir`, and `tls_cert` with `tls_key`.
//!
//! Auth options: `secret` (HS256, text or bytes) or `public_key` (PEM) with `algorithm` (`"RS256"`,
//! the default, or `"ES256"`), and optional `issuer`, `audience` and `leeway` (a duration).

use super::auth::AuthConfig;
use super::config::{ServerConfig, TlsConfig};
use crate::codec::Value;
use crate::error::{Error, Result};
use crate::limit::LimiterConfig;
use crate::options::{FromOptions, KeyCase, Options, Style};
use std::path::PathBuf;

const SERVER_KEYS: [&str; 17] = [
    "host",
    "port",
    "auth",
    "allowed_origins",
    "max_connections",
    "max_message_bytes",
    "ping_interval",
    "idle_timeout",
    "write_delay",
    "message_rate",
    "ingest_rate",
    "policy",
    "queue",
    "queue_bytes",
    "static_dir",
    "tls_cert",
    "tls_key",
];

const AUTH_KEYS: [&str; 6] = [
    "secret",
    "public_key",
    "algorithm",
    "issuer",
    "audience",
    "leeway",
];

/// A rate option: a pair (calls per second, burst) with a whole burst of at least 1.
fn rate(o: &Options<'_>, name: &str) -> Result<Option<LimiterConfig>> {
    let Some(v) = o.get(name) else {
        return Ok(None);
    };
    if let Value::Array(pair) = v {
        if let [r, b] = pair.as_slice() {
            if let (Some(r), Some(b)) = (r.as_f64(), b.as_f64()) {
                if b >= 1.0 && b.fract() == 0.0 && b <= f64::from(u32::MAX) {
                    return Ok(Some(LimiterConfig::new(r, b as u32)));
                }
            }
        }
    }
    let shape = match o.style().keys {
        KeyCase::Snake => "(per_second, burst)",
        KeyCase::Camel => "[perSecond, burst]",
    };
    Err(Error::invalid(format!("{} must be {shape}", o.key(name))))
}

impl FromOptions for AuthConfig {
    /// Reads and checks JWT settings (see the module docs).
    fn from_value_with(v: &Value, style: Style, warn: &mut dyn FnMut(&str, f64)) -> Result<Self> {
        let o = Options::new(v, "auth", style, &AUTH_KEYS)?;
        let config = read_auth(&o, warn)?;
        config.validate()?;
        Ok(config)
    }
}

fn read_auth(o: &Options<'_>, warn: &mut dyn FnMut(&str, f64)) -> Result<AuthConfig> {
    let secret = match o.get("secret") {
        None => None,
        Some(Value::Str(s)) => Some(s.as_bytes()),
        Some(Value::Bin(b)) => Some(b.as_slice()),
        Some(_) => {
            return Err(Error::invalid(format!(
                "{} must be a string or bytes",
                o.key("secret")
            )))
        }
    };
    let mut cfg = match (secret, o.string("public_key")?) {
        (Some(s), None) => AuthConfig::hs256(s),
        (None, Some(pem)) => {
            match o
                .string("algorithm")?
                .unwrap_or("RS256")
                .to_ascii_uppercase()
                .as_str()
            {
                "RS256" => AuthConfig::rs256_pem(pem),
                "ES256" => AuthConfig::es256_pem(pem),
                other => {
                    return Err(Error::invalid(format!(
                        "unsupported JWT algorithm {other:?}"
                    )))
                }
            }
        }
        _ => {
            return Err(Error::invalid(format!(
                "auth needs either {} (HS256) or {} (RS256/ES256)",
                o.key("secret"),
                o.key("public_key")
            )))
        }
    };
    cfg.issuer = o.string("issuer")?.map(str::to_owned);
    cfg.audience = o.string("audience")?.map(str::to_owned);
    if let Some(l) = o.duration("leeway", warn)? {
        cfg.leeway = l;
    }
    Ok(cfg)
}

impl FromOptions for ServerConfig {
    /// Reads the server's options (see the module docs), starting from
    /// [`ServerConfig::ephemeral`] (port 0).
    fn from_value_with(v: &Value, style: Style, warn: &mut dyn FnMut(&str, f64)) -> Result<Self> {
        let o = Options::new(v, "Server options", style, &SERVER_KEYS)?;
        let d = ServerConfig::ephemeral();
        let path = |name: &str| Ok::<_, Error>(o.string(name)?.map(PathBuf::from));
        let tls = match (path("tls_cert")?, path("tls_key")?) {
            (Some(cert_pem_path), Some(key_pem_path)) => Some(TlsConfig {
                cert_pem_path,
                key_pem_path,
            }),
            (None, None) => None,
            _ => {
                return Err(Error::invalid(format!(
                    "{} and {} go together",
                    o.key("tls_cert"),
                    o.key("tls_key")
                )))
            }
        };
        let port = match o.count("port", u32::MAX.into())? {
            None => d.port,
            Some(p) => {
                u16::try_from(p).map_err(|_| Error::invalid("port must be at most 65535"))?
            }
        };
        let auth = match o.nested("auth", &AUTH_KEYS)? {
            Some(a) => Some(read_auth(&a, warn)?),
            None => None,
        };
        let max_message = o.size("max_message_bytes")?.unwrap_or(d.max_message_bytes);
        let config = ServerConfig {
            host: o.string("host")?.map_or(d.host.clone(), str::to_owned),
            port,
            auth,
            allowed_origins: o.strings("allowed_origins")?,
            max_connections: o.size("max_connections")?.unwrap_or(d.max_connections),
            max_message_bytes: max_message,
            max_frame_bytes: max_message,
            ping_interval: o
                .duration("ping_interval", warn)?
                .unwrap_or(d.ping_interval),
            idle_timeout: o.duration("idle_timeout", warn)?.unwrap_or(d.idle_timeout),
            write_delay: o.duration("write_delay", warn)?.unwrap_or(d.write_delay),
            message_rate: rate(&o, "message_rate")?.unwrap_or(d.message_rate.clone()),
            ingest_rate: rate(&o, "ingest_rate")?.unwrap_or(d.ingest_rate.clone()),
            policy: o.string("policy")?.map(str::parse).transpose()?,
            queue_messages: o.size("queue")?,
            queue_bytes: o.size("queue_bytes")?,
            static_dir: path("static_dir")?,
            tls,
            ..d
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::tests::map;
    use std::time::Duration;

    #[test]
    fn both_styles_build_the_same_server() {
        let py = map(&[
            ("ping_interval", Value::Float(5.0)),
            (
                "message_rate",
                Value::Array(vec![10.0.into(), 20i64.into()]),
            ),
            ("auth", map(&[("secret", Value::Bin(b"k".to_vec()))])),
        ]);
        let node = map(&[
            ("pingInterval", Value::Int(5000)),
            (
                "messageRate",
                Value::Array(vec![10i64.into(), 20i64.into()]),
            ),
            ("auth", map(&[("secret", Value::from("k"))])),
        ]);
        let a = ServerConfig::from_value(&py, Style::PYTHON).unwrap();
        let b = ServerConfig::from_value(&node, Style::NODE).unwrap();
        assert_eq!(a.ping_interval, Duration::from_secs(5));
        assert_eq!((a.port, b.port), (0, 0));
        assert_eq!(a.message_rate, b.message_rate);
        assert_eq!(format!("{:?}", a.auth), format!("{:?}", b.auth));
    }

    #[test]
    fn bad_options_name_the_users_key() {
        let cases = [
            (map(&[("tlsCert", Value::from("/x"))]), "tlsCert and tlsKey"),
            (map(&[("port", Value::Int(70_000))]), "port must be at most"),
            (map(&[("writeDelay", Value::Int(1500))]), "write_delay"),
            (
                map(&[("ingestRate", Value::Array(vec![1i64.into()]))]),
                "ingestRate",
            ),
            (map(&[("auth", map(&[]))]), "secret (HS256) or publicKey"),
        ];
        for (v, text) in cases {
            let e = ServerConfig::from_value(&v, Style::NODE).unwrap_err();
            assert_eq!(e.code(), "invalid_input");
            assert!(e.to_string().contains(text), "{e}");
        }
    }
}
