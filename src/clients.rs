//! The configured clients, looked up by id, and what checking their secrets
//! costs: quick checks (plaintext development secrets and the `$sha256$`
//! form, compared in constant time), slow ones (PBKDF2, for the blocking
//! pool), and a dummy slow check for unknown ids while any client has a
//! slow hash, so that an unknown id does the same work as a known one.
//! Caching, sharing and bounding slow checks is `auth`'s job.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{AssertionKeys, ClientSecret, ClientSettings, IssuerSettings};
use crate::crypto::{ct_eq, sha256};
use crate::scope::ScopeSet;
use crate::secret_hash::SecretHash;
use crate::token::ClientClaims;

/// A configured client, with what every token of it shares prebuilt.
#[derive(Debug)]
pub struct Client {
    pub settings: ClientSettings,
    pub claims: ClientClaims,
    /// `default_scopes` as the grant hands them out.
    pub default_scopes: ScopeSet,
    /// SHA-256 over the stored secrets: changes whenever they change, so a
    /// verified secret is remembered only while its client's secrets stay.
    pub secrets_fingerprint: [u8; 32],
    slow_hashes: usize,
}

impl Client {
    /// `issuers` are the trusted issuers a federated client may name.
    pub fn new(settings: ClientSettings, issuers: &[IssuerSettings]) -> Self {
        let federated = match &settings.assertion_keys {
            Some(AssertionKeys::Federated { issuer, subject }) => issuers
                .get(*issuer)
                .map(|i| (i.issuer.as_str(), subject.as_str())),
            _ => None,
        };
        let mut stored = Vec::with_capacity(64 * settings.secrets.len());
        for secret in &settings.secrets {
            match secret {
                ClientSecret::Plain(digest) => {
                    stored.push(0);
                    stored.extend_from_slice(digest);
                }
                ClientSecret::Hashed(hash) => hash.identify(&mut stored),
            }
        }
        Self {
            claims: ClientClaims::new(&settings, federated),
            default_scopes: ScopeSet::from_tokens(
                settings.default_scopes.iter().map(String::as_str),
            ),
            secrets_fingerprint: sha256(&stored),
            slow_hashes: settings
                .secrets
                .iter()
                .filter(|s| matches!(s, ClientSecret::Hashed(h) if h.is_slow()))
                .count(),
            settings,
        }
    }

    /// Whether any of its secrets needs the slow check.
    pub fn has_slow_secret(&self) -> bool {
        self.slow_hashes > 0
    }
}

/// The verdict of the quick check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quick {
    Valid,
    Invalid,
    /// Only the slow check can tell: run [`ClientRegistry::slow_check`].
    NeedsSlowCheck,
}

pub struct ClientRegistry {
    clients: HashMap<String, Arc<Client>>,
    /// The trusted issuers, and each by its `iss`.
    issuers: Vec<IssuerSettings>,
    by_issuer: HashMap<String, usize>,
    /// Federated clients by (issuer index, subject).
    federated: HashMap<(usize, String), Arc<Client>>,
    /// Checked for unknown ids, at the cost a real client's hash has.
    dummy: Option<SecretHash>,
    failure_delay: Duration,
}

