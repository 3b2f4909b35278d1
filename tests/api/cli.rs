//! The `tokenmint` binary as an operator runs it: keygen, hash-secret,
//! new-client, check-config, inspect, and `serve` itself (its logs never
//! carry a secret or a token; SIGTERM exits 0).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

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
        assert_eq!(text.starts_with("tokenmint-alg: PS256"), alg == "PS256");
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
fn serve(config: &Path) -> (std::process::Child, u16, std::sync::mpsc::Receiver<String>) {
    let mut child = tokenmint()
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
    let keys = dir.path().join("keys");
    let config = dir.path().join("tm.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"http://127.0.0.1\"\n[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n[keys]\ndir = {keys:?}\ngenerate_if_missing = true\n[tokens]\naudience = [\"https://api.example.com\"]\n{}",
            helpers::DEFAULT_CLIENTS
        ),
    )
    .unwrap();
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
    let new_kid = tokenmint::keys::generate(&keys, jsonwebtoken::Algorithm::EdDSA)
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

async fn wait_for_metric(http: &reqwest::Client, base: &str, what: &str) {
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
