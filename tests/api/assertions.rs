//! Clients without shared secrets (docs/client-authentication.md): `private_key_jwt` with every
//! accepted algorithm, the rfc7523bis audience rules, replay, lifetime and
//! `typ` rules, and workload identity federation with tokens shaped as
//! Kubernetes, SPIFFE and GitHub Actions issue them. Assertions are signed
//! here with ring, from keys made at test time (RSA: the test fixture).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, KeyPair as _};
use serde_json::{json, Value};

use crate::helpers::*;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

enum Signer {
    Ec(sig::EcdsaKeyPair),
    Ed(sig::Ed25519KeyPair),
    Rsa(sig::RsaKeyPair, &'static dyn sig::RsaEncoding),
}

/// A client's (or a test platform's) key pair and its public JWK.
pub struct ClientKey {
    pub alg: &'static str,
    signer: Signer,
    pub jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD.decode(body).unwrap()
}

impl ClientKey {
    pub fn new(alg: &'static str, kid: Option<&str>) -> Self {
        let rng = SystemRandom::new();
        let (signer, mut jwk) = match alg {
            "ES256" | "ES384" => {
                let (signing, len, crv) = if alg == "ES256" {
                    (&sig::ECDSA_P256_SHA256_FIXED_SIGNING, 32, "P-256")
                } else {
                    (&sig::ECDSA_P384_SHA384_FIXED_SIGNING, 48, "P-384")
                };
                let pkcs8 = sig::EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
                let pair = sig::EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
                let point = pair.public_key().as_ref().to_vec();
                let jwk = json!({"kty": "EC", "crv": crv, "x": b64(&point[1..=len]), "y": b64(&point[len + 1..])});
                (Signer::Ec(pair), jwk)
            }
            "EdDSA" => {
                let pkcs8 = sig::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
                let pair = sig::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
                let jwk =
                    json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
                (Signer::Ed(pair), jwk)
            }
            "RS256" | "PS256" => {
                let der = pem_der(&fixture("test-only-rsa-2048.pem"));
                let pair = sig::RsaKeyPair::from_pkcs8(&der).unwrap();
                let public = sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                let jwk = json!({"kty": "RSA", "n": b64(&public.n), "e": b64(&public.e)});
                let encoding: &'static dyn sig::RsaEncoding = if alg == "RS256" {
                    &sig::RSA_PKCS1_SHA256
                } else {
                    &sig::RSA_PSS_SHA256
                };
                (Signer::Rsa(pair, encoding), jwk)
            }
            other => panic!("no test key for {other}"),
        };
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        Self { alg, signer, jwk }
    }

    /// A compact JWS of `claims` under `header` (given as is).
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let signature = match &self.signer {
            Signer::Ec(pair) => pair.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            Signer::Ed(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
            Signer::Rsa(pair, encoding) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(*encoding, &rng, input.as_bytes(), &mut out)
                    .unwrap();
                out
            }
        };
        format!("{input}.{}", b64(&signature))
    }

    /// Signed with the key's alg and, if it has one, its kid.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = json!({"alg": self.alg, "typ": "JWT"});
        if let Some(kid) = self.jwk.get("kid") {
            header["kid"] = kid.clone();
        }
        self.sign_with_header(&header, claims)
    }
}

/// Claims as client libraries sign them: `iss` = `sub` = the client,
/// `exp` = `iat` + 60, a fresh `jti`.
pub fn client_claims(client: &str, aud: Value) -> Value {
    let now = unix_now();
    json!({
        "iss": client, "sub": client, "aud": aud,
        "iat": now, "exp": now + 60, "jti": format!("{client}-{}", rand_jti()),
    })
}

fn rand_jti() -> String {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut b).unwrap();
    b64(&b)
}

pub fn form(assertion: &str, extra: &str) -> String {
    format!("grant_type=client_credentials&client_assertion_type={JWT_BEARER}&client_assertion={assertion}{extra}")
}

