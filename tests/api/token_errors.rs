//! The token endpoint's refusals (docs/http-api.md error table, RFC 6749 §5.2):
//! exact status, `error` code and headers for each row, then robustness —
//! hostile bodies and headers never make the server fail, and it keeps
//! issuing tokens afterwards. Some requests cannot be built with reqwest
//! (NUL bytes in headers, lying `Content-Length`, chunked bodies), so they
//! are written to a raw TCP socket.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{basic, spawn_app, spawn_app_with, TestApp};

const FORM: &str = "application/x-www-form-urlencoded";
const CHALLENGE: &str = "Basic realm=\"tokenmint\"";

/// Throttle limits no test here reaches, for tests that fail on purpose.
const NO_THROTTLE: &str =
    "[throttle]\nfailures_per_client = 100000\nfailures_per_address = 100000\n";

/// Asserts an OAuth error response (RFC 6749 §5.2): `status`, JSON with
/// `error` = `code` and an `error_description`, and the security headers of
/// every public response. Returns the headers and the raw body.
pub(crate) async fn expect_error(
    res: reqwest::Response,
    status: u16,
    code: &str,
) -> (HeaderMap, String) {
    let got = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "status; body {text}");
    let media = headers
        .get("content-type")
        .unwrap_or_else(|| panic!("no Content-Type on {text}"))
        .to_str()
        .unwrap();
    assert_eq!(
        media.split(';').next().unwrap().trim(),
        "application/json",
        "error bodies are JSON: {text}"
    );
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(body["error"], code, "{text}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(!description.is_empty(), "an error_description: {text}");
    // RFC 6749 5.2: %x20-21 / %x23-5B / %x5D-7E; docs/http-api.md: at most 200.
    assert!(
        description
            .bytes()
            .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e)),
        "error_description outside the RFC 6749 5.2 characters: {text}"
    );
    assert!(
        description.len() <= 200,
        "error_description too long: {text}"
    );
    assert_security_headers(&headers);
    (headers, text)
}

fn assert_security_headers(headers: &HeaderMap) {
    assert_eq!(
        headers
            .get("x-content-type-options")
            .map(|v| v.to_str().unwrap()),
        Some("nosniff")
    );
    assert_eq!(
        headers.get("x-frame-options").map(|v| v.to_str().unwrap()),
        Some("DENY")
    );
}

fn www_authenticate(headers: &HeaderMap) -> Option<&str> {
    headers.get("www-authenticate").map(|v| v.to_str().unwrap())
}

