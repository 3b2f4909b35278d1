//! The [`Snapshot`]: one consistent view of settings, clients and keys, with
//! every response body that depends only on them prebuilt (JWK Set + ETag;
//! discovery on first use). Handlers take the current snapshot from [`AppState`] once per
//! request; a reload builds a whole new one and swaps it in, so a request
//! never sees half of a change.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use actix_web::http::header::EntityTag;
use actix_web::web::Bytes;
use arc_swap::ArcSwap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::auth::{AssertionRules, AuthState};
use crate::clients::ClientRegistry;
use crate::config::Settings;
use crate::dpop::Dpop;
use crate::keys::{KeyError, KeySet};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::throttle::LogLimiter;
use crate::token::Minter;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("while loading keys from {dir}:\n  - {}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  - "))]
    Keys { dir: PathBuf, errors: Vec<KeyError> },
    #[error("the system random generator failed")]
    Random,
}

#[derive(Debug)]
pub struct Snapshot {
    pub settings: Settings,
    pub clients: Arc<ClientRegistry>,
    pub assertion_rules: AssertionRules,
    pub keys: KeySet,
    /// Writes this snapshot's tokens.
    pub minter: Minter,
    /// Checks DPoP proofs at the token endpoint.
    pub dpop: Dpop,
    pub jwks_body: Bytes,
    /// Strong ETag of `jwks_body`.
    pub jwks_etag: EntityTag,
    pub jwks_cache_control: String,
    /// The discovery document, made by `routes` on first use.
    pub discovery_body: OnceLock<Bytes>,
}

impl Snapshot {
    /// Loads the keys and prebuilds everything. The second value holds notes
    /// for the log (a generated development key, loose key permissions).
    /// `settings.clients` moves into the registry (one copy of each client,
    /// which matters with 100 000 of them): read clients through `clients`.
    /// `token_paths`: where the token endpoint is served (`routes` knows),
    /// for the audiences a client assertion may name.
    pub fn build(
        mut settings: Settings,
        token_paths: &[&str],
    ) -> Result<(Self, Vec<String>), SnapshotError> {
        let (keys, notes) = KeySet::load(
            &settings.keys.dir,
            settings.keys.active.as_deref(),
            settings.keys.generate_if_missing,
        )
        .map_err(|errors| SnapshotError::Keys {
            dir: settings.keys.dir.clone(),
            errors,
        })?;
        let clients = ClientRegistry::new(
            std::mem::take(&mut settings.clients),
            std::mem::take(&mut settings.trusted_issuers),
        )
        .map_err(|_| SnapshotError::Random)?;
        let assertion_rules = AssertionRules::new(&settings, token_paths);
        let minter = Minter::new(&settings.issuer, &keys);
        let dpop = Dpop::new(&settings, token_paths);
        let jwks = keys.jwks().to_string();
        let jwks_etag = EntityTag::new_strong(
            URL_SAFE_NO_PAD.encode(crate::crypto::sha256(jwks.as_bytes()))[..27].to_string(),
        );
        Ok((
            Self {
                minter,
                dpop,
                jwks_body: Bytes::from(jwks),
                jwks_etag,
                jwks_cache_control: format!("public, max-age={}", settings.tokens.jwks_max_age),
                discovery_body: OnceLock::new(),
                clients: Arc::new(clients),
                assertion_rules,
                keys,
                settings,
            },
            notes,
        ))
    }
}

/// What handlers share: the current snapshot, the metrics, and what
/// authentication keeps across reloads. What only a reload needs is the
/// `reload::Reloader`'s.
pub struct AppState {
    snapshot: ArcSwap<Snapshot>,
    pub metrics: Metrics,
    pub auth: AuthState,
    /// Throttling warnings, at most one a second.
    pub throttle_log: LogLimiter,
    /// Replay memory and quotas, in process or in the shared store.
    pub store: Store,
    /// Set on SIGTERM: `/readyz` answers 503 from then on.
    draining: AtomicBool,
}

impl AppState {
    pub fn new(snapshot: Snapshot, metrics: Metrics) -> Result<Self, SnapshotError> {
        // PBKDF2 is CPU-bound: more concurrent checks than cores only queue.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let store = Store::new(metrics.store.clone());
        Ok(Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            metrics,
            auth: AuthState::new(cores).map_err(|_| SnapshotError::Random)?,
            throttle_log: LogLimiter::default(),
            store,
            draining: AtomicBool::new(false),
        })
    }

    /// The current snapshot; hold it for the whole request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn swap(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }
}
