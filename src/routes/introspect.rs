//! `POST /oauth2/introspect` (RFC 7662). Any authenticated client may
//! introspect; the answer is `{"active": false}` for anything that is not a
//! live token of this server, without saying why (§2.2). The same sequence
//! as the token endpoint (`client::authenticated`), then one verification.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::client::{authenticated, outcome};
use crate::clock::unix_now;
use crate::oauth::request::IntrospectionRequest;
use crate::oauth::OAuthError;
use crate::state::{AppState, Snapshot};
use crate::token::verify;

pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let snapshot = state.snapshot();
    let (result, client) =
        match authenticated::<IntrospectionRequest>(&req, payload, &state, &snapshot).await {
            Ok(done) => (Ok(answer(&snapshot, &done.request)), Some(done.client)),
            Err(refused) => (Err(refused.error), refused.client),
        };
    outcome(&req, client, result.as_ref().err());
    result
}

fn answer(snapshot: &Snapshot, request: &IntrospectionRequest) -> HttpResponse {
    let settings = &snapshot.settings;
    let body = match verify(&snapshot.keys, &settings.issuer, &request.token, unix_now()) {
        Ok(mut claims) => {
            claims.insert("active".into(), Value::Bool(true));
            // RFC 9449 §6.2: a token bound to a DPoP key is a DPoP token.
            let dpop = claims.get("cnf").and_then(|c| c.get("jkt")).is_some();
            let token_type = if dpop { "DPoP" } else { "Bearer" };
            claims.insert("token_type".into(), Value::String(token_type.into()));
            Value::Object(claims)
        }
        Err(reason) => {
            tracing::debug!(%reason, "introspected token is inactive");
            serde_json::json!({ "active": false })
        }
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}
