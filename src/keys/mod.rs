//! The signing keys as a set: a [`KeySet`] loaded from every `*.pem` in
//! `keys.dir`, which of them signs, and the JWK Set they publish; the
//! [`KeyError`]s an operator sees; the JOSE algorithm names. A [`KeySet`] is
//! immutable; a key change builds a new one (see `state`).
//!
//! One file becomes one [`Key`] in `load`, which reads the PEM armour and its
//! marker lines (`pem`), the PKCS#8 structure (`pkcs8`) and hands the DER to
//! the loader of the key's family (`ec`, `ed25519`, `rsa`); `jwk` builds the
//! public JWK and the RFC 7638 `kid`; `generate` makes new key files.
//!
//! Not here: serving the JWK Set (routes), minting (token), or the signer
//! and ring's algorithm tables (crypto).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{json, Value};

use crate::crypto::Signer;

mod ec;
mod ed25519;
mod generate;
mod jwk;
mod load;
mod pem;
mod pkcs8;
mod rsa;

pub use generate::{generate, generate_pem};
pub use jwk::thumbprint;
pub use load::{load_file, parse_key};
pub use pem::{pem_encode, ALG_MARKER};

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

/// ring refused a key that the PKCS#8 reader accepted (a bad point, a
/// broken RSA key, ...).
fn rejected(path: &Path, family: &str, e: ring::error::KeyRejected) -> KeyError {
    file_err(path, format!("{family} key rejected: {e}"))
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
    /// The public key for jsonwebtoken's `decode` (introspection).
    pub decoding: DecodingKey,
    /// The file's modification time, when the file system gives one.
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
        let files = files_or_generated(dir, generate_if_missing, &mut notes)?;
        let mut errors = Vec::new();
        let keys = load_all(files, &mut notes, &mut errors);
        if keys.is_empty() && errors.is_empty() {
            errors.push(KeyError::Empty {
                dir: dir.to_path_buf(),
            });
        }
        match choose_active(&keys, active, dir, &mut errors) {
            Some(active) if errors.is_empty() => Ok((KeySet { keys, active }, notes)),
            _ => Err(errors),
        }
    }
}

/// The key files in `dir`, or a new development key when there are none and
/// `generate_if_missing` says to make one.
fn files_or_generated(
    dir: &Path,
    generate_if_missing: bool,
    notes: &mut Vec<String>,
) -> Result<Vec<PathBuf>, Vec<KeyError>> {
    let files = match pem_files(dir) {
        Ok(files) => files,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && generate_if_missing => vec![],
        Err(source) => {
            return Err(vec![KeyError::Dir {
                dir: dir.to_path_buf(),
                source,
            }])
        }
    };
    if !files.is_empty() || !generate_if_missing {
        return Ok(files);
    }
    let (kid, path) = generate(dir, Algorithm::ES256).map_err(|e| vec![e])?;
    notes.push(format!(
        "generated a development ES256 signing key {} (kid {kid}) because keys.generate_if_missing = true; \
         do not use it in production",
        path.display()
    ));
    Ok(vec![path])
}

/// Loads each file; a file that fails or repeats an earlier key becomes an
/// error, and loading goes on so that every problem is reported at once.
fn load_all(
    files: Vec<PathBuf>,
    notes: &mut Vec<String>,
    errors: &mut Vec<KeyError>,
) -> Vec<Arc<Key>> {
    let mut keys: Vec<Arc<Key>> = Vec::new();
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
    keys
}

/// The index of the signing key: the one `keys.active` names, or the only
/// key. Pushes an error (naming the keys there) when neither applies.
fn choose_active(
    keys: &[Arc<Key>],
    active: Option<&str>,
    dir: &Path,
    errors: &mut Vec<KeyError>,
) -> Option<usize> {
    let available = || {
        keys.iter()
            .map(|k| format!("{} ({}, {})", k.kid, alg_name(k.alg), k.path.display()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match active {
        Some(kid) => {
            let found = keys.iter().position(|k| k.kid == kid);
            if found.is_none() && !keys.is_empty() {
                errors.push(KeyError::ActiveNotFound {
                    kid: kid.to_string(),
                    dir: dir.to_path_buf(),
                    available: available(),
                });
            }
            found
        }
        None if keys.len() == 1 => Some(0),
        None => {
            if keys.len() > 1 {
                errors.push(KeyError::ActiveAmbiguous {
                    count: keys.len(),
                    dir: dir.to_path_buf(),
                    available: available(),
                });
            }
            None
        }
    }
}

/// The `*.pem` files directly in `dir`, sorted by name.
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
