//! `[mtls]` validation: the CA file `tls_client_auth` certificates chain
//! to, the proxies whose `Client-Cert` header is believed, and whether the
//! clients that need a certificate can get one to tokenmint at all.

use std::path::{Path, PathBuf};

use super::problem::{Checked, Findings};
use super::raw::RawMtls;
use super::settings::{AuthMethod, ClientSettings, MtlsSettings};

pub(super) fn mtls(raw: RawMtls) -> Checked<MtlsSettings> {
    let mut f = Findings::default();
    let trusted_proxies =
        super::validate::networks("mtls.trusted_proxies", &raw.trusted_proxies, &mut f);
    let mut files = Vec::new();
    let roots = match raw.ca_file.as_deref() {
        None => Vec::new(),
        Some(path) => {
            files.push(PathBuf::from(path));
            crate::ca::read(Path::new(path)).unwrap_or_else(|e| {
                f.problem("mtls.ca_file", format!("{path} {e}"));
                Vec::new()
            })
        }
    };
    Checked::new(
        MtlsSettings {
            roots,
            trusted_proxies,
            files,
        },
        f,
    )
}

/// What the clients' certificate methods need of `[mtls]` and `[server]`.
pub(super) fn needs(
    mtls: &MtlsSettings,
    tls: bool,
    ca_file_set: bool,
    clients: &[ClientSettings],
) -> Findings {
    let mut f = Findings::default();
    if let Some(c) = clients.iter().find(|c| c.needs_certificate()) {
        if !tls && mtls.trusted_proxies.is_empty() {
            f.problem(
                "mtls.trusted_proxies",
                format!("client \"{}\" needs a client certificate, but nothing can bring one: serve HTTPS with [server.tls], or list the TLS-terminating proxies that forward the Client-Cert header here", c.id),
            );
        }
    }
    if let Some(c) = clients
        .iter()
        .find(|c| c.auth_methods.contains(&AuthMethod::TlsClientAuth))
    {
        if !ca_file_set {
            f.problem(
                "mtls.ca_file",
                format!("is required: client \"{}\" uses tls_client_auth, whose certificates must chain to a CA in this PEM file", c.id),
            );
        }
    }
    f
}
