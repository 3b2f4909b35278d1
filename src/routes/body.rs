//! Reading a form body under OAuth rules: size checked from `Content-Length`
//! before reading (413), `application/x-www-form-urlencoded` required
//! (400 `invalid_request`, not 415), the body capped while it streams.

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{web, HttpRequest};

use crate::oauth::form::Form;
use crate::oauth::OAuthError;

pub const BODY_LIMIT: usize = 8 * 1024;

pub async fn read_form(req: &HttpRequest, payload: web::Payload) -> Result<Form, OAuthError> {
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
    let body = payload
        .to_bytes_limited(BODY_LIMIT)
        .await
        .map_err(|_| too_large.clone())?
        .map_err(|_| OAuthError::invalid_request("could not read the request body"))?;
    Form::parse(&body)
}
