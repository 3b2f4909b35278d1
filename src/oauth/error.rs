//! OAuth errors as values (RFC 6749 §5.2, RFC 8707 §2): the `error` code,
//! the HTTP status, and a description. Rendering them as HTTP responses is
//! `routes::error`'s job, the one place that does it.
//!
//! A description uses only the characters §5.2 allows (printable ASCII but
//! `"` and `\`), stays short, and never repeats request input: callers pass
//! fixed text that may name a parameter, never its value.

use std::borrow::Cow;

type Text = Cow<'static, str>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(Text),
    /// `challenge`: answer with `WWW-Authenticate: Basic` (Basic was used,
    /// or no credentials were sent: RFC 6749 §5.2).
    #[error("invalid_client: {description}")]
    InvalidClient { description: Text, challenge: bool },
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(Text),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(Text),
    #[error("invalid_scope: {0}")]
    InvalidScope(Text),
    #[error("invalid_target: {0}")]
    InvalidTarget(Text),
    /// Too many failed authentications (429).
    #[error("temporarily_unavailable: retry after {retry_after} s")]
    Throttled { retry_after: u64 },
    /// Too many slow secret checks in progress (503).
    #[error("temporarily_unavailable: busy, retry after {retry_after} s")]
    Busy { retry_after: u64 },
    /// Too many requests in progress on one connection or one worker
    /// (`routes::in_flight`, 503).
    #[error("temporarily_unavailable: too many requests in flight")]
    InFlight,
    /// The shared store failed and `on_error = "closed"`.
    #[error("temporarily_unavailable: the shared store does not answer")]
    StoreUnavailable,
    /// The client's quota of tokens is spent until the window ends.
    #[error("temporarily_unavailable: quota spent, retry after {retry_after} s")]
    QuotaSpent { retry_after: u64 },
    /// An invalid or duplicated DPoP proof, or none from a client that
    /// needs one (RFC 9449 §5).
    #[error("invalid_dpop_proof: {0}")]
    InvalidDpopProof(Text),
    /// The proof needs a nonce tokenmint issued (RFC 9449 §8): `nonce` is
    /// a fresh one, sent as `DPoP-Nonce`.
    #[error("use_dpop_nonce")]
    UseDpopNonce { nonce: String },
    /// Every slot of the in-process DPoP replay memory holds a proof not
    /// yet expired (503).
    #[error("temporarily_unavailable: too many recent DPoP proofs")]
    ProofMemoryFull,
    /// The body did not arrive within `server.request_timeout` (408).
    #[error("request body too slow")]
    RequestTimeout,
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
            Self::InvalidRequest(_) | Self::PayloadTooLarge { .. } | Self::RequestTimeout => {
                "invalid_request"
            }
            Self::MethodNotAllowed { .. } => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::UseDpopNonce { .. } => "use_dpop_nonce",
            Self::Throttled { .. }
            | Self::Busy { .. }
            | Self::InFlight
            | Self::QuotaSpent { .. }
            | Self::ProofMemoryFull
            | Self::StoreUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient { .. } => 401,
            Self::Throttled { .. } | Self::QuotaSpent { .. } => 429,
            Self::PayloadTooLarge { .. } => 413,
            Self::RequestTimeout => 408,
            Self::MethodNotAllowed { .. } => 405,
            Self::Busy { .. } | Self::InFlight | Self::StoreUnavailable | Self::ProofMemoryFull => {
                503
            }
            Self::ServerError => 500,
            _ => 400,
        }
    }

    /// The `error_description`.
    pub fn description(&self) -> Cow<'_, str> {
        match self {
            Self::InvalidRequest(t)
            | Self::UnauthorizedClient(t)
            | Self::UnsupportedGrantType(t)
            | Self::InvalidScope(t)
            | Self::InvalidTarget(t)
            | Self::InvalidDpopProof(t)
            | Self::InvalidClient { description: t, .. } => Cow::Borrowed(t),
            Self::Throttled { .. } => "too many failed client authentications; retry later".into(),
            Self::Busy { .. } => "too many client authentications in progress; retry later".into(),
            Self::InFlight => "too many requests in progress; retry later".into(),
            Self::QuotaSpent { .. } => "this client's quota of tokens is spent; retry later".into(),
            Self::UseDpopNonce { .. } => {
                "the DPoP proof must carry the nonce in the DPoP-Nonce header".into()
            }
            Self::StoreUnavailable => "the shared store does not answer; retry later".into(),
            Self::ProofMemoryFull => "too many recent DPoP proofs to remember; retry later".into(),
            Self::PayloadTooLarge { limit } => {
                format!("request body larger than {limit} bytes").into()
            }
            Self::MethodNotAllowed { allow } => format!("method not allowed; use {allow}").into(),
            Self::RequestTimeout => "the request body did not arrive in time".into(),
            Self::ServerError => "the server could not complete the request".into(),
        }
    }
}

/// RFC 6749 §5.2: `error_description` is `%x20-21 / %x23-5B / %x5D-7E`.
pub fn is_valid_description(text: &str) -> bool {
    text.bytes()
        .all(|b| b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}
