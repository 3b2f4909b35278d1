//! `spawn_app_with(|cfg| ...)` and a `TestApp` with verbs. Each app gets its
//! own temporary directory (config + keys), its own port and registry.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Map, Value};
use tokenmint::Application;

pub const ISSUER: &str = "https://tokenmint.test";
pub const AUDIENCE: &str = "https://api.example.com";

/// The test configuration, rendered to TOML. `clients` and `extra` are raw
/// TOML appended as they are.
pub struct TestConfig {
    pub algs: Vec<&'static str>,
    pub default_ttl: u64,
    pub max_ttl: u64,
    pub audience: Vec<String>,
    pub jwks_max_age: u64,
    pub enable: bool,
    pub scope_policy: &'static str,
    pub admin: bool,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub clients: String,
    pub extra: String,
    /// More `[server]` keys, raw TOML.
    pub server: String,
    /// More key files (PEM text) written after the `algs` keys.
    pub extra_key_pems: Vec<String>,
    /// `keys.active`: `None` = the first key's kid, `Some("")` = not set.
    pub active: Option<String>,
}

pub const DEFAULT_CLIENTS: &str = r#"
[[clients]]
id = "svc"
secret = "svc-secret"
scopes = ["reports:read", "reports:write", "admin"]
default_scopes = ["reports:read"]

[[clients]]
id = "reports"
secret = "reports-secret"
scopes = ["reports:read"]
audience = ["https://reports.example.com", "https://billing.example.com"]
token_ttl = 900
claims = { tenant = "acme", tier = 3 }

[[clients]]
id = "post-only"
secret = "post-secret"
auth_methods = ["client_secret_post"]

[[clients]]
id = "introspector"
secret = "introspector-secret"
grant_types = []
"#;

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            algs: vec!["ES256"],
            default_ttl: 3600,
            max_ttl: 86400,
            audience: vec![AUDIENCE.into()],
            jwks_max_age: 300,
            enable: true,
            scope_policy: "reject",
            admin: false,
            tls: None,
            clients: DEFAULT_CLIENTS.into(),
            extra: String::new(),
            server: String::new(),
            extra_key_pems: Vec::new(),
            active: None,
        }
    }
}

impl TestConfig {
    fn render(&self, keys: &Path, active: &str) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let mut out = format!(
            "issuer = {}\n[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n",
            q(ISSUER)
        );
        if self.admin {
            out.push_str("admin_listen = \"127.0.0.1:0\"\n");
        }
        out.push_str(&self.server);
        out.push('\n');
        if let Some((cert, key)) = &self.tls {
            out.push_str(&format!(
                "[server.tls]\ncert = {}\nkey = {}\n",
                q(&cert.display().to_string()),
                q(&key.display().to_string())
            ));
        }
        out.push_str(&format!(
            "[keys]\ndir = {}\n{}[tokens]\ndefault_ttl = {}\nmax_ttl = {}\naudience = {}\njwks_max_age = {}\n",
            q(&keys.display().to_string()),
            match self.active.as_deref() {
                Some("") => String::new(),
                Some(kid) => format!("active = {}\n", q(kid)),
                None => format!("active = {}\n", q(active)),
            },
            self.default_ttl,
            self.max_ttl,
            serde_json::to_string(&self.audience).unwrap(),
            self.jwks_max_age
        ));
        out.push_str(&format!(
            "[grants.client_credentials]\nenable = {}\nscope_policy = {}\n",
            self.enable,
            q(self.scope_policy)
        ));
        out.push_str(&self.extra);
        out.push('\n');
        out.push_str(&self.clients);
        out
    }
}

/// The PEM text of a key for `alg`: generated for EC/Ed25519, the RSA test
/// fixture (ring cannot generate RSA) for RS256/PS256.
pub fn key_pem(alg: &str) -> String {
    match alg {
        "RS256" => fixture("test-only-rsa-2048.pem"),
        "PS256" => format!(
            "tokenmint-alg: PS256\n{}",
            fixture("test-only-rsa-2048.pem")
        ),
        other => tokenmint::keys::generate_pem(tokenmint::jose::parse_alg(other).unwrap()).unwrap(),
    }
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// Writes key files into `dir` and returns their kids, in order.
pub fn write_keys(dir: &Path, algs: &[&str]) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    algs.iter()
        .enumerate()
        .map(|(i, alg)| {
            let pem = key_pem(alg);
            let key = tokenmint::keys::parse_key(&pem, Path::new("mem")).unwrap();
            let path = dir.join(format!("{i}-{}.pem", alg.to_lowercase()));
            std::fs::write(&path, pem).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            key.kid
        })
        .collect()
}

