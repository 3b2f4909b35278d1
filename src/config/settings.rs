//! Validated settings: what `RawConfig` becomes once every value has been
//! checked. Problems are collected, not returned at the first one, so an
//! operator fixes a broken file in one pass; each names its key, the
//! offending value (never a secret) and the fix. Warnings (development
//! secrets, clamped lifetimes) ride along in `LoadedConfig`.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use super::raw::{LogFormat, RawClient, RawConfig, ScopePolicy};
use crate::oauth::scope;
use crate::secret_hash::{SecretHash, WEAK_ITERATIONS};

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
    pub clients: Vec<ClientSettings>,
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
    pub trusted_proxies: Vec<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

impl AuthMethod {
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
        }
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
];

pub(super) fn validate(raw: RawConfig, path: &Path) -> Result<LoadedConfig, Vec<String>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();

    let issuer = raw.issuer.trim().to_string();
    if !(issuer.starts_with("https://") || issuer.starts_with("http://"))
        || issuer.contains(['?', '#'])
        || issuer.split("://").nth(1).is_none_or(|h| h.is_empty())
    {
        problems.push(format!(
            "issuer = \"{issuer}\": must be an http(s) URL without query or fragment (RFC 8414 §2), e.g. \"https://auth.example.com\""
        ));
    }

    check_addr("server.listen", &raw.server.listen, &mut problems);
    if let Some(admin) = &raw.server.admin_listen {
        check_addr("server.admin_listen", admin, &mut problems);
        // Port 0 asks for any free port: two of them never collide.
        if admin == &raw.server.listen && !admin.ends_with(":0") {
            problems.push(format!(
                "server.admin_listen = \"{admin}\": must differ from server.listen (or be left out to serve /metrics on the public listener)"
            ));
        }
    }
    let tls = raw.server.tls.map(|t| TlsSettings {
        cert: PathBuf::from(t.cert),
        key: PathBuf::from(t.key),
    });
    if tls.is_none() && issuer.starts_with("https://") {
        warnings.push(format!(
            "issuer {issuer} is https:// but server.listen serves plain HTTP: fine behind a TLS-terminating proxy, otherwise set [server.tls] cert and key"
        ));
    }

    let mut tokens = raw.tokens;
    if tokens.max_ttl == 0 {
        problems.push("tokens.max_ttl = 0: must be at least 1 second".into());
    }
    if tokens.default_ttl == 0 {
        problems.push("tokens.default_ttl = 0: must be at least 1 second".into());
    } else if tokens.max_ttl > 0 && tokens.default_ttl > tokens.max_ttl {
        warnings.push(format!(
            "tokens.default_ttl = {} is above tokens.max_ttl = {}: clamped to {}",
            tokens.default_ttl, tokens.max_ttl, tokens.max_ttl
        ));
        tokens.default_ttl = tokens.max_ttl;
    }
    for (i, aud) in tokens.audience.iter().enumerate() {
        if aud.trim().is_empty() {
            problems.push(format!("tokens.audience[{i}] is empty"));
        }
    }

    let mut trusted_proxies = Vec::new();
    for (i, p) in raw.throttle.trusted_proxies.iter().enumerate() {
        match p.parse::<IpAddr>() {
            Ok(ip) => trusted_proxies.push(ip),
            Err(_) => problems.push(format!(
                "throttle.trusted_proxies[{i}] = \"{p}\": not an IP address"
            )),
        }
    }

    let mut clients: Vec<ClientSettings> = Vec::new();
    for (i, c) in raw.clients.into_iter().enumerate() {
        if let Some(j) = clients.iter().position(|other| other.id == c.id) {
            problems.push(format!(
                "clients[{j}] and clients[{i}] both have id \"{}\": client ids must be unique",
                c.id
            ));
            continue;
        }
        if let Some(client) = validate_client(i, c, &tokens, &mut problems, &mut warnings) {
            clients.push(client);
        }
    }
    if clients.is_empty() && problems.is_empty() {
        warnings.push(
            "no [[clients]] configured: every token request will fail with invalid_client".into(),
        );
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(LoadedConfig {
        settings: Settings {
            source: path.to_path_buf(),
            issuer,
            server: ServerSettings {
                listen: raw.server.listen,
                admin_listen: raw.server.admin_listen,
                workers: raw.server.workers,
                tls,
            },
            keys: KeySettings {
                dir: PathBuf::from(raw.keys.dir),
                active: raw.keys.active,
                generate_if_missing: raw.keys.generate_if_missing,
            },
            tokens: TokenSettings {
                default_ttl: tokens.default_ttl,
                max_ttl: tokens.max_ttl,
                audience: tokens.audience,
                jwks_max_age: tokens.jwks_max_age,
            },
            client_credentials: GrantSettings {
                enable: raw.grants.client_credentials.enable,
                scope_policy: raw.grants.client_credentials.scope_policy,
            },
            throttle: ThrottleSettings {
                failures_per_client: raw.throttle.failures_per_client,
                failures_per_address: raw.throttle.failures_per_address,
                trusted_proxies,
            },
            log_format: raw.log.format,
            clients,
        },
        warnings,
    })
}

