//! What a key file's DER says it is: the PEM label must be PKCS#8's
//! `PRIVATE KEY`, and the PKCS#8 structure (RFC 5208 `PrivateKeyInfo`, RFC
//! 5958 `OneAsymmetricKey`) is read with the `asn1-rs` DER reader to find its
//! `AlgorithmIdentifier`: the key family, the EC curve, and for RSA the
//! modulus length. Every other format or key type is refused with a message
//! that names it (and the conversion, where openssl has one).
//!
//! Not here: whether the key itself is sound (ring checks that when a family
//! loader builds the key pair), or PS256 (a marker line, not in the DER).

use std::path::Path;

use asn1_rs::{oid, Any, FromDer, Oid, Tag};

use super::{file_err, KeyError};

const ID_EC_PUBLIC_KEY: Oid<'static> = oid!(1.2.840 .10045 .2 .1);
const SECP256R1: Oid<'static> = oid!(1.2.840 .10045 .3 .1 .7);
const SECP384R1: Oid<'static> = oid!(1.3.132 .0 .34);
const ID_ED25519: Oid<'static> = oid!(1.3.101 .112);
const RSA_ENCRYPTION: Oid<'static> = oid!(1.2.840 .113549 .1 .1 .1);
const ID_RSASSA_PSS: Oid<'static> = oid!(1.2.840 .113549 .1 .1 .10);

const CONVERT: &str =
    "convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in old.pem -out new.pem`";

/// A key family tokenmint signs with, as the PKCS#8 structure names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    P256,
    P384,
    Ed25519,
    Rsa { modulus_bits: usize },
}

/// Refuses every PEM label but PKCS#8's, naming the conversion.
pub(super) fn check_label(label: &str, path: &Path) -> Result<(), KeyError> {
    let reason = match label {
        "PRIVATE KEY" => return Ok(()),
        "EC PRIVATE KEY" => {
            format!("SEC1 `EC PRIVATE KEY`, but tokenmint loads PKCS#8 only: {CONVERT}")
        }
        "RSA PRIVATE KEY" => {
            format!("PKCS#1 `RSA PRIVATE KEY`, but tokenmint loads PKCS#8 only: {CONVERT}")
        }
        "ENCRYPTED PRIVATE KEY" => "encrypted private key: decrypt it with \
             `openssl pkcs8 -in enc.pem -nocrypt -out key.pem`"
            .to_string(),
        other => format!("PEM block is `{other}`, not a private key (`BEGIN PRIVATE KEY`)"),
    };
    Err(file_err(path, reason))
}

/// Reads the `AlgorithmIdentifier` of a PKCS#8 document (v1 or v2).
pub(super) fn family(der: &[u8], path: &Path) -> Result<Family, KeyError> {
    let bad = |what: &str| file_err(path, format!("not a valid PKCS#8 private key: {what}"));
    let (rest, outer) = next(der, Tag::Sequence).ok_or_else(|| bad("no outer SEQUENCE"))?;
    if !rest.is_empty() {
        return Err(bad("extra data after the PKCS#8 structure"));
    }
    let (body, version) =
        next(outer.data, Tag::Integer).ok_or_else(|| bad("no version INTEGER"))?;
    match version.as_u32() {
        Ok(0 | 1) => {}
        _ => return Err(bad("the version is neither v1 (0) nor v2 (1)")),
    }
    // SEC1's ECPrivateKey and PKCS#1's RSAPrivateKey also open with a version
    // INTEGER, but then hold an OCTET STRING or an INTEGER, not this SEQUENCE.
    let Some((body, algorithm)) = next(body, Tag::Sequence) else {
        return Err(file_err(
            path,
            format!(
                "the `PRIVATE KEY` block holds no PKCS#8 structure (SEC1 or PKCS#1 DER?): {CONVERT}"
            ),
        ));
    };
    let (_, private_key) =
        next(body, Tag::OctetString).ok_or_else(|| bad("no privateKey OCTET STRING"))?;
    let (params, oid) = Oid::from_der(algorithm.data)
        .ok()
        .ok_or_else(|| bad("no algorithm OID"))?;
    if oid == ID_EC_PUBLIC_KEY {
        return curve(params, path);
    }
    if oid == ID_ED25519 {
        return Ok(Family::Ed25519);
    }
    if oid == RSA_ENCRYPTION {
        let modulus_bits = modulus_bits(private_key.data).ok_or_else(|| {
            bad("the RSA private key is not a PKCS#1 RSAPrivateKey with a modulus")
        })?;
        return Ok(Family::Rsa { modulus_bits });
    }
    if oid == ID_RSASSA_PSS {
        return Err(file_err(
            path,
            "RSASSA-PSS-restricted key (id-RSASSA-PSS) is not supported: use a plain RSA key \
             (`openssl genpkey -algorithm RSA`) with the line `tokenmint-alg: PS256` above it",
        ));
    }
    Err(file_err(
        path,
        format!(
            "unsupported key type: tokenmint signs with P-256, P-384, Ed25519 or RSA keys \
             (this key's algorithm is OID {})",
            oid.to_id_string()
        ),
    ))
}

