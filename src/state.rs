//! The [`Snapshot`]: one consistent view of settings, clients and keys, with
//! every response body that depends only on them prebuilt (JWK Set + ETag,
//! discovery). Handlers take the current snapshot from [`AppState`] once per
//! request; a reload builds a whole new one and swaps it in, so a request
//! never sees half of a change.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::http::header::EntityTag;
use actix_web::web::Bytes;
use arc_swap::ArcSwap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;

use crate::auth::{AssertionRules, AuthState};
use crate::clients::ClientRegistry;
use crate::config::{AuthMethod, Settings};
use crate::keys::{alg_name, KeyError, KeySet};
use crate::metrics::Metrics;
use crate::telemetry::LogLimiter;
use crate::tls::CertStore;
use crate::token::Minter;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("while loading keys from {dir}:\n  - {}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  - "))]
    Keys { dir: PathBuf, errors: Vec<KeyError> },
    #[error("the system random generator failed")]
    Random,
}

impl SnapshotError {
    pub fn problems(&self) -> Vec<String> {
        match self {
            SnapshotError::Keys { errors, .. } => errors.iter().map(ToString::to_string).collect(),
            SnapshotError::Random => vec![self.to_string()],
        }
    }
}

#[derive(Debug)]
pub struct Snapshot {
    pub settings: Settings,
    pub clients: Arc<ClientRegistry>,
    pub assertion_rules: AssertionRules,
    pub keys: KeySet,
    /// Writes this snapshot's tokens.
    pub minter: Minter,
    pub jwks_body: Bytes,
    /// Strong ETag of `jwks_body`.
    pub jwks_etag: EntityTag,
    pub jwks_cache_control: String,
    pub discovery_body: Bytes,
}

impl Snapshot {
    /// Loads the keys and prebuilds everything. The second value holds notes
    /// for the log (a generated development key, loose key permissions).
    /// `settings.clients` moves into the registry (one copy of each client,
    /// which matters with 100 000 of them): read clients through `clients`.
    pub fn build(mut settings: Settings) -> Result<(Self, Vec<String>), SnapshotError> {
        let (keys, notes) = KeySet::load(
            &settings.keys.dir,
            settings.keys.active.as_deref(),
            settings.keys.generate_if_missing,
        )
        .map_err(|errors| SnapshotError::Keys {
            dir: settings.keys.dir.clone(),
            errors,
        })?;
        let discovery = discovery_document(&settings, &keys);
        let clients = ClientRegistry::new(
            std::mem::take(&mut settings.clients),
            std::mem::take(&mut settings.trusted_issuers),
        )
        .map_err(|_| SnapshotError::Random)?;
        let assertion_rules = AssertionRules::new(&settings);
        let minter = Minter::new(&settings.issuer, &keys);
        let jwks = keys.jwks().to_string();
        let jwks_etag = EntityTag::new_strong(
            URL_SAFE_NO_PAD.encode(crate::crypto::sha256(jwks.as_bytes()))[..27].to_string(),
        );
        Ok((
            Self {
                minter,
                jwks_body: Bytes::from(jwks),
                jwks_etag,
                jwks_cache_control: format!("public, max-age={}", settings.tokens.jwks_max_age),
                discovery_body: Bytes::from(discovery.to_string()),
                clients: Arc::new(clients),
                assertion_rules,
                keys,
                settings,
            },
            notes,
        ))
    }
}

/// RFC 8414 §2 metadata; every URL derives from the issuer.
fn discovery_document(settings: &Settings, keys: &KeySet) -> serde_json::Value {
    let base = settings.base_url();
    let mut scopes: Vec<&str> = settings
        .clients
        .iter()
        .flat_map(|c| c.scopes.iter().map(String::as_str))
        .collect();
    scopes.sort_unstable();
    scopes.dedup();
    let mut algs: Vec<&str> = keys.iter().map(|k| alg_name(k.alg)).collect();
    algs.sort_unstable();
    algs.dedup();
    let grants: &[&str] = if settings.client_credentials.enable {
        &["client_credentials"]
    } else {
        &[]
    };
    // The methods some client may use (SPEC §3.4), in a fixed order.
    let auth_methods: Vec<&str> = AuthMethod::ALL
        .into_iter()
        .filter(|m| settings.clients.iter().any(|c| c.auth_methods.contains(m)))
        .map(AuthMethod::name)
        .collect();
    let mut doc = json!({
        "issuer": settings.issuer,
        "token_endpoint": format!("{base}/oauth2/token"),
        "jwks_uri": format!("{base}/jwks"),
        "introspection_endpoint": format!("{base}/oauth2/introspect"),
        "grant_types_supported": grants,
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": scopes,
        "access_token_signing_alg_values_supported": algs,
    });
    if auth_methods.contains(&AuthMethod::PrivateKeyJwt.name()) {
        let assertion_algs: Vec<&str> = crate::jwks::ASSERTION_ALGS
            .into_iter()
            .map(crate::jwks::alg_name)
            .collect();
        for field in [
            "token_endpoint_auth_signing_alg_values_supported",
            "introspection_endpoint_auth_signing_alg_values_supported",
        ] {
            doc[field] = json!(assertion_algs);
        }
    }
    doc
}

/// What handlers share: the current snapshot, the metrics, what
/// authentication keeps across reloads, and, for reloads, where the
/// configuration comes from, the fingerprint of the last inputs tried and
/// the TLS certificate new connections get.
pub struct AppState {
    snapshot: ArcSwap<Snapshot>,
    pub metrics: Metrics,
    pub auth: AuthState,
    /// Throttling warnings, at most one a second.
    pub throttle_log: LogLimiter,
    pub config_path: PathBuf,
    /// `reload::fingerprint` of the inputs of the last reload attempted (or
    /// of the first snapshot): equal inputs are not reloaded again.
    pub reload_inputs: Mutex<crate::reload::Fingerprint>,
    /// The public listener's certificate, when it serves TLS.
    pub tls: Option<Arc<CertStore>>,
    /// Set on SIGTERM: `/readyz` answers 503 from then on.
    draining: AtomicBool,
}

impl AppState {
    pub fn new(
        snapshot: Snapshot,
        metrics: Metrics,
        config_path: PathBuf,
        reload_inputs: crate::reload::Fingerprint,
        tls: Option<Arc<CertStore>>,
    ) -> Result<Self, SnapshotError> {
        // PBKDF2 is CPU-bound: more concurrent checks than cores only queue.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            metrics,
            auth: AuthState::new(cores).map_err(|_| SnapshotError::Random)?,
            throttle_log: LogLimiter::default(),
            draining: AtomicBool::new(false),
            config_path,
            reload_inputs: Mutex::new(reload_inputs),
            tls,
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
