//! The public key of a certificate or a SubjectPublicKeyInfo as the RFC
//! 7638 members of its JWK: how `new-client` turns a PEM into a JWK, and
//! how a self-signed client certificate is matched to a client's keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519,
};
use x509_parser::public_key::PublicKey as ParsedKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::jose::jwk::MIN_RSA_BITS;

const ACCEPTED: &str = "accepted are EC P-256 (ES256), EC P-384 (ES384), Ed25519 (EdDSA) \
     and RSA of at least 2048 bits (RS256, PS256)";

/// The RFC 7638 required members of an SPKI's key, sorted by name.
pub fn spki_members(
    spki: &SubjectPublicKeyInfo<'_>,
) -> Result<Vec<(&'static str, String)>, String> {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let oid = &spki.algorithm.algorithm;
    let data: &[u8] = &spki.subject_public_key.data;
    if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        let (crv, len) = match curve {
            Some(c) if c == OID_EC_P256 => ("P-256", 32),
            Some(c) if c == OID_NIST_EC_P384 => ("P-384", 48),
            c => {
                let name = c.map_or("an unnamed curve".into(), |c| key_name(&c.to_id_string()));
                return Err(format!("is an EC key on {name}: {ACCEPTED}"));
            }
        };
        return match data {
            [4, point @ ..] if point.len() == 2 * len => Ok(vec![
                ("crv", crv.into()),
                ("kty", "EC".into()),
                ("x", b64(&point[..len])),
                ("y", b64(&point[len..])),
            ]),
            [2 | 3, ..] => Err("holds a compressed EC point: export it uncompressed \
                 (`openssl ec -pubin -conv_form uncompressed -pubout`)"
                .into()),
            _ => Err(format!("holds an EC point of the wrong size for {crv}")),
        };
    }
    if *oid == OID_SIG_ED25519 {
        return match data.len() {
            32 => Ok(vec![
                ("crv", "Ed25519".into()),
                ("kty", "OKP".into()),
                ("x", b64(data)),
            ]),
            n => Err(format!("holds an Ed25519 key of {n} bytes instead of 32")),
        };
    }
    if *oid == OID_PKCS1_RSAENCRYPTION {
        let Ok(ParsedKey::RSA(rsa)) = spki.parsed() else {
            return Err("holds an RSA key that cannot be read".into());
        };
        // RFC 7518 §6.3.1: unsigned big-endian, without the leading zero
        // octet DER gives a modulus whose top bit is set.
        let (n, e) = (unsigned(rsa.modulus), unsigned(rsa.exponent));
        let bits = n.len() * 8 - n.first().map_or(0, |b| b.leading_zeros() as usize);
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "holds an RSA key of {bits} bits: at least {MIN_RSA_BITS} are required"
            ));
        }
        return Ok(vec![("e", b64(e)), ("kty", "RSA".into()), ("n", b64(n))]);
    }
    Err(format!(
        "holds a key of type {}: {ACCEPTED}",
        key_name(&oid.to_id_string())
    ))
}

/// A DER INTEGER's bytes without leading zero octets.
fn unsigned(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// A readable name for the key types and curves tokenmint refuses.
fn key_name(oid: &str) -> String {
    match oid {
        "1.3.132.0.35" => "P-521",
        "1.3.132.0.10" => "secp256k1",
        "1.3.101.113" => "Ed448",
        "1.3.101.110" => "X25519 (key agreement, not signing)",
        "1.3.101.111" => "X448 (key agreement, not signing)",
        "1.2.840.10040.4.1" => "DSA",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS (export the key as plain rsaEncryption)",
        other => return format!("OID {other}"),
    }
    .to_string()
}
