//! New key files: [`generate_pem`] makes a private key as PKCS#8 PEM text
//! (ring for EC and Ed25519; the `openssl genpkey` command for RSA, which
//! ring cannot generate), and [`generate`] writes it into the keys directory
//! as `<alg>-<kid>.pem` with mode 0600, creating the directory with 0700.
//!
//! Not here: reading keys (`load`) or the `keygen` command line (commands).

use std::path::{Path, PathBuf};

use jsonwebtoken::Algorithm;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair};

use super::{alg_name, file_err, parse_key, pem_encode, KeyError, ALG_MARKER};
use crate::crypto::ecdsa_signing;

/// Makes a new private key for `alg` as PKCS#8 PEM text (with the PS256
/// marker line when needed). ring cannot generate RSA keys, so RS256/PS256
/// ask the `openssl` command for one: signing stays on ring.
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
        Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(random_failed)?
            .as_ref()
            .to_vec(),
        Algorithm::RS256 | Algorithm::PS256 => return openssl_rsa_pem(alg),
        _ => return Err(format!("unsupported algorithm {alg:?}")),
    };
    Ok(pem_encode("PRIVATE KEY", &der))
}

/// A 3072-bit RSA key from `openssl genpkey` (PKCS#8 PEM), marked for PS256
/// when `alg` is PS256.
fn openssl_rsa_pem(alg: Algorithm) -> Result<String, String> {
    let out = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| {
            format!(
                "ring cannot generate RSA keys and the `openssl` command could not be run ({e}); \
                 make one with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out key.pem`{}",
                if alg == Algorithm::PS256 {
                    " and add the line `tokenmint-alg: PS256` above its BEGIN line"
                } else {
                    ""
                }
            )
        })?;
    if !out.status.success() {
        return Err(format!("`openssl genpkey` failed with {}", out.status));
    }
    let pem = String::from_utf8(out.stdout)
        .map_err(|_| "openssl wrote something that is not PEM text".to_string())?;
    Ok(if alg == Algorithm::PS256 {
        format!("{ALG_MARKER} PS256\n{pem}")
    } else {
        pem
    })
}

/// Generates a key for `alg` into `dir` as `<alg>-<kid>.pem` (mode 0600),
/// creating the directory (mode 0700) if needed. Returns the kid and the file.
pub fn generate(dir: &Path, alg: Algorithm) -> Result<(String, PathBuf), KeyError> {
    let pem = generate_pem(alg).map_err(|reason| file_err(dir, reason))?;
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
fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}
