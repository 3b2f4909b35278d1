//! RFC 9068 access tokens: `mint` builds the compact JWS by hand from parts
//! prebuilt per snapshot (the key's base64url header, the client's identity
//! and extra claims), so per token only the variable claims are written and
//! one signature is made. `verify` is the introspection side, through
//! jsonwebtoken with an explicit `Validation` pinned to the key's algorithm.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{decode, decode_header, Validation};
use serde_json::{Map, Value};

use crate::clients::Client;
use crate::keys::{Key, KeySet};

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("the system random generator failed")]
    Random,
    #[error("signing failed")]
    Sign,
}

/// The claims of one token that vary per request.
pub struct TokenClaims<'a> {
    /// JSON string of the issuer, prebuilt.
    pub issuer_json: &'a str,
    pub client: &'a Client,
    pub aud_json: &'a str,
    /// Already checked against the §3.3 grammar: needs no JSON escaping.
    pub scope: &'a str,
    pub now: u64,
    pub ttl: u64,
}

/// Signs a token with `key`. Claims order: iss, sub, client_id, aud, iat,
/// nbf, exp, jti, scope, then the client's extra claims.
pub fn mint(key: &Key, c: &TokenClaims<'_>) -> Result<String, MintError> {
    let mut jti = [0u8; 16]; // 128 bits (RFC 9068 §2.2 asks for uniqueness)
    crate::crypto::random_bytes(&mut jti).map_err(|_| MintError::Random)?;
    let mut claims = String::with_capacity(
        200 + c.issuer_json.len()
            + c.client.identity_json.len()
            + c.aud_json.len()
            + c.scope.len()
            + c.client.extra_claims_json.len(),
    );
    claims.push_str("{\"iss\":");
    claims.push_str(c.issuer_json);
    claims.push(',');
    claims.push_str(&c.client.identity_json);
    claims.push_str(",\"aud\":");
    claims.push_str(c.aud_json);
    let exp = c.now.saturating_add(c.ttl);
    let mut buf = itoa_buf();
    claims.push_str(",\"iat\":");
    claims.push_str(fmt_u64(&mut buf, c.now));
    claims.push_str(",\"nbf\":");
    claims.push_str(fmt_u64(&mut buf, c.now));
    claims.push_str(",\"exp\":");
    claims.push_str(fmt_u64(&mut buf, exp));
    claims.push_str(",\"jti\":\"");
    URL_SAFE_NO_PAD.encode_string(jti, &mut claims);
    claims.push_str("\",\"scope\":\"");
    claims.push_str(c.scope);
    claims.push('"');
    claims.push_str(&c.client.extra_claims_json);
    claims.push('}');

    let mut token = String::with_capacity(key.header_b64.len() + claims.len() * 4 / 3 + 700);
    token.push_str(&key.header_b64);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(claims.as_bytes(), &mut token);
    let signature = key
        .signer
        .sign(token.as_bytes())
        .map_err(|_| MintError::Sign)?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

/// Formats `n` in decimal into `buf` without allocating.
fn fmt_u64(buf: &mut [u8; 20], mut n: u64) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// Why a token is not active. Only for logs: introspection answers
/// `{"active": false}` whatever the reason (RFC 7662 §2.2).
#[derive(Debug, thiserror::Error)]
pub enum Inactive {
    #[error("malformed token: {0}")]
    Malformed(jsonwebtoken::errors::Error),
    #[error("typ is not at+jwt")]
    Typ,
    #[error("no kid, or a kid that is not published")]
    UnknownKid,
    #[error("alg does not match the key's algorithm")]
    Alg,
    #[error("invalid: {0}")]
    Invalid(jsonwebtoken::errors::Error),
    #[error("expired")]
    Expired,
}

/// Verifies a token this server signed, with a key it still publishes, that
/// has not expired at `now` (no leeway: inactive from its `exp` second on).
pub fn verify(
    keys: &KeySet,
    issuer: &str,
    token: &str,
    now: u64,
) -> Result<Map<String, Value>, Inactive> {
    let header = decode_header(token).map_err(Inactive::Malformed)?;
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(Inactive::Typ);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.get(kid))
        .ok_or(Inactive::UnknownKid)?;
    // The algorithm comes from the key, never from the token (RFC 8725 §3.1).
    if header.alg != key.alg {
        return Err(Inactive::Alg);
    }
    let mut validation = Validation::new(key.alg);
    validation.leeway = 0;
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    let data = decode::<Map<String, Value>>(token, &key.decoding, &validation)
        .map_err(Inactive::Invalid)?;
    let exp = data.claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    if now >= exp {
        return Err(Inactive::Expired);
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_like_display() {
        let mut buf = itoa_buf();
        for n in [0, 7, 10, 1_700_000_000, u64::MAX] {
            assert_eq!(fmt_u64(&mut buf, n), n.to_string());
        }
    }
}
