//! Client authentication policy (RFC 6749 §2.3, SPEC §3.1): given the
//! credential a request presents and where it comes from, which configured
//! client it is — or why not. It consults the throttle before any secret is
//! checked, runs the cheap checks inline and the slow ones (PBKDF2) on the
//! blocking pool, records failures, and checks that the client may use the
//! method it used. It knows no HTTP framework: routes render the outcome
//! and count it.

use std::net::IpAddr;
use std::sync::Arc;

use crate::clients::{Check, Client, ClientRegistry};
use crate::config::ThrottleSettings;
use crate::oauth::credentials::{Credential, Secret};
use crate::oauth::OAuthError;
use crate::throttle::Throttle;

/// Why authentication failed; `label` is the `reason` of
/// `tokenmint_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NoCredentials,
    UnknownClient,
    WrongSecret,
    MethodNotAllowed,
    Throttled {
        retry_after: u64,
    },
    /// The slow check could not run (the blocking pool failed).
    Internal,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Self::NoCredentials => "no_credentials",
            Self::UnknownClient => "unknown_client",
            Self::WrongSecret => "wrong_secret",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Throttled { .. } => "throttled",
            Self::Internal => "internal",
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
            Reason::Throttled { retry_after } => OAuthError::Throttled { retry_after },
            Reason::Internal => OAuthError::ServerError,
            Reason::UnknownClient | Reason::WrongSecret | Reason::MethodNotAllowed => {
                OAuthError::invalid_client("client authentication failed", self.basic)
            }
        }
    }
}

/// What authentication needs beyond the request: the clients of the
/// current snapshot, the application's throttle and its limits.
pub struct Authenticator<'a> {
    pub clients: &'a Arc<ClientRegistry>,
    pub throttle: &'a Throttle,
    pub limits: &'a ThrottleSettings,
}

impl Authenticator<'_> {
    /// The client `credential` proves, from `source`.
    pub async fn authenticate(
        &self,
        credential: &Credential,
        source: Option<IpAddr>,
    ) -> Result<Arc<Client>, Failure> {
        let method = credential.method();
        let named = self.clients.find(credential.client_ids()).cloned();
        let (basic, secret) = match credential {
            Credential::Basic(secret) => (true, secret),
            Credential::Post(secret) => (false, secret),
            Credential::Absent { .. } => {
                return Err(Failure {
                    reason: Reason::NoCredentials,
                    client: named,
                    basic: true,
                })
            }
        };
        let fail = |reason, client| Failure {
            reason,
            client,
            basic,
        };
        let client_key = named.as_ref().map(|c| c.settings.id.as_str());
        let limits = (
            self.limits.failures_per_client,
            self.limits.failures_per_address,
        );
        if let Some(retry_after) = self.throttle.check(client_key, source, limits) {
            return Err(fail(Reason::Throttled { retry_after }, named));
        }
        let valid = match self.verify(named.as_ref(), secret).await {
            Ok(valid) => valid,
            Err(()) => return Err(fail(Reason::Internal, named)),
        };
        let reason = match &named {
            None => Reason::UnknownClient,
            Some(_) if !valid => Reason::WrongSecret,
            Some(c) if !method.is_some_and(|m| c.settings.auth_methods.contains(&m)) => {
                Reason::MethodNotAllowed
            }
            Some(c) => return Ok(Arc::clone(c)),
        };
        self.throttle.record_failure(client_key, source, limits);
        Err(fail(reason, named))
    }

    /// Checks the secret: inline when cheap, on the blocking pool when it
    /// needs PBKDF2 (for an unknown id too, at the same cost).
    async fn verify(&self, client: Option<&Arc<Client>>, secret: &Secret) -> Result<bool, ()> {
        match self
            .clients
            .verify_fast(client.map(Arc::as_ref), &secret.secrets)
        {
            Check::Valid => Ok(true),
            Check::Invalid => Ok(false),
            Check::NeedsHashing => {
                let clients = Arc::clone(self.clients);
                let client = client.cloned();
                let secrets = secret.secrets.clone();
                tokio::task::spawn_blocking(move || {
                    clients.verify_slow(client.as_deref(), &secrets)
                })
                .await
                .map_err(|_| ())
            }
        }
    }
}
