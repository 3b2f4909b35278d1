//! Mutual TLS (RFC 8705, docs/sender-constrained.md): `tls_client_auth`
//! with each kind of subject, `self_signed_tls_client_auth`,
//! `certificate_bound`, `cnf.x5t#S256`, the RFC 9440 `Client-Cert` header
//! from trusted proxies only, and a hostile table of certificates. Every
//! certificate is made here, at test time, with rcgen.

use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rcgen::{CertificateParams, CertifiedIssuer, DnType, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};

use crate::helpers::*;

/// A client certificate and its key.
struct Cert {
    der: CertificateDer<'static>,
    key: KeyPair,
}

impl Cert {
    fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &self.der))
    }

    /// The RFC 9440 `Client-Cert` value.
    fn header(&self) -> String {
        format!(":{}:", STANDARD.encode(&self.der))
    }

    /// The public key as a JWK (P-256).
    fn jwk(&self) -> Value {
        let point = self.key.public_key_raw();
        json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])})
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate for CN=`cn`,O=Example with every kind of SAN, issued by
/// `issuer` (self-signed without one), valid now unless `expired`.
fn client_cert(
    cn: &str,
    issuer: Option<&CertifiedIssuer<'static, KeyPair>>,
    expired: bool,
) -> Cert {
    let mut params =
        CertificateParams::new(vec![format!("{cn}.example"), "10.1.2.3".into()]).unwrap();
    // In certificate order: O, then CN ("CN=…,O=Example" in RFC 4514).
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Example");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.subject_alt_names.push(SanType::URI(
        format!("spiffe://example.org/{cn}").try_into().unwrap(),
    ));
    params.subject_alt_names.push(SanType::Rfc822Name(
        format!("{cn}@example.com").try_into().unwrap(),
    ));
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = match issuer {
        Some(ca) => params.signed_by(&key, ca).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    Cert {
        der: cert.der().clone(),
        key,
    }
}

