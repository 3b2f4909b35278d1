//! The signing keys: loading every PKCS#8 PEM in `keys.dir`, telling each
//! key's algorithm from the key itself (SPEC §3.3), its RFC 7638 `kid`, the
//! public JWK, and `keygen`. A [`KeySet`] is immutable; a key change builds a
//! new one (see `state`).
//!
//! Not here: serving the JWK Set (routes) or minting (token).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

use crate::crypto::{sha256, Signer};

/// The line that marks an RSA key for PS256 (SPEC §3.3).
pub const ALG_MARKER: &str = "tokenmint-alg:";

/// One problem with one key file, phrased for an operator.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key directory {dir}: {source}")]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error(
        "no signing key in {dir}: add a PKCS#8 PEM (`tokenmint keygen --alg ES256 --dir {dir}`) \
         or set keys.generate_if_missing = true for development"
    )]
    Empty { dir: PathBuf },
    #[error("keys.active = \"{kid}\" names no key in {dir}; keys there: {available}")]
    ActiveNotFound {
        kid: String,
        dir: PathBuf,
        available: String,
    },
    #[error(
        "{count} keys in {dir} and keys.active is not set: set keys.active to the kid that \
         signs ({available})"
    )]
    ActiveAmbiguous {
        count: usize,
        dir: PathBuf,
        available: String,
    },
    #[error("{first} and {second} hold the same key (kid {kid}); remove one")]
    Duplicate {
        first: PathBuf,
        second: PathBuf,
        kid: String,
    },
}

