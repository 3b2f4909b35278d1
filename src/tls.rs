//! HTTPS for the public listener: a rustls `ServerConfig` on the ring
//! provider (rustls's default, aws-lc-rs, is a C/CMake build we avoid),
//! TLS 1.2 and 1.3 only. actix adds the `h2` and `http/1.1` ALPN protocols.
//! The key may be PKCS#8, PKCS#1 or SEC1, as openssl and certificate
//! managers write them. Problems name the file; near expiry is a warning.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::config::TlsSettings;

const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.tls.cert {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("server.tls.key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("server.tls: the key {key} does not match the certificate {cert}: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// Builds the server configuration; the second value holds warnings.
pub fn server_config(tls: &TlsSettings) -> Result<(ServerConfig, Vec<String>), TlsError> {
    let certs = load_certs(&tls.cert)?;
    let warnings = expiry_warnings(&tls.cert, &certs[0]);
    let key = load_key(&tls.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Cert {
            path: tls.cert.clone(),
            reason: e.to_string(),
        })?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Mismatch {
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            reason: e.to_string(),
        })?;
    Ok((config, warnings))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::Cert {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = read(path).map_err(err)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(err(
            "no `-----BEGIN CERTIFICATE-----` block: expected a PEM certificate chain, leaf first"
                .into(),
        ));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let err = |reason: String| TlsError::Key {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = read(path).map_err(err)?;
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(err(
            "the key is encrypted; tokenmint needs it unencrypted (`openssl pkey -in enc.pem -out key.pem`) and readable only by its user".into(),
        ));
    }
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        err(format!(
            "no usable private key (PKCS#8 `BEGIN PRIVATE KEY`, PKCS#1 `BEGIN RSA PRIVATE KEY` or SEC1 `BEGIN EC PRIVATE KEY`): {e}"
        ))
    })
}

fn expiry_warnings(path: &Path, leaf: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        return vec![format!(
            "server.tls.cert {}: the leaf certificate could not be parsed to check its expiry",
            path.display()
        )];
    };
    let not_after = cert.validity().not_after.timestamp();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if not_after <= now {
        vec![format!(
            "server.tls.cert {}: the certificate expired {} day(s) ago; clients will refuse it",
            path.display(),
            (now - not_after) / 86400
        )]
    } else if not_after - now < EXPIRY_WARNING.as_secs() as i64 {
        vec![format!(
            "server.tls.cert {}: the certificate expires in {} day(s); renew it",
            path.display(),
            (not_after - now) / 86400
        )]
    } else {
        vec![]
    }
}
