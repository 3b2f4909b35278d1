//! The only place paths are spelled. `public` is the listener clients and
//! resource servers use; `admin` holds the operations endpoints, mounted on
//! the public listener too when no `admin_listen` is configured. Each
//! resource is named by its path, so the access log labels metrics by
//! route without building a string per request.

mod body;
mod client;
mod discovery;
mod error;
mod introspect;
mod jwks;
mod ops;
mod token;

use actix_web::{web, HttpResponse};

use crate::oauth::OAuthError;
use crate::state::AppState;

/// The token endpoint; the first is the one discovery names, the second
/// WSO2 API Manager's path.
pub const TOKEN_PATHS: [&str; 2] = ["/oauth2/token", "/token"];
/// The JWK Set; the second is the conventional well-known name.
pub const JWKS_PATHS: [&str; 2] = ["/jwks", "/.well-known/jwks.json"];
/// RFC 8414 metadata, and the OpenID Connect name for the same document.
pub const DISCOVERY_PATHS: [&str; 2] = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
];
pub const INTROSPECTION_PATH: &str = "/oauth2/introspect";

const ALLOW_POST: &str = "POST";
const ALLOW_GET: &str = "GET, HEAD";

pub fn public(cfg: &mut web::ServiceConfig) {
    cfg.default_service(web::to(not_found));
    for path in TOKEN_PATHS {
        cfg.service(
            web::resource(path)
                .name(path)
                .route(web::post().to(token::token))
                .default_service(web::to(not_allowed_post)),
        );
    }
    for path in JWKS_PATHS {
        cfg.service(
            web::resource(path)
                .name(path)
                .route(web::get().to(jwks::jwks))
                .route(web::head().to(jwks::jwks))
                .default_service(web::to(not_allowed_get)),
        );
    }
    for path in DISCOVERY_PATHS {
        cfg.service(
            web::resource(path)
                .name(path)
                .route(web::get().to(discovery::discovery))
                .route(web::head().to(discovery::discovery))
                .default_service(web::to(not_allowed_get)),
        );
    }
    cfg.service(
        web::resource(INTROSPECTION_PATH)
            .name(INTROSPECTION_PATH)
            .route(web::post().to(introspect::introspect))
            .default_service(web::to(not_allowed_post)),
    );
}

/// The operations endpoints: GET, and HEAD wherever GET is (RFC 9110
/// §9.1).
pub fn admin(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .name("/metrics")
            .route(web::get().to(ops::metrics))
            .route(web::head().to(ops::metrics)),
    )
    .service(
        web::resource("/healthz")
            .name("/healthz")
            .route(web::get().to(ops::healthz))
            .route(web::head().to(ops::healthz)),
    )
    .service(
        web::resource("/readyz")
            .name("/readyz")
            .route(web::get().to(ops::readyz))
            .route(web::head().to(ops::readyz)),
    );
}

// The answers given without the request's body read it first
// (`body::discard`), so that HTTP/2 clients see them.

async fn not_found(payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    body::discard(payload, state.snapshot().settings.server.request_timeout).await;
    HttpResponse::NotFound().finish()
}

async fn not_allowed_post(
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    body::discard(payload, state.snapshot().settings.server.request_timeout).await;
    Err(OAuthError::MethodNotAllowed { allow: ALLOW_POST })
}

async fn not_allowed_get(
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    body::discard(payload, state.snapshot().settings.server.request_timeout).await;
    Err(OAuthError::MethodNotAllowed { allow: ALLOW_GET })
}
