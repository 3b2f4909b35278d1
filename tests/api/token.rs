//! The token endpoint when the client does everything right (docs/http-api.md,
//! §3.2): the response, the token's header and claims, and every knob that
//! shapes them (auth method, scope, lifetime, audience, extra claims). Tokens
//! are checked the way a resource server checks them: from the served JWK
//! Set only. Refusals live in `token_errors`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::header::HeaderMap;
use serde_json::{json, Map, Value};

use crate::helpers::{basic, segment, spawn_app, spawn_app_with, TestApp, AUDIENCE, ISSUER};

/// One header's value as text; panics when it is missing.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .unwrap()
}

/// The media type of a `Content-Type`, without parameters.
fn media_type(headers: &HeaderMap) -> String {
    header(headers, "content-type")
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_ascii_lowercase()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn access_token(response: &Value) -> &str {
    response["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {response}"))
}

/// Requests a token for `svc`/`reports` and returns the response and the
/// claims as a resource server for `audience` sees them.
async fn token_and_claims(
    app: &TestApp,
    id: &str,
    secret: &str,
    extra: &str,
    audience: &str,
) -> (Value, Map<String, Value>) {
    let response = app.token(id, secret, extra).await;
    let claims = app.validate(access_token(&response), audience).await;
    (response, claims)
}

/// Asserts a 200 token response with the headers and the exact members
/// docs/http-api.md lists, and returns its body.
async fn assert_token_response(res: reqwest::Response) -> Value {
    let status = res.status();
    let headers = res.headers().clone();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(media_type(&headers), "application/json");
    assert_eq!(header(&headers, "cache-control"), "no-store");
    assert_eq!(header(&headers, "pragma"), "no-cache");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(&headers, "x-frame-options"), "DENY");
    let mut members: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    members.sort_unstable();
    assert_eq!(
        members,
        ["access_token", "expires_in", "scope", "token_type"],
        "exactly these members, and never a refresh_token: {body}"
    );
    assert_eq!(body["token_type"], "Bearer");
    body
}

#[tokio::test]
async fn basic_auth_gets_a_bearer_token_that_is_not_cached() {
    let app = spawn_app().await;

    let res = app
        .post_token("svc", "svc-secret", "grant_type=client_credentials")
        .await;

    let body = assert_token_response(res).await;
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "reports:read");
    let claims = app.validate(access_token(&body), AUDIENCE).await;
    assert_eq!(claims["sub"], "svc");
}

#[tokio::test]
async fn the_token_alias_answers_like_the_oauth2_token_path() {
    let app = spawn_app().await;

    let res = app
        .http
        .post(app.url("/token"))
        .header("Authorization", basic("svc", "svc-secret"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=admin")
        .send()
        .await
        .unwrap();

    let body = assert_token_response(res).await;
    assert_eq!(body["scope"], "admin");
    let claims = app.validate(access_token(&body), AUDIENCE).await;
    assert_eq!(claims["client_id"], "svc");
}

/// Mints two tokens with a key of `alg` and checks everything a resource
/// server relies on, using only the served JWK Set.
async fn assert_tokens_validate_from_the_served_jwks(alg: &'static str) {
    let app = spawn_app_with(|cfg| cfg.algs = vec![alg]).await;
    let before = now();

    let first = app
        .token("svc", "svc-secret", "&scope=reports:write+admin")
        .await;
    let second = app.token("svc", "svc-secret", "").await;

    let token = access_token(&first);
    let head = segment(token, 0);
    assert_eq!(head["alg"], alg);
    assert_eq!(
        head["kid"],
        app.kids[0].as_str(),
        "kid is the key's thumbprint"
    );
    assert_eq!(head["typ"], "at+jwt");

    let claims = app.validate(token, AUDIENCE).await;
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "svc");
    assert_eq!(claims["client_id"], "svc");
    assert_eq!(claims["aud"], AUDIENCE, "one audience is a string");
    let iat = claims["iat"].as_i64().unwrap();
    assert!((before..=now()).contains(&iat), "iat {iat} is now");
    assert_eq!(claims["nbf"], claims["iat"]);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - iat,
        first["expires_in"].as_i64().unwrap()
    );
    assert_eq!(claims["scope"], "reports:write admin");
    assert_eq!(claims["scope"], first["scope"]);

    let jti = claims["jti"].as_str().unwrap();
    let bits = URL_SAFE_NO_PAD
        .decode(jti)
        .unwrap_or_else(|e| panic!("jti {jti:?} is not base64url: {e}"));
    assert!(bits.len() >= 16, "jti {jti:?} carries fewer than 128 bits");
    let other = app.validate(access_token(&second), AUDIENCE).await;
    assert_ne!(other["jti"], claims["jti"], "each token has its own jti");
}

