//! Live operations without a signal: a changed config file, a Kubernetes
//! `..data` symlink swap, a new key file and a new TLS certificate are
//! applied within 2 s; broken ones are rejected whole while the last good
//! configuration (and certificate) keeps serving; a reload that changes
//! nothing counts nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tokenmint::Application;

use crate::cli::{serve, wait_for_metric};
use crate::helpers::{self, spawn_app, spawn_app_with};

const WITHIN: Duration = Duration::from_secs(2);

const SVC: &str = "[[clients]]\nid = \"svc\"\nsecret = \"svc-secret\"\n";
const LATE: &str = "[[clients]]\nid = \"late\"\nsecret = \"late-secret\"\n";

fn config_text(keys: &Path, clients: &str) -> String {
    format!(
        "issuer = \"https://tokenmint.test\"\n[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n[keys]\ndir = {keys:?}\n[tokens]\naudience = [\"https://api.example.com\"]\n{clients}"
    )
}

/// Starts the in-process application on `config`; returns its base URL.
async fn start(config: &Path) -> String {
    let loaded = tokenmint::config::load_file(config).unwrap();
    let app = Application::build(loaded).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}

/// The status of a token request; `None` when no response came.
async fn token_status(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> Option<u16> {
    let res = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .ok()?;
    Some(res.status().as_u16())
}

async fn metrics(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Polls `done` every 50 ms until it is true or `WITHIN` has passed;
/// returns how long it took, or panics saying `what`.
async fn within_2_s<F, Fut>(what: &str, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if done().await {
            return start.elapsed();
        }
        if start.elapsed() > WITHIN {
            panic!("{what}: not within {WITHIN:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_kubernetes_data_symlink_swap_of_the_config_directory_is_applied_within_2_s() {
    use std::os::unix::fs::symlink;
    let root = tempfile::tempdir().unwrap();
    let keys = root.path().join("keys");
    helpers::write_keys(&keys, &["ES256"]);
    // What the kubelet makes of a ConfigMap mounted at `config/`.
    let dir = root.path().join("config");
    let first = dir.join("..2026_01_01_00_00_00.1");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::write(first.join("tokenmint.toml"), config_text(&keys, SVC)).unwrap();
    symlink("..2026_01_01_00_00_00.1", dir.join("..data")).unwrap();
    symlink("..data/tokenmint.toml", dir.join("tokenmint.toml")).unwrap();
    let base = start(&dir.join("tokenmint.toml")).await;
    let http = helpers::http_client(None);
    assert_eq!(
        token_status(&http, &base, "late", "late-secret").await,
        Some(401)
    );

    // The update: a new timestamped directory, then `..data` renamed over.
    let second = dir.join("..2026_01_01_00_00_00.2");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::write(
        second.join("tokenmint.toml"),
        config_text(&keys, &format!("{SVC}{LATE}")),
    )
    .unwrap();
    symlink("..2026_01_01_00_00_00.2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();

    within_2_s("the new client gets a token", || async {
        token_status(&http, &base, "late", "late-secret").await == Some(200)
    })
    .await;
    assert_eq!(
        token_status(&http, &base, "svc", "svc-secret").await,
        Some(200)
    );
}

#[tokio::test]
async fn a_key_file_dropped_into_the_keys_directory_is_published_within_2_s_without_a_signal() {
    let app = spawn_app().await;
    assert_eq!(app.get_jwks().await.keys.len(), 1);
    let pem = helpers::key_pem("EdDSA");
    let kid = tokenmint::keys::parse_key(&pem, Path::new("mem"))
        .unwrap()
        .kid;
    let path = app.dir.path().join("keys").join("new.pem");
    std::fs::write(&path, &pem).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    within_2_s("the new key is in /jwks", || async {
        let jwks = app.get_jwks().await;
        jwks.keys
            .iter()
            .any(|k| k.common.key_id.as_deref() == Some(kid.as_str()))
    })
    .await;
    // Still signing with the pinned key: the new one is only published.
    let token = app.token("svc", "svc-secret", "").await;
    let header = helpers::segment(token["access_token"].as_str().unwrap(), 0);
    assert_eq!(header["kid"], app.kids[0].as_str());
}

#[tokio::test]
async fn a_broken_config_written_over_the_good_one_is_rejected_whole_and_counted_once() {
    let app = spawn_app().await;
    let good = std::fs::read_to_string(&app.config_path).unwrap();
    // A valid new client, and an unknown key: the whole file is refused.
    std::fs::write(&app.config_path, format!("{good}\n{LATE}\n[tokens.typo]\n")).unwrap();
    within_2_s("the failure is counted", || async {
        metrics(&app.http, &app.address)
            .await
            .contains("tokenmint_config_reloads_total{result=\"failure\"} 1")
    })
    .await;
    app.token("svc", "svc-secret", "").await;
    let res = app
        .post_token("late", "late-secret", "grant_type=client_credentials")
        .await;
    assert_eq!(res.status(), 401, "nothing of the broken file applies");
    // Touching the same broken file again is no new attempt.
    let broken = std::fs::read(&app.config_path).unwrap();
    std::fs::write(&app.config_path, &broken).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let m = metrics(&app.http, &app.address).await;
    assert!(
        m.contains("tokenmint_config_reloads_total{result=\"failure\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("tokenmint_config_reloads_total{result=\"success\"} 0"),
        "{m}"
    );
}

#[tokio::test]
async fn rewriting_the_same_config_or_a_sighup_without_a_change_reloads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    helpers::write_keys(&keys, &["ES256"]);
    let config = dir.path().join("tm.toml");
    std::fs::write(&config, config_text(&keys, SVC)).unwrap();
    let (mut child, port, logs) = serve(&config);
    let base = format!("http://127.0.0.1:{port}");
    let http = helpers::http_client(None);

    std::fs::write(&config, config_text(&keys, SVC)).unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    // Past the debounce (at most 1 s): both the signal and the file events
    // have been handled, and found nothing new.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let m = metrics(&http, &base).await;
    assert!(
        m.contains("tokenmint_config_reloads_total{result=\"success\"} 0"),
        "{m}"
    );
    assert!(
        m.contains("tokenmint_config_reloads_total{result=\"failure\"} 0"),
        "{m}"
    );

    // A real change still reloads, once.
    std::fs::write(&config, config_text(&keys, &format!("{SVC}{LATE}"))).unwrap();
    wait_for_metric(
        &http,
        &base,
        "tokenmint_config_reloads_total{result=\"success\"} 1",
    )
    .await;
    assert_eq!(
        token_status(&http, &base, "late", "late-secret").await,
        Some(200)
    );

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let logs: Vec<String> = logs.try_iter().collect();
    assert!(
        logs.iter().any(|l| l.contains("configuration unchanged")),
        "{logs:#?}"
    );
}

struct Cert {
    pem: String,
    key_pem: String,
}

/// A self-signed certificate for localhost with its own key and subject.
fn make_cert(name: &str) -> Cert {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Cert {
        pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// An HTTP/1.1 client that trusts `cert` alone, so that it can only talk
/// to a server presenting it.
fn trusting(cert: &Cert) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(helpers::tls_config(Some(cert.pem.as_bytes())))
        .http1_only()
        .build()
        .unwrap()
}

fn write_pair(cert: &Path, key: &Path, cert_pem: &str, key_pem: &str) {
    std::fs::write(key, key_pem).unwrap();
    std::fs::write(cert, cert_pem).unwrap();
}

#[tokio::test]
async fn a_new_certificate_serves_new_connections_within_2_s_while_open_ones_keep_working() {
    let tls = tempfile::tempdir().unwrap();
    let (cert_path, key_path): (PathBuf, PathBuf) =
        (tls.path().join("cert.pem"), tls.path().join("key.pem"));
    let old = make_cert("old");
    write_pair(&cert_path, &key_path, &old.pem, &old.key_pem);
    let app = spawn_app_with(|c| c.tls = Some((cert_path.clone(), key_path.clone()))).await;
    let base = format!(
        "https://localhost:{}",
        app.address.rsplit(':').next().unwrap()
    );
    // A keep-alive connection that knows the old certificate only.
    let open = trusting(&old);
    assert_eq!(
        token_status(&open, &base, "svc", "svc-secret").await,
        Some(200)
    );

    let new = make_cert("new");
    write_pair(&cert_path, &key_path, &new.pem, &new.key_pem);
    within_2_s("a new connection gets the new certificate", || async {
        // The open connection keeps working (and is kept alive by this);
        // a client trusting the old certificate alone could not open another.
        assert_eq!(
            token_status(&open, &base, "svc", "svc-secret").await,
            Some(200)
        );
        token_status(&trusting(&new), &base, "svc", "svc-secret").await == Some(200)
    })
    .await;
    assert_eq!(
        token_status(&open, &base, "svc", "svc-secret").await,
        Some(200)
    );

    // A bad pair (a key that is not the certificate's), together with a
    // config change: both are refused, the new certificate keeps serving.
    let good = std::fs::read_to_string(&app.config_path).unwrap();
    std::fs::write(&app.config_path, format!("{good}\n{LATE}")).unwrap();
    let other = make_cert("other");
    write_pair(&cert_path, &key_path, &other.pem, &new.key_pem);
    let current = trusting(&new);
    within_2_s("the bad pair is counted as a failure", || async {
        metrics(&current, &base)
            .await
            .contains("tokenmint_config_reloads_total{result=\"failure\"} 1")
    })
    .await;
    let fresh = trusting(&new);
    assert_eq!(
        token_status(&fresh, &base, "svc", "svc-secret").await,
        Some(200)
    );
    assert_eq!(
        token_status(&fresh, &base, "late", "late-secret").await,
        Some(401),
        "the config change is refused with the certificate"
    );
    assert_eq!(
        token_status(&trusting(&other), &base, "svc", "svc-secret").await,
        None
    );
}

#[tokio::test]
async fn a_certificate_file_that_is_not_pem_is_rejected_and_the_old_one_keeps_serving() {
    let tls = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (tls.path().join("cert.pem"), tls.path().join("key.pem"));
    let old = make_cert("old");
    write_pair(&cert_path, &key_path, &old.pem, &old.key_pem);
    let app = spawn_app_with(|c| c.tls = Some((cert_path.clone(), key_path.clone()))).await;
    let base = format!(
        "https://localhost:{}",
        app.address.rsplit(':').next().unwrap()
    );
    std::fs::write(&cert_path, "not a certificate\n").unwrap();
    within_2_s(
        "the unusable certificate is counted as a failure",
        || async {
            metrics(&trusting(&old), &base)
                .await
                .contains("tokenmint_config_reloads_total{result=\"failure\"} 1")
        },
    )
    .await;
    assert_eq!(
        token_status(&trusting(&old), &base, "svc", "svc-secret").await,
        Some(200)
    );
}
