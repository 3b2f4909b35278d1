//! `tokenmint new-client`: a strong random secret (256 bits), printed once on
//! a line of its own, then a `[[clients]]` block holding only its hash in the
//! fast `$sha256$` form. Without a secret (docs/client-authentication.md):
//! - `--jwks FILE`: a `private_key_jwt` block with the file's public keys
//!   inline. FILE is a JWK Set, one JWK, or the PEM that a client's tooling
//!   exports: a public key (SubjectPublicKeyInfo, what `openssl pkey
//!   -pubout` writes) or a certificate, whose key becomes a JWK with its
//!   RFC 7638 thumbprint as `kid`. Whatever the form, the keys must pass the
//!   parser the server uses.
//! - `--tls-subject-dn DN`: a `tls_client_auth` block naming that subject,
//!   which must pass the server's own DN parser.
//! - `--self-signed-cert FILE`: a `self_signed_tls_client_auth` block with
//!   the certificate's public key inline, converted as `--jwks` converts a
//!   PEM certificate.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};
use x509_parser::prelude::FromDer as _;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::cli::ClientKeys;
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
    /// `--self-signed-cert FILE` that holds no certificate.
    #[error(
        "{file} {reason}; expected the client's PEM certificate (`-----BEGIN CERTIFICATE-----`)"
    )]
    NotCertificate { file: PathBuf, reason: String },
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

/// A client without a secret, proven by whichever of `keys` is set (clap
/// lets exactly one be).
pub fn run_jwks(
    id: &str,
    scopes: Option<&str>,
    keys: &ClientKeys,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let scopes = check(id, scopes)?;
    match (&keys.jwks, &keys.tls_subject_dn, &keys.self_signed_cert) {
        (Some(file), None, None) => private_key_jwt(id, &scopes, file, out, err),
        (None, Some(dn), None) => tls_client_auth(id, &scopes, dn, out, err),
        (None, None, Some(file)) => self_signed(id, &scopes, file, out, err),
        _ => bail!("give one of --jwks, --tls-subject-dn and --self-signed-cert"),
    }
}

/// A `private_key_jwt` client with the public keys of `file` inline. A
/// key converted from PEM gets a `kid`; `err` says which, since the client
/// must name it (or none) in its assertions.
fn private_key_jwt(
    id: &str,
    scopes: &ScopeSet,
    file: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let (keys, from_pem) = read_keys(file)?;
    accepted(&keys, file)?;
    if from_pem {
        writeln!(err, "The key of {} is the JWK with kid \"{}\" (its RFC 7638 thumbprint): the client puts that kid in its assertions' header, or no kid at all.", file.display(), kid(&keys[0]))?;
    }
    head(out, id, "private_key_jwt", scopes)?;
    jwks(out, &keys)?;
    Ok(())
}

/// A `tls_client_auth` client: its certificate chains to `[mtls] ca_file`
/// and has the subject `dn`, which must parse as the server parses it.
fn tls_client_auth(
    id: &str,
    scopes: &ScopeSet,
    dn: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let dn = dn.trim();
    if let Err(reason) = crate::x509::Dn::parse(dn) {
        bail!("--tls-subject-dn {}: {reason}. Write the DN as RFC 4514 does, last RDN first: what `openssl x509 -in client.pem -noout -subject -nameopt RFC2253` prints after `subject=`, e.g. CN=inventory,O=Example", quote(dn));
    }
    if looks_reversed(dn) {
        writeln!(err, "Warning: {dn} starts with the top of the name. RFC 4514 lists the last RDN first (CN=…,O=…,C=…), and the order is compared: if this was copied from `openssl x509 -subject` without `-nameopt RFC2253`, it is reversed and no certificate will match.")?;
    }
    writeln!(err, "{id} sends only client_id={id} and presents a TLS client certificate whose subject is {dn}, issued by a CA of [mtls] ca_file. The configuration also needs [mtls] ca_file, and [server.tls] or [mtls] trusted_proxies.")?;
    head(out, id, "tls_client_auth", scopes)?;
    writeln!(out, "tls_client_auth_subject_dn = {}", quote(dn))?;
    Ok(())
}

/// Whether `dn` (which parses) has several RDNs and starts with C, DC or O,
/// as a name written in certificate order (openssl's default) does.
fn looks_reversed(dn: &str) -> bool {
    let first = dn.split('=').next().unwrap_or_default().trim();
    ["C", "DC", "O"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(first))
        && dn.contains(',')
}

/// A `self_signed_tls_client_auth` client with the public key of the
/// certificate in `file` inline, as a JWK named by its thumbprint.
fn self_signed(
    id: &str,
    scopes: &ScopeSet,
    file: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let key = read_certificate_key(file)?;
    let keys = [key];
    accepted(&keys, file)?;
    writeln!(err, "{id} sends only client_id={id} and presents the certificate of {} (or any certificate with the same key, RFC 7638 thumbprint {}); its issuer and expiry are not checked. The configuration also needs [server.tls] or [mtls] trusted_proxies.", file.display(), kid(&keys[0]))?;
    head(out, id, "self_signed_tls_client_auth", scopes)?;
    jwks(out, &keys)?;
    Ok(())
}

