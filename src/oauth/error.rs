//! OAuth errors as values, rendered in exactly one place (RFC 6749 §5.2):
//! status, `{"error","error_description"}`, `WWW-Authenticate` for Basic,
//! `Retry-After` for throttling, and `Cache-Control: no-store`. A description
//! never contains a secret: callers pass fixed text or non-secret values.

use std::borrow::Cow;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

type Text = Cow<'static, str>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(Text),
    /// `challenge`: add `WWW-Authenticate: Basic` (Basic was used, or no
    /// credentials were sent: RFC 6749 §5.2).
    #[error("invalid_client: {description}")]
    InvalidClient { description: Text, challenge: bool },
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(Text),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(Text),
    #[error("invalid_scope: {0}")]
    InvalidScope(Text),
    /// RFC 8707 §2.
    #[error("invalid_target: {0}")]
    InvalidTarget(Text),
    #[error("temporarily_unavailable: retry after {retry_after} s")]
    TemporarilyUnavailable { retry_after: u64 },
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    /// Internal failure; the cause goes to the log, not the response.
    #[error("server_error")]
    ServerError,
}

impl OAuthError {
    pub fn invalid_request(text: impl Into<Text>) -> Self {
        Self::InvalidRequest(text.into())
    }

    pub fn invalid_client(text: impl Into<Text>, challenge: bool) -> Self {
        Self::InvalidClient {
            description: text.into(),
            challenge,
        }
    }

    /// The `error` code (also the `result` label of the request metric).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::TemporarilyUnavailable { .. } => "temporarily_unavailable",
            Self::PayloadTooLarge { .. } => "invalid_request",
            Self::MethodNotAllowed { .. } => "invalid_request",
            Self::ServerError => "server_error",
        }
    }

    fn description(&self) -> Cow<'_, str> {
        match self {
            Self::InvalidRequest(t)
            | Self::UnauthorizedClient(t)
            | Self::UnsupportedGrantType(t)
            | Self::InvalidScope(t)
            | Self::InvalidTarget(t)
            | Self::InvalidClient { description: t, .. } => Cow::Borrowed(t),
            Self::TemporarilyUnavailable { .. } => {
                "too many failed client authentications; retry later".into()
            }
            Self::PayloadTooLarge { limit } => {
                format!("request body larger than {limit} bytes").into()
            }
            Self::MethodNotAllowed { allow } => format!("method not allowed; use {allow}").into(),
            Self::ServerError => "the server could not complete the request".into(),
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            Self::TemporarilyUnavailable { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
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
            Self::TemporarilyUnavailable { retry_after } => {
                res.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            Self::MethodNotAllowed { allow } => {
                res.insert_header((header::ALLOW, *allow));
            }
            _ => {}
        }
        res.json(serde_json::json!({
            "error": self.code(),
            "error_description": self.description(),
        }))
    }
}
