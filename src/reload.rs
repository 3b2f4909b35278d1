//! Reloads: on SIGHUP, and when a watched directory changes (`watch`, wired
//! and debounced in `startup`). A reload reads the configuration file (with
//! its `TOKENMINT_` environment overrides), the keys directory and, with
//! TLS, the certificate and key; builds a whole new snapshot and certified
//! key; then swaps both in. If anything fails, the current snapshot and
//! certificate keep serving, and the log and
//! `tokenmint_config_reloads_total{result="failure"}` say so.
//!
//! A reload whose inputs are byte for byte those of the last attempt (the
//! [`fingerprint`]: file bytes, environment, key files and their modes, TLS
//! files) is a no-op: a debug line says so, nothing is counted, nothing is
//! swapped. A SIGHUP without a change is therefore one too, and a broken
//! file is counted as a failure once, not at every event that touches it.
//!
//! The certificate serves new connections; open ones keep theirs. Listener
//! addresses, workers, and turning TLS on or off are bound at start: a
//! change to them needs a restart, which the log says.

use std::path::Path;
use std::sync::PoisonError;

use crate::config::Settings;
use crate::state::{AppState, Snapshot};

/// SHA-256 over everything a snapshot is built from.
pub type Fingerprint = [u8; 32];

pub fn reload(state: &AppState) {
    // The file is read for the fingerprint before it is loaded: a change
    // between the two makes the next event reload again, never be missed.
    let config = read(&state.config_path);
    let loaded = crate::config::load(&state.config_path);
    let inputs = fingerprint(&config, loaded.as_ref().ok().map(|l| &l.settings));
    {
        let mut last = state
            .reload_inputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *last == inputs {
            tracing::debug!("configuration unchanged: nothing to reload");
            return;
        }
        *last = inputs;
    }
    let result = loaded
        .map_err(anyhow::Error::from)
        .and_then(|loaded| build(state, loaded.warnings, loaded.settings));
    match result {
        Ok((snapshot, cert)) => {
            let current = state.snapshot();
            let (old, new) = (&current.settings.server, &snapshot.settings.server);
            if old.listen != new.listen
                || old.admin_listen != new.admin_listen
                || old.workers != new.workers
            {
                tracing::warn!(
                    "[server] listen, admin_listen or workers changed: they apply at the next restart"
                );
            }
            if state.tls.is_some() != new.tls.is_some() {
                tracing::warn!(
                    "[server.tls] added or removed: HTTPS on or off applies at the next restart"
                );
            }
            if let (Some(store), Some(cert)) = (&state.tls, cert) {
                store.store(cert);
            }
            tracing::info!(kid = %snapshot.keys.active().kid, "configuration reloaded");
            state.swap(snapshot);
            state
                .metrics
                .config_reloads
                .with_label_values(&["success"])
                .inc();
            state
                .metrics
                .last_reload_success
                .set(crate::token::unix_now() as f64);
        }
        Err(e) => {
            tracing::error!("reload rejected, still serving the previous configuration: {e:#}");
            state
                .metrics
                .config_reloads
                .with_label_values(&["failure"])
                .inc();
        }
    }
}

/// The new snapshot and, when the listener serves TLS, the new certified
/// key: both or neither.
fn build(
    state: &AppState,
    warnings: Vec<String>,
    settings: Settings,
) -> anyhow::Result<(Snapshot, Option<rustls::sign::CertifiedKey>)> {
    let cert = match (&state.tls, &settings.server.tls) {
        (Some(_), Some(tls)) => {
            let (cert, tls_warnings) = crate::tls::certified_key(tls)?;
            Some((cert, tls_warnings))
        }
        _ => None,
    };
    let (snapshot, notes) = Snapshot::build(settings)?;
    let tls_warnings = cert.as_ref().map(|(_, w)| w.as_slice()).unwrap_or_default();
    for line in warnings.iter().chain(&notes).chain(tls_warnings) {
        tracing::warn!("{line}");
    }
    Ok((snapshot, cert.map(|(cert, _)| cert)))
}

/// Hashes what a snapshot is built from: the configuration file's bytes
/// (`config`, as [`read`] returns them), every `TOKENMINT_` variable, and,
/// when the file is valid (`settings`), each key file's name, mode and
/// bytes and the TLS files' bytes. Unreadable files hash as their error.
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
        match crate::keys::pem_files(&settings.keys.dir) {
            Ok(files) => {
                for file in files {
                    part(file.as_os_str().as_encoded_bytes(), &read(&file));
                    part(b"mode", &mode(&file).to_le_bytes());
                }
            }
            Err(e) => part(b"keys dir unreadable", e.to_string().as_bytes()),
        }
        if let Some(tls) = &settings.server.tls {
            part(b"tls cert", &read(&tls.cert));
            part(b"tls key", &read(&tls.key));
        }
        for file in &settings.jwks_files {
            part(b"jwks file", &read(file));
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

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).map_or(0, |m| m.permissions().mode())
}

#[cfg(not(unix))]
fn mode(_path: &Path) -> u32 {
    0
}
