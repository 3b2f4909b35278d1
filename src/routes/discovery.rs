//! RFC 8414 metadata, prebuilt per snapshot.

use actix_web::{web, HttpResponse};

use crate::state::AppState;

pub async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(state.snapshot().discovery_body.clone())
}
