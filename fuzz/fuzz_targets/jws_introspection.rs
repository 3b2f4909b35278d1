//! Introspection's token check, `tokenmint::token::verify` (RFC 7515,
//! RFC 9068, RFC 8725), against a key set made once per process from a new
//! ES256 key. The first input byte picks what the rest is:
//!
//! - 0: the whole token, as sent. It cannot carry a valid signature, so
//!   `verify` must refuse it.
//! - 1: a JWS header naming the real kid and alg, then the rest of the
//!   token as sent: reaches the signature check. Must be refused.
//! - 2: claims signed with the real key under the real header; the token
//!   is genuine, so `verify` may accept it, but only with a string `iss`
//!   equal to the issuer, a `sub`, an integer `exp` after now and no `nbf`
//!   in the future — whatever types and values the fuzzer puts there.
//! - 3: a header and claims (split at the first newline), both signed with
//!   the real key; `$kid` in the header stands for the real kid, which is
//!   new in every process. An accepted token must also have had the header
//!   introspection requires (`typ` at+jwt, the real kid and alg, no `crit`).
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tokenmint::clock::unix_now;
use tokenmint::jose::parse_alg;
use tokenmint::keys::{generate_pem, KeySet};
use tokenmint::token::verify;

const ISSUER: &str = "https://auth.example.com";

fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| {
        tokenmint::crypto::install_jwt_provider();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let es256 = parse_alg("ES256").expect("ES256 is supported");
        let pem = generate_pem(es256).expect("an ES256 key");
        std::fs::write(dir.path().join("fuzz.pem"), pem).expect("writing the key");
        let (keys, _notes) = KeySet::load(dir.path(), None, false).expect("the key set");
        keys
    })
}

fn signed(header_b64: &str, claims: &[u8]) -> String {
    let key = keys().active();
    let mut token = format!("{header_b64}.{}", URL_SAFE_NO_PAD.encode(claims));
    let signature = key.signer.sign(token.as_bytes()).expect("signing");
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}

fn header_fields(token: &str) -> Map<String, Value> {
    let header = token.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .expect("an accepted header is base64url");
    serde_json::from_slice(&bytes).expect("an accepted header is a JSON object")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let keys = keys();
    let key = keys.active();
    // The header tokenmint writes for this key (token.rs builds the same).
    let header_b64 = URL_SAFE_NO_PAD.encode(
        serde_json::json!({ "alg": tokenmint::keys::alg_name(key.alg), "typ": "at+jwt", "kid": key.kid })
            .to_string(),
    );
    let now = unix_now();
    let token = match mode % 4 {
        0 | 1 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let token = if mode % 4 == 0 {
                text.to_string()
            } else {
                format!("{header_b64}.{text}")
            };
            let result = verify(keys, ISSUER, &token, now);
            assert!(result.is_err(), "an unsigned token was accepted: {token:?}");
            return;
        }
        2 => signed(&header_b64, rest),
        _ => {
            let (header, claims) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            let header = String::from_utf8_lossy(header).replace("$kid", &key.kid);
            signed(&URL_SAFE_NO_PAD.encode(header), claims)
        }
    };
    let Ok(claims) = verify(keys, ISSUER, &token, now) else {
        return;
    };
    assert_eq!(claims.get("iss").and_then(Value::as_str), Some(ISSUER));
    assert!(claims.contains_key("sub"), "accepted without sub");
    let exp = claims.get("exp").and_then(Value::as_u64);
    assert!(
        exp.is_some_and(|exp| exp > now),
        "accepted with exp {exp:?} at {now}"
    );
    if let Some(nbf) = claims.get("nbf") {
        // jsonwebtoken reads its own clock: allow it a few seconds ahead.
        assert!(
            nbf.as_u64().is_some_and(|nbf| nbf <= now + 5)
                || nbf.as_f64().is_some_and(|nbf| nbf <= (now + 5) as f64),
            "accepted with nbf {nbf} at {now}"
        );
    }
    let header = header_fields(&token);
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt"),
        "accepted with typ {typ:?}"
    );
    assert_eq!(
        header.get("kid").and_then(Value::as_str),
        Some(key.kid.as_str())
    );
    assert_eq!(header.get("alg").and_then(Value::as_str), Some("ES256"));
    assert!(!header.contains_key("crit"), "accepted with crit");
});
