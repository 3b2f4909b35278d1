//! `POST /oauth2/token`: the hot path. The body is read, parsed once into a
//! `TokenRequest` (every syntax check: 400), the client authenticated
//! (401/429), the grant type checked and the grant decided (400), then one
//! signature. This handler only sequences, renders and counts.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::client::{authenticated, outcome};
use crate::clients::Client;
use crate::clock::unix_now;
use crate::oauth::request::TokenRequest;
use crate::oauth::{grant, OAuthError};
use crate::state::{AppState, Snapshot};

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let snapshot = state.snapshot();
    let (result, client) =
        match authenticated::<TokenRequest>(&req, payload, &state, &snapshot).await {
            Ok((request, client)) => (
                grant_and_sign(&snapshot, &state, &client, &request).await,
                Some(client),
            ),
            Err(refused) => (Err(refused.error), refused.client),
        };
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

async fn grant_and_sign(
    snapshot: &Snapshot,
    state: &AppState,
    client: &Client,
    request: &TokenRequest,
) -> Result<HttpResponse, OAuthError> {
    let settings = &snapshot.settings;
    grant::check_grant_type(settings, client, &request.grant_type)?;
    let grant = grant::decide(settings, client, request)?;
    let now = unix_now();
    // Only a request that would get a token counts against the quota.
    if let Some(quota) = &client.settings.quota {
        let id = client.settings.id.as_str();
        match state.store.take_quota(id, quota, now).await {
            Ok(Ok(())) => {}
            Ok(Err(spent)) => {
                state.metrics.quota_exceeded.with_label_values(&[id]).inc();
                return Err(OAuthError::QuotaSpent {
                    retry_after: spent.retry_after,
                });
            }
            Err(_) => return Err(OAuthError::StoreUnavailable),
        }
    }
    let token = snapshot
        .minter
        .mint(&client.claims, &grant, now)
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
