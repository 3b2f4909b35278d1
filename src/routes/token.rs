//! `POST /oauth2/token`: the hot path. The body is read, parsed once into a
//! `TokenRequest` (every syntax check: 400), the client authenticated
//! (401/429), the grant type checked and the grant decided (400), then one
//! signature. This handler only sequences, renders and counts.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::body::{auth_header, read_form_body};
use super::client::{authenticate, named, outcome};
use crate::clients::Client;
use crate::oauth::request::{Rejected, TokenRequest};
use crate::oauth::{grant, OAuthError};
use crate::state::{AppState, Snapshot};
use crate::token::unix_now;

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let snapshot = state.snapshot();
    let (result, client) = issue(&req, payload, &snapshot, &state).await;
    let client_id = client
        .as_ref()
        .map_or("unknown", |c| c.settings.id.as_str());
    let result_label = match &result {
        Ok(_) => "issued",
        Err(e) => e.code(),
    };
    state
        .metrics
        .token_requests
        .with_label_values(&[client_id, result_label])
        .inc();
    outcome(&req, client, result.as_ref().err());
    result
}

/// The response, and the configured client the request named (whatever
/// the outcome: metrics label by it).
async fn issue(
    req: &HttpRequest,
    payload: web::Payload,
    snapshot: &Snapshot,
    state: &AppState,
) -> (Result<HttpResponse, OAuthError>, Option<Arc<Client>>) {
    let header = auth_header(req);
    let parsed = match read_form_body(req, payload, snapshot.settings.server.request_timeout).await
    {
        Ok(body) => TokenRequest::parse(header, &body),
        Err(error) => Err(Rejected::before_body(error, header)),
    };
    let request = match parsed {
        Ok(request) => request,
        Err(rejected) => {
            let client = named(snapshot, rejected.client_id.as_deref());
            return (Err(rejected.error), client);
        }
    };
    let client = match authenticate(req, state, snapshot, &request.credential).await {
        Ok(client) => client,
        Err(failure) => return (Err(failure.error()), failure.client),
    };
    let result = grant_and_sign(snapshot, &client, &request);
    (result, Some(client))
}

fn grant_and_sign(
    snapshot: &Snapshot,
    client: &Client,
    request: &TokenRequest,
) -> Result<HttpResponse, OAuthError> {
    let settings = &snapshot.settings;
    grant::check_grant_type(settings, client, &request.grant_type)?;
    let grant = grant::decide(settings, client, request)?;
    let token = snapshot
        .minter
        .mint(&client.claims, &grant, unix_now())
        .map_err(|e| {
            tracing::error!(error = %e, "could not mint a token");
            OAuthError::ServerError
        })?;
    // Both the token (base64url and dots) and the scope (§3.3 grammar)
    // are JSON-safe as they are.
    let body = format!(
        "{{\"access_token\":\"{token}\",\"token_type\":\"Bearer\",\"expires_in\":{},\"scope\":\"{}\"}}",
        grant.ttl,
        grant.scope.as_str()
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .body(body))
}