fn check_addr(key: &str, value: &str, problems: &mut Vec<String>) {
    if value
        .to_socket_addrs()
        .map(|mut a| a.next().is_none())
        .unwrap_or(true)
    {
        problems.push(format!(
            "{key} = \"{value}\": not a host:port address, e.g. \"127.0.0.1:9443\""
        ));
    }
}

fn validate_client(
    i: usize,
    c: RawClient,
    tokens: &super::raw::RawTokens,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Option<ClientSettings> {
    let at = format!("clients[{i}] (id \"{}\")", c.id);
    let before = problems.len();
    if c.id.is_empty() || c.id.chars().any(char::is_control) {
        problems.push(format!(
            "clients[{i}].id must be non-empty and without control characters"
        ));
    }

    let mut secrets = Vec::new();
    match (&c.secret, &c.secret_hash) {
        (Some(_), Some(_)) => problems.push(format!(
            "{at}: set either secret_hash or secret, not both"
        )),
        (None, None) => problems.push(format!(
            "{at}: no secret: set secret_hash (make one with `tokenmint new-client --id {}` or `tokenmint hash-secret`)",
            c.id
        )),
        (Some(plain), None) => {
            if plain.is_empty() {
                problems.push(format!("{at}: secret is empty"));
            }
            warnings.push(format!(
                "{at} has a plaintext `secret`: for development only; replace it with secret_hash from `tokenmint hash-secret`"
            ));
            secrets.push(ClientSecret::Plain(crate::crypto::sha256(plain.as_bytes())));
        }
        (None, Some(_)) => {}
    }
    for (key, value) in [
        ("secret_hash", &c.secret_hash),
        ("previous_secret_hash", &c.previous_secret_hash),
    ] {
        let Some(value) = value else { continue };
        match SecretHash::parse(value) {
            Ok(h) => {
                if h.iterations() < WEAK_ITERATIONS {
                    warnings.push(format!(
                        "{at}.{key} uses {} PBKDF2 iterations; `tokenmint hash-secret` uses 600000",
                        h.iterations()
                    ));
                }
                secrets.push(ClientSecret::Hashed(h));
            }
            // The value itself is never echoed: it may be a pasted secret.
            Err(e) => problems.push(format!("{at}.{key}: {e}")),
        }
    }

    let grant_types = c
        .grant_types
        .unwrap_or_else(|| vec!["client_credentials".into()]);
    for g in &grant_types {
        if g != "client_credentials" {
            problems.push(format!(
                "{at}.grant_types: \"{g}\" is not supported (tokenmint runs client_credentials only; [] is a client that may only introspect)"
            ));
        }
    }

    for (j, s) in c.scopes.iter().enumerate() {
        if !scope::is_scope_token(s) {
            problems.push(format!(
                "{at}.scopes[{j}] = \"{s}\": not a scope token (RFC 6749 §3.3: printable ASCII without space, '\"' or '\\')"
            ));
        }
    }
    for s in &c.default_scopes {
        if !c.scopes.contains(s) {
            problems.push(format!(
                "{at}.default_scopes: \"{s}\" is not in the client's scopes"
            ));
        }
    }

    let audience = if c.audience.is_empty() {
        tokens.audience.clone()
    } else {
        c.audience
    };
    if audience.is_empty() {
        problems.push(format!(
            "{at}: no audience: set the client's audience or tokens.audience (RFC 9068 requires aud)"
        ));
    }
    if audience.iter().any(|a| a.trim().is_empty()) {
        problems.push(format!("{at}.audience has an empty entry"));
    }

    let mut token_ttl = c.token_ttl.unwrap_or(tokens.default_ttl);
    if token_ttl == 0 {
        problems.push(format!("{at}.token_ttl = 0: must be at least 1 second"));
    } else if tokens.max_ttl > 0 && token_ttl > tokens.max_ttl {
        if c.token_ttl.is_some() {
            warnings.push(format!(
                "{at}.token_ttl = {token_ttl} is above tokens.max_ttl = {}: clamped to {}",
                tokens.max_ttl, tokens.max_ttl
            ));
        }
        token_ttl = tokens.max_ttl;
    }

    let mut auth_methods = Vec::new();
    let names = c
        .auth_methods
        .unwrap_or_else(|| vec!["client_secret_basic".into(), "client_secret_post".into()]);
    for m in &names {
        match m.as_str() {
            "client_secret_basic" => auth_methods.push(AuthMethod::ClientSecretBasic),
            "client_secret_post" => auth_methods.push(AuthMethod::ClientSecretPost),
            other => problems.push(format!(
                "{at}.auth_methods: \"{other}\" is not supported (client_secret_basic, client_secret_post)"
            )),
        }
    }
    if names.is_empty() {
        problems.push(format!(
            "{at}.auth_methods is empty: the client could never authenticate"
        ));
    }

    for name in c.claims.keys() {
        if REGISTERED_CLAIMS.contains(&name.as_str()) {
            problems.push(format!(
                "{at}.claims.{name}: a registered claim tokenmint sets itself; choose another name"
            ));
        }
    }

    (problems.len() == before).then(|| ClientSettings {
        id: c.id,
        secrets,
        client_credentials: grant_types.iter().any(|g| g == "client_credentials"),
        scopes: c.scopes,
        default_scopes: c.default_scopes,
        audience,
        token_ttl,
        auth_methods,
        claims: c.claims,
    })
}
