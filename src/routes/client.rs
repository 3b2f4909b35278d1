//! What the token and introspection routes share about the calling client:
//! running authentication with the request's source address, counting its
//! failures and refusals, and noting for the access log which client the
//! request named and why it failed.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::header::HeaderName;
use actix_web::{HttpMessage, HttpRequest};

use crate::auth::{Authenticator, Failure, Reason};
use crate::clients::Client;
use crate::oauth::credentials::Credential;
use crate::oauth::OAuthError;
use crate::state::{AppState, Snapshot};
use crate::throttle::source_address;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// What the access log says about a request beyond its HTTP facts; stored
/// in the request extensions.
#[derive(Clone, Default)]
pub struct Note {
    /// The configured client the request named (not proof of identity).
    pub client: Option<Arc<Client>>,
    /// The OAuth error code of the answer.
    pub error: Option<&'static str>,
    /// Why authentication failed.
    pub reason: Option<&'static str>,
    /// The source the throttle counted (the peer, or a trusted proxy's
    /// `X-Forwarded-For`).
    pub source: Option<IpAddr>,
}

/// Authenticates `credential`; a failure is counted by its reason, a
/// throttled request by the limit that refused it.
pub async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    snapshot: &Snapshot,
    credential: &Credential,
) -> Result<Arc<Client>, Failure> {
    let limits = &snapshot.settings.throttle;
    let forwarded = req
        .headers()
        .get_all(X_FORWARDED_FOR)
        .filter_map(|v| v.to_str().ok());
    let source = source_address(
        req.peer_addr().map(|a| a.ip()),
        forwarded,
        &limits.trusted_proxies,
    );
    let authenticator = Authenticator {
        clients: &snapshot.clients,
        state: &state.auth,
        limits,
        rules: &snapshot.assertion_rules,
    };
    let result = authenticator.authenticate(credential, source).await;
    if let Err(failure) = &result {
        let metrics = &state.metrics;
        metrics
            .auth_failures
            .with_label_values(&[failure.reason.label()])
            .inc();
        if let Reason::Throttled(refusal) = failure.reason {
            metrics
                .throttled
                .with_label_values(&[refusal.dimension.label()])
                .inc();
            if let Some(suppressed) = state.throttle_log.allow() {
                tracing::warn!(
                    source = %source.map_or_else(|| "-".into(), |s| s.to_string()),
                    limit = refusal.dimension.label(),
                    retry_after = refusal.retry_after,
                    suppressed,
                    "throttling failed client authentications"
                );
            }
        }
        note(req, |n| {
            n.reason = Some(failure.reason.label());
            n.source = source;
        });
    }
    result
}

/// The configured client `id` names, if any.
pub fn named(snapshot: &Snapshot, id: Option<&str>) -> Option<Arc<Client>> {
    id.and_then(|id| snapshot.clients.get(id)).cloned()
}

/// Records the outcome for the access log.
pub fn outcome(req: &HttpRequest, client: Option<Arc<Client>>, error: Option<&OAuthError>) {
    note(req, |n| {
        n.client = client;
        n.error = error.map(OAuthError::code);
    });
}

fn note(req: &HttpRequest, f: impl FnOnce(&mut Note)) {
    let mut extensions = req.extensions_mut();
    match extensions.get_mut::<Note>() {
        Some(n) => f(n),
        None => {
            let mut n = Note::default();
            f(&mut n);
            extensions.insert(n);
        }
    }
}
