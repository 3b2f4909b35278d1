//! Client authentication policy (RFC 6749 §2.3): given the credential a
//! request presents and where it comes from, which configured client it is
//! — or why not. Each flow has its module (`secret`, `assertion`); they
//! share the throttle step here ([`Attempt`]): 429 before any credential
//! is checked when a limit is reached, and every failure counted and
//! answered after one uniform delay, so time tells nothing about the id.
//! It knows no HTTP framework: routes render the outcome and count it.

mod assertion;
mod certificate;
mod jws;
mod secret;
mod verified;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use tokio::sync::Semaphore;

use crate::clients::{Client, ClientRegistry};
use crate::config::{AuthMethod, Settings, ThrottleSettings};
use crate::jwks::RemoteRegistry;
use crate::oauth::credentials::Credential;
use crate::oauth::OAuthError;
use crate::store::{Reservation, Store};
use crate::throttle::{Keys, Limits, Refusal, Throttle};
use verified::{Flights, Verified};

pub use certificate::ClientCertificate;

/// Declares [`Reason`] with each variant's label, listed once.
macro_rules! reasons {
    ($( $(#[$doc:meta])* $variant:ident $(($data:ty))? => $label:literal, )*) => {
        /// Why authentication failed; `label` is the `reason` of
        /// `tokenmint_auth_failures_total`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Reason {
            $( $(#[$doc])* $variant $(($data))?, )*
        }

        impl Reason {
            /// Every `label`, for series that exist from the start at 0
            /// (the first failure of a kind then shows in `rate()`).
            pub const LABELS: &'static [&'static str] = &[$($label),*];

            pub fn label(self) -> &'static str {
                match self {
                    $( reasons!(@pattern $variant $(($data))?) => $label, )*
                }
            }
        }
    };
    (@pattern $variant:ident ($data:ty)) => { Reason::$variant(_) };
    (@pattern $variant:ident) => { Reason::$variant };
}

reasons! {
    NoCredentials => "no_credentials",
    UnknownClient => "unknown_client",
    WrongSecret => "wrong_secret",
    MethodNotAllowed => "method_not_allowed",
    Throttled(Refusal) => "throttled",
    /// Too many slow checks in progress (503; not counted as a failure).
    Busy => "busy",
    /// The slow check could not run (the blocking pool failed).
    Internal => "internal",
    /// Client assertions: not a JWS with a JSON header and payload.
    MalformedAssertion => "malformed_assertion",
    /// `none`, HMAC, or an algorithm tokenmint does not verify.
    AssertionAlg => "assertion_alg",
    AssertionTyp => "assertion_typ",
    /// No key of that client or issuer has the `kid` (or, without one, the `alg`).
    UnknownKey => "unknown_key",
    BadSignature => "bad_signature",
    WrongAudience => "wrong_audience",
    AssertionExpired => "assertion_expired",
    AssertionNotYetValid => "assertion_not_yet_valid",
    AssertionLifetime => "assertion_lifetime",
    MissingJti => "missing_jti",
    Replayed => "replayed",
    /// `sub` is not `iss`, or the body's `client_id` names another client.
    WrongSubject => "wrong_subject",
    /// The `iss` is neither a client id nor a trusted issuer.
    UnknownIssuer => "unknown_issuer",
    /// The client's or issuer's `jwks_uri` could not be fetched, and no keys are known.
    KeysUnavailable => "keys_unavailable",
    /// The shared store failed and `[store] on_error = "closed"` (503; not
    /// counted as a failure).
    StoreUnavailable => "store_unavailable",
    /// mTLS: the client authenticates with a certificate, or has its
    /// tokens bound to one, and the request brought none. `true`: its
    /// other credential was right (`certificate_bound`), and the answer is
    /// that of a wrong one; `false`: it sent only its id, and the answer is
    /// that of no credentials at all.
    NoCertificate(bool) => "no_certificate",
    /// mTLS: the certificate does not chain to `[mtls] ca_file`, or does
    /// not name the client, or its key is none of the client's.
    CertificateMismatch => "certificate_mismatch",
    /// A `Client-Cert` header from a peer not in `[mtls] trusted_proxies`
    /// (ignored; counted, not refused).
    UntrustedClientCertHeader => "untrusted_client_cert_header",
    /// A `Client-Cert` header from a trusted proxy that is not `:base64:`
    /// of a certificate.
    BadClientCertHeader => "bad_client_cert_header",
}

/// A failed authentication: why, and the configured client the request
/// named, if any (for labels: never proof of identity).
#[derive(Debug)]
pub struct Failure {
    pub reason: Reason,
    pub client: Option<Arc<Client>>,
    /// Basic was used, or nothing: the answer carries the Basic challenge.
    basic: bool,
}

impl Failure {
    /// The response: one answer for every wrong credential, so that it
    /// never tells which part was wrong (RFC 6749 §5.2 `invalid_client`).
    pub fn error(&self) -> OAuthError {
        match self.reason {
            // One answer whether the id names a certificate client or none.
            Reason::NoCredentials | Reason::NoCertificate(false) => OAuthError::invalid_client(
                "client authentication is required (HTTP Basic, client_secret_post, a client assertion or a client certificate)",
                true,
            ),
            Reason::Throttled(refusal) => OAuthError::Throttled {
                retry_after: refusal.retry_after,
            },
            Reason::Busy => OAuthError::Busy { retry_after: 1 },
            Reason::StoreUnavailable => OAuthError::StoreUnavailable,
            Reason::Internal => OAuthError::ServerError,
            _ => OAuthError::invalid_client("client authentication failed", self.basic),
        }
    }
}

/// What authentication keeps for the life of the application, across
/// reloads: the throttle, the verified-secret cache, the checks in flight
/// and the bound on slow checks.
pub struct AuthState {
    pub throttle: Arc<Throttle>,
    verified: Arc<Verified>,
    flights: Arc<Flights>,
    slow_checks: Arc<Semaphore>,
    /// Fetched JWK Sets, by source.
    pub remote: RemoteRegistry,
}

impl AuthState {
    /// `slow_checks`: how many PBKDF2 checks may run at once (about the
    /// number of cores: more only queue).
    pub fn new(slow_checks: usize) -> Result<Self, ring::error::Unspecified> {
        Ok(Self {
            throttle: Arc::new(Throttle::default()),
            verified: Arc::new(Verified::new()?),
            flights: Arc::new(Flights::default()),
            slow_checks: Arc::new(Semaphore::new(slow_checks.max(1))),
            remote: RemoteRegistry::default(),
        })
    }
}

/// One authentication: the clients of the current snapshot, the
/// application's state and the limits in force.
pub struct Authenticator<'a> {
    pub clients: &'a Arc<ClientRegistry>,
    pub state: &'a AuthState,
    pub limits: &'a ThrottleSettings,
    pub rules: &'a AssertionRules,
    /// Where assertions' `jti`s are remembered.
    pub store: &'a Store,
}

