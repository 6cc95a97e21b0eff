//! JWT authentication (the `jsonwebtoken` crate): [`AuthConfig`] and its key, the [`Verifier`] built
//! from it, the [`Grant`] a valid token gives (subject, dashboard patterns, expiry), and where a request
//! carries its token.
//!
//! Rules: one algorithm per key (HS256 for a secret, RS256 for an RSA public key, ES256 for a P-256
//! public key), so `alg: none` and algorithm confusion (an HS256 token "signed" with the RSA public
//! key) are refused; `exp` is required and must be a number; `nbf` is checked when present; a configured
//! issuer or audience makes `iss` / `aud` required (one value, or a list holding it). The optional
//! `dashboards` claim (a list of patterns, or one pattern) limits which dashboards the token opens;
//! `*` in a pattern matches any run of characters. Without the claim every dashboard is allowed.

use crate::error::{Error, Result};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Prefix of the WebSocket subprotocol entry that carries a token: `dashfeed.token.<jwt>`.
pub const TOKEN_PROTOCOL_PREFIX: &str = "dashfeed.token.";

/// The key that verifies token signatures, and with it the one accepted algorithm.
#[derive(Clone, PartialEq, Eq)]
pub enum JwtKey {
    /// HS256 with this shared secret.
    Hs256Secret(Vec<u8>),
    /// RS256 with this RSA public key (PEM: `PUBLIC KEY` or `RSA PUBLIC KEY`).
    Rs256PublicPem(String),
    /// ES256 with this P-256 public key (PEM: `PUBLIC KEY`).
    Es256PublicPem(String),
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtKey::Hs256Secret(_) => f.write_str("Hs256Secret(<redacted>)"),
            JwtKey::Rs256PublicPem(_) => f.write_str("Rs256PublicPem(..)"),
            JwtKey::Es256PublicPem(_) => f.write_str("Es256PublicPem(..)"),
        }
    }
}

