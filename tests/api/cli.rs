//! The `tokenmint` binary as an operator runs it: keygen, hash-secret,
//! new-client, check-config, inspect, and `serve` itself (its logs never
//! carry a secret or a token; SIGTERM exits 0).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::helpers::private_ca;
use crate::helpers::{self, spawn_app_with};

fn tokenmint() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokenmint"));
    cmd.env_remove("TOKENMINT_CONFIG").env("NO_COLOR", "1");
    cmd
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn keygen_writes_a_private_pkcs8_key_named_by_its_kid_and_prints_the_kid() {
    let dir = tempfile::tempdir().unwrap();
    for alg in ["ES256", "ES384", "EdDSA", "PS256"] {
        let kid = run_ok(
            tokenmint()
                .args(["keygen", "--alg", alg, "--dir"])
                .arg(dir.path()),
        );
        let kid = kid.trim();
        let path = dir.path().join(format!("{}-{kid}.pem", alg.to_lowercase()));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(
            text.lines().any(|l| l == "tokenmint-alg: PS256"),
            alg == "PS256"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("tokenmint-activate-at: ")),
            "keygen schedules the key: {text}"
        );
        let (key, warnings) = tokenmint::keys::load_file(&path).unwrap();
        assert_eq!(key.kid, kid);
        assert_eq!(tokenmint::keys::alg_name(key.alg), alg);
        assert!(warnings.is_empty(), "mode 0600: {warnings:?}");
    }
    let out = tokenmint()
        .args(["keygen", "--alg", "HS256", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn hash_secret_prints_a_hash_that_verifies_the_secret_from_stdin() {
    let mut child = tokenmint()
        .args(["hash-secret", "--iterations", "1000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret with spaces\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let hash = tokenmint::secret_hash::SecretHash::parse(line.trim()).unwrap();
    assert!(hash.verify("s3cret with spaces"));
    assert!(!hash.verify("s3cret with spaces\n"));
}

#[tokio::test]
async fn new_client_prints_the_secret_once_and_a_block_that_authenticates_it() {
    let out = run_ok(tokenmint().args([
        "new-client",
        "--id",
        "billing",
        "--scopes",
        "billing:read billing:write",
    ]));
    let mut lines = out.lines();
    let secret = lines.next().unwrap().to_string();
    assert!(secret.len() >= 43, "256-bit secret: {secret}");
    let block: String = lines.collect::<Vec<_>>().join("\n");
    assert!(
        !block.contains(&secret),
        "the secret never appears in the block"
    );
    assert!(block.contains("[[clients]]") && block.contains("id = \"billing\""));
    let app = spawn_app_with(|c| c.clients = block.clone()).await;
    let token = app.token("billing", &secret, "&scope=billing:write").await;
    assert_eq!(token["scope"], "billing:write");
}

#[test]
fn check_config_accepts_the_shipped_development_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = run_ok(tokenmint().current_dir(root).args([
        "check-config",
        "--config",
        "config/tokenmint.toml",
    ]));
    assert!(out.contains("demo-client") && out.contains("OK"), "{out}");
}

#[test]
fn check_config_lists_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "issuer = \"ftp://x\"\n[tokens]\nmax_ttl = 0\n[[clients]]\nid = \"a\"\n",
    )
    .unwrap();
    let out = tokenmint()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in ["issuer", "tokens.max_ttl", "no secret", "bad.toml"] {
        assert!(err.contains(expected), "missing {expected}: {err}");
    }
}

#[tokio::test]
async fn inspect_verifies_against_a_served_jwks_and_fails_on_a_tampered_token() {
    let app = spawn_app_with(|_| {}).await;
    let token = app.token("svc", "svc-secret", "").await;
    let token = token["access_token"].as_str().unwrap().to_string();
    let jwks = app.url("/jwks");
    let out = run_ok(tokenmint().args(["inspect", &token, "--jwks", &jwks]));
    assert!(
        out.contains("\"client_id\": \"svc\"") && out.contains("verified"),
        "{out}"
    );
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let out = tokenmint()
        .args(["inspect", &tampered, "--jwks", &jwks])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = tokenmint()
        .args(["inspect", "not-a-token"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Starts the real binary; returns the child and the port it logged.
#[allow(clippy::zombie_processes)] // returned to the caller, which waits for it
pub(crate) fn serve(
    config: &Path,
) -> (std::process::Child, u16, std::sync::mpsc::Receiver<String>) {
    serve_with_env(config, &[])
}

/// A config for [`serve`] in `dir`: port 0, one worker, a key generated at
/// start, the default clients; `server_extra` is more `[server]` lines.
fn serve_config(dir: &Path, server_extra: &str) -> PathBuf {
    let config = dir.join("tm.toml");
    let keys = dir.join("keys");
    std::fs::write(
        &config,
        format!(
            "issuer = \"http://127.0.0.1\"\n[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n{server_extra}[keys]\ndir = {keys:?}\ngenerate_if_missing = true\n[tokens]\naudience = [\"https://api.example.com\"]\n{}",
            helpers::DEFAULT_CLIENTS
        ),
    )
    .unwrap();
    config
}

/// [`serve`] with more environment variables.
#[allow(clippy::zombie_processes)] // returned to the caller, which waits for it
pub(crate) fn serve_with_env(
    config: &Path,
    env: &[(&str, &str)],
) -> (std::process::Child, u16, std::sync::mpsc::Receiver<String>) {
    let mut child = tokenmint()
        .envs(env.iter().copied())
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or_else(|_| panic!("no `listening` line; saw {seen:#?}"));
        if line.contains("listening") {
            let port = line
                .split("port=")
                .nth(1)
                .and_then(|p| p.split_whitespace().next())
                .and_then(|p| p.parse().ok())
                .unwrap();
            seen.push(line);
            let (tx2, rx2) = std::sync::mpsc::channel();
            for l in seen {
                let _ = tx2.send(l);
            }
            std::thread::spawn(move || {
                for l in rx {
                    let _ = tx2.send(l);
                }
            });
            return (child, port, rx2);
        }
        seen.push(line);
    }
}

#[tokio::test]
async fn serve_logs_requests_without_secrets_or_tokens_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = serve_config(dir.path(), "");
    let (child, port, logs) = serve(&config);
    let base = format!("http://127.0.0.1:{port}");
    let http = helpers::http_client(None);
    let mut tokens = Vec::new();
    for (id, secret) in [
        ("svc", "svc-secret"),
        ("svc", "wrong-secret-xyz"),
        ("nobody", "nobody-secret-abc"),
    ] {
        let res = http
            .post(format!("{base}/oauth2/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let body = res.text().await.unwrap();
        assert!(!body.contains(secret));
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) {
            if let Some(t) = v["access_token"].as_str() {
                tokens.push(t.to_string());
            }
        }
    }
    let res = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "post-only"),
            ("client_secret", "post-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(tokens.len(), 1);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = child;
    let exit = child.wait().unwrap();
    assert!(exit.success(), "SIGTERM exits 0, got {exit:?}");
    let lines: Vec<String> = logs.try_iter().collect();
    assert!(lines
        .iter()
        .any(|l| l.contains("generated a development ES256 signing key")));
    assert!(
        lines
            .iter()
            .filter(|l| l.contains("tokenmint::access"))
            .count()
            >= 4,
        "one line per request: {lines:#?}"
    );
    let signature = tokens[0].rsplit('.').next().unwrap();
    for line in &lines {
        for secret in [
            "svc-secret",
            "wrong-secret-xyz",
            "nobody-secret-abc",
            "post-secret",
            "Basic ",
        ] {
            assert!(!line.contains(secret), "secret in log: {line}");
        }
        assert!(
            !line.contains(&tokens[0]) && !line.contains(signature),
            "token in log: {line}"
        );
    }
}

#[tokio::test]
async fn sighup_applies_a_new_key_and_a_broken_config_is_rejected_whole() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let kids = helpers::write_keys(&keys, &["ES256"]);
    let config = dir.path().join("tm.toml");
    let write_config = |active: &str, extra: &str| {
        std::fs::write(
            &config,
            format!(
                "issuer = \"http://127.0.0.1\"\n[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n[keys]\ndir = {keys:?}\nactive = \"{active}\"\n[tokens]\naudience = [\"https://api.example.com\"]\n{extra}\n{}",
                helpers::DEFAULT_CLIENTS
            ),
        )
        .unwrap();
    };
    write_config(&kids[0], "");
    let (mut child, port, _logs) = serve(&config);
    let base = format!("http://127.0.0.1:{port}");
    let http = helpers::http_client(None);
    let hup = |pid: u32| {
        assert!(Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success());
    };

    // A new key, made active: after SIGHUP both are published and it signs.
    let new_kid = tokenmint::keys::generate(&keys, jsonwebtoken::Algorithm::EdDSA, None)
        .unwrap()
        .0;
    write_config(&new_kid, "");
    hup(child.id());
    wait_for_metric(
        &http,
        &base,
        "tokenmint_config_reloads_total{result=\"success\"} 1",
    )
    .await;
    assert_eq!(kid_of_new_token(&http, &base).await, new_kid);
    let jwks: serde_json::Value = helpers::get_json(&http, &format!("{base}/jwks")).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);

    // A broken config is refused as a whole: still serving the last good one.
    write_config(&kids[0], "[tokens.typo]\n");
    hup(child.id());
    wait_for_metric(
        &http,
        &base,
        "tokenmint_config_reloads_total{result=\"failure\"} 1",
    )
    .await;
    assert_eq!(kid_of_new_token(&http, &base).await, new_kid);

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

async fn kid_of_new_token(http: &reqwest::Client, base: &str) -> String {
    let res = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth("svc", Some("svc-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    helpers::segment(body["access_token"].as_str().unwrap(), 0)["kid"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) async fn wait_for_metric(http: &reqwest::Client, base: &str, what: &str) {
    for _ in 0..100 {
        let metrics = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains(what) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never saw {what}");
}

/// A config for check-config with one key in `dir/keys`; `body` goes
/// after `[keys]` (which it may extend).
fn config_with_a_key(dir: &Path, keys_extra: &str, body: &str) -> std::path::PathBuf {
    let keys = dir.join("keys");
    helpers::write_keys(&keys, &["ES256"]);
    let config = dir.join("tm.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"https://auth.example.com\"\n[keys]\ndir = {keys:?}\n{keys_extra}\n[tokens]\naudience = [\"https://api.example.com\"]\n{body}"
        ),
    )
    .unwrap();
    config
}

fn check_config(config: &Path) -> (bool, String, String) {
    let out = tokenmint()
        .args(["check-config", "--config"])
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_lists_config_and_key_problems_together_and_every_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_a_key(
        dir.path(),
        "active = \"no-such-kid\"\nactive_typo = 1",
        "[server]\nlisten_typo = 1\n[[clients]]\nid = \"a\"\nsecret = \"x\"\n[[clients]]\nid = \"a\"\nsecret = \"y\"\n",
    );
    let (ok, _, err) = check_config(&config);
    assert!(!ok);
    for expected in [
        "both have id \"a\"",
        "no-such-kid",
        "keys.active_typo",
        "server.listen_typo",
    ] {
        assert!(err.contains(expected), "missing {expected}: {err}");
    }
}

#[test]
fn check_config_refuses_an_issuer_that_is_no_url_and_warns_about_a_loopback_issuer_on_another_port()
{
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_a_key(dir.path(), "", "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("https://auth.example.com", "http://bad host:99999/"),
    )
    .unwrap();
    let (ok, _, err) = check_config(&config);
    assert!(!ok, "{err}");
    assert!(err.contains("issuer") && err.contains("bad host"), "{err}");

    std::fs::write(
        &config,
        format!(
            "{}\n[server]\nlisten = \"127.0.0.1:9443\"\n",
            text.replace("https://auth.example.com", "http://127.0.0.1:8080")
        ),
    )
    .unwrap();
    let (ok, out, err) = check_config(&config);
    assert!(ok, "{out}{err}");
    assert!(
        err.contains("warning: issuer") && err.contains("loopback") && err.contains("9443"),
        "{err}"
    );
}

/// A stdout whose reading end is already closed: the first write fails
/// with EPIPE, deterministically.
fn closed_stdout() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

#[test]
fn every_subcommand_exits_quietly_when_its_stdout_is_closed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let b64 =
        |s: &str| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s);
    let token = format!(
        "{}.{}.AAAA",
        b64(r#"{"alg":"ES256","typ":"at+jwt","kid":"k"}"#),
        b64(r#"{"iss":"https://x","exp":1}"#)
    );
    let keys = dir.path().display().to_string();
    let dev_config = root.join("config/tokenmint.toml").display().to_string();
    let jwks = dir.path().join("none.json").display().to_string();
    let runs: Vec<Vec<&str>> = vec![
        vec!["check-config", "--config", &dev_config],
        vec!["keygen", "--alg", "ES256", "--dir", &keys],
        vec!["hash-secret", "--iterations", "1000"],
        vec!["new-client", "--id", "svc"],
        vec!["inspect", &token, "--jwks", &jwks],
    ];
    for args in runs {
        let mut child = tokenmint()
            .current_dir(root)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(closed_stdout())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(b"a secret\n");
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {err}");
    }
}

#[test]
fn the_production_template_checks_with_a_warning_and_its_placeholder_hash_verifies_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let template = root.join("config/production.example.toml");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    helpers::write_keys(&keys, &["ES256"]);
    let tls = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, tls.cert.pem()).unwrap();
    std::fs::write(&key, tls.signing_key.serialize_pem()).unwrap();
    let out = tokenmint()
        .args(["check-config", "--config"])
        .arg(&template)
        .env("TOKENMINT_KEYS__DIR", &keys)
        .env("TOKENMINT_SERVER__TLS__CERT", &cert)
        .env("TOKENMINT_SERVER__TLS__KEY", &key)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("placeholder") && err.contains("tokenmint new-client --id reporting-service"),
        "{err}"
    );
    let text = std::fs::read_to_string(&template).unwrap();
    let hash = text
        .lines()
        .find_map(|l| l.strip_prefix("secret_hash = "))
        .unwrap()
        .trim_matches('"');
    let hash = tokenmint::secret_hash::SecretHash::parse(hash).unwrap();
    assert!(!hash.verify("change-me"));
}

#[tokio::test]
async fn ids_with_colons_and_spaces_authenticate_form_encoded_in_basic_and_in_the_body() {
    let out = run_ok(tokenmint().args(["new-client", "--id", "urn:svc:one"]));
    let mut lines = out.lines();
    let secret = lines.next().unwrap().to_string();
    let block: String = lines.collect::<Vec<_>>().join("\n");
    let clients =
        format!("{block}\n[[clients]]\nid = \"space client\"\nsecret = \"space secret\"\n");
    let app = spawn_app_with(|c| c.clients = clients).await;
    for (encoded_id, encoded_secret, secret) in [
        ("urn%3Asvc%3Aone", secret.as_str(), secret.as_str()),
        ("space+client", "space+secret", "space secret"),
        ("space%20client", "space%20secret", "space secret"),
    ] {
        let token = app.token(encoded_id, encoded_secret, "").await;
        assert!(token["access_token"].is_string());
        let body = format!(
            "grant_type=client_credentials&client_id={encoded_id}&client_secret={}",
            encoded_secret.replace(' ', "+")
        );
        let res = app.post_form("/oauth2/token", &body).await;
        assert_eq!(res.status(), 200, "{secret}: {}", res.text().await.unwrap());
    }
}

#[tokio::test]
async fn inspect_fetches_an_https_jwks_trusting_the_private_ca_given_with_cacert() {
    let dir = tempfile::tempdir().unwrap();
    let pki = private_ca(dir.path());
    let tls = Some((pki.cert.clone(), pki.key.clone()));
    let mut app = spawn_app_with(|c| c.tls = tls).await;
    app.http = helpers::http_client(Some(pki.ca_pem.as_bytes()));
    let token = app.token("svc", "svc-secret", "").await;
    let token = token["access_token"].as_str().unwrap().to_string();
    let jwks = app.url("/jwks");
    assert!(jwks.starts_with("https://127.0.0.1:"), "{jwks}");
    let out = tokenmint()
        .args(["inspect", &token, "--jwks", &jwks, "--cacert"])
        .arg(&pki.ca)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified"));
    // Without it, the failure says what to pass.
    let out = tokenmint()
        .args(["inspect", &token, "--jwks", &jwks])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cacert"));
}

#[tokio::test]
async fn inspect_says_what_it_expected_and_found_for_an_expired_or_foreign_token() {
    let app = spawn_app_with(|_| {}).await;
    let token = app.token("svc", "svc-secret", "&validity_period=1").await;
    let token = token["access_token"].as_str().unwrap().to_string();

    // Another issuer, the same keys: the configuration's expectations.
    let config = app.dir.path().join("other.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"https://other.example\"\n[keys]\ndir = {:?}\n[tokens]\naudience = [\"https://api.example.com\"]\n",
            app.dir.path().join("keys")
        ),
    )
    .unwrap();
    let out = tokenmint()
        .args(["inspect", &token, "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("expected \"https://other.example\"")
            && err.contains("found \"https://tokenmint.test\""),
        "{err}"
    );

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let out = tokenmint()
        .args(["inspect", &token, "--jwks", &app.url("/jwks")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("expected exp after now") && err.contains("found exp"),
        "{err}"
    );
}

#[tokio::test]
async fn sigterm_makes_readyz_503_at_once_and_keeps_serving_for_drain_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let config = serve_config(dir.path(), "drain_seconds = 2\n");
    let (mut child, port, _logs) = serve(&config);
    let base = format!("http://127.0.0.1:{port}");
    let http = helpers::http_client(None);
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let term = std::time::Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "not ready once SIGTERM arrived");
    let res = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth("svc", Some("svc-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "still serving while draining");
    assert_eq!(
        res.headers().get("connection").map(|v| v.to_str().unwrap()),
        Some("close"),
        "a kept-alive client is told to reconnect elsewhere"
    );

    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit 0 after draining, got {exit:?}");
    assert!(
        term.elapsed() >= std::time::Duration::from_secs(2),
        "served for drain_seconds"
    );
}

/// The activation time `keygen` wrote into `path`, as Unix seconds.
fn activation_of(path: &Path) -> u64 {
    tokenmint::keys::load_file(path)
        .unwrap()
        .0
        .activate_at
        .unwrap()
}

#[test]
fn keygen_schedules_a_key_one_jwks_lifetime_and_the_publish_margin_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_a_key(dir.path(), "publish_margin = 30", "jwks_max_age = 60\n");
    // config_with_a_key puts `body` after [tokens]: jwks_max_age = 60.
    let keys = dir.path().join("keys");
    let now = tokenmint::clock::unix_now();
    let out = tokenmint()
        .args(["keygen", "--alg", "ES256", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let path = keys.join(format!("es256-{kid}.pem"));
    let at = activation_of(&path);
    assert!(
        (now + 90..=now + 92).contains(&at),
        "now {now}, activates {at}"
    );
    assert!(
        stderr.contains("signs from") && stderr.contains("in 9"),
        "{stderr}"
    );

    let now = tokenmint::clock::unix_now();
    let kid = run_ok(
        tokenmint()
            .args(["keygen", "--alg", "ES256", "--now", "--dir"])
            .arg(&keys),
    );
    let at = activation_of(&keys.join(format!("es256-{}.pem", kid.trim())));
    assert!((now..=now + 2).contains(&at), "--now: {at} vs {now}");

    let kid = run_ok(
        tokenmint()
            .args([
                "keygen",
                "--alg",
                "ES256",
                "--activate-at",
                "2030-01-02T03:04:05Z",
                "--dir",
            ])
            .arg(&keys),
    );
    let at = activation_of(&keys.join(format!("es256-{}.pem", kid.trim())));
    assert_eq!(tokenmint::clock::format(at), "2030-01-02T03:04:05Z");

    let bad = tokenmint()
        .args([
            "keygen",
            "--alg",
            "ES256",
            "--activate-at",
            "tomorrow",
            "--dir",
        ])
        .arg(&keys)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
}

#[test]
fn check_config_says_which_key_signs_which_will_and_which_may_be_removed() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    // An old key without a schedule, one that took over an hour ago (so the
    // old one is retired), and one that signs in an hour.
    helpers::write_keys(&keys, &["ES256"]);
    let now = tokenmint::clock::unix_now();
    let current =
        tokenmint::keys::generate(&keys, jsonwebtoken::Algorithm::ES256, Some(now - 3600))
            .unwrap()
            .0;
    let next = tokenmint::keys::generate(&keys, jsonwebtoken::Algorithm::ES256, Some(now + 3600))
        .unwrap()
        .0;
    let config = dir.path().join("tm.toml");
    std::fs::write(
        &config,
        format!("issuer = \"https://auth.example.com\"\n[keys]\ndir = {keys:?}\n[tokens]\nmax_ttl = 600\naudience = [\"https://api.example.com\"]\n"),
    )
    .unwrap();

    let (ok, out, err) = check_config(&config);

    assert!(ok, "{out}\n{err}");
    let line = |kid: &str| {
        out.lines()
            .find(|l| l.contains(kid))
            .unwrap_or_else(|| panic!("{kid} in {out}"))
            .to_string()
    };
    assert!(line(&current).contains("signing since"), "{out}");
    assert!(line(&next).contains("signs from"), "{out}");
    let old = out
        .lines()
        .find(|l| l.starts_with("key:") && l.contains("retired since"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        old.contains("removable now"),
        "max_ttl 600 s passed since an hour ago: {old}"
    );
}

#[tokio::test]
async fn a_pod_with_kubernetes_service_link_variables_starts_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let config = serve_config(dir.path(), "");
    // What a Service named `tokenmint` injects into every pod.
    let links = [
        ("TOKENMINT_PORT", "tcp://10.0.0.1:443"),
        ("TOKENMINT_PORT_443_TCP", "tcp://10.0.0.1:443"),
        ("TOKENMINT_PORT_443_TCP_ADDR", "10.0.0.1"),
        ("TOKENMINT_PORT_443_TCP_PORT", "443"),
        ("TOKENMINT_PORT_443_TCP_PROTO", "tcp"),
        ("TOKENMINT_SERVICE_HOST", "10.0.0.1"),
        ("TOKENMINT_SERVICE_PORT", "443"),
        ("TOKENMINT_SERVICE_PORT_HTTPS", "443"),
    ];

    let (mut child, port, _logs) = serve_with_env(&config, &links);

    let http = helpers::http_client(None);
    let res = http
        .post(format!("http://127.0.0.1:{port}/oauth2/token"))
        .basic_auth("svc", Some("svc-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn malformed_requests_are_not_logged_as_errors() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let dir = tempfile::tempdir().unwrap();
    let config = serve_config(dir.path(), "");
    let (mut child, port, logs) = serve(&config);
    // Requests actix-http refuses before routing: bad framing, a bad version.
    for raw in [
        &b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"[..],
        b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"GET /jwks HTTP/9.9\r\nHost: x\r\n\r\n",
    ] {
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        socket.write_all(raw).await.unwrap();
        let mut answer = Vec::new();
        let _ = socket.read_to_end(&mut answer).await;
        assert!(answer.starts_with(b"HTTP/1.1 400"), "{}", String::from_utf8_lossy(&answer));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());

    let errors: Vec<String> = logs.try_iter().filter(|l| l.contains("ERROR")).collect();
    assert!(
        errors.is_empty(),
        "client mistakes logged as errors: {errors:#?}"
    );
}

#[test]
#[cfg(target_os = "linux")]
fn the_binary_carries_its_allocator_settings_whatever_builds_it() {
    // jemalloc prints its options at exit when asked through its
    // environment variable; the settings must come from the binary itself,
    // not from a cargo config a `cargo install` would not read.
    let out = tokenmint()
        .args(["hash-secret", "--help"])
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .unwrap();
    let stats = String::from_utf8_lossy(&out.stderr);
    for option in [
        "opt.background_thread: true",
        "opt.dirty_decay_ms: 1000",
        "opt.muzzy_decay_ms: 0",
    ] {
        assert!(stats.contains(option), "{option} not in jemalloc's stats");
    }
}

/// The `  error: ` lines check-config printed.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("  error: "))
        .collect()
}

#[test]
fn a_misspelt_audience_is_reported_once_and_a_missing_keys_dir_names_keys_dir_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-keys");
    let config = dir.path().join("tm.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"https://auth.example.com\"\n[keys]\ndir = {missing:?}\n[tokens]\naudiance = [\"https://api.example.com\"]\n\
             [[clients]]\nid = \"a\"\nsecret = \"x\"\n[[clients]]\nid = \"b\"\nsecret = \"y\"\n"
        ),
    )
    .unwrap();
    let (ok, _, err) = check_config(&config);
    assert!(!ok);
    let errors = error_lines(&err);
    assert_eq!(errors.len(), 2, "{err}");
    assert!(
        errors[0].starts_with("tokens.audiance: unknown key (did you mean `audience`?)"),
        "{err}"
    );
    let missing = missing.display();
    assert_eq!(
        errors[1],
        format!(
            "keys.dir = \"{missing}\" does not exist: make it and a first signing key with \
             `tokenmint keygen --alg ES256 --dir {missing}`, or set keys.generate_if_missing = true for development"
        ),
        "{err}"
    );
    // serve refuses the file for the same single reason.
    let out = tokenmint()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has 1 problem(s)"), "{err}");
    assert!(
        err.contains("tokens.audiance") && !err.contains("no audience"),
        "{err}"
    );
}

