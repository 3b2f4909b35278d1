//! Key files as an operator provides them: `tokenmint::keys::parse_key` on
//! arbitrary UTF-8. Besides not panicking: a refusal names the file (it is
//! an operator's message), and an accepted key has an RFC 7638 kid
//! (43 base64url characters) that its JWK repeats, a supported algorithm
//! that the signer agrees with, and a signer whose signatures verify with
//! the public key the JWK publishes (else no consumer could check a token).
#![no_main]

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use ring::signature;
use serde_json::Value;
use tokenmint::keys::{alg_name, parse_key};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = match parse_key(text, Path::new("fuzz.pem")) {
        Ok(key) => key,
        Err(e) => {
            let message = e.to_string();
            assert!(message.starts_with("fuzz.pem: "), "{message}");
            return;
        }
    };
    assert_eq!(key.kid.len(), 43, "kid {:?}", key.kid);
    assert!(key
        .kid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(
        key.jwk.get("kid").and_then(Value::as_str),
        Some(key.kid.as_str())
    );
    let name = alg_name(key.alg);
    assert_ne!(name, "unsupported");
    assert_eq!(key.jwk.get("alg").and_then(Value::as_str), Some(name));
    assert_eq!(key.signer.alg(), key.alg);
    if name == "PS256" {
        assert!(text.contains(tokenmint::keys::ALG_MARKER));
    }
    // parse_key makes a test signature and refuses a key that cannot sign
    // (this target once found an RSA key with a corrupted dP that loaded
    // and then failed every token: tests/fixtures/test-only-rsa-2048-corrupt-dp.pem).
    let signature = key.signer.sign(MESSAGE).expect("an accepted key can sign");
    let b64 = |member: &str| {
        let text = key
            .jwk
            .get(member)
            .and_then(Value::as_str)
            .unwrap_or_default();
        URL_SAFE_NO_PAD
            .decode(text)
            .expect("JWK members are base64url")
    };
    let verified = match name {
        "ES256" | "ES384" => {
            let mut point = vec![4u8];
            point.extend(b64("x"));
            point.extend(b64("y"));
            let alg = if name == "ES256" {
                &signature::ECDSA_P256_SHA256_FIXED
            } else {
                &signature::ECDSA_P384_SHA384_FIXED
            };
            signature::UnparsedPublicKey::new(alg, point).verify(MESSAGE, &signature)
        }
        "EdDSA" => signature::UnparsedPublicKey::new(&signature::ED25519, b64("x"))
            .verify(MESSAGE, &signature),
        _ => {
            let alg = if name == "PS256" {
                &signature::RSA_PSS_2048_8192_SHA256
            } else {
                &signature::RSA_PKCS1_2048_8192_SHA256
            };
            signature::RsaPublicKeyComponents {
                n: b64("n"),
                e: b64("e"),
            }
            .verify(alg, MESSAGE, &signature)
        }
    };
    assert!(
        verified.is_ok(),
        "a {name} signature does not verify with the published JWK"
    );
});

const MESSAGE: &[u8] = b"tokenmint fuzz";
