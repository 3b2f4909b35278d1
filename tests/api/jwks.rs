//! The JWK Set (docs/http-api.md) under `/jwks` and `/.well-known/jwks.json`: one
//! public JWK per key file, kids that are RFC 7638 thumbprints (recomputed
//! here, not taken from the server), caching headers, and `If-None-Match`
//! as RFC 9110 §13.1.2 evaluates it.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

const PATHS: [&str; 2] = ["/jwks", "/.well-known/jwks.json"];

/// Members that only a private JWK has (RFC 7517 §9.3, RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

async fn jwks_json(app: &TestApp, path: &str) -> Value {
    let res = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    let media = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(media.starts_with("application/json"), "{path}: {media}");
    res.json().await.unwrap()
}

async fn etag(app: &TestApp) -> String {
    let res = app.http.get(app.url("/jwks")).send().await.unwrap();
    res.headers()
        .get("etag")
        .expect("an ETag on the JWK Set")
        .to_str()
        .unwrap()
        .to_string()
}

async fn get_with_if_none_match(app: &TestApp, path: &str, tags: &str) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .header("If-None-Match", tags)
        .send()
        .await
        .unwrap()
}

/// The RFC 7638 thumbprint of a public JWK: SHA-256 over its required
/// members, in lexicographic order, without whitespace.
fn thumbprint(jwk: &Value) -> String {
    let s = |name: &str| {
        jwk[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {jwk}"))
    };
    let canonical = match s("kty") {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            s("crv"),
            s("x"),
            s("y")
        ),
        "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv"), s("x")),
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
        other => panic!("unexpected kty {other}"),
    };
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

#[tokio::test]
async fn the_jwk_set_publishes_one_public_signing_jwk_per_key() {
    let algs = ["ES256", "EdDSA", "PS256"];
    let app = spawn_app_with(|cfg| cfg.algs = algs.to_vec()).await;
    let expected: BTreeMap<&str, &str> = app.kids.iter().map(String::as_str).zip(algs).collect();

    for path in PATHS {
        let set = jwks_json(&app, path).await;
        let keys = set["keys"].as_array().unwrap();

        let mut published = BTreeMap::new();
        for jwk in keys {
            for member in ["kty", "kid", "alg"] {
                assert!(jwk[member].is_string(), "{path}: no {member} in {jwk}");
            }
            assert_eq!(jwk["use"], "sig", "{path}: {jwk}");
            for private in PRIVATE_MEMBERS {
                assert!(
                    jwk.get(private).is_none(),
                    "{path}: private {private} in {jwk}"
                );
            }
            let (kty, crv) = match jwk["alg"].as_str().unwrap() {
                "ES256" => ("EC", Some("P-256")),
                "EdDSA" => ("OKP", Some("Ed25519")),
                _ => ("RSA", None),
            };
            assert_eq!(jwk["kty"], kty, "{jwk}");
            assert_eq!(jwk["crv"].as_str(), crv, "{jwk}");
            published.insert(jwk["kid"].as_str().unwrap(), jwk["alg"].as_str().unwrap());
        }
        assert_eq!(keys.len(), algs.len(), "{path}: one JWK per key");
        assert_eq!(published, expected, "{path}: kid → alg");
    }
}

#[tokio::test]
async fn every_kid_is_the_rfc7638_thumbprint_of_the_published_key() {
    let app = spawn_app_with(|cfg| cfg.algs = vec!["ES256", "ES384", "EdDSA", "RS256"]).await;

    let set = jwks_json(&app, "/jwks").await;

    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4);
    for jwk in keys {
        assert_eq!(jwk["kid"].as_str().unwrap(), thumbprint(jwk), "{jwk}");
    }
}

#[tokio::test]
async fn both_jwk_set_paths_serve_the_same_set_and_etag() {
    let app = spawn_app_with(|cfg| cfg.algs = vec!["ES256", "RS256"]).await;

    let a = app.http.get(app.url(PATHS[0])).send().await.unwrap();
    let b = app.http.get(app.url(PATHS[1])).send().await.unwrap();

    assert_eq!(a.headers().get("etag"), b.headers().get("etag"));
    assert!(a.headers().get("etag").is_some());
    assert_eq!(a.bytes().await.unwrap(), b.bytes().await.unwrap());
}