/// The named curve in an EC key's `AlgorithmIdentifier` parameters
/// (RFC 5480 §2.1.1: `namedCurve`, the only form RFC 5915 keys use).
fn curve(params: &[u8], path: &Path) -> Result<Family, KeyError> {
    let named = Oid::from_der(params).ok().map(|(_, oid)| oid);
    match named {
        Some(oid) if oid == SECP256R1 => Ok(Family::P256),
        Some(oid) if oid == SECP384R1 => Ok(Family::P384),
        other => Err(file_err(
            path,
            format!(
                "EC key on an unsupported curve: use P-256 (ES256) or P-384 (ES384){}",
                other
                    .map(|oid| format!(" (this key's curve is OID {})", oid.to_id_string()))
                    .unwrap_or_default()
            ),
        )),
    }
}

/// The bit length of the modulus in a PKCS#1 `RSAPrivateKey`
/// (RFC 8017 A.1.2: SEQUENCE { version, modulus, ... }).
fn modulus_bits(rsa_private_key: &[u8]) -> Option<usize> {
    let (_, key) = next(rsa_private_key, Tag::Sequence)?;
    let (rest, _version) = next(key.data, Tag::Integer)?;
    let (_, modulus) = next(rest, Tag::Integer)?;
    // A DER INTEGER is big-endian two's complement: a positive modulus may
    // carry one leading zero byte.
    let digits = match modulus.data.iter().position(|&b| b != 0) {
        Some(first) => &modulus.data[first..],
        None => return Some(0),
    };
    let top = usize::try_from(8 - digits[0].leading_zeros()).ok()?;
    Some((digits.len() - 1) * 8 + top)
}

/// The next DER element of `input` if it has tag `tag`, and what follows it.
fn next(input: &[u8], tag: Tag) -> Option<(&[u8], Any<'_>)> {
    let (rest, any) = Any::from_der(input).ok()?;
    (any.tag() == tag).then_some((rest, any))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_der(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        super::super::markers::read(&text, &path)
            .unwrap()
            .der
            .unwrap()
    }

    #[test]
    fn openssl_keys_are_told_apart_by_their_algorithm_identifier() {
        let cases = [
            ("test-only-openssl-p256.pem", Family::P256),
            ("test-only-openssl-ed25519-pkcs8v1.pem", Family::Ed25519),
            ("test-only-rsa-2048.pem", Family::Rsa { modulus_bits: 2048 }),
            (
                "test-only-rsa-1024-too-small.pem",
                Family::Rsa { modulus_bits: 1024 },
            ),
        ];
        for (file, want) in cases {
            let got = family(&fixture_der(file), Path::new(file)).unwrap();
            assert_eq!(got, want, "{file}");
        }
    }

    #[test]
    fn an_unsupported_curve_is_refused_by_name() {
        let err = family(
            &fixture_der("test-only-p521-unsupported.pem"),
            Path::new("p521.pem"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("p521.pem") && err.contains("unsupported curve"),
            "{err}"
        );
        assert!(err.contains("1.3.132.0.35"), "{err}");
    }

    #[test]
    fn sec1_der_inside_a_private_key_block_is_refused_with_the_conversion() {
        // The SEC1 fixture's DER, armoured as if it were PKCS#8.
        let der = fixture_der("test-only-sec1-p256.pem");
        let err = family(&der, Path::new("k.pem")).unwrap_err().to_string();
        assert!(err.contains("openssl pkcs8 -topk8"), "{err}");
    }

    #[test]
    fn an_oid_pattern_outside_the_algorithm_identifier_does_not_decide() {
        // An X25519 key (OID 1.3.101.110) whose key bytes happen to hold the
        // Ed25519 and EC OIDs: searching bytes would have called it one.
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e,
        ];
        der.extend([0x04, 0x22, 0x04, 0x20]);
        let mut key = vec![0x06, 0x03, 0x2b, 0x65, 0x70];
        key.extend([0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]);
        key.resize(32, 0);
        der.extend(key);
        let err = family(&der, Path::new("x.pem")).unwrap_err().to_string();
        assert!(
            err.contains("unsupported key type") && err.contains("1.3.101.110"),
            "{err}"
        );
    }

    #[test]
    fn the_modulus_length_ignores_the_sign_byte() {
        // SEQUENCE { INTEGER 0, INTEGER 0x00 0x80 0x01 }: a 16-bit modulus.
        let key = [0x30, 0x08, 0x02, 0x01, 0x00, 0x02, 0x03, 0x00, 0x80, 0x01];
        assert_eq!(modulus_bits(&key), Some(16));
    }
}
