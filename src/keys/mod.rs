//! The signing keys as a set: a [`KeySet`] loaded from every `*.pem` in
//! `keys.dir`, which of them signs, and the JWK Set they publish; the
//! [`KeyError`]s an operator sees; the JOSE algorithm names. A [`KeySet`] is
//! immutable; a key change builds a new one (see `state`).
//!
//! One file becomes one [`Key`] in `load`, which reads the PEM armour and its
//! marker lines (`markers`), the PKCS#8 structure (`pkcs8`) and hands the DER to
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
pub use crate::jose::alg_name;

mod ec;
mod ed25519;
mod generate;
mod jwk;
mod load;
mod markers;
mod pkcs8;
mod rsa;

pub use generate::{generate, generate_pem};
pub use jwk::thumbprint;
pub use load::{load_file, parse_key};
pub use markers::{ACTIVATE_MARKER, ALG_MARKER};

/// One problem with one key file, phrased for an operator.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "keys.dir = {dir:?} {}",
        if .source.kind() == std::io::ErrorKind::NotFound {
            format!(
                "does not exist{}: make it and a first signing key with \
                 `tokenmint keygen --alg ES256 --dir {}`, or set keys.generate_if_missing = true \
                 for development",
                if .dir.is_relative() { " (relative to the working directory)" } else { "" },
                .dir.display()
            )
        } else {
            format!("cannot be read as the keys directory: {}", .source)
        }
    )]
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
        "{count} keys in {dir} have no `tokenmint-activate-at:` line and none with one has \
         activated yet, so none of them is the signing key: set keys.active to the kid that \
         signs, or make new keys with `tokenmint keygen`, which schedules them ({available})"
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
    /// `tokenmint-activate-at:`, in Unix seconds (docs/operations.md).
    pub activate_at: Option<u64>,
    /// The file's modification time, when the file system gives one.
    pub modified: Option<SystemTime>,
}

impl Key {
    /// When it starts signing, unless `keys.active` pins a key: its
    /// `tokenmint-activate-at`, or the Unix epoch for a key without one.
    pub fn activation(&self) -> u64 {
        self.activate_at.unwrap_or(0)
    }
}

/// Which key signs at a given time (docs/operations.md): the one `keys.active` pins,
/// or, by activation time, the latest that has passed — before any has, the
/// first to come — with equal times decided by the greater kid. Evaluated
/// per token from a handful of entries, so the switch needs no reload and
/// every replica with the same files switches at the same second.
#[derive(Debug, Clone)]
pub enum Schedule {
    Pinned(usize),
    /// `(activation, key index)` sorted by activation, then kid.
    Timed(Vec<(u64, usize)>),
}

impl Schedule {
    fn timed(keys: &[Arc<Key>]) -> Self {
        let mut entries: Vec<(u64, usize)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.activation(), i))
            .collect();
        entries.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| keys[a.1].kid.cmp(&keys[b.1].kid))
        });
        Self::Timed(entries)
    }

    /// The position in the timed entries of the key that signs at `now`.
    fn position(entries: &[(u64, usize)], now: u64) -> usize {
        match entries.partition_point(|&(at, _)| at <= now) {
            // None has come yet: the first to come, greatest kid among equals.
            0 => entries
                .iter()
                .rposition(|&(at, _)| at == entries[0].0)
                .unwrap_or(0),
            passed => passed - 1,
        }
    }

    /// The index of the key that signs at `now` (Unix seconds).
    pub fn at(&self, now: u64) -> usize {
        match self {
            Self::Pinned(i) => *i,
            Self::Timed(entries) if entries.is_empty() => 0,
            Self::Timed(entries) => entries[Self::position(entries, now)].1,
        }
    }
}

/// What a key does at a given time, for `check-config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs, since this time (0: since before its file was loaded).
    Signing { since: u64 },
    /// `keys.active` pins another key.
    Published,
    /// Published; signs from this time.
    Pending { from: u64 },
    /// Published; stopped signing at this time (tokens it signed live on
    /// until `tokens.max_ttl` after that).
    Retired { since: u64 },
}

