//! RFC 9068 access tokens, written and read here only.
//!
//! Writing: every constant part of a token is prebuilt once per snapshot —
//! each key's base64url JOSE header and the issuer ([`Minter`]), each
//! client's identity, default audience and extra claims ([`ClientClaims`])
//! — so per token only the variable claims are serialized and one
//! signature is made (no key parsing, no JSON serializer).
//!
//! Reading: [`verify`] for introspection and [`validation`], the one
//! jsonwebtoken `Validation` setup that `inspect` shares.

use std::borrow::Cow;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
use serde_json::{Map, Value};

use crate::config::ClientSettings;
use crate::keys::{alg_name, Key, KeySet, Schedule};
use crate::scope::ScopeSet;

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("the system random generator failed")]
    Random,
    #[error("signing failed")]
    Sign,
}

/// What a token will say beyond the client's constant parts: decided by
/// the grant (`oauth::grant`), written here.
#[derive(Debug, PartialEq, Eq)]
pub struct Grant<'a> {
    /// The granted scopes (possibly none).
    pub scope: Cow<'a, ScopeSet>,
    pub ttl: u64,
    /// Requested audiences, all allowed; `None` means the client's default.
    pub audience: Option<&'a [String]>,
    /// The key the token is bound to (RFC 7800 `cnf`), if any.
    pub cnf: Option<Confirmation>,
}

/// What a bound token's `cnf` claim names (RFC 7800 §3.1): the thumbprint
/// of a DPoP key (RFC 9449 §6.1) and/or of a client certificate (RFC 8705
/// §3.1), each base64url.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub jkt: Option<String>,
    pub x5t_s256: Option<String>,
}

impl Confirmation {
    /// `{"jkt":…,"x5t#S256":…}`; both values are base64url, JSON-safe.
    fn json(&self) -> String {
        let members: Vec<String> = [("jkt", &self.jkt), ("x5t#S256", &self.x5t_s256)]
            .into_iter()
            .filter_map(|(name, value)| Some(format!("\"{name}\":\"{}\"", value.as_ref()?)))
            .collect();
        format!("{{{}}}", members.join(","))
    }
}

/// A client's constant token parts, JSON-escaped once.
#[derive(Debug)]
pub struct ClientClaims {
    /// `"sub":"…","client_id":"…"`.
    identity: String,
    /// The default `aud` value (string or array).
    default_aud: String,
    /// `,"name":value…` for the client's extra claims, or empty.
    extra: String,
}

impl ClientClaims {
    /// `federated`: the (issuer, subject) a federated client is bound to,
    /// carried as `federated_iss` and `federated_sub` (docs/client-authentication.md).
    pub fn new(settings: &ClientSettings, federated: Option<(&str, &str)>) -> Self {
        let id = json_string(&settings.id);
        let mut extra = String::new();
        if let Some((iss, sub)) = federated {
            extra.push_str(&format!(
                ",\"federated_sub\":{},\"federated_iss\":{}",
                json_string(sub),
                json_string(iss)
            ));
        }
        for (name, value) in &settings.claims {
            extra.push(',');
            extra.push_str(&json_string(name));
            extra.push(':');
            extra.push_str(&value.to_string());
        }
        Self {
            identity: format!("\"sub\":{id},\"client_id\":{id}"),
            default_aud: aud_json(&settings.audience),
            extra,
        }
    }
}

/// A key ready to sign tokens: the key and its prebuilt header.
#[derive(Debug)]
struct SigningKey {
    key: Arc<Key>,
    /// base64url of `{"alg":…,"typ":"at+jwt","kid":…}`.
    header_b64: String,
}

/// The issuer's constant token parts, every key's header, and the schedule
/// that says which key signs when (docs/operations.md).
#[derive(Debug)]
pub struct Minter {
    issuer_json: String,
    keys: Vec<SigningKey>,
    schedule: Schedule,
}

impl Minter {
    pub fn new(issuer: &str, keys: &KeySet) -> Self {
        let keys_with_headers = keys
            .iter()
            .map(|key| {
                let header =
                    serde_json::json!({ "alg": alg_name(key.alg), "typ": "at+jwt", "kid": key.kid });
                SigningKey {
                    header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
                    key: Arc::clone(key),
                }
            })
            .collect();
        Self {
            issuer_json: json_string(issuer),
            keys: keys_with_headers,
            schedule: keys.schedule().clone(),
        }
    }

    fn signing_at(&self, now: u64) -> &SigningKey {
        &self.keys[self.schedule.at(now)]
    }

