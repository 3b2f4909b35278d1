//! What the token and introspection routes share, in one sequence
//! ([`authenticated`]): read the form body, parse it, authenticate the
//! client with the request's source address, count failures and refusals,
//! and note for the access log which client the request named and why it
//! failed.

use std::sync::Arc;

use actix_web::http::header::HeaderName;
use actix_web::{web, HttpRequest};

use super::body::{auth_header, read_form_body};
use crate::auth::{Authenticator, ClientCertificate, Failure, Reason};
use crate::clients::Client;
use crate::http::client_cert::{self, Presented};
use crate::http::Note;
use crate::oauth::credentials::Credential;
use crate::oauth::request::{ClientRequest, Rejected};
use crate::oauth::OAuthError;
use crate::state::{AppState, Snapshot};
use crate::throttle::source_address;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// A request refused before its client was authenticated: the answer, and
/// the configured client it named (for labels; never proof of identity).
pub struct Refused {
    pub error: OAuthError,
    pub client: Option<Arc<Client>>,
}

/// A request whose client is authenticated.
pub struct Authenticated<R> {
    pub request: R,
    pub client: Arc<Client>,
    /// The client certificate the request brought (handshake or trusted
    /// proxy), which a token may be bound to.
    pub cert: Option<Arc<ClientCertificate>>,
}

/// The parsed request and its authenticated client. Whatever the outcome,
/// the caller finishes with [`outcome`].
pub async fn authenticated<R: ClientRequest>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    snapshot: &Snapshot,
) -> Result<Authenticated<R>, Refused> {
    let header = auth_header(req);
    let timeout = snapshot.settings.server.request_timeout;
    let parsed = match read_form_body(req, payload, timeout).await {
        Ok(body) => R::parse(header, &body),
        Err(error) => Err(Rejected::before_body(error, header)),
    };
    let request = parsed.map_err(|rejected| Refused {
        client: named(snapshot, rejected.client_id.as_deref()),
        error: rejected.error,
    })?;
    let cert = match client_cert::presented(req, &snapshot.settings.mtls.trusted_proxies) {
        Ok(Presented::Certificate(cert)) => Some(cert),
        Ok(Presented::None) => None,
        Ok(Presented::Untrusted) => {
            // Ignored: only a trusted proxy vouches for a certificate.
            state
                .metrics
                .auth_failures
                .with_label_values(&[Reason::UntrustedClientCertHeader.label()])
                .inc();
            None
        }
        Err(reason) => {
            state
                .metrics
                .auth_failures
                .with_label_values(&[reason.label()])
                .inc();
            Note::update(req, |n| n.reason = Some(reason.label()));
            return Err(Refused {
                error: OAuthError::invalid_client("client authentication failed", false),
                client: named(
                    snapshot,
                    request
                        .credential()
                        .client_ids()
                        .first()
                        .map(String::as_str),
                ),
            });
        }
    };
    match authenticate(req, state, snapshot, request.credential(), cert.as_deref()).await {
        Ok(client) => Ok(Authenticated {
            request,
            client,
            cert,
        }),
        Err(failure) => Err(Refused {
            error: failure.error(),
            client: failure.client,
        }),
    }
}

/// Authenticates `credential`; a failure is counted by its reason, a
/// throttled request by the limit that refused it.
async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    snapshot: &Snapshot,
    credential: &Credential,
    cert: Option<&ClientCertificate>,
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
        store: &state.store,
    };
    let result = authenticator.authenticate(credential, source, cert).await;
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
        Note::update(req, |n| {
            n.reason = Some(failure.reason.label());
            n.source = source;
        });
    }
    result
}

/// The configured client `id` names, if any.
fn named(snapshot: &Snapshot, id: Option<&str>) -> Option<Arc<Client>> {
    id.and_then(|id| snapshot.clients.get(id)).cloned()
}

/// Records the outcome for the access log.
pub fn outcome(req: &HttpRequest, client: Option<Arc<Client>>, error: Option<&OAuthError>) {
    Note::update(req, |n| {
        n.client = client;
        n.error = error.map(OAuthError::code);
    });
}
