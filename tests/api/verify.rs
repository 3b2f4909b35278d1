//! An access-token verifier that shares no code with tokenmint: the JWS
//! signature is checked with RustCrypto (`p256`, `p384`, `rsa`) and
//! `ed25519-dalek` from the served JWK's members alone, the algorithm taken
//! from the JWK's `alg`, and the RFC 9068 claims are checked by hand with
//! serde_json. A bug shared by tokenmint's ring signer and its ring verifier
//! therefore cannot pass the tests.
//!
//! Not here: fetching the JWK Set (helpers) or tokenmint's own verification
//! (introspection, which the introspection tests exercise).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

/// Verifies `token` against the JWK Set `jwks` (as served) and returns its
/// claims, or why it is not a valid access token for `issuer`/`audience`.
pub fn verify_token(
    jwks: &Value,
    token: &str,
    issuer: &str,
    audience: &str,
    now: u64,
) -> Result<Map<String, Value>, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        return Err(format!("{} segments, not 3", parts.len()));
    };
    let header = json_segment(header_b64, "header")?;
    if header.get("typ").and_then(Value::as_str) != Some("at+jwt") {
        return Err(format!(
            "typ is {:?}, not at+jwt (RFC 9068 §2.1)",
            header.get("typ")
        ));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or("no kid in the header")?;
    let jwk = jwks["keys"]
        .as_array()
        .ok_or("the JWK Set has no keys array")?
        .iter()
        .find(|k| k["kid"] == kid)
        .ok_or_else(|| format!("kid {kid} is not published"))?;
    let alg = jwk["alg"].as_str().ok_or("the JWK has no alg")?;
    // The algorithm comes from the key (RFC 8725 §3.1); a header that names
    // another one is refused, not obeyed.
    if header.get("alg").and_then(Value::as_str) != Some(alg) {
        return Err(format!(
            "header alg {:?} is not the key's {alg}",
            header.get("alg")
        ));
    }
    let signature = b64(signature_b64, "signature")?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    verify_signature(jwk, alg, signing_input.as_bytes(), &signature)?;
    let claims = json_segment(payload_b64, "payload")?;
    check_claims(&claims, issuer, audience, now)?;
    Ok(claims)
}

/// The RFC 9068 §2.2 claims a resource server relies on.
fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    audience: &str,
    now: u64,
) -> Result<(), String> {
    let number = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("{name} is missing or not a number"))
    };
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(format!("iss is {:?}, not {issuer}", claims.get("iss")));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a == audience),
        _ => false,
    };
    if !aud_ok {
        return Err(format!(
            "aud {:?} does not contain {audience}",
            claims.get("aud")
        ));
    }
    let exp = number("exp")?;
    if exp <= now {
        return Err(format!("expired: exp {exp} <= now {now}"));
    }
    let nbf = number("nbf")?;
    if nbf > now {
        return Err(format!("not yet valid: nbf {nbf} > now {now}"));
    }
    if claims.get("sub").and_then(Value::as_str).is_none() {
        return Err("sub is missing".into());
    }
    Ok(())
}

fn verify_signature(jwk: &Value, alg: &str, msg: &[u8], sig: &[u8]) -> Result<(), String> {
    let member = |name: &str| -> Result<Vec<u8>, String> {
        b64(
            jwk[name].as_str().ok_or(format!("JWK has no {name}"))?,
            name,
        )
    };
    let expect = |name: &str, want: &str| -> Result<(), String> {
        match jwk[name].as_str() {
            Some(v) if v == want => Ok(()),
            other => Err(format!("JWK {name} is {other:?}, not {want} for {alg}")),
        }
    };
    let bad = |e: &dyn std::fmt::Display| format!("{alg} signature does not verify: {e}");
    match alg {
        "ES256" | "ES384" => {
            expect("kty", "EC")?;
            let point = [&[0x04][..], &member("x")?, &member("y")?].concat();
            if alg == "ES256" {
                expect("crv", "P-256")?;
                use p256::ecdsa::signature::Verifier as _;
                let key =
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|e| bad(&e))?;
                let sig = p256::ecdsa::Signature::from_slice(sig).map_err(|e| bad(&e))?;
                key.verify(msg, &sig).map_err(|e| bad(&e))
            } else {
                expect("crv", "P-384")?;
                use p384::ecdsa::signature::Verifier as _;
                let key =
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|e| bad(&e))?;
                let sig = p384::ecdsa::Signature::from_slice(sig).map_err(|e| bad(&e))?;
                key.verify(msg, &sig).map_err(|e| bad(&e))
            }
        }
        "EdDSA" => {
            expect("kty", "OKP")?;
            expect("crv", "Ed25519")?;
            let x: [u8; 32] = member("x")?.try_into().map_err(|_| "x is not 32 bytes")?;
            let sig: [u8; 64] = sig.try_into().map_err(|_| bad(&"not 64 bytes"))?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|e| bad(&e))?;
            key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig))
                .map_err(|e| bad(&e))
        }
        "RS256" | "PS256" => {
            use rsa::sha2::Sha256;
            use rsa::signature::Verifier as _;
            expect("kty", "RSA")?;
            let n = rsa::BoxedUint::from_be_slice_vartime(&member("n")?);
            let e = rsa::BoxedUint::from_be_slice_vartime(&member("e")?);
            let key = rsa::PublicKey::new(n, e).map_err(|e| bad(&e))?;
            if alg == "RS256" {
                let sig = rsa::pkcs1v15::Signature::try_from(sig).map_err(|e| bad(&e))?;
                rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
                    .verify(msg, &sig)
                    .map_err(|e| bad(&e))
            } else {
                // RFC 7518 §3.5: MGF1 with SHA-256, salt as long as the hash.
                let sig = rsa::pss::Signature::try_from(sig).map_err(|e| bad(&e))?;
                rsa::pss::VerifyingKey::<Sha256>::new(key)
                    .verify(msg, &sig)
                    .map_err(|e| bad(&e))
            }
        }
        other => Err(format!(
            "the JWK's alg {other} is not one tokenmint signs with"
        )),
    }
}

