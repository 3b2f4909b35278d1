//! Validated settings: the types `RawConfig` becomes once `validate` has
//! checked every value. Nothing here can be wrong any more; warnings
//! (development secrets, clamped lifetimes) ride along in `LoadedConfig`.

use std::path::PathBuf;

use std::sync::Arc;

use ipnet::IpNet;
use rustls_pki_types::CertificateDer;

use super::raw::{LogFormat, OnError, ScopePolicy};
use crate::jose::PublicKeys;
use crate::secret_hash::SecretHash;
use crate::x509::Subject;

/// A validated configuration, the file it came from, and its warnings.
#[derive(Debug)]
pub struct LoadedConfig {
    pub settings: Settings,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// The file the settings came from, for messages.
    pub source: PathBuf,
    pub issuer: String,
    pub server: ServerSettings,
    pub keys: KeySettings,
    pub tokens: TokenSettings,
    pub client_credentials: GrantSettings,
    pub throttle: ThrottleSettings,
    pub log_format: LogFormat,
    pub client_auth: ClientAuthSettings,
    pub trusted_issuers: Vec<IssuerSettings>,
    pub clients: Vec<ClientSettings>,
    /// Every `jwks_file` the settings were read from: watched and
    /// fingerprinted for reloads like the config file.
    pub jwks_files: Vec<PathBuf>,
    /// `None`: the limits live in this process only.
    pub store: Option<StoreSettings>,
    pub dpop: DpopSettings,
    pub mtls: MtlsSettings,
}

/// `[mtls]`, its CA file read.
#[derive(Debug, Clone, Default)]
pub struct MtlsSettings {
    /// The CAs `tls_client_auth` certificates chain to (DER).
    pub roots: Vec<CertificateDer<'static>>,
    /// TCP peers whose `Client-Cert` header is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The files read (for reloads).
    pub files: Vec<PathBuf>,
}

/// `[dpop]`, its secret file read.
#[derive(Clone)]
pub struct DpopSettings {
    /// Seconds a proof's `iat` may lie in the past.
    pub proof_max_age: u64,
    /// Seconds a proof's `iat` may lie in the future.
    pub leeway: u64,
    pub require_nonce: bool,
    /// `nonce_secret_file`'s bytes: keys the nonce HMAC; never printed.
    pub nonce_secret: Option<Vec<u8>>,
    pub nonce_lifetime: u64,
    /// The files read (for reloads).
    pub files: Vec<PathBuf>,
}

impl std::fmt::Debug for DpopSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopSettings")
            .field("proof_max_age", &self.proof_max_age)
            .field("leeway", &self.leeway)
            .field("require_nonce", &self.require_nonce)
            .field("nonce_lifetime", &self.nonce_lifetime)
            .finish_non_exhaustive()
    }
}

/// `[store]`, its files read.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreSettings {
    pub nodes: StoreNodes,
    /// From `password_file`; never printed.
    pub password: Option<String>,
    /// `ca_file`'s PEM, for `rediss://`.
    pub ca_pem: Option<Vec<u8>>,
    pub prefix: String,
    /// `key_file`'s bytes: keys the HMACs in key names; never printed.
    pub hash_key: Vec<u8>,
    pub timeout: std::time::Duration,
    pub on_error: OnError,
    /// The files read (for reloads).
    pub files: Vec<PathBuf>,
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSettings")
            .field("nodes", &self.nodes)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("on_error", &self.on_error)
            .finish_non_exhaustive()
    }
}

/// One Redis (`url`) or a Redis Cluster (`cluster`). URLs as written; a
/// password in one is only ever shown as `***` ([`StoreNodes::shown`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreNodes {
    Single(String),
    Cluster(Vec<String>),
}

impl StoreNodes {
    /// The URLs with any password replaced by `***`, for messages.
    pub fn shown(&self) -> String {
        let urls: Vec<String> = match self {
            Self::Single(url) => vec![redact_url(url)],
            Self::Cluster(urls) => urls.iter().map(|u| redact_url(u)).collect(),
        };
        urls.join(", ")
    }
}

/// `url` without its password.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => "(not a URL)".into(),
    }
}

/// `[client_auth]`.
#[derive(Debug, Clone)]
pub struct ClientAuthSettings {
    /// Only tokenmint's issuer identifier is an accepted `aud` (rfc7523bis).
    pub strict_audience: bool,
    pub max_assertion_lifetime: u64,
    /// Seconds between refetches of a `jwks_uri` on an unknown `kid`.
    pub jwks_min_refresh: u64,
}

