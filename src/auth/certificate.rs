//! The certificate flow (RFC 8705 §2): a client that sends only its
//! `client_id` proves itself with the TLS client certificate of the
//! connection (or the `Client-Cert` header of a trusted proxy).
//! `tls_client_auth`: the certificate chains to a CA of `[mtls] ca_file`
//! (rustls-webpki: signatures, validity, key usage) and carries the one
//! subject the client names. `self_signed_tls_client_auth`: its public key
//! is one of the client's keys; no chain is checked. Throttled and counted
//! as assertions are.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, UnixTime};

use super::{counts, settle, Authenticator, Failure, Reason};
use crate::clients::Client;
use crate::config::{AssertionKeys, AuthMethod};

/// A client certificate as presented: the chain, leaf first.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub chain: Vec<CertificateDer<'static>>,
}

impl ClientCertificate {
    /// RFC 8705 §3.1: `cnf.x5t#S256` of a token bound to it.
    pub fn x5t_s256(&self) -> String {
        crate::x509::x5t_s256(self.chain.first().map_or(&[][..], |c| c.as_ref()))
    }
}

impl Authenticator<'_> {
    /// `client_id` alone, proven by `cert`.
    pub(super) async fn certificate(
        &self,
        client_id: &str,
        cert: &ClientCertificate,
        source: Option<IpAddr>,
    ) -> Result<Arc<Client>, Failure> {
        let named = self.clients.get(client_id).cloned();
        let attempt = self.attempt(named.as_ref(), source, false)?;
        let shared = self.store.is_shared();
        let reserve = shared && self.state.throttle.source_has_failures(attempt.keys);
        let reservation = self.reserve_shared(&attempt, reserve).await?;
        let result = match self.check_certificate(named.as_ref(), cert).await {
            Ok(client) => Ok(client),
            Err(reason @ Reason::KeysUnavailable) => Err(attempt.failure(reason)),
            Err(reason) => Err(attempt.fail(reason).await),
        };
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

    async fn check_certificate(
        &self,
        client: Option<&Arc<Client>>,
        cert: &ClientCertificate,
    ) -> Result<Arc<Client>, Reason> {
        let client = client.ok_or(Reason::UnknownClient)?;
        let settings = &client.settings;
        let methods = &settings.auth_methods;
        let by_ca = methods.contains(&AuthMethod::TlsClientAuth);
        let self_signed = methods.contains(&AuthMethod::SelfSignedTlsClientAuth);
        if !by_ca && !self_signed {
            return Err(Reason::MethodNotAllowed);
        }
        let (leaf, intermediates) = cert
            .chain
            .split_first()
            .ok_or(Reason::CertificateMismatch)?;
        let parsed = crate::x509::parse(leaf).ok_or(Reason::CertificateMismatch)?;
        if by_ca {
            let chained = self.rules.client_ca.as_ref().is_some_and(|ca| {
                ca.verify_client_cert(leaf, intermediates, UnixTime::now())
                    .is_ok()
            });
            let named = settings
                .subject
                .as_ref()
                .is_some_and(|s| s.matches(&parsed));
            if chained && named {
                return Ok(Arc::clone(client));
            }
        }
        if self_signed {
            if let (Some(thumbprint), Some(AssertionKeys::Own(source))) = (
                crate::x509::key_thumbprint(&parsed),
                &settings.assertion_keys,
            ) {
                if self.keys(source, None).await?.has_thumbprint(&thumbprint) {
                    return Ok(Arc::clone(client));
                }
            }
        }
        Err(Reason::CertificateMismatch)
    }
}
