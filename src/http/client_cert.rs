//! Where a client certificate comes from (RFC 8705, RFC 9440): the TLS
//! handshake of the connection ([`capture`], run once per connection), or
//! the `Client-Cert` header (`:base64 DER:`, with an optional
//! `Client-Cert-Chain`) of a proxy that terminated TLS — believed only
//! when the TCP peer, never `X-Forwarded-For`, is in `[mtls]
//! trusted_proxies`; the handshake certificate of a trusted proxy is its
//! own, never its client's, and is not used. From any other peer the
//! header is ignored.

use std::any::Any;
use std::net::IpAddr;
use std::sync::Arc;

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::Extensions;
use actix_web::http::header::HeaderName;
use actix_web::rt::net::TcpStream;
use actix_web::HttpRequest;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use ipnet::IpNet;
use rustls::pki_types::CertificateDer;

use crate::auth::{ClientCertificate, Reason};

// Names made once: a `&str` name is parsed and hashed again on every lookup.
const CLIENT_CERT: HeaderName = HeaderName::from_static("client-cert");
const CLIENT_CERT_CHAIN: HeaderName = HeaderName::from_static("client-cert-chain");

/// Certificates of a chain kept (the leaf and its intermediates): enough
/// for any real chain, and a bound on what each connection keeps.
const MAX_CHAIN: usize = 4;

/// The certificate of a TLS connection, kept with the connection.
#[derive(Clone)]
struct Handshake(Arc<ClientCertificate>);

/// `on_connect`: keeps the client certificate of a TLS connection, if the
/// client sent one.
pub fn capture(connection: &dyn Any, extensions: &mut Extensions) {
    let Some(tls) = connection.downcast_ref::<TlsStream<TcpStream>>() else {
        return;
    };
    if let Some(chain) = tls.get_ref().1.peer_certificates() {
        if !chain.is_empty() {
            extensions.insert(Handshake(Arc::new(ClientCertificate {
                chain: chain
                    .iter()
                    .take(MAX_CHAIN)
                    .map(|c| c.clone().into_owned())
                    .collect(),
            })));
        }
    }
}

/// What a request brings.
pub enum Presented {
    None,
    Certificate(Arc<ClientCertificate>),
    /// A `Client-Cert` header from an untrusted peer: ignored, counted.
    Untrusted,
}

/// The request's client certificate: the handshake's, else a trusted
/// proxy's header; `Err` for a malformed header from a trusted proxy.
pub fn presented(req: &HttpRequest, trusted_proxies: &[IpNet]) -> Result<Presented, Reason> {
    let handshake = || match req.conn_data::<Handshake>() {
        Some(Handshake(cert)) => Presented::Certificate(Arc::clone(cert)),
        None => Presented::None,
    };
    let mut headers = req.headers().get_all(CLIENT_CERT);
    let trusted = req
        .peer_addr()
        .map(|a| a.ip())
        .is_some_and(|ip| trusted(ip, trusted_proxies));
    let Some(header) = headers.next() else {
        // A trusted proxy's own certificate (RFC 9440 §6 recommends mTLS to
        // the proxy) is never its client's: without the header, none.
        return Ok(if trusted {
            Presented::None
        } else {
            handshake()
        });
    };
    if !trusted {
        return Ok(match handshake() {
            Presented::None => Presented::Untrusted,
            // The connection's own certificate stands; the header is ignored.
            certificate => certificate,
        });
    }
    // A trusted proxy speaks for its client: the header.
    if headers.next().is_some() {
        return Err(Reason::BadClientCertHeader);
    }
    let leaf = header
        .to_str()
        .ok()
        .and_then(byte_sequence)
        .ok_or(Reason::BadClientCertHeader)?;
    let mut chain = vec![leaf];
    for value in req.headers().get_all(CLIENT_CERT_CHAIN) {
        let text = value.to_str().map_err(|_| Reason::BadClientCertHeader)?;
        for item in text.split(',') {
            chain.push(byte_sequence(item).ok_or(Reason::BadClientCertHeader)?);
        }
    }
    chain.truncate(MAX_CHAIN);
    if crate::x509::parse(&chain[0]).is_none() {
        return Err(Reason::BadClientCertHeader);
    }
    Ok(Presented::Certificate(Arc::new(ClientCertificate {
        chain,
    })))
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    proxies.iter().any(|net| net.contains(&ip))
}

/// Padding optional: RFC 8941 §4.2.7 asks parsers not to fail without it.
const BYTES: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An RFC 8941 byte sequence, `:base64:`, as DER; parameters after it
/// (`;name=value`, none defined by RFC 9440) are ignored.
fn byte_sequence(text: &str) -> Option<CertificateDer<'static>> {
    let item = text.trim().split(';').next()?.trim_end();
    let inner = item.strip_prefix(':')?.strip_suffix(':')?;
    let der = BYTES.decode(inner).ok()?;
    (!der.is_empty()).then(|| CertificateDer::from(der))
}
