//! Reading a request body under OAuth rules: size checked from
//! `Content-Length` before reading (413), `application/x-www-form-urlencoded`
//! required (400 `invalid_request`, not 415), the body capped while it
//! streams. Parsing it is `oauth::request`'s job.

use std::pin::Pin;
use std::time::Duration;

use actix_web::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::HttpRequest;
use futures_core::Stream;

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
    let mut expected = 0;
    if let Some(len) = req.headers().get(CONTENT_LENGTH) {
        let len = len
            .to_str()
            .ok()
            .and_then(|l| l.trim().parse::<u64>().ok())
            .ok_or_else(|| OAuthError::invalid_request("malformed Content-Length"))?;
        if len > BODY_LIMIT as u64 {
            return Err(too_large);
        }
        expected = len as usize;
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
    match tokio::time::timeout(deadline, collect(payload, expected)).await {
        Err(_) => Err(OAuthError::RequestTimeout),
        Ok(Err(Unread::TooLarge)) => Err(too_large),
        Ok(Err(Unread::Broken)) => Err(OAuthError::invalid_request(
            "could not read the request body",
        )),
        Ok(Ok(body)) => Ok(body),
    }
}

/// Reads and drops the body, up to [`BODY_LIMIT`] bytes and within
/// `deadline`, for a route that answers without it. Over HTTP/2 an answer
/// that leaves the request body unread ends the stream with a reset that
/// clients report as a protocol error (curl 7.88: "(92) Stream error in
/// the HTTP/2 framing layer") instead of the status; read, the request
/// ends normally and the client sees the answer.
pub async fn discard(mut payload: web::Payload, deadline: Duration) {
    let drain = async {
        let mut read = 0;
        while let Ok(Some(chunk)) = next_chunk(&mut payload).await {
            read += chunk.len();
            if read > BODY_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(deadline, drain).await;
}

enum Unread {
    TooLarge,
    Broken,
}

/// The body, at most [`BODY_LIMIT`] bytes. One that arrives in one piece
/// (the usual case: it came in the same read as its head) is that piece,
/// not copied; pieces are gathered in a buffer sized from `Content-Length`.
/// actix-web's `to_bytes_limited` reserves 32 KiB for every body instead:
/// an allocation per request, and 32 KiB of address space per slow client.
async fn collect(mut payload: web::Payload, expected: usize) -> Result<Bytes, Unread> {
    let Some(first) = next_chunk(&mut payload).await? else {
        return Ok(Bytes::new());
    };
    let Some(second) = next_chunk(&mut payload).await? else {
        return if first.len() > BODY_LIMIT {
            Err(Unread::TooLarge)
        } else {
            Ok(first)
        };
    };
    let wanted = expected.max(first.len() + second.len()).min(BODY_LIMIT);
    let mut body = BytesMut::with_capacity(wanted);
    let mut chunk = Some(second);
    body.extend_from_slice(&first);
    while let Some(piece) = chunk {
        if body.len() + piece.len() > BODY_LIMIT {
            return Err(Unread::TooLarge);
        }
        body.extend_from_slice(&piece);
        chunk = next_chunk(&mut payload).await?;
    }
    Ok(body.freeze())
}

async fn next_chunk(payload: &mut web::Payload) -> Result<Option<Bytes>, Unread> {
    match std::future::poll_fn(|cx| Pin::new(&mut *payload).poll_next(cx)).await {
        None => Ok(None),
        Some(Ok(chunk)) => Ok(Some(chunk)),
        Some(Err(_)) => Err(Unread::Broken),
    }
}

/// The `Authorization` field(s) as the OAuth layer takes them.
pub fn auth_header(req: &HttpRequest) -> AuthHeader<'_> {
    AuthHeader::from_values(req.headers().get_all(AUTHORIZATION).map(|v| v.as_bytes()))
}