async fn post_with(app: &TestApp, headers: &[(&str, &str)], body: &str) -> reqwest::Response {
    let mut req = app.http.post(app.url("/oauth2/token"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(body.to_string()).send().await.unwrap()
}

/// Sends `request` as it is to the public listener and returns the status
/// of the response, `None` when the server closed without answering.
async fn raw_status(app: &TestApp, request: &[u8]) -> Option<u16> {
    raw_status_in_pieces(app, &[request]).await
}

/// [`raw_status`] for a request written in `pieces`, 50 ms apart, so that
/// the server reads them separately.
async fn raw_status_in_pieces(app: &TestApp, pieces: &[&[u8]]) -> Option<u16> {
    let addr = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The server may answer and close before reading everything we send.
        let _ = stream.write_all(piece).await;
        let _ = stream.flush().await;
    }
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the server answers or closes within 10 s");
    let text = String::from_utf8_lossy(&buf);
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    Some(status.parse().unwrap())
}

/// A raw HTTP/1.1 token request with `extra` header lines and `body`.
fn raw_request(extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: {}\r\n{extra_headers}",
        basic("svc", "svc-secret")
    )
    .into_bytes();
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

// ---- 400 invalid_request ----

#[tokio::test]
async fn a_missing_grant_type_is_invalid_request() {
    let app = spawn_app().await;

    for body in ["", "scope=admin", "grant_type="] {
        let res = app.post_token("svc", "svc-secret", body).await;

        expect_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn a_malformed_request_is_refused_before_its_credentials_are_checked() {
    let app = spawn_app().await;

    // Wrong secret and no grant_type: the syntax error is reported (400),
    // not the authentication failure, and no failure is counted for "svc".
    let res = app.post_token("svc", "wrong-secret", "scope=admin").await;
    expect_error(res, 400, "invalid_request").await;
    let res = app
        .post_token(
            "svc",
            "wrong-secret",
            "grant_type=client_credentials&scope=a&scope=b",
        )
        .await;
    expect_error(res, 400, "invalid_request").await;
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    // The series exists from the start, at 0: it must still be 0.
    assert!(
        metrics.contains("tokenmint_auth_failures_total{reason=\"wrong_secret\"} 0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_repeated_parameter_is_invalid_request_rfc6749_3_2() {
    let app = spawn_app().await;

    for body in [
        "grant_type=client_credentials&grant_type=client_credentials",
        "grant_type=client_credentials&scope=admin&scope=admin",
        "grant_type=client_credentials&scope=admin&scope=",
        "grant_type=client_credentials&validity_period=60&validity_period=60",
        "grant_type=client_credentials&audience=https://api.example.com&audience=https://api.example.com",
        "grant_type=client_credentials&client_id=svc&client_id=svc",
    ] {
        let res = app.post_token("svc", "svc-secret", body).await;

        expect_error(res, 400, "invalid_request").await;
    }
    let res = app
        .post_form(
            "/oauth2/token",
            "grant_type=client_credentials&client_id=svc&client_secret=svc-secret&client_secret=svc-secret",
        )
        .await;
    expect_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn malformed_percent_encoding_in_the_body_is_invalid_request() {
    let app = spawn_app().await;

    for body in [
        "grant_type=client_credentials&scope=%zz",
        "grant_type=client_credentials&scope=admin%",
        "grant_type=client_credentials&scope=%4",
        "grant_type=client_credentials&scope=%C3",
        "grant_type=client_credentials&sc%ope=admin",
    ] {
        let res = app.post_token("svc", "svc-secret", body).await;

        expect_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_invalid_request() {
    let app = spawn_app().await;

    let res = app
        .http
        .post(app.url("/oauth2/token"))
        .header("Authorization", basic("svc", "svc-secret"))
        .header("Content-Type", FORM)
        .body(b"grant_type=client_credentials&scope=\xff\xfe".to_vec())
        .send()
        .await
        .unwrap();

    expect_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_validity_period_that_is_not_a_positive_integer_is_invalid_request() {
    let app = spawn_app().await;

    for period in ["0", "-1", "abc", "1.5", "+60", "1e3", "%2060", "0x10"] {
        let body = format!("grant_type=client_credentials&validity_period={period}");
        let res = app.post_token("svc", "svc-secret", &body).await;

        expect_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn an_authorization_header_with_client_secret_in_the_body_is_invalid_request() {
    let app = spawn_app().await;

    for body in [
        "grant_type=client_credentials&client_secret=svc-secret",
        "grant_type=client_credentials&client_id=svc&client_secret=svc-secret",
    ] {
        let res = app.post_token("svc", "svc-secret", body).await;

        expect_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn basic_auth_with_a_different_client_id_in_the_body_is_invalid_request() {
    let app = spawn_app().await;

    let res = app
        .post_token(
            "svc",
            "svc-secret",
            "grant_type=client_credentials&client_id=reports",
        )
        .await;

    expect_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn two_authorization_headers_are_invalid_request() {
    let app = spawn_app().await;
    let svc = basic("svc", "svc-secret");

    for second in [svc.clone(), basic("reports", "reports-secret")] {
        let res = post_with(
            &app,
            &[
                ("Content-Type", FORM),
                ("Authorization", &svc),
                ("Authorization", &second),
            ],
            "grant_type=client_credentials",
        )
        .await;

        expect_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn malformed_basic_credentials_are_invalid_request() {
    let app = spawn_app().await;
    let good = STANDARD.encode("svc:svc-secret");
    let no_colon = format!("Basic {}", STANDARD.encode("svc-without-colon"));
    let not_utf8 = format!("Basic {}", STANDARD.encode(b"svc:\xff\xfe"));
    let tab = format!("Basic\t{good}");
    let glued = format!("Basic{good}");
    let two_words = format!("Basic {good} {good}");

    // docs/http-api.md: an empty value, Basic without credentials, anything but
    // spaces between scheme and credentials, or credentials that are not
    // base64 of id:secret.
    for value in [
        "",
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic c3Zj*c2VjcmV0",
        &no_colon,
        &not_utf8,
        &tab,
        &glued,
        &two_words,
    ] {
        let res = post_with(
            &app,
            &[("Content-Type", FORM), ("Authorization", value)],
            "grant_type=client_credentials",
        )
        .await;

        expect_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn another_authentication_scheme_is_invalid_client_with_the_basic_challenge() {
    let app = spawn_app().await;

    for value in [
        "Bearer abc.def.ghi",
        "Negotiate",
        "Digest realm=\"x\", qop=\"auth\"",
    ] {
        let res = post_with(
            &app,
            &[("Content-Type", FORM), ("Authorization", value)],
            "grant_type=client_credentials",
        )
        .await;

        let (headers, _) = expect_error(res, 401, "invalid_client").await;
        assert_eq!(www_authenticate(&headers), Some(CHALLENGE), "{value}");
    }
}

#[tokio::test]
async fn error_descriptions_never_repeat_request_input_rfc6749_5_2() {
    let app = spawn_app().await;
    let many_scopes: Vec<String> = (0..600).map(|i| format!("unknown{i}")).collect();
    let cases = [
        // an audience with a quote, a newline, a backslash and non-ASCII
        (
            "grant_type=client_credentials&audience=x%22%0A%5C%C3%A9y",
            "invalid_target",
        ),
        (
            "grant_type=client_credentials&resource=https%3A%2F%2Fevil.example",
            "invalid_target",
        ),
        (
            "grant_type=client_credentials&scope=ad%22min",
            "invalid_scope",
        ),
        ("grant_type=client_credentials&scope=nope", "invalid_scope"),
        (
            &*format!(
                "grant_type=client_credentials&scope={}",
                many_scopes.join("+")
            ),
            "invalid_scope",
        ),
        ("grant_type=password", "unsupported_grant_type"),
    ];
    for (body, code) in cases {
        let res = app.post_token("svc", "svc-secret", body).await;
        let (_, text) = expect_error(res, 400, code).await;
        let description: Value = serde_json::from_str(&text).unwrap();
        let description = description["error_description"].as_str().unwrap();
        for echoed in ["evil", "nope", "unknown1", "password", "ad\"min"] {
            assert!(
                !description.contains(echoed),
                "{description} repeats {echoed}"
            );
        }
    }
}

#[tokio::test]
async fn a_json_body_is_invalid_request_not_415() {
    let app = spawn_app().await;

    let res = post_with(
        &app,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &basic("svc", "svc-secret")),
        ],
        r#"{"grant_type":"client_credentials"}"#,
    )
    .await;

    expect_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_body_without_content_type_is_invalid_request_not_415() {
    let app = spawn_app().await;

    let res = post_with(
        &app,
        &[("Authorization", &basic("svc", "svc-secret"))],
        "grant_type=client_credentials",
    )
    .await;

    expect_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_form_content_type_with_a_charset_parameter_is_accepted() {
    let app = spawn_app().await;

    let res = post_with(
        &app,
        &[
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            ),
            ("Authorization", &basic("svc", "svc-secret")),
        ],
        "grant_type=client_credentials",
    )
    .await;

    assert_eq!(res.status(), 200);
}

// ---- 401 invalid_client ----

#[tokio::test]
async fn an_unknown_client_with_basic_is_invalid_client_with_a_basic_challenge() {
    let app = spawn_app().await;

    let res = app
        .post_token("nobody", "svc-secret", "grant_type=client_credentials")
        .await;

    let (headers, _) = expect_error(res, 401, "invalid_client").await;
    assert_eq!(www_authenticate(&headers), Some(CHALLENGE));
}

#[tokio::test]
async fn a_wrong_secret_with_basic_is_invalid_client_with_a_basic_challenge() {
    let app = spawn_app().await;

    let res = app
        .post_token("svc", "reports-secret", "grant_type=client_credentials")
        .await;

    let (headers, _) = expect_error(res, 401, "invalid_client").await;
    assert_eq!(www_authenticate(&headers), Some(CHALLENGE));
}

#[tokio::test]
async fn a_request_without_credentials_is_invalid_client_with_a_basic_challenge() {
    let app = spawn_app().await;

    let res = app
        .post_form("/oauth2/token", "grant_type=client_credentials")
        .await;

    let (headers, _) = expect_error(res, 401, "invalid_client").await;
    assert_eq!(www_authenticate(&headers), Some(CHALLENGE));
}

#[tokio::test]
async fn a_client_id_without_a_secret_is_invalid_client() {
    let app = spawn_app().await;

    let res = app
        .post_form(
            "/oauth2/token",
            "grant_type=client_credentials&client_id=svc",
        )
        .await;

    expect_error(res, 401, "invalid_client").await;
}

#[tokio::test]
async fn a_wrong_secret_with_client_secret_post_is_invalid_client_without_a_challenge() {
    let app = spawn_app().await;

    for body in [
        "grant_type=client_credentials&client_id=svc&client_secret=wrong",
        "grant_type=client_credentials&client_id=nobody&client_secret=svc-secret",
    ] {
        let res = app.post_form("/oauth2/token", body).await;

        let (headers, _) = expect_error(res, 401, "invalid_client").await;
        assert_eq!(
            www_authenticate(&headers),
            None,
            "no Basic challenge when Basic was not used"
        );
    }
}

#[tokio::test]
async fn a_post_only_client_using_basic_is_invalid_client() {
    let app = spawn_app().await;

    let res = app
        .post_token("post-only", "post-secret", "grant_type=client_credentials")
        .await;

    let (headers, _) = expect_error(res, 401, "invalid_client").await;
    assert_eq!(www_authenticate(&headers), Some(CHALLENGE));
}

#[tokio::test]
async fn error_responses_never_contain_the_presented_secret() {
    let app = spawn_app_with(|cfg| cfg.extra.push_str(NO_THROTTLE)).await;
    let secret = "Hunter2-ZXQ-very-secret";
    let encoded = STANDARD.encode(secret);
    let wrong_basic = basic("svc", secret);
    let unknown_basic = basic("nobody", secret);
    let post = format!("grant_type=client_credentials&client_id=svc&client_secret={secret}");
    let cases: Vec<(Vec<(&str, &str)>, String)> = vec![
        (
            vec![("Authorization", &wrong_basic)],
            "grant_type=client_credentials".into(),
        ),
        (
            vec![("Authorization", &unknown_basic)],
            "grant_type=client_credentials".into(),
        ),
        (vec![], post.clone()),
        (vec![], format!("{post}&client_secret={secret}")),
        (vec![("Authorization", &wrong_basic)], post.clone()),
        (vec![], format!("{post}&scope=%zz")),
        (
            vec![],
            format!("grant_type=client_credentials&client_secret={secret}"),
        ),
        (
            vec![
                ("Authorization", &wrong_basic),
                ("Authorization", &wrong_basic),
            ],
            "grant_type=client_credentials".into(),
        ),
    ];

    for (headers, body) in cases {
        let mut all = headers.clone();
        all.push(("Content-Type", FORM));
        let res = post_with(&app, &all, &body).await;
        let status = res.status();
        let response_headers = format!("{:?}", res.headers());
        let text = res.text().await.unwrap();

        assert!(status.is_client_error(), "{status} for {body}");
        for leak in [secret, encoded.as_str()] {
            assert!(!text.contains(leak), "the body echoes the secret: {text}");
            assert!(
                !response_headers.contains(leak),
                "a header echoes the secret: {response_headers}"
            );
        }
    }
}

// ---- 400 unauthorized_client, unsupported_grant_type ----

#[tokio::test]
async fn a_client_without_the_client_credentials_grant_is_unauthorized_client() {
    let app = spawn_app().await;

    let res = app
        .post_token(
            "introspector",
            "introspector-secret",
            "grant_type=client_credentials",
        )
        .await;

    expect_error(res, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn an_unknown_grant_type_is_unsupported_grant_type() {
    let app = spawn_app().await;

    for grant in [
        "password",
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "CLIENT_CREDENTIALS",
    ] {
        let body = format!("grant_type={grant}&username=u&password=p");
        let res = app.post_token("svc", "svc-secret", &body).await;

        expect_error(res, 400, "unsupported_grant_type").await;
    }
}

#[tokio::test]
async fn a_disabled_grant_is_unsupported_grant_type() {
    let app = spawn_app_with(|cfg| cfg.enable = false).await;

    let res = app
        .post_token("svc", "svc-secret", "grant_type=client_credentials")
        .await;

    expect_error(res, 400, "unsupported_grant_type").await;
}

// ---- 400 invalid_scope, invalid_target ----

#[tokio::test]
async fn a_scope_outside_the_client_allowance_is_invalid_scope() {
    let app = spawn_app().await;

    let res = app
        .post_token(
            "reports",
            "reports-secret",
            "grant_type=client_credentials&scope=reports:read+reports:write",
        )
        .await;

    expect_error(res, 400, "invalid_scope").await;
}

#[tokio::test]
async fn a_malformed_scope_is_invalid_scope_rfc6749_3_3() {
    // Under both policies: a malformed value is never intersected away.
    for policy in ["reject", "intersect"] {
        let app = spawn_app_with(|cfg| cfg.scope_policy = policy).await;

        for scope in [
            "admin%20%20reports:read",
            "%20admin",
            "admin%20",
            "admin%09reports:read",
            "ad%22min",
            "ad%5Cmin",
            "%C3%A9",
            "admin%0Areports:read",
        ] {
            let body = format!("grant_type=client_credentials&scope={scope}");
            let res = app.post_token("svc", "svc-secret", &body).await;

            expect_error(res, 400, "invalid_scope").await;
        }
    }
}

#[tokio::test]
async fn an_audience_outside_the_client_allowance_is_invalid_target() {
    let app = spawn_app().await;

    for body in [
        "grant_type=client_credentials&audience=https://evil.example.com",
        "grant_type=client_credentials&resource=https://reports.example.com&resource=https://evil.example.com",
        "grant_type=client_credentials&audience=https://reports.example.com/",
    ] {
        let res = app.post_token("reports", "reports-secret", body).await;

        expect_error(res, 400, "invalid_target").await;
    }
}

// ---- 429 temporarily_unavailable ----

/// Asserts a 429 `temporarily_unavailable` with `Retry-After` in seconds.
async fn expect_throttled(res: reqwest::Response) {
    let (headers, _) = expect_error(res, 429, "temporarily_unavailable").await;
    let retry_after = headers
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap();
    let seconds: u64 = retry_after
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After {retry_after:?} is not delay-seconds"));
    assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
}

#[tokio::test]
async fn too_many_failed_authentications_for_a_client_id_are_throttled() {
    let app = spawn_app_with(|cfg| {
        cfg.extra
            .push_str("[throttle]\nfailures_per_client = 3\nfailures_per_address = 1000\n");
    })
    .await;

    for _ in 0..3 {
        let res = app
            .post_token("svc", "wrong", "grant_type=client_credentials")
            .await;
        expect_error(res, 401, "invalid_client").await;
    }
    let res = app
        .post_token("svc", "wrong", "grant_type=client_credentials")
        .await;
    expect_throttled(res).await;

    // Another client id from the same address is not affected.
    app.token("reports", "reports-secret", "").await;
}

#[tokio::test]
async fn too_many_failed_authentications_from_an_address_are_throttled() {
    let app = spawn_app_with(|cfg| {
        cfg.extra
            .push_str("[throttle]\nfailures_per_client = 1000\nfailures_per_address = 3\n");
    })
    .await;

    for i in 0..3 {
        let res = app
            .post_token(&format!("guess-{i}"), "x", "grant_type=client_credentials")
            .await;
        expect_error(res, 401, "invalid_client").await;
    }
    let res = app
        .post_token("guess-3", "x", "grant_type=client_credentials")
        .await;
    expect_throttled(res).await;
}

// ---- HTTP-level refusals: 405, 413 ----

#[tokio::test]
async fn other_methods_on_the_token_endpoint_are_405_with_allow_post() {
    let app = spawn_app().await;

    for path in ["/oauth2/token", "/token"] {
        for method in [
            reqwest::Method::GET,
            reqwest::Method::PUT,
            reqwest::Method::DELETE,
        ] {
            let res = app
                .http
                .request(method.clone(), app.url(path))
                .send()
                .await
                .unwrap();

            assert_eq!(res.status(), 405, "{method} {path}");
            assert_eq!(
                res.headers().get("allow").map(|v| v.to_str().unwrap()),
                Some("POST"),
                "{method} {path}"
            );
            assert_security_headers(res.headers());
        }
    }
}

#[tokio::test]
async fn a_body_over_8_kib_is_413() {
    let app = spawn_app().await;
    let body = format!(
        "grant_type=client_credentials&scope={}",
        "a".repeat(8 * 1024)
    );

    let res = app.post_token("svc", "svc-secret", &body).await;

    assert_eq!(res.status(), 413);
    assert_security_headers(res.headers());
}

#[tokio::test]
async fn a_body_of_exactly_8_kib_is_read() {
    let app = spawn_app().await;
    let prefix = "grant_type=client_credentials&validity_period=60&x=";
    let body = format!("{prefix}{}", "a".repeat(8 * 1024 - prefix.len()));
    assert_eq!(body.len(), 8 * 1024);

    let res = app.post_token("svc", "svc-secret", &body).await;

    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_content_length_over_8_kib_is_413_before_the_body_is_sent() {
    let app = spawn_app().await;

    // Headers only: the server must not wait for the 100000 bytes.
    let request = raw_request(
        &format!("Content-Type: {FORM}\r\nContent-Length: 100000\r\n"),
        b"",
    );

    assert_eq!(raw_status(&app, &request).await, Some(413));
}

#[tokio::test]
async fn a_chunked_body_over_8_kib_is_413() {
    let app = spawn_app().await;
    let chunk = format!("grant_type=client_credentials&x={}", "a".repeat(9000));
    let body = format!("{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len());

    let request = raw_request(
        &format!("Content-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n"),
        body.as_bytes(),
    );

    assert_eq!(raw_status(&app, &request).await, Some(413));
}

#[tokio::test]
async fn a_body_that_arrives_in_pieces_is_read_whole() {
    let app = spawn_app().await;
    let body = b"grant_type=client_credentials&scope=admin";
    let (first, rest) = body.split_at(11);
    let (second, third) = rest.split_at(10);
    let head = raw_request(
        &format!("Content-Type: {FORM}\r\nContent-Length: {}\r\n", body.len()),
        b"",
    );

    let status = raw_status_in_pieces(&app, &[&head, first, second, third]).await;

    assert_eq!(status, Some(200));
}

#[tokio::test]
async fn a_chunked_body_in_pieces_is_read_whole_and_capped_at_8_kib() {
    let app = spawn_app().await;
    let head = raw_request(
        &format!("Content-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n"),
        b"",
    );
    let good = [
        b"b\r\ngrant_type=\r\n".as_slice(),
        b"12\r\nclient_credentials\r\n",
        b"0\r\n\r\n",
    ];
    let mut pieces = vec![head.as_slice()];
    pieces.extend(good);
    assert_eq!(raw_status_in_pieces(&app, &pieces).await, Some(200));

    // Three chunks of 3 000 bytes: each is small, together they pass 8 KiB.
    let filler = format!("bb8\r\n{}\r\n", "a".repeat(3000));
    let start = "20\r\ngrant_type=client_credentials&x=\r\n";
    let mut pieces = vec![head.as_slice(), start.as_bytes()];
    pieces.extend([filler.as_bytes(); 3]);
    pieces.push(b"0\r\n\r\n");
    assert_eq!(raw_status_in_pieces(&app, &pieces).await, Some(413));
}

// ---- robustness ----

/// A deterministic byte soup (xorshift), so failures are reproducible.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

#[tokio::test]
async fn hostile_bodies_and_headers_never_cause_a_server_error() {
    let app = spawn_app_with(|cfg| cfg.extra.push_str(NO_THROTTLE)).await;
    let cl = |body: &[u8]| format!("Content-Type: {FORM}\r\nContent-Length: {}\r\n", body.len());
    let mut raw: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut push_body = |name: &'static str, body: Vec<u8>| {
        let request = raw_request(&cl(&body), &body);
        raw.push((name, request));
    };
    push_body("random bytes", noise(4000, 0x9E37_79B9_7F4A_7C15));
    push_body("more random bytes", noise(8192, 42));
    push_body("NUL bytes", vec![0u8; 512]);
    push_body(
        "NUL in a value",
        b"grant_type=client_credentials\0&scope=admin\0".to_vec(),
    );
    push_body(
        "% at the end",
        b"grant_type=client_credentials&scope=%".to_vec(),
    );
    push_body("only %", b"%".to_vec());
    push_body("empty pairs", b"=&=&&&==&".to_vec());
    push_body("name without value", b"grant_type".to_vec());
    push_body(
        "raw unicode",
        "grant_type=client_credentials&scope=日本語😀é"
            .as_bytes()
            .to_vec(),
    );
    push_body(
        "invalid UTF-8",
        b"grant_type=client_credentials&scope=\xc3\x28\xff".to_vec(),
    );
    push_body(
        "%00 values",
        b"grant_type=client_credentials&resource=%00&audience=%00".to_vec(),
    );
    push_body(
        "%00 client",
        b"grant_type=client_credentials&client_id=%00&client_secret=%00".to_vec(),
    );
    push_body(
        "very long scope",
        format!("grant_type=client_credentials&scope={}", "s".repeat(8000)).into_bytes(),
    );
    push_body(
        "many scopes",
        format!("grant_type=client_credentials&scope={}", "ab+".repeat(2600)).into_bytes(),
    );
    push_body("many parameters", "x=1&".repeat(2000).into_bytes());
    push_body(
        "huge validity",
        b"grant_type=client_credentials&validity_period=999999999999999999999999999999999".to_vec(),
    );
    push_body(
        "repeated grant_type",
        "grant_type=client_credentials&".repeat(250).into_bytes(),
    );

    let basic_raw = |bytes: &[u8]| format!("Basic {}", STANDARD.encode(bytes));
    let ok_body = b"grant_type=client_credentials";
    // (name, header lines, whether to add our own Content-Type/Length)
    let header_cases: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "huge Authorization",
            format!("Authorization: Basic {}\r\n", "A".repeat(20_000)).into_bytes(),
            true,
        ),
        (
            "huge unknown header",
            format!("X-Junk: {}\r\n", "j".repeat(60_000)).into_bytes(),
            true,
        ),
        ("NUL in a header value", b"X-Junk: a\0b\r\n".to_vec(), true),
        (
            "obs-text in Authorization",
            b"Authorization: Basic \xe9\xe9\xe9\r\n".to_vec(),
            true,
        ),
        ("empty Basic", b"Authorization: Basic\r\n".to_vec(), true),
        (
            "Basic of a colon",
            format!("Authorization: {}\r\n", basic_raw(b":")).into_bytes(),
            true,
        ),
        (
            "Basic of NULs",
            format!("Authorization: {}\r\n", basic_raw(b"\0:\0")).into_bytes(),
            true,
        ),
        (
            "Basic of noise",
            format!("Authorization: {}\r\n", basic_raw(&noise(300, 7))).into_bytes(),
            true,
        ),
        (
            "Basic with a huge secret",
            format!(
                "Authorization: {}\r\n",
                basic_raw(format!("svc:{}", "x".repeat(6000)).as_bytes())
            )
            .into_bytes(),
            true,
        ),
        (
            "Bearer scheme",
            b"Authorization: Bearer abc.def.ghi\r\n".to_vec(),
            true,
        ),
        (
            "unicode header name",
            "X-Ünïcode: 1\r\n".as_bytes().to_vec(),
            true,
        ),
        (
            "unicode Content-Type",
            "Content-Type: application/x-www-form-urlencoded; charset=☃\r\nContent-Length: 29\r\n"
                .as_bytes()
                .to_vec(),
            false,
        ),
        (
            "negative Content-Length",
            format!("Content-Type: {FORM}\r\nContent-Length: -1\r\n").into_bytes(),
            false,
        ),
        (
            "overflowing Content-Length",
            format!("Content-Type: {FORM}\r\nContent-Length: 99999999999999999999999999\r\n")
                .into_bytes(),
            false,
        ),
        (
            "two Content-Lengths",
            format!("Content-Type: {FORM}\r\nContent-Length: 29\r\nContent-Length: 5\r\n")
                .into_bytes(),
            false,
        ),
    ];
    for (name, header, add_framing) in header_cases {
        let mut request =
            b"POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".to_vec();
        request.extend_from_slice(&header);
        if add_framing {
            request.extend_from_slice(cl(ok_body).as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(ok_body);
        raw.push((name, request));
    }
    raw.push((
        "malformed chunk sizes",
        raw_request(
            &format!("Content-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n"),
            b"zz\r\ngrant_type\r\n-5\r\n\r\n",
        ),
    ));
    raw.push((
        "request line garbage",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(),
    ));

    assert!(raw.len() >= 30, "{} cases", raw.len());
    for (name, request) in &raw {
        let status = raw_status(&app, request).await;

        assert!(
            status.is_some_and(|s| s < 500),
            "{name}: the server answered {status:?} (None: closed without an answer)"
        );
    }

    app.token("svc", "svc-secret", "&scope=admin").await;
}

#[tokio::test]
async fn error_responses_are_oauth_json_with_security_headers() {
    let app = spawn_app().await;
    let cases: [(&str, &str, &str, u16, &str); 6] = [
        ("svc", "svc-secret", "scope=admin", 400, "invalid_request"),
        (
            "svc",
            "wrong",
            "grant_type=client_credentials",
            401,
            "invalid_client",
        ),
        (
            "introspector",
            "introspector-secret",
            "grant_type=client_credentials",
            400,
            "unauthorized_client",
        ),
        (
            "svc",
            "svc-secret",
            "grant_type=implicit",
            400,
            "unsupported_grant_type",
        ),
        (
            "svc",
            "svc-secret",
            "grant_type=client_credentials&scope=payroll",
            400,
            "invalid_scope",
        ),
        (
            "svc",
            "svc-secret",
            "grant_type=client_credentials&audience=https://x.test",
            400,
            "invalid_target",
        ),
    ];

    for (id, secret, body, status, code) in cases {
        let res = app.post_token(id, secret, body).await;

        // Checks Content-Type, error, error_description and the headers.
        expect_error(res, status, code).await;
    }
}
