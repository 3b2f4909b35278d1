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
        let redis = Self {
            child,
            port,
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
        // A secret this replica never verified needs the store too.
        let plain = app
            .post_token("svc", "svc-secret", "grant_type=client_credentials")
            .await;
        assert_eq!(plain.status(), metered, "{on_error}");
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
    // limit holds on both, for the right secret too, from this source.
    for app in [&a, &b] {
        let res = app
            .post_token("svc", "svc-secret", "grant_type=client_credentials")
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
