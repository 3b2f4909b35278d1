//! What a snapshot is built from, listed once: the watcher watches these
//! files' directories, and a reload fingerprints their bytes. A new input
//! (a CA file, a secret file) is one more line in [`files`].

use std::path::{Path, PathBuf};

use crate::config::Settings;

/// SHA-256 over everything a snapshot is built from.
pub type Fingerprint = [u8; 32];

/// The files a snapshot reads by name, each with a tag for the
/// fingerprint; the configuration file first. Key files are found in
/// [`key_dir`] instead.
pub fn files(settings: &Settings) -> Vec<(&'static str, &Path)> {
    let mut files = vec![("config", settings.source.as_path())];
    if let Some(tls) = &settings.server.tls {
        files.push(("tls cert", &tls.cert));
        files.push(("tls key", &tls.key));
    }
    files.extend(
        settings
            .jwks_files
            .iter()
            .map(|f| ("jwks file", f.as_path())),
    );
    if let Some(store) = &settings.store {
        files.extend(store.files.iter().map(|f| ("store file", f.as_path())));
    }
    files.extend(
        settings
            .dpop
            .files
            .iter()
            .map(|f| ("dpop nonce secret", f.as_path())),
    );
    files.extend(
        settings
            .mtls
            .files
            .iter()
            .map(|f| ("mtls ca file", f.as_path())),
    );
    files
}

/// The directory whose `*.pem` files are the signing keys.
pub fn key_dir(settings: &Settings) -> &Path {
    &settings.keys.dir
}

/// Hashes what a snapshot is built from: the configuration file's bytes
/// (`config`, as [`read`] returns them), every `TOKENMINT_` variable, and,
/// when the file is valid (`settings`), each key file's name, mode and
/// bytes and the other [`files`]' bytes. Unreadable files hash as their
/// error.
pub fn fingerprint(config: &[u8], settings: Option<&Settings>) -> Fingerprint {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut part = |tag: &[u8], bytes: &[u8]| {
        for piece in [tag, bytes] {
            hash.update(&(piece.len() as u64).to_le_bytes());
            hash.update(piece);
        }
    };
    part(b"config", config);
    let mut env: Vec<_> = std::env::vars_os()
        .filter(|(name, _)| name.as_encoded_bytes().starts_with(b"TOKENMINT_"))
        .collect();
    env.sort();
    for (name, value) in &env {
        part(name.as_encoded_bytes(), value.as_encoded_bytes());
    }
    if let Some(settings) = settings {
        match crate::keys::pem_files(key_dir(settings)) {
            Ok(files) => {
                for file in files {
                    part(file.as_os_str().as_encoded_bytes(), &read(&file));
                    part(b"mode", &mode(&file).to_le_bytes());
                }
            }
            Err(e) => part(b"keys dir unreadable", e.to_string().as_bytes()),
        }
        for (tag, file) in files(settings).into_iter().skip(1) {
            part(tag.as_bytes(), &read(file));
        }
    }
    let digest = hash.finish();
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// A file's bytes behind `1`, or its error behind `0`: never the same.
pub fn read(path: &Path) -> Vec<u8> {
    match std::fs::read(path) {
        Ok(mut bytes) => {
            bytes.insert(0, 1);
            bytes
        }
        Err(e) => {
            let mut out = vec![0];
            out.extend_from_slice(e.to_string().as_bytes());
            out
        }
    }
}

/// The directory a file is in (`.` for a bare name).
pub fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).map_or(0, |m| m.permissions().mode())
}

#[cfg(not(unix))]
fn mode(_path: &Path) -> u32 {
    0
}
