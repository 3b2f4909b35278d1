//! `POST /oauth2/introspect` (RFC 7662). Any authenticated client may
//! introspect; the answer is `{"active": false}` for anything that is not a
//! live token of this server, without saying why (§2.2).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::body::{auth_header, read_form_body};
use super::client::{authenticate, named, outcome};
use crate::oauth::request::{IntrospectionRequest, Rejected};
use crate::oauth::OAuthError;
use crate::state::AppState;
use crate::token::{unix_now, verify};

pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let snapshot = state.snapshot();
    let header = auth_header(&req);
    let parsed = match read_form_body(&req, payload, snapshot.settings.server.request_timeout).await
    {
        Ok(body) => IntrospectionRequest::parse(header, &body),
        Err(error) => Err(Rejected::before_body(error, header)),
    };
    let request = parsed.map_err(|rejected| {
        let client = named(&snapshot, rejected.client_id.as_deref());
        outcome(&req, client, Some(&rejected.error));
        rejected.error
    })?;
    let client = authenticate(&req, &state, &snapshot, &request.credential).await;
    let client = client.map_err(|failure| {
        let error = failure.error();
        outcome(&req, failure.client, Some(&error));
        error
    })?;
    outcome(&req, Some(client), None);
    let body = match verify(
        &snapshot.keys,
        &snapshot.settings.issuer,
        &request.token,
        unix_now(),
    ) {
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
