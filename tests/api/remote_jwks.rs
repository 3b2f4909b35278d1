//! JWK Sets fetched over HTTPS (docs/client-authentication.md): a test platform that
//! serves OIDC discovery and its JWKS with a certificate from a private CA;
//! its key rotation is picked up through the unknown-`kid` refetch, which
//! is rate-limited; JWKS endpoints that hang, return 5 MB or garbage fail
//! only their own client while everyone else is served.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

use crate::assertions::{form, ClientKey};
use crate::helpers::*;

/// The platform: `/.well-known/openid-configuration`, `/jwks` (the keys
/// it currently publishes), and three broken JWKS endpoints.
struct Platform {
    base: String,
    ca: std::path::PathBuf,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

async fn platform(keys: Vec<Value>) -> Platform {
    let dir = tempfile::tempdir().unwrap();
    let pki = private_ca(dir.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let keys = Arc::new(Mutex::new(json!({ "keys": keys })));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, f, b) = (keys.clone(), fetches.clone(), base.clone());
    let server = HttpServer::new(move || {
        let (k, f, b) = (k.clone(), f.clone(), b.clone());
        App::new()
            .route(
                "/.well-known/openid-configuration",
                web::get().to(move || {
                    let b = b.clone();
                    async move {
                        HttpResponse::Ok()
                            .json(json!({"issuer": b, "jwks_uri": format!("{b}/jwks")}))
                    }
                }),
            )
            .route(
                "/jwks",
                web::get().to(move || {
                    f.fetch_add(1, Ordering::SeqCst);
                    let body = k.lock().unwrap().clone();
                    async move {
                        HttpResponse::Ok()
                            .insert_header(("Cache-Control", "public, max-age=3600"))
                            .json(body)
                    }
                }),
            )
            .route(
                "/hang",
                web::get().to(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    HttpResponse::Ok().finish()
                }),
            )
            .route(
                "/big",
                web::get().to(|| async { HttpResponse::Ok().body(vec![b' '; 5 << 20]) }),
            )
            .route(
                "/garbage",
                web::get().to(|| async { HttpResponse::Ok().body("<html>not a JWK Set</html>") }),
            )
    })
    .workers(1)
    .listen_rustls_0_23(listener, server_tls(&pki))
    .unwrap()
    .run();
    tokio::spawn(server);
    Platform {
        base,
        ca: pki.ca.clone(),
        keys,
        fetches,
        _dir: dir,
    }
}

fn server_tls(pki: &PrivateCa) -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&pki.cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(&pki.key).unwrap();
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap()
}

fn workload_token(key: &ClientKey, iss: &str, sub: &str) -> String {
    let now = unix_now();
    key.sign(&json!({"iss": iss, "sub": sub, "aud": ISSUER, "iat": now, "exp": now + 300}))
}

