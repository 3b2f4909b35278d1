//! The token endpoint under hostile traffic (docs/configuration.md): brute-force
//! limits that hold however many requests arrive at once and that cannot
//! lock a client out from elsewhere, bounded slow work, and slow peers cut
//! off while everybody else is served.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{basic, spawn_app_with, TestApp};
use crate::token_errors::expect_error;

const FORM: &str = "application/x-www-form-urlencoded";

/// A client whose secret is PBKDF2-hashed at a cost that makes concurrent
/// checks overlap (a few milliseconds each).
fn hashed_client(id: &str, secret: &str) -> String {
    hashed_client_costing(id, secret, 50_000)
}

fn hashed_client_costing(id: &str, secret: &str, iterations: u32) -> String {
    let hash = tokenmint::secret_hash::SecretHash::hash(secret, iterations).unwrap();
    format!("[[clients]]\nid = \"{id}\"\nsecret_hash = \"{hash}\"\nscopes = [\"a\"]\n")
}

/// Sends every request at once and returns the statuses.
async fn statuses(app: &TestApp, requests: Vec<(String, Vec<(&'static str, String)>)>) -> Vec<u16> {
    let sends: Vec<_> = requests
        .into_iter()
        .map(|(auth, headers)| {
            let mut req = app
                .http
                .post(app.url("/oauth2/token"))
                .header("Authorization", auth)
                .header("Content-Type", FORM)
                .body("grant_type=client_credentials");
            for (name, value) in headers {
                req = req.header(name, value);
            }
            tokio::spawn(async move { req.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut out = Vec::new();
    for send in sends {
        out.push(send.await.unwrap());
    }
    out
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|&&s| s == status).count()
}

async fn metric(app: &TestApp, line_start: &str) -> f64 {
    let text = app.admin_get("/metrics").await.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn concurrent_identical_wrong_secrets_share_one_check_and_stop_at_the_limit() {
    let app = spawn_app_with(|cfg| {
        cfg.clients = hashed_client("hashed", "right-secret");
        cfg.extra
            .push_str("[throttle]\nfailures_per_client = 10\nfailures_per_address = 1000\n");
    })
    .await;
    let wrong = basic("hashed", "wrong-secret");

    let got = statuses(&app, (0..60).map(|_| (wrong.clone(), vec![])).collect()).await;

    assert_eq!(count(&got, 401) + count(&got, 429), 60, "{got:?}");
    assert!(
        (1..=10).contains(&count(&got, 401)),
        "at most the limit is 401: {got:?}"
    );
    let failures = metric(
        &app,
        "tokenmint_auth_failures_total{reason=\"wrong_secret\"}",
    )
    .await;
    assert!(failures <= 10.0, "{failures} failures counted");
    // The right secret from the same source is now refused too (429), as
    // the limit says; the throttle was consulted before any check.
    let res = app
        .post_token("hashed", "right-secret", "grant_type=client_credentials")
        .await;
    assert_eq!(res.status(), 429);
}

#[tokio::test]
async fn concurrent_distinct_wrong_secrets_verify_no_more_than_the_limit() {
    let app = spawn_app_with(|cfg| {
        cfg.clients = hashed_client("hashed", "right-secret");
        cfg.extra
            .push_str("[throttle]\nfailures_per_client = 1000\nfailures_per_address = 30\n");
    })
    .await;
    // 200 unknown ids, each with its own secret: each would need a check.
    let requests = (0..200)
        .map(|i| (basic(&format!("nobody-{i}"), &format!("guess-{i}")), vec![]))
        .collect();

    let got = statuses(&app, requests).await;

    let (unauthorized, throttled, busy) = (count(&got, 401), count(&got, 429), count(&got, 503));
    assert_eq!(unauthorized + throttled + busy, 200, "{got:?}");
    assert!(
        unauthorized <= 30,
        "{unauthorized} answered 401 past the limit of 30"
    );
    let failures = metric(
        &app,
        "tokenmint_auth_failures_total{reason=\"unknown_client\"}",
    )
    .await;
    assert!(failures <= 30.0, "{failures} failures counted");
    // Whatever happened, the valid client from another source still works.
}

#[tokio::test]
async fn failures_from_one_source_never_lock_out_the_client_at_another() {
    let app = spawn_app_with(|cfg| {
        cfg.extra.push_str(
            "[throttle]\nfailures_per_client = 10\nfailures_per_address = 30\ntrusted_proxies = [\"127.0.0.1\"]\n",
        );
    })
    .await;
    let attacker = || vec![("X-Forwarded-For", "203.0.113.9".to_string())];
    let wrong = basic("svc", "wrong");
    for _ in 0..10 {
        let got = statuses(&app, vec![(wrong.clone(), attacker())]).await;
        assert_eq!(got, [401]);
    }
    let got = statuses(&app, vec![(basic("svc", "svc-secret"), attacker())]).await;
    assert_eq!(got, [429], "the attacker's address is throttled for svc");

    let elsewhere = vec![("X-Forwarded-For", "198.51.100.7".to_string())];
    let got = statuses(&app, vec![(basic("svc", "svc-secret"), elsewhere)]).await;

    assert_eq!(
        got,
        [200],
        "the client itself, from its own address, is served"
    );
    let throttled = metric(
        &app,
        "tokenmint_throttled_total{dimension=\"client_source\"}",
    )
    .await;
    assert!(throttled >= 1.0);
}

/// Opens a connection that sends its headers and then trickles the body.
async fn trickle(address: &str, stop: Instant) -> (Duration, String) {
    let start = Instant::now();
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\nContent-Length: 200\r\n\r\ng"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            n = socket.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep(Duration::from_millis(300)) => {
                if Instant::now() > stop || socket.write_all(b"r").await.is_err() {
                    break;
                }
            }
        }
    }
    (
        start.elapsed(),
        String::from_utf8_lossy(&answer).into_owned(),
    )
}

#[tokio::test]
async fn a_trickled_body_is_cut_at_the_request_timeout_while_others_are_served() {
    let app = spawn_app_with(|cfg| cfg.server.push_str("request_timeout = 1\n")).await;
    let address = app.address.trim_start_matches("http://").to_string();
    let stop = Instant::now() + Duration::from_secs(8);
    let slow: Vec<_> = (0..50)
        .map(|_| {
            tokio::spawn({
                let address = address.clone();
                async move { trickle(&address, stop).await }
            })
        })
        .collect();

    // Meanwhile, tokens keep being issued.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.token("svc", "svc-secret", "").await;
    }
    for handle in slow {
        let (held, answer) = handle.await.unwrap();
        assert!(held < Duration::from_secs(5), "held {held:?}");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(
            answer.contains("nosniff"),
            "security headers on the 408: {answer}"
        );
    }
}

#[tokio::test]
async fn too_many_slow_checks_at_once_get_503_with_retry_after_and_count_no_failure() {
    let mut clients = String::new();
    for i in 0..12 {
        clients.push_str(&hashed_client_costing(
            &format!("h{i}"),
            "right-secret",
            200_000,
        ));
    }
    let app = spawn_app_with(|cfg| cfg.clients = clients).await;
    // Twelve distinct valid credentials, none verified yet: twelve slow
    // checks at once, on a machine with a few cores.
    let requests = (0..12)
        .map(|i| (basic(&format!("h{i}"), "right-secret"), vec![]))
        .collect();

    let got = statuses(&app, requests).await;

    assert_eq!(count(&got, 200) + count(&got, 503), 12, "{got:?}");
    assert!(
        count(&got, 503) >= 1,
        "more slow checks than cores: {got:?}"
    );
    let failures = metric(
        &app,
        "tokenmint_auth_failures_total{reason=\"wrong_secret\"}",
    )
    .await;
    assert_eq!(failures, 0.0, "a 503 is not a failure");
    // One at a time, every client gets its token, then stays verified.
    for i in 0..12 {
        let id = format!("h{i}");
        let res = app
            .post_token(&id, "right-secret", "grant_type=client_credentials")
            .await;
        assert_eq!(res.status(), 200, "{id}");
    }
    let res = app
        .post_token("h0", "right-secret", "grant_type=client_credentials")
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_503_for_slow_checks_is_oauth_json_with_retry_after() {
    let mut clients = String::new();
    for i in 0..8 {
        clients.push_str(&hashed_client_costing(&format!("h{i}"), "s", 200_000));
    }
    let app = spawn_app_with(|cfg| cfg.clients = clients).await;
    let sends: Vec<_> = (0..8)
        .map(|i| {
            let req = app
                .http
                .post(app.url("/oauth2/token"))
                .header("Authorization", basic(&format!("h{i}"), "s"))
                .header("Content-Type", FORM)
                .body("grant_type=client_credentials");
            tokio::spawn(async move { req.send().await.unwrap() })
        })
        .collect();
    let mut busy = 0;
    for send in sends {
        let res = send.await.unwrap();
        if res.status() == 503 {
            busy += 1;
            assert!(res.headers().get("retry-after").is_some());
            expect_error(res, 503, "temporarily_unavailable").await;
        }
    }
    assert!(busy >= 1);
}