#[tokio::test]
async fn the_jwk_set_is_publicly_cacheable_for_jwks_max_age_with_an_etag() {
    let app = spawn_app_with(|cfg| cfg.jwks_max_age = 123).await;

    for path in PATHS {
        let res = app.http.get(app.url(path)).send().await.unwrap();

        assert_eq!(res.status(), 200);
        let h = res.headers();
        assert_eq!(
            h["cache-control"].to_str().unwrap(),
            "public, max-age=123",
            "{path}"
        );
        let tag = h["etag"].to_str().unwrap();
        let opaque = tag.strip_prefix("W/").unwrap_or(tag);
        assert!(
            opaque.len() > 2 && opaque.starts_with('"') && opaque.ends_with('"'),
            "{path}: ETag {tag} is a quoted entity-tag (RFC 9110 §8.8.3)"
        );
        assert_eq!(h["x-content-type-options"].to_str().unwrap(), "nosniff");
        assert_eq!(h["x-frame-options"].to_str().unwrap(), "DENY");
    }
}

#[tokio::test]
async fn a_different_key_set_has_a_different_etag() {
    let one = spawn_app().await;
    let other = spawn_app().await;

    assert_ne!(etag(&one).await, etag(&other).await);
}

/// Asserts a 304 with no body that still carries the validators.
async fn assert_not_modified(res: reqwest::Response, etag: &str, what: &str) {
    assert_eq!(res.status(), 304, "{what}");
    assert_eq!(res.headers()["etag"].to_str().unwrap(), etag, "{what}");
    assert!(res.headers().get("cache-control").is_some(), "{what}");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{what}");
    assert!(res.bytes().await.unwrap().is_empty(), "{what}: empty body");
}

#[tokio::test]
async fn if_none_match_with_the_current_etag_is_304_with_an_empty_body() {
    let app = spawn_app().await;
    let tag = etag(&app).await;

    for path in PATHS {
        let res = get_with_if_none_match(&app, path, &tag).await;

        assert_not_modified(res, &tag, path).await;
    }
}

#[tokio::test]
async fn if_none_match_uses_weak_comparison_rfc9110_13_1_2() {
    let app = spawn_app().await;
    let tag = etag(&app).await;
    let strong = tag.strip_prefix("W/").unwrap_or(&tag).to_string();

    let res = get_with_if_none_match(&app, "/jwks", &format!("W/{strong}")).await;

    assert_not_modified(res, &tag, "weak form of the tag").await;
}

#[tokio::test]
async fn if_none_match_with_a_list_containing_the_etag_is_304() {
    let app = spawn_app().await;
    let tag = etag(&app).await;

    for list in [
        format!("\"x\", {tag}"),
        format!("\"x\",{tag},\"y\""),
        format!("W/\"x\" , {tag}"),
    ] {
        let res = get_with_if_none_match(&app, "/jwks", &list).await;

        assert_not_modified(res, &tag, &list).await;
    }
}

#[tokio::test]
async fn if_none_match_star_is_304() {
    let app = spawn_app().await;
    let tag = etag(&app).await;

    let res = get_with_if_none_match(&app, "/jwks", "*").await;

    assert_not_modified(res, &tag, "*").await;
}

