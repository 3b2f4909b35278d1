//! The public JWK of a key (RFC 7517/7518, RFC 8037 for OKP): the members
//! that carry the public key, the published object (with `kid`, `alg`,
//! `use`), and the RFC 7638 thumbprint that is the `kid`.
//!
//! Not here: reading the public key out of a private one (the family
//! loaders) or serving the JWK Set (routes).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

/// The required public members of a JWK (RFC 7638 §3.2), sorted by name.
pub(super) type Members = Vec<(&'static str, String)>;

/// An EC public key: `crv`, `kty`, `x`, `y` (RFC 7518 §6.2.1).
pub(super) fn ec(crv: &str, x: &[u8], y: &[u8]) -> Members {
    vec![
        ("crv", crv.to_string()),
        ("kty", "EC".to_string()),
        ("x", URL_SAFE_NO_PAD.encode(x)),
        ("y", URL_SAFE_NO_PAD.encode(y)),
    ]
}

/// An Ed25519 public key: `crv`, `kty`, `x` (RFC 8037 §2).
pub(super) fn ed25519(public: &[u8]) -> Members {
    vec![
        ("crv", "Ed25519".to_string()),
        ("kty", "OKP".to_string()),
        ("x", URL_SAFE_NO_PAD.encode(public)),
    ]
}

/// An RSA public key: `e`, `kty`, `n` (RFC 7518 §6.3.1), unsigned big-endian.
pub(super) fn rsa(n: &[u8], e: &[u8]) -> Members {
    vec![
        ("e", URL_SAFE_NO_PAD.encode(e)),
        ("kty", "RSA".to_string()),
        ("n", URL_SAFE_NO_PAD.encode(n)),
    ]
}

/// The JWK as published: the public members, `kid`, `alg` and `use: sig`.
pub(super) fn published(members: &[(&str, String)], kid: &str, alg: &str) -> Value {
    let mut jwk = Map::new();
    for (name, value) in members {
        jwk.insert(name.to_string(), Value::String(value.clone()));
    }
    jwk.insert("kid".into(), Value::String(kid.into()));
    jwk.insert("alg".into(), Value::String(alg.into()));
    jwk.insert("use".into(), Value::String("sig".into()));
    Value::Object(jwk)
}

pub use crate::jose::jwk::thumbprint;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1: the example RSA key.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let members = vec![
            ("e", "AQAB".to_string()),
            ("kty", "RSA".to_string()),
            ("n", n.to_string()),
        ];
        assert_eq!(
            thumbprint(&members),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rfc8037_ed25519_thumbprint() {
        // RFC 8037 Appendix A.3.
        let public = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        assert_eq!(
            thumbprint(&ed25519(&public)),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
