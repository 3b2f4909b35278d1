//! `tokenmint new-client`: a strong random secret (256 bits), printed once on
//! a line of its own, then a `[[clients]]` block holding only its hash in the
//! fast `$sha256$` form. With `--jwks FILE`, no secret: a `private_key_jwt`
//! block with the file's public keys inline (docs/client-authentication.md).
//! FILE is a JWK Set, one JWK, or the PEM that a client's tooling exports: a
//! public key (SubjectPublicKeyInfo, what `openssl pkey -pubout` writes) or
//! a certificate, whose key becomes a JWK with its RFC 7638 thumbprint as
//! `kid`. Whatever the form, the keys must pass the parser the server uses.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};
use x509_parser::prelude::FromDer as _;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::scope::ScopeSet;
use crate::secret_hash::SecretHash;

/// The forms `--jwks` reads, for messages.
const EXPECTED: &str = "a JWK Set {\"keys\": [...]}, one JWK, a PEM public key \
     (`-----BEGIN PUBLIC KEY-----`, e.g. from `openssl pkey -in client.key -pubout`) \
     or a PEM certificate (`-----BEGIN CERTIFICATE-----`)";

/// Why `--jwks FILE` gave no usable key. Every message names the file; none
/// echoes what a private key holds.
#[derive(Debug, thiserror::Error)]
pub enum JwksFileError {
    #[error("cannot read {file}: {error}")]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    /// Not one of the forms `--jwks` reads.
    #[error("{file} {reason}; expected {EXPECTED}")]
    Form { file: PathBuf, reason: String },
    /// A readable key that tokenmint does not accept, and why.
    #[error("{file} {reason}")]
    Key { file: PathBuf, reason: String },
    /// JWKs the server's parser refuses.
    #[error("{file}:\n  - {}", .problems.join("\n  - "))]
    Refused {
        file: PathBuf,
        problems: Vec<String>,
    },
}

/// The first character of a JWK or a JWK Set.
const JSON_OBJECT: char = '{';

/// The keys of `file`, and whether they came from PEM (and so were given a
/// `kid` here).
fn read_keys(file: &Path) -> Result<(Vec<Value>, bool), JwksFileError> {
    let text = std::fs::read_to_string(file).map_err(|error| JwksFileError::Read {
        file: file.to_path_buf(),
        error,
    })?;
    let form = |reason: &str| JwksFileError::Form {
        file: file.to_path_buf(),
        reason: reason.to_string(),
    };
    let json = text.trim_start().starts_with(JSON_OBJECT);
    if !json && (text.starts_with("-----BEGIN ") || text.contains("\n-----BEGIN ")) {
        return Ok((vec![pem_jwk(&text, file)?], true));
    }
    if ["ssh-", "ecdsa-sha2-"].iter().any(|p| text.starts_with(p)) {
        return Err(form(&format!(
            "is an OpenSSH public key: convert it with `ssh-keygen -e -m PKCS8 -f {}` (RSA and ECDSA keys)",
            file.display()
        )));
    }
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        form(&match json {
            true => format!("is not JSON ({e})"),
            false => "is neither JSON nor PEM".to_string(),
        })
    })?;
    match value.get("keys") {
        Some(Value::Array(keys)) => Ok((keys.clone(), false)),
        _ if value.get("kty").is_some() => Ok((vec![value], false)),
        _ => Err(form("is JSON but neither a JWK Set nor a JWK")),
    }
}

/// The first PEM block of `file` (a public key or a certificate) as a
/// public JWK, its `kid` the RFC 7638 thumbprint.
fn pem_jwk(text: &str, file: &Path) -> Result<Value, JwksFileError> {
    let form = |reason: String| JwksFileError::Form {
        file: file.to_path_buf(),
        reason,
    };
    let refused = |reason: String| JwksFileError::Key {
        file: file.to_path_buf(),
        reason,
    };
    let block = crate::pem::first_block(text).map_err(form)?;
    let spki_der = match (block.label, block.der.as_deref()) {
        ("PUBLIC KEY", Some(der)) => der.to_vec(),
        ("CERTIFICATE", Some(der)) => x509_parser::parse_x509_certificate(der)
            .map_err(|_| form("holds a CERTIFICATE block that is not X.509".into()))?
            .1
            .public_key()
            .raw
            .to_vec(),
        // The key is never decoded: nothing of it can reach a message.
        (label, _) if label.contains("PRIVATE KEY") => {
            return Err(refused(format!(
                "holds a private key (`-----BEGIN {label}-----`): give the client's public key \
                 only, e.g. `openssl pkey -in {} -pubout -out client.pub.pem`",
                file.display()
            )))
        }
        ("RSA PUBLIC KEY", _) => {
            return Err(refused(format!(
                "holds a PKCS#1 `RSA PUBLIC KEY`: convert it with \
                 `openssl rsa -RSAPublicKey_in -in {} -pubout -out client.pub.pem`",
                file.display()
            )))
        }
        (label, _) => return Err(form(format!("holds a `-----BEGIN {label}-----` block"))),
    };
    let (_, spki) = SubjectPublicKeyInfo::from_der(&spki_der)
        .map_err(|_| form("holds a PUBLIC KEY block that is not a SubjectPublicKeyInfo".into()))?;
    let members = crate::x509::spki_members(&spki).map_err(refused)?;
    let kid = crate::keys::thumbprint(&members);
    let mut jwk: Map<String, Value> = members
        .into_iter()
        .map(|(name, value)| (name.to_string(), Value::String(value)))
        .collect();
    jwk.insert("kid".into(), Value::String(kid));
    Ok(Value::Object(jwk))
}

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

/// A `private_key_jwt` client with the public keys of `file` inline. A
/// key converted from PEM gets a `kid`; `err` says which, since the client
/// must name it (or none) in its assertions.
pub fn run_jwks(
    id: &str,
    scopes: Option<&str>,
    file: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let scopes = check(id, scopes)?;
    let (keys, from_pem) = read_keys(file)?;
    if let Err(problems) = crate::jose::PublicKeys::from_jwks(&keys) {
        return Err(JwksFileError::Refused {
            file: file.to_path_buf(),
            problems,
        }
        .into());
    }
    if from_pem {
        let kid = keys[0]
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        writeln!(err, "The key of {} is the JWK with kid \"{kid}\" (its RFC 7638 thumbprint): the client puts that kid in its assertions' header, or no kid at all.", file.display())?;
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
    // 256 random bits cannot be guessed: the fast form (docs/configuration.md) needs no
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