#[tokio::test]
async fn es256_tokens_validate_from_the_served_jwks() {
    assert_tokens_validate_from_the_served_jwks("ES256").await;
}

#[tokio::test]
async fn es384_tokens_validate_from_the_served_jwks() {
    assert_tokens_validate_from_the_served_jwks("ES384").await;
}

#[tokio::test]
async fn eddsa_tokens_validate_from_the_served_jwks() {
    assert_tokens_validate_from_the_served_jwks("EdDSA").await;
}

#[tokio::test]
async fn rs256_tokens_validate_from_the_served_jwks() {
    assert_tokens_validate_from_the_served_jwks("RS256").await;
}

#[tokio::test]
async fn ps256_tokens_validate_from_the_served_jwks() {
    assert_tokens_validate_from_the_served_jwks("PS256").await;
}

#[tokio::test]
async fn client_secret_post_credentials_in_the_body_get_a_token() {
    let app = spawn_app().await;

    let res = app
        .post_form(
            "/oauth2/token",
            "grant_type=client_credentials&client_id=svc&client_secret=svc-secret",
        )
        .await;

    let body = assert_token_response(res).await;
    let claims = app.validate(access_token(&body), AUDIENCE).await;
    assert_eq!(claims["sub"], "svc");
}

#[tokio::test]
async fn the_basic_scheme_name_is_case_insensitive_rfc7617() {
    let app = spawn_app().await;
    let credentials = basic("svc", "svc-secret").replacen("Basic", "bAsIc", 1);

    let res = app
        .http
        .post(app.url("/oauth2/token"))
        .header("Authorization", credentials)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();

    assert_token_response(res).await;
}

#[tokio::test]
async fn basic_auth_with_the_same_client_id_in_the_body_gets_a_token() {
    let app = spawn_app().await;

    let res = app
        .post_token(
            "svc",
            "svc-secret",
            "grant_type=client_credentials&client_id=svc",
        )
        .await;

    let body = assert_token_response(res).await;
    let claims = app.validate(access_token(&body), AUDIENCE).await;
    assert_eq!(claims["sub"], "svc");
}

#[tokio::test]
async fn a_post_only_client_gets_a_token_with_client_secret_post() {
    let app = spawn_app().await;

    let res = app
        .post_form(
            "/oauth2/token",
            "grant_type=client_credentials&client_id=post-only&client_secret=post-secret",
        )
        .await;

    let body = assert_token_response(res).await;
    assert_eq!(
        body["scope"], "",
        "scope is present even when nothing is granted"
    );
    let claims = app.validate(access_token(&body), AUDIENCE).await;
    assert_eq!(claims["sub"], "post-only");
}

/// Appends a client to the default ones; id and secret are TOML-escaped.
fn add_client(clients: &mut String, id: &str, secret: &str) {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    clients.push_str(&format!(
        "\n[[clients]]\nid = {}\nsecret = {}\nscopes = [\"x\"]\ndefault_scopes = [\"x\"]\n",
        q(id),
        q(secret)
    ));
}

#[tokio::test]
async fn basic_credentials_form_urlencoded_before_base64_are_decoded_rfc6749_2_3_1() {
    let app = spawn_app_with(|cfg| add_client(&mut cfg.clients, "a:b%c+d é", "p:w%+ ö")).await;

    // RFC 6749 §2.3.1: id and secret are application/x-www-form-urlencoded,
    // then joined with ':' and base64-encoded.
    let res = app
        .post_token(
            "a%3Ab%25c%2Bd+%C3%A9",
            "p%3Aw%25%2B+%C3%B6",
            "grant_type=client_credentials",
        )
        .await;

    let body = assert_token_response(res).await;
    let claims = app.validate(access_token(&body), AUDIENCE).await;
    assert_eq!(claims["sub"], "a:b%c+d é");
    assert_eq!(claims["client_id"], "a:b%c+d é");
}