/// The snapshot's rules for client assertions (docs/client-authentication.md).
#[derive(Debug)]
pub struct AssertionRules {
    /// tokenmint's issuer identifier: the `aud` rfc7523bis asks for.
    pub issuer: String,
    /// The token endpoint URLs, accepted as `aud` unless strict.
    pub token_endpoints: Vec<String>,
    pub strict_audience: bool,
    pub max_assertion_lifetime: u64,
    pub min_refresh: Duration,
    /// What `tls_client_auth` certificates chain to (`[mtls] ca_file`).
    pub client_ca: Option<Arc<dyn ClientCertVerifier>>,
}

impl AssertionRules {
    pub fn new(settings: &Settings, token_paths: &[&str]) -> Self {
        let base = settings.base_url();
        Self {
            issuer: settings.issuer.clone(),
            token_endpoints: token_paths.iter().map(|p| format!("{base}{p}")).collect(),
            strict_audience: settings.client_auth.strict_audience,
            max_assertion_lifetime: settings.client_auth.max_assertion_lifetime,
            min_refresh: Duration::from_secs(settings.client_auth.jwks_min_refresh),
            client_ca: client_ca(&settings.mtls.roots),
        }
    }
}

/// A rustls-webpki verifier of chains to `roots` (none without roots).
fn client_ca(
    roots: &[rustls::pki_types::CertificateDer<'static>],
) -> Option<Arc<dyn ClientCertVerifier>> {
    if roots.is_empty() {
        return None;
    }
    let mut store = rustls::RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(roots.iter().cloned());
    if added == 0 {
        tracing::warn!("[mtls] ca_file holds no usable CA certificate: tls_client_auth fails");
        return None;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| tracing::warn!("[mtls] ca_file cannot verify client certificates: {e}"))
        .ok()
}

impl Authenticator<'_> {
    /// The client `credential` proves, from `source`, over a connection
    /// (or proxy) that presented `cert`.
    pub async fn authenticate(
        &self,
        credential: &Credential,
        source: Option<IpAddr>,
        cert: Option<&ClientCertificate>,
    ) -> Result<Arc<Client>, Failure> {
        let started = Instant::now();
        let basic = matches!(credential, Credential::Basic(_));
        let client = match (credential, cert) {
            (Credential::Assertion(a), _) => self.assertion(a, source).await,
            (Credential::Basic(secret), _) => self.secret(credential, secret, true, source).await,
            (Credential::Post(secret), _) => self.secret(credential, secret, false, source).await,
            // Any id with a certificate is checked (counted, answered after
            // the uniform delay), known or not: the answer tells nothing.
            (
                Credential::Absent {
                    client_id: Some(id),
                },
                Some(cert),
            ) => self.certificate(id, cert, source).await,
            (Credential::Absent { .. }, None) => {
                let client = self.clients.find(credential.client_ids()).cloned();
                let by_certificate = client.as_ref().is_some_and(|c| by_certificate(c));
                Err(Failure {
                    reason: if by_certificate {
                        Reason::NoCertificate(false)
                    } else {
                        Reason::NoCredentials
                    },
                    client,
                    basic: true,
                })
            }
            (Credential::Absent { client_id: None }, Some(_)) => Err(Failure {
                reason: Reason::NoCredentials,
                client: None,
                basic: true,
            }),
        }?;
        if client.settings.certificate_bound && cert.is_none() {
            // Its tokens are bound to a certificate: without one, none. The
            // right credential is answered as a wrong one, counted and after
            // the same delay, or time and headers would tell it was right.
            return Err(match self.attempt(Some(&client), source, basic) {
                Ok(mut attempt) => {
                    attempt.started = started;
                    attempt.fail(Reason::NoCertificate(true)).await
                }
                Err(throttled) => throttled,
            });
        }
        Ok(client)
    }

    /// The throttle step every flow starts with: refused (429) before any
    /// check when the source, or the client named from it, is at its limit.
    fn attempt<'a>(
        &'a self,
        named: Option<&'a Arc<Client>>,
        source: Option<IpAddr>,
        basic: bool,
    ) -> Result<Attempt<'a>, Failure> {
        let throttle = &self.state.throttle;
        let attempt = Attempt {
            started: Instant::now(),
            throttle,
            keys: throttle.keys(named.map(|c| c.settings.id.as_str()), source),
            limits: Limits {
                per_client_source: self.limits.failures_per_client,
                per_source: self.limits.failures_per_address,
            },
            named,
            basic,
            failure_delay: self.clients.failure_delay(),
        };
        throttle
            .check(attempt.keys, attempt.limits)
            .map_err(|r| attempt.failure(Reason::Throttled(r)))?;
        Ok(attempt)
    }
}

