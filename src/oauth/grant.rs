//! The client credentials decision (RFC 6749 §4.4) as a pure function of the
//! settings, the authenticated client and the request: which grant type,
//! which scopes, which audience, how long. No I/O, no clock, no crypto.

use super::form::Form;
use super::{scope, OAuthError};
use crate::clients::{aud_json, Client};
use crate::config::{ScopePolicy, Settings};

pub const CLIENT_CREDENTIALS: &str = "client_credentials";

/// What the token will say.
#[derive(Debug, PartialEq, Eq)]
pub struct Grant {
    /// Space-delimited granted scopes (possibly empty).
    pub scope: String,
    pub ttl: u64,
    /// The `aud` claim as JSON; `None` means the client's prebuilt default.
    pub aud_json: Option<String>,
}

/// Checks the grant type against the server and the client.
pub fn check_grant_type(
    settings: &Settings,
    client: &Client,
    grant_type: &str,
) -> Result<(), OAuthError> {
    if grant_type != CLIENT_CREDENTIALS || !settings.client_credentials.enable {
        return Err(OAuthError::UnsupportedGrantType(
            if grant_type == CLIENT_CREDENTIALS {
                "the client_credentials grant is disabled on this server".into()
            } else {
                "only grant_type=client_credentials is supported".into()
            },
        ));
    }
    if !client.settings.client_credentials {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the client_credentials grant".into(),
        ));
    }
    Ok(())
}

/// Parses `validity_period` (WSO2): a decimal integer ≥ 1, clamped to `max`.
pub fn parse_validity_period(value: Option<&str>, max: u64) -> Result<Option<u64>, OAuthError> {
    let Some(value) = value else { return Ok(None) };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OAuthError::invalid_request(
            "validity_period must be a whole number of seconds",
        ));
    }
    // All digits: a parse failure can only be overflow, which clamps.
    let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
    if seconds == 0 {
        return Err(OAuthError::invalid_request(
            "validity_period must be at least 1 second",
        ));
    }
    Ok(Some(seconds.min(max)))
}

/// Scope, lifetime and audience for an authenticated client.
pub fn decide(settings: &Settings, client: &Client, form: &Form) -> Result<Grant, OAuthError> {
    let ttl = parse_validity_period(form.single("validity_period")?, settings.tokens.max_ttl)?
        .unwrap_or(client.settings.token_ttl);

    let allowed = &client.settings.scopes;
    let scope = match form.single("scope")? {
        None => client.settings.default_scopes.join(" "),
        Some(requested) => {
            let requested = scope::parse(requested).ok_or_else(|| {
                OAuthError::InvalidScope("scope is malformed (RFC 6749 §3.3)".into())
            })?;
            let (granted, refused): (Vec<&str>, Vec<&str>) = requested
                .into_iter()
                .partition(|s| allowed.iter().any(|a| a == s));
            match settings.client_credentials.scope_policy {
                ScopePolicy::Reject if !refused.is_empty() => {
                    return Err(OAuthError::InvalidScope(
                        format!("scope not allowed for this client: {}", refused.join(" ")).into(),
                    ))
                }
                ScopePolicy::Intersect if granted.is_empty() => {
                    client.settings.default_scopes.join(" ")
                }
                _ => granted.join(" "),
            }
        }
    };

    let mut requested_aud: Vec<&str> = Vec::new();
    if let Some(a) = form.single("audience")? {
        requested_aud.push(a);
    }
    for r in form.all("resource") {
        if !requested_aud.contains(&r) {
            requested_aud.push(r);
        }
    }
    let aud_json = if requested_aud.is_empty() {
        None
    } else {
        if let Some(bad) = requested_aud
            .iter()
            .find(|a| !client.settings.audience.iter().any(|allowed| allowed == *a))
        {
            return Err(OAuthError::InvalidTarget(
                format!("audience not allowed for this client: {bad}").into(),
            ));
        }
        Some(aud_json(&requested_aud))
    };

    Ok(Grant {
        scope,
        ttl,
        aud_json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_period_is_a_positive_integer_clamped_to_the_maximum() {
        assert_eq!(parse_validity_period(None, 100).unwrap(), None);
        assert_eq!(parse_validity_period(Some("50"), 100).unwrap(), Some(50));
        assert_eq!(parse_validity_period(Some("500"), 100).unwrap(), Some(100));
        assert_eq!(
            parse_validity_period(Some("99999999999999999999999"), 100).unwrap(),
            Some(100)
        );
        for bad in ["0", "-1", "+1", "1.5", "1e3", " 1", "abc"] {
            assert!(parse_validity_period(Some(bad), 100).is_err(), "{bad}");
        }
    }
}