#[tokio::test]
async fn raw_curl_user_credentials_split_on_the_first_colon_get_a_token() {
    let app = spawn_app_with(|cfg| {
        // Not valid form-urlencoding ("%+"), so only the raw reading fits.
        add_client(&mut cfg.clients, "curl-client", "p:w%+ ö");
        // Valid form-urlencoding that decodes to something else ("s e:cA").
        add_client(&mut cfg.clients, "plus-client", "s+e:c%41");
    })
    .await;

    for (id, secret) in [("curl-client", "p:w%+ ö"), ("plus-client", "s+e:c%41")] {
        // What `curl --user id:secret` sends: no encoding at all.
        let res = app
            .post_token(id, secret, "grant_type=client_credentials")
            .await;

        let body = assert_token_response(res).await;
        let claims = app.validate(access_token(&body), AUDIENCE).await;
        assert_eq!(claims["sub"], id);
    }
}

#[tokio::test]
async fn no_scope_requested_grants_the_default_scopes() {
    let app = spawn_app().await;

    for extra in ["", "&scope="] {
        let (response, claims) = token_and_claims(&app, "svc", "svc-secret", extra, AUDIENCE).await;

        assert_eq!(response["scope"], "reports:read", "with {extra:?}");
        assert_eq!(claims["scope"], "reports:read", "with {extra:?}");
    }
}

#[tokio::test]
async fn a_requested_subset_is_granted_in_request_order_without_duplicates() {
    let app = spawn_app().await;

    let (response, claims) = token_and_claims(
        &app,
        "svc",
        "svc-secret",
        "&scope=admin%20reports:write+admin",
        AUDIENCE,
    )
    .await;

    assert_eq!(response["scope"], "admin reports:write");
    assert_eq!(claims["scope"], response["scope"]);
}

#[tokio::test]
async fn the_reject_policy_refuses_a_scope_outside_the_client_allowance() {
    let app = spawn_app().await;

    let res = app
        .post_token(
            "svc",
            "svc-secret",
            "grant_type=client_credentials&scope=reports:read+payroll",
        )
        .await;

    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test]
async fn the_intersect_policy_grants_the_allowed_part_or_the_default_scopes() {
    let app = spawn_app_with(|cfg| cfg.scope_policy = "intersect").await;

    let (response, claims) = token_and_claims(
        &app,
        "svc",
        "svc-secret",
        "&scope=payroll+admin+reports:write",
        AUDIENCE,
    )
    .await;
    assert_eq!(response["scope"], "admin reports:write");
    assert_eq!(claims["scope"], response["scope"]);

    let (response, claims) =
        token_and_claims(&app, "svc", "svc-secret", "&scope=payroll+hr", AUDIENCE).await;
    assert_eq!(
        response["scope"], "reports:read",
        "nothing allowed: defaults"
    );
    assert_eq!(claims["scope"], response["scope"]);
}

/// `expires_in` and `exp - iat` of one token.
async fn lifetimes(app: &TestApp, id: &str, secret: &str, extra: &str, aud: &str) -> (i64, i64) {
    let (response, claims) = token_and_claims(app, id, secret, extra, aud).await;
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    (response["expires_in"].as_i64().unwrap(), lifetime)
}

#[tokio::test]
async fn validity_period_sets_the_token_lifetime() {
    let app = spawn_app().await;

    let got = lifetimes(&app, "svc", "svc-secret", "&validity_period=3200", AUDIENCE).await;
    assert_eq!(got, (3200, 3200));

    // Honoured up to tokens.max_ttl, also above the client's own token_ttl.
    let reports = "https://reports.example.com";
    let got = lifetimes(
        &app,
        "reports",
        "reports-secret",
        "&validity_period=60",
        reports,
    )
    .await;
    assert_eq!(got, (60, 60));
    let got = lifetimes(
        &app,
        "reports",
        "reports-secret",
        "&validity_period=2000",
        reports,
    )
    .await;
    assert_eq!(got, (2000, 2000));
}

