//! The client secret flow (`client_secret_basic`, `client_secret_post`):
//! the quick check inline, the slow check (PBKDF2) shared by concurrent
//! identical requests, bounded in number (503 past the bound, not a
//! failure) and run on the blocking pool, then the method check.

use std::sync::Arc;
use std::time::Duration;

use super::verified::{self, verdict, Flight};
use super::{settle, Attempt, Authenticator, Failure, Reason};
use crate::clients::{Client, Quick};
use crate::oauth::credentials::{Credential, Secret};
use crate::throttle::Refusal;

/// How one check went before the method check.
enum Checked {
    Valid,
    /// Failed and counted (401), or failed past the limit (429).
    Failed(Result<(), Refusal>),
    Refused(Reason),
}

impl Authenticator<'_> {
    /// A secret, sent with Basic (`basic`) or in the body.
    pub(super) async fn secret(
        &self,
        credential: &Credential,
        secret: &Secret,
        basic: bool,
        source: Option<std::net::IpAddr>,
    ) -> Result<Arc<Client>, Failure> {
        let named = self.clients.find(credential.client_ids()).cloned();
        let attempt = self.attempt(named.as_ref(), source, basic)?;
        // Only with a store: the check below makes the quick check again.
        let shared = self.store.is_shared();
        let right = shared && self.known_right(&attempt, secret);
        if right && self.state.throttle.source_has_failures(attempt.keys) {
            // Over a limit across the deployment: 429 before the check, as
            // for any credential; under it, nothing is reserved.
            match self.store.over_limit(attempt.keys, attempt.limits).await {
                Ok(Ok(())) => {}
                Ok(Err(refusal)) => return Err(attempt.failure(Reason::Throttled(refusal))),
                Err(_) => return Err(attempt.failure(Reason::StoreUnavailable)),
            }
        }
        let reservation = self.reserve_shared(&attempt, shared && !right).await?;
        let result = self.secret_checked(&attempt, credential, secret).await;
        settle(reservation, &result);
        result
    }

    /// A secret known to be right without a slow check: a plaintext or
    /// fast hash the quick check accepts, or a slow hash verified before
    /// on this replica (in the verified cache). It is not a guess, so it
    /// reserves no failure in the shared store. Measured: reserving for
    /// every right secret made 64 concurrent right requests at a cold
    /// start, or 300 from a source that had failed, refuse each other
    /// (429) past `failures_per_client`.
    fn known_right(&self, attempt: &Attempt<'_>, secret: &Secret) -> bool {
        let Some(client) = attempt.named else {
            return false;
        };
        match self.clients.quick_check(Some(client), &secret.secrets) {
            Quick::Valid => true,
            Quick::NeedsSlowCheck => self.state.verified.contains(client, &secret.secrets),
            Quick::Invalid => false,
        }
    }

    async fn secret_checked(
        &self,
        attempt: &Attempt<'_>,
        credential: &Credential,
        secret: &Secret,
    ) -> Result<Arc<Client>, Failure> {
        let named = attempt.named;
        let reason = match self.check(attempt, secret).await {
            Checked::Refused(reason) => return Err(attempt.failure(reason)),
            Checked::Failed(Err(refusal)) => {
                return Err(attempt.failure(Reason::Throttled(refusal)))
            }
            Checked::Failed(Ok(())) if named.is_none() => Reason::UnknownClient,
            Checked::Failed(Ok(())) => Reason::WrongSecret,
            Checked::Valid => match named {
                Some(c)
                    if credential
                        .method()
                        .is_some_and(|m| c.settings.auth_methods.contains(&m)) =>
                {
                    return Ok(Arc::clone(c));
                }
                _ => return Err(attempt.fail(Reason::MethodNotAllowed).await),
            },
        };
        Err(attempt.counted(reason).await)
    }

    async fn check(&self, attempt: &Attempt<'_>, secret: &Secret) -> Checked {
        let client = attempt.named;
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
                return Checked::Failed(attempt.count());
            }
        }
        let id = secret.ids.first().map_or("", String::as_str);
        let tag = verified.tag(client.map(Arc::as_ref), id, &secret.secrets);
        match self.state.flights.join(tag) {
            Flight::Follow(receiver) => match verdict(receiver).await {
                Some(true) => Checked::Valid,
                Some(false) => Checked::Failed(attempt.count()),
                None => Checked::Refused(Reason::Busy),
            },
            Flight::Lead(leader) => self.lead(leader, attempt, secret).await,
        }
    }

    /// Starts a shared slow check on the blocking pool. The failure is
    /// reserved before it starts and settled by the check itself, so a
    /// client that hangs up early is counted all the same.
    async fn lead(
        &self,
        leader: verified::Leader,
        attempt: &Attempt<'_>,
        secret: &Secret,
    ) -> Checked {
        let flights = Arc::clone(&self.state.flights);
        let reservation = match self.state.throttle.reserve(attempt.keys, attempt.limits) {
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
        let client = attempt.named.cloned();
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
}
