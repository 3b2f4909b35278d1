//! The client assertion flow (`private_key_jwt`, and workload identity
//! federation): the client (or the issuer and subject) an assertion
//! claims, throttled as secrets are, then its signature verified with that
//! client's or issuer's keys only (`jws`), its claims checked, and a
//! client's own assertion recorded against replay.

use std::net::IpAddr;
use std::sync::Arc;

use super::jws::{self, Audience, Unverified, LEEWAY};
use super::{counts, settle, Attempt, Authenticator, Failure, Reason};
use crate::clients::Client;
use crate::config::{AssertionKeys, AuthMethod, IssuerSettings, KeySource};
use crate::jose::PublicKeys;
use crate::oauth::credentials::Assertion;
use crate::store::Replay;

impl Authenticator<'_> {
    /// A client assertion: the client (or the issuer and subject) it
    /// claims, throttled as secrets are, then verified with that client's
    /// or issuer's keys only.
    pub(super) async fn assertion(
        &self,
        a: &Assertion,
        source: Option<IpAddr>,
    ) -> Result<Arc<Client>, Failure> {
        let claimed = jws::peek(&a.jwt);
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
        let attempt = self.attempt(named.as_ref(), source, false)?;
        // From a source that failed here, a failure is reserved in the store
        // before the check; from a clean one the assertion is checked at
        // once and only a failure goes to the store. Reserving every
        // assertion made 64 connections of one valid client hold more
        // reservations in flight than `failures_per_client`: most got 429.
        let shared = self.store.is_shared();
        let reserve = shared && self.state.throttle.source_has_failures(attempt.keys);
        let reservation = self.reserve_shared(&attempt, reserve).await?;
        let result = self.assertion_checked(a, claimed, &attempt, issuer).await;
        match result {
            Err(failure) if shared && !reserve && counts(&failure) => {
                Err(self.count_shared(&attempt, failure).await)
            }
            result => {
                settle(reservation, &result);
                result
            }
        }
    }

    async fn assertion_checked(
        &self,
        a: &Assertion,
        claimed: Result<Unverified, Reason>,
        attempt: &Attempt<'_>,
        issuer: Option<&IssuerSettings>,
    ) -> Result<Arc<Client>, Failure> {
        let named = attempt.named;
        let reason = match claimed {
            Err(reason) => reason,
            Ok(claimed) => match self.check_assertion(a, &claimed, named, issuer).await {
                Ok(()) => {
                    if let Some(client) = named {
                        return Ok(Arc::clone(client));
                    }
                    Reason::UnknownClient
                }
                Err(reason @ (Reason::Busy | Reason::StoreUnavailable)) => {
                    return Err(attempt.failure(reason))
                }
                Err(reason) => reason,
            },
        };
        Err(attempt.fail(reason).await)
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
        let now = crate::clock::unix_now();
        match (&settings.assertion_keys, issuer) {
            (Some(AssertionKeys::Own(source)), None) => {
                if claimed.sub.as_deref() != Some(claimed.iss.as_str()) {
                    return Err(Reason::WrongSubject);
                }
                let keys = self.keys(source, claimed.kid.as_deref()).await?;
                let claims = jws::verify(&a.jwt, claimed, &keys)?;
                let audience = Audience::Client {
                    issuer: &self.rules.issuer,
                    token_endpoints: &self.rules.token_endpoints,
                    strict: self.rules.strict_audience,
                };
                let (exp, jti) = jws::check_claims(
                    &claims,
                    &audience,
                    self.rules.max_assertion_lifetime,
                    true,
                    now,
                )?;
                let jti = jti.ok_or(Reason::MissingJti)?;
                let used = self.store.first_use(&settings.id, &jti, exp + LEEWAY, now);
                match used.await {
                    Err(_) => Err(Reason::StoreUnavailable),
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(Replay::Seen)) => Err(Reason::Replayed),
                    Ok(Err(Replay::Full)) => {
                        tracing::warn!("the jti replay cache is full: client assertions are refused (503) until entries expire");
                        Err(Reason::Busy)
                    }
                }
            }
            (Some(AssertionKeys::Federated { .. }), Some(issuer)) => {
                let keys = self.keys(&issuer.keys, claimed.kid.as_deref()).await?;
                let claims = jws::verify(&a.jwt, claimed, &keys)?;
                let audience = Audience::Platform(&issuer.audience);
                // Platform tokens are reused until they expire: no jti check (docs/client-authentication.md).
                jws::check_claims(&claims, &audience, issuer.max_token_lifetime, false, now)?;
                Ok(())
            }
            // A federated client named by its id, or keys of the wrong kind.
            _ => Err(Reason::UnknownKey),
        }
    }

    pub(super) async fn keys(
        &self,
        source: &KeySource,
        kid: Option<&str>,
    ) -> Result<Arc<PublicKeys>, Reason> {
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
