//! RFC 8414 metadata, made once per snapshot on first use; every URL
//! derives from the issuer and the paths `routes` serves.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{INTROSPECTION_PATH, JWKS_PATHS, TOKEN_PATHS};
use crate::config::AuthMethod;
use crate::jose::{alg_name, ALGS};
use crate::state::{AppState, Snapshot};

pub async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.snapshot();
    let body = snapshot
        .discovery_body
        .get_or_init(|| document(&snapshot).to_string().into())
        .clone();
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(body)
}

/// RFC 8414 §2 metadata.
fn document(snapshot: &Snapshot) -> serde_json::Value {
    let settings = &snapshot.settings;
    let base = settings.base_url();
    let clients = || snapshot.clients.iter().map(|c| &c.settings);
    let mut scopes: Vec<&str> = clients()
        .flat_map(|c| c.scopes.iter().map(String::as_str))
        .collect();
    scopes.sort_unstable();
    scopes.dedup();
    let mut algs: Vec<&str> = snapshot.keys.iter().map(|k| alg_name(k.alg)).collect();
    algs.sort_unstable();
    algs.dedup();
    let grants: &[&str] = if settings.client_credentials.enable {
        &["client_credentials"]
    } else {
        &[]
    };
    // The methods some client may use, in a fixed order.
    let auth_methods: Vec<&str> = AuthMethod::ALL
        .into_iter()
        .filter(|m| clients().any(|c| c.auth_methods.contains(m)))
        .map(AuthMethod::name)
        .collect();
    let mut doc = json!({
        "issuer": settings.issuer,
        "token_endpoint": format!("{base}{}", TOKEN_PATHS[0]),
        "jwks_uri": format!("{base}{}", JWKS_PATHS[0]),
        "introspection_endpoint": format!("{base}{INTROSPECTION_PATH}"),
        "grant_types_supported": grants,
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": scopes,
        "access_token_signing_alg_values_supported": algs,
        "dpop_signing_alg_values_supported": ALGS.iter().map(|(_, name)| *name).collect::<Vec<_>>(),
        // RFC 8705 §3.3: tokens may be bound to the client certificate.
        "tls_client_certificate_bound_access_tokens": true,
    });
    if auth_methods.contains(&AuthMethod::PrivateKeyJwt.name()) {
        let assertion_algs: Vec<&str> = ALGS.iter().map(|(_, name)| *name).collect();
        for field in [
            "token_endpoint_auth_signing_alg_values_supported",
            "introspection_endpoint_auth_signing_alg_values_supported",
        ] {
            doc[field] = json!(assertion_algs);
        }
    }
    doc
}