impl std::fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistry")
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Candidate encodings of one presented secret (RFC 6749 §2.3.1 decoded and
/// raw), the most a check ever tries.
const MAX_CANDIDATES: u32 = 2;

impl ClientRegistry {
    /// Builds the registry. With any slow hash configured this times one
    /// PBKDF2 check at the highest configured cost (a fraction of a second).
    pub fn new(
        settings: Vec<ClientSettings>,
        issuers: Vec<IssuerSettings>,
    ) -> Result<Self, ring::error::Unspecified> {
        let clients: HashMap<_, _> = settings
            .into_iter()
            .map(|c| (c.id.clone(), Arc::new(Client::new(c, &issuers))))
            .collect();
        let federated = clients
            .values()
            .filter_map(|c| match &c.settings.assertion_keys {
                Some(AssertionKeys::Federated { issuer, subject }) => {
                    Some(((*issuer, subject.clone()), Arc::clone(c)))
                }
                _ => None,
            })
            .collect();
        let by_issuer = issuers
            .iter()
            .enumerate()
            .map(|(i, t)| (t.issuer.clone(), i))
            .collect();
        let cost = clients
            .values()
            .flat_map(|c| c.settings.secrets.iter())
            .filter_map(|s| match s {
                ClientSecret::Hashed(h) => h.iterations(),
                ClientSecret::Plain(_) => None,
            })
            .max();
        let (dummy, failure_delay) = match cost {
            Some(cost) => {
                let (dummy, one_check) = dummy_hash(cost)?;
                let most = clients.values().map(|c| c.slow_hashes).max().unwrap_or(1);
                // The slowest failure: every candidate against every hash,
                // with a margin for a busy machine.
                let slowest = one_check * MAX_CANDIDATES * most.max(1) as u32;
                (Some(dummy), slowest + slowest / 4)
            }
            None => (None, Duration::ZERO),
        };
        Ok(Self {
            clients,
            issuers,
            by_issuer,
            federated,
            dummy,
            failure_delay,
        })
    }

    /// The trusted issuer whose identifier is `iss`, with its index.
    pub fn issuer(&self, iss: &str) -> Option<(usize, &IssuerSettings)> {
        let &i = self.by_issuer.get(iss)?;
        Some((i, &self.issuers[i]))
    }

    pub fn issuers(&self) -> &[IssuerSettings] {
        &self.issuers
    }

    /// The client bound to `subject` of the issuer at `issuer`.
    pub fn federated(&self, issuer: usize, subject: &str) -> Option<&Arc<Client>> {
        self.federated.get(&(issuer, subject.to_string()))
    }

    /// Looks up the first of `ids` that names a configured client.
    pub fn find(&self, ids: &[String]) -> Option<&Arc<Client>> {
        ids.iter().find_map(|id| self.clients.get(id))
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Client>> {
        self.clients.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Client>> {
        self.clients.values()
    }

    /// How long every failed authentication takes to answer: the cost of
    /// the slowest configured check, so that time tells nothing about the
    /// id, the number of stored secrets or the encoding presented.
    pub fn failure_delay(&self) -> Duration {
        self.failure_delay
    }

    /// Plaintext and `$sha256$` secrets, in constant time; never PBKDF2.
    pub fn quick_check(&self, client: Option<&Client>, secrets: &[String]) -> Quick {
        let Some(client) = client else {
            return if self.dummy.is_some() {
                Quick::NeedsSlowCheck
            } else {
                Quick::Invalid
            };
        };
        let mut valid = false;
        for stored in &client.settings.secrets {
            for s in secrets {
                valid |= match stored {
                    ClientSecret::Plain(digest) => ct_eq(&sha256(s.as_bytes()), digest),
                    ClientSecret::Hashed(h) if !h.is_slow() => h.verify(s),
                    ClientSecret::Hashed(_) => false,
                };
            }
        }
        match (valid, client.has_slow_secret()) {
            (true, _) => Quick::Valid,
            (false, true) => Quick::NeedsSlowCheck,
            (false, false) => Quick::Invalid,
        }
    }

    /// PBKDF2 against the client's slow hashes (the dummy for an unknown
    /// id): the index in `secrets` of the candidate that verified. Slow by
    /// design: run it on the blocking pool.
    pub fn slow_check(&self, client: Option<&Client>, secrets: &[String]) -> Option<usize> {
        let Some(client) = client else {
            if let Some(dummy) = &self.dummy {
                for s in secrets {
                    let _ = dummy.verify(s);
                }
            }
            return None;
        };
        for stored in &client.settings.secrets {
            if let ClientSecret::Hashed(hash) = stored {
                if hash.is_slow() {
                    if let Some(i) = secrets.iter().position(|s| hash.verify(s)) {
                        return Some(i);
                    }
                }
            }
        }
        None
    }
}

/// A dummy PBKDF2 hash at `cost` and how long one check at that cost took,
/// made once per cost for the process: a reload under load would otherwise
/// spend two PBKDF2 runs of CPU on it every time. The measured time is that
/// of the derivation, which is the same work as a check.
fn dummy_hash(cost: u32) -> Result<(SecretHash, Duration), ring::error::Unspecified> {
    static MADE: Mutex<Option<(u32, SecretHash, Duration)>> = Mutex::new(None);
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, hash, took)) = made.as_ref().filter(|(c, _, _)| *c == cost) {
        return Ok((hash.clone(), *took));
    }
    let mut secret = [0u8; 32];
    crate::crypto::random_bytes(&mut secret)?;
    let started = Instant::now();
    let hash = SecretHash::derive(&hex(&secret), cost)?;
    let took = started.elapsed();
    *made = Some((cost, hash.clone(), took));
    Ok((hash, took))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