impl Authenticator<'_> {
    /// With a shared store and `shared`, reserves one failure there before
    /// the credential is checked: 429 when a limit is reached across the
    /// deployment, 503 when the store fails under `on_error = "closed"`.
    async fn reserve_shared(
        &self,
        attempt: &Attempt<'_>,
        shared: bool,
    ) -> Result<Reservation, Failure> {
        if !shared {
            return Ok(Reservation::default());
        }
        match self
            .store
            .reserve_failure(attempt.keys, attempt.limits)
            .await
        {
            Ok(Ok(reservation)) => Ok(reservation),
            Ok(Err(refusal)) => Err(attempt.failure(Reason::Throttled(refusal))),
            Err(_) => Err(attempt.failure(Reason::StoreUnavailable)),
        }
    }
}

impl Authenticator<'_> {
    /// Counts a failure checked without a reservation in the shared
    /// counters: past a limit it is answered 429, as a local failure past
    /// the limit is.
    async fn count_shared(&self, attempt: &Attempt<'_>, failure: Failure) -> Failure {
        match self
            .store
            .reserve_failure(attempt.keys, attempt.limits)
            .await
        {
            Ok(Err(refusal)) => attempt.failure(Reason::Throttled(refusal)),
            _ => failure, // counted (or the store failed: the local count stands)
        }
    }
}

