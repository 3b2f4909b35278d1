//! `POST /oauth2/introspect` (RFC 7662). Any authenticated client may
//! introspect; the answer is `{"active": false}` for anything that is not a
//! live token of this server, without saying why (§2.2).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::token::authenticated_form;
use crate::oauth::OAuthError;
use crate::state::AppState;
use crate::token::{unix_now, verify};

pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let snapshot = state.snapshot();
    let (form, _client) = authenticated_form(&req, payload, &snapshot, &state).await?;
    let token = form
        .single("token")?
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let now = unix_now();
    let body = match verify(&snapshot.keys, &snapshot.settings.issuer, token, now) {
        Ok(mut claims) => {
            claims.insert("active".into(), Value::Bool(true));
            claims.insert("token_type".into(), Value::String("Bearer".into()));
            Value::Object(claims)
        }
        Err(reason) => {
            tracing::debug!(%reason, "introspected token is inactive");
            serde_json::json!({ "active": false })
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}