/// A client over TLS trusting `server_ca`, presenting `cert` if given.
fn client(server_ca: &[u8], cert: Option<&Cert>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for c in CertificateDer::pem_slice_iter(server_ca) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match cert {
        Some(c) => builder
            .with_client_auth_cert(
                vec![c.der.clone()],
                PrivateKeyDer::Pkcs8(c.key.serialize_der().into()),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .unwrap()
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &str,
    basic_auth: Option<(&str, &str)>,
    extra: &[(&str, String)],
) -> (u16, Value) {
    let mut req = http
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some((id, secret)) = basic_auth {
        req = req.header("Authorization", basic(id, secret));
    }
    for (name, value) in extra {
        req = req.header(*name, value.as_str());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn form(id: &str) -> String {
    format!("grant_type=client_credentials&client_id={id}")
}

fn cnf(token: &Value) -> Value {
    segment(token["access_token"].as_str().unwrap(), 1)["cnf"].clone()
}

struct Setup {
    _dir: tempfile::TempDir,
    ca_file: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
    selfsigned: Cert,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let issuer = ca("tokenmint test-only client CA");
    let ca_file = dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, issuer.pem()).unwrap();
    Setup {
        ca_file: ca_file.display().to_string(),
        _dir: dir,
        issuer,
        selfsigned: client_cert("selfsigned", None, false),
    }
}

fn clients(s: &Setup) -> String {
    let jwk = s.selfsigned.jwk();
    format!(
        r#"
[[clients]]
id = "inventory"
auth_methods = ["tls_client_auth"]
tls_client_auth_subject_dn = "CN=inventory,O=Example"
scopes = ["stock:read"]

[[clients]]
id = "by-dns"
auth_methods = ["tls_client_auth"]
tls_client_auth_san_dns = "inventory.example"

[[clients]]
id = "by-uri"
auth_methods = ["tls_client_auth"]
tls_client_auth_san_uri = "spiffe://example.org/inventory"

[[clients]]
id = "by-ip"
auth_methods = ["tls_client_auth"]
tls_client_auth_san_ip = "10.1.2.3"

[[clients]]
id = "by-email"
auth_methods = ["tls_client_auth"]
tls_client_auth_san_email = "inventory@example.com"

[[clients]]
id = "selfsigned"
auth_methods = ["self_signed_tls_client_auth"]
jwks = [{{ kty = "EC", crv = "P-256", x = {x}, y = {y} }}]

[[clients]]
id = "bound"
secret = "bound-secret"
certificate_bound = true

[[clients]]
id = "svc"
secret = "svc-secret"
"#,
        x = jwk["x"],
        y = jwk["y"]
    )
}

#[tokio::test]
async fn certificates_authenticate_and_bind_tokens_over_tls() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let server = private_ca(dir.path());
    let (ca_file, clients) = (s.ca_file.clone(), clients(&s));
    let app = spawn_app_with(|c| {
        c.tls = Some((server.cert.clone(), server.key.clone()));
        c.clients = clients;
        c.extra = format!("[mtls]\nca_file = \"{ca_file}\"\n");
    })
    .await;
    let url = app.url("/oauth2/token");
    let ca_pem = server.ca_pem.as_bytes();
    let inventory = client_cert("inventory", Some(&s.issuer), false);
    let billing = client_cert("billing", Some(&s.issuer), false);
    let foreign = client_cert("inventory", Some(&ca("another CA")), false);
    let expired = client_cert("inventory", Some(&s.issuer), true);
    let with = |cert: Option<&Cert>| client(ca_pem, cert);

    // (certificate, client id, status)
    let table: Vec<(&str, Option<&Cert>, &str, u16)> = vec![
        ("its certificate, by DN", Some(&inventory), "inventory", 200),
        ("by SAN dNSName", Some(&inventory), "by-dns", 200),
        ("by SAN URI", Some(&inventory), "by-uri", 200),
        ("by SAN iPAddress", Some(&inventory), "by-ip", 200),
        ("by SAN rfc822Name", Some(&inventory), "by-email", 200),
        (
            "self-signed, its key",
            Some(&s.selfsigned),
            "selfsigned",
            200,
        ),
        ("no certificate", None, "inventory", 401),
        (
            "no certificate, self-signed client",
            None,
            "selfsigned",
            401,
        ),
        ("another client's subject", Some(&billing), "inventory", 401),
        ("another client's SAN", Some(&billing), "by-dns", 401),
        (
            "the right DN from another CA",
            Some(&foreign),
            "inventory",
            401,
        ),
        ("an expired certificate", Some(&expired), "inventory", 401),
        (
            "a self-signed certificate for a CA client",
            Some(&s.selfsigned),
            "inventory",
            401,
        ),
        (
            "a CA certificate for a self-signed client",
            Some(&inventory),
            "selfsigned",
            401,
        ),
        (
            "a certificate for an unknown client",
            Some(&inventory),
            "nobody",
            401,
        ),
        (
            "a certificate for a secret client",
            Some(&inventory),
            "svc",
            401,
        ),
    ];
    for (name, cert, id, status) in table {
        let (got, body) = post(&with(cert), &url, &form(id), None, &[]).await;
        assert_eq!(got, status, "{name}: {body}");
        if status == 200 {
            let der = &cert.unwrap().der;
            let x5t = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, der));
            assert_eq!(cnf(&body), json!({"x5t#S256": x5t}), "{name}");
            assert_eq!(body["token_type"], "Bearer", "{name}");
        } else {
            assert_eq!(body["error"], "invalid_client", "{name}: {body}");
        }
    }
    let metrics = with(None)
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for reason in ["no_certificate", "certificate_mismatch"] {
        assert!(
            metrics.contains(&format!(
                "tokenmint_auth_failures_total{{reason=\"{reason}\"}}"
            )),
            "{reason}"
        );
    }

    // certificate_bound: a secret client's token is bound to the
    // connection's certificate, and without one there is no token.
    let (status, body) = post(
        &with(Some(&inventory)),
        &url,
        "grant_type=client_credentials",
        Some(("bound", "bound-secret")),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cnf(&body), json!({"x5t#S256": inventory.x5t()}));
    // Without a certificate: answered as a wrong secret is (401 with the
    // Basic challenge, after the same delay), so it does not tell the
    // secret was right.
    for secret in ["bound-secret", "wrong-secret"] {
        let res = with(None)
            .post(&url)
            .header("Authorization", basic("bound", secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{secret}");
        assert!(res.headers().contains_key("www-authenticate"), "{secret}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["error_description"], "client authentication failed",
            "{secret}"
        );
    }
    // A secret client that is not bound gets a bearer token, certificate or not.
    let (status, body) = post(
        &with(Some(&inventory)),
        &url,
        "grant_type=client_credentials",
        Some(("svc", "svc-secret")),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert!(cnf(&body).is_null());

    // Introspection shows the binding; discovery the methods.
    let token = {
        let (_, body) = post(&with(Some(&inventory)), &url, &form("inventory"), None, &[]).await;
        body["access_token"].as_str().unwrap().to_string()
    };
    let info: Value = with(None)
        .post(app.url("/oauth2/introspect"))
        .header("Authorization", basic("svc", "svc-secret"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["cnf"]["x5t#S256"], inventory.x5t());
    assert_eq!(info["token_type"], "Bearer");
    let doc: Value = with(None)
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true);
    // With a DPoP proof as well, cnf holds both bindings.
    let key = crate::assertions::ClientKey::new("ES256", None);
    let proof = key.sign_with_header(
        &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}),
        &json!({"jti": "both-1", "htm": "POST", "htu": format!("{ISSUER}/oauth2/token"), "iat": unix_now()}),
    );
    let (status, body) = post(
        &with(Some(&s.selfsigned)),
        &url,
        &form("selfsigned"),
        None,
        &[("DPoP", proof)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let both = cnf(&body);
    assert_eq!(both["x5t#S256"], s.selfsigned.x5t());
    assert!(both["jkt"].is_string(), "{both}");
    let methods = doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("tls_client_auth")));
    assert!(methods.contains(&json!("self_signed_tls_client_auth")));
}

#[tokio::test]
async fn the_client_cert_header_is_believed_from_trusted_proxies_only() {
    let s = setup();
    let spawn = |proxies: &str| {
        let (ca_file, clients, proxies) = (s.ca_file.clone(), clients(&s), proxies.to_string());
        spawn_app_with(move |c| {
            c.clients = clients;
            c.extra = format!("[mtls]\nca_file = \"{ca_file}\"\ntrusted_proxies = [{proxies}]\n");
        })
    };
    let trusting = spawn("\"127.0.0.1\"").await;
    let untrusting = spawn("\"10.0.0.0/8\"").await;
    let inventory = client_cert("inventory", Some(&s.issuer), false);
    let foreign = client_cert("inventory", Some(&ca("another CA")), false);
    let http = http_client(None);
    let header = |cert: &Cert| vec![("Client-Cert", cert.header())];

    let url = trusting.url("/oauth2/token");
    let (status, body) = post(&http, &url, &form("inventory"), None, &header(&inventory)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cnf(&body), json!({"x5t#S256": inventory.x5t()}));
    let (status, body) = post(
        &http,
        &url,
        &form("selfsigned"),
        None,
        &header(&s.selfsigned),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Without padding, and with parameters (RFC 8941 §4.2.7, §3.1.2).
    let unpadded = format!(
        ":{}:",
        STANDARD.encode(&inventory.der).trim_end_matches('=')
    );
    let with_parameters = format!("{};x=1", inventory.header());
    for value in [unpadded, with_parameters] {
        let (status, body) = post(
            &http,
            &url,
            &form("inventory"),
            None,
            &[("Client-Cert", value.clone())],
        )
        .await;
        assert_eq!(status, 200, "{value}: {body}");
    }
    // Chain-checked like a handshake certificate.
    let (status, _) = post(&http, &url, &form("inventory"), None, &header(&foreign)).await;
    assert_eq!(status, 401);
    for bad in [
        "not-a-byte-sequence".to_string(),
        ":not base64!:".into(),
        format!(":{}:", STANDARD.encode(b"not a certificate")),
        "::".into(),
    ] {
        let (status, body) = post(
            &http,
            &url,
            &form("inventory"),
            None,
            &[("Client-Cert", bad.clone())],
        )
        .await;
        assert_eq!(status, 401, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_client");
    }
    // A trusted proxy's own handshake certificate is never its client's:
    // with the header, the header counts; without it, no certificate.
    let dir = tempfile::tempdir().unwrap();
    let server = private_ca(dir.path());
    let (ca_file, clients) = (s.ca_file.clone(), clients(&s));
    let proxied = spawn_app_with(|c| {
        c.tls = Some((server.cert.clone(), server.key.clone()));
        c.clients = clients;
        c.extra = format!("[mtls]\nca_file = \"{ca_file}\"\ntrusted_proxies = [\"127.0.0.1\"]\n");
    })
    .await;
    let proxy = client(server.ca_pem.as_bytes(), Some(&foreign));
    let purl = proxied.url("/oauth2/token");
    let (status, body) = post(&proxy, &purl, &form("inventory"), None, &header(&inventory)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cnf(&body), json!({"x5t#S256": inventory.x5t()}));
    let (status, _) = post(
        &proxy,
        &purl,
        "grant_type=client_credentials",
        Some(("bound", "bound-secret")),
        &[],
    )
    .await;
    assert_eq!(status, 401, "the proxy's certificate does not bind a token");

    let metrics = trusting.admin_get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tokenmint_auth_failures_total{reason="bad_client_cert_header"} 4"#),
        "{metrics}"
    );

    // From a peer that is not a trusted proxy the header is ignored, and counted.
    let url = untrusting.url("/oauth2/token");
    let (status, body) = post(&http, &url, &form("inventory"), None, &header(&inventory)).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = post(
        &http,
        &url,
        "grant_type=client_credentials",
        Some(("svc", "svc-secret")),
        &header(&inventory),
    )
    .await;
    assert_eq!(status, 200, "a secret client is unaffected: {body}");
    assert!(cnf(&body).is_null());
    let metrics = untrusting.admin_get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .contains(r#"tokenmint_auth_failures_total{reason="untrusted_client_cert_header"} 2"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn mtls_settings_that_cannot_work_are_refused_with_the_fix() {
    let s = setup();
    let cases = [
        // tls_client_auth without a CA file, and no way for a certificate to arrive.
        ("[[clients]]\nid = \"a\"\nauth_methods = [\"tls_client_auth\"]\ntls_client_auth_san_dns = \"a.example\"\n".to_string(), "", vec!["mtls.ca_file", "mtls.trusted_proxies"]),
        // Two subject fields.
        ("[[clients]]\nid = \"a\"\nauth_methods = [\"tls_client_auth\"]\ntls_client_auth_san_dns = \"a.example\"\ntls_client_auth_subject_dn = \"CN=a\"\n".into(), "trusted_proxies = [\"10.0.0.1\"]\n", vec!["clients[0].tls_client_auth_san_dns", "exactly one"]),
        // No subject.
        ("[[clients]]\nid = \"a\"\nauth_methods = [\"tls_client_auth\"]\n".into(), "trusted_proxies = [\"10.0.0.1\"]\n", vec!["clients[0].tls_client_auth_subject_dn"]),
        // A DN that does not parse.
        ("[[clients]]\nid = \"a\"\nauth_methods = [\"tls_client_auth\"]\ntls_client_auth_subject_dn = \"FOO=bar\"\n".into(), "trusted_proxies = [\"10.0.0.1\"]\n", vec!["clients[0].tls_client_auth_subject_dn"]),
        // A subject without the method.
        ("[[clients]]\nid = \"a\"\nsecret = \"s\"\ntls_client_auth_san_dns = \"a.example\"\n".into(), "", vec!["clients[0].tls_client_auth_san_dns"]),
        // Self-signed without keys.
        ("[[clients]]\nid = \"a\"\nauth_methods = [\"self_signed_tls_client_auth\"]\n".into(), "trusted_proxies = [\"10.0.0.1\"]\n", vec!["clients[0].jwks"]),
    ];
    for (clients, mtls, keys) in cases {
        let ca_file = s.ca_file.clone();
        let with_ca = !keys.contains(&"mtls.ca_file");
        let err = try_spawn_app_with(move |c| {
            c.clients = clients;
            c.extra = if with_ca {
                format!("[mtls]\nca_file = \"{ca_file}\"\n{mtls}")
            } else {
                format!("[mtls]\n{mtls}")
            };
        })
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
        for key in keys {
            assert!(err.contains(key), "{key}: {err}");
        }
    }
}

#[tokio::test]
async fn the_client_ca_and_the_nonce_secret_are_reloaded_like_the_other_files() {
    let s = setup();
    let secret = s._dir.path().join("nonce.key");
    std::fs::write(&secret, [1u8; 32]).unwrap();
    let (ca_file, clients, secret_path) = (s.ca_file.clone(), clients(&s), secret.clone());
    let app = spawn_app_with(move |c| {
        c.clients = clients;
        c.extra = format!(
            "[mtls]\nca_file = \"{ca_file}\"\ntrusted_proxies = [\"127.0.0.1\"]\n[dpop]\nrequire_nonce = true\nnonce_secret_file = \"{}\"\n",
            secret_path.display()
        );
    })
    .await;
    let http = http_client(None);
    let url = app.url("/oauth2/token");
    // A certificate from a CA not (yet) in ca_file.
    let next_ca = ca("tokenmint test-only next client CA");
    let inventory = client_cert("inventory", Some(&next_ca), false);
    let status = |cert: &Cert| {
        let (http, url, value) = (http.clone(), url.clone(), cert.header());
        async move {
            post(
                &http,
                &url,
                &form("inventory"),
                None,
                &[("Client-Cert", value)],
            )
            .await
            .0
        }
    };
    assert_eq!(status(&inventory).await, 401);
    std::fs::write(&s.ca_file, next_ca.pem()).unwrap();
    let start = std::time::Instant::now();
    while status(&inventory).await != 200 {
        assert!(
            start.elapsed().as_secs() < 3,
            "the new CA file was not applied within 3 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The certificates of the old CA are refused from then on.
    let old = client_cert("inventory", Some(&s.issuer), false);
    assert_eq!(status(&old).await, 401);

    // A nonce made under the old secret stops working once the file changes.
    let key = crate::assertions::ClientKey::new("ES256", None);
    let proof = |nonce: Option<&str>| {
        let mut claims = json!({"jti": format!("j{}", rand_u64()), "htm": "POST", "htu": format!("{ISSUER}/oauth2/token"), "iat": unix_now()});
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        key.sign_with_header(
            &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}),
            &claims,
        )
    };
    let dpop = |p: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let res = http
                .post(&url)
                .header("Authorization", basic("svc", "svc-secret"))
                .header("DPoP", p)
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            let nonce = res
                .headers()
                .get("dpop-nonce")
                .map(|v| v.to_str().unwrap().to_string());
            (res.status().as_u16(), nonce)
        }
    };
    let (status_code, nonce) = dpop(proof(None)).await;
    assert_eq!(status_code, 400);
    let nonce = nonce.unwrap();
    assert_eq!(dpop(proof(Some(&nonce))).await.0, 200);
    std::fs::write(&secret, [2u8; 32]).unwrap();
    let start = std::time::Instant::now();
    while dpop(proof(Some(&nonce))).await.0 != 400 {
        assert!(
            start.elapsed().as_secs() < 3,
            "the new nonce secret was not applied within 3 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    u64::from_le_bytes(b)
}
