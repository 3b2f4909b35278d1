//! `tokenmint new-client`: a strong random secret (256 bits), printed once on
//! a line of its own, then a `[[clients]]` block holding only its hash in the
//! fast `$sha256$` form.

use std::io::Write;

use anyhow::{anyhow, bail};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::oauth::scope::ScopeSet;
use crate::secret_hash::SecretHash;

pub fn run(
    id: &str,
    scopes: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    if id.is_empty() || id.chars().any(char::is_control) {
        bail!("--id must be non-empty and without control characters");
    }
    let scopes = match scopes.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => ScopeSet::parse(s).ok_or_else(|| {
            anyhow!("--scopes must be scope tokens separated by single spaces (RFC 6749 §3.3)")
        })?,
        None => ScopeSet::default(),
    };
    let mut raw = [0u8; 32]; // 256 bits
    crate::crypto::random_bytes(&mut raw)
        .map_err(|_| anyhow!("the system random generator failed"))?;
    let secret = URL_SAFE_NO_PAD.encode(raw);
    // 256 random bits cannot be guessed: the fast form (SPEC §2) needs no
    // stretching, and so gives an attacker no CPU to make the server burn.
    let hash = SecretHash::fast(&secret).to_string();
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    writeln!(err, "The first line is the client secret for {id}. It is shown only this once: hand it to the client now.")?;
    writeln!(out, "{secret}")?;
    writeln!(out)?;
    writeln!(out, "[[clients]]")?;
    writeln!(out, "id = {}", quote(id))?;
    writeln!(out, "secret_hash = {}", quote(&hash))?;
    writeln!(
        out,
        "scopes = [{}]",
        scopes.iter().map(quote).collect::<Vec<_>>().join(", ")
    )?;
    Ok(())
}