#[test]
fn check_config_says_an_issuer_written_below_a_section_header_landed_in_that_section() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    helpers::write_keys(&keys, &["ES256"]);
    let config = dir.path().join("tm.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:9443\"\nissuer = \"https://auth.example.com\"\n\
             [keys]\ndir = {keys:?}\n[tokens]\naudience = [\"https://api.example.com\"]\n"
        ),
    )
    .unwrap();
    let (ok, _, err) = check_config(&config);
    assert!(!ok);
    assert_eq!(
        error_lines(&err),
        [
            "issuer: is written after the `[server]` header, so TOML reads it as `server.issuer`: \
          move it above the first `[section]` header"
        ],
        "{err}"
    );
}

/// A DER element (X.690): tag, definite length, body.
fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len().to_be_bytes();
    let skip = len.iter().take_while(|&&b| b == 0).count();
    match body.len() {
        0..=127 => out.push(body.len() as u8),
        _ => {
            out.push(0x80 | (len.len() - skip) as u8);
            out.extend_from_slice(&len[skip..]);
        }
    }
    out.extend_from_slice(body);
    out
}

/// A public key as rcgen writes it into an SPKI or a certificate.
struct RawPublicKey {
    bytes: Vec<u8>,
    alg: &'static rcgen::SignatureAlgorithm,
}

