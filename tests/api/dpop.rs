//! DPoP at the token endpoint (RFC 9449, docs/sender-constrained.md): a
//! valid proof binds the token (`cnf.jkt`, `token_type: DPoP`), and a
//! hostile table of proofs each gets its exact answer, never a 5xx.
//! Proofs are signed here with ring, from keys made at test time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::assertions::ClientKey;
use crate::helpers::*;

const TOKEN_URL: &str = "https://tokenmint.test/oauth2/token";

/// RFC 7638 thumbprint, computed here from the JWK alone.
fn jkt(jwk: &Value) -> String {
    let members: &[&str] = match jwk["kty"].as_str().unwrap() {
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => &["e", "kty", "n"],
    };
    let mut canonical = serde_json::Map::new();
    for m in members {
        canonical.insert((*m).to_string(), jwk[*m].clone());
    }
    // serde_json's map is sorted: the RFC 7638 member order.
    let text = serde_json::to_string(&canonical).unwrap();
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
}

fn jti() -> String {
    let mut b = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    URL_SAFE_NO_PAD.encode(b)
}

fn header(key: &ClientKey) -> Value {
    json!({"typ": "dpop+jwt", "alg": key.alg, "jwk": key.jwk})
}

fn claims(htu: &str) -> Value {
    json!({"jti": jti(), "htm": "POST", "htu": htu, "iat": unix_now()})
}

/// A valid proof for the token endpoint.
fn proof(key: &ClientKey) -> String {
    key.sign_with_header(&header(key), &claims(TOKEN_URL))
}

async fn post(
    app: &TestApp,
    path: &str,
    proofs: &[String],
    who: (&str, &str),
) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url(path))
        .header("Authorization", basic(who.0, who.1))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials");
    for p in proofs {
        req = req.header("DPoP", p.as_str());
    }
    req.send().await.unwrap()
}

const CLIENTS: &str = r#"
[[clients]]
id = "svc"
secret = "svc-secret"
scopes = ["reports:read"]

[[clients]]
id = "bound"
secret = "bound-secret"
scopes = ["reports:read"]
require_dpop = true
"#;

async fn app() -> TestApp {
    spawn_app_with(|cfg| cfg.clients = CLIENTS.into()).await
}

