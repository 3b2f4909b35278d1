//! New key files: [`generate_pem`] makes a private key as PKCS#8 PEM text
//! that openssl and common libraries read (ring for EC; for Ed25519 a seed
//! from ring's CSPRNG in the RFC 8410 PKCS#8 v1 form; aws-lc-rs for RSA,
//! which ring cannot generate), and [`generate`] writes it into the keys
//! directory as `<alg>-<kid>.pem` with mode 0600, creating the directory
//! with 0700.
//!
//! Not here: reading keys (`load`) or the `keygen` command line (commands).

use std::path::{Path, PathBuf};

use jsonwebtoken::Algorithm;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::EcdsaKeyPair;

use super::{alg_name, file_err, parse_key, KeyError, ACTIVATE_MARKER, ALG_MARKER};
use crate::crypto::ecdsa_signing;

/// Makes a new private key for `alg` as PKCS#8 PEM text (with the PS256
/// marker line when needed). ring cannot generate RSA keys, so RS256/PS256
/// keys come from aws-lc-rs; signing stays on ring.
pub fn generate_pem(alg: Algorithm) -> Result<String, String> {
    let rng = SystemRandom::new();
    let random_failed = |_| "the system random generator failed".to_string();
    let der = match alg {
        Algorithm::ES256 | Algorithm::ES384 => {
            let signing = ecdsa_signing(alg).ok_or("not an EC algorithm")?;
            EcdsaKeyPair::generate_pkcs8(signing, &rng)
                .map_err(random_failed)?
                .as_ref()
                .to_vec()
        }
        Algorithm::EdDSA => {
            let mut seed = [0u8; 32];
            rng.fill(&mut seed).map_err(random_failed)?;
            ed25519_pkcs8_v1(&seed)
        }
        Algorithm::RS256 | Algorithm::PS256 => return rsa_pem(alg),
        _ => return Err(format!("unsupported algorithm {alg:?}")),
    };
    Ok(crate::pem::encode("PRIVATE KEY", &der))
}

/// The DER of an RFC 8410 §7 PKCS#8 v1 Ed25519 private key: what
/// `openssl genpkey -algorithm ed25519` writes, and what OpenSSL 3.0 and
/// Python's `cryptography` read. ring's own `generate_pkcs8` writes a v2
/// document (with the public key) that both refuse; ring loads this one with
/// `from_pkcs8_maybe_unchecked`, deriving the public key from the seed.
fn ed25519_pkcs8_v1(seed: &[u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, // SEQUENCE, 46 bytes
        0x02, 0x01, 0x00, // version v1 (0)
        0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, // AlgorithmIdentifier id-Ed25519
        0x04, 0x22, // privateKey OCTET STRING, 34 bytes, holding
        0x04, 0x20, // CurvePrivateKey OCTET STRING, the 32-byte seed
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

/// A 3072-bit RSA key (what `openssl genpkey` makes by default today) as
/// PKCS#8 PEM, marked for PS256 when `alg` is PS256.
fn rsa_pem(alg: Algorithm) -> Result<String, String> {
    use aws_lc_rs::encoding::{AsDer as _, Pkcs8V1Der};
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    let pair =
        KeyPair::generate(KeySize::Rsa3072).map_err(|_| "RSA key generation failed".to_string())?;
    let der: Pkcs8V1Der<'static> = pair
        .as_der()
        .map_err(|_| "the RSA key could not be encoded as PKCS#8".to_string())?;
    let pem = crate::pem::encode("PRIVATE KEY", der.as_ref());
    Ok(if alg == Algorithm::PS256 {
        format!("{ALG_MARKER} PS256\n{pem}")
    } else {
        pem
    })
}

/// Generates a key for `alg` into `dir` as `<alg>-<kid>.pem` (mode 0600),
/// creating the directory (mode 0700) if needed. Returns the kid and the file.
pub fn generate(
    dir: &Path,
    alg: Algorithm,
    activate_at: Option<u64>,
) -> Result<(String, PathBuf), KeyError> {
    let mut pem = generate_pem(alg).map_err(|reason| file_err(dir, reason))?;
    if let Some(at) = activate_at {
        pem = format!("{ACTIVATE_MARKER} {}\n{pem}", crate::clock::format(at));
    }
    let key = parse_key(&pem, dir)?;
    create_private_dir(dir).map_err(|e| file_err(dir, format!("cannot create directory: {e}")))?;
    let path = dir.join(format!(
        "{}-{}.pem",
        alg_name(alg).to_ascii_lowercase(),
        key.kid
    ));
    write_private_file(&path, pem.as_bytes())
        .map_err(|e| file_err(&path, format!("cannot write: {e}")))?;
    Ok((key.kid, path))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates `path` (never overwriting a file) readable by its owner only.
/// The bytes go to a `.tmp` file first and are renamed into place, so a
/// server watching the directory never reads half a key.
fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if path.exists() {
        return Err(std::io::ErrorKind::AlreadyExists.into());
    }
    let partial = path.with_extension("pem.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&partial).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&partial, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ed25519_key_is_written_as_rfc8410_pkcs8_v1() {
        // RFC 8410 §10.3: the example private key and its public key.
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/test-only-rfc8410-ed25519.pem");
        let pem = std::fs::read_to_string(&path).unwrap();
        let der = super::super::markers::read(&pem, &path)
            .unwrap()
            .der
            .unwrap();
        let seed: [u8; 32] = der[16..].try_into().unwrap();
        assert_eq!(ed25519_pkcs8_v1(&seed), der);
        let key = parse_key(&crate::pem::encode("PRIVATE KEY", &der), Path::new("k.pem")).unwrap();
        assert_eq!(key.alg, Algorithm::EdDSA);
        assert_eq!(key.jwk["x"], "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE");
    }
}