fn b64(segment: &str, what: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|e| format!("{what} is not base64url: {e}"))
}

fn json_segment(segment: &str, what: &str) -> Result<Map<String, Value>, String> {
    serde_json::from_slice(&b64(segment, what)?)
        .map_err(|e| format!("{what} is not a JSON object: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helpers::{spawn_app_with, unix_now, AUDIENCE, ISSUER};

    const ALGS: [&str; 5] = ["ES256", "ES384", "EdDSA", "RS256", "PS256"];

    /// A token from a fresh app with one new key of `alg` (RSA too: not the
    /// shared fixture), and that app's JWK Set.
    async fn token_and_jwks(alg: &'static str) -> (String, Value) {
        let pem = tokenmint::keys::generate_pem(tokenmint::jose::parse_alg(alg).unwrap()).unwrap();
        let app = spawn_app_with(|cfg| {
            cfg.algs = vec![];
            cfg.extra_key_pems = vec![pem];
        })
        .await;
        let body = app.token("svc", "svc-secret", "").await;
        let jwks: Value = crate::helpers::get_json(&app.http, &app.url("/jwks")).await;
        (body["access_token"].as_str().unwrap().to_string(), jwks)
    }

    fn verify(jwks: &Value, token: &str) -> Result<Map<String, Value>, String> {
        verify_token(jwks, token, ISSUER, AUDIENCE, unix_now())
    }

    #[tokio::test]
    async fn the_independent_verifier_accepts_tokens_of_every_algorithm() {
        for alg in ALGS {
            let (token, jwks) = token_and_jwks(alg).await;
            let claims = verify(&jwks, &token).unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(claims["sub"], "svc", "{alg}");
        }
    }

    #[tokio::test]
    async fn the_independent_verifier_rejects_a_changed_payload_byte_for_every_algorithm() {
        for alg in ALGS {
            let (token, jwks) = token_and_jwks(alg).await;
            let (head, rest) = token.split_once('.').unwrap();
            let (payload, signature) = rest.split_once('.').unwrap();
            // One character of the payload, swapped for another base64url
            // character: still decodes, no longer what was signed.
            let mut bytes = payload.as_bytes().to_vec();
            let i = bytes.len() / 2;
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = format!("{head}.{}.{signature}", String::from_utf8(bytes).unwrap());
            let err = verify(&jwks, &tampered).expect_err(alg);
            assert!(err.contains("signature does not verify"), "{alg}: {err}");
        }
    }

    #[tokio::test]
    async fn the_independent_verifier_rejects_a_signature_from_another_key_for_every_algorithm() {
        for alg in ALGS {
            let (token, jwks) = token_and_jwks(alg).await;
            let (other, _) = token_and_jwks(alg).await;
            let signed_part = &token[..token.rfind('.').unwrap()];
            let other_signature = &other[other.rfind('.').unwrap() + 1..];
            let spliced = format!("{signed_part}.{other_signature}");
            let err = verify(&jwks, &spliced).expect_err(alg);
            assert!(err.contains("signature does not verify"), "{alg}: {err}");
        }
    }
}
