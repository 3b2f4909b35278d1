//! `tokenmint new-client`: a strong random secret (256 bits), printed once on
//! a line of its own, then a `[[clients]]` block holding only its hash in the
//! fast `$sha256$` form. With `--jwks FILE`, no secret: a `private_key_jwt`
//! block with the file's public keys inline (SPEC §4.1).

use std::io::Write;

use anyhow::{anyhow, bail};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::scope::ScopeSet;
use crate::secret_hash::SecretHash;

fn check(id: &str, scopes: Option<&str>) -> anyhow::Result<ScopeSet> {
    if id.is_empty() || id.chars().any(char::is_control) {
        bail!("--id must be non-empty and without control characters");
    }
    Ok(match scopes.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => ScopeSet::parse(s).ok_or_else(|| {
            anyhow!("--scopes must be scope tokens separated by single spaces (RFC 6749 §3.3)")
        })?,
        None => ScopeSet::default(),
    })
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A `private_key_jwt` client with the public keys of `file` inline.
pub fn run_jwks(
    id: &str,
    scopes: Option<&str>,
    file: &std::path::Path,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let scopes = check(id, scopes)?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow!("cannot read {}: {e}", file.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow!("{} is not JSON: {e}", file.display()))?;
    let keys = match value.get("keys") {
        Some(serde_json::Value::Array(keys)) => keys.clone(),
        _ if value.get("kty").is_some() => vec![value],
        _ => bail!(
            "{} is neither a JWK Set {{\"keys\": [...]}} nor a JWK",
            file.display()
        ),
    };
    if let Err(problems) = crate::jose::PublicKeys::from_jwks(&keys) {
        bail!("{}:\n  - {}", file.display(), problems.join("\n  - "));
    }
    writeln!(out, "[[clients]]")?;
    writeln!(out, "id = {}", quote(id))?;
    writeln!(out, "auth_methods = [\"private_key_jwt\"]")?;
    writeln!(
        out,
        "scopes = [{}]",
        scopes.iter().map(quote).collect::<Vec<_>>().join(", ")
    )?;
    writeln!(out, "jwks = [")?;
    for key in &keys {
        writeln!(out, "  {},", toml_value(key))?;
    }
    writeln!(out, "]")?;
    Ok(())
}

/// A JSON value as TOML (objects as inline tables): JSON's string escapes
/// are TOML's, and serde_json writes no `\/`.
fn toml_value(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{} = {}", quote(k), toml_value(v)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

pub fn run(
    id: &str,
    scopes: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let scopes = check(id, scopes)?;
    let mut raw = [0u8; 32]; // 256 bits
    crate::crypto::random_bytes(&mut raw)
        .map_err(|_| anyhow!("the system random generator failed"))?;
    let secret = URL_SAFE_NO_PAD.encode(raw);
    // 256 random bits cannot be guessed: the fast form (SPEC §2) needs no
    // stretching, and so gives an attacker no CPU to make the server burn.
    let hash = SecretHash::fast(&secret).to_string();
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