#[tokio::test]
async fn a_valid_proof_binds_the_token_to_its_key_with_every_algorithm() {
    let app = app().await;
    for alg in ["ES256", "ES384", "EdDSA", "PS256", "RS256"] {
        let key = ClientKey::new(alg, None);
        let res = post(&app, "/oauth2/token", &[proof(&key)], ("svc", "svc-secret")).await;
        assert_eq!(res.status(), 200, "{alg}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP", "{alg}: {body}");
        let token = body["access_token"].as_str().unwrap();
        let claims = app.validate(token, AUDIENCE).await;
        assert_eq!(claims["cnf"], json!({"jkt": jkt(&key.jwk)}), "{alg}");

        let res = app.introspect("svc", "svc-secret", token).await;
        let info: Value = res.json().await.unwrap();
        assert_eq!(info["active"], true);
        assert_eq!(info["token_type"], "DPoP");
        assert_eq!(info["cnf"]["jkt"], jkt(&key.jwk));
    }
    // Without a proof: a bearer token without cnf, as before.
    let body = app.token("svc", "svc-secret", "").await;
    assert_eq!(body["token_type"], "Bearer");
    let claims = app
        .validate(body["access_token"].as_str().unwrap(), AUDIENCE)
        .await;
    assert!(claims.get("cnf").is_none());
    let info: Value = app
        .introspect("svc", "svc-secret", body["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["token_type"], "Bearer");
}

#[tokio::test]
async fn discovery_lists_the_proof_algorithms() {
    let app = app().await;
    let doc: Value = get_json(
        &app.http,
        &app.url("/.well-known/oauth-authorization-server"),
    )
    .await;
    assert_eq!(
        doc["dpop_signing_alg_values_supported"],
        json!(["ES256", "ES384", "EdDSA", "PS256", "RS256"])
    );
}

/// One hostile case: the proofs sent (raw header values), the path, and
/// the answer expected.
struct Case {
    name: &'static str,
    proofs: Vec<String>,
    path: &'static str,
    status: u16,
    error: &'static str,
}

fn case(name: &'static str, proofs: Vec<String>, status: u16, error: &'static str) -> Case {
    Case {
        name,
        proofs,
        path: "/oauth2/token",
        status,
        error,
    }
}

fn b64json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[allow(clippy::vec_init_then_push)]
fn hostile_cases() -> Vec<Case> {
    const BAD: &str = "invalid_dpop_proof";
    let es = ClientKey::new("ES256", None);
    let ed = ClientKey::new("EdDSA", None);
    let other = ClientKey::new("ES256", None);
    let now = unix_now();
    let with = |edit: &dyn Fn(&mut Value, &mut Value)| {
        let (mut h, mut c) = (header(&es), claims(TOKEN_URL));
        edit(&mut h, &mut c);
        es.sign_with_header(&h, &c)
    };
    let unsigned = |h: Value, c: Value| format!("{}.{}.", b64json(&h), b64json(&c));
    let mut private_jwk = es.jwk.clone();
    private_jwk["d"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]));
    let mut flipped = proof(&es).into_bytes();
    let at = flipped.len() - 5;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    let replayed = proof(&es);
    let small_n = URL_SAFE_NO_PAD.encode([0xc1u8; 128]);

    let mut cases = Vec::new();
    cases.push(case("valid ES256", vec![proof(&es)], 200, ""));
    cases.push(case("valid EdDSA", vec![proof(&ed)], 200, ""));
    cases.push(case(
        "alg none",
        vec![unsigned(
            json!({"typ": "dpop+jwt", "alg": "none", "jwk": es.jwk}),
            claims(TOKEN_URL),
        )],
        400,
        BAD,
    ));
    cases.push(case("HS256", vec![{
        let input = format!("{}.{}", b64json(&json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}})), b64json(&claims(TOKEN_URL)));
        let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"secret"), input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }], 400, BAD));
    cases.push(case(
        "HS256 header with an EC jwk",
        vec![with(&|h, _| h["alg"] = json!("HS256"))],
        400,
        BAD,
    ));
    cases.push(case(
        "a jwk with d",
        vec![with(&|h, _| h["jwk"] = private_jwk.clone())],
        400,
        BAD,
    ));
    cases.push(case(
        "alg EdDSA with an EC key",
        vec![with(&|h, _| h["alg"] = json!("EdDSA"))],
        400,
        BAD,
    ));
    cases.push(case(
        "alg ES384 with a P-256 key",
        vec![with(&|h, _| h["alg"] = json!("ES384"))],
        400,
        BAD,
    ));
    cases.push(case(
        "no typ",
        vec![with(&|h, _| {
            h.as_object_mut().unwrap().remove("typ");
        })],
        400,
        BAD,
    ));
    cases.push(case(
        "typ JWT",
        vec![with(&|h, _| h["typ"] = json!("JWT"))],
        400,
        BAD,
    ));
    cases.push(case(
        "typ at+jwt",
        vec![with(&|h, _| h["typ"] = json!("at+jwt"))],
        400,
        BAD,
    ));
    cases.push(case(
        "no jwk",
        vec![with(&|h, _| {
            h.as_object_mut().unwrap().remove("jwk");
        })],
        400,
        BAD,
    ));
    cases.push(case(
        "jwk is a string",
        vec![with(&|h, _| h["jwk"] = json!("key"))],
        400,
        BAD,
    ));
    cases.push(case(
        "an RSA jwk of 1024 bits",
        vec![with(&|h, _| {
            h["jwk"] = json!({"kty": "RSA", "n": small_n, "e": "AQAB"})
        })],
        400,
        BAD,
    ));
    cases.push(case(
        "crit in the header",
        vec![with(&|h, _| h["crit"] = json!(["exp"]))],
        400,
        BAD,
    ));
    cases.push(case(
        "htm GET",
        vec![with(&|_, c| c["htm"] = json!("GET"))],
        400,
        BAD,
    ));
    cases.push(case(
        "htm post (case)",
        vec![with(&|_, c| c["htm"] = json!("post"))],
        400,
        BAD,
    ));
    cases.push(case(
        "no htm",
        vec![with(&|_, c| {
            c.as_object_mut().unwrap().remove("htm");
        })],
        400,
        BAD,
    ));
    cases.push(case(
        "htu of another host",
        vec![with(&|_, c| {
            c["htu"] = json!("https://evil.test/oauth2/token")
        })],
        400,
        BAD,
    ));
    cases.push(case(
        "htu of another path",
        vec![with(&|_, c| {
            c["htu"] = json!("https://tokenmint.test/oauth2/introspect")
        })],
        400,
        BAD,
    ));
    cases.push(case(
        "htu of the alias path",
        vec![with(&|_, c| {
            c["htu"] = json!("https://tokenmint.test/token")
        })],
        400,
        BAD,
    ));
    cases.push(case(
        "htu with a trailing slash",
        vec![with(&|_, c| {
            c["htu"] = json!("https://tokenmint.test/oauth2/token/")
        })],
        400,
        BAD,
    ));
    cases.push(case(
        "htu over http",
        vec![with(&|_, c| {
            c["htu"] = json!("http://tokenmint.test/oauth2/token")
        })],
        400,
        BAD,
    ));
    cases.push(case(
        "htu on another port",
        vec![with(&|_, c| {
            c["htu"] = json!("https://tokenmint.test:8443/oauth2/token")
        })],
        400,
        BAD,
    ));
    cases.push(case(
        "htu relative",
        vec![with(&|_, c| c["htu"] = json!("/oauth2/token"))],
        400,
        BAD,
    ));
    cases.push(case(
        "htu a number",
        vec![with(&|_, c| c["htu"] = json!(7))],
        400,
        BAD,
    ));
    cases.push(case(
        "htu with a query (ignored)",
        vec![with(&|_, c| {
            c["htu"] = json!("https://tokenmint.test/oauth2/token?a=b")
        })],
        200,
        "",
    ));
    cases.push(case(
        "htu with a fragment (ignored)",
        vec![with(&|_, c| {
            c["htu"] = json!("https://tokenmint.test/oauth2/token#x")
        })],
        200,
        "",
    ));
    cases.push(case(
        "htu in upper case, :443, %74",
        vec![with(&|_, c| {
            c["htu"] = json!("HTTPS://TOKENMINT.TEST:443/oauth2/%74oken")
        })],
        200,
        "",
    ));
    cases.push(case(
        "iat 10 minutes old",
        vec![with(&|_, c| c["iat"] = json!(now - 600))],
        400,
        BAD,
    ));
    cases.push(case(
        "iat 61 s old",
        vec![with(&|_, c| c["iat"] = json!(now - 62))],
        400,
        BAD,
    ));
    cases.push(case(
        "iat a minute ahead",
        vec![with(&|_, c| c["iat"] = json!(now + 60))],
        400,
        BAD,
    ));
    cases.push(case(
        "iat 3 s ahead (leeway)",
        vec![with(&|_, c| c["iat"] = json!(now + 3))],
        200,
        "",
    ));
    cases.push(case(
        "no iat",
        vec![with(&|_, c| {
            c.as_object_mut().unwrap().remove("iat");
        })],
        400,
        BAD,
    ));
    cases.push(case(
        "iat a string",
        vec![with(&|_, c| c["iat"] = json!("now"))],
        400,
        BAD,
    ));
    cases.push(case(
        "no jti",
        vec![with(&|_, c| {
            c.as_object_mut().unwrap().remove("jti");
        })],
        400,
        BAD,
    ));
    cases.push(case(
        "empty jti",
        vec![with(&|_, c| c["jti"] = json!(""))],
        400,
        BAD,
    ));
    cases.push(case(
        "jti of 300 characters",
        vec![with(&|_, c| c["jti"] = json!("j".repeat(300)))],
        400,
        BAD,
    ));
    cases.push(case(
        "nonce a number",
        vec![with(&|_, c| c["nonce"] = json!(1))],
        400,
        BAD,
    ));
    cases.push(case(
        "first use of a proof",
        vec![replayed.clone()],
        200,
        "",
    ));
    cases.push(case("the same proof again", vec![replayed], 400, BAD));
    cases.push(case(
        "two DPoP headers",
        vec![proof(&es), proof(&ed)],
        400,
        BAD,
    ));
    cases.push(case("not a JWS", vec!["not-a-jws".into()], 400, BAD));
    cases.push(case(
        "two parts",
        vec![format!(
            "{}.{}",
            b64json(&header(&es)),
            b64json(&claims(TOKEN_URL))
        )],
        400,
        BAD,
    ));
    cases.push(case(
        "four parts",
        vec![format!("{}.x", proof(&es))],
        400,
        BAD,
    ));
    cases.push(case(
        "a header that is not JSON",
        vec![format!(
            "{}.{}.AAAA",
            URL_SAFE_NO_PAD.encode("{"),
            b64json(&claims(TOKEN_URL))
        )],
        400,
        BAD,
    ));
    cases.push(case("an empty header value", vec![String::new()], 400, BAD));
    cases.push(case(
        "a 9 KB proof",
        vec![with(&|_, c| c["pad"] = json!("p".repeat(9000)))],
        400,
        BAD,
    ));
    cases.push(case(
        "a bad signature",
        vec![String::from_utf8(flipped).unwrap()],
        400,
        BAD,
    ));
    cases.push(case(
        "signed by a key other than its jwk",
        vec![other.sign_with_header(&header(&es), &claims(TOKEN_URL))],
        400,
        BAD,
    ));
    cases.push(case(
        "an unsigned payload that is not JSON",
        vec![format!(
            "{}.{}.",
            b64json(&header(&es)),
            URL_SAFE_NO_PAD.encode("x")
        )],
        400,
        BAD,
    ));
    cases.push(Case {
        name: "a proof for /token at /token",
        proofs: vec![with(&|_, c| {
            c["htu"] = json!("https://tokenmint.test/token")
        })],
        path: "/token",
        status: 200,
        error: "",
    });
    cases
}

