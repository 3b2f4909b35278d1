//! Which client credentials a request presents (RFC 6749 §2.3): HTTP Basic,
//! with id and secret form-urlencoded before base64 (§2.3.1), or
//! `client_id` and `client_secret` in the body. Exactly one method per
//! request. Whether the credentials are right is `auth`'s business, not
//! this module's; it sees plain values, never a framework's header type.

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

/// The request's `Authorization` header field(s), as raw bytes.
#[derive(Debug, Clone, Copy)]
pub enum AuthHeader<'a> {
    Absent,
    One(&'a [u8]),
    /// More than one field: always `invalid_request`.
    Repeated,
}

impl<'a> AuthHeader<'a> {
    /// From the values of every `Authorization` field, in order.
    pub fn from_values(mut values: impl Iterator<Item = &'a [u8]>) -> Self {
        match (values.next(), values.next()) {
            (None, _) => Self::Absent,
            (Some(one), None) => Self::One(one),
            (Some(_), Some(_)) => Self::Repeated,
        }
    }
}

/// RFC 7523 §2.2's `client_assertion_type`.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The credential a request presents: one variant per authentication
/// method, or none (which a client certificate may stand for: `auth`).
#[derive(Debug)]
pub enum Credential {
    /// `client_secret_basic`.
    Basic(Secret),
    /// `client_secret_post`.
    Post(Secret),
    /// `private_key_jwt` (RFC 7523 §2.2), or a workload's platform token.
    Assertion(Assertion),
    /// No client authentication; the body's `client_id`, if any.
    Absent { client_id: Option<String> },
}

/// An id and a secret as presented. For Basic, `ids` and `secrets` hold the
/// §2.3.1-decoded value first and, when it differs, the raw one: `curl
/// --user id:secret` does not form-encode, and a secret with `+` or `%`
/// must still work for it. `Debug` hides the secrets.
pub struct Secret {
    pub ids: Vec<String>,
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

/// A client assertion as presented. `Debug` hides it: it is a credential
/// (docs/operations.md: never logged).
pub struct Assertion {
    pub jwt: String,
    /// The body's `client_id`, which must name the asserted client.
    pub client_id: Option<String>,
}

impl std::fmt::Debug for Assertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assertion")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// The method used, or `None` when no credentials were sent.
    pub fn method(&self) -> Option<AuthMethod> {
        match self {
            Self::Basic(_) => Some(AuthMethod::ClientSecretBasic),
            Self::Post(_) => Some(AuthMethod::ClientSecretPost),
            Self::Assertion(_) => Some(AuthMethod::PrivateKeyJwt),
            Self::Absent { .. } => None,
        }
    }

    /// The client ids the credential may name, best candidate first (for
    /// an assertion, the body's `client_id`: its `iss` is read by `auth`).
    pub fn client_ids(&self) -> &[String] {
        match self {
            Self::Basic(s) | Self::Post(s) => &s.ids,
            Self::Assertion(a) => a.client_id.as_slice(),
            Self::Absent { client_id } => client_id.as_slice(),
        }
    }
}

/// What the request carries; `Err` for a malformed header or for more than
/// one method (RFC 6749 §2.3: a client MUST NOT use more than one).
pub fn extract(header: AuthHeader<'_>, form: &Form) -> Result<Credential, OAuthError> {
    let body_id = form.single("client_id")?;
    let body_secret = form.single("client_secret")?;
    let assertion_type = form.single("client_assertion_type")?;
    let assertion = form.single("client_assertion")?;
    if assertion_type.is_some() || assertion.is_some() {
        if !matches!(header, AuthHeader::Absent) || body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "a client assertion and another client authentication method in one request",
            ));
        }
        let (Some(kind), Some(jwt)) = (assertion_type, assertion) else {
            return Err(OAuthError::invalid_request(
                "client_assertion and client_assertion_type go together (RFC 7521 section 4.2)",
            ));
        };
        // RFC 7521 §4.2.1: an assertion type the server does not support is invalid_client.
        if kind != JWT_BEARER {
            return Err(OAuthError::invalid_client(
                "unsupported client_assertion_type; use urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                false,
            ));
        }
        return Ok(Credential::Assertion(Assertion {
            jwt: jwt.to_string(),
            client_id: body_id.map(str::to_string),
        }));
    }
    let value = match header {
        AuthHeader::Repeated => {
            return Err(OAuthError::invalid_request(
                "more than one Authorization header",
            ))
        }
        AuthHeader::Absent => {
            return match (body_id, body_secret) {
                (Some(id), Some(secret)) => Ok(Credential::Post(Secret {
                    ids: vec![id.to_string()],
                    secrets: vec![secret.to_string()],
                })),
                (None, Some(_)) => Err(OAuthError::invalid_request(
                    "client_secret without client_id",
                )),
                (id, None) => Ok(Credential::Absent {
                    client_id: id.map(str::to_string),
                }),
            }
        }
        AuthHeader::One(value) => value,
    };
    let secret = parse_basic(value)?;
    if body_secret.is_some() {
        return Err(OAuthError::invalid_request(
            "client credentials sent both in the Authorization header and in the body",
        ));
    }
    if body_id.is_some_and(|id| !secret.ids.iter().any(|i| i == id)) {
        return Err(OAuthError::invalid_request(
            "client_id in the body differs from the Authorization header",
        ));
    }
    Ok(Credential::Basic(secret))
}