pub struct TestApp {
    pub address: String,
    pub admin_address: Option<String>,
    pub issuer: String,
    pub http: reqwest::Client,
    pub kids: Vec<String>,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

static LOGS: OnceLock<()> = OnceLock::new();

/// Starts a server from a `TestConfig` edited by `edit`.
pub async fn spawn_app_with(edit: impl FnOnce(&mut TestConfig)) -> TestApp {
    try_spawn_app_with(edit).await.expect("the test app starts")
}

pub async fn try_spawn_app_with(edit: impl FnOnce(&mut TestConfig)) -> anyhow::Result<TestApp> {
    LOGS.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tokenmint::telemetry::init(tokenmint::config::LogFormat::Text);
        }
    });
    let mut cfg = TestConfig::default();
    edit(&mut cfg);
    let dir = tempfile::tempdir()?;
    let keys = dir.path().join("keys");
    let mut kids = write_keys(&keys, &cfg.algs);
    for (i, pem) in cfg.extra_key_pems.iter().enumerate() {
        std::fs::create_dir_all(&keys)?;
        let path = keys.join(format!("extra-{i}.pem"));
        std::fs::write(&path, pem)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        if let Ok(key) = tokenmint::keys::parse_key(pem, Path::new("mem")) {
            kids.push(key.kid);
        }
    }
    // The issuer is fixed: listeners bind port 0, so tests never race for
    // a port, and discovery URLs are checked to derive from this issuer.
    let config_path = dir.path().join("tokenmint.toml");
    let first = kids.first().cloned().unwrap_or_default();
    std::fs::write(&config_path, cfg.render(&keys, &first))?;
    let loaded = tokenmint::config::load_file(&config_path)?;
    let app = Application::build(loaded)?;
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    let address = format!("{scheme}://127.0.0.1:{}", app.port());
    let admin_address = app.admin_port().map(|p| format!("http://127.0.0.1:{p}"));
    tokio::spawn(app.run_until_stopped());
    Ok(TestApp {
        address,
        admin_address,
        issuer: ISSUER.into(),
        http: http_client(None),
        kids,
        dir,
        config_path,
    })
}

/// A rustls client config on the ring provider; `ca` (PEM) is trusted if
/// given.
pub fn tls_config(ca: Option<&[u8]>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = ca {
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth()
}

/// A reqwest client on rustls with the ring provider; `ca` is trusted if given.
pub fn http_client(ca: Option<&[u8]>) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config(ca))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GETs `url` and parses the JSON body.
pub async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> T {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// POSTs a raw form body with Basic credentials.
    pub async fn post_token(&self, id: &str, secret: &str, body: &str) -> reqwest::Response {
        self.http
            .post(self.url("/oauth2/token"))
            .header("Authorization", basic(id, secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// POSTs a raw form body with no Authorization header.
    pub async fn post_form(&self, path: &str, body: &str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// A token for `svc` with `extra` form parameters; panics unless 200.
    pub async fn token(&self, id: &str, secret: &str, extra: &str) -> Value {
        let body = format!("grant_type=client_credentials{extra}");
        let res = self.post_token(id, secret, &body).await;
        let status = res.status();
        let json: Value = res.json().await.unwrap();
        assert_eq!(status, 200, "{json}");
        json
    }

    pub async fn get_jwks(&self) -> JwkSet {
        get_json(&self.http, &self.url("/jwks")).await
    }

    pub async fn introspect(&self, id: &str, secret: &str, token: &str) -> reqwest::Response {
        self.http
            .post(self.url("/oauth2/introspect"))
            .header("Authorization", basic(id, secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
    }

    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        let base = self.admin_address.as_deref().unwrap_or(&self.address);
        self.http.get(format!("{base}{path}")).send().await.unwrap()
    }

    /// Validates `token` as a resource server would: the key comes from the
    /// served JWK Set only, the algorithm from that key, and iss, aud, exp
    /// and typ are checked explicitly.
    pub async fn validate(&self, token: &str, audience: &str) -> Map<String, Value> {
        let jwks = self.get_jwks().await;
        validate_with_jwks(&jwks, token, &self.issuer, audience)
    }
}

/// Validates `token` with the independent verifier (`verify`, no tokenmint
/// or jsonwebtoken code) from `jwks` alone; panics with the reason if it is
/// not a valid access token for `issuer` and `audience`.
pub fn validate_with_jwks(
    jwks: &JwkSet,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Map<String, Value> {
    let jwks = serde_json::to_value(jwks).expect("the JWK Set serializes");
    crate::verify::verify_token(&jwks, token, issuer, audience, unix_now())
        .unwrap_or_else(|e| panic!("token does not validate: {e}"))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// Decodes a JWT segment without verifying (for asserting on headers).
pub fn segment(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A private CA and a certificate it issued for 127.0.0.1 and localhost.
pub struct PrivateCa {
    pub ca: std::path::PathBuf,
    pub ca_pem: String,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

pub fn private_ca(dir: &Path) -> PrivateCa {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tokenmint test-only CA");
    let ca =
        rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let p = PrivateCa {
        ca: dir.join("ca.pem"),
        ca_pem: ca.pem(),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&p.ca, &p.ca_pem).unwrap();
    std::fs::write(&p.cert, leaf.pem()).unwrap();
    std::fs::write(&p.key, leaf_key.serialize_pem()).unwrap();
    p
}
