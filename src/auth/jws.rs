//! Client assertions as JWSs (RFC 7523 §3, rfc7523bis): reading one before
//! its key is known (which client or issuer it claims, which key it names),
//! verifying its signature with the keys of that client or issuer only, and
//! checking its claims. Each failure is a [`Reason`]; the caller answers
//! `invalid_client` for all of them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::Reason;
use crate::jose::{parse_alg, PublicKeys};

/// Clock skew allowed on `nbf`, `iat` and `exp` (RFC 7519 §4.1.4: "a small leeway").
pub const LEEWAY: u64 = 30;
/// The longest `jti` kept (a UUID is 36; a longer one is not a nonce).
const MAX_JTI: usize = 256;

/// What an assertion claims, read before any key is trusted.
#[derive(Debug)]
pub struct Unverified {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub iss: String,
    pub sub: Option<String>,
}

fn part(b64: &str) -> Result<Map<String, Value>, Reason> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| Reason::MalformedAssertion)?;
    serde_json::from_slice(&bytes).map_err(|_| Reason::MalformedAssertion)
}

/// The header's algorithm and key, and the payload's `iss` and `sub`.
/// `none`, HMAC and anything tokenmint does not verify are refused here,
/// and so are an unknown `typ` (an access token is not an assertion) and
/// `crit` (RFC 7515 §4.1.11: no extension is understood).
pub fn peek(jwt: &str) -> Result<Unverified, Reason> {
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reason::MalformedAssertion);
    };
    let header = part(header)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(Reason::MalformedAssertion)?;
    let alg = parse_alg(alg).ok_or(Reason::AssertionAlg)?;
    if header.contains_key("crit") {
        return Err(Reason::MalformedAssertion);
    }
    match header.get("typ") {
        None => {}
        Some(Value::String(t)) if typ_allowed(t) => {}
        Some(_) => return Err(Reason::AssertionTyp),
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(Reason::MalformedAssertion),
    };
    let payload = part(payload)?;
    let text = |name: &str| match payload.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Reason::MalformedAssertion),
    };
    Ok(Unverified {
        alg,
        kid,
        iss: text("iss")?.ok_or(Reason::MalformedAssertion)?,
        sub: text("sub")?,
    })
}

/// docs/client-authentication.md: absent, `JWT` or `client-authentication+jwt` (media types,
/// so case-insensitive and with an optional `application/`).
fn typ_allowed(typ: &str) -> bool {
    let t = typ.to_ascii_lowercase();
    let t = t.strip_prefix("application/").unwrap_or(&t);
    t == "jwt" || t == "client-authentication+jwt"
}

/// The claims, once a key of `keys` for the assertion's `alg` (and `kid`,
/// when it names one) verifies the signature.
pub fn verify(
    jwt: &str,
    claimed: &Unverified,
    keys: &PublicKeys,
) -> Result<Map<String, Value>, Reason> {
    let validation = crate::token::signature_only(claimed.alg);
    let mut candidates = keys
        .candidates(claimed.kid.as_deref(), claimed.alg)
        .peekable();
    if candidates.peek().is_none() {
        return Err(Reason::UnknownKey);
    }
    for key in candidates {
        if let Ok(data) = jsonwebtoken::decode::<Map<String, Value>>(jwt, &key.key, &validation) {
            return Ok(data.claims);
        }
    }
    Err(Reason::BadSignature)
}

/// Which `aud` values are accepted.
pub enum Audience<'a> {
    /// A client's own assertion: tokenmint's issuer identifier, as a string
    /// or a one-element array (rfc7523bis), or — unless strict — the token
    /// endpoint URL (RFC 7523 §3, what most libraries sign).
    Client {
        issuer: &'a str,
        token_endpoints: &'a [String],
        strict: bool,
    },
    /// A platform token: its `aud` must contain the issuer's audience.
    Platform(&'a str),
}

impl Audience<'_> {
    fn accepts(&self, aud: &Value) -> bool {
        match self {
            Audience::Client {
                issuer,
                token_endpoints,
                strict,
            } => {
                let one = match aud {
                    Value::String(s) => s.as_str(),
                    Value::Array(a) if a.len() == 1 => match &a[0] {
                        Value::String(s) => s.as_str(),
                        _ => return false,
                    },
                    _ => return false,
                };
                one == *issuer || (!strict && token_endpoints.iter().any(|e| e == one))
            }
            Audience::Platform(wanted) => match aud {
                Value::String(s) => s == wanted,
                Value::Array(a) => a.iter().any(|v| v.as_str() == Some(wanted)),
                _ => false,
            },
        }
    }
}