async fn status(app: &TestApp, assertion: &str) -> u16 {
    app.post_form("/oauth2/token", &form(assertion, ""))
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_issuer_found_by_discovery_over_a_private_ca_and_its_rotation_through_the_unknown_kid_refetch(
) {
    let first = ClientKey::new("ES256", Some("2026-a"));
    let second = ClientKey::new("RS256", Some("2026-b"));
    let stranger = ClientKey::new("ES256", Some("never-published"));
    let p = platform(vec![first.jwk.clone()]).await;
    let extra = format!(
        "[client_auth]\njwks_min_refresh = 2\n[throttle]\nfailures_per_client = 0\nfailures_per_address = 0\n\
         [[trusted_issuers]]\nname = \"ci\"\nissuer = \"{}\"\ndiscovery = true\nca_file = {:?}\n",
        p.base,
        p.ca.display().to_string()
    );
    let clients = "[[clients]]\nid = \"deployer\"\nauth_methods = [\"private_key_jwt\"]\nfederated = { issuer = \"ci\", subject = \"repo:acme/app:ref:refs/heads/main\" }\n".to_string();
    let app = spawn_app_with(|cfg| {
        cfg.extra = extra;
        cfg.clients = clients;
    })
    .await;
    let sub = "repo:acme/app:ref:refs/heads/main";
    // Keys are fetched on first use (discovery, then the JWKS).
    assert_eq!(
        status(&app, &workload_token(&first, &p.base, sub)).await,
        200
    );
    assert_eq!(p.fetches.load(Ordering::SeqCst), 1);
    // Known kids need no fetch.
    assert_eq!(
        status(&app, &workload_token(&first, &p.base, sub)).await,
        200
    );
    assert_eq!(p.fetches.load(Ordering::SeqCst), 1);

    // The platform rotates. Within jwks_min_refresh of the last fetch an
    // unknown kid is refused without a fetch; after it, one refetch finds it.
    *p.keys.lock().unwrap() = json!({"keys": [second.jwk.clone()]});
    assert_eq!(
        status(&app, &workload_token(&second, &p.base, sub)).await,
        401
    );
    assert_eq!(p.fetches.load(Ordering::SeqCst), 1, "rate-limited");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        status(&app, &workload_token(&second, &p.base, sub)).await,
        200
    );
    assert_eq!(p.fetches.load(Ordering::SeqCst), 2);
    // A flood of unknown kids makes at most one more fetch per interval.
    for _ in 0..20 {
        assert_eq!(
            status(&app, &workload_token(&stranger, &p.base, sub)).await,
            401
        );
    }
    assert!(
        p.fetches.load(Ordering::SeqCst) <= 3,
        "{} fetches",
        p.fetches.load(Ordering::SeqCst)
    );
    // The rotated-out key no longer verifies.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        status(&app, &workload_token(&first, &p.base, sub)).await,
        401
    );
}

