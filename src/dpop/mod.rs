//! DPoP at the token endpoint (RFC 9449, docs/sender-constrained.md): a
//! token request may carry one proof; a valid one binds the token to the
//! proof's key (`cnf.jkt`, `token_type: DPoP`). Built once per snapshot
//! ([`Dpop`]): the normalised URLs of the token endpoint, the time window
//! and the nonce key. The proof's `jti` is recorded by the caller, last,
//! through the store.

mod htu;
mod nonce;
mod proof;

pub use htu::normalise;
pub use nonce::Nonces;
pub use proof::{verify, Expected, Proof, MAX_PROOF};

use crate::config::{ClientSettings, Settings};
use crate::oauth::OAuthError;

#[derive(Debug)]
pub struct Dpop {
    /// (path, normalised `{issuer}{path}`) for each token path.
    endpoints: Vec<(String, String)>,
    max_age: u64,
    leeway: u64,
    require_nonce: bool,
    nonces: Option<Nonces>,
}

impl Dpop {
    /// `token_paths`: where the token endpoint is served (`routes` knows).
    pub fn new(settings: &Settings, token_paths: &[&str]) -> Self {
        let dpop = &settings.dpop;
        let issuer = settings.issuer.trim_end_matches('/');
        Self {
            endpoints: token_paths
                .iter()
                .filter_map(|p| Some((p.to_string(), normalise(&format!("{issuer}{p}"))?)))
                .collect(),
            max_age: dpop.proof_max_age,
            leeway: dpop.leeway,
            require_nonce: dpop.require_nonce,
            nonces: dpop
                .nonce_secret
                .as_deref()
                .map(|s| Nonces::new(s, dpop.nonce_lifetime)),
        }
    }

    /// The nonce a token response to `client` carries (`DPoP-Nonce`), when
    /// its proofs need one.
    pub fn nonce_for(&self, client: &ClientSettings, now: u64) -> Option<String> {
        let nonces = self.nonces.as_ref()?;
        (self.require_nonce || client.dpop_nonce).then(|| nonces.issue(now))
    }

    /// The proof of a token request to `path` by `client` (already
    /// authenticated): `Ok(None)` without one (when the client may go
    /// without), `Ok(Some)` for a valid proof whose `jti` is still to be
    /// recorded, 400 `invalid_dpop_proof` or `use_dpop_nonce` otherwise.
    pub fn check<'h>(
        &self,
        mut proofs: impl Iterator<Item = &'h [u8]>,
        path: &str,
        client: &ClientSettings,
        now: u64,
    ) -> Result<Option<Proof>, OAuthError> {
        let invalid = |text: &'static str| OAuthError::InvalidDpopProof(text.into());
        let Some(first) = proofs.next() else {
            return if client.require_dpop {
                Err(invalid("this client needs a DPoP proof (DPoP header)"))
            } else {
                Ok(None)
            };
        };
        if proofs.next().is_some() {
            return Err(invalid("more than one DPoP header"));
        }
        if first.len() > MAX_PROOF {
            return Err(invalid("the DPoP proof is longer than 4096 bytes"));
        }
        let proof = std::str::from_utf8(first)
            .map_err(|_| invalid("the DPoP proof is not a JWS in compact form"))?;
        let htu = self
            .endpoints
            .iter()
            .find(|(p, _)| p == path)
            .map_or("", |(_, url)| url.as_str());
        let expected = Expected {
            htm: "POST",
            htu,
            now,
            max_age: self.max_age,
            leeway: self.leeway,
        };
        let proof = verify(proof, &expected).map_err(invalid)?;
        if let Some(nonce) = self.nonce_for(client, now) {
            let nonces = self.nonces.as_ref();
            let fresh = proof
                .nonce
                .as_deref()
                .is_some_and(|n| nonces.is_some_and(|k| k.accepts(n, now)));
            if !fresh {
                return Err(OAuthError::UseDpopNonce { nonce });
            }
        }
        Ok(Some(proof))
    }

    /// Until when a proof's `jti` must be remembered: while its `iat` is
    /// acceptable.
    pub fn remember_until(&self, proof: &Proof) -> u64 {
        proof.iat.saturating_add(self.max_age).saturating_add(1)
    }

    /// The replay scope of a proof: its key and the URL it was for.
    pub fn replay_scope(proof: &Proof, path: &str) -> String {
        format!("dpop\0{}\0{path}", proof.jkt)
    }
}
