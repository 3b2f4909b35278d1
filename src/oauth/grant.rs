//! The client credentials decision (RFC 6749 §4.4) as a pure function of the
//! settings, the authenticated client and the parsed request: which grant
//! type, which scopes, which audiences, how long. No I/O, no clock, no
//! crypto, no JSON: the token module writes what this decides.

use std::borrow::Cow;

use super::request::TokenRequest;
use super::OAuthError;
use crate::clients::Client;
use crate::config::{ScopePolicy, Settings};
use crate::scope::ScopeSet;
use crate::token::Grant;

pub const CLIENT_CREDENTIALS: &str = "client_credentials";

/// Checks the grant type against the server and the client.
pub fn check_grant_type(
    settings: &Settings,
    client: &Client,
    grant_type: &str,
) -> Result<(), OAuthError> {
    if grant_type != CLIENT_CREDENTIALS {
        return Err(OAuthError::UnsupportedGrantType(
            "only grant_type=client_credentials is supported".into(),
        ));
    }
    if !settings.client_credentials.enable {
        return Err(OAuthError::UnsupportedGrantType(
            "the client_credentials grant is disabled on this server".into(),
        ));
    }
    if !client.settings.client_credentials {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the client_credentials grant".into(),
        ));
    }
    Ok(())
}

/// Scope, lifetime and audience for an authenticated client.
pub fn decide<'a>(
    settings: &Settings,
    client: &'a Client,
    request: &'a TokenRequest,
) -> Result<Grant<'a>, OAuthError> {
    let ttl = request
        .validity_period
        .map_or(client.settings.token_ttl, |v| {
            v.min(settings.tokens.max_ttl)
        });
    let scope = match &request.scope {
        None => Cow::Borrowed(&client.default_scopes),
        Some(requested) => granted_scopes(settings, client, requested)?,
    };
    let audience = if request.audiences.is_empty() {
        None
    } else {
        let allowed = &client.settings.audience;
        if !request.audiences.iter().all(|a| allowed.contains(a)) {
            return Err(OAuthError::InvalidTarget(
                "an audience or resource is not allowed for this client".into(),
            ));
        }
        Some(request.audiences.as_slice())
    };
    Ok(Grant {
        scope,
        ttl,
        audience,
        cnf: None,
    })
}

fn granted_scopes<'a>(
    settings: &Settings,
    client: &'a Client,
    requested: &'a ScopeSet,
) -> Result<Cow<'a, ScopeSet>, OAuthError> {
    let allowed = |s: &str| client.settings.scopes.iter().any(|a| a == s);
    if requested.iter().all(allowed) {
        return Ok(Cow::Borrowed(requested));
    }
    match settings.client_credentials.scope_policy {
        ScopePolicy::Reject => Err(OAuthError::InvalidScope(
            "a requested scope is not allowed for this client".into(),
        )),
        ScopePolicy::Intersect => {
            let granted = ScopeSet::from_tokens(requested.iter().filter(|s| allowed(s)));
            Ok(if granted.is_empty() {
                Cow::Borrowed(&client.default_scopes)
            } else {
                Cow::Owned(granted)
            })
        }
    }
}
