//! The configured clients, looked up by id, and secret verification:
//! constant-time for plaintext (development) secrets, PBKDF2 for hashed ones
//! behind a verified-secret cache, and a dummy check for unknown ids so that
//! an unknown id is never cheaper than a wrong secret.
//!
//! The cache is keyed by HMAC-SHA256(per-registry random key, id ‖ 0 ‖
//! secret), never by the secret; only successes enter it, and it lives and
//! dies with the snapshot, so a reload (secret rotation) empties it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use ring::hmac;

use crate::config::{ClientSecret, ClientSettings, Settings};
use crate::crypto::{ct_eq, sha256};
use crate::oauth::scope::ScopeSet;
use crate::secret_hash::{SecretHash, DEFAULT_ITERATIONS};
use crate::token::ClientClaims;

const CACHE_CAPACITY: usize = 10_000;

/// A configured client, with what every token of it shares prebuilt.
#[derive(Debug)]
pub struct Client {
    pub settings: ClientSettings,
    pub claims: ClientClaims,
    /// `default_scopes` as the grant hands them out.
    pub default_scopes: ScopeSet,
}

impl Client {
    pub fn new(settings: ClientSettings) -> Self {
        Self {
            claims: ClientClaims::new(&settings),
            default_scopes: ScopeSet::from_tokens(
                settings.default_scopes.iter().map(String::as_str),
            ),
            settings,
        }
    }

    fn has_hashed_secret(&self) -> bool {
        self.settings
            .secrets
            .iter()
            .any(|s| matches!(s, ClientSecret::Hashed(_)))
    }
}

/// The verdict of the cheap path.
pub enum Check {
    Valid,
    Invalid,
    /// Needs PBKDF2: run [`ClientRegistry::verify_slow`] off the workers.
    NeedsHashing,
}

pub struct ClientRegistry {
    clients: HashMap<String, Arc<Client>>,
    /// Verified for unknown ids, at the cost a real hashed client pays.
    dummy_hash: Option<SecretHash>,
    cache_key: hmac::Key,
    /// Read on every request of a hashed-secret client, written on a miss.
    cache: RwLock<HashSet<[u8; 32]>>,
}

impl std::fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistry")
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ClientRegistry {
    pub fn new(settings: &Settings) -> Result<Self, ring::error::Unspecified> {
        let clients: HashMap<_, _> = settings
            .clients
            .iter()
            .map(|c| (c.id.clone(), Arc::new(Client::new(c.clone()))))
            .collect();
        let dummy_hash = if clients.values().any(|c| c.has_hashed_secret()) {
            let mut secret = [0u8; 16];
            crate::crypto::random_bytes(&mut secret)?;
            let cost = clients
                .values()
                .flat_map(|c| c.settings.secrets.iter())
                .filter_map(|s| match s {
                    ClientSecret::Hashed(h) => Some(h.iterations()),
                    ClientSecret::Plain(_) => None,
                })
                .max()
                .unwrap_or(DEFAULT_ITERATIONS);
            Some(SecretHash::derive(&base64_of(&secret), cost)?)
        } else {
            None
        };
        Ok(Self {
            clients,
            dummy_hash,
            cache_key: hmac::Key::generate(hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())?,
            cache: RwLock::new(HashSet::new()),
        })
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

    /// Plaintext secrets and cached successes; never hashes.
    pub fn verify_fast(&self, client: Option<&Client>, secrets: &[String]) -> Check {
        let Some(client) = client else {
            return if self.dummy_hash.is_some() {
                Check::NeedsHashing
            } else {
                // Same work as a plaintext comparison, same answer every time.
                let _ = ct_eq(&sha256(secrets[0].as_bytes()), &[0u8; 32]);
                Check::Invalid
            };
        };
        let mut plain_ok = false;
        for stored in &client.settings.secrets {
            if let ClientSecret::Plain(digest) = stored {
                for s in secrets {
                    plain_ok |= ct_eq(&sha256(s.as_bytes()), digest);
                }
            }
        }
        if plain_ok {
            return Check::Valid;
        }
        if !client.has_hashed_secret() {
            return Check::Invalid;
        }
        // Tags first, so the lock is held for the lookups only.
        let tags: Vec<[u8; 32]> = secrets
            .iter()
            .map(|s| self.cache_tag(&client.settings.id, s))
            .collect();
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        if tags.iter().any(|t| cache.contains(t)) {
            Check::Valid
        } else {
            Check::NeedsHashing
        }
    }

    /// PBKDF2 against the client's hashes (or the dummy for an unknown id).
    /// Slow by design: call it from a blocking pool.
    pub fn verify_slow(&self, client: Option<&Client>, secrets: &[String]) -> bool {
        let Some(client) = client else {
            if let Some(dummy) = &self.dummy_hash {
                let _ = dummy.verify(&secrets[0]);
            }
            return false;
        };
        for stored in &client.settings.secrets {
            if let ClientSecret::Hashed(hash) = stored {
                for s in secrets {
                    if hash.verify(s) {
                        self.remember(&client.settings.id, s);
                        return true;
                    }
                }
            }
        }
        false
    }

    fn remember(&self, id: &str, secret: &str) {
        let tag = self.cache_tag(id, secret);
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            // Crude but bounded: real clients re-verify once and come back.
            cache.clear();
        }
        cache.insert(tag);
    }

    fn cache_tag(&self, id: &str, secret: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.cache_key);
        ctx.update(id.as_bytes());
        ctx.update(&[0]);
        ctx.update(secret.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
