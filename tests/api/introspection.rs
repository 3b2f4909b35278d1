//! `POST /oauth2/introspect` (RFC 7662, docs/http-api.md): any authenticated
//! client learns whether a token is a live token of this server, and gets
//! only `{"active": false}` for anything else — forged, tampered, expired,
//! from another server, or with its algorithm swapped.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp, AUDIENCE, ISSUER};
use crate::token_errors::expect_error;

async fn fresh_token(app: &TestApp, extra: &str) -> String {
    app.token("svc", "svc-secret", extra).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Introspects `token` as `introspector` and returns the 200 body.
async fn introspection(app: &TestApp, token: &str) -> Value {
    let res = app
        .introspect("introspector", "introspector-secret", token)
        .await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

fn assert_inactive(body: &Value, what: &str) {
    assert_eq!(
        body,
        &json!({ "active": false }),
        "{what}: exactly {{\"active\": false}}, nothing about why"
    );
}

/// `token` with its header replaced by `header` and its signature by `sig`.
fn reheadered(token: &str, header: &Value, sig: &[u8]) -> String {
    let payload = token.split('.').nth(1).unwrap();
    format!(
        "{}.{payload}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

#[tokio::test]
async fn an_active_token_is_introspected_with_its_claims() {
    let app = spawn_app().await;
    let token = fresh_token(&app, "&scope=admin+reports:write").await;
    let claims = app.validate(&token, AUDIENCE).await;

    let body = introspection(&app, &token).await;

    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["iss"], ISSUER);
    assert_eq!(body["sub"], "svc");
    assert_eq!(body["client_id"], "svc");
    assert_eq!(body["scope"], "admin reports:write");
    assert_eq!(body["aud"], AUDIENCE);
    for claim in ["exp", "iat", "nbf", "jti"] {
        assert_eq!(body[claim], claims[claim], "{claim}");
    }
}

#[tokio::test]
async fn any_authenticated_client_may_introspect_another_client_token() {
    let app = spawn_app().await;
    let token = app.token("reports", "reports-secret", "").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let with_basic = app.introspect("svc", "svc-secret", &token).await;
    let with_post = app
        .http
        .post(app.url("/oauth2/introspect"))
        .form(&[
            ("token", token.as_str()),
            ("client_id", "post-only"),
            ("client_secret", "post-secret"),
        ])
        .send()
        .await
        .unwrap();

    for res in [with_basic, with_post] {
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["active"], true, "{body}");
        assert_eq!(body["client_id"], "reports");
        assert_eq!(body["tenant"], "acme");
    }
}

#[tokio::test]
async fn a_garbage_token_is_inactive() {
    let app = spawn_app().await;

    for garbage in [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJFUzI1NiJ9.e30.",
        "....",
        "é",
        &"x".repeat(4000),
    ] {
        let body = introspection(&app, garbage).await;

        assert_inactive(&body, garbage);
    }
}

#[tokio::test]
async fn a_token_with_one_signature_byte_changed_is_inactive() {
    let app = spawn_app().await;
    let token = fresh_token(&app, "").await;
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig[10] ^= 0x01;

    let tampered = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&sig));
    let body = introspection(&app, &tampered).await;

    assert_inactive(&body, "tampered signature");
    assert_eq!(introspection(&app, &token).await["active"], true);
}

#[tokio::test]
async fn a_token_with_a_changed_claim_is_inactive() {
    let app = spawn_app().await;
    let token = fresh_token(&app, "").await;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["scope"] = json!("admin");

    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let body = introspection(&app, &forged).await;

    assert_inactive(&body, "changed scope claim");
}

#[tokio::test]
async fn a_token_signed_by_a_key_this_server_does_not_publish_is_inactive() {
    let app = spawn_app().await;
    let other = spawn_app().await;
    let foreign = fresh_token(&other, "").await;
    assert_ne!(app.kids, other.kids, "the two servers have different keys");

    let body = introspection(&app, &foreign).await;

    assert_inactive(&body, "foreign key");
    assert_eq!(introspection(&other, &foreign).await["active"], true);
}

#[tokio::test]
async fn a_token_whose_kid_is_swapped_to_a_published_key_is_inactive() {
    // Same issuer, both keys published, but the signature is by the other key.
    let app = spawn_app_with(|cfg| cfg.algs = vec!["ES256", "ES256"]).await;
    let token = fresh_token(&app, "").await;
    let mut header = crate::helpers::segment(&token, 0);
    assert_eq!(header["kid"], app.kids[0].as_str());
    header["kid"] = json!(app.kids[1]);
    let sig = URL_SAFE_NO_PAD
        .decode(token.rsplit('.').next().unwrap())
        .unwrap();

    let swapped = reheadered(&token, &header, &sig);
    let body = introspection(&app, &swapped).await;

    assert_inactive(&body, "kid of another published key");
}

