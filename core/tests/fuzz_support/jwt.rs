//! Building the tokens that the JWT target verifies: any header and claims bytes, base64url-encoded and
//! signed with the target's HS256 secret, so that fuzzed headers and claims get past the signature check
//! and reach the claim handling of `Verifier::verify`.

use dashfeed::server::AuthConfig;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// The HS256 secret of the fuzzed verifier.
pub const SECRET: &[u8] = b"fuzz-secret";

/// Unpadded base64url (RFC 4648 §5), as JWT segments are written.
pub fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

/// `b64url(header).b64url(claims).signature`, signed with HS256 and [`SECRET`] whatever the header
/// says (a header naming another algorithm must still be refused).
pub fn token(header: &[u8], claims: &[u8]) -> String {
    let message = format!("{}.{}", b64url(header), b64url(claims));
    let key = EncodingKey::from_secret(SECRET);
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256)
        .unwrap_or_else(|e| panic!("HS256 signing failed: {e}"));
    format!("{message}.{signature}")
}

/// The top-level fields `names` of a JSON object (null when absent), every other field skipped unread
/// as jsonwebtoken skips the claims it does not check (so a lone surrogate or a bad byte there does not
/// matter). Invalid UTF-8 is read lossily: a bad byte in a named field still fails a comparison.
pub fn fields(json: &[u8], names: &[&str]) -> Result<Vec<Value>, String> {
    struct Fields(Vec<String>);
    impl<'de> Visitor<'de> for Fields {
        type Value = Vec<Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Value>, A::Error> {
            let mut out = vec![Value::Null; self.0.len()];
            while let Some(key) = map.next_key::<String>()? {
                match self.0.iter().position(|n| !n.is_empty() && *n == key) {
                    Some(i) => out[i] = map.next_value()?,
                    None => drop(map.next_value::<IgnoredAny>()?),
                }
            }
            Ok(out)
        }
    }
    let text = String::from_utf8_lossy(json);
    serde_json::Deserializer::from_str(&text)
        .deserialize_map(Fields(names.iter().map(|n| n.to_string()).collect()))
        .map_err(|e| e.to_string())
}

/// Checks the header and claims of a token the verifier accepted: alg HS256, a numeric `exp`, and the
/// configured issuer and audience (matched as jsonwebtoken matches them: the value, or one entry of a
/// list).
pub fn check_accepted(cfg: &AuthConfig, header: &[u8], claims: &[u8]) {
    let header = fields(header, &["alg"])
        .unwrap_or_else(|e| panic!("accepted a header that is not a JSON object: {e}"));
    assert_eq!(header[0], "HS256", "accepted alg {}", header[0]);
    // Only the claims the verifier checks: another one may hold anything it skips.
    let iss = if cfg.issuer.is_some() { "iss" } else { "" };
    let aud = if cfg.audience.is_some() { "aud" } else { "" };
    let claims = fields(claims, &["exp", iss, aud])
        .unwrap_or_else(|e| panic!("accepted claims that are not a JSON object: {e}"));
    assert!(claims[0].is_number(), "accepted exp {}", claims[0]);
    let names = |claim: &Value, want: &str| {
        claim == want
            || claim
                .as_array()
                .is_some_and(|l| l.iter().any(|v| v == want))
    };
    if let Some(iss) = &cfg.issuer {
        assert!(names(&claims[1], iss), "accepted iss {}", claims[1]);
    }
    if let Some(aud) = &cfg.audience {
        assert!(names(&claims[2], aud), "accepted aud {}", claims[2]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64url(plain.as_bytes()), coded);
        }
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    }
}