    /// Writes and signs one token. Claims in order: iss, sub, client_id,
    /// aud, iat, nbf, exp, jti, scope, cnf, then the client's extra claims.
    pub fn mint(
        &self,
        client: &ClientClaims,
        grant: &Grant<'_>,
        now: u64,
    ) -> Result<String, MintError> {
        let mut jti = [0u8; 16]; // 128 bits (RFC 9068 §2.2 asks for uniqueness)
        crate::crypto::random_bytes(&mut jti).map_err(|_| MintError::Random)?;
        let requested_aud = grant.audience.map(aud_json);
        let aud = requested_aud.as_deref().unwrap_or(&client.default_aud);
        let scope = grant.scope.as_str();
        let mut claims = String::with_capacity(
            200 + self.issuer_json.len()
                + client.identity.len()
                + aud.len()
                + scope.len()
                + client.extra.len(),
        );
        let mut buf = itoa::Buffer::new();
        claims.push_str("{\"iss\":");
        claims.push_str(&self.issuer_json);
        claims.push(',');
        claims.push_str(&client.identity);
        claims.push_str(",\"aud\":");
        claims.push_str(aud);
        claims.push_str(",\"iat\":");
        claims.push_str(buf.format(now));
        claims.push_str(",\"nbf\":");
        claims.push_str(buf.format(now));
        claims.push_str(",\"exp\":");
        claims.push_str(buf.format(now.saturating_add(grant.ttl)));
        claims.push_str(",\"jti\":\"");
        URL_SAFE_NO_PAD.encode_string(jti, &mut claims);
        // The §3.3 grammar needs no JSON escaping.
        claims.push_str("\",\"scope\":\"");
        claims.push_str(scope);
        claims.push('"');
        if let Some(cnf) = &grant.cnf {
            claims.push_str(",\"cnf\":");
            claims.push_str(&cnf.json());
        }
        claims.push_str(&client.extra);
        claims.push('}');

        let signing = self.signing_at(now);
        let header = &signing.header_b64;
        let mut token = String::with_capacity(header.len() + claims.len() * 4 / 3 + 700);
        token.push_str(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims.as_bytes(), &mut token);
        let signature = signing
            .key
            .signer
            .sign(token.as_bytes())
            .map_err(|_| MintError::Sign)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// JSON for an `aud` claim: a string for one audience, else an array
/// (RFC 7519 §4.1.3).
fn aud_json(audiences: &[String]) -> String {
    match audiences {
        [one] => json_string(one),
        many => serde_json::to_string(many).unwrap_or_else(|_| "[]".into()),
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Why a token is not active. Only for logs: introspection answers
/// `{"active": false}` whatever the reason (RFC 7662 §2.2).
#[derive(Debug, thiserror::Error)]
pub enum Inactive {
    #[error("malformed token: {0}")]
    Malformed(jsonwebtoken::errors::Error),
    #[error("typ is not at+jwt")]
    Typ,
    #[error("the header has crit, and tokenmint understands no JWS extension")]
    Crit,
    #[error("no kid, or a kid that is not published")]
    UnknownKid,
    #[error("alg does not match the key's algorithm")]
    Alg,
    #[error("invalid: {0}")]
    Invalid(jsonwebtoken::errors::Error),
    #[error("expired")]
    Expired,
}

/// The checks every reader of a tokenmint token applies: the algorithm
/// pinned to the key's (never the token's, RFC 8725 §3.1), no leeway,
/// `exp` required, `nbf` checked, and the issuer when one is expected.
/// Audience is the resource server's business, not introspection's.
pub fn validation(alg: Algorithm, issuer: Option<&str>) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.validate_nbf = true;
    match issuer {
        Some(issuer) => {
            validation.set_issuer(&[issuer]);
            validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        }
        None => validation.set_required_spec_claims(&["exp"]),
    }
    validation
}

/// The signature alone, pinned to `alg` (RFC 8725 §3.1), for readers that
/// check the claims themselves to say what was expected and found.
pub fn signature_only(alg: Algorithm) -> Validation {
    let mut validation = validation(alg, None);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims::<&str>(&[]);
    validation
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
    // RFC 7515 §4.1.11: an unknown critical extension makes the JWS invalid.
    if header.crit.is_some() {
        return Err(Inactive::Crit);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.get(kid))
        .ok_or(Inactive::UnknownKid)?;
    if header.alg != key.alg {
        return Err(Inactive::Alg);
    }
    let data =
        decode::<Map<String, Value>>(token, &key.decoding, &validation(key.alg, Some(issuer)))
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
    fn one_audience_is_a_string_and_several_an_array() {
        assert_eq!(aud_json(&["a".into()]), "\"a\"");
        assert_eq!(aud_json(&["a".into(), "b\"".into()]), "[\"a\",\"b\\\"\"]");
    }
}