/// `exp`, `nbf`, `iat`, the lifetime bound and `aud`; the `exp` to keep a
/// `jti` until, and the `jti` itself when `need_jti`.
pub fn check_claims(
    claims: &Map<String, Value>,
    audience: &Audience<'_>,
    max_lifetime: u64,
    need_jti: bool,
    now: u64,
) -> Result<(u64, Option<String>), Reason> {
    let time = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or(Reason::MalformedAssertion),
    };
    let exp = time("exp")?.ok_or(Reason::MalformedAssertion)?;
    if exp + LEEWAY <= now {
        return Err(Reason::AssertionExpired);
    }
    let nbf = time("nbf")?;
    let iat = time("iat")?;
    if [nbf, iat].into_iter().flatten().any(|t| t > now + LEEWAY) {
        return Err(Reason::AssertionNotYetValid);
    }
    let start = iat.or(nbf).unwrap_or(now);
    if exp.saturating_sub(start) > max_lifetime {
        return Err(Reason::AssertionLifetime);
    }
    let aud = claims.get("aud").ok_or(Reason::WrongAudience)?;
    if !audience.accepts(aud) {
        return Err(Reason::WrongAudience);
    }
    let jti = match claims.get("jti") {
        Some(Value::String(j)) if !j.is_empty() && j.len() <= MAX_JTI => Some(j.clone()),
        _ => None,
    };
    if need_jti && jti.is_none() {
        return Err(Reason::MissingJti);
    }
    Ok((exp, jti))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const ENDPOINTS: [&str; 2] = ["https://as/oauth2/token", "https://as/token"];

    fn client(strict: bool) -> (Vec<String>, bool) {
        (ENDPOINTS.iter().map(|s| s.to_string()).collect(), strict)
    }

    #[test]
    fn rfc7523bis_audience_rules() {
        let (eps, _) = client(false);
        let lenient = Audience::Client {
            issuer: "https://as",
            token_endpoints: &eps,
            strict: false,
        };
        let strict = Audience::Client {
            issuer: "https://as",
            token_endpoints: &eps,
            strict: true,
        };
        let base = |aud: Value| claims(json!({"exp": 1100, "iat": 1000, "jti": "j", "aud": aud}));
        for (aud, lenient_ok, strict_ok) in [
            (json!("https://as"), true, true),
            (json!(["https://as"]), true, true),
            (json!("https://as/oauth2/token"), true, false),
            (json!(["https://as", "https://other"]), false, false),
            (json!("https://other"), false, false),
        ] {
            let c = base(aud.clone());
            assert_eq!(
                check_claims(&c, &lenient, 3600, true, 1000).is_ok(),
                lenient_ok,
                "{aud}"
            );
            assert_eq!(
                check_claims(&c, &strict, 3600, true, 1000).is_ok(),
                strict_ok,
                "{aud}"
            );
        }
        let platform = Audience::Platform("https://as");
        let c = base(json!(["https://kubernetes.default.svc", "https://as"]));
        assert!(check_claims(&c, &platform, 3600, false, 1000).is_ok());
    }

    #[test]
    fn time_claims_and_the_lifetime_bound() {
        let (eps, _) = client(false);
        let aud = Audience::Client {
            issuer: "https://as",
            token_endpoints: &eps,
            strict: false,
        };
        let at = |v: Value, now| {
            check_claims(&claims(v), &aud, 3600, true, now)
                .map(|_| ())
                .unwrap_err()
        };
        assert_eq!(
            at(json!({"exp": 900, "aud": "https://as", "jti": "j"}), 1000),
            Reason::AssertionExpired
        );
        assert_eq!(
            at(
                json!({"exp": 9000, "iat": 5000, "aud": "https://as", "jti": "j"}),
                1000
            ),
            Reason::AssertionNotYetValid
        );
        assert_eq!(
            at(
                json!({"exp": 10000, "iat": 1000, "aud": "https://as", "jti": "j"}),
                1000
            ),
            Reason::AssertionLifetime
        );
        assert_eq!(
            at(json!({"exp": 2000, "iat": 1000, "aud": "https://as"}), 1000),
            Reason::MissingJti
        );
    }

    #[test]
    fn none_hmac_and_access_token_typ_are_refused_before_any_key() {
        let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let payload = enc(json!({"iss": "c", "sub": "c"}));
        for (header, reason) in [
            (json!({"alg": "none"}), Reason::AssertionAlg),
            (json!({"alg": "HS256"}), Reason::AssertionAlg),
            (
                json!({"alg": "ES256", "typ": "at+jwt"}),
                Reason::AssertionTyp,
            ),
            (
                json!({"alg": "ES256", "crit": ["x"]}),
                Reason::MalformedAssertion,
            ),
        ] {
            let jwt = format!("{}.{payload}.sig", enc(header.clone()));
            assert_eq!(peek(&jwt).unwrap_err(), reason, "{header}");
        }
        let jwt = format!(
            "{}.{payload}.sig",
            enc(json!({"alg": "ES256", "typ": "client-authentication+jwt"}))
        );
        assert_eq!(peek(&jwt).unwrap().iss, "c");
    }
}
