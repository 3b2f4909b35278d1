//! What the token and introspection routes share about the calling client:
//! running authentication with the request's source address and counting
//! its failures, and labelling the request with the client it named.

use std::sync::Arc;

use actix_web::{HttpMessage, HttpRequest};

use crate::auth::{Authenticator, Failure};
use crate::clients::Client;
use crate::oauth::credentials::Credential;
use crate::state::{AppState, Snapshot};
use crate::throttle::source_address;

/// The configured client a request named, for the access log; stored in
/// the request extensions.
#[derive(Clone)]
pub struct ClientLabel(pub Arc<Client>);

/// Authenticates `credential`; a failure is counted by its reason.
pub async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    snapshot: &Snapshot,
    credential: &Credential,
) -> Result<Arc<Client>, Failure> {
    let limits = &snapshot.settings.throttle;
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
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
    };
    let result = authenticator.authenticate(credential, source).await;
    if let Err(failure) = &result {
        state
            .metrics
            .auth_failures
            .with_label_values(&[failure.reason.label()])
            .inc();
    }
    result
}

/// The configured client `id` names, if any.
pub fn named(snapshot: &Snapshot, id: Option<&str>) -> Option<Arc<Client>> {
    id.and_then(|id| snapshot.clients.get(id)).cloned()
}

/// Records the client for the access log.
pub fn label(req: &HttpRequest, client: Option<Arc<Client>>) {
    if let Some(client) = client {
        req.extensions_mut().insert(ClientLabel(client));
    }
}
