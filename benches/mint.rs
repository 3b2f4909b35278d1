//! What a token costs next to its signature: ring's raw signature over a
//! signing input of a real token's length, `token::mint` (claims + base64 +
//! the same signature), and jsonwebtoken's `encode`, which re-parses the
//! PKCS#8 key on every call (the trap STYLE.md measures). Run with
//! `cargo bench --bench mint`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokenmint::clients::Client;
use tokenmint::config::{AuthMethod, ClientSettings};
use tokenmint::keys::{generate_pem, parse_key};
use tokenmint::token::{mint, unix_now, TokenClaims};

fn client() -> Client {
    Client::new(ClientSettings {
        id: "reporting-service".into(),
        secrets: vec![],
        client_credentials: true,
        scopes: vec!["reports:read".into(), "reports:write".into()],
        default_scopes: vec!["reports:read".into()],
        audience: vec!["https://api.example.com".into()],
        token_ttl: 3600,
        auth_methods: vec![AuthMethod::ClientSecretBasic],
        claims: Default::default(),
    })
}

fn bench(c: &mut Criterion) {
    tokenmint::crypto::install_jwt_provider();
    let client = client();
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let name = tokenmint::keys::alg_name(alg);
        let pem = generate_pem(alg).unwrap();
        let key = parse_key(&pem, Path::new("bench.pem")).unwrap();
        let claims = TokenClaims {
            issuer_json: "\"https://auth.example.com\"",
            client: &client,
            aud_json: &client.default_aud_json,
            scope: "reports:read",
            now: unix_now(),
            ttl: 3600,
        };
        let token = mint(&key, &claims).unwrap();
        let signing_input = &token[..token.rfind('.').unwrap()];

        c.bench_function(&format!("{name}/raw ring signature"), |b| {
            b.iter(|| key.signer.sign(signing_input.as_bytes()).unwrap())
        });
        c.bench_function(&format!("{name}/token::mint"), |b| {
            b.iter(|| mint(&key, &claims).unwrap())
        });
        let der = pem_der(&pem);
        let encoding = match alg {
            Algorithm::EdDSA => EncodingKey::from_ed_der(&der),
            _ => EncodingKey::from_ec_der(&der),
        };
        let mut header = Header::new(alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid.clone());
        let body: serde_json::Value =
            serde_json::json!({"iss": "https://auth.example.com", "sub": "reporting-service"});
        c.bench_function(
            &format!("{name}/jsonwebtoken::encode (key parsed per call)"),
            |b| b.iter(|| jsonwebtoken::encode(&header, &body, &encoding).unwrap()),
        );
    }
}

fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

criterion_group!(benches, bench);
criterion_main!(benches);
