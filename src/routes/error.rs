//! The one place an [`OAuthError`] becomes an HTTP response (RFC 6749
//! §5.2): status, `{"error","error_description"}`, `Cache-Control:
//! no-store`, the Basic challenge, `Retry-After`, `Allow`, `DPoP-Nonce`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::oauth::OAuthError;

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        match self {
            Self::InvalidClient {
                challenge: true, ..
            } => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"tokenmint\""),
                ));
            }
            Self::Throttled { retry_after }
            | Self::Busy { retry_after }
            | Self::QuotaSpent { retry_after } => {
                res.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            Self::StoreUnavailable | Self::ProofMemoryFull => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            Self::UseDpopNonce { nonce } => {
                res.insert_header(("DPoP-Nonce", nonce.as_str()));
            }
            // Its body is never read: an HTTP/1.1 connection cannot be
            // reused after it.
            Self::InFlight => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
                res.force_close();
            }
            Self::MethodNotAllowed { allow } => {
                res.insert_header((header::ALLOW, *allow));
            }
            // The rest of a trickled body is not worth waiting for.
            Self::RequestTimeout => {
                res.force_close();
            }
            _ => {}
        }
        res.json(serde_json::json!({
            "error": self.code(),
            "error_description": self.description(),
        }))
    }
}