/// The public key of the PEM certificate in `file`, as a JWK.
fn read_certificate_key(file: &Path) -> Result<Value, JwksFileError> {
    let not = |reason: &str| JwksFileError::NotCertificate {
        file: file.to_path_buf(),
        reason: reason.to_string(),
    };
    let bytes = std::fs::read(file).map_err(|error| JwksFileError::Read {
        file: file.to_path_buf(),
        error,
    })?;
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(not(&format!("is not PEM (a DER certificate? convert it with `openssl x509 -inform DER -in {} -out client.pem`)", file.display())));
    };
    let block = crate::pem::first_block(&text).map_err(|_| not("holds no PEM block"))?;
    if block.label != "CERTIFICATE" {
        return Err(not(&format!(
            "holds a `-----BEGIN {}-----` block",
            block.label
        )));
    }
    if block.der.as_deref().and_then(crate::x509::parse).is_none() {
        return Err(not("holds a CERTIFICATE block that is not X.509"));
    }
    pem_jwk(&text, file)
}

/// `keys` pass the server's JWK parser.
fn accepted(keys: &[Value], file: &Path) -> Result<(), JwksFileError> {
    crate::jose::PublicKeys::from_jwks(keys)
        .map(drop)
        .map_err(|problems| JwksFileError::Refused {
            file: file.to_path_buf(),
            problems,
        })
}

fn kid(key: &Value) -> &str {
    key.get("kid").and_then(Value::as_str).unwrap_or_default()
}

/// The lines every block starts with.
fn head(out: &mut dyn Write, id: &str, method: &str, scopes: &ScopeSet) -> std::io::Result<()> {
    writeln!(out, "[[clients]]")?;
    writeln!(out, "id = {}", quote(id))?;
    writeln!(out, "auth_methods = [{}]", quote(method))?;
    writeln!(
        out,
        "scopes = [{}]",
        scopes.iter().map(quote).collect::<Vec<_>>().join(", ")
    )
}

fn jwks(out: &mut dyn Write, keys: &[Value]) -> std::io::Result<()> {
    writeln!(out, "jwks = [")?;
    for key in keys {
        writeln!(out, "  {},", toml_value(key))?;
    }
    writeln!(out, "]")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(dn: Option<&str>, cert: Option<&Path>) -> ClientKeys {
        ClientKeys {
            jwks: None,
            tls_subject_dn: dn.map(str::to_string),
            self_signed_cert: cert.map(Path::to_path_buf),
        }
    }

    /// stdout and stderr of `run_jwks`, or its error.
    fn run(keys: &ClientKeys) -> Result<(String, String), String> {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        run_jwks("inventory", Some("stock:read"), keys, &mut out, &mut err)
            .map_err(|e| format!("{e:#}"))?;
        Ok((
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        ))
    }

    #[test]
    fn a_subject_dn_gives_a_tls_client_auth_block_and_must_parse_as_the_server_parses_it() {
        let (out, err) = run(&keys(Some(" CN=Smith\\, John,O=Example "), None)).unwrap();
        assert_eq!(
            out,
            "[[clients]]\nid = \"inventory\"\nauth_methods = [\"tls_client_auth\"]\n\
             scopes = [\"stock:read\"]\ntls_client_auth_subject_dn = \"CN=Smith\\\\, John,O=Example\"\n"
        );
        assert!(
            err.contains("[mtls] ca_file") && !err.contains("Warning"),
            "{err}"
        );
        for bad in ["", "FOO=bar", "CN=#0403", "subject=CN=a"] {
            let e = run(&keys(Some(bad), None)).unwrap_err();
            assert!(
                e.contains("--tls-subject-dn") && e.contains("RFC2253"),
                "{bad}: {e}"
            );
        }
        let (_, err) = run(&keys(Some("O = Example, CN = inventory"), None)).unwrap();
        assert!(err.contains("Warning") && err.contains("reversed"), "{err}");
        assert!(!looks_reversed("CN=inventory"));
        assert!(!looks_reversed("CN=inventory,O=Example"));
    }

    #[test]
    fn a_self_signed_certificate_gives_its_key_as_a_jwk_and_nothing_else_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["edge.example".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let file = dir.path().join("edge.pem");
        std::fs::write(&file, cert.pem()).unwrap();
        let (out, err) = run(&keys(None, Some(&file))).unwrap();
        let parsed = crate::x509::parse(cert.der()).unwrap();
        let thumbprint = crate::x509::key_thumbprint(&parsed).unwrap();
        assert!(out.starts_with("[[clients]]\nid = \"inventory\"\nauth_methods = [\"self_signed_tls_client_auth\"]\n"), "{out}");
        assert!(
            out.contains(&format!("\"kid\" = \"{thumbprint}\"")),
            "{out}"
        );
        assert!(!out.contains("secret"), "{out}");
        assert!(err.contains(&thumbprint), "{err}");
        for (name, text) in [
            ("client.key", key.serialize_pem()),
            ("client.pub", key.public_key_pem()),
            ("notes.txt", "not a certificate".to_string()),
        ] {
            let file = dir.path().join(name);
            std::fs::write(&file, &text).unwrap();
            let e = run(&keys(None, Some(&file))).unwrap_err();
            assert!(
                e.contains("expected the client's PEM certificate"),
                "{name}: {e}"
            );
            let body = text.lines().nth(1).unwrap_or_default();
            assert!(
                body.is_empty() || !e.contains(body),
                "no key material echoed: {e}"
            );
        }
        let der = dir.path().join("edge.der");
        std::fs::write(&der, cert.der()).unwrap();
        let e = run(&keys(None, Some(&der))).unwrap_err();
        assert!(e.contains("-inform DER"), "{e}");
    }
}