/// Whether `client` may authenticate with a certificate.
fn by_certificate(client: &Client) -> bool {
    client.settings.auth_methods.iter().any(|m| {
        matches!(
            m,
            AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth
        )
    })
}

/// Whether a failure counts against the limits (a check ran and failed).
fn counts(failure: &Failure) -> bool {
    !matches!(
        failure.reason,
        Reason::Busy | Reason::Internal | Reason::StoreUnavailable | Reason::Throttled(_)
    )
}

/// A shared reservation stays counted when the check failed, and is given
/// back otherwise (a success, or no check at all: busy, unavailable).
fn settle(reservation: Reservation, result: &Result<Arc<Client>, Failure>) {
    let failed = result.as_ref().is_err_and(|f| {
        !matches!(
            f.reason,
            Reason::Busy | Reason::Internal | Reason::StoreUnavailable
        )
    });
    if !failed {
        reservation.release();
    }
}

/// One authentication attempt as the throttle sees it.
struct Attempt<'a> {
    started: Instant,
    throttle: &'a Throttle,
    keys: Keys<'a>,
    limits: Limits,
    /// The configured client the request named (not proof of identity).
    named: Option<&'a Arc<Client>>,
    basic: bool,
    failure_delay: Duration,
}

impl Attempt<'_> {
    /// A failure answered at once, not counted.
    fn failure(&self, reason: Reason) -> Failure {
        Failure {
            reason,
            client: self.named.cloned(),
            basic: self.basic,
        }
    }

    /// Counts one failure: `Err` when it reaches a limit (then 429).
    fn count(&self) -> Result<(), Refusal> {
        self.throttle.fail(self.keys, self.limits)
    }

    /// Counts a failure and answers it after the uniform delay; 429 at
    /// once when it reaches a limit.
    async fn fail(&self, reason: Reason) -> Failure {
        match self.count() {
            Ok(()) => self.counted(reason).await,
            Err(refusal) => self.failure(Reason::Throttled(refusal)),
        }
    }

    /// Answers a failure already counted, after the uniform delay (one
    /// answer time for every failure, without holding a worker).
    async fn counted(&self, reason: Reason) -> Failure {
        tokio::time::sleep_until((self.started + self.failure_delay).into()).await;
        self.failure(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_snake_case_and_one_per_reason() {
        let mut labels = Reason::LABELS.to_vec();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Reason::LABELS.len());
        assert!(Reason::LABELS
            .iter()
            .all(|l| l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        assert!(Reason::LABELS.contains(&Reason::WrongSecret.label()));
    }
}