fn file_err(path: &Path, reason: impl Into<String>) -> KeyError {
    KeyError::File {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A loaded key: its identity, its public half and a ready signer.
#[derive(Debug)]
pub struct Key {
    pub kid: String,
    pub alg: Algorithm,
    pub path: PathBuf,
    pub signer: Signer,
    /// The public JWK as published (kty, kid, alg, use, public parameters).
    pub jwk: Value,
    pub decoding: DecodingKey,
    /// base64url of the constant JOSE header `{"alg","typ":"at+jwt","kid"}`.
    pub header_b64: String,
    pub modified: Option<SystemTime>,
}

/// Every published key, and which one signs.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<Arc<Key>>,
    active: usize,
}

impl KeySet {
    pub fn active(&self) -> &Arc<Key> {
        &self.keys[self.active]
    }

    pub fn get(&self, kid: &str) -> Option<&Arc<Key>> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Key>> {
        self.keys.iter()
    }

    /// `{"keys":[...]}`, public parameters only.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    /// Loads every `*.pem` directly in `dir` (sub-directories are ignored, so
    /// `keys/tls/` can hold the TLS certificate). Every problem is reported.
    /// With `generate_if_missing`, an empty or absent directory gets a new
    /// ES256 key; the returned notes say so.
    pub fn load(
        dir: &Path,
        active: Option<&str>,
        generate_if_missing: bool,
    ) -> Result<(KeySet, Vec<String>), Vec<KeyError>> {
        let mut notes = Vec::new();
        let mut files = match pem_files(dir) {
            Ok(files) => files,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && generate_if_missing => vec![],
            Err(source) => {
                return Err(vec![KeyError::Dir {
                    dir: dir.to_path_buf(),
                    source,
                }])
            }
        };
        if files.is_empty() && generate_if_missing {
            let (kid, path) = generate(dir, Algorithm::ES256).map_err(|e| vec![e])?;
            notes.push(format!(
                "generated a development ES256 signing key {} (kid {kid}) because keys.generate_if_missing = true; \
                 do not use it in production",
                path.display()
            ));
            files = vec![path];
        }
        let mut keys: Vec<Arc<Key>> = Vec::new();
        let mut errors = Vec::new();
        for path in files {
            match load_file(&path) {
                Ok((key, warnings)) => {
                    notes.extend(warnings);
                    if let Some(first) = keys.iter().find(|k| k.kid == key.kid) {
                        errors.push(KeyError::Duplicate {
                            first: first.path.clone(),
                            second: path,
                            kid: key.kid.clone(),
                        });
                    } else {
                        keys.push(Arc::new(key));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if keys.is_empty() && errors.is_empty() {
            errors.push(KeyError::Empty {
                dir: dir.to_path_buf(),
            });
        }
        let available = keys
            .iter()
            .map(|k| format!("{} ({}, {})", k.kid, alg_name(k.alg), k.path.display()))
            .collect::<Vec<_>>()
            .join(", ");
        let active_index = match active {
            Some(kid) => keys.iter().position(|k| k.kid == kid).or_else(|| {
                if !keys.is_empty() {
                    errors.push(KeyError::ActiveNotFound {
                        kid: kid.to_string(),
                        dir: dir.to_path_buf(),
                        available: available.clone(),
                    });
                }
                None
            }),
            None if keys.len() == 1 => Some(0),
            None => {
                if keys.len() > 1 {
                    errors.push(KeyError::ActiveAmbiguous {
                        count: keys.len(),
                        dir: dir.to_path_buf(),
                        available,
                    });
                }
                None
            }
        };
        match active_index {
            Some(active) if errors.is_empty() => Ok((KeySet { keys, active }, notes)),
            _ => Err(errors),
        }
    }
}

pub fn pem_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "pem") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The JOSE name of an algorithm, as written in headers and JWKs.
pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        Algorithm::RS256 => "RS256",
        Algorithm::PS256 => "PS256",
        _ => "unsupported",
    }
}

/// Parses the names `keygen --alg` accepts (case-insensitive).
pub fn parse_alg(name: &str) -> Option<Algorithm> {
    match name.to_ascii_uppercase().as_str() {
        "ES256" => Some(Algorithm::ES256),
        "ES384" => Some(Algorithm::ES384),
        "EDDSA" | "ED25519" => Some(Algorithm::EdDSA),
        "RS256" => Some(Algorithm::RS256),
        "PS256" => Some(Algorithm::PS256),
        _ => None,
    }
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
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                warnings.push(format!(
                    "{}: private key is readable by group or others; run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    Ok((key, warnings))
}

struct Pem {
    marker: Option<String>,
    label: String,
    der: Vec<u8>,
}

fn parse_pem(text: &str, path: &Path) -> Result<Pem, KeyError> {
    let mut marker = None;
    let mut lines = text.lines();
    let label = loop {
        let Some(line) = lines.next() else {
            return Err(file_err(
                path,
                "no `-----BEGIN PRIVATE KEY-----` block: expected a PKCS#8 PEM private key",
            ));
        };
        let line = line.trim();
        if let Some(value) = line.strip_prefix(ALG_MARKER) {
            marker = Some(value.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            break rest.trim_end_matches('-').to_string();
        }
    };
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    let mut closed = false;
    for line in lines {
        let line = line.trim();
        if line == end {
            closed = true;
            break;
        }
        body.push_str(line);
    }
    if !closed {
        return Err(file_err(path, format!("PEM block has no `{end}` line")));
    }
    let der = STANDARD
        .decode(body.as_bytes())
        .map_err(|e| file_err(path, format!("PEM body is not valid base64: {e}")))?;
    Ok(Pem { marker, label, der })
}

const OID_EC: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const OID_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
const OID_RSA_PSS: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
];

fn has_oid(der: &[u8], oid: &[u8]) -> bool {
    // The AlgorithmIdentifier sits in the first few dozen bytes of PKCS#8.
    let head = &der[..der.len().min(64)];
    head.windows(oid.len()).any(|w| w == oid)
}

/// Parses a PEM private key held in memory; `path` is only for messages.
pub fn parse_key(text: &str, path: &Path) -> Result<Key, KeyError> {
    let pem = parse_pem(text, path)?;
    let convert =
        "convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in old.pem -out new.pem`";
    match pem.label.as_str() {
        "PRIVATE KEY" => {}
        "EC PRIVATE KEY" => {
            return Err(file_err(
                path,
                format!("SEC1 `EC PRIVATE KEY`, but tokenmint loads PKCS#8 only: {convert}"),
            ))
        }
        "RSA PRIVATE KEY" => {
            return Err(file_err(
                path,
                format!("PKCS#1 `RSA PRIVATE KEY`, but tokenmint loads PKCS#8 only: {convert}"),
            ))
        }
        "ENCRYPTED PRIVATE KEY" => {
            return Err(file_err(
                path,
                "encrypted private key: decrypt it with `openssl pkcs8 -in enc.pem -nocrypt -out key.pem`",
            ))
        }
        other => {
            return Err(file_err(
                path,
                format!("PEM block is `{other}`, not a private key (`BEGIN PRIVATE KEY`)"),
            ))
        }
    }
    let der = &pem.der;
    let rng = SystemRandom::new();
    let rejected = |what: &str, e: ring::error::KeyRejected| {
        file_err(path, format!("{what} key rejected: {e}"))
    };
    let (signer, jwk_members, decoding): (Signer, Vec<(&str, String)>, DecodingKey) = if has_oid(
        der, OID_EC,
    ) {
        let (alg, signing, crv, len) = if has_oid(der, OID_P256) {
            (
                Algorithm::ES256,
                &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                "P-256",
                32,
            )
        } else if has_oid(der, OID_P384) {
            (
                Algorithm::ES384,
                &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
                "P-384",
                48,
            )
        } else {
            return Err(file_err(
                path,
                "EC key on an unsupported curve: use P-256 (ES256) or P-384 (ES384)",
            ));
        };
        let pair = EcdsaKeyPair::from_pkcs8(signing, der, &rng).map_err(|e| rejected("EC", e))?;
        let point = pair.public_key().as_ref().to_vec();
        let (x, y) = point[1..].split_at(len);
        let members = vec![
            ("crv", crv.to_string()),
            ("kty", "EC".to_string()),
            ("x", URL_SAFE_NO_PAD.encode(x)),
            ("y", URL_SAFE_NO_PAD.encode(y)),
        ];
        (
            Signer::ecdsa(alg, pair),
            members,
            DecodingKey::from_ec_der(&point),
        )
    } else if has_oid(der, OID_ED25519) {
        // from_pkcs8_maybe_unchecked: openssl and Python's cryptography
        // write PKCS#8 v1 (no public key inside), which from_pkcs8 refuses.
        let pair =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| rejected("Ed25519", e))?;
        let public = pair.public_key().as_ref().to_vec();
        let members = vec![
            ("crv", "Ed25519".to_string()),
            ("kty", "OKP".to_string()),
            ("x", URL_SAFE_NO_PAD.encode(&public)),
        ];
        (
            Signer::ed25519(pair),
            members,
            DecodingKey::from_ed_der(&public),
        )
    } else if has_oid(der, OID_RSA) {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| {
                if e.to_string().contains("TooSmall") {
                    file_err(path, "RSA key is smaller than 2048 bits; make a new one with `tokenmint keygen --alg RS256`")
                } else {
                    rejected("RSA", e)
                }
            })?;
        let bits = pair.public().modulus_len() * 8;
        if bits < 2048 {
            return Err(file_err(
                path,
                format!("RSA key has {bits} bits; at least 2048 are required"),
            ));
        }
        let sig::RsaPublicKeyComponents { n, e } =
            sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
        let alg = match pem.marker.as_deref() {
            Some("PS256") => Algorithm::PS256,
            _ => Algorithm::RS256,
        };
        let members = vec![
            ("e", URL_SAFE_NO_PAD.encode(&e)),
            ("kty", "RSA".to_string()),
            ("n", URL_SAFE_NO_PAD.encode(&n)),
        ];
        (
            Signer::rsa(alg, pair),
            members,
            DecodingKey::from_rsa_raw_components(&n, &e),
        )
    } else if has_oid(der, OID_RSA_PSS) {
        return Err(file_err(
            path,
            "RSASSA-PSS-restricted key (id-RSASSA-PSS) is not supported: use a plain RSA key \
                 (`openssl genpkey -algorithm RSA`) with the line `tokenmint-alg: PS256` above it",
        ));
    } else {
        return Err(file_err(
            path,
            "unsupported key type: tokenmint signs with P-256, P-384, Ed25519 or RSA keys",
        ));
    };
    let alg = signer.alg();
    if let Some(marker) = pem.marker.as_deref() {
        let fits = marker == alg_name(alg) || (marker == "PS256" && alg == Algorithm::PS256);
        if !fits {
            return Err(file_err(
                path,
                format!(
                    "`{ALG_MARKER} {marker}` does not fit this key (it signs {}); only RSA keys can be marked PS256",
                    alg_name(alg)
                ),
            ));
        }
    }
    let kid = thumbprint(&jwk_members);
    let mut jwk = serde_json::Map::new();
    for (name, value) in &jwk_members {
        jwk.insert(name.to_string(), Value::String(value.clone()));
    }
    jwk.insert("kid".into(), Value::String(kid.clone()));
    jwk.insert("alg".into(), Value::String(alg_name(alg).into()));
    jwk.insert("use".into(), Value::String("sig".into()));
    let header = json!({ "alg": alg_name(alg), "typ": "at+jwt", "kid": kid });
    Ok(Key {
        header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
        kid,
        alg,
        path: path.to_path_buf(),
        signer,
        jwk: Value::Object(jwk),
        decoding,
        modified: None,
    })
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, no
/// whitespace. `members` must already be sorted and hold base64url/ASCII
/// values, which need no JSON escaping.
pub fn thumbprint(members: &[(&str, String)]) -> String {
    let mut canonical = String::from("{");
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        let _ = write!(canonical, "\"{name}\":\"{value}\"");
    }
    canonical.push('}');
    URL_SAFE_NO_PAD.encode(sha256(canonical.as_bytes()))
}

/// Makes a new private key for `alg` as PKCS#8 PEM text (with the PS256
/// marker line when needed). ring cannot generate RSA keys, so RS256/PS256
/// ask the `openssl` command for one: signing stays on ring.
pub fn generate_pem(alg: Algorithm) -> Result<String, String> {
    let rng = SystemRandom::new();
    let der = match alg {
        Algorithm::ES256 | Algorithm::ES384 => {
            let signing = if alg == Algorithm::ES256 {
                &sig::ECDSA_P256_SHA256_FIXED_SIGNING
            } else {
                &sig::ECDSA_P384_SHA384_FIXED_SIGNING
            };
            EcdsaKeyPair::generate_pkcs8(signing, &rng)
                .map_err(|_| "the system random generator failed".to_string())?
                .as_ref()
                .to_vec()
        }
        Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| "the system random generator failed".to_string())?
            .as_ref()
            .to_vec(),
        Algorithm::RS256 | Algorithm::PS256 => {
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
            return Ok(if alg == Algorithm::PS256 {
                format!("{ALG_MARKER} PS256\n{pem}")
            } else {
                pem
            });
        }
        _ => return Err(format!("unsupported algorithm {alg:?}")),
    };
    Ok(pem_encode("PRIVATE KEY", &der))
}

/// PEM armour with 64-column lines (RFC 7468).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

/// Generates a key for `alg` into `dir` as `<kid>.pem` (mode 0600), creating
/// the directory (mode 0700) if needed. Returns the kid and the file.
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

fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1: the example RSA key.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let members = vec![
            ("e", "AQAB".to_string()),
            ("kty", "RSA".to_string()),
            ("n", n.to_string()),
        ];
        assert_eq!(
            thumbprint(&members),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rfc8037_ed25519_thumbprint() {
        // RFC 8037 Appendix A.3.
        let members = vec![
            ("crv", "Ed25519".to_string()),
            ("kty", "OKP".to_string()),
            (
                "x",
                "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".to_string(),
            ),
        ];
        assert_eq!(
            thumbprint(&members),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
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
    fn sec1_keys_are_refused_with_the_conversion_command() {
        let pem = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        let err = parse_key(pem, Path::new("old.pem"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("old.pem"), "{err}");
        assert!(err.contains("openssl pkcs8 -topk8"), "{err}");
    }

    #[test]
    fn an_alg_marker_on_an_ec_key_is_refused() {
        let pem = format!(
            "{ALG_MARKER} PS256\n{}",
            generate_pem(Algorithm::ES256).unwrap()
        );
        let err = parse_key(&pem, Path::new("k.pem")).unwrap_err().to_string();
        assert!(err.contains("does not fit"), "{err}");
    }
}
