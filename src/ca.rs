//! A CA bundle: the certificates of a PEM file that outbound HTTPS trusts
//! instead of the system's roots (`ca_file` of a JWK Set source, and
//! `inspect --cacert`). Read with the same PEM reader as every other file.

use std::path::Path;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;

/// The certificates of `path`; the error is a sentence without the path
/// (the caller names the setting it came from).
pub fn read(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no `-----BEGIN CERTIFICATE-----` block; give the PEM certificate of the CA (or the self-signed certificate itself)".into());
    }
    Ok(certs)
}

/// A ureq agent configuration that trusts only `path`'s certificates.
pub fn ureq_tls(path: &Path) -> Result<ureq::tls::TlsConfig, String> {
    let certs: Vec<_> = read(path)?
        .into_iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    Ok(ureq::tls::TlsConfig::builder()
        .root_certs(certs.into())
        .build())
}
