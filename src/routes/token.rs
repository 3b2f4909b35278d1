//! `POST /oauth2/token`: the hot path. The body is read, parsed once into a
//! `TokenRequest` (every syntax check: 400), the client authenticated
//! (401/429), the DPoP proof checked (400), the grant type checked and the
//! grant decided (400), the proof's `jti` recorded and the quota taken
//! (400/429/503), then one signature, bound to the proof's key and the
//! client certificate when there are. This handler only sequences, renders
//! and counts.

use actix_web::http::header::{self, HeaderName};
use actix_web::{web, HttpRequest, HttpResponse};

use super::client::{authenticated, outcome, Authenticated};
use crate::clock::unix_now;
use crate::config::Quota;
use crate::dpop::{Dpop, Proof};
use crate::oauth::credentials::Credential;
use crate::oauth::request::TokenRequest;
use crate::oauth::{grant, OAuthError};
use crate::state::{AppState, Snapshot};
use crate::store::Replay;
use crate::token::Confirmation;

// Names made once: a `&str` name is parsed and hashed again on every lookup.
const DPOP: HeaderName = HeaderName::from_static("dpop");
const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let snapshot = state.snapshot();
    let (result, client) =
        match authenticated::<TokenRequest>(&req, payload, &state, &snapshot).await {
            Ok(done) => (
                grant_and_sign(&req, &snapshot, &state, &done).await,
                Some(done.client),
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
    req: &HttpRequest,
    snapshot: &Snapshot,
    state: &AppState,
    done: &Authenticated<TokenRequest>,
) -> Result<HttpResponse, OAuthError> {
    let (client, request) = (&*done.client, &done.request);
    let settings = &snapshot.settings;
    let now = unix_now();
    let proofs = req.headers().get_all(DPOP).map(|v| v.as_bytes());
    let proof = snapshot
        .dpop
        .check(proofs, req.path(), &client.settings, now)?;
    grant::check_grant_type(settings, client, &request.grant_type)?;
    let mut grant = grant::decide(settings, client, request)?;
    if let Some(proof) = &proof {
        // Once every check holds: only a client with valid credentials can
        // fill the replay memory. Before the quota, so that a replayed
        // proof costs none of it (a proof spent on a 429 is not: the
        // client signs a new one for every request).
        record_proof(state, snapshot, proof, req.path(), now).await?;
    }
    // Only a request that would get a token counts against the quota.
    if let Some(quota) = &client.settings.quota {
        take_quota(state, &client.settings.id, quota, now).await?;
    }
    grant.cnf = confirmation(proof.as_ref(), done);
    let token = snapshot
        .minter
        .mint(&client.claims, &grant, now)
        .map_err(|e| {
            tracing::error!(error = %e, "could not mint a token");
            OAuthError::ServerError
        })?;
    let token_type = if grant.cnf.as_ref().is_some_and(|c| c.jkt.is_some()) {
        "DPoP"
    } else {
        "Bearer"
    };
    // Both the token (base64url and dots) and the scope (§3.3 grammar)
    // are JSON-safe as they are.
    let body = format!(
        "{{\"access_token\":\"{token}\",\"token_type\":\"{token_type}\",\"expires_in\":{},\"scope\":\"{}\"}}",
        grant.ttl,
        grant.scope.as_str()
    );
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if let Some(nonce) = snapshot.dpop.nonce_for(&client.settings, now) {
        response.insert_header((DPOP_NONCE, nonce));
    }
    Ok(response.body(body))
}

/// What a token is bound to: the DPoP proof's key, and the client
/// certificate when the client authenticated with it or has
/// `certificate_bound` (RFC 8705 §3).
fn confirmation(proof: Option<&Proof>, done: &Authenticated<TokenRequest>) -> Option<Confirmation> {
    let by_certificate = matches!(done.request.credential, Credential::Absent { .. });
    let x5t_s256 = done
        .cert
        .as_ref()
        .filter(|_| by_certificate || done.client.settings.certificate_bound)
        .map(|cert| cert.x5t_s256());
    let jkt = proof.map(|p| p.jkt.clone());
    (jkt.is_some() || x5t_s256.is_some()).then_some(Confirmation { jkt, x5t_s256 })
}

async fn take_quota(state: &AppState, id: &str, quota: &Quota, now: u64) -> Result<(), OAuthError> {
    match state.store.take_quota(id, quota, now).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(spent)) => {
            state.metrics.quota_exceeded.with_label_values(&[id]).inc();
            Err(OAuthError::QuotaSpent {
                retry_after: spent.retry_after,
            })
        }
        Err(_) => Err(OAuthError::StoreUnavailable),
    }
}

/// A proof's `jti` is accepted once (across replicas with a store).
async fn record_proof(
    state: &AppState,
    snapshot: &Snapshot,
    proof: &Proof,
    path: &str,
    now: u64,
) -> Result<(), OAuthError> {
    let scope = Dpop::replay_scope(proof, path);
    let until = snapshot.dpop.remember_until(proof);
    match state
        .store
        .first_proof(&scope, &proof.jti, until, now)
        .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Replay::Seen)) => Err(OAuthError::InvalidDpopProof(
            "the DPoP proof was used before (jti)".into(),
        )),
        Ok(Err(Replay::Full)) => {
            tracing::warn!(
                "the DPoP replay memory is full: proofs are refused (503) until entries expire"
            );
            Err(OAuthError::Busy { retry_after: 1 })
        }
        Err(_) => Err(OAuthError::StoreUnavailable),
    }
}