#[tokio::test]
async fn a_validity_period_above_max_ttl_is_clamped_to_max_ttl() {
    let app = spawn_app_with(|cfg| cfg.max_ttl = 600).await;

    let got = lifetimes(&app, "svc", "svc-secret", "&validity_period=5000", AUDIENCE).await;
    assert_eq!(got, (600, 600));

    let huge = "&validity_period=99999999999999999999999999";
    let got = lifetimes(&app, "svc", "svc-secret", huge, AUDIENCE).await;
    assert_eq!(got, (600, 600), "an overflowing period clamps too");
}

#[tokio::test]
async fn a_client_token_ttl_above_max_ttl_is_clamped_to_max_ttl() {
    let app = spawn_app_with(|cfg| cfg.max_ttl = 600).await;

    let reports = "https://reports.example.com";
    let got = lifetimes(&app, "reports", "reports-secret", "", reports).await;
    assert_eq!(got, (600, 600), "token_ttl 900 is clamped");
}

#[tokio::test]
async fn without_validity_period_a_client_gets_its_token_ttl_or_the_default_ttl() {
    let app = spawn_app_with(|cfg| cfg.default_ttl = 1800).await;

    let reports = "https://reports.example.com";
    let got = lifetimes(&app, "reports", "reports-secret", "", reports).await;
    assert_eq!(got, (900, 900), "the client's token_ttl");
    let got = lifetimes(&app, "svc", "svc-secret", "", AUDIENCE).await;
    assert_eq!(got, (1800, 1800), "tokens.default_ttl");
}

const REPORTS: &str = "https://reports.example.com";
const BILLING: &str = "https://billing.example.com";

#[tokio::test]
async fn a_client_with_several_audiences_gets_all_of_them_by_default() {
    let app = spawn_app().await;

    let (_, claims) = token_and_claims(&app, "reports", "reports-secret", "", BILLING).await;

    assert_eq!(claims["aud"], json!([REPORTS, BILLING]));
}

#[tokio::test]
async fn a_requested_audience_narrows_aud_to_that_string() {
    let app = spawn_app().await;

    let extra = "&audience=https%3A%2F%2Fbilling.example.com";
    let (_, claims) = token_and_claims(&app, "reports", "reports-secret", extra, BILLING).await;

    assert_eq!(claims["aud"], BILLING);
}

#[tokio::test]
async fn repeated_resource_parameters_give_an_aud_array_of_them_rfc8707() {
    let app = spawn_app().await;

    let extra = "&resource=https%3A%2F%2Fbilling.example.com&resource=https://reports.example.com";
    let (_, claims) = token_and_claims(&app, "reports", "reports-secret", extra, REPORTS).await;

    assert_eq!(claims["aud"], json!([BILLING, REPORTS]));
}

#[tokio::test]
async fn an_audience_outside_the_client_allowance_is_invalid_target() {
    let app = spawn_app().await;

    for param in ["audience", "resource"] {
        let body = format!("grant_type=client_credentials&{param}=https://evil.example.com");
        let res = app.post_token("reports", "reports-secret", &body).await;

        assert_eq!(res.status(), 400, "with {param}");
        let json: Value = res.json().await.unwrap();
        assert_eq!(json["error"], "invalid_target", "with {param}");
    }
}

#[tokio::test]
async fn a_client_without_its_own_audience_gets_the_configured_default_as_a_string() {
    let app = spawn_app().await;

    let (_, claims) = token_and_claims(&app, "svc", "svc-secret", "", AUDIENCE).await;

    assert_eq!(claims["aud"], AUDIENCE);
}

#[tokio::test]
async fn a_client_extra_claims_are_in_its_tokens() {
    let app = spawn_app().await;

    let (_, claims) = token_and_claims(&app, "reports", "reports-secret", "", REPORTS).await;
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["tier"], 3);

    let (_, claims) = token_and_claims(&app, "svc", "svc-secret", "", AUDIENCE).await;
    assert!(
        claims.get("tenant").is_none(),
        "only the configured client's"
    );
}

#[tokio::test]
async fn a_disabled_client_credentials_grant_is_unsupported_grant_type() {
    let app = spawn_app_with(|cfg| cfg.enable = false).await;

    let res = app
        .post_token("svc", "svc-secret", "grant_type=client_credentials")
        .await;

    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}
