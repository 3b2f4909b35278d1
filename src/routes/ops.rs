//! Operations endpoints: `/metrics`, `/healthz`, `/readyz`.

use actix_web::{web, HttpResponse};

use crate::state::AppState;

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(state.snapshot().keys.active()))
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// A snapshot always holds a valid config and a signing key: one that
/// failed to build never replaces the current one. After SIGTERM: 503.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.is_draining() {
        return HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "draining" }));
    }
    let snapshot = state.snapshot();
    HttpResponse::Ok().json(serde_json::json!({
        "status": "ready",
        "active_kid": snapshot.keys.active().kid,
    }))
}
