//! Client authentication policy (RFC 6749 §2.3, SPEC §3.1): given the
//! credential a request presents and where it comes from, which configured
//! client it is — or why not. In order: the throttle (429 before any secret
//! is checked), the quick check inline, the slow check (PBKDF2) shared by
//! concurrent identical requests, bounded in number (503 past the bound,
//! not a failure) and run on the blocking pool, then the method check.
//! Every failure is counted and answered after one uniform delay, so time
//! tells nothing about the id. It knows no HTTP framework: routes render
//! the outcome and count it.

pub mod assertion;
pub mod replay;
mod verified;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::clients::{Client, ClientRegistry, Quick};
use crate::config::{
    AssertionKeys, AuthMethod, IssuerSettings, KeySource, Settings, ThrottleSettings,
};
use crate::jwks::remote::RemoteRegistry;
use crate::jwks::PublicKeys;
use crate::oauth::credentials::{Assertion, Credential, Secret};
use crate::oauth::OAuthError;
use crate::throttle::{Keys, Limits, Refusal, Throttle};
use assertion::{Audience, Unverified, LEEWAY};
use replay::{Replay, ReplayCache};
use verified::{verdict, Flight, Flights, Verified};

/// Why authentication failed; `label` is the `reason` of
/// `tokenmint_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NoCredentials,
    UnknownClient,
    WrongSecret,
    MethodNotAllowed,
    Throttled(Refusal),
    /// Too many slow checks in progress (503; not counted as a failure).
    Busy,
    /// The slow check could not run (the blocking pool failed).
    Internal,
    /// Client assertions (SPEC §4): not a JWS with a JSON header and payload.
    MalformedAssertion,
    /// `none`, HMAC, or an algorithm tokenmint does not verify.
    AssertionAlg,
    AssertionTyp,
    /// No key of that client or issuer has the `kid` (or, without one, the `alg`).
    UnknownKey,
    BadSignature,
    WrongAudience,
    AssertionExpired,
    AssertionNotYetValid,
    AssertionLifetime,
    MissingJti,
    Replayed,
    /// `sub` is not `iss`, or the body's `client_id` names another client.
    WrongSubject,
    /// The `iss` is neither a client id nor a trusted issuer.
    UnknownIssuer,
    /// The client's or issuer's `jwks_uri` could not be fetched, and no keys are known.
    KeysUnavailable,
}

impl Reason {
    /// Every `label`, for series that exist from the start at 0 (the first
    /// failure of a kind then shows in `rate()`).
    pub const LABELS: [&'static str; 21] = [
        "no_credentials",
        "unknown_client",
        "wrong_secret",
        "method_not_allowed",
        "throttled",
        "busy",
        "internal",
        "malformed_assertion",
        "assertion_alg",
        "assertion_typ",
        "unknown_key",
        "bad_signature",
        "wrong_audience",
        "assertion_expired",
        "assertion_not_yet_valid",
        "assertion_lifetime",
        "missing_jti",
        "replayed",
        "wrong_subject",
        "unknown_issuer",
        "keys_unavailable",
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::NoCredentials => "no_credentials",
            Self::UnknownClient => "unknown_client",
            Self::WrongSecret => "wrong_secret",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Throttled(_) => "throttled",
            Self::Busy => "busy",
            Self::Internal => "internal",
            Self::MalformedAssertion => "malformed_assertion",
            Self::AssertionAlg => "assertion_alg",
            Self::AssertionTyp => "assertion_typ",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::WrongAudience => "wrong_audience",
            Self::AssertionExpired => "assertion_expired",
            Self::AssertionNotYetValid => "assertion_not_yet_valid",
            Self::AssertionLifetime => "assertion_lifetime",
            Self::MissingJti => "missing_jti",
            Self::Replayed => "replayed",
            Self::WrongSubject => "wrong_subject",
            Self::UnknownIssuer => "unknown_issuer",
            Self::KeysUnavailable => "keys_unavailable",
        }
    }
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
            Reason::NoCredentials => OAuthError::invalid_client(
                "client authentication is required (HTTP Basic or client_secret_post)",
                true,
            ),
            Reason::Throttled(refusal) => OAuthError::Throttled {
                retry_after: refusal.retry_after,
            },
            Reason::Busy => OAuthError::Busy { retry_after: 1 },
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
    /// `jti`s of accepted client assertions.
    pub replay: ReplayCache,
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
            replay: ReplayCache::default(),
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
}