#[tokio::test]
async fn an_expired_token_is_inactive_without_leeway() {
    let app = spawn_app_with(|cfg| cfg.max_ttl = 1).await;
    let token = fresh_token(&app, "&validity_period=1").await;
    let claims = app.validate(&token, AUDIENCE).await;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1
    );

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let body = introspection(&app, &token).await;

    assert_inactive(&body, "expired");
}

#[tokio::test]
async fn a_token_re_signed_with_alg_none_or_hs256_is_inactive() {
    let app = spawn_app().await;
    let token = fresh_token(&app, "").await;
    let original = crate::helpers::segment(&token, 0);
    let jwks_body = app
        .http
        .get(app.url("/jwks"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    for alg in ["none", "None", "HS256"] {
        let mut header = original.clone();
        header["alg"] = json!(alg);
        let unsigned = reheadered(&token, &header, b"");
        let signing_input = unsigned.trim_end_matches('.');
        // The classic confusion: the public key material as an HMAC secret.
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &jwks_body),
            signing_input.as_bytes(),
        );
        let original_sig = URL_SAFE_NO_PAD
            .decode(token.rsplit('.').next().unwrap())
            .unwrap();

        for sig in [&b""[..], mac.as_ref(), &original_sig] {
            let forged = reheadered(&token, &header, sig);
            let body = introspection(&app, &forged).await;

            assert_inactive(&body, alg);
        }
    }
}

#[tokio::test]
async fn introspection_without_credentials_is_invalid_client() {
    let app = spawn_app().await;
    let token = fresh_token(&app, "").await;

    let res = app
        .http
        .post(app.url("/oauth2/introspect"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();

    let (headers, text) = expect_error(res, 401, "invalid_client").await;
    assert_eq!(
        headers.get("www-authenticate").map(|v| v.to_str().unwrap()),
        Some("Basic realm=\"tokenmint\"")
    );
    assert!(
        !text.contains("active"),
        "no answer about the token: {text}"
    );
}

#[tokio::test]
async fn introspection_with_a_wrong_secret_is_invalid_client() {
    let app = spawn_app().await;
    let token = fresh_token(&app, "").await;

    let res = app.introspect("introspector", "wrong", &token).await;

    expect_error(res, 401, "invalid_client").await;
}

#[tokio::test]
async fn introspection_without_a_token_parameter_is_invalid_request() {
    let app = spawn_app().await;

    for body in ["", "token=", "tok=abc"] {
        let res = app
            .http
            .post(app.url("/oauth2/introspect"))
            .header(
                "Authorization",
                crate::helpers::basic("introspector", "introspector-secret"),
            )
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();

        expect_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn introspection_answers_get_with_405() {
    let app = spawn_app().await;

    let res = app
        .http
        .get(app.url("/oauth2/introspect"))
        .send()
        .await
        .unwrap();

    assert_eq!(res.status(), 405);
    assert_eq!(
        res.headers().get("allow").map(|v| v.to_str().unwrap()),
        Some("POST")
    );
}

/// Re-signs `token` under `header` with this app's first key file, as a
/// holder of the key would; the key is read from the app's keys directory.
fn resigned(app: &TestApp, token: &str, header: &Value) -> String {
    let path = std::fs::read_dir(app.dir.path().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("0-"))
        .unwrap();
    let (key, _) = tokenmint::keys::load_file(&path).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let input = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(header.to_string()));
    let sig = key.signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[tokio::test]
async fn a_token_with_a_crit_header_is_inactive_rfc7515_4_1_11() {
    let app = spawn_app().await;
    let token = fresh_token(&app, "").await;
    let mut header = crate::helpers::segment(&token, 0);
    // The control: the same key re-signing the same header is active.
    let same = resigned(&app, &token, &header);
    assert_eq!(introspection(&app, &same).await["active"], true);

    header["crit"] = json!(["x-unknown"]);
    header["x-unknown"] = json!(1);
    let critical = resigned(&app, &token, &header);
    let body = introspection(&app, &critical).await;

    assert_inactive(
        &body,
        "crit names an extension tokenmint does not understand",
    );
}
