//! Which credentials a request presents (RFC 6749 §2.3.1): HTTP Basic, with
//! id and secret form-urlencoded before base64, or `client_id` and
//! `client_secret` in the body. Exactly one method per request (§2.3).
//! Whether the credentials are right is `clients`' business, not this one's.

use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use super::form::{decode, Form};
use super::OAuthError;
use crate::config::AuthMethod;

/// Standard alphabet; padding optional, since some clients drop it.
const BASIC_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Credentials as presented. For Basic, `ids`/`secrets` hold the §2.3.1
/// decoded value first and, when it differs, the raw value: `curl --user
/// id:secret` does not form-encode, and a secret with `+` or `%` must still
/// work for it. `Debug` hides the secrets.
pub struct Presented {
    pub method: AuthMethod,
    pub ids: Vec<String>,
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("method", &self.method)
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

/// What the request carries. `Err` for malformed or conflicting methods;
/// `Ok(None)` with a `client_id` hint when no secret was sent at all.
pub fn extract(
    headers: &HeaderMap,
    form: &Form,
) -> Result<Result<Presented, Option<String>>, OAuthError> {
    let mut auth = headers.get_all(AUTHORIZATION);
    let header = auth.next();
    if auth.next().is_some() {
        return Err(OAuthError::invalid_request(
            "more than one Authorization header",
        ));
    }
    let body_id = form.single("client_id")?;
    let body_secret = form.single("client_secret")?;

    if let Some(value) = header {
        let value = value
            .to_str()
            .map_err(|_| OAuthError::invalid_request("malformed Authorization header"))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(OAuthError::invalid_client(
                "unsupported authentication scheme; use HTTP Basic or client_secret_post",
                true,
            ));
        }
        let (ids, secrets) = parse_basic(rest.trim())?;
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "client credentials sent both in the Authorization header and in the body",
            ));
        }
        if let Some(id) = body_id {
            if !ids.iter().any(|i| i == id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Authorization header",
                ));
            }
        }
        return Ok(Ok(Presented {
            method: AuthMethod::ClientSecretBasic,
            ids,
            secrets,
        }));
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(Ok(Presented {
            method: AuthMethod::ClientSecretPost,
            ids: vec![id.to_string()],
            secrets: vec![secret.to_string()],
        })),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "client_secret without client_id",
        )),
        (id, None) => Ok(Err(id.map(str::to_string))),
    }
}

/// The client id of a Basic header, if it parses; for labelling a request
/// before it is known to be well-formed. Never used to authenticate.
pub fn basic_id_hint(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    parse_basic(rest.trim())
        .ok()
        .map(|(mut ids, _)| ids.swap_remove(0))
}

fn parse_basic(encoded: &str) -> Result<(Vec<String>, Vec<String>), OAuthError> {
    let malformed = || OAuthError::invalid_request("malformed HTTP Basic credentials");
    let raw = BASIC_B64
        .decode(encoded)
        .or_else(|_| STANDARD.decode(encoded))
        .map_err(|_| malformed())?;
    let raw = String::from_utf8(raw).map_err(|_| malformed())?;
    let (id, secret) = raw.split_once(':').ok_or_else(malformed)?;
    Ok((candidates(id), candidates(secret)))
}

fn candidates(raw: &str) -> Vec<String> {
    match decode(raw) {
        Ok(decoded) if decoded != raw => vec![decoded, raw.to_string()],
        _ => vec![raw.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn basic(user_pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode(user_pass));
        h.insert(AUTHORIZATION, HeaderValue::from_str(&v).unwrap());
        h
    }

    #[test]
    fn rfc6749_2_3_1_encoded_credentials_are_decoded_first() {
        // id "a:b c" and secret "p%+ é" form-urlencoded, then base64.
        let h = basic("a%3Ab+c:p%25%2B+%C3%A9");
        let p = extract(&h, &Form::default()).unwrap().unwrap();
        assert_eq!(p.ids[0], "a:b c");
        assert_eq!(p.secrets[0], "p%+ é");
    }

    #[test]
    fn raw_curl_user_credentials_are_also_candidates() {
        let h = basic("svc:se+cret:with:colons");
        let p = extract(&h, &Form::default()).unwrap().unwrap();
        assert_eq!(p.secrets, ["se cret:with:colons", "se+cret:with:colons"]);
    }

    #[test]
    fn malformed_basic_is_invalid_request() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(
            extract(&h, &Form::default()).unwrap_err().code(),
            "invalid_request"
        );
        let h = basic("no-colon");
        assert_eq!(
            extract(&h, &Form::default()).unwrap_err().code(),
            "invalid_request"
        );
    }

    #[test]
    fn two_methods_are_invalid_request() {
        let h = basic("svc:secret");
        let form = Form::parse(b"client_secret=secret").unwrap();
        assert_eq!(extract(&h, &form).unwrap_err().code(), "invalid_request");
        let form = Form::parse(b"client_id=other").unwrap();
        assert_eq!(extract(&h, &form).unwrap_err().code(), "invalid_request");
        let form = Form::parse(b"client_id=svc").unwrap();
        assert!(extract(&h, &form).unwrap().is_ok());
    }
}
