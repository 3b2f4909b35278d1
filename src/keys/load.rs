//! One key file into one [`Key`]: read it (warning about loose
//! permissions), parse the PEM armour and markers, check the PKCS#8
//! structure, hand the DER to its family's loader, check the marker fits,
//! and build the `kid`, the published JWK and the constant JOSE header.
//!
//! Not here: the directory, duplicates and the active key (`keys`), or the
//! details of any format or family (`pem`, `pkcs8`, `ec`, `ed25519`, `rsa`).

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey};

use super::jwk::{self, Members};
use super::pkcs8::{self, Family};
use super::{
    alg_name, ec, ed25519, file_err, markers, rsa, Key, KeyError, ACTIVATE_MARKER, ALG_MARKER,
};
use crate::crypto::Signer;

/// What a family loader makes of a key: its signer, its public JWK members
/// and the key jsonwebtoken verifies with.
pub(super) struct Loaded {
    pub signer: Signer,
    pub members: Members,
    pub decoding: DecodingKey,
}

/// Loads one key file; the second value holds warnings (file permissions).
pub fn load_file(path: &Path) -> Result<(Key, Vec<String>), KeyError> {
    let bytes = std::fs::read(path).map_err(|e| file_err(path, format!("cannot read: {e}")))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| file_err(path, "not a PEM text file (invalid UTF-8)"))?;
    let mut key = parse_key(text, path)?;
    key.modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut warnings = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Group read is how a service group is given a key (Kubernetes
        // writes Secret files 0440 root:fsGroup, read-only): only access
        // for others, or a group that may write, is worth a warning.
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o027 != 0 {
                warnings.push(format!(
                    "{}: private key is accessible to others or writable by its group; run `chmod 600 {}` (or 640 for a service group)",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    Ok((key, warnings))
}

/// Parses a PEM private key held in memory; `path` is only for messages.
pub fn parse_key(text: &str, path: &Path) -> Result<Key, KeyError> {
    let pem = markers::read(text, path)?;
    pkcs8::check_label(&pem.label, path)?;
    let der = pem.der.as_deref().unwrap_or_default();
    let marker = pem.markers.alg.as_deref();
    let loaded = match pkcs8::family(der, path)? {
        Family::P256 => ec::load(der, Algorithm::ES256, path)?,
        Family::P384 => ec::load(der, Algorithm::ES384, path)?,
        Family::Ed25519 => ed25519::load(der, path)?,
        Family::Rsa { modulus_bits } => {
            rsa::load(der, modulus_bits, marker == Some("PS256"), path)?
        }
    };
    // ring checks an RSA key's CRT parameters only when it signs: a key
    // with a corrupted dP would load and then fail every token (found by
    // fuzzing). One signature now refuses it here instead.
    loaded.signer.sign(b"tokenmint key check").map_err(|_| {
        file_err(
            path,
            "the key cannot sign (its private parameters are inconsistent, e.g. a damaged file): \
             check it with `openssl pkey -check -in FILE -noout` and make a new one with `tokenmint keygen`",
        )
    })?;
    let alg = loaded.signer.alg();
    if let Some(marker) = marker {
        // Naming the algorithm the key has anyway is harmless; anything else
        // (PS256 on a non-RSA key, an unknown name) is a mistake to report.
        if marker != alg_name(alg) {
            return Err(file_err(
                path,
                format!(
                    "`{ALG_MARKER} {marker}` does not fit this key (it signs {}); only RSA keys can be marked PS256",
                    alg_name(alg)
                ),
            ));
        }
    }
    let activate_at = match pem.markers.activate_at.as_deref() {
        None => None,
        Some(text) => Some(crate::clock::parse(text).ok_or_else(|| {
            file_err(
                path,
                format!(
                    "`{ACTIVATE_MARKER} {text}` is not an RFC 3339 time: write it like `{ACTIVATE_MARKER} 2026-12-01T10:00:00Z`, or remove the line (the key then counts as active since 1970)"
                ),
            )
        })?),
    };
    let kid = jwk::thumbprint(&loaded.members);
    Ok(Key {
        jwk: jwk::published(&loaded.members, &kid, alg_name(alg)),
        kid,
        alg,
        path: path.to_path_buf(),
        signer: loaded.signer,
        decoding: loaded.decoding,
        activate_at,
        modified: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_pem;

    fn fixture(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    }

    fn error(pem: &str, file: &str) -> String {
        let err = parse_key(pem, Path::new(file)).unwrap_err().to_string();
        assert!(err.contains(file), "the message names the file: {err}");
        err
    }

    #[test]
    fn generated_keys_load_with_their_algorithm() {
        for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA] {
            let pem = generate_pem(alg).unwrap();
            let key = parse_key(&pem, Path::new("mem.pem")).unwrap();
            assert_eq!(key.alg, alg);
            assert_eq!(key.jwk["kid"], key.kid);
            assert!(key.jwk.get("d").is_none());
        }
    }

    #[test]
    fn rsa_keys_sign_rs256_unless_marked_ps256() {
        let pem = fixture("test-only-rsa-2048.pem");
        let rs = parse_key(&pem, Path::new("rsa.pem")).unwrap();
        assert_eq!(rs.alg, Algorithm::RS256);
        let ps = parse_key(&format!("{ALG_MARKER} PS256\n{pem}"), Path::new("rsa.pem")).unwrap();
        assert_eq!(ps.alg, Algorithm::PS256);
        assert_eq!(ps.kid, rs.kid, "the kid is the key's, not the algorithm's");
        assert_eq!(ps.jwk["alg"], "PS256");
    }

    #[test]
    fn sec1_keys_are_refused_with_the_conversion_command() {
        let pem = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        let err = error(pem, "old.pem");
        assert!(err.contains("openssl pkcs8 -topk8"), "{err}");
    }

    #[test]
    fn pkcs1_and_encrypted_keys_are_refused_with_the_fix() {
        let pkcs1 = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(error(pkcs1, "rsa.pem").contains("openssl pkcs8 -topk8"));
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(error(enc, "enc.pem").contains("openssl pkcs8 -in enc.pem -nocrypt"));
    }

    #[test]
    fn a_small_rsa_key_is_refused_with_its_bit_count() {
        let err = error(&fixture("test-only-rsa-1024-too-small.pem"), "small.pem");
        assert!(err.contains("1024 bits") && err.contains("2048"), "{err}");
    }

    #[test]
    fn an_unsupported_curve_is_refused_naming_the_supported_ones() {
        let err = error(&fixture("test-only-p521-unsupported.pem"), "p521.pem");
        assert!(err.contains("P-256") && err.contains("P-384"), "{err}");
    }

    #[test]
    fn an_rsassa_pss_restricted_key_is_refused() {
        // PKCS#8 with id-RSASSA-PSS and no parameters; the key bytes are not
        // read before the algorithm is refused.
        let der = [
            0x30, 0x14, 0x02, 0x01, 0x00, 0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
            0x0d, 0x01, 0x01, 0x0a, 0x04, 0x02, 0x30, 0x00,
        ];
        let pem = crate::pem::encode("PRIVATE KEY", &der);
        assert!(error(&pem, "pss.pem").contains("RSASSA-PSS"));
    }

    #[test]
    fn an_alg_marker_on_an_ec_key_is_refused() {
        let pem = format!(
            "{ALG_MARKER} PS256\n{}",
            generate_pem(Algorithm::ES256).unwrap()
        );
        assert!(error(&pem, "k.pem").contains("does not fit"));
    }
}

#[cfg(all(test, unix))]
mod permission_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn others_access_is_warned_about_and_group_read_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let pem = crate::keys::generate_pem(jsonwebtoken::Algorithm::ES256).unwrap();
        std::fs::write(&path, pem).unwrap();
        for (mode, warned) in [
            (0o600, false),
            (0o440, false),
            (0o640, false),
            (0o644, true),
            (0o660, true),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let (_, warnings) = load_file(&path).unwrap();
            assert_eq!(!warnings.is_empty(), warned, "{mode:o}: {warnings:?}");
        }
    }
}

#[cfg(test)]
mod damaged_key_tests {
    use super::*;

    #[test]
    fn an_rsa_key_that_cannot_sign_is_refused_at_load() {
        // The RSA test fixture with one bit of dP flipped (the fuzzer's find).
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/test-only-rsa-2048-corrupt-dp.pem");
        let text = std::fs::read_to_string(&path).unwrap();
        let err = parse_key(&text, &path).unwrap_err().to_string();
        assert!(err.contains("cannot sign"), "{err}");
        assert!(err.contains("test-only-rsa-2048-corrupt-dp.pem"), "{err}");
    }
}
