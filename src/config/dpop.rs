//! `[dpop]` validation: the proof time window, and the nonce secret, which
//! is required (at least 32 bytes, never printed) as soon as any nonce is.

use std::path::PathBuf;

use super::problem::{Checked, Findings};
use super::raw::{RawClient, RawDpop};
use super::settings::DpopSettings;

/// The shortest `nonce_secret_file`: 256 bits.
const MIN_SECRET_BYTES: usize = 32;

/// The ids of the clients whose proofs need a nonce.
pub(super) fn nonce_clients(clients: &[RawClient]) -> Vec<String> {
    clients
        .iter()
        .filter(|c| c.dpop_nonce)
        .map(|c| c.id.clone())
        .collect()
}

/// `nonce_clients`: the ids of clients with `dpop_nonce = true`.
pub(super) fn dpop(raw: RawDpop, nonce_clients: &[String]) -> Checked<DpopSettings> {
    let mut f = Findings::default();
    let make = "make one with `head -c 32 /dev/urandom > dpop-nonce.key` and give every replica the same file";
    let mut files = Vec::new();
    let nonce_secret = match raw.nonce_secret_file.as_deref() {
        None => {
            if raw.require_nonce {
                f.problem(
                    "dpop.nonce_secret_file",
                    format!(
                        "is required with dpop.require_nonce = true: it keys the nonces; {make}"
                    ),
                );
            } else if let Some(id) = nonce_clients.first() {
                f.problem(
                    "dpop.nonce_secret_file",
                    format!("is required: client \"{id}\" sets dpop_nonce = true, and the secret keys the nonces; {make}"),
                );
            }
            None
        }
        Some(path) => {
            files.push(PathBuf::from(path));
            match std::fs::read(path) {
                Err(e) => {
                    f.problem("dpop.nonce_secret_file", format!("cannot read {path}: {e}"));
                    None
                }
                Ok(secret) if secret.len() < MIN_SECRET_BYTES => {
                    f.problem(
                        "dpop.nonce_secret_file",
                        format!("{path} holds {} bytes: at least {MIN_SECRET_BYTES} random bytes are needed (`head -c 32 /dev/urandom > {path}`)", secret.len()),
                    );
                    None
                }
                Ok(secret) => Some(secret),
            }
        }
    };
    for (key, value, default) in [
        ("dpop.proof_max_age", raw.proof_max_age, 60),
        ("dpop.nonce_lifetime", raw.nonce_lifetime, 60),
    ] {
        if value == 0 {
            f.problem(
                key,
                format!("= 0 would refuse every proof; the default is {default}"),
            );
        }
    }
    if raw.proof_max_age > 3600 {
        f.problem(
            "dpop.proof_max_age",
            format!("= {} s: a proof is a one-time, fresh signature (RFC 9449 §11.1); keep it at most 3600 (default 60)", raw.proof_max_age),
        );
    }
    if raw.leeway > 300 {
        f.problem(
            "dpop.leeway",
            format!(
                "= {} s: allow at most 300 s of clock skew (default 5)",
                raw.leeway
            ),
        );
    }
    let value = DpopSettings {
        proof_max_age: raw.proof_max_age,
        leeway: raw.leeway,
        require_nonce: raw.require_nonce,
        nonce_secret,
        nonce_lifetime: raw.nonce_lifetime,
        files,
    };
    Checked::new(value, f)
}