#[tokio::test]
async fn hostile_proofs_each_get_their_exact_answer() {
    let app = app().await;
    let cases = hostile_cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for c in cases {
        let res = post(&app, c.path, &c.proofs, ("svc", "svc-secret")).await;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(status, c.status, "{}: {body}", c.name);
        if c.status == 200 {
            assert_eq!(body["token_type"], "DPoP", "{}", c.name);
        } else {
            assert_eq!(body["error"], c.error, "{}: {body}", c.name);
            let text = body["error_description"].as_str().unwrap_or("");
            assert!(text.len() <= 200 && !text.is_empty(), "{}: {body}", c.name);
        }
    }
}

#[tokio::test]
async fn client_authentication_comes_first_and_a_client_may_require_proofs() {
    let app = app().await;
    let key = ClientKey::new("ES256", None);
    // A wrong secret with a broken proof: the client's failure is reported.
    let res = post(&app, "/oauth2/token", &["junk".into()], ("svc", "wrong")).await;
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    // require_dpop: no proof, 400; with one, a DPoP token.
    let res = post(&app, "/oauth2/token", &[], ("bound", "bound-secret")).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof");
    let res = post(
        &app,
        "/oauth2/token",
        &[proof(&key)],
        ("bound", "bound-secret"),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    // The same jti under another key is another proof.
    let shared_jti = jti();
    for key in [&key, &ClientKey::new("ES256", None)] {
        let mut c = claims(TOKEN_URL);
        c["jti"] = json!(shared_jti);
        let p = key.sign_with_header(&header(key), &c);
        let res = post(&app, "/oauth2/token", &[p], ("svc", "svc-secret")).await;
        assert_eq!(res.status(), 200);
    }
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"tokenmint_token_requests_total{client_id="bound",result="invalid_dpop_proof"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn nonces_are_required_issued_and_checked_statelessly() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("nonce.key");
    std::fs::write(&secret, [9u8; 32]).unwrap();
    let extra = format!(
        "[dpop]\nrequire_nonce = true\nnonce_secret_file = \"{}\"\n",
        secret.display()
    );
    let spawn = |extra: String| {
        spawn_app_with(move |cfg| {
            cfg.clients = CLIENTS.into();
            cfg.extra = extra;
        })
    };
    let a = spawn(extra.clone()).await;
    let b = spawn(extra).await;
    let key = ClientKey::new("ES256", None);
    // No nonce: 400 use_dpop_nonce with a fresh one.
    let res = post(&a, "/oauth2/token", &[proof(&key)], ("svc", "svc-secret")).await;
    assert_eq!(res.status(), 400);
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_string();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "use_dpop_nonce");
    // That nonce works on the other replica (same secret file), and every
    // token response carries a current nonce.
    let mut c = claims(TOKEN_URL);
    c["nonce"] = json!(nonce);
    let res = post(
        &b,
        "/oauth2/token",
        &[key.sign_with_header(&header(&key), &c)],
        ("svc", "svc-secret"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("dpop-nonce"));
    // A forged and a stale nonce are answered with a fresh one.
    let stale = {
        let step = (unix_now() / 60 - 5).to_be_bytes();
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[9u8; 32]),
            &[b"tokenmint dpop nonce\0".as_slice(), &step].concat(),
        );
        URL_SAFE_NO_PAD.encode([step.as_slice(), &tag.as_ref()[..16]].concat())
    };
    for bad in ["forged-nonce-forged-nonce-forged".to_string(), stale] {
        let mut c = claims(TOKEN_URL);
        c["nonce"] = json!(bad);
        let res = post(
            &a,
            "/oauth2/token",
            &[key.sign_with_header(&header(&key), &c)],
            ("svc", "svc-secret"),
        )
        .await;
        assert_eq!(res.status(), 400, "{bad}");
        assert!(res.headers().contains_key("dpop-nonce"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "use_dpop_nonce");
    }
}