/// Where a client's or an issuer's public keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Inline `jwks` or a `jwks_file`, parsed at load.
    Static(Arc<PublicKeys>),
    /// Fetched off the request path.
    Remote(RemoteSource),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemoteSource {
    /// The JWK Set's URL; with `discovery`, the issuer whose
    /// `/.well-known/openid-configuration` names it.
    pub url: String,
    pub discovery: bool,
    pub ca_file: Option<PathBuf>,
}

/// A trusted issuer of workload tokens.
#[derive(Debug, Clone)]
pub struct IssuerSettings {
    pub name: String,
    pub issuer: String,
    pub keys: KeySource,
    /// The `aud` its tokens must carry.
    pub audience: String,
    pub max_token_lifetime: u64,
}

/// How a `private_key_jwt` client proves itself.
#[derive(Debug, Clone)]
pub enum AssertionKeys {
    Own(KeySource),
    /// A workload token of `issuer` (an index into `trusted_issuers`) whose `sub` is `subject`.
    Federated {
        issuer: usize,
        subject: String,
    },
}

impl Settings {
    /// `issuer` without a trailing slash, the base of every advertised URL.
    pub fn base_url(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: String,
    pub admin_listen: Option<String>,
    /// After SIGTERM: seconds to keep serving while `/readyz` says 503.
    pub drain_seconds: u64,
    /// Deadline for receiving a whole request, headers and body.
    pub request_timeout: std::time::Duration,
    /// Concurrent connections per listener.
    pub max_connections: usize,
    pub workers: usize,
    pub tls: Option<TlsSettings>,
}

#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct KeySettings {
    pub dir: PathBuf,
    pub active: Option<String>,
    /// Seconds `keygen` adds to `tokens.jwks_max_age` before a new key signs.
    pub publish_margin: u64,
    pub generate_if_missing: bool,
}

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub default_ttl: u64,
    pub max_ttl: u64,
    pub audience: Vec<String>,
    pub jwks_max_age: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct GrantSettings {
    pub enable: bool,
    pub scope_policy: ScopePolicy,
}

#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    pub failures_per_client: u32,
    pub failures_per_address: u32,
    /// Addresses and ranges whose `X-Forwarded-For` is believed; a bare
    /// address is a /32 or /128.
    pub trusted_proxies: Vec<IpNet>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    /// RFC 8705 §2.1: a certificate from `[mtls] ca_file` naming the client.
    TlsClientAuth,
    /// RFC 8705 §2.2: a certificate whose key is one of the client's.
    SelfSignedTlsClientAuth,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 5] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::TlsClientAuth,
        AuthMethod::SelfSignedTlsClientAuth,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::TlsClientAuth => "tls_client_auth",
            AuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A secret the client may present. `Debug` never shows it.
#[derive(Clone)]
pub enum ClientSecret {
    /// Development only: SHA-256 of the plaintext, compared in constant time.
    Plain([u8; 32]),
    Hashed(SecretHash),
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientSecret::Plain(_) => f.write_str("Plain(..)"),
            ClientSecret::Hashed(h) => write!(f, "{h:?}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub id: String,
    pub secrets: Vec<ClientSecret>,
    pub client_credentials: bool,
    pub scopes: Vec<String>,
    pub default_scopes: Vec<String>,
    /// Allowed (and default) audiences: the client's own, else `tokens.audience`.
    pub audience: Vec<String>,
    /// Already clamped to `tokens.max_ttl`.
    pub token_ttl: u64,
    pub auth_methods: Vec<AuthMethod>,
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// For `private_key_jwt`; `None` for a client with secrets only.
    pub assertion_keys: Option<AssertionKeys>,
    /// Tokens per fixed UTC hour and day; `None`: unlimited.
    pub quota: Option<Quota>,
    /// Tokens only with a DPoP proof.
    pub require_dpop: bool,
    /// Its DPoP proofs must carry a nonce tokenmint issued.
    pub dpop_nonce: bool,
    /// `tls_client_auth`: the subject its certificate must carry.
    pub subject: Option<Subject>,
    /// Its tokens are bound to the connection's client certificate.
    pub certificate_bound: bool,
}

impl ClientSettings {
    /// Whether the client authenticates with a certificate, or has its
    /// tokens bound to one: the TLS listener then asks for certificates.
    pub fn needs_certificate(&self) -> bool {
        self.certificate_bound
            || self.auth_methods.iter().any(|m| {
                matches!(
                    m,
                    AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth
                )
            })
    }
}

/// Caps on the tokens a client gets in each fixed UTC window (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub per_hour: u64,
    pub per_day: u64,
}

/// Claims tokenmint sets itself (RFC 7519 §4.1, RFC 9068 §2.2) or will
/// (`cnf`, RFC 9449); a client's `claims` may not override them.
pub const REGISTERED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "cnf",
    "federated_sub",
    "federated_iss",
];