/// The client id a request names before it is known to be well-formed:
/// the Basic header's, else the body's first `client_id`. For labelling
/// metrics and logs only; never used to authenticate.
pub fn named_client_id(header: AuthHeader<'_>, form: Option<&Form>) -> Option<String> {
    if let AuthHeader::One(value) = header {
        if let Ok(mut secret) = parse_basic(value) {
            return Some(secret.ids.swap_remove(0));
        }
    }
    form.and_then(|f| f.first("client_id")).map(str::to_string)
}

/// `Basic <base64(id:secret)>`. A malformed header is `invalid_request`: an
/// empty value, a scheme that is not a token, anything but spaces between
/// scheme and credentials, `Basic` without credentials, credentials that
/// are not base64 of `id:secret`. A well-formed header of another scheme
/// is `invalid_client` with the Basic challenge (docs/http-api.md).
fn parse_basic(value: &[u8]) -> Result<Secret, OAuthError> {
    let malformed = || OAuthError::invalid_request("malformed Authorization header");
    let value = std::str::from_utf8(value).map_err(|_| malformed())?;
    let scheme_len = value.bytes().take_while(|&b| is_tchar(b)).count();
    let (scheme, rest) = value.split_at(scheme_len);
    let credentials = rest.trim_start_matches(' ');
    let separated = rest.is_empty() || rest.len() > credentials.len();
    if scheme.is_empty() || !separated {
        return Err(malformed());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "unsupported authentication scheme; use HTTP Basic or client_secret_post",
            true,
        ));
    }
    let bad = || OAuthError::invalid_request("malformed HTTP Basic credentials");
    if credentials.is_empty() || credentials.contains(' ') {
        return Err(bad());
    }
    let raw = BASIC_B64
        .decode(credentials)
        .or_else(|_| STANDARD.decode(credentials))
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
    Ok(Secret {
        ids: candidates(id),
        secrets: candidates(secret),
    })
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
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

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", STANDARD.encode(user_pass))
    }

    fn extract_header(value: &str, form: &Form) -> Result<Credential, OAuthError> {
        extract(AuthHeader::One(value.as_bytes()), form)
    }

    fn secret(c: Credential) -> Secret {
        match c {
            Credential::Basic(s) | Credential::Post(s) => s,
            Credential::Assertion(_) | Credential::Absent { .. } => panic!("no secret"),
        }
    }

    #[test]
    fn rfc6749_2_3_1_encoded_credentials_are_decoded_first() {
        // id "a:b c" and secret "p%+ é" form-urlencoded, then base64.
        let h = basic("a%3Ab+c:p%25%2B+%C3%A9");
        let s = secret(extract_header(&h, &Form::default()).unwrap());
        assert_eq!(s.ids[0], "a:b c");
        assert_eq!(s.secrets[0], "p%+ é");
    }

    #[test]
    fn raw_curl_user_credentials_are_also_candidates() {
        let h = basic("svc:se+cret:with:colons");
        let s = secret(extract_header(&h, &Form::default()).unwrap());
        assert_eq!(s.secrets, ["se cret:with:colons", "se+cret:with:colons"]);
    }

    #[test]
    fn malformed_headers_are_invalid_request() {
        let good = STANDARD.encode("svc:secret");
        for bad in [
            String::new(),
            "Basic".into(),
            "Basic ".into(),
            format!("Basic\t{good}"),
            format!("Basic{good}"),
            format!("Basic {good} extra"),
            "Basic !!!".into(),
            basic("no-colon"),
            "@@@ x".into(),
        ] {
            let err = extract_header(&bad, &Form::default()).unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{bad:?}");
        }
        assert!(extract_header(&format!("Basic   {good}"), &Form::default()).is_ok());
    }

    #[test]
    fn another_well_formed_scheme_is_invalid_client() {
        for other in [
            "Bearer abc.def",
            "Negotiate",
            "Digest realm=\"x\", qop=\"auth\"",
        ] {
            let err = extract_header(other, &Form::default()).unwrap_err();
            assert_eq!(err.code(), "invalid_client", "{other}");
        }
    }

    #[test]
    fn two_methods_are_invalid_request() {
        let h = basic("svc:secret");
        let form = Form::parse(b"client_secret=secret").unwrap();
        assert_eq!(
            extract_header(&h, &form).unwrap_err().code(),
            "invalid_request"
        );
        let form = Form::parse(b"client_id=other").unwrap();
        assert_eq!(
            extract_header(&h, &form).unwrap_err().code(),
            "invalid_request"
        );
        let form = Form::parse(b"client_id=svc").unwrap();
        assert!(extract_header(&h, &form).is_ok());
        let err = extract(AuthHeader::Repeated, &Form::default()).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }

    #[test]
    fn body_credentials_are_client_secret_post_and_nothing_is_absent() {
        let form = Form::parse(b"client_id=svc&client_secret=s").unwrap();
        let c = extract(AuthHeader::Absent, &form).unwrap();
        assert_eq!(c.method(), Some(AuthMethod::ClientSecretPost));
        let form = Form::parse(b"client_id=svc").unwrap();
        let c = extract(AuthHeader::Absent, &form).unwrap();
        assert_eq!(c.method(), None);
        assert_eq!(c.client_ids(), ["svc"]);
    }
}