/// JWT settings of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Signature key (and algorithm).
    pub key: JwtKey,
    /// Clock skew allowed on `exp` and `nbf`. Default 0.
    pub leeway: Duration,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud` (one of the token's audiences), when set.
    pub audience: Option<String>,
}

impl AuthConfig {
    /// HS256 with a shared secret.
    pub fn hs256(secret: impl AsRef<[u8]>) -> Self {
        AuthConfig::with_key(JwtKey::Hs256Secret(secret.as_ref().to_vec()))
    }

    /// RS256 with an RSA public key in PEM.
    pub fn rs256_pem(public_key_pem: impl Into<String>) -> Self {
        AuthConfig::with_key(JwtKey::Rs256PublicPem(public_key_pem.into()))
    }

    /// ES256 with a P-256 public key in PEM.
    pub fn es256_pem(public_key_pem: impl Into<String>) -> Self {
        AuthConfig::with_key(JwtKey::Es256PublicPem(public_key_pem.into()))
    }

    fn with_key(key: JwtKey) -> Self {
        AuthConfig {
            key,
            leeway: Duration::ZERO,
            issuer: None,
            audience: None,
        }
    }

    /// Checks the key (a non-empty secret, a parsable PEM).
    pub fn validate(&self) -> Result<()> {
        Verifier::new(self).map(|_| ())
    }
}

/// What a valid token allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// The token's `sub`, if any.
    pub subject: Option<String>,
    /// The `dashboards` patterns; `None` allows every dashboard.
    pub patterns: Option<Vec<String>>,
    /// `exp` plus the leeway, in seconds since the Unix epoch.
    pub expires_at: f64,
}

impl Grant {
    /// Whether the token opens `dashboard`.
    pub fn allows(&self, dashboard: &str) -> bool {
        match &self.patterns {
            None => true,
            Some(patterns) => patterns.iter().any(|p| glob_match(p, dashboard)),
        }
    }

    /// Time left before the token expires (zero once expired; `Duration::MAX` for an `exp` too far
    /// away to represent).
    pub fn remaining(&self) -> Duration {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let left = self.expires_at - now;
        if left.is_nan() || left <= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(left).unwrap_or(Duration::MAX)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Patterns {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    exp: f64,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    dashboards: Option<Patterns>,
}

/// Verifies tokens against one [`AuthConfig`].
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    leeway: f64,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Parses the key; `invalid_input` on an empty secret or a bad PEM.
    pub fn new(config: &AuthConfig) -> Result<Self> {
        let bad_pem = |e: jsonwebtoken::errors::Error| Error::invalid(format!("auth key: {e}"));
        let (key, alg) = match &config.key {
            JwtKey::Hs256Secret(secret) => {
                if secret.is_empty() {
                    return Err(Error::invalid("auth secret must not be empty"));
                }
                (DecodingKey::from_secret(secret), Algorithm::HS256)
            }
            JwtKey::Rs256PublicPem(pem) => (
                DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(bad_pem)?,
                Algorithm::RS256,
            ),
            JwtKey::Es256PublicPem(pem) => (
                DecodingKey::from_ec_pem(pem.as_bytes()).map_err(bad_pem)?,
                Algorithm::ES256,
            ),
        };
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        // jsonwebtoken checks `iss` / `aud` only when the token has them in a form it parses: a
        // configured issuer or audience must also be a required claim, or a token without it (or with
        // a number there) would pass.
        let mut required = vec!["exp"];
        if config.issuer.is_some() {
            required.push("iss");
        }
        if config.audience.is_some() {
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = config.leeway.as_secs();
        validation.validate_aud = config.audience.is_some();
        if let Some(aud) = &config.audience {
            validation.set_audience(&[aud]);
        }
        if let Some(iss) = &config.issuer {
            validation.set_issuer(&[iss]);
        }
        Ok(Verifier {
            key,
            validation,
            leeway: config.leeway.as_secs_f64(),
        })
    }

    /// Checks `token` (signature, algorithm, `exp`, `nbf`, issuer, audience) and returns its grant.
    /// The error message says why a token was refused; it is never the token itself.
    pub fn verify(&self, token: &str) -> Result<Grant> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| Error::invalid(format!("token refused: {e}")))?;
        let claims = data.claims;
        if !claims.exp.is_finite() {
            return Err(Error::invalid("token refused: exp is not a number"));
        }
        let patterns = claims.dashboards.map(|p| match p {
            Patterns::One(p) => vec![p],
            Patterns::Many(v) => v,
        });
        Ok(Grant {
            subject: claims.sub,
            patterns,
            expires_at: claims.exp + self.leeway,
        })
    }
}

/// Where a request carries its token, in order of precedence: `Authorization: Bearer <jwt>`, a
/// `dashfeed.token.<jwt>` entry of `Sec-WebSocket-Protocol`, then the `token` query parameter.
pub(crate) fn find_token(headers: &http::HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION) {
        if let Ok(v) = v.to_str() {
            let v = v.trim();
            if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
                return Some(v[7..].trim().to_owned());
            }
        }
    }
    for v in headers.get_all(http::header::SEC_WEBSOCKET_PROTOCOL) {
        let Ok(v) = v.to_str() else { continue };
        for p in v.split(',') {
            if let Some(t) = p.trim().strip_prefix(TOKEN_PROTOCOL_PREFIX) {
                return Some(t.to_owned());
            }
        }
    }
    query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    })
}

/// Matches `text` against `pattern`, where `*` stands for any run of characters (possibly empty) and
/// every other character for itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns() {
        for (p, t, ok) in [
            ("*", "anything", true),
            ("*", "", true),
            ("ops", "ops", true),
            ("ops", "ops2", false),
            ("team-*", "team-a", true),
            ("team-*", "team-", true),
            ("team-*", "teams", false),
            ("*-prod", "eu-prod", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("", "", true),
            ("", "x", false),
        ] {
            assert_eq!(glob_match(p, t), ok, "{p} vs {t}");
        }
    }

    #[test]
    fn token_sources_in_order() {
        let mut h = http::HeaderMap::new();
        assert_eq!(
            find_token(&h, Some("a=1&token=q.r.s")).as_deref(),
            Some("q.r.s")
        );
        h.insert(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            http::HeaderValue::from_static("dashfeed.v1.json, dashfeed.token.p.p.p"),
        );
        assert_eq!(find_token(&h, Some("token=q")).as_deref(), Some("p.p.p"));
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer  h.h.h "),
        );
        assert_eq!(find_token(&h, None).as_deref(), Some("h.h.h"));
    }

    /// Found by the jwt_verify fuzz target (seed `bug-iss-not-utf8`): a token whose `iss` is missing,
    /// or is not a string, passed a verifier that requires an issuer; the same for `aud`.
    #[test]
    fn a_configured_issuer_or_audience_is_required() {
        use jsonwebtoken::{encode, EncodingKey, Header};
        let exp = 4_102_444_800u64; // 2100-01-01
        let sign = |claims: &serde_json::Value| {
            encode(&Header::default(), claims, &EncodingKey::from_secret(b"k")).unwrap()
        };
        let mut cfg = AuthConfig::hs256("k");
        cfg.issuer = Some("iss-a".into());
        cfg.audience = Some("aud-a".into());
        let v = Verifier::new(&cfg).unwrap();
        let ok = serde_json::json!({"exp": exp, "iss": "iss-a", "aud": ["x", "aud-a"]});
        assert!(v.verify(&sign(&ok)).is_ok());
        for bad in [
            serde_json::json!({"exp": exp, "aud": "aud-a"}),
            serde_json::json!({"exp": exp, "iss": 7, "aud": "aud-a"}),
            serde_json::json!({"exp": exp, "iss": "iss-b", "aud": "aud-a"}),
            serde_json::json!({"exp": exp, "iss": "iss-a"}),
            serde_json::json!({"exp": exp, "iss": "iss-a", "aud": {"a": 1}}),
            serde_json::json!({"exp": exp, "iss": "iss-a", "aud": "aud-b"}),
        ] {
            let err = v.verify(&sign(&bad)).unwrap_err();
            assert_eq!(err.code(), "invalid_input", "{bad}");
        }
        // Without them configured, tokens need neither.
        let open = Verifier::new(&AuthConfig::hs256("k")).unwrap();
        assert!(open.verify(&sign(&serde_json::json!({"exp": exp}))).is_ok());
    }

    #[test]
    fn bad_keys_are_invalid_input() {
        assert_eq!(
            AuthConfig::hs256("").validate().unwrap_err().code(),
            "invalid_input"
        );
        assert_eq!(
            AuthConfig::rs256_pem("not a pem")
                .validate()
                .unwrap_err()
                .code(),
            "invalid_input"
        );
        AuthConfig::hs256("s3cret").validate().unwrap();
    }
}
