//! DPoP proofs at the token endpoint, `tokenmint::dpop::verify` (RFC 9449
//! §4.3), and the `htu` normalisation it uses. The first input byte picks
//! what the rest is:
//!
//! - 0: the whole proof, as sent (a forged one: it must be refused);
//! - 1: claims signed under a proof header holding a real ES256 key made
//!   once per process: it may be accepted, but only when its `htm` is
//!   `POST`, its `htu` the token endpoint's after normalisation, its `iat`
//!   in the window and its `jti` a string of 1 to 256 characters;
//! - 2: a URL, normalised twice: normalisation must be idempotent.
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tokenmint::clock::unix_now;
use tokenmint::dpop::{normalise, verify, Expected};
use tokenmint::jose::parse_alg;
use tokenmint::keys::{generate_pem, KeySet};

const HTU: &str = "https://auth.example.com/oauth2/token";
const MAX_AGE: u64 = 60;
const LEEWAY: u64 = 5;

/// The key, and the base64url proof header carrying its public JWK.
fn key() -> &'static (KeySet, String) {
    static KEY: OnceLock<(KeySet, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        tokenmint::crypto::install_jwt_provider();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let es256 = parse_alg("ES256").expect("ES256 is supported");
        std::fs::write(
            dir.path().join("k.pem"),
            generate_pem(es256).expect("a key"),
        )
        .expect("writing the key");
        let (keys, _) = KeySet::load(dir.path(), None, false).expect("the key set");
        let jwks = keys.jwks();
        let mut jwk = jwks["keys"][0].clone();
        for member in ["kid", "alg", "use"] {
            jwk.as_object_mut().expect("a JWK object").remove(member);
        }
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
        (keys, URL_SAFE_NO_PAD.encode(header.to_string()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let now = unix_now();
    let expected = Expected {
        htm: "POST",
        htu: HTU,
        now,
        max_age: MAX_AGE,
        leeway: LEEWAY,
    };
    match mode % 3 {
        0 => assert!(
            verify(text, &expected).is_err(),
            "a forged proof was accepted"
        ),
        1 => {
            let (keys, header) = key();
            let mut proof = format!("{header}.{}", URL_SAFE_NO_PAD.encode(text));
            let signature = keys
                .active()
                .signer
                .sign(proof.as_bytes())
                .expect("signing");
            proof.push('.');
            proof.push_str(&URL_SAFE_NO_PAD.encode(signature));
            if verify(&proof, &expected).is_ok() {
                let claims: Map<String, Value> =
                    serde_json::from_str(text).expect("accepted claims are a JSON object");
                assert_eq!(claims["htm"], "POST");
                let htu = claims["htu"].as_str().expect("htu is a string");
                assert_eq!(normalise(htu).as_deref(), Some(HTU));
                let iat = claims["iat"].as_f64().expect("iat is a number") as u64;
                assert!(
                    iat + MAX_AGE >= now && iat <= now + LEEWAY,
                    "iat {iat} at {now}"
                );
                let jti = claims["jti"].as_str().expect("jti is a string");
                assert!(!jti.is_empty() && jti.len() <= 256);
            }
        }
        _ => {
            if let Some(once) = normalise(text) {
                assert_eq!(normalise(&once).as_deref(), Some(once.as_str()), "{text:?}");
            }
        }
    }
});
