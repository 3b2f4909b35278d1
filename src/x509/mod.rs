//! X.509 client certificates (RFC 8705): their thumbprint (`cnf.x5t#S256`),
//! their public key as a JWK's members ([`spki_members`]), and whether one
//! names the subject a `tls_client_auth` client is configured with
//! ([`Subject`]). Chains are checked by rustls-webpki, elsewhere.

mod dn;
mod spki;

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

pub use dn::Dn;
pub use spki::spki_members;

/// RFC 8705 §3.1: base64url SHA-256 of the certificate's DER.
pub fn x5t_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(crate::crypto::sha256(der))
}

/// A parsed certificate, or `None` for bytes that are not one.
pub fn parse(der: &[u8]) -> Option<X509Certificate<'_>> {
    x509_parser::parse_x509_certificate(der)
        .ok()
        .map(|(_, c)| c)
}

/// The RFC 7638 thumbprint of a certificate's public key, when it is a key
/// tokenmint accepts.
pub fn key_thumbprint(cert: &X509Certificate<'_>) -> Option<String> {
    let members = spki_members(cert.public_key()).ok()?;
    Some(crate::jose::jwk::thumbprint(&members))
}

/// The one subject a `tls_client_auth` client names (RFC 8705 §2.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Dn(Dn),
    Dns(String),
    Uri(String),
    Ip(IpAddr),
    Email(String),
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Dn(dn) => write!(f, "DN \"{dn}\""),
            Subject::Dns(name) => write!(f, "SAN DNS {name}"),
            Subject::Uri(uri) => write!(f, "SAN URI {uri}"),
            Subject::Ip(ip) => write!(f, "SAN IP {ip}"),
            Subject::Email(email) => write!(f, "SAN email {email}"),
        }
    }
}

impl Subject {
    /// Whether `cert` carries this subject: its subject DN, or one of its
    /// subjectAltName entries of the kind.
    pub fn matches(&self, cert: &X509Certificate<'_>) -> bool {
        if let Subject::Dn(dn) = self {
            return Dn::from_name(cert.subject()).as_ref() == Some(dn);
        }
        let Ok(Some(san)) = cert.subject_alternative_name() else {
            return false;
        };
        san.value
            .general_names
            .iter()
            .any(|name| match (self, name) {
                (Subject::Dns(want), GeneralName::DNSName(got)) => want.eq_ignore_ascii_case(got),
                (Subject::Uri(want), GeneralName::URI(got)) => want == got,
                (Subject::Email(want), GeneralName::RFC822Name(got)) => {
                    want.eq_ignore_ascii_case(got)
                }
                (Subject::Ip(want), GeneralName::IPAddress(got)) => match want {
                    IpAddr::V4(v4) => *got == v4.octets().as_slice(),
                    IpAddr::V6(v6) => *got == v6.octets().as_slice(),
                },
                _ => false,
            })
    }
}