/// The snapshot's rules for client assertions (SPEC §4.1).
#[derive(Debug)]
pub struct AssertionRules {
    /// tokenmint's issuer identifier: the `aud` rfc7523bis asks for.
    pub issuer: String,
    /// The token endpoint URLs, accepted as `aud` unless strict.
    pub token_endpoints: Vec<String>,
    pub strict_audience: bool,
    pub max_assertion_lifetime: u64,
    pub min_refresh: Duration,
}

impl AssertionRules {
    pub fn new(settings: &Settings) -> Self {
        let base = settings.base_url();
        Self {
            issuer: settings.issuer.clone(),
            token_endpoints: vec![format!("{base}/oauth2/token"), format!("{base}/token")],
            strict_audience: settings.client_auth.strict_audience,
            max_assertion_lifetime: settings.client_auth.max_assertion_lifetime,
            min_refresh: Duration::from_secs(settings.client_auth.jwks_min_refresh),
        }
    }
}

/// How one check went before the method check.
enum Checked {
    Valid,
    /// Failed and counted (401), or failed past the limit (429).
    Failed(Result<(), Refusal>),
    Refused(Reason),
}

impl Authenticator<'_> {
    /// The client `credential` proves, from `source`.
    pub async fn authenticate(
        &self,
        credential: &Credential,
        source: Option<IpAddr>,
    ) -> Result<Arc<Client>, Failure> {
        if let Credential::Assertion(a) = credential {
            return self.assertion(a, source).await;
        }
        let started = Instant::now();
        let named = self.clients.find(credential.client_ids()).cloned();
        let fail = |reason, basic| Failure {
            reason,
            client: named.clone(),
            basic,
        };
        let (basic, secret) = match credential {
            Credential::Basic(secret) => (true, secret),
            Credential::Post(secret) => (false, secret),
            Credential::Assertion(_) | Credential::Absent { .. } => {
                return Err(fail(Reason::NoCredentials, true))
            }
        };
        let limits = Limits {
            per_client_source: self.limits.failures_per_client,
            per_source: self.limits.failures_per_address,
        };
        let throttle = &self.state.throttle;
        let keys = throttle.keys(named.as_ref().map(|c| c.settings.id.as_str()), source);
        throttle
            .check(keys, limits)
            .map_err(|r| fail(Reason::Throttled(r), basic))?;
        let reason = match self.check(named.as_ref(), secret, keys, limits).await {
            Checked::Refused(reason) => return Err(fail(reason, basic)),
            Checked::Failed(Err(refusal)) => return Err(fail(Reason::Throttled(refusal), basic)),
            Checked::Failed(Ok(())) if named.is_none() => Reason::UnknownClient,
            Checked::Failed(Ok(())) => Reason::WrongSecret,
            Checked::Valid => match &named {
                Some(c)
                    if credential
                        .method()
                        .is_some_and(|m| c.settings.auth_methods.contains(&m)) =>
                {
                    return Ok(Arc::clone(c))
                }
                _ => match throttle.fail(keys, limits) {
                    Ok(()) => Reason::MethodNotAllowed,
                    Err(refusal) => return Err(fail(Reason::Throttled(refusal), basic)),
                },
            },
        };
        // One answer time for every failure (SPEC §3.1), without a worker.
        tokio::time::sleep_until((started + self.clients.failure_delay()).into()).await;
        Err(fail(reason, basic))
    }

    async fn check(
        &self,
        client: Option<&Arc<Client>>,
        secret: &Secret,
        keys: Keys<'_>,
        limits: Limits,
    ) -> Checked {
        let quick = self
            .clients
            .quick_check(client.map(Arc::as_ref), &secret.secrets);
        let verified = &self.state.verified;
        match quick {
            Quick::Valid => return Checked::Valid,
            Quick::NeedsSlowCheck
                if client.is_some_and(|c| verified.contains(c, &secret.secrets)) =>
            {
                return Checked::Valid
            }
            Quick::NeedsSlowCheck => {}
            Quick::Invalid => {
                // Under saturation a failure is 503 whatever the id, as a
                // slow one would be: the answer must not tell them apart.
                if self.clients.failure_delay() > Duration::ZERO
                    && self.state.slow_checks.available_permits() == 0
                {
                    return Checked::Refused(Reason::Busy);
                }
                return Checked::Failed(self.state.throttle.fail(keys, limits));
            }
        }
        let id = secret.ids.first().map_or("", String::as_str);
        let tag = verified.tag(client.map(Arc::as_ref), id, &secret.secrets);
        match self.state.flights.join(tag) {
            Flight::Follow(receiver) => match verdict(receiver).await {
                Some(true) => Checked::Valid,
                Some(false) => Checked::Failed(self.state.throttle.fail(keys, limits)),
                None => Checked::Refused(Reason::Busy),
            },
            Flight::Lead(leader) => self.lead(leader, client, secret, keys, limits).await,
        }
    }

    /// Starts a shared slow check on the blocking pool. The failure is
    /// reserved before it starts and settled by the check itself, so a
    /// client that hangs up early is counted all the same.
    async fn lead(
        &self,
        leader: verified::Leader,
        client: Option<&Arc<Client>>,
        secret: &Secret,
        keys: Keys<'_>,
        limits: Limits,
    ) -> Checked {
        let flights = Arc::clone(&self.state.flights);
        let reservation = match self.state.throttle.reserve(keys, limits) {
            Ok(r) => r,
            Err(refusal) => {
                flights.abort(leader);
                return Checked::Failed(Err(refusal));
            }
        };
        let Ok(permit) = Arc::clone(&self.state.slow_checks).try_acquire_owned() else {
            flights.abort(leader);
            return Checked::Refused(Reason::Busy);
        };
        let clients = Arc::clone(self.clients);
        let verified = Arc::clone(&self.state.verified);
        let client = client.cloned();
        let secrets = secret.secrets.clone();
        let job = tokio::task::spawn_blocking(move || {
            let matched = clients.slow_check(client.as_deref(), &secrets);
            match (&client, matched) {
                (Some(client), Some(i)) => verified.remember(client, &secrets[i]),
                _ => reservation.fail(),
            }
            drop(permit);
            let valid = matched.is_some();
            flights.land(leader, valid);
            valid
        });
        match job.await {
            Ok(true) => Checked::Valid,
            Ok(false) => Checked::Failed(Ok(())),
            Err(_) => Checked::Refused(Reason::Internal),
        }
    }

    /// A client assertion: the client (or the issuer and subject) it
    /// claims, throttled as secrets are, then verified with that client's
    /// or issuer's keys only.
    async fn assertion(
        &self,
        a: &Assertion,
        source: Option<IpAddr>,
    ) -> Result<Arc<Client>, Failure> {
        let started = Instant::now();
        let claimed = assertion::peek(&a.jwt);
        let (named, issuer) = match &claimed {
            Ok(c) => match self.clients.issuer(&c.iss) {
                Some((index, issuer)) => (
                    c.sub
                        .as_deref()
                        .and_then(|s| self.clients.federated(index, s))
                        .cloned(),
                    Some(issuer),
                ),
                None => (self.clients.get(&c.iss).cloned(), None),
            },
            Err(_) => (
                a.client_id
                    .as_deref()
                    .and_then(|id| self.clients.get(id))
                    .cloned(),
                None,
            ),
        };
        let fail = |reason| Failure {
            reason,
            client: named.clone(),
            basic: false,
        };
        let limits = Limits {
            per_client_source: self.limits.failures_per_client,
            per_source: self.limits.failures_per_address,
        };
        let throttle = &self.state.throttle;
        let keys = throttle.keys(named.as_ref().map(|c| c.settings.id.as_str()), source);
        throttle
            .check(keys, limits)
            .map_err(|r| fail(Reason::Throttled(r)))?;
        let reason = match claimed {
            Err(reason) => reason,
            Ok(claimed) => match self
                .check_assertion(a, &claimed, named.as_ref(), issuer)
                .await
            {
                Ok(()) => {
                    if let Some(client) = &named {
                        return Ok(Arc::clone(client));
                    }
                    Reason::UnknownClient
                }
                Err(Reason::Busy) => return Err(fail(Reason::Busy)),
                Err(reason) => reason,
            },
        };
        if let Err(refusal) = throttle.fail(keys, limits) {
            return Err(fail(Reason::Throttled(refusal)));
        }
        tokio::time::sleep_until((started + self.clients.failure_delay()).into()).await;
        Err(fail(reason))
    }

    async fn check_assertion(
        &self,
        a: &Assertion,
        claimed: &Unverified,
        client: Option<&Arc<Client>>,
        issuer: Option<&IssuerSettings>,
    ) -> Result<(), Reason> {
        let Some(client) = client else {
            return Err(match issuer {
                Some(_) => Reason::UnknownClient,
                None if claimed.iss.contains("://") => Reason::UnknownIssuer,
                None => Reason::UnknownClient,
            });
        };
        let settings = &client.settings;
        if a.client_id.as_ref().is_some_and(|id| *id != settings.id) {
            return Err(Reason::WrongSubject);
        }
        if !settings.auth_methods.contains(&AuthMethod::PrivateKeyJwt) {
            return Err(Reason::MethodNotAllowed);
        }
        let now = crate::token::unix_now();
        match (&settings.assertion_keys, issuer) {
            (Some(AssertionKeys::Own(source)), None) => {
                if claimed.sub.as_deref() != Some(claimed.iss.as_str()) {
                    return Err(Reason::WrongSubject);
                }
                let keys = self.keys(source, claimed.kid.as_deref()).await?;
                let claims = assertion::verify(&a.jwt, claimed, &keys)?;
                let audience = Audience::Client {
                    issuer: &self.rules.issuer,
                    token_endpoints: &self.rules.token_endpoints,
                    strict: self.rules.strict_audience,
                };
                let (exp, jti) = assertion::check_claims(
                    &claims,
                    &audience,
                    self.rules.max_assertion_lifetime,
                    true,
                    now,
                )?;
                let jti = jti.ok_or(Reason::MissingJti)?;
                match self
                    .state
                    .replay
                    .insert(&settings.id, &jti, exp + LEEWAY, now)
                {
                    Ok(()) => Ok(()),
                    Err(Replay::Seen) => Err(Reason::Replayed),
                    Err(Replay::Full) => {
                        tracing::warn!("the jti replay cache is full: client assertions are refused (503) until entries expire");
                        Err(Reason::Busy)
                    }
                }
            }
            (Some(AssertionKeys::Federated { .. }), Some(issuer)) => {
                let keys = self.keys(&issuer.keys, claimed.kid.as_deref()).await?;
                let claims = assertion::verify(&a.jwt, claimed, &keys)?;
                let audience = Audience::Platform(&issuer.audience);
                // Platform tokens are reused until they expire: no jti check (SPEC §4.2).
                assertion::check_claims(&claims, &audience, issuer.max_token_lifetime, false, now)?;
                Ok(())
            }
            // A federated client named by its id, or keys of the wrong kind.
            _ => Err(Reason::UnknownKey),
        }
    }

    async fn keys(&self, source: &KeySource, kid: Option<&str>) -> Result<Arc<PublicKeys>, Reason> {
        match source {
            KeySource::Static(keys) => Ok(Arc::clone(keys)),
            KeySource::Remote(remote) => self
                .state
                .remote
                .get(remote)
                .keys_for(kid, self.rules.min_refresh)
                .await
                .map_err(|_| Reason::KeysUnavailable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_label_is_listed_for_the_series_made_at_start() {
        use Reason::*;
        for reason in [
            NoCredentials,
            UnknownClient,
            WrongSecret,
            MethodNotAllowed,
            Busy,
            Internal,
            MalformedAssertion,
            AssertionAlg,
            AssertionTyp,
            UnknownKey,
            BadSignature,
            WrongAudience,
            AssertionExpired,
            AssertionNotYetValid,
            AssertionLifetime,
            MissingJti,
            Replayed,
            WrongSubject,
            UnknownIssuer,
            KeysUnavailable,
        ] {
            assert!(Reason::LABELS.contains(&reason.label()), "{reason:?}");
        }
        assert!(Reason::LABELS.contains(&"throttled"));
    }
}
