//! What a token costs next to its signature: ring's raw signature over a
//! signing input of a real token's length, and `Minter::mint` (claims +
//! base64 + the same signature). Run with `cargo bench --bench mint`.

use std::borrow::Cow;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::Algorithm;
use tokenmint::clients::Client;
use tokenmint::clock::unix_now;
use tokenmint::config::{AuthMethod, ClientSettings};
use tokenmint::keys::{generate_pem, KeySet};
use tokenmint::token::Grant;
use tokenmint::token::Minter;

fn client() -> Client {
    Client::new(
        ClientSettings {
            id: "reporting-service".into(),
            secrets: vec![],
            client_credentials: true,
            scopes: vec!["reports:read".into(), "reports:write".into()],
            default_scopes: vec!["reports:read".into()],
            audience: vec!["https://api.example.com".into()],
            token_ttl: 3600,
            auth_methods: vec![AuthMethod::ClientSecretBasic],
            claims: Default::default(),
            assertion_keys: None,
            quota: None,
            require_dpop: false,
            dpop_nonce: false,
            subject: None,
            certificate_bound: false,
        },
        &[],
    )
}

fn bench(c: &mut Criterion) {
    let client = client();
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let name = tokenmint::keys::alg_name(alg);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bench.pem"), generate_pem(alg).unwrap()).unwrap();
        let (keys, _) = KeySet::load(dir.path(), None, false).unwrap();
        let key = Arc::clone(keys.active());
        let minter = Minter::new("https://auth.example.com", &keys);
        let grant = Grant {
            scope: Cow::Borrowed(&client.default_scopes),
            ttl: 3600,
            audience: None,
            cnf: None,
        };
        let now = unix_now();
        let token = minter.mint(&client.claims, &grant, now).unwrap();
        let signing_input = &token[..token.rfind('.').unwrap()];

        c.bench_function(&format!("{name}/raw ring signature"), |b| {
            b.iter(|| key.signer.sign(signing_input.as_bytes()).unwrap())
        });
        c.bench_function(&format!("{name}/Minter::mint"), |b| {
            b.iter(|| minter.mint(&client.claims, &grant, now).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