impl rcgen::PublicKeyData for RawPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.alg
    }
}

/// The public key of a JWK, built from its members alone.
fn raw_public_key(jwk: &serde_json::Value) -> RawPublicKey {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let member = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    match (jwk["kty"].as_str().unwrap(), jwk["crv"].as_str()) {
        ("EC", Some(crv)) => RawPublicKey {
            bytes: [vec![4], member("x"), member("y")].concat(),
            alg: if crv == "P-256" {
                &rcgen::PKCS_ECDSA_P256_SHA256
            } else {
                &rcgen::PKCS_ECDSA_P384_SHA384
            },
        },
        ("OKP", _) => RawPublicKey {
            bytes: member("x"),
            alg: &rcgen::PKCS_ED25519,
        },
        _ => {
            // RSAPublicKey (RFC 8017 A.1.1): unsigned INTEGERs, a zero
            // octet first where the top bit is set.
            let int = |b: Vec<u8>| {
                der(
                    0x02,
                    &[if b[0] & 0x80 != 0 { vec![0] } else { vec![] }, b].concat(),
                )
            };
            RawPublicKey {
                bytes: der(0x30, &[int(member("n")), int(member("e"))].concat()),
                alg: &rcgen::PKCS_RSA_SHA256,
            }
        }
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// `new-client --jwks FILE`: the block on stdout, the note on stderr.
fn new_client_with(id: &str, file: &Path) -> (String, String) {
    let out = tokenmint()
        .args([
            "new-client",
            "--id",
            id,
            "--scopes",
            "reports:read",
            "--jwks",
        ])
        .arg(file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    (String::from_utf8(out.stdout).unwrap(), err)
}

fn kid_in(block: &str) -> String {
    let start = block.find("\"kid\" = \"").unwrap() + 9;
    block[start..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn new_client_turns_a_pem_public_key_or_certificate_into_a_jwk_its_private_key_authenticates()
{
    use crate::assertions::{client_claims, form, ClientKey};
    use rcgen::PublicKeyData as _;
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let mut blocks = String::new();
    let mut holders = Vec::new();
    for alg in ["ES256", "ES384", "EdDSA", "RS256", "PS256"] {
        let key = ClientKey::new(alg, None);
        let public = raw_public_key(&key.jwk);
        let file = dir.path().join(format!("{alg}.pub.pem"));
        std::fs::write(&file, pem("PUBLIC KEY", &public.subject_public_key_info())).unwrap();
        let id = format!("pem-{alg}");
        let (block, note) = new_client_with(&id, &file);
        let kid = kid_in(&block);
        assert!(note.contains(&kid), "{note}");
        blocks.push_str(&block);
        holders.push((id, key, kid));
    }
    // A certificate (as a CA issued it) gives the key it certifies.
    let key = ClientKey::new("ES256", None);
    let ca = rcgen::CertifiedIssuer::self_signed(
        rcgen::CertificateParams::new(Vec::<String>::new()).unwrap(),
        rcgen::KeyPair::generate().unwrap(),
    )
    .unwrap();
    let cert = rcgen::CertificateParams::new(vec!["client.example".into()])
        .unwrap()
        .signed_by(&raw_public_key(&key.jwk), &ca)
        .unwrap();
    let file = dir.path().join("client.crt");
    std::fs::write(&file, cert.pem()).unwrap();
    let (block, _) = new_client_with("cert", &file);
    let kid = kid_in(&block);
    blocks.push_str(&block);
    holders.push(("cert".into(), key, kid));

    let config = config_with_a_key(dir.path(), "", &blocks);
    let (ok, out, err) = check_config(&config);
    assert!(ok, "{out}\n{err}");

    let app = spawn_app_with(|c| c.clients = blocks).await;
    for (id, key, kid) in &holders {
        let header = json!({"alg": key.alg, "typ": "JWT", "kid": kid});
        let assertion = key.sign_with_header(&header, &client_claims(id, json!(helpers::ISSUER)));
        let res = app
            .post_form("/oauth2/token", &form(&assertion, "&scope=reports:read"))
            .await;
        assert_eq!(res.status(), 200, "{id}: {}", res.text().await.unwrap());
    }
    // An assertion that names no kid is tried against the client's keys.
    let (id, key, _) = &holders[0];
    let header = json!({"alg": key.alg, "typ": "JWT"});
    let assertion = key.sign_with_header(&header, &client_claims(id, json!(helpers::ISSUER)));
    let res = app.post_form("/oauth2/token", &form(&assertion, "")).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

#[test]
fn new_client_names_a_pem_key_by_its_rfc7638_thumbprint() {
    // RFC 7638 §3.1: the example RSA key and its thumbprint.
    let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    let public = raw_public_key(&serde_json::json!({"kty": "RSA", "n": n, "e": "AQAB"}));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rfc7638.pub.pem");
    std::fs::write(
        &file,
        pem(
            "PUBLIC KEY",
            &rcgen::PublicKeyData::subject_public_key_info(&public),
        ),
    )
    .unwrap();
    let (block, _) = new_client_with("rfc", &file);
    assert_eq!(
        kid_in(&block),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    assert!(block.contains(&format!("\"n\" = \"{n}\"")), "{block}");
}

#[test]
fn new_client_says_what_it_expects_of_a_file_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, text: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let out = tokenmint()
            .args(["new-client", "--id", "x", "--jwks"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let private = helpers::key_pem("ES256");
    let err = run("client.key", &private);
    assert!(
        err.contains("holds a private key") && err.contains("-pubout"),
        "{err}"
    );
    let body: String = private
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(!err.contains(&body[..20]), "no key material echoed: {err}");
    let err = run("notes.txt", "a public key, I promise");
    assert!(
        err.contains("is neither JSON nor PEM") && err.contains("-----BEGIN PUBLIC KEY-----"),
        "{err}"
    );
    // An RSA modulus of 1024 bits (no private key needed to be refused).
    let n = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        [0xc1u8; 128],
    );
    let small = raw_public_key(&serde_json::json!({"kty": "RSA", "n": n, "e": "AQAB"}));
    let small = pem(
        "PUBLIC KEY",
        &rcgen::PublicKeyData::subject_public_key_info(&small),
    );
    let err = run("small.pub.pem", &small);
    assert!(
        err.contains("RSA key of 1024 bits") && err.contains("2048"),
        "{err}"
    );
}

/// `new-client --id ID --scopes stock:read` with `args`: the block on
/// stdout, the note on stderr.
fn new_client_printing(id: &str, args: &[&std::ffi::OsStr]) -> (String, String) {
    let out = tokenmint()
        .args(["new-client", "--id", id, "--scopes", "stock:read"])
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    (String::from_utf8(out.stdout).unwrap(), err)
}

#[tokio::test]
async fn new_client_prints_certificate_client_blocks_that_check_and_authenticate() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    use rcgen::{CertificateParams, CertifiedIssuer, DnType, KeyPair};

    let dir = tempfile::tempdir().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let ca_file = dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    // Certificate order O, then CN: "CN=…,O=Example" in RFC 4514, with a
    // comma in the CN that the DN escapes and the TOML block quotes.
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Example");
    params
        .distinguished_name
        .push(DnType::CommonName, "Smith, John");
    let by_ca = params
        .signed_by(&KeyPair::generate().unwrap(), &ca)
        .unwrap();
    let own = CertificateParams::new(vec!["edge.example".into()])
        .unwrap()
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap();
    let own_file = dir.path().join("edge.pem");
    std::fs::write(&own_file, own.pem()).unwrap();

    let dn = std::ffi::OsStr::new("CN=Smith\\, John,O=Example");
    let (mut blocks, note) = new_client_printing("by-ca", &["--tls-subject-dn".as_ref(), dn]);
    assert!(note.contains("[mtls] ca_file"), "{note}");
    let (block, note) = new_client_printing(
        "edge",
        &["--self-signed-cert".as_ref(), own_file.as_os_str()],
    );
    assert!(note.contains("[mtls] trusted_proxies"), "{note}");
    blocks.push_str(&block);
    assert!(!blocks.contains("secret"), "{blocks}");

    let mtls = format!("[mtls]\nca_file = {ca_file:?}\ntrusted_proxies = [\"127.0.0.1\"]\n");
    let config = config_with_a_key(dir.path(), "", &format!("{blocks}{mtls}"));
    let (ok, out, err) = check_config(&config);
    assert!(ok, "{blocks}\n{out}\n{err}");

    let app = spawn_app_with(|c| {
        c.clients = blocks;
        c.extra = mtls;
    })
    .await;
    let http = helpers::http_client(None);
    for (id, cert, status) in [
        ("by-ca", by_ca.der(), 200),
        ("edge", own.der(), 200),
        ("by-ca", own.der(), 401),
        ("edge", by_ca.der(), 401),
    ] {
        let res = http
            .post(app.url("/oauth2/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Client-Cert", format!(":{}:", STANDARD.encode(cert)))
            .body(format!("grant_type=client_credentials&client_id={id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{id}");
        if status == 200 {
            let body: serde_json::Value = res.json().await.unwrap();
            let token = body["access_token"].as_str().unwrap();
            let x5t = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, cert));
            assert_eq!(
                helpers::segment(token, 1)["cnf"]["x5t#S256"],
                serde_json::json!(x5t),
                "{id}"
            );
        }
    }
}
