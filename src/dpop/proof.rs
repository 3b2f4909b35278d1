//! One DPoP proof (RFC 9449 §4.2-4.3), read and verified without state:
//! the header (`typ`, an asymmetric `alg` pinned to the `jwk` it carries,
//! a public key only), the signature by that key, and the claims (`jti`,
//! `htm`, `htu`, `iat` within the window). The `jti` replay check and the
//! nonce are the caller's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::jose::jwk::proof_key;
use crate::jose::parse_alg;

/// The longest proof read: RFC 9449 proofs are a few hundred bytes (an
/// RSA-4096 key makes about 1.5 KiB).
pub const MAX_PROOF: usize = 4096;
/// The longest `jti` kept.
const MAX_JTI: usize = 256;

/// A verified proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 thumbprint of the proof's key: the token's `cnf.jkt`.
    pub jkt: String,
    pub jti: String,
    pub iat: u64,
    pub nonce: Option<String>,
}

/// What the request must match.
pub struct Expected<'a> {
    /// The request's method (`POST` at the token endpoint).
    pub htm: &'a str,
    /// The normalised URL the request used (`htu::normalise`).
    pub htu: &'a str,
    pub now: u64,
    pub max_age: u64,
    pub leeway: u64,
}

/// Why a proof is invalid: the `error_description` (fixed text, never the
/// proof's content).
pub type Invalid = &'static str;

fn part(b64: &str, what: Invalid) -> Result<Map<String, Value>, Invalid> {
    let bytes = URL_SAFE_NO_PAD.decode(b64).map_err(|_| what)?;
    serde_json::from_slice(&bytes).map_err(|_| what)
}

/// Verifies `proof` against `expected`.
pub fn verify(proof: &str, expected: &Expected<'_>) -> Result<Proof, Invalid> {
    if proof.len() > MAX_PROOF {
        return Err("the DPoP proof is longer than 4096 bytes");
    }
    let mut parts = proof.split('.');
    let (Some(header), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the DPoP proof is not a JWS in compact form");
    };
    let header = part(header, "the DPoP proof header is not base64url JSON")?;
    if !header
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err("the DPoP proof typ must be dpop+jwt");
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(parse_alg)
        .ok_or("the DPoP proof alg must be one of ES256, ES384, EdDSA, PS256, RS256")?;
    if header.contains_key("crit") {
        return Err("the DPoP proof header has crit, and no extension is understood");
    }
    let jwk = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or("the DPoP proof header has no jwk object")?;
    let key = proof_key(jwk)
        .map_err(|_| "the DPoP proof jwk is not a usable public key (no private members)")?;
    if !key.algs.contains(&alg) {
        return Err("the DPoP proof alg does not match its jwk");
    }
    let validation = crate::token::signature_only(alg);
    jsonwebtoken::decode::<serde::de::IgnoredAny>(proof, &key.key, &validation)
        .map_err(|_| "the DPoP proof signature does not verify with its jwk")?;
    let claims = part(payload, "the DPoP proof payload is not base64url JSON")?;
    check_claims(&claims, expected, key.thumbprint)
}

fn check_claims(
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
    jkt: String,
) -> Result<Proof, Invalid> {
    let jti = match claims.get("jti") {
        Some(Value::String(j)) if !j.is_empty() && j.len() <= MAX_JTI => j.clone(),
        _ => return Err("the DPoP proof has no jti (a string of at most 256 characters)"),
    };
    if claims.get("htm").and_then(Value::as_str) != Some(expected.htm) {
        return Err("the DPoP proof htm is not the request's method");
    }
    let htu = claims
        .get("htu")
        .and_then(Value::as_str)
        .and_then(super::htu::normalise);
    if htu.as_deref() != Some(expected.htu) {
        return Err("the DPoP proof htu is not the URL of this endpoint");
    }
    let iat = match claims.get("iat") {
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        None => None,
    }
    .ok_or("the DPoP proof has no iat (a NumericDate)")?;
    if iat.saturating_add(expected.max_age) < expected.now {
        return Err("the DPoP proof is too old (iat)");
    }
    if iat > expected.now.saturating_add(expected.leeway) {
        return Err("the DPoP proof iat is in the future");
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err("the DPoP proof nonce is not a string"),
    };
    Ok(Proof {
        jkt,
        jti,
        iat,
        nonce,
    })
}
