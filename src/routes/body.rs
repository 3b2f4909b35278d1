//! Reading a request body under OAuth rules: size checked from
//! `Content-Length` before reading (413), `application/x-www-form-urlencoded`
//! required (400 `invalid_request`, not 415), the body capped while it
//! streams. Parsing it is `oauth::request`'s job.

use std::time::Duration;

use actix_web::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::web::{self, Bytes};
use actix_web::HttpRequest;

use crate::oauth::credentials::AuthHeader;
use crate::oauth::OAuthError;

pub const BODY_LIMIT: usize = 8 * 1024;

/// Reads the body within `deadline` (`server.request_timeout`): a peer that
/// trickles it gets 408 and loses its connection.
pub async fn read_form_body(
    req: &HttpRequest,
    payload: web::Payload,
    deadline: Duration,
) -> Result<Bytes, OAuthError> {
    let too_large = OAuthError::PayloadTooLarge { limit: BODY_LIMIT };
    if let Some(len) = req.headers().get(CONTENT_LENGTH) {
        let len = len
            .to_str()
            .ok()
            .and_then(|l| l.trim().parse::<u64>().ok())
            .ok_or_else(|| OAuthError::invalid_request("malformed Content-Length"))?;
        if len > BODY_LIMIT as u64 {
            return Err(too_large);
        }
    }
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    tokio::time::timeout(deadline, payload.to_bytes_limited(BODY_LIMIT))
        .await
        .map_err(|_| OAuthError::RequestTimeout)?
        .map_err(|_| too_large.clone())?
        .map_err(|_| OAuthError::invalid_request("could not read the request body"))
}

/// The `Authorization` field(s) as the OAuth layer takes them.
pub fn auth_header(req: &HttpRequest) -> AuthHeader<'_> {
    AuthHeader::from_values(req.headers().get_all(AUTHORIZATION).map(|v| v.as_bytes()))
}
