//! `POST /oauth2/token`: the hot path. Order of checks: body and syntax
//! (400), client authentication (401), grant type (400), then the grant
//! decision; one lookup, the claims, one signature.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};

use super::body::read_form;
use crate::clients::{Check, Client};
use crate::config::AuthMethod;
use crate::oauth::client_auth::{self, Presented};
use crate::oauth::form::Form;
use crate::oauth::{grant, OAuthError};
use crate::state::{AppState, Snapshot};
use crate::throttle::source_address;
use crate::token::{mint, unix_now, TokenClaims};

/// The configured client a request named, for the access log; absent
/// when it named none. Stored in the request extensions.
#[derive(Clone)]
pub struct ClientLabel(pub Arc<Client>);

const SINGLE_VALUED: [&str; 6] = [
    "grant_type",
    "scope",
    "validity_period",
    "audience",
    "client_id",
    "client_secret",
];

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let snapshot = state.snapshot();
    let mut label: Option<Arc<Client>> = None;
    let result = issue(&req, payload, &snapshot, &state, &mut label).await;
    let client_id = label.as_ref().map_or("unknown", |c| c.settings.id.as_str());
    let outcome = match &result {
        Ok(_) => "issued",
        Err(e) => e.code(),
    };
    state
        .metrics
        .token_requests
        .with_label_values(&[client_id, outcome])
        .inc();
    if let Some(client) = label {
        req.extensions_mut().insert(ClientLabel(client));
    }
    result
}

/// The client a request names before it is known to be well-formed: the
/// Basic header's id, else the body's first `client_id`. Only for labels;
/// computed on the error path only, so a good request parses once.
fn named_client(
    req: &HttpRequest,
    snapshot: &Snapshot,
    form: Option<&Form>,
) -> Option<Arc<Client>> {
    client_auth::basic_id_hint(req.headers())
        .and_then(|id| snapshot.clients.get(&id).cloned())
        .or_else(|| {
            form.and_then(|f| f.first("client_id"))
                .and_then(|id| snapshot.clients.get(id).cloned())
        })
}

async fn issue(
    req: &HttpRequest,
    payload: web::Payload,
    snapshot: &Arc<Snapshot>,
    state: &AppState,
    label: &mut Option<Arc<Client>>,
) -> Result<HttpResponse, OAuthError> {
    let form = match read_form(req, payload).await {
        Ok(form) => form,
        Err(e) => {
            *label = named_client(req, snapshot, None);
            return Err(e);
        }
    };
    // Syntax first: nothing about a client is looked at for a malformed request.
    let syntax = (|| {
        for name in SINGLE_VALUED {
            form.single(name)?;
        }
        let presented = client_auth::extract(req.headers(), &form)?;
        let grant_type = form
            .single("grant_type")?
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        Ok((presented, grant_type))
    })();
    let (presented, grant_type) = match syntax {
        Ok(parts) => parts,
        Err(e) => {
            *label = named_client(req, snapshot, Some(&form));
            return Err(e);
        }
    };
    let client = authenticate(req, snapshot, state, presented, label).await?;
    let settings = &snapshot.settings;
    grant::check_grant_type(settings, &client, grant_type)?;
    let grant = grant::decide(settings, &client, &form)?;
    respond(snapshot, &client, &grant)
}

fn respond(
    snapshot: &Snapshot,
    client: &Client,
    grant: &grant::Grant,
) -> Result<HttpResponse, OAuthError> {
    let now = unix_now();
    let claims = TokenClaims {
        issuer_json: &snapshot.issuer_json,
        client,
        aud_json: grant
            .aud_json
            .as_deref()
            .unwrap_or(&client.default_aud_json),
        scope: &grant.scope,
        now,
        ttl: grant.ttl,
    };
    let token = mint(snapshot.keys.active(), &claims).map_err(|e| {
        tracing::error!(error = %e, "could not mint a token");
        OAuthError::ServerError
    })?;
    // Both the token (base64url and dots) and the scope (§3.3 grammar)
    // are JSON-safe as they are.
    let body = format!(
        "{{\"access_token\":\"{token}\",\"token_type\":\"Bearer\",\"expires_in\":{},\"scope\":\"{}\"}}",
        grant.ttl, grant.scope
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .body(body))
}

/// Authenticates the presented credentials; on failure the error says
/// nothing about which part was wrong (RFC 6749 §5.2 `invalid_client`).
/// Throttled ids and addresses are refused before any hashing.
pub async fn authenticate(
    req: &HttpRequest,
    snapshot: &Arc<Snapshot>,
    state: &AppState,
    presented: Result<Presented, Option<String>>,
    label: &mut Option<Arc<Client>>,
) -> Result<Arc<Client>, OAuthError> {
    let throttle = &snapshot.settings.throttle;
    let limits = (throttle.failures_per_client, throttle.failures_per_address);
    let address = source_address(
        req.peer_addr().map(|a| a.ip()),
        req.headers(),
        &throttle.trusted_proxies,
    );
    let count = |reason: &str| {
        state
            .metrics
            .auth_failures
            .with_label_values(&[reason])
            .inc();
    };
    let presented = match presented {
        Ok(p) => p,
        Err(hint) => {
            *label = hint.and_then(|id| snapshot.clients.get(&id).cloned());
            count("no_credentials");
            return Err(OAuthError::invalid_client(
                "client authentication is required (HTTP Basic or client_secret_post)",
                true,
            ));
        }
    };
    let client = snapshot.clients.find(&presented.ids).cloned();
    label.clone_from(&client);
    let client_key = client.as_ref().map(|c| c.settings.id.as_str());
    if let Some(retry_after) = state.throttle.check(client_key, address, limits) {
        count("throttled");
        return Err(OAuthError::TemporarilyUnavailable { retry_after });
    }
    let challenge = presented.method == AuthMethod::ClientSecretBasic;
    let valid = match snapshot
        .clients
        .verify_fast(client.as_deref(), &presented.secrets)
    {
        Check::Valid => true,
        Check::Invalid => false,
        Check::NeedsHashing => {
            let snapshot = Arc::clone(snapshot);
            let client = client.clone();
            let secrets = presented.secrets;
            web::block(move || snapshot.clients.verify_slow(client.as_deref(), &secrets))
                .await
                .map_err(|_| OAuthError::ServerError)?
        }
    };
    let failure = |reason: &str| {
        count(reason);
        state.throttle.record_failure(client_key, address, limits);
        OAuthError::invalid_client("client authentication failed", challenge)
    };
    let Some(client) = client.clone().filter(|_| valid) else {
        return Err(failure(if client.is_some() {
            "wrong_secret"
        } else {
            "unknown_client"
        }));
    };
    if !client.settings.auth_methods.contains(&presented.method) {
        return Err(failure("method_not_allowed"));
    }
    Ok(client)
}

/// Reads and authenticates a client for endpoints other than the token one.
pub async fn authenticated_form(
    req: &HttpRequest,
    payload: web::Payload,
    snapshot: &Arc<Snapshot>,
    state: &AppState,
) -> Result<(Form, Arc<Client>), OAuthError> {
    let form = read_form(req, payload).await?;
    let presented = client_auth::extract(req.headers(), &form)?;
    let mut label = None;
    let client = authenticate(req, snapshot, state, presented, &mut label).await;
    if let Some(c) = label {
        req.extensions_mut().insert(ClientLabel(c));
    }
    Ok((form, client?))
}
