//! Keys as operators make them (openssl, PKCS#8 v1 Ed25519), keys refused
//! with the file and the fix named, the active-key rules, and rotation's
//! "published, not yet signing" step.

use crate::helpers::{fixture, key_pem, segment, spawn_app_with, try_spawn_app_with, AUDIENCE};

async fn start_error(edit: impl FnOnce(&mut crate::helpers::TestConfig)) -> String {
    match try_spawn_app_with(edit).await {
        Ok(_) => panic!("the app must refuse to start"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn openssl_made_ed25519_pkcs8_v1_and_p256_keys_sign_tokens_that_validate() {
    for (file, alg) in [
        ("test-only-openssl-ed25519-pkcs8v1.pem", "EdDSA"),
        ("test-only-openssl-p256.pem", "ES256"),
    ] {
        let app = spawn_app_with(|c| {
            c.algs = vec![];
            c.extra_key_pems = vec![fixture(file)];
        })
        .await;
        let token = app.token("svc", "svc-secret", "").await;
        let token = token["access_token"].as_str().unwrap();
        assert_eq!(segment(token, 0)["alg"], alg);
        app.validate(token, AUDIENCE).await;
    }
}

#[tokio::test]
async fn a_sec1_key_is_refused_with_the_file_and_the_conversion_command() {
    let err = start_error(|c| c.extra_key_pems = vec![fixture("test-only-sec1-p256.pem")]).await;
    assert!(err.contains("extra-0.pem"), "{err}");
    assert!(err.contains("openssl pkcs8 -topk8 -nocrypt"), "{err}");
}

#[tokio::test]
async fn an_rsa_key_under_2048_bits_and_an_unsupported_curve_are_refused_by_name() {
    let err = start_error(|c| {
        c.extra_key_pems = vec![
            fixture("test-only-rsa-1024-too-small.pem"),
            fixture("test-only-p521-unsupported.pem"),
        ]
    })
    .await;
    // Both problems are listed at once.
    assert!(err.contains("extra-0.pem") && err.contains("2048"), "{err}");
    assert!(
        err.contains("extra-1.pem") && err.contains("P-256"),
        "{err}"
    );
}

#[tokio::test]
async fn several_keys_without_active_is_an_error_listing_the_kids() {
    let err = start_error(|c| {
        c.algs = vec!["ES256", "EdDSA"];
        c.active = Some(String::new());
    })
    .await;
    assert!(err.contains("keys.active"), "{err}");
}

#[tokio::test]
async fn an_active_kid_that_names_no_key_is_an_error() {
    let err = start_error(|c| c.active = Some("no-such-kid".into())).await;
    assert!(
        err.contains("no-such-kid") && err.contains("names no key"),
        "{err}"
    );
}

#[tokio::test]
async fn one_key_and_no_active_setting_signs_with_that_key() {
    let app = spawn_app_with(|c| c.active = Some(String::new())).await;
    let token = app.token("svc", "svc-secret", "").await;
    assert_eq!(
        segment(token["access_token"].as_str().unwrap(), 0)["kid"],
        app.kids[0].as_str()
    );
}

#[tokio::test]
async fn a_new_key_is_published_before_it_signs_and_the_active_one_signs() {
    let pems = vec![key_pem("ES256"), key_pem("EdDSA")];
    // Rotation step 1: the new key (second) is published but not active.
    let app = spawn_app_with(|c| {
        c.algs = vec![];
        c.extra_key_pems = pems.clone();
    })
    .await;
    let (old_kid, new_kid) = (app.kids[0].clone(), app.kids[1].clone());
    let jwks = app.get_jwks().await;
    assert_eq!(jwks.keys.len(), 2);
    let token = app.token("svc", "svc-secret", "").await;
    let old_token = token["access_token"].as_str().unwrap().to_string();
    assert_eq!(segment(&old_token, 0)["kid"], old_kid.as_str());
    // Step 3: the same two keys, the new one active; old tokens still validate.
    let app = spawn_app_with(|c| {
        c.algs = vec![];
        c.extra_key_pems = pems.clone();
        c.active = Some(new_kid.clone());
    })
    .await;
    let token = app.token("svc", "svc-secret", "").await;
    let token = token["access_token"].as_str().unwrap();
    assert_eq!(segment(token, 0)["alg"], "EdDSA");
    assert_eq!(segment(token, 0)["kid"], new_kid.as_str());
    app.validate(token, AUDIENCE).await;
    app.validate(&old_token, AUDIENCE).await;
}

#[tokio::test]
async fn the_ps256_marker_line_makes_an_rsa_key_sign_ps256() {
    let app = spawn_app_with(|c| c.algs = vec!["PS256"]).await;
    assert!(key_pem("PS256").starts_with("tokenmint-alg: PS256"));
    let jwks = app.get_jwks().await;
    assert_eq!(
        jwks.keys[0].common.key_algorithm.unwrap().to_string(),
        "PS256"
    );
}

#[tokio::test]
async fn a_client_claim_that_overrides_a_registered_claim_is_refused() {
    let err = start_error(|c| {
        c.clients = "[[clients]]\nid = \"x\"\nsecret = \"s\"\nclaims = { sub = \"admin\" }\n".into()
    })
    .await;
    assert!(err.contains("claims.sub"), "{err}");
}

#[tokio::test]
async fn every_config_problem_is_reported_at_once_without_echoing_secrets() {
    let err = start_error(|c| {
        c.clients = r#"
[[clients]]
id = "a"
secret_hash = "topsecret-pasted-by-mistake"
scopes = ["bad scope"]
default_scopes = ["other"]
auth_methods = ["tls_client_auth"]
"#
        .into()
    })
    .await;
    for expected in [
        "secret_hash",
        "scopes[0]",
        "default_scopes",
        "tls_client_auth",
    ] {
        assert!(err.contains(expected), "missing {expected}: {err}");
    }
    assert!(!err.contains("topsecret"), "{err}");
}

#[tokio::test]
async fn a_hashed_secret_authenticates_and_the_previous_hash_still_works_during_rotation() {
    let current = tokenmint::secret_hash::SecretHash::hash("new-secret", 1000).unwrap();
    let previous = tokenmint::secret_hash::SecretHash::hash("old-secret", 1000).unwrap();
    let app = spawn_app_with(|c| {
        c.clients = format!(
            "[[clients]]\nid = \"h\"\nsecret_hash = \"{current}\"\nprevious_secret_hash = \"{previous}\"\n"
        )
    })
    .await;
    for secret in ["new-secret", "old-secret", "new-secret"] {
        app.token("h", secret, "").await;
    }
    let res = app
        .post_token("h", "wrong", "grant_type=client_credentials")
        .await;
    assert_eq!(res.status(), 401);
    let res = app
        .post_token("nobody", "wrong", "grant_type=client_credentials")
        .await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn trusted_proxies_accept_cidr_ranges_and_bare_addresses() {
    let app = spawn_app_with(|c| {
        c.extra =
            "[throttle]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.1\", \"2001:db8::/32\"]\n"
                .into()
    })
    .await;
    app.token("svc", "svc-secret", "").await;
    let err =
        start_error(|c| c.extra = "[throttle]\ntrusted_proxies = [\"10.0.0.0/99\"]\n".into()).await;
    assert!(
        err.contains("throttle.trusted_proxies[0]") && err.contains("10.0.0.0/99"),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_keys_directory_is_refused_naming_keys_dir_and_how_to_make_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let config = dir.path().join("tm.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"https://auth.example.com\"\n[server]\nlisten = \"127.0.0.1:0\"\n[keys]\ndir = {keys:?}\n\
             [tokens]\naudience = [\"{AUDIENCE}\"]\n"
        ),
    )
    .unwrap();
    let loaded = tokenmint::config::load_file(&config).unwrap();
    let err = match tokenmint::Application::build(loaded) {
        Ok(_) => panic!("the app must refuse to start"),
        Err(e) => format!("{e:#}"),
    };
    let keys = keys.display();
    for expected in [
        format!("keys.dir = \"{keys}\" does not exist"),
        format!("`tokenmint keygen --alg ES256 --dir {keys}`"),
        "keys.generate_if_missing = true".to_string(),
    ] {
        assert!(err.contains(&expected), "missing {expected}: {err}");
    }
}