/// A `[[clients]]` entry for `id` with inline `jwks` of `keys`.
pub fn jwks_client(id: &str, keys: &[&ClientKey], extra: &str) -> String {
    let jwks: Vec<String> = keys.iter().map(|k| toml_inline(&k.jwk)).collect();
    format!(
        "[[clients]]\nid = \"{id}\"\nauth_methods = [\"private_key_jwt\"]\nscopes = [\"reports:read\"]\njwks = [{}]\n{extra}\n",
        jwks.join(", ")
    )
}

/// A flat JSON object as a TOML inline table.
fn toml_inline(v: &Value) -> String {
    let fields: Vec<String> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

pub async fn failures(app: &TestApp, reason: &str) -> f64 {
    let text = app.admin_get("/metrics").await.text().await.unwrap();
    let needle = format!("tokenmint_auth_failures_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn expect_refused(app: &TestApp, body: &str, reason: &str) {
    let before = failures(app, reason).await;
    let res = app.post_form("/oauth2/token", body).await;
    let status = res.status();
    let json: Value = res.json().await.unwrap();
    assert_eq!(status, 401, "{reason}: {json}");
    assert_eq!(json["error"], "invalid_client", "{reason}: {json}");
    assert_eq!(
        failures(app, reason).await,
        before + 1.0,
        "reason {reason} counted"
    );
}

#[tokio::test]
async fn private_key_jwt_works_with_every_accepted_algorithm_and_both_audiences() {
    let keys: Vec<ClientKey> = ["ES256", "ES384", "EdDSA", "RS256", "PS256"]
        .into_iter()
        .map(|alg| ClientKey::new(alg, Some(&format!("k-{alg}"))))
        .collect();
    let clients: String = keys
        .iter()
        .map(|k| jwks_client(&format!("c-{}", k.alg), &[k], ""))
        .collect();
    let app = spawn_app_with(|cfg| cfg.clients = clients).await;
    for key in &keys {
        let id = format!("c-{}", key.alg);
        // rfc7523bis: aud = the issuer identifier.
        let assertion = key.sign(&client_claims(&id, json!(ISSUER)));
        let res = app.post_form("/oauth2/token", &form(&assertion, "")).await;
        assert_eq!(
            res.status(),
            200,
            "{}: {}",
            key.alg,
            res.text().await.unwrap()
        );
        let token: Value = res.json().await.unwrap();
        let claims = app
            .validate(token["access_token"].as_str().unwrap(), AUDIENCE)
            .await;
        assert_eq!(claims["client_id"], id.as_str());
        assert_eq!(claims["sub"], id.as_str());
        // As Authlib signs it: aud = the token endpoint, exp = iat + 3600, no kid.
        let now = unix_now();
        let claims = json!({"iss": id, "sub": id, "aud": format!("{ISSUER}/oauth2/token"),
            "iat": now, "exp": now + 3600, "jti": rand_jti()});
        let assertion = key.sign_with_header(&json!({"alg": key.alg, "typ": "JWT"}), &claims);
        let res = app
            .post_form(
                "/oauth2/token",
                &form(&assertion, &format!("&client_id={id}")),
            )
            .await;
        assert_eq!(
            res.status(),
            200,
            "{} without kid: {}",
            key.alg,
            res.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn hostile_assertions_are_invalid_client_with_their_reason() {
    let key = ClientKey::new("ES256", Some("mine"));
    let other = ClientKey::new("ES256", Some("theirs"));
    let mut clients = jwks_client("a", &[&key], "");
    clients.push_str(&jwks_client("b", &[&other], ""));
    clients.push_str(&jwks_client("strict", &[&key], ""));
    let app = spawn_app_with(|cfg| {
        cfg.admin = true;
        cfg.clients = clients;
        cfg.extra = "[throttle]\nfailures_per_client = 0\nfailures_per_address = 0\n".into();
    })
    .await;
    let good = || client_claims("a", json!(ISSUER));
    let now = unix_now();
    let enc = |v: &Value| b64(v.to_string().as_bytes());

    let none = format!("{}.{}.", enc(&json!({"alg": "none"})), enc(&good()));
    expect_refused(&app, &form(&none, ""), "assertion_alg").await;
    // HS256 keyed with the client's public key (the classic key-confusion attack).
    let input = format!(
        "{}.{}",
        enc(&json!({"alg": "HS256", "kid": "mine"})),
        enc(&good())
    );
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.jwk.to_string().as_bytes()),
        input.as_bytes(),
    );
    expect_refused(
        &app,
        &form(&format!("{input}.{}", b64(mac.as_ref())), ""),
        "assertion_alg",
    )
    .await;
    // Another client's key, naming its own kid, then naming ours.
    expect_refused(&app, &form(&other.sign(&good()), ""), "unknown_key").await;
    let forged = other.sign_with_header(&json!({"alg": "ES256", "kid": "mine"}), &good());
    expect_refused(&app, &form(&forged, ""), "bad_signature").await;
    let mut c = good();
    c["aud"] = json!([ISSUER, "https://other.example"]);
    expect_refused(&app, &form(&key.sign(&c), ""), "wrong_audience").await;
    c["aud"] = json!("https://other.example");
    expect_refused(&app, &form(&key.sign(&c), ""), "wrong_audience").await;
    let mut c = good();
    c["exp"] = json!(now - 120);
    c["iat"] = json!(now - 180);
    expect_refused(&app, &form(&key.sign(&c), ""), "assertion_expired").await;
    let mut c = good();
    c["nbf"] = json!(now + 600);
    c["exp"] = json!(now + 900);
    expect_refused(&app, &form(&key.sign(&c), ""), "assertion_not_yet_valid").await;
    let mut c = good();
    c["exp"] = json!(now + 7200);
    expect_refused(&app, &form(&key.sign(&c), ""), "assertion_lifetime").await;
    let mut c = good();
    c.as_object_mut().unwrap().remove("jti");
    expect_refused(&app, &form(&key.sign(&c), ""), "missing_jti").await;
    let mut c = good();
    c["sub"] = json!("b");
    expect_refused(&app, &form(&key.sign(&c), ""), "wrong_subject").await;
    expect_refused(
        &app,
        &form(&key.sign(&good()), "&client_id=b"),
        "wrong_subject",
    )
    .await;
    let mut c = good();
    c["iss"] = json!("https://unknown.example");
    c["sub"] = json!("https://unknown.example");
    expect_refused(&app, &form(&key.sign(&c), ""), "unknown_issuer").await;
    let at = key.sign_with_header(
        &json!({"alg": "ES256", "typ": "at+jwt", "kid": "mine"}),
        &good(),
    );
    expect_refused(&app, &form(&at, ""), "assertion_typ").await;
    expect_refused(&app, &form("not.a.jws", ""), "malformed_assertion").await;

    // Replay: the same assertion twice.
    let once = key.sign(&good());
    assert_eq!(
        app.post_form("/oauth2/token", &form(&once, ""))
            .await
            .status(),
        200
    );
    expect_refused(&app, &form(&once, ""), "replayed").await;

    // Two methods at once, or half an assertion, are invalid_request.
    let res = app
        .http
        .post(app.url("/oauth2/token"))
        .header("Authorization", basic("a", "x"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&key.sign(&good()), ""))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = app
        .post_form(
            "/oauth2/token",
            &format!(
                "grant_type=client_credentials&client_assertion={}",
                key.sign(&good())
            ),
        )
        .await;
    assert_eq!(res.status(), 400);
    // An assertion type that is not jwt-bearer is invalid_client (RFC 7521 §4.2.1).
    let res = app
        .post_form(
            "/oauth2/token",
            &format!(
                "grant_type=client_credentials&client_assertion_type=urn:x&client_assertion={}",
                key.sign(&good())
            ),
        )
        .await;
    assert_eq!(res.status(), 401);
    // The server still serves: a good assertion after all of that.
    assert_eq!(
        app.post_form("/oauth2/token", &form(&key.sign(&good()), ""))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn strict_audience_accepts_only_the_issuer_identifier() {
    let key = ClientKey::new("EdDSA", Some("k"));
    let app = spawn_app_with(|cfg| {
        cfg.admin = true;
        cfg.clients = jwks_client("a", &[&key], "");
        cfg.extra = "[client_auth]\nstrict_audience = true\n".into();
    })
    .await;
    let endpoint = key.sign(&client_claims("a", json!(format!("{ISSUER}/oauth2/token"))));
    expect_refused(&app, &form(&endpoint, ""), "wrong_audience").await;
    let issuer = key.sign(&client_claims("a", json!([ISSUER])));
    assert_eq!(
        app.post_form("/oauth2/token", &form(&issuer, ""))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_jwks_file_is_read_with_the_config_and_a_changed_one_is_reloaded() {
    let old = ClientKey::new("ES256", Some("old"));
    let new = ClientKey::new("ES256", Some("new"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("client.jwks.json");
    std::fs::write(&file, json!({"keys": [old.jwk]}).to_string()).unwrap();
    let clients = format!(
        "[[clients]]\nid = \"filed\"\nauth_methods = [\"private_key_jwt\"]\njwks_file = {:?}\n",
        file.display().to_string()
    );
    let app = spawn_app_with(|cfg| cfg.clients = clients).await;
    let ok = app
        .post_form(
            "/oauth2/token",
            &form(&old.sign(&client_claims("filed", json!(ISSUER))), ""),
        )
        .await;
    assert_eq!(ok.status(), 200);
    let refused = app
        .post_form(
            "/oauth2/token",
            &form(&new.sign(&client_claims("filed", json!(ISSUER))), ""),
        )
        .await;
    assert_eq!(refused.status(), 401);
    std::fs::write(&file, json!({"keys": [new.jwk]}).to_string()).unwrap();
    let mut status = 0;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let assertion = new.sign(&client_claims("filed", json!(ISSUER)));
        status = app
            .post_form("/oauth2/token", &form(&assertion, ""))
            .await
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
    }
    assert_eq!(status, 200, "the new key is used once the file changed");
}

#[tokio::test]
async fn discovery_lists_private_key_jwt_and_the_assertion_algorithms() {
    let key = ClientKey::new("ES256", None);
    let app = spawn_app_with(|cfg| cfg.clients.push_str(&jwks_client("k", &[&key], ""))).await;
    let doc: Value = get_json(
        &app.http,
        &app.url("/.well-known/oauth-authorization-server"),
    )
    .await;
    let methods = doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.iter().any(|m| m == "private_key_jwt"), "{doc}");
    assert_eq!(
        doc["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256", "ES384", "EdDSA", "PS256", "RS256"])
    );
    let plain = spawn_app().await;
    let doc: Value = get_json(
        &plain.http,
        &plain.url("/.well-known/oauth-authorization-server"),
    )
    .await;
    assert!(doc
        .get("token_endpoint_auth_signing_alg_values_supported")
        .is_none());
}

#[tokio::test]
async fn introspection_accepts_a_client_assertion() {
    let key = ClientKey::new("ES256", Some("k"));
    let app = spawn_app_with(|cfg| {
        cfg.clients
            .push_str(&jwks_client("rs", &[&key], "grant_types = []"))
    })
    .await;
    let token = app.token("svc", "svc-secret", "").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let assertion = key.sign(&client_claims("rs", json!(ISSUER)));
    let res = app
        .post_form(
            "/oauth2/introspect",
            &format!(
                "token={token}&client_assertion_type={JWT_BEARER}&client_assertion={assertion}"
            ),
        )
        .await;
    assert_eq!(res.status(), 200);
    let json: Value = res.json().await.unwrap();
    assert_eq!(json["active"], true, "{json}");
}

/// A `[[trusted_issuers]]` entry with `keys` in a JWK Set file.
fn issuer_entry(
    dir: &std::path::Path,
    name: &str,
    iss: &str,
    keys: &[&ClientKey],
    extra: &str,
) -> String {
    let file = dir.join(format!("{name}.jwks.json"));
    let jwks: Vec<&Value> = keys.iter().map(|k| &k.jwk).collect();
    std::fs::write(&file, json!({"keys": jwks}).to_string()).unwrap();
    format!(
        "[[trusted_issuers]]\nname = \"{name}\"\nissuer = \"{iss}\"\njwks_file = {:?}\n{extra}\n",
        file.display().to_string()
    )
}

fn federated_client(id: &str, issuer: &str, subject: &str) -> String {
    format!("[[clients]]\nid = \"{id}\"\nauth_methods = [\"private_key_jwt\"]\nscopes = [\"ledger:write\"]\nfederated = {{ issuer = \"{issuer}\", subject = \"{subject}\" }}\n")
}

const K8S: &str = "https://kubernetes.default.svc.cluster.local";
const GITHUB: &str = "https://token.actions.githubusercontent.com";
const SPIFFE: &str = "https://spire.example.org";

/// A projected service-account token as the kube-apiserver issues it.
fn k8s_token(key: &ClientKey, ns: &str, name: &str, aud: &str) -> String {
    let now = unix_now();
    key.sign(&json!({
        "aud": [aud], "exp": now + 3600, "iat": now, "nbf": now, "iss": K8S,
        "jti": rand_jti(),
        "kubernetes.io": {"namespace": ns, "node": {"name": "node-1", "uid": "2d3f"},
            "pod": {"name": format!("{name}-5d8f"), "uid": "a1b2"},
            "serviceaccount": {"name": name, "uid": "c3d4"}},
        "sub": format!("system:serviceaccount:{ns}:{name}"),
    }))
}

#[tokio::test]
async fn workload_tokens_of_kubernetes_spiffe_and_github_authenticate_their_bound_client() {
    let k8s = ClientKey::new("RS256", Some("k8s-key"));
    let spire = ClientKey::new("ES256", Some("spire-key"));
    let gh = ClientKey::new("RS256", Some("gh-key"));
    let dir = tempfile::tempdir().unwrap();
    let mut extra = issuer_entry(dir.path(), "prod-cluster", K8S, &[&k8s], "");
    extra.push_str(&issuer_entry(
        dir.path(),
        "spire",
        SPIFFE,
        &[&spire],
        "audience = \"tokenmint\"",
    ));
    extra.push_str(&issuer_entry(
        dir.path(),
        "github",
        GITHUB,
        &[&gh],
        "max_token_lifetime = 3600",
    ));
    extra.push_str("[throttle]\nfailures_per_client = 0\nfailures_per_address = 0\n");
    let mut clients = federated_client(
        "billing",
        "prod-cluster",
        "system:serviceaccount:payments:billing",
    );
    clients.push_str(&federated_client(
        "spiffe-svc",
        "spire",
        "spiffe://example.org/ns/prod/sa/api",
    ));
    clients.push_str(&federated_client(
        "deployer",
        "github",
        "repo:acme/app:ref:refs/heads/main",
    ));
    let app = spawn_app_with(|cfg| {
        cfg.admin = true;
        cfg.extra = extra;
        cfg.clients = clients;
    })
    .await;

    let token = k8s_token(&k8s, "payments", "billing", ISSUER);
    // Platform tokens are reused until they expire: twice is fine.
    for _ in 0..2 {
        let res = app.post_form("/oauth2/token", &form(&token, "")).await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        let json: Value = res.json().await.unwrap();
        let claims = app
            .validate(json["access_token"].as_str().unwrap(), AUDIENCE)
            .await;
        assert_eq!(claims["sub"], "billing");
        assert_eq!(claims["client_id"], "billing");
        assert_eq!(
            claims["federated_sub"],
            "system:serviceaccount:payments:billing"
        );
        assert_eq!(claims["federated_iss"], K8S);
    }
    let now = unix_now();
    let svid = spire.sign(
        &json!({"sub": "spiffe://example.org/ns/prod/sa/api", "aud": ["tokenmint"],
        "exp": now + 300, "iat": now, "iss": SPIFFE}),
    );
    assert_eq!(
        app.post_form("/oauth2/token", &form(&svid, ""))
            .await
            .status(),
        200
    );
    let actions = gh.sign(&json!({"jti": rand_jti(), "sub": "repo:acme/app:ref:refs/heads/main",
        "aud": ISSUER, "ref": "refs/heads/main", "repository": "acme/app", "repository_owner": "acme",
        "event_name": "push", "iss": GITHUB, "nbf": now, "exp": now + 300, "iat": now}));
    let res = app.post_form("/oauth2/token", &form(&actions, "")).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // Another service account of the same cluster names no client.
    expect_refused(
        &app,
        &form(&k8s_token(&k8s, "payments", "intruder", ISSUER), ""),
        "unknown_client",
    )
    .await;
    // The cluster's token for another audience.
    expect_refused(
        &app,
        &form(&k8s_token(&k8s, "payments", "billing", "https://vault"), ""),
        "wrong_audience",
    )
    .await;
    // Signed by SPIRE's key but claiming the cluster: a kid known only to another issuer.
    let now = unix_now();
    let claims = json!({"aud": [ISSUER], "exp": now + 600, "iat": now, "iss": K8S,
        "sub": "system:serviceaccount:payments:billing"});
    expect_refused(&app, &form(&spire.sign(&claims), ""), "unknown_key").await;
    // GitHub's bound is 3600 s: a token valid for two hours is refused.
    let long = gh.sign(
        &json!({"sub": "repo:acme/app:ref:refs/heads/main", "aud": ISSUER,
        "iss": GITHUB, "exp": now + 7200, "iat": now}),
    );
    expect_refused(&app, &form(&long, ""), "assertion_lifetime").await;
    // A federated client cannot authenticate with an assertion it signs itself.
    let own = k8s.sign(&client_claims("billing", json!(ISSUER)));
    expect_refused(&app, &form(&own, ""), "unknown_key").await;
}

#[test]
fn check_config_names_bad_jwks_and_bindings() {
    let dir = tempfile::tempdir().unwrap();
    let small = json!({"kty": "RSA", "n": b64(&[0xc1; 128]), "e": "AQAB", "kid": "small"});
    let oct = json!({"kty": "oct", "k": "c2VjcmV0", "kid": "sym"});
    let x = b64(&[7; 32]);
    let file = dir.path().join("dup.jwks.json");
    std::fs::write(
        &file,
        json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "same"},
        {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "same"}]})
        .to_string(),
    )
    .unwrap();
    let config = format!(
        "issuer = \"https://as.example\"\n[[trusted_issuers]]\nname = \"c\"\nissuer = \"{K8S}\"\njwks_file = {:?}\n\
         [[clients]]\nid = \"rsa\"\nauth_methods = [\"private_key_jwt\"]\njwks = [{}]\n\
         [[clients]]\nid = \"sym\"\nauth_methods = [\"private_key_jwt\"]\njwks = [{}]\n\
         [[clients]]\nid = \"one\"\nauth_methods = [\"private_key_jwt\"]\nfederated = {{ issuer = \"c\", subject = \"s\" }}\n\
         [[clients]]\nid = \"two\"\nauth_methods = [\"private_key_jwt\"]\nfederated = {{ issuer = \"c\", subject = \"s\" }}\n",
        file.display().to_string(),
        toml_inline(&small),
        toml_inline(&oct),
    );
    let path = dir.path().join("tm.toml");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    for expected in [
        "trusted_issuers[0].jwks_file",
        "kids must be unique",
        "clients[0].jwks",
        "1024 bits",
        "clients[1].jwks",
        "symmetric",
        "clients[3].federated",
        "both bound to issuer",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[tokio::test]
async fn new_client_with_jwks_prints_a_block_that_authenticates_and_refuses_a_private_key() {
    let key = ClientKey::new("ES256", Some("laptop"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("client.jwks.json");
    std::fs::write(&file, json!({"keys": [key.jwk]}).to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"))
        .args([
            "new-client",
            "--id",
            "keyed",
            "--scopes",
            "reports:read",
            "--jwks",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let block = String::from_utf8(out.stdout).unwrap();
    assert!(
        block.starts_with("[[clients]]\n"),
        "no secret line: {block}"
    );
    assert!(!block.contains("secret"), "{block}");
    let app = spawn_app_with(|cfg| cfg.clients = block).await;
    let res = app
        .post_form(
            "/oauth2/token",
            &form(
                &key.sign(&client_claims("keyed", json!(ISSUER))),
                "&scope=reports:read",
            ),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    let mut private = key.jwk.clone();
    private["d"] = json!(b64(&[1; 32]));
    std::fs::write(&file, private.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"))
        .args(["new-client", "--id", "keyed", "--jwks"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("private key material"));
}