/// Every published key, and which one signs.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<Arc<Key>>,
    schedule: Schedule,
}

impl KeySet {
    /// The key that signs now.
    pub fn active(&self) -> &Arc<Key> {
        self.signing_at(crate::clock::unix_now())
    }

    /// The key that signs at `now` (Unix seconds).
    pub fn signing_at(&self, now: u64) -> &Arc<Key> {
        &self.keys[self.schedule.at(now)]
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Each key with what it does at `now`, in file order.
    pub fn states_at(&self, now: u64) -> Vec<(&Arc<Key>, KeyState)> {
        let states: Vec<KeyState> = match &self.schedule {
            Schedule::Pinned(pinned) => (0..self.keys.len())
                .map(|i| {
                    if i == *pinned {
                        KeyState::Signing { since: 0 }
                    } else {
                        KeyState::Published
                    }
                })
                .collect(),
            Schedule::Timed(entries) => {
                let mut states = vec![KeyState::Published; self.keys.len()];
                let signing = Schedule::position(entries, now);
                for (p, &(at, i)) in entries.iter().enumerate() {
                    states[i] = match p.cmp(&signing) {
                        std::cmp::Ordering::Equal => KeyState::Signing { since: at.min(now) },
                        std::cmp::Ordering::Less => KeyState::Retired {
                            since: entries[p + 1].0,
                        },
                        std::cmp::Ordering::Greater => KeyState::Pending { from: at },
                    };
                }
                states
            }
        };
        self.keys.iter().zip(states).collect()
    }

    /// The first time after `now` at which another key starts signing.
    pub fn next_switch(&self, now: u64) -> Option<u64> {
        let Schedule::Timed(entries) = &self.schedule else {
            return None;
        };
        let signing = self.schedule.at(now);
        entries
            .iter()
            .map(|&(at, _)| at)
            .filter(|&at| at > now)
            .find(|&at| self.schedule.at(at) != signing)
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
        match schedule(&keys, active, dir, &mut errors) {
            Some(schedule) if errors.is_empty() => Ok((KeySet { keys, schedule }, notes)),
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
    let (kid, path) = generate(dir, Algorithm::ES256, None).map_err(|e| vec![e])?;
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

/// Which key signs when: pinned by `keys.active`, else by activation time.
/// Pushes an error (naming the keys there) when `keys.active` names no key,
/// or when the choice now falls among several keys without an activation
/// time (docs/operations.md: they would tie at the epoch).
fn schedule(
    keys: &[Arc<Key>],
    active: Option<&str>,
    dir: &Path,
    errors: &mut Vec<KeyError>,
) -> Option<Schedule> {
    let list = |keys: &mut dyn Iterator<Item = &Arc<Key>>| {
        keys.map(|k| format!("{} ({}, {})", k.kid, alg_name(k.alg), k.path.display()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if keys.is_empty() {
        return None;
    }
    if let Some(kid) = active {
        let found = keys.iter().position(|k| k.kid == kid);
        if found.is_none() {
            errors.push(KeyError::ActiveNotFound {
                kid: kid.to_string(),
                dir: dir.to_path_buf(),
                available: list(&mut keys.iter()),
            });
        }
        return found.map(Schedule::Pinned);
    }
    let schedule = Schedule::timed(keys);
    let now = crate::clock::unix_now();
    let unmarked = keys.iter().filter(|k| k.activate_at.is_none()).count();
    if unmarked > 1 && keys[schedule.at(now)].activate_at.is_none() {
        errors.push(KeyError::ActiveAmbiguous {
            count: unmarked,
            dir: dir.to_path_buf(),
            available: list(&mut keys.iter().filter(|k| k.activate_at.is_none())),
        });
        return None;
    }
    Some(schedule)
}

/// Logs what a reload changes about the keys: each key published or
/// withdrawn, with when a new one starts signing.
pub fn log_changes(old: &KeySet, new: &KeySet) {
    let now = crate::clock::unix_now();
    for key in new.iter().filter(|k| old.get(&k.kid).is_none()) {
        let signs = match new.states_at(now).iter().find(|(k, _)| k.kid == key.kid) {
            Some((_, KeyState::Signing { .. })) => "now".to_string(),
            Some((_, KeyState::Pending { from })) => crate::clock::format(*from),
            _ => "never (another key is pinned or later)".to_string(),
        };
        tracing::info!(kid = %key.kid, alg = alg_name(key.alg), signs_from = %signs, "key published");
    }
    for key in old.iter().filter(|k| new.get(&k.kid).is_none()) {
        tracing::info!(kid = %key.kid, "key withdrawn");
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

#[cfg(test)]
mod schedule_tests {
    use super::*;

    fn key(activate_at: Option<u64>) -> Arc<Key> {
        let pem = generate_pem(Algorithm::ES256).unwrap();
        let mut key = parse_key(&pem, Path::new("k.pem")).unwrap();
        key.activate_at = activate_at;
        Arc::new(key)
    }

    fn set(keys: Vec<Arc<Key>>) -> KeySet {
        let mut errors = Vec::new();
        let schedule = schedule(&keys, None, Path::new("keys"), &mut errors).unwrap();
        assert!(errors.is_empty());
        KeySet { keys, schedule }
    }

    #[test]
    fn the_latest_activation_that_has_passed_signs() {
        let keys = set(vec![key(None), key(Some(1000)), key(Some(2000))]);
        assert_eq!(keys.signing_at(999).kid, keys.keys[0].kid);
        assert_eq!(keys.signing_at(1000).kid, keys.keys[1].kid);
        assert_eq!(keys.signing_at(1999).kid, keys.keys[1].kid);
        assert_eq!(keys.signing_at(5000).kid, keys.keys[2].kid);
        let states = keys.states_at(1500);
        assert_eq!(states[0].1, KeyState::Retired { since: 1000 });
        assert_eq!(states[1].1, KeyState::Signing { since: 1000 });
        assert_eq!(states[2].1, KeyState::Pending { from: 2000 });
    }

    #[test]
    fn equal_times_are_decided_by_the_greater_kid_and_before_any_the_first_signs() {
        let (a, b, c) = (key(Some(3000)), key(Some(3000)), key(Some(4000)));
        let greater = if a.kid > b.kid {
            a.kid.clone()
        } else {
            b.kid.clone()
        };
        let keys = set(vec![a, b, c]);
        assert_eq!(keys.signing_at(3500).kid, greater);
        // Before any activation: the first to come (here a tie) signs.
        assert_eq!(keys.signing_at(10).kid, greater);
    }

    #[test]
    fn several_keys_without_a_time_are_an_error_while_the_choice_falls_among_them() {
        let mut errors = Vec::new();
        let now = crate::clock::unix_now();
        let keys = vec![key(None), key(None), key(Some(now + 3600))];
        assert!(schedule(&keys, None, Path::new("keys"), &mut errors).is_none());
        assert!(matches!(
            errors[0],
            KeyError::ActiveAmbiguous { count: 2, .. }
        ));
        // Once a scheduled key has taken over, the old ones are merely retired.
        let mut errors = Vec::new();
        let keys = vec![key(None), key(None), key(Some(now - 10))];
        assert!(schedule(&keys, None, Path::new("keys"), &mut errors).is_some());
        // keys.active decides, whatever the times.
        let mut errors = Vec::new();
        let kid = keys[1].kid.clone();
        let pinned = schedule(&keys, Some(&kid), Path::new("keys"), &mut errors).unwrap();
        assert_eq!(pinned.at(now), 1);
    }
}
