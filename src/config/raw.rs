//! The configuration exactly as written (TOML + `TOKENMINT_` environment),
//! with serde defaults from docs/configuration.md. Unknown keys are refused here so that a
//! typo never silently falls back to a default. Nothing is checked beyond
//! types; `validate` turns this into `Settings`.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub issuer: String,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub keys: RawKeys,
    #[serde(default)]
    pub tokens: RawTokens,
    #[serde(default)]
    pub grants: RawGrants,
    #[serde(default)]
    pub throttle: RawThrottle,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub client_auth: RawClientAuth,
    #[serde(default)]
    pub trusted_issuers: Vec<RawTrustedIssuer>,
    #[serde(default)]
    pub clients: Vec<RawClient>,
    pub store: Option<RawStore>,
    #[serde(default)]
    pub dpop: RawDpop,
    #[serde(default)]
    pub mtls: RawMtls,
}

/// `[mtls]`: where client certificates are checked from (docs/sender-constrained.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMtls {
    pub ca_file: Option<String>,
    pub trusted_proxies: Vec<String>,
}

/// `[dpop]`: how DPoP proofs are checked (docs/sender-constrained.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDpop {
    pub proof_max_age: u64,
    pub leeway: u64,
    pub require_nonce: bool,
    pub nonce_secret_file: Option<String>,
    pub nonce_lifetime: u64,
}

impl Default for RawDpop {
    fn default() -> Self {
        Self {
            proof_max_age: 60,
            leeway: 5,
            require_nonce: false,
            nonce_secret_file: None,
            nonce_lifetime: 60,
        }
    }
}

/// `[store]`: the shared store of limits (docs/deployment.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub url: Option<String>,
    pub cluster: Option<Vec<String>>,
    pub password_file: Option<String>,
    pub ca_file: Option<String>,
    #[serde(default = "default_store_prefix")]
    pub prefix: String,
    pub key_file: Option<String>,
    #[serde(default = "default_store_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub on_error: OnError,
}

fn default_store_prefix() -> String {
    "tokenmint:".into()
}

fn default_store_timeout_ms() -> u64 {
    50
}

/// What a request that needs the store gets while the store fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// 503 `temporarily_unavailable` with `Retry-After: 1`.
    #[default]
    Closed,
    /// This replica's in-process state decides.
    Local,
}

/// `[client_auth]`: the rules for client assertions (docs/client-authentication.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawClientAuth {
    pub strict_audience: bool,
    pub max_assertion_lifetime: u64,
    pub jwks_min_refresh: u64,
}

impl Default for RawClientAuth {
    fn default() -> Self {
        Self {
            strict_audience: false,
            max_assertion_lifetime: 3600,
            jwks_min_refresh: 30,
        }
    }
}

/// `[[trusted_issuers]]`: a platform whose tokens authenticate workloads (docs/client-authentication.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrustedIssuer {
    pub name: String,
    pub issuer: String,
    pub jwks_file: Option<String>,
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub discovery: bool,
    pub audience: Option<String>,
    pub ca_file: Option<String>,
    pub max_token_lifetime: Option<u64>,
}

/// A client's `federated = { issuer, subject }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFederated {
    pub issuer: String,
    pub subject: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    pub listen: String,
    pub admin_listen: Option<String>,
    pub workers: usize,
    pub tls: Option<RawTls>,
    pub drain_seconds: u64,
    pub request_timeout: u64,
    pub max_connections: usize,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9443".into(),
            admin_listen: None,
            workers: 0,
            tls: None,
            drain_seconds: 0,
            request_timeout: 10,
            max_connections: 10_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawKeys {
    pub dir: String,
    pub active: Option<String>,
    pub publish_margin: u64,
    pub generate_if_missing: bool,
}

impl Default for RawKeys {
    fn default() -> Self {
        Self {
            dir: "keys".into(),
            active: None,
            publish_margin: 120,
            generate_if_missing: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTokens {
    pub default_ttl: u64,
    pub max_ttl: u64,
    pub audience: Vec<String>,
    pub jwks_max_age: u64,
}

impl Default for RawTokens {
    fn default() -> Self {
        Self {
            default_ttl: 3600,
            max_ttl: 86400,
            audience: Vec::new(),
            jwks_max_age: 300,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGrants {
    pub client_credentials: RawClientCredentials,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawClientCredentials {
    pub enable: bool,
    pub scope_policy: ScopePolicy,
}

impl Default for RawClientCredentials {
    fn default() -> Self {
        Self {
            enable: true,
            scope_policy: ScopePolicy::Reject,
        }
    }
}

/// What to do with a requested scope the client may not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopePolicy {
    /// `invalid_scope` (RFC 6749 §5.2).
    #[default]
    Reject,
    /// Grant the allowed part, as WSO2 does; nothing left = default scopes.
    Intersect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawThrottle {
    pub failures_per_client: u32,
    pub failures_per_address: u32,
    pub trusted_proxies: Vec<String>,
}

impl Default for RawThrottle {
    fn default() -> Self {
        Self {
            failures_per_client: 10,
            failures_per_address: 30,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub id: String,
    pub secret: Option<String>,
    pub secret_hash: Option<String>,
    pub previous_secret_hash: Option<String>,
    pub grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub default_scopes: Vec<String>,
    #[serde(default)]
    pub audience: Vec<String>,
    pub token_ttl: Option<u64>,
    pub auth_methods: Option<Vec<String>>,
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// `private_key_jwt` keys: exactly one of these three, or `federated`.
    pub jwks: Option<Vec<serde_json::Value>>,
    pub jwks_file: Option<String>,
    pub jwks_uri: Option<String>,
    pub jwks_ca_file: Option<String>,
    pub federated: Option<RawFederated>,
    pub quota: Option<RawQuota>,
    /// Only DPoP-bound tokens (RFC 9449 §5.2 `dpop_bound_access_tokens`).
    #[serde(default)]
    pub require_dpop: bool,
    /// Its proofs must carry a nonce tokenmint issued.
    #[serde(default)]
    pub dpop_nonce: bool,
    /// `tls_client_auth`: the one subject its certificate must carry.
    pub tls_client_auth_subject_dn: Option<String>,
    pub tls_client_auth_san_dns: Option<String>,
    pub tls_client_auth_san_uri: Option<String>,
    pub tls_client_auth_san_ip: Option<String>,
    pub tls_client_auth_san_email: Option<String>,
    /// Tokens bound to the client certificate of the connection.
    #[serde(default)]
    pub certificate_bound: bool,
}

/// A client's `quota = { per_hour, per_day }`: tokens per fixed UTC window.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuota {
    pub per_hour: Option<u64>,
    pub per_day: Option<u64>,
}
