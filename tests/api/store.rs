//! The shared store (`[store]`) against a real `redis-server`, started by
//! each test on a free 127.0.0.1 port (`--save ""`): two tokenmint
//! replicas sharing one Redis refuse an assertion the other accepted and
//! share one quota exactly; a store that does not answer gets 503 for what
//! needs it under `on_error = "closed"`, the in-process answer under
//! `"local"`, and everything else is served as before.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::assertions::{client_claims, failures, form, jwks_client, ClientKey};
use crate::helpers::{basic, spawn_app_with, TestApp, DEFAULT_CLIENTS, ISSUER};

/// A `redis-server` of this test's own; stopped when dropped.
pub struct Redis {
    child: Child,
    pub port: u16,
    /// Serves TLS only: `answers` can only see the port open.
    tls: bool,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start(extra: &[&str]) -> Self {
        Self::start_with(free_port(), extra)
    }

    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    fn start_with(port: u16, extra: &[&str]) -> Self {
        Self::spawn(port, extra, false)
    }

    /// A Redis that speaks only TLS, with `cert` and `key`.
    pub fn start_tls(cert: &Path, key: &Path, extra: &[&str]) -> Self {
        let port = free_port().to_string();
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        let mut args = vec!["--tls-port", &port, "--tls-cert-file", &cert];
        args.extend(["--tls-key-file", &key, "--tls-auth-clients", "no"]);
        args.extend(extra);
        Self::spawn(0, &args, true)
    }

    fn spawn(port: u16, extra: &[&str], tls: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--dir"])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)");
        let tls_port = extra
            .iter()
            .position(|a| *a == "--tls-port")
            .and_then(|i| extra.get(i + 1))
            .and_then(|p| p.parse().ok());
        let redis = Self {
            child,
            port: tls_port.unwrap_or(port),
            tls,
            _dir: dir,
        };
        let started = Instant::now();
        while !redis.answers() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        if self.tls {
            return true;
        }
        let mut reply = [0u8; 64];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read(&mut reply).is_ok_and(|n| {
                reply[..n].starts_with(b"+PONG") || reply[..n].starts_with(b"-NOAUTH")
            })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `[store]` section for `url`, with a hash key written into `dir`.
pub fn store_section(dir: &Path, url: &str, extra: &str) -> String {
    let key: PathBuf = dir.join("store-hash.key");
    if !key.exists() {
        std::fs::write(&key, [7u8; 32]).unwrap();
    }
    format!(
        "\n[store]\nurl = \"{url}\"\nkey_file = \"{}\"\ntimeout_ms = 200\n{extra}\n",
        key.display()
    )
}

/// Two apps with the same clients and the same store.
async fn two_replicas(clients: &str, store: &str) -> (TestApp, TestApp) {
    let make = || {
        let clients = clients.to_string();
        let store = store.to_string();
        spawn_app_with(move |c| {
            c.clients = clients;
            c.extra = store;
        })
    };
    let (a, b) = (make().await, make().await);
    // The connection is made in the background: wait for both.
    for app in [&a, &b] {
        wait_for_store_up(app, 1).await;
    }
    (a, b)
}

async fn store_up(app: &TestApp) -> Option<i64> {
    let text = app.admin_get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("tokenmint_store_up "))
        .map(|v| v.trim().parse().unwrap())
}

