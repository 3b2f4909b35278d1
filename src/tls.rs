//! HTTPS for the public listener: a rustls `ServerConfig` on the ring
//! provider (rustls's default, aws-lc-rs, is a C/CMake build we avoid),
//! TLS 1.2 and 1.3 only. actix adds the `h2` and `http/1.1` ALPN protocols.
//! The key may be PKCS#8, PKCS#1 or SEC1, as openssl and certificate
//! managers write them. Problems name the file; near expiry is a warning.
//!
//! The certificate is not fixed in the `ServerConfig`: each handshake asks
//! a [`CertStore`] for the current pair, which a reload replaces, so new
//! connections get the new certificate and open ones keep theirs. Session
//! resumption is on: stateless tickets (ring's ChaCha20-Poly1305
//! `Ticketer`, keys rotated every 6 hours) and, for TLS 1.2 clients without
//! ticket support, an in-memory session cache.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::UnixTime;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

use crate::config::TlsSettings;

const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// Sessions the server-side cache keeps (TLS 1.2 session ids); about
/// 100 bytes each.
const SESSION_CACHE_ENTRIES: usize = 4096;

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
    #[error("server.tls: cannot make the session ticket keys: {0}")]
    Tickets(String),
}

/// The certificate chain and key new connections are served, replaced
/// whole by [`store`](Self::store), and whether handshakes ask for a
/// client certificate.
#[derive(Debug)]
pub struct CertStore {
    key: ArcSwap<CertifiedKey>,
    ask_client_cert: AtomicBool,
}

impl CertStore {
    pub fn new(key: CertifiedKey) -> Self {
        Self {
            key: ArcSwap::from_pointee(key),
            ask_client_cert: AtomicBool::new(false),
        }
    }

    /// Serves `key` to every connection that starts from now on.
    pub fn store(&self, key: CertifiedKey) {
        self.key.store(Arc::new(key));
    }

    /// Whether handshakes from now on ask for a client certificate (some
    /// client authenticates with one or has its tokens bound to one).
    pub fn ask_client_cert(&self, ask: bool) {
        self.ask_client_cert.store(ask, Ordering::Relaxed);
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key.load_full())
    }
}

/// Asks for (never requires) a client certificate when the [`CertStore`]
/// says so, and accepts any: the handshake proves the client holds the
/// certificate's key, and the token endpoint decides what the certificate
/// is worth (a chain to `[mtls] ca_file` for `tls_client_auth`, a key of
/// the client for `self_signed_tls_client_auth`, RFC 8705 §2).
#[derive(Debug)]
struct AskClientCert {
    store: Arc<CertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AskClientCert {
    fn offer_client_auth(&self) -> bool {
        self.store.ask_client_cert.load(Ordering::Relaxed)
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Reads and checks the pair: both parse, and the key is the certificate's.
/// The second value holds warnings (near expiry).
pub fn certified_key(tls: &TlsSettings) -> Result<(CertifiedKey, Vec<String>), TlsError> {
    let certs = load_certs(&tls.cert)?;
    let warnings = expiry_warnings(&tls.cert, &certs[0]);
    let key = load_key(&tls.key)?;
    let provider = rustls::crypto::ring::default_provider();
    let key = CertifiedKey::from_der(certs, key, &provider).map_err(|e| TlsError::Mismatch {
        cert: tls.cert.clone(),
        key: tls.key.clone(),
        reason: e.to_string(),
    })?;
    Ok((key, warnings))
}

/// Builds the server configuration around a [`CertStore`] holding the
/// current pair; the third value holds warnings.
pub fn server_config(
    tls: &TlsSettings,
) -> Result<(ServerConfig, Arc<CertStore>, Vec<String>), TlsError> {
    let (key, warnings) = certified_key(tls)?;
    let store = Arc::new(CertStore::new(key));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Cert {
            path: tls.cert.clone(),
            reason: e.to_string(),
        })?
        .with_client_cert_verifier(Arc::new(AskClientCert {
            store: Arc::clone(&store),
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }))
        .with_cert_resolver(Arc::clone(&store) as Arc<dyn ResolvesServerCert>);
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
    config.ticketer =
        rustls::crypto::ring::Ticketer::new().map_err(|e| TlsError::Tickets(e.to_string()))?;
    Ok((config, store, warnings))
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