#[tokio::test]
async fn a_jwks_uri_that_hangs_is_huge_or_garbage_fails_only_its_client() {
    let key = ClientKey::new("ES256", Some("k"));
    let p = platform(vec![key.jwk.clone()]).await;
    let ca = p.ca.display().to_string();
    let mut clients = String::from(DEFAULT_CLIENTS);
    for (id, path) in [
        ("good", "/jwks"),
        ("hang", "/hang"),
        ("big", "/big"),
        ("garbage", "/garbage"),
    ] {
        clients.push_str(&format!(
            "[[clients]]\nid = \"{id}\"\nauth_methods = [\"private_key_jwt\"]\njwks_uri = \"{}{path}\"\njwks_ca_file = {ca:?}\n",
            p.base
        ));
    }
    let app = Arc::new(
        spawn_app_with(|cfg| {
            cfg.clients = clients;
            cfg.extra = "[throttle]\nfailures_per_client = 0\nfailures_per_address = 0\n".into();
        })
        .await,
    );
    let signed = |id: &str| key.sign(&crate::assertions::client_claims(id, json!(ISSUER)));
    // The hanging one runs while others are served.
    let hanging = {
        let app = app.clone();
        let assertion = signed("hang");
        tokio::spawn(async move {
            let started = Instant::now();
            let s = status(&app, &assertion).await;
            (s, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        let started = Instant::now();
        let res = app
            .post_token("svc", "svc-secret", "grant_type=client_credentials")
            .await;
        assert_eq!(res.status(), 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(status(&app, &signed("good")).await, 200);
    assert_eq!(status(&app, &signed("big")).await, 401);
    assert_eq!(status(&app, &signed("garbage")).await, 401);
    let (s, took) = hanging.await.unwrap();
    assert_eq!(s, 401);
    assert!(took < Duration::from_secs(10), "bounded: {took:?}");
    // Nothing was a 5xx, and good keeps working.
    assert_eq!(status(&app, &signed("good")).await, 200);
}

#[tokio::test]
async fn kubernetes_spiffe_and_github_tokens_verify_with_keys_each_platform_serves_over_https() {
    let (k8s_key, spire_key, gh_key) = (
        ClientKey::new("RS256", Some("sa-key-1")),
        ClientKey::new("ES256", Some("spire-1")),
        ClientKey::new("RS256", Some("gh-1")),
    );
    let k8s = platform(vec![k8s_key.jwk.clone()]).await;
    let spire = platform(vec![spire_key.jwk.clone()]).await;
    let gh = platform(vec![gh_key.jwk.clone()]).await;
    let mut extra = String::new();
    for (name, p, aud) in [
        ("cluster", &k8s, ISSUER),
        ("spire", &spire, "tokenmint"),
        ("github", &gh, ISSUER),
    ] {
        extra.push_str(&format!(
            "[[trusted_issuers]]\nname = \"{name}\"\nissuer = \"{}\"\ndiscovery = true\nca_file = {:?}\naudience = \"{aud}\"\n",
            p.base,
            p.ca.display().to_string()
        ));
    }
    let bind = |id: &str, issuer: &str, subject: &str| {
        format!("[[clients]]\nid = \"{id}\"\nauth_methods = [\"private_key_jwt\"]\nfederated = {{ issuer = \"{issuer}\", subject = \"{subject}\" }}\n")
    };
    let clients = [
        bind(
            "billing",
            "cluster",
            "system:serviceaccount:payments:billing",
        ),
        bind("api", "spire", "spiffe://example.org/ns/prod/sa/api"),
        bind("deployer", "github", "repo:acme/app:ref:refs/heads/main"),
    ]
    .concat();
    let app = spawn_app_with(|cfg| {
        cfg.extra = extra;
        cfg.clients = clients;
    })
    .await;
    let now = unix_now();
    // As the kube-apiserver projects it (audience = tokenmint's issuer).
    let sa = k8s_key.sign(&json!({
        "aud": [ISSUER], "exp": now + 3600, "iat": now, "nbf": now, "iss": k8s.base,
        "kubernetes.io": {"namespace": "payments", "node": {"name": "node-1", "uid": "5e1a"},
            "pod": {"name": "billing-7c9d", "uid": "0b3c"}, "serviceaccount": {"name": "billing", "uid": "9f2e"}},
        "sub": "system:serviceaccount:payments:billing",
    }));
    // A SPIRE JWT-SVID.
    let svid = spire_key.sign(&json!({"aud": ["tokenmint"], "exp": now + 300, "iat": now,
        "iss": spire.base, "sub": "spiffe://example.org/ns/prod/sa/api"}));
    // A GitHub Actions OIDC token.
    let actions = gh_key.sign(&json!({"actor": "octocat", "aud": ISSUER, "base_ref": "", "event_name": "push",
        "exp": now + 300, "head_ref": "", "iat": now, "iss": gh.base, "job_workflow_ref": "acme/app/.github/workflows/deploy.yml@refs/heads/main",
        "jti": "6f0c0a6e-1a2b", "nbf": now - 5, "ref": "refs/heads/main", "ref_type": "branch", "repository": "acme/app",
        "repository_owner": "acme", "run_id": "42", "sub": "repo:acme/app:ref:refs/heads/main", "workflow": "deploy"}));
    for (token, id, p) in [
        (&sa, "billing", &k8s),
        (&svid, "api", &spire),
        (&actions, "deployer", &gh),
    ] {
        let res = app.post_form("/oauth2/token", &form(token, "")).await;
        assert_eq!(res.status(), 200, "{id}");
        let body: Value = res.json().await.unwrap();
        let claims = app
            .validate(body["access_token"].as_str().unwrap(), AUDIENCE)
            .await;
        assert_eq!(claims["client_id"], id);
        assert_eq!(claims["federated_iss"], p.base.as_str());
        assert_eq!(p.fetches.load(Ordering::SeqCst), 1, "{id}: one JWKS fetch");
    }
    // One platform's key never verifies for another: SPIRE's key signing a cluster token.
    let forged = spire_key.sign(
        &json!({"aud": [ISSUER], "exp": now + 600, "iat": now, "iss": k8s.base,
        "sub": "system:serviceaccount:payments:billing"}),
    );
    assert_eq!(status(&app, &forged).await, 401);
}