async fn wait_for_store_up(app: &TestApp, want: i64) {
    let started = Instant::now();
    while store_up(app).await != Some(want) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "tokenmint_store_up never {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_assertion_one_replica_accepted_is_refused_by_another_sharing_the_store() {
    let redis = Redis::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let key = ClientKey::new("ES256", Some("k1"));
    let clients = jwks_client("signer", &[&key], "");
    let (a, b) = two_replicas(&clients, &store_section(dir.path(), &redis.url(), "")).await;

    let assertion = key.sign(&client_claims("signer", json!(ISSUER)));
    let first = a.post_form("/oauth2/token", &form(&assertion, "")).await;
    assert_eq!(first.status(), 200);
    let before = failures(&b, "replayed").await;
    let again = b.post_form("/oauth2/token", &form(&assertion, "")).await;
    assert_eq!(again.status(), 401);
    assert_eq!(failures(&b, "replayed").await, before + 1.0);
    // A fresh assertion still works on either.
    let fresh = key.sign(&client_claims("signer", json!(ISSUER)));
    assert_eq!(
        b.post_form("/oauth2/token", &form(&fresh, ""))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn replicas_sharing_the_store_share_one_quota_exactly() {
    let redis = Redis::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let clients = format!(
        "{DEFAULT_CLIENTS}\n[[clients]]\nid = \"metered\"\nsecret = \"metered-secret\"\n\
         scopes = [\"reports:read\"]\nquota = {{ per_hour = 7 }}\n"
    );
    let (a, b) = two_replicas(&clients, &store_section(dir.path(), &redis.url(), "")).await;
    let sends: Vec<_> = (0..40)
        .map(|i| {
            let app = if i % 2 == 0 { &a } else { &b };
            let req = app
                .http
                .post(app.url("/oauth2/token"))
                .header("Authorization", basic("metered", "metered-secret"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials");
            tokio::spawn(async move { req.send().await.unwrap() })
        })
        .collect();
    let (mut issued, mut refused) = (0, 0);
    for send in sends {
        let res = send.await.unwrap();
        match res.status().as_u16() {
            200 => issued += 1,
            429 => {
                assert!(res.headers().contains_key("retry-after"));
                refused += 1;
            }
            other => panic!("status {other}"),
        }
    }
    assert_eq!((issued, refused), (7, 33));
}

#[tokio::test]
async fn a_store_that_does_not_answer_costs_only_what_needs_it_per_on_error() {
    // A port where nothing listens: the store never answers.
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let dir = tempfile::tempdir().unwrap();
    let clients = format!(
        "{DEFAULT_CLIENTS}\n[[clients]]\nid = \"metered\"\nsecret = \"metered-secret\"\n\
         scopes = [\"reports:read\"]\nquota = {{ per_hour = 100 }}\n"
    );
    for (on_error, metered) in [("closed", 503), ("local", 200)] {
        let store = store_section(dir.path(), &url, &format!("on_error = \"{on_error}\""));
        let clients = clients.clone();
        let app = spawn_app_with(move |c| {
            c.clients = clients;
            c.extra = store;
        })
        .await;
        assert_eq!(store_up(&app).await, Some(0), "{on_error}");
        let res = app
            .post_token("metered", "metered-secret", "grant_type=client_credentials")
            .await;
        assert_eq!(res.status(), metered, "{on_error}");
        if metered == 503 {
            assert_eq!(res.headers()["retry-after"], "1");
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["error"], "temporarily_unavailable");
        }
        // A right plaintext secret from a clean source never waits on it.
        let plain = app
            .post_token("svc", "svc-secret", "grant_type=client_credentials")
            .await;
        assert_eq!(plain.status(), 200, "{on_error}");
        let ready = app.admin_get("/readyz").await;
        assert_eq!(
            ready.status(),
            200,
            "readiness does not depend on the store"
        );
    }
}

#[tokio::test]
async fn the_store_recovers_when_redis_comes_back() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let dir = tempfile::tempdir().unwrap();
    let clients = format!(
        "{DEFAULT_CLIENTS}\n[[clients]]\nid = \"metered\"\nsecret = \"metered-secret\"\n\
         scopes = [\"reports:read\"]\nquota = {{ per_hour = 100 }}\n"
    );
    let store = store_section(dir.path(), &url, "");
    let app = spawn_app_with(move |c| {
        c.clients = clients;
        c.extra = store;
    })
    .await;
    assert_eq!(store_up(&app).await, Some(0));
    let _redis = Redis::start_on(port);
    wait_for_store_up(&app, 1).await;
    let res = app
        .post_token("metered", "metered-secret", "grant_type=client_credentials")
        .await;
    assert_eq!(res.status(), 200);
}

#[test]
fn check_config_connects_and_never_prints_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let url = format!("redis://svc:hunter2-store@127.0.0.1:{}/0", free_port());
    let config = dir.path().join("tm.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"https://tm.example\"\n[keys]\ndir = \"{}\"\ngenerate_if_missing = true\n\
             [tokens]\naudience = [\"a\"]\n[[clients]]\nid = \"c\"\nsecret = \"c-secret\"\nscopes = [\"s\"]\n{}",
            keys.display(),
            store_section(dir.path(), &url, "")
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tokenmint"))
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("store: redis://svc:***@127.0.0.1"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
}

#[test]
fn store_settings_that_cannot_work_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    std::fs::write(&key, [1u8; 32]).unwrap();
    for (store, named) in [
        (
            "url = \"redis://a:6379\"\ncluster = [\"redis://b:6379\"]",
            "store.cluster",
        ),
        (
            "url = \"redis://a:6379\"\nprefix = \"my prefix\"",
            "store.prefix",
        ),
        (
            "url = \"redis://a:6379\"\npassword_file = \"/nonexistent/pw\"",
            "store.password_file",
        ),
        ("url = \"http://a:6379\"", "store.url"),
    ] {
        let text = format!(
            "issuer = \"https://tm.example\"\n[tokens]\naudience = [\"a\"]\n[[clients]]\nid = \"c\"\n\
             secret = \"c-secret\"\nscopes = [\"s\"]\n[store]\n{store}\nkey_file = \"{}\"\n",
            key.display()
        );
        let config = dir.path().join("tm.toml");
        std::fs::write(&config, text).unwrap();
        let error = format!("{:#}", tokenmint::config::load_file(&config).unwrap_err());
        assert!(error.contains(named), "{named}: {error}");
    }
    let text = "issuer = \"https://tm.example\"\n[tokens]\naudience = [\"a\"]\n[store]\nurl = \"redis://a:6379\"\n";
    let config = dir.path().join("tm.toml");
    std::fs::write(&config, text).unwrap();
    let error = format!("{:#}", tokenmint::config::load_file(&config).unwrap_err());
    assert!(error.contains("store.key_file"), "{error}");
}

#[tokio::test]
async fn wrong_secrets_spread_over_replicas_are_checked_at_most_the_limit_in_total() {
    let redis = Redis::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = store_section(dir.path(), &redis.url(), "")
        + "\n[throttle]\nfailures_per_client = 10\nfailures_per_address = 1000\n";
    let (a, b) = two_replicas(DEFAULT_CLIENTS, &store).await;
    let sends: Vec<_> = (0..60)
        .map(|i| {
            let app = if i % 2 == 0 { &a } else { &b };
            let req = app
                .http
                .post(app.url("/oauth2/token"))
                .header("Authorization", basic("svc", "wrong-secret"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials");
            tokio::spawn(async move { req.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for send in sends {
        statuses.push(send.await.unwrap());
    }
    let count = |s: u16| statuses.iter().filter(|&&x| x == s).count();
    assert_eq!((count(401), count(429)), (10, 50), "{statuses:?}");
    // Each replica saw only its share of the failures; the deployment's
    // limit holds on both: one more guess is refused unchecked everywhere.
    for app in [&a, &b] {
        let res = app
            .post_token("svc", "another-guess", "grant_type=client_credentials")
            .await;
        assert_eq!(res.status(), 429);
    }
}

#[tokio::test]
async fn a_secret_client_verified_before_never_waits_on_the_store() {
    // Verified once through the store; then the store dies (on_error is
    // closed): that client is served all the same, a guess is not.
    let redis = Redis::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = store_section(dir.path(), &redis.url(), "");
    let app = spawn_app_with(move |c| c.extra = store).await;
    wait_for_store_up(&app, 1).await;
    let first = app
        .post_token("svc", "svc-secret", "grant_type=client_credentials")
        .await;
    assert_eq!(first.status(), 200);
    drop(redis);
    // The store is watched: its loss shows even while nothing needs it.
    wait_for_store_up(&app, 0).await;
    for _ in 0..3 {
        let res = app
            .post_token("svc", "svc-secret", "grant_type=client_credentials")
            .await;
        assert_eq!(res.status(), 200);
    }
    let wrong = app
        .post_token("svc", "wrong", "grant_type=client_credentials")
        .await;
    assert_eq!(wrong.status(), 503);
    assert_eq!(store_up(&app).await, Some(0));
}

/// A self-signed certificate for `san` (its own CA), made with openssl.
fn tls_cert(dir: &Path, san: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("redis.crt"), dir.join("redis.key"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=store"])
        .args(["-addext", &format!("subjectAltName={san}")])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(made.success());
    (cert, key)
}

#[tokio::test]
async fn rediss_with_an_acl_user_and_a_password_file_shares_the_replay_check() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = tls_cert(dir.path(), "DNS:localhost");
    let redis = Redis::start_tls(
        &cert,
        &key,
        &[
            "--user",
            "default",
            "off",
            "--user",
            "tm",
            "on",
            ">store-pass",
            "~*",
            "+@all",
        ],
    );
    let password = dir.path().join("store-password");
    std::fs::write(&password, "store-pass\n").unwrap();
    let url = format!("rediss://tm@localhost:{}/0", redis.port);
    let extra = format!(
        "password_file = \"{}\"\nca_file = \"{}\"",
        password.display(),
        cert.display()
    );
    let key_pair = ClientKey::new("ES256", Some("k1"));
    let clients = jwks_client("signer", &[&key_pair], "");
    let (a, b) = two_replicas(&clients, &store_section(dir.path(), &url, &extra)).await;
    let assertion = key_pair.sign(&client_claims("signer", json!(ISSUER)));
    assert_eq!(
        a.post_form("/oauth2/token", &form(&assertion, ""))
            .await
            .status(),
        200
    );
    assert_eq!(
        b.post_form("/oauth2/token", &form(&assertion, ""))
            .await
            .status(),
        401
    );

    // check-config: a wrong password, and a name the certificate lacks.
    let wrong = dir.path().join("wrong-password");
    std::fs::write(&wrong, "nope").unwrap();
    let cases = [
        (
            url.clone(),
            wrong.display().to_string(),
            "authentication failed",
        ),
        (
            format!("rediss://tm@127.0.0.1:{}/0", redis.port),
            password.display().to_string(),
            "not valid for name",
        ),
    ];
    for (url, password_file, says) in cases {
        let extra = format!(
            "password_file = \"{password_file}\"\nca_file = \"{}\"",
            cert.display()
        );
        let (ok, said) = check_config(dir.path(), &store_section(dir.path(), &url, &extra));
        assert!(!ok && said.contains(says), "{said}");
        assert!(!said.contains("store-pass"), "{said}");
    }
}

/// `tokenmint check-config` on a minimal config with `store`.
fn check_config(dir: &Path, store: &str) -> (bool, String) {
    let config = dir.join("check.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"https://tm.example\"\n[keys]\ndir = \"{}\"\ngenerate_if_missing = true\n\
             [tokens]\naudience = [\"a\"]\n[[clients]]\nid = \"c\"\nsecret = \"c-secret\"\n\
             scopes = [\"s\"]\n{store}",
            dir.join("keys").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tokenmint"))
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

/// Three masters joined into a Redis Cluster; stopped when dropped.
struct Cluster {
    nodes: Vec<Redis>,
}

impl Cluster {
    fn start() -> Self {
        // The cluster bus listens on port + 10000: stay below 55536.
        let mut ports = Vec::new();
        let mut candidate = 20_000 + (std::process::id() % 20_000) as u16;
        while ports.len() < 3 {
            candidate += 7;
            let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
            if free(candidate) && free(candidate + 10_000) {
                ports.push(candidate);
            }
        }
        let nodes: Vec<Redis> = ports
            .iter()
            .map(|&p| {
                Redis::start_with(
                    p,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                    ],
                )
            })
            .collect();
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli runs (apt-get install redis-tools)");
        assert!(created.success());
        let started = Instant::now();
        loop {
            let info = Command::new("redis-cli")
                .args(["-p", &ports[0].to_string(), "cluster", "info"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the cluster did not form"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { nodes }
    }

    fn section(&self, dir: &Path) -> String {
        let urls: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("\"redis://127.0.0.1:{}\"", n.port))
            .collect();
        let key = dir.join("store-hash.key");
        std::fs::write(&key, [9u8; 32]).unwrap();
        format!(
            "\n[store]\ncluster = [{}]\nkey_file = \"{}\"\ntimeout_ms = 500\n",
            urls.join(", "),
            key.display()
        )
    }
}

#[tokio::test]
async fn a_redis_cluster_shares_replay_quota_and_throttle_across_replicas() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let key = ClientKey::new("ES256", Some("k1"));
    let clients = format!(
        "{DEFAULT_CLIENTS}\n{}\n[[clients]]\nid = \"metered\"\nsecret = \"metered-secret\"\n\
         scopes = [\"reports:read\"]\nquota = {{ per_hour = 5, per_day = 50 }}\n",
        jwks_client("signer", &[&key], "")
    );
    let store = cluster.section(dir.path()) + "\n[throttle]\nfailures_per_client = 4\n";
    let (a, b) = two_replicas(&clients, &store).await;

    let assertion = key.sign(&client_claims("signer", json!(ISSUER)));
    assert_eq!(
        a.post_form("/oauth2/token", &form(&assertion, ""))
            .await
            .status(),
        200
    );
    assert_eq!(
        b.post_form("/oauth2/token", &form(&assertion, ""))
            .await
            .status(),
        401
    );

    let mut issued = 0;
    for i in 0..12 {
        let app = if i % 2 == 0 { &a } else { &b };
        let res = app
            .post_token("metered", "metered-secret", "grant_type=client_credentials")
            .await;
        issued += usize::from(res.status() == 200);
    }
    assert_eq!(issued, 5);

    let mut unauthorized = 0;
    for i in 0..10 {
        let app = if i % 2 == 0 { &a } else { &b };
        let res = app
            .post_token("svc", "wrong", "grant_type=client_credentials")
            .await;
        unauthorized += usize::from(res.status() == 401);
    }
    assert_eq!(unauthorized, 4);
}

#[tokio::test]
async fn a_paused_store_is_a_failing_store_after_timeout_ms_and_comes_back() {
    let redis = Redis::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let clients = format!(
        "{DEFAULT_CLIENTS}\n[[clients]]\nid = \"metered\"\nsecret = \"metered-secret\"\n\
         scopes = [\"reports:read\"]\nquota = {{ per_hour = 4 }}\n"
    );
    let store = store_section(dir.path(), &redis.url(), "")
        + "\n[throttle]\nfailures_per_client = 3\nfailures_per_address = 3\n";
    let app = spawn_app_with(move |c| {
        c.clients = clients;
        c.extra = store;
    })
    .await;
    wait_for_store_up(&app, 1).await;
    let token = || app.post_token("metered", "metered-secret", "grant_type=client_credentials");
    assert_eq!(token().await.status(), 200);

    // Accepts connections, never answers: the same as down after 200 ms.
    let signal = |sig: &str| {
        let sent = Command::new("kill")
            .args([sig, &redis.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    signal("-STOP");
    let started = Instant::now();
    let res = token().await;
    assert_eq!(res.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(store_up(&app).await, Some(0));
    // Operations that time out reach Redis when it resumes: a quota token
    // (twice more) and reserved failures (a client never verified here).
    for _ in 0..2 {
        assert_eq!(token().await.status(), 503);
    }
    for _ in 0..4 {
        let res = app
            .post_token("reports", "wrong", "grant_type=client_credentials")
            .await;
        assert_eq!(res.status(), 503);
    }

    signal("-CONT");
    let started = Instant::now();
    while token().await.status() != 200 {
        assert!(started.elapsed() < Duration::from_secs(5), "no recovery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store_up(&app).await, Some(1));
    // None of them counted: they were undone right behind, on the same
    // connection. Two tokens taken, two left; a wrong secret is the first
    // failure (401), not past a limit of 3 (429).
    assert_eq!(token().await.status(), 200);
    assert_eq!(token().await.status(), 200);
    assert_eq!(token().await.status(), 429);
    let res = app
        .post_token("reports", "wrong", "grant_type=client_credentials")
        .await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_changed_store_is_used_once_it_answers_and_a_dead_one_leaves_the_old_in_use() {
    let (first, second) = (Redis::start(&[]), Redis::start(&[]));
    let dir = tempfile::tempdir().unwrap();
    let clients = format!(
        "{DEFAULT_CLIENTS}\n[[clients]]\nid = \"metered\"\nsecret = \"metered-secret\"\n\
         scopes = [\"reports:read\"]\nquota = {{ per_hour = 3 }}\n"
    );
    let store = store_section(dir.path(), &first.url(), "");
    let app = spawn_app_with(move |c| {
        c.clients = clients;
        c.extra = store;
    })
    .await;
    wait_for_store_up(&app, 1).await;
    let token = || app.post_token("metered", "metered-secret", "grant_type=client_credentials");
    for _ in 0..2 {
        assert_eq!(token().await.status(), 200);
    }
    let config = std::fs::read_to_string(&app.config_path).unwrap();

    // A store that does not answer: the first one goes on deciding.
    let dead = format!("redis://127.0.0.1:{}/0", free_port());
    std::fs::write(&app.config_path, config.replace(&first.url(), &dead)).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        token().await.status(),
        200,
        "the third token, from the first store"
    );
    assert_eq!(token().await.status(), 429, "the first store's count");

    // One that answers: swapped in, with its own (empty) counts.
    std::fs::write(
        &app.config_path,
        config.replace(&first.url(), &second.url()),
    )
    .unwrap();
    let started = Instant::now();
    while token().await.status() != 200 {
        assert!(started.elapsed() < Duration::from_secs(5), "never swapped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
