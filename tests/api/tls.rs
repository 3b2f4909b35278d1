//! HTTPS on the public listener: tokens over HTTP/1.1 and HTTP/2 with a
//! client that trusts a certificate made at test time; openssl-made SEC1 and
//! PKCS#1 keys; bad files refused by name before anything listens; plain
//! HTTP and garbage on the TLS port only close that connection.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{self, spawn_app_with, try_spawn_app_with, AUDIENCE};

struct Cert {
    cert: PathBuf,
    key: PathBuf,
    pem: String,
}

/// A self-signed certificate for localhost/127.0.0.1, written to `dir`.
fn make_cert(dir: &Path, not_after: Option<(i32, u8, u8)>) -> Cert {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    if let Some((y, m, d)) = not_after {
        params.not_before = rcgen::date_time_ymd(y - 1, m, d);
        params.not_after = rcgen::date_time_ymd(y, m, d);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let c = Cert {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        pem: cert.pem(),
    };
    std::fs::write(&c.cert, &c.pem).unwrap();
    std::fs::write(&c.key, key.serialize_pem()).unwrap();
    c
}

fn client(ca_pem: &str, alpn: &[u8]) -> reqwest::Client {
    let mut tls = helpers::tls_config(Some(ca_pem.as_bytes()));
    tls.alpn_protocols = vec![alpn.to_vec()];
    let builder = reqwest::Client::builder().tls_backend_preconfigured(tls);
    if alpn == b"h2" {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    }
    .build()
    .unwrap()
}

async fn token_over(http: &reqwest::Client, base: &str) -> (reqwest::Version, String) {
    let res = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth("svc", Some("svc-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let version = res.version();
    let body: serde_json::Value = res.json().await.unwrap();
    (version, body["access_token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn tokens_are_served_over_https_with_http1_and_http2_and_validate_from_the_https_jwks() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path(), None);
    let app = spawn_app_with(|c| c.tls = Some((cert.cert.clone(), cert.key.clone()))).await;
    let base = format!(
        "https://localhost:{}",
        app.address.rsplit(':').next().unwrap()
    );
    for (alpn, expected) in [
        (&b"http/1.1"[..], reqwest::Version::HTTP_11),
        (&b"h2"[..], reqwest::Version::HTTP_2),
    ] {
        let http = client(&cert.pem, alpn);
        let (version, token) = token_over(&http, &base).await;
        assert_eq!(version, expected);
        let jwks = helpers::get_json(&http, &format!("{base}/jwks")).await;
        let claims = helpers::validate_with_jwks(&jwks, &token, &app.issuer, AUDIENCE);
        assert_eq!(claims["client_id"], "svc");
    }
}

#[tokio::test]
async fn openssl_sec1_and_pkcs1_tls_keys_serve_https() {
    for (cert, key) in [
        ("test-only-tls-sec1-cert.pem", "test-only-tls-sec1-key.pem"),
        (
            "test-only-tls-pkcs1-cert.pem",
            "test-only-tls-pkcs1-key.pem",
        ),
    ] {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let (cert_path, key_path) = (fixtures.join(cert), fixtures.join(key));
        let app = spawn_app_with(|c| c.tls = Some((cert_path.clone(), key_path.clone()))).await;
        let base = format!(
            "https://localhost:{}",
            app.address.rsplit(':').next().unwrap()
        );
        let http = client(&helpers::fixture(cert), b"http/1.1");
        token_over(&http, &base).await;
    }
}

#[tokio::test]
async fn plain_http_and_garbage_on_the_tls_port_close_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path(), None);
    let app = spawn_app_with(|c| c.tls = Some((cert.cert.clone(), cert.key.clone()))).await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for payload in [
        &b"POST /oauth2/token HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"[..],
        &garbage[..],
    ] {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let _ = stream.write_all(payload).await;
        let mut buf = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the server must close the connection");
        assert!(
            !String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"),
            "no HTTP answer on a TLS port"
        );
    }
    let base = format!("https://localhost:{port}");
    token_over(&client(&cert.pem, b"http/1.1"), &base).await;
}

async fn build_error(cert: PathBuf, key: PathBuf) -> String {
    match try_spawn_app_with(|c| c.tls = Some((cert, key))).await {
        Ok(_) => panic!("the app must not start"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn a_missing_certificate_file_is_a_start_up_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path(), None);
    let missing = dir.path().join("nope.pem");
    let err = build_error(missing.clone(), cert.key).await;
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("server.tls.cert"), "{err}");
}

#[tokio::test]
async fn a_key_that_does_not_match_the_certificate_is_refused() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let a = make_cert(one.path(), None);
    let b = make_cert(two.path(), None);
    let err = build_error(a.cert, b.key.clone()).await;
    assert!(err.contains("does not match"), "{err}");
    assert!(err.contains(&b.key.display().to_string()), "{err}");
}

#[tokio::test]
async fn an_encrypted_or_unusable_key_is_refused_by_name() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let cert = fixtures.join("test-only-tls-sec1-cert.pem");
    let encrypted = fixtures.join("test-only-tls-encrypted-key.pem");
    let err = build_error(cert.clone(), encrypted.clone()).await;
    assert!(err.contains("encrypted"), "{err}");
    assert!(err.contains(&encrypted.display().to_string()), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a key").unwrap();
    let err = build_error(cert.clone(), junk.clone()).await;
    assert!(
        err.contains("server.tls.key") && err.contains("junk.pem"),
        "{err}"
    );
    let err = build_error(junk.clone(), fixtures.join("test-only-tls-sec1-key.pem")).await;
    assert!(
        err.contains("server.tls.cert") && err.contains("junk.pem"),
        "{err}"
    );
}

#[test]
fn an_expired_or_expiring_certificate_is_a_check_config_warning_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path(), Some((2001, 1, 1)));
    let keys = dir.path().join("keys");
    helpers::write_keys(&keys, &["ES256"]);
    let config = dir.path().join("tm.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"https://localhost\"\n[server.tls]\ncert = {:?}\nkey = {:?}\n[keys]\ndir = {:?}\n[tokens]\naudience = [\"a\"]\n",
            cert.cert, cert.key, keys
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"))
        .args(["check-config", "--config"])
        .arg(&config)
        .env_remove("TOKENMINT_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("expired"), "{stderr}");
}

/// A request body that never comes.
struct NeverEnding;

impl futures_core::Stream for NeverEnding {
    type Item = Result<Vec<u8>, std::io::Error>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn one_http2_connection_gets_100_requests_in_flight_and_503_past_them() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path(), None);
    let app = spawn_app_with(|c| {
        c.tls = Some((cert.cert.clone(), cert.key.clone()));
        c.server = "request_timeout = 3".into();
    })
    .await;
    let base = format!(
        "https://localhost:{}",
        app.address.rsplit(':').next().unwrap()
    );
    let http = client(&cert.pem, b"h2");
    // The connection exists before the flood, so all of it shares it.
    token_over(&http, &base).await;

    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..150 {
        let request = http
            .post(format!("{base}/oauth2/token"))
            .basic_auth("svc", Some("svc-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(reqwest::Body::wrap_stream(NeverEnding));
        flood.spawn(async move {
            let res = request.send().await.unwrap();
            let retry_after = res.headers().get("retry-after").cloned();
            let status = res.status().as_u16();
            let body = res.bytes().await.unwrap_or_default();
            (status, retry_after, body)
        });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(answer) = flood.join_next().await {
        let (status, retry_after, body) = answer.unwrap();
        if status == 503 {
            // Over HTTP/2 a refusal is its HEADERS frame alone.
            assert!(body.is_empty(), "{body:?}");
            assert_eq!(retry_after.unwrap(), "1");
        }
        *statuses.entry(status).or_insert(0) += 1;
    }

    // 100 waited for their bodies until request_timeout; the rest were
    // refused without waiting.
    assert_eq!(statuses, [(408, 100), (503, 50)].into());
    token_over(&client(&cert.pem, b"h2"), &base).await;
}

#[tokio::test]
async fn an_http2_peer_that_grants_no_window_holds_at_most_100_streams() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path(), None);
    // One worker whose share is 100 requests being handled: as many as the
    // peer's stuck answers, which must not count against it.
    let app = spawn_app_with(|c| {
        c.tls = Some((cert.cert.clone(), cert.key.clone()));
        c.server = "max_connections = 100".into();
    })
    .await;
    let port = app.address.rsplit(':').next().unwrap().to_string();
    let mut tls = helpers::tls_config(Some(cert.pem.as_bytes()));
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    // A stream window of 0: the server may send headers but no body.
    let (mut peer, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, actix_web::web::Bytes>(stream)
        .await
        .unwrap();
    tokio::spawn(connection);

    let mut pending = Vec::new();
    for _ in 0..300 {
        peer = peer.ready().await.unwrap();
        let request = http::Request::get(format!("https://localhost:{port}/jwks"))
            .body(())
            .unwrap();
        pending.push(peer.send_request(request, true).unwrap().0);
    }
    let mut statuses = std::collections::BTreeMap::new();
    // Kept, so that the peer does not cancel the streams it cannot read.
    let mut open = Vec::new();
    for response in pending {
        let response = tokio::time::timeout(Duration::from_secs(10), response)
            .await
            .expect("every stream gets its response head")
            .unwrap();
        let status = response.status().as_u16();
        if status == 503 {
            assert!(response.body().is_end_stream(), "a refusal has no body");
            assert_eq!(response.headers()["retry-after"], "1");
        }
        *statuses.entry(status).or_insert(0) += 1;
        open.push(response);
    }

    // 100 answers wait for a window that never comes and keep their
    // connection's places; the rest are refused and their streams end. The
    // worker, its handlers done, still serves others.
    assert_eq!(statuses, [(200, 100), (503, 200)].into());
    token_over(&client(&cert.pem, b"h2"), &base_of(&port)).await;
    token_over(&client(&cert.pem, b"http/1.1"), &base_of(&port)).await;
    drop(open);
}

fn base_of(port: &str) -> String {
    format!("https://localhost:{port}")
}

/// Opens a raw HTTP/2 connection to `port` (ALPN h2, trusting `ca_pem`).
async fn raw_h2(port: &str, ca_pem: &str) -> h2::client::SendRequest<actix_web::web::Bytes> {
    let mut tls = helpers::tls_config(Some(ca_pem.as_bytes()));
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (peer, connection) = h2::client::handshake(stream).await.unwrap();
    tokio::spawn(connection);
    peer
}

#[tokio::test]
async fn an_early_answer_over_http2_ends_its_stream_cleanly_while_the_body_comes() {
    // curl 7.88 sends the head, then the body: an answer given without
    // reading it (an unknown path, a wrong method) must not end the stream
    // with an error, or the client shows "(92) Stream error in the HTTP/2
    // framing layer" instead of the 404 or 405.
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path(), None);
    let app = spawn_app_with(|c| c.tls = Some((cert.cert.clone(), cert.key.clone()))).await;
    let port = app.address.rsplit(':').next().unwrap().to_string();
    for (method, path, status) in [
        ("POST", "/nope", 404),
        ("PUT", "/oauth2/token", 405),
        ("POST", "/jwks", 405),
    ] {
        let mut peer = raw_h2(&port, &cert.pem).await.ready().await.unwrap();
        let request = http::Request::builder()
            .method(method)
            .uri(format!("https://localhost:{port}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(())
            .unwrap();
        let (response, mut body) = peer.send_request(request, false).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        body.send_data(vec![b'a'; 3000].into(), true)
            .unwrap_or_else(|e| panic!("{method} {path}: the stream ended before its body: {e}"));
        let response = tokio::time::timeout(Duration::from_secs(5), response)
            .await
            .expect("an answer")
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let reset = tokio::time::timeout(
            Duration::from_millis(300),
            std::future::poll_fn(|cx| body.poll_reset(cx)),
        )
        .await;
        if let Ok(Ok(reason)) = reset {
            assert_eq!(reason, h2::Reason::NO_ERROR, "{method} {path}");
        }
    }
}