#[tokio::test]
async fn if_none_match_with_other_tags_gets_the_jwk_set() {
    let app = spawn_app().await;
    let tag = etag(&app).await;
    let strong = tag.strip_prefix("W/").unwrap_or(&tag);
    let unquoted = strong.trim_matches('"').to_string();
    let longer = format!("\"{unquoted}x\"");

    for other in ["\"x\"", &longer, "\"x\", \"y\""] {
        let res = get_with_if_none_match(&app, "/jwks", other).await;

        assert_eq!(res.status(), 200, "If-None-Match: {other}");
        let set: Value = res.json().await.unwrap();
        assert_eq!(set["keys"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn other_methods_on_the_jwk_set_are_405_with_allow() {
    let app = spawn_app().await;

    for path in PATHS {
        for method in [
            reqwest::Method::POST,
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
            let allow = res
                .headers()
                .get("allow")
                .unwrap_or_else(|| panic!("{method} {path}: no Allow header"))
                .to_str()
                .unwrap();
            assert!(
                allow.split(',').any(|m| m.trim() == "GET"),
                "{method} {path}: Allow {allow}"
            );
        }
    }
}

/// The PEM of a new ES256 key that starts signing at `at` (Unix seconds).
fn scheduled_key_pem(at: u64) -> String {
    format!(
        "tokenmint-activate-at: {}\n{}",
        tokenmint::clock::format(at),
        crate::helpers::key_pem("ES256")
    )
}

fn kid_of(token: &serde_json::Value) -> String {
    let token = token["access_token"].as_str().unwrap();
    crate::helpers::segment(token, 0)["kid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_scheduled_key_is_published_at_once_and_signs_from_its_time_without_a_reload() {
    let at = tokenmint::clock::unix_now() + 2;
    let app = crate::helpers::spawn_app_with(|cfg| {
        cfg.active = Some(String::new());
        cfg.extra_key_pems = vec![scheduled_key_pem(at)];
    })
    .await;
    let (old, new) = (app.kids[0].clone(), app.kids[1].clone());

    let published: Vec<String> = app
        .get_jwks()
        .await
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert!(published.contains(&new), "published before it signs");
    assert_eq!(kid_of(&app.token("svc", "svc-secret", "").await), old);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(6);
    loop {
        let token = app.token("svc", "svc-secret", "").await;
        if kid_of(&token) == new {
            assert!(tokenmint::clock::unix_now() >= at, "not before its time");
            // Validated from the served JWK Set, like any token.
            app.validate(
                token["access_token"].as_str().unwrap(),
                crate::helpers::AUDIENCE,
            )
            .await;
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new key never signed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn keys_without_a_schedule_and_no_active_key_are_an_error_naming_the_fix() {
    let result = crate::helpers::try_spawn_app_with(|cfg| {
        cfg.algs = vec!["ES256", "EdDSA"];
        cfg.active = Some(String::new());
    })
    .await;

    let err = format!(
        "{:#}",
        result.err().expect("two unscheduled keys are refused")
    );
    assert!(
        err.contains("keys.active") && err.contains("tokenmint keygen"),
        "{err}"
    );
}

#[tokio::test]
async fn a_lone_scheduled_key_signs_at_once_and_the_first_to_come_signs_before_any_has() {
    let now = tokenmint::clock::unix_now();
    let app = crate::helpers::spawn_app_with(|cfg| {
        cfg.algs = vec![];
        cfg.active = Some(String::new());
        cfg.extra_key_pems = vec![scheduled_key_pem(now + 600), scheduled_key_pem(now + 300)];
    })
    .await;

    let kid = kid_of(&app.token("svc", "svc-secret", "").await);

    assert_eq!(
        kid, app.kids[1],
        "the one that activates first signs until then"
    );
}

#[tokio::test]
async fn inspect_and_the_server_refuse_the_same_jwk_with_the_same_reason() {
    // One JWK parser: a key `inspect --jwks` accepts is a key a client's
    // `jwks_file` may hold, and a key the configuration refuses (here one
    // marked for encryption) `inspect` refuses too, for the same reason.
    let app = spawn_app().await;
    let token = app.token("svc", "svc-secret", "").await;
    let token = token["access_token"].as_str().unwrap();
    let mut jwks: Value = crate::helpers::get_json(&app.http, &app.url("/jwks")).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("client.jwks.json");
    let inspect = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"))
            .args(["inspect", token, "--jwks"])
            .arg(file)
            .output()
            .unwrap()
    };
    std::fs::write(&file, jwks.to_string()).unwrap();
    assert!(inspect(&file).status.success(), "the served set verifies");

    jwks["keys"][0]["use"] = "enc".into();
    std::fs::write(&file, jwks.to_string()).unwrap();
    let refused = inspect(&file);
    let inspect_says = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(!refused.status.success());
    let config = dir.path().join("tm.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"https://tm.example\"\n[keys]\ndir = \"{}\"\ngenerate_if_missing = true\n\
             [tokens]\naudience = [\"a\"]\n[[clients]]\nid = \"k\"\nscopes = [\"s\"]\n\
             auth_methods = [\"private_key_jwt\"]\njwks_file = \"{}\"\n",
            dir.path().join("keys").display(),
            file.display()
        ),
    )
    .unwrap();
    let checked = std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"))
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let config_says = String::from_utf8_lossy(&checked.stdout).to_string()
        + &String::from_utf8_lossy(&checked.stderr);
    assert!(!checked.status.success(), "{config_says}");
    let reason = "\"use\" is \"enc\"";
    assert!(inspect_says.contains(reason), "inspect: {inspect_says}");
    assert!(config_says.contains(reason), "check-config: {config_says}");
}
