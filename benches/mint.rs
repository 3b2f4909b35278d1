//! What a token costs next to its signature: ring's raw signature over a
//! signing input of a real token's length, and `token::mint` (claims +
//! base64 + the same signature). Run with `cargo bench --bench mint`.
//!
//! jsonwebtoken's `encode` is not compared any more: it re-parses the PKCS#8
//! key on every call (the trap STYLE.md measures), and tokenmint's provider
//! now refuses to sign through it.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::Algorithm;
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
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
