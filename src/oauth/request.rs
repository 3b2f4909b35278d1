//! A request body parsed once, at the edge, into a value the rest of the
//! token path can trust: [`TokenRequest`] (RFC 6749 §4.4.2) and
//! [`IntrospectionRequest`] (RFC 7662 §2.1). Every syntax rule is checked
//! here — repeated parameters (§3.2), the credential method (§2.3), the
//! scope grammar (§3.3), `validity_period` — so that nothing about a client
//! is looked at for a malformed request.

use super::credentials::{self, AuthHeader, Credential};
use super::form::Form;
use super::OAuthError;
use crate::scope::ScopeSet;

/// A refused request, with the client id it named (for labels only).
#[derive(Debug)]
pub struct Rejected {
    pub error: OAuthError,
    pub client_id: Option<String>,
}

impl Rejected {
    /// A refusal before the body was parsed: only the header can name a client.
    pub fn before_body(error: OAuthError, header: AuthHeader<'_>) -> Self {
        Self {
            error,
            client_id: credentials::named_client_id(header, None),
        }
    }
}

/// A request to an endpoint that authenticates its client: parsed from
/// the `Authorization` header and the form body.
pub trait ClientRequest: Sized {
    /// The request's own parameters, once the form is known to be well
    /// formed.
    fn from_form(header: AuthHeader<'_>, form: &Form) -> Result<Self, OAuthError>;

    fn credential(&self) -> &Credential;

    /// Parses the body; a refusal names the client the request named.
    fn parse(header: AuthHeader<'_>, body: &[u8]) -> Result<Self, Rejected> {
        let form = Form::parse(body).map_err(|error| Rejected::before_body(error, header))?;
        Self::from_form(header, &form).map_err(|error| Rejected {
            error,
            client_id: credentials::named_client_id(header, Some(&form)),
        })
    }
}

/// A syntactically valid token request.
#[derive(Debug)]
pub struct TokenRequest {
    pub grant_type: String,
    /// `None`: the client asked for no particular scope.
    pub scope: Option<ScopeSet>,
    /// Requested lifetime in seconds (≥ 1; saturating), before any clamp.
    pub validity_period: Option<u64>,
    /// `audience`, then each RFC 8707 `resource`, without repeats.
    pub audiences: Vec<String>,
    pub credential: Credential,
}

const TOKEN_SINGLE: [&str; 6] = [
    "grant_type",
    "scope",
    "validity_period",
    "audience",
    "client_id",
    "client_secret",
];

impl ClientRequest for TokenRequest {
    fn credential(&self) -> &Credential {
        &self.credential
    }

    fn from_form(header: AuthHeader<'_>, form: &Form) -> Result<Self, OAuthError> {
        for name in TOKEN_SINGLE {
            form.single(name)?;
        }
        let credential = credentials::extract(header, form)?;
        let grant_type = form
            .single("grant_type")?
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?
            .to_string();
        let scope = match form.single("scope")? {
            None => None,
            Some(value) => Some(ScopeSet::parse(value).ok_or_else(|| {
                OAuthError::InvalidScope("scope is malformed (RFC 6749 section 3.3)".into())
            })?),
        };
        let validity_period = form
            .single("validity_period")?
            .map(parse_validity_period)
            .transpose()?;
        let mut audiences: Vec<String> = Vec::new();
        for a in form
            .single("audience")?
            .into_iter()
            .chain(form.all("resource"))
        {
            if !audiences.iter().any(|known| known == a) {
                audiences.push(a.to_string());
            }
        }
        Ok(Self {
            grant_type,
            scope,
            validity_period,
            audiences,
            credential,
        })
    }
}

/// A syntactically valid introspection request.
#[derive(Debug)]
pub struct IntrospectionRequest {
    pub token: String,
    pub credential: Credential,
}

const INTROSPECTION_SINGLE: [&str; 4] = ["token", "token_type_hint", "client_id", "client_secret"];

impl ClientRequest for IntrospectionRequest {
    fn credential(&self) -> &Credential {
        &self.credential
    }

    fn from_form(header: AuthHeader<'_>, form: &Form) -> Result<Self, OAuthError> {
        for name in INTROSPECTION_SINGLE {
            form.single(name)?;
        }
        let credential = credentials::extract(header, form)?;
        let token = form
            .single("token")?
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?
            .to_string();
        Ok(Self { token, credential })
    }
}

/// `validity_period` (WSO2): a decimal integer ≥ 1. Too many digits to fit
/// saturate; the grant clamps to `tokens.max_ttl` anyway.
pub fn parse_validity_period(value: &str) -> Result<u64, OAuthError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OAuthError::invalid_request(
            "validity_period must be a whole number of seconds",
        ));
    }
    // All digits: a parse failure can only be overflow.
    match value.parse::<u64>().unwrap_or(u64::MAX) {
        0 => Err(OAuthError::invalid_request(
            "validity_period must be at least 1 second",
        )),
        seconds => Ok(seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<TokenRequest, Rejected> {
        TokenRequest::parse(AuthHeader::Absent, body.as_bytes())
    }

    #[test]
    fn validity_period_is_a_positive_integer() {
        assert_eq!(parse_validity_period("50").unwrap(), 50);
        assert_eq!(
            parse_validity_period("99999999999999999999999").unwrap(),
            u64::MAX
        );
        for bad in ["0", "-1", "+1", "1.5", "1e3", " 1", "abc", ""] {
            assert!(parse_validity_period(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_request_is_parsed_once_into_typed_parts() {
        let r = parse(
            "grant_type=client_credentials&scope=b+a+b&validity_period=60\
             &audience=x&resource=y&resource=x&client_id=svc&client_secret=s",
        )
        .unwrap();
        assert_eq!(r.grant_type, "client_credentials");
        assert_eq!(r.scope.unwrap().as_str(), "b a");
        assert_eq!(r.validity_period, Some(60));
        assert_eq!(r.audiences, ["x", "y"]);
        assert_eq!(r.credential.client_ids(), ["svc"]);
    }

    #[test]
    fn syntax_errors_name_the_client_for_labels() {
        let e = parse("client_id=svc&scope=a&scope=b").unwrap_err();
        assert_eq!(e.error.code(), "invalid_request");
        assert_eq!(e.client_id.as_deref(), Some("svc"));
        let e = parse("grant_type=client_credentials&scope=a%20%20b").unwrap_err();
        assert_eq!(e.error.code(), "invalid_scope");
    }
}
