//! A resource server's side of tokenmint: fetch the JWK Set once, then
//! validate access tokens offline, the way an API behind tokenmint would.
//!
//! ```text
//! cargo run --release --example resource_server -- \
//!     --jwks http://127.0.0.1:9443/jwks --issuer http://127.0.0.1:9443 \
//!     --audience https://api.example.com "$TOKEN"
//! ```
//!
//! Over HTTPS with a certificate from a private CA, add `--cacert ca.pem`
//! (without it, the Mozilla roots of webpki-roots are trusted).
//!
//! Exit 0 and the claims on stdout when the token is valid; exit 1 and the
//! reason otherwise. With `--listen ADDR` instead of a token it is a tiny API
//! (docker-compose.yml runs it so): every `GET` needs
//! `Authorization: Bearer TOKEN`; it answers 200 with the claims or 401 with
//! an RFC 6750 / RFC 9449 `WWW-Authenticate` header. The JWK Set is fetched
//! on the first request and again when a token names a `kid` it does not
//! hold (at most every 10 s), as a resource server should cache it.
//!
//! Sender-constrained tokens (the token's `cnf` claim) are held to their
//! binding, and a token with both bindings to both:
//!
//! - `cnf.jkt`, DPoP (RFC 9449 §7): `Authorization: DPoP TOKEN` with one
//!   `DPoP` proof, signed by that key, for this request: a public `jwk`,
//!   `ath`, `htm`, `htu` under `--public-url`, a fresh `iat`, an unseen
//!   `jti`. A bound token sent as Bearer is refused.
//! - `cnf.x5t#S256`, mutual TLS (RFC 8705 §3): serve HTTPS with
//!   `--tls-cert FILE --tls-key FILE`; the listener asks every client for a
//!   certificate (never requires one), and the token is accepted only on a
//!   connection whose client certificate has that SHA-256 thumbprint. Any
//!   certificate is taken as the client's, self-signed too: holding its key
//!   is what the binding proves. With `--client-ca FILE`, only certificates
//!   that chain to it are.
//!
//! It uses jsonwebtoken only: the key comes from the JWK whose `kid` the
//! token names, the algorithm from that JWK (never from the token), and iss,
//! aud, exp, nbf and `typ: at+jwt` (RFC 9068 §4) are checked. jsonwebtoken
//! needs a crypto provider; a standalone service would enable its
//! `aws_lc_rs` or `rust_crypto` feature, this example borrows tokenmint's
//! ring provider so the package keeps one crypto stack. TLS is rustls on
//! ring for the same reason.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clap::Parser;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Header, Validation};
use serde_json::{Map, Value};

#[derive(Parser)]
struct Args {
    /// URL of the JWK Set (tokenmint's /jwks)
    #[arg(long)]
    jwks: String,
    /// PEM file of the CA that signed the JWK Set server's certificate
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Expected `iss`
    #[arg(long)]
    issuer: String,
    /// This API's identifier, expected in `aud`
    #[arg(long)]
    audience: String,
    /// Scope the request needs (optional)
    #[arg(long)]
    require_scope: Option<String>,
    /// Serve `GET /…` on this address, validating each request's bearer token
    #[arg(long, value_name = "ADDR", conflicts_with = "token")]
    listen: Option<String>,
    /// The URL clients reach the API at (with --listen), for the `htu` of
    /// DPoP proofs; default http://ADDR, or https://ADDR with --tls-cert
    #[arg(long, value_name = "URL", requires = "listen")]
    public_url: Option<String>,
    /// Serve HTTPS (with --listen) with this PEM certificate chain, leaf
    /// first; needed for certificate-bound tokens (cnf.x5t#S256)
    #[arg(long, value_name = "FILE", requires_all = ["listen", "tls_key"])]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Take only client certificates that chain to a CA of this PEM file
    /// (default: any certificate, self-signed too)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// The access token (without --listen)
    #[arg(required_unless_present = "listen")]
    token: Option<String>,
}

// ------------------------------------------------------------ the JWK Set

/// An HTTP agent trusting only `cacert`'s certificates when given.
fn agent(cacert: Option<&Path>) -> anyhow::Result<ureq::Agent> {
    let Some(path) = cacert else {
        return Ok(ureq::agent());
    };
    let pem = std::fs::read(path).with_context(|| format!("while reading {}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(c) = item? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(certs.into())
        .build();
    Ok(ureq::Agent::config_builder()
        .tls_config(tls)
        .build()
        .new_agent())
}

fn fetch_jwks(args: &Args) -> anyhow::Result<JwkSet> {
    // rustls says `UnknownIssuer` for a certificate from a private CA: name
    // the flag that fixes it.
    let hint = if args.jwks.starts_with("https://") && args.cacert.is_none() {
        " (for a server whose certificate a private CA signed, pass --cacert CA.pem)"
    } else {
        ""
    };
    let body = agent(args.cacert.as_deref())?
        .get(&args.jwks)
        .call()
        .with_context(|| format!("while fetching {}{hint}", args.jwks))?
        .body_mut()
        .read_to_string()?;
    serde_json::from_str(&body).context("the JWK Set is not valid JSON")
}

// ------------------------------------------------------ the access token

/// Why validation failed, with what was expected and what the token says.
fn explain(e: &jsonwebtoken::errors::Error, token: &str, args: &Args) -> String {
    use jsonwebtoken::errors::ErrorKind;
    let claims: Map<String, Value> =
        jsonwebtoken::dangerous::insecure_decode_claims(token).unwrap_or_default();
    let found = |name: &str| {
        claims
            .get(name)
            .map(Value::to_string)
            .unwrap_or_else(|| "none".into())
    };
    let now = unix_now();
    match e.kind() {
        ErrorKind::InvalidIssuer => {
            format!(
                "issuer: expected \"{}\", found {}",
                args.issuer,
                found("iss")
            )
        }
        ErrorKind::InvalidAudience => format!(
            "audience: expected \"{}\", found {}",
            args.audience,
            found("aud")
        ),
        ErrorKind::ExpiredSignature => {
            format!(
                "expired: expected exp after now ({now}), found exp {}",
                found("exp")
            )
        }
        ErrorKind::ImmatureSignature => format!(
            "not yet valid: expected nbf at or before now ({now}), found nbf {}",
            found("nbf")
        ),
        _ => e.to_string(),
    }
}

/// Whether a JOSE `typ` names the media type `want` (e.g. `at+jwt`): media
/// types compare case-insensitively, and `typ` may carry the
/// `application/` prefix or leave it out (RFC 7515 §4.1.9).
fn typ_is(typ: Option<&str>, want: &str) -> bool {
    let Some(typ) = typ else {
        return false;
    };
    let short = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    short.eq_ignore_ascii_case(want)
}

/// The `kid` a token names, after checking its `typ`.
fn token_kid(token: &str) -> anyhow::Result<String> {
    let header = decode_header(token).context("malformed token")?;
    if !typ_is(header.typ.as_deref(), "at+jwt") {
        bail!("typ is {:?}, not at+jwt (RFC 9068 §4)", header.typ);
    }
    header.kid.ok_or_else(|| anyhow!("the token has no kid"))
}

fn validate(token: &str, jwks: &JwkSet, args: &Args) -> anyhow::Result<Map<String, Value>> {
    let kid = token_kid(token)?;
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| anyhow!("kid {kid} is not in the JWK Set"))?;
    let alg: Algorithm = jwk
        .common
        .key_algorithm
        .ok_or_else(|| anyhow!("the JWK has no alg"))?
        .to_string()
        .parse()?;
    let key = DecodingKey::from_jwk(jwk)?;

    let mut validation = Validation::new(alg);
    validation.set_issuer(&[&args.issuer]);
    validation.set_audience(&[&args.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    let claims = decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| anyhow!(explain(&e, token, args)))?
        .claims;

    if let Some(needed) = &args.require_scope {
        let scopes = claims.get("scope").and_then(Value::as_str).unwrap_or("");
        if !scopes.split(' ').any(|s| s == needed) {
            bail!("scope {needed} is not granted (token has \"{scopes}\")");
        }
    }
    Ok(claims)
}

/// What a token is bound to (its `cnf` claim, RFC 7800): the thumbprint of
/// a DPoP key (RFC 9449 §6.1) and of a client certificate (RFC 8705 §3.1).
#[derive(Default)]
struct Binding {
    jkt: Option<String>,
    x5t: Option<String>,
}

impl Binding {
    /// What cannot be checked is refused rather than skipped, since
    /// skipping would make a bound token a bearer one: a `cnf` that is no
    /// object, a member that is no string, a confirmation method this
    /// server does not know.
    fn of(claims: &Map<String, Value>) -> anyhow::Result<Self> {
        const KNOWN: [&str; 2] = ["jkt", "x5t#S256"];
        let Some(cnf) = claims.get("cnf") else {
            return Ok(Self::default());
        };
        let cnf = cnf
            .as_object()
            .ok_or_else(|| anyhow!("cnf is not a JSON object"))?;
        if let Some(unknown) = cnf.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            bail!("cnf.{unknown} is a confirmation method this server cannot check");
        }
        let member = |name: &str| match cnf.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(anyhow!("cnf.{name} is not a string")),
        };
        Ok(Self {
            jkt: member("jkt")?,
            x5t: member("x5t#S256")?,
        })
    }
}

// ------------------------------------------------------------ the API mode

/// The API mode's state: the cached JWK Set and when it was fetched, and
/// the DPoP proofs seen (RFC 9449 §11.1: a proof is used once).
struct Api {
    args: Args,
    public_url: String,
    jwks: Mutex<Option<(Arc<JwkSet>, Instant)>>,
    proofs_seen: Mutex<HashMap<String, u64>>,
}

/// Why a request is refused: the `WWW-Authenticate` scheme and error
/// (RFC 6750 §3, RFC 9449 §7.1) and the reason.
struct Refusal {
    scheme: &'static str,
    error: &'static str,
    reason: String,
}

impl Refusal {
    fn bearer(reason: impl std::fmt::Display) -> Self {
        Self {
            scheme: "Bearer",
            error: "invalid_token",
            reason: format!("{reason:#}"),
        }
    }
    fn dpop(error: &'static str, reason: impl std::fmt::Display) -> Self {
        Self {
            scheme: "DPoP",
            error,
            reason: format!("{reason:#}"),
        }
    }
    /// `invalid_token` in the scheme the token was sent with.
    fn invalid_token(scheme: Scheme, reason: impl std::fmt::Display) -> Self {
        match scheme {
            Scheme::Bearer => Self::bearer(reason),
            Scheme::Dpop => Self::dpop("invalid_token", reason),
        }
    }
}

/// The `Authorization` scheme a token came with.
#[derive(Clone, Copy)]
enum Scheme {
    Bearer,
    Dpop,
}

/// What a request brings: method, path, `Authorization`, `DPoP` headers,
/// and the `x5t#S256` of the connection's client certificate, if any.
struct Presented {
    method: String,
    path: String,
    authorization: Option<String>,
    proofs: Vec<String>,
    certificate: Option<String>,
}

/// How long a proof stays fresh, and how far ahead its `iat` may be.
const PROOF_MAX_AGE: u64 = 60;
const PROOF_LEEWAY: u64 = 5;

impl Api {
    const REFETCH_AFTER: Duration = Duration::from_secs(10);

    /// The cached JWK Set, fetched first if there is none or if it lacks the
    /// token's `kid` and was fetched over 10 s ago. Runs on a blocking thread.
    fn keys_for(&self, token: &str) -> anyhow::Result<Arc<JwkSet>> {
        let kid = token_kid(token)?;
        let cached = self.jwks.lock().map_err(|_| anyhow!("poisoned"))?.clone();
        if let Some((jwks, at)) = &cached {
            if jwks.find(&kid).is_some() || at.elapsed() < Self::REFETCH_AFTER {
                return Ok(jwks.clone());
            }
        }
        let fresh = Arc::new(fetch_jwks(&self.args)?);
        *self.jwks.lock().map_err(|_| anyhow!("poisoned"))? = Some((fresh.clone(), Instant::now()));
        Ok(fresh)
    }

    /// A valid token, sent as its binding requires, with each binding
    /// proven: the connection's certificate for `x5t#S256` (RFC 8705 §3),
    /// a DPoP proof for `jkt` (RFC 9449 §7). The certificate is checked
    /// first: it costs nothing, while a proof's `jti` is spent when checked.
    fn check(&self, req: &Presented) -> Result<Map<String, Value>, Refusal> {
        let (scheme, token) = access_token(req.authorization.as_deref())?;
        let claims = self
            .keys_for(token)
            .and_then(|jwks| validate(token, &jwks, &self.args))
            .map_err(Refusal::bearer)?;
        let binding = Binding::of(&claims).map_err(|e| Refusal::invalid_token(scheme, e))?;
        let jkt = scheme_fits(scheme, binding.jkt.as_deref())?;
        if let Some(x5t) = &binding.x5t {
            certificate_matches(x5t, req.certificate.as_deref())
                .map_err(|e| Refusal::invalid_token(scheme, e))?;
        }
        if let Some(jkt) = jkt {
            self.check_proof(req, token, jkt)?;
        }
        Ok(claims)
    }
}

/// The scheme and token of `Authorization` (the scheme is case-insensitive,
/// RFC 9110 §11.1).
fn access_token(authorization: Option<&str>) -> Result<(Scheme, &str), Refusal> {
    match authorization.unwrap_or("").split_once(' ') {
        Some((s, t)) if s.eq_ignore_ascii_case("Bearer") => Ok((Scheme::Bearer, t)),
        Some((s, t)) if s.eq_ignore_ascii_case("DPoP") => Ok((Scheme::Dpop, t)),
        _ => Err(Refusal::bearer("no Bearer or DPoP access token")),
    }
}

/// A DPoP-bound token must come as `DPoP` (RFC 9449 §7.1: as Bearer, a
/// stolen one would need no proof), any other as `Bearer`. The `jkt` to
/// prove, if any.
fn scheme_fits(scheme: Scheme, jkt: Option<&str>) -> Result<Option<&str>, Refusal> {
    match (scheme, jkt) {
        (Scheme::Bearer, None) => Ok(None),
        (Scheme::Bearer, Some(_)) => Err(Refusal::dpop(
            "invalid_token",
            "the token is DPoP-bound: send it as Authorization: DPoP, with a proof",
        )),
        (Scheme::Dpop, None) => Err(Refusal::bearer(
            "the token is not DPoP-bound: send it as Bearer",
        )),
        (Scheme::Dpop, Some(jkt)) => Ok(Some(jkt)),
    }
}

// ------------------------------------------------- mutual TLS (RFC 8705)

/// RFC 8705 §3: the token is bound to the certificate whose thumbprint is
/// `x5t`, so the client must have presented that very certificate in this
/// connection's handshake (which proved it holds the certificate's key).
fn certificate_matches(x5t: &str, presented: Option<&str>) -> anyhow::Result<()> {
    match presented {
        None => bail!(
            "the token is bound to a client certificate (cnf.x5t#S256) and this connection presented none"
        ),
        Some(got) if got != x5t => bail!(
            "the token is bound to another client certificate than this connection's (cnf.x5t#S256)"
        ),
        Some(_) => Ok(()),
    }
}

/// RFC 8705 §3.1: base64url SHA-256 of the certificate's DER.
fn x5t_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, der))
}

/// The `x5t#S256` of a connection's client certificate, kept with the
/// connection.
#[derive(Clone)]
struct ClientCertificate(String);

/// `on_connect`: keeps the thumbprint of the client certificate of a TLS
/// connection, if the client sent one (plain connections have none).
fn capture(connection: &dyn std::any::Any, extensions: &mut actix_web::dev::Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    let Some(tls) = connection.downcast_ref::<Tls>() else {
        return;
    };
    if let Some(leaf) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
        extensions.insert(ClientCertificate(x5t_s256(leaf.as_ref())));
    }
}

/// Asks every client for a certificate, requires none and takes any: the
/// handshake signature still proves the client holds the certificate's
/// key, and a resource server needs no more than that (RFC 8705 §3: the
/// token says which certificate; who issued it does not matter here).
#[derive(Debug)]
struct AnyClientCert(rustls::crypto::WebPkiSupportedAlgorithms);

impl rustls::server::danger::ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// What the listener does with client certificates: with `client_ca`,
/// asks for one chaining to it (still optional, so bearer clients get in);
/// without, asks for any.
fn client_verifier(
    client_ca: Option<&Path>,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> anyhow::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let Some(path) = client_ca else {
        return Ok(Arc::new(AnyClientCert(
            provider.signature_verification_algorithms,
        )));
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in pem_certificates(path)? {
        roots
            .add(cert)
            .with_context(|| format!("--client-ca {}", path.display()))?;
    }
    Ok(rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()?)
}

fn pem_certificates(
    path: &Path,
) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::{pem::PemObject as _, CertificateDer};
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("{}: not a PEM certificate file", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// The HTTPS configuration: rustls on ring, TLS 1.2 and 1.3, the
/// certificate and key given, client certificates asked for.
fn tls_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::{pem::PemObject as _, PrivateKeyDer};
    let chain = pem_certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("{}: no PEM private key", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = client_verifier(client_ca, &provider)?;
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("--tls-key: not a usable key for --tls-cert")
}

// ------------------------------------------------------ DPoP (RFC 9449)

impl Api {
    /// RFC 9449 §4.3: the one proof of this request, signed by the key the
    /// token is bound to, then §11.1: used once.
    fn check_proof(&self, req: &Presented, token: &str, jkt: &str) -> Result<(), Refusal> {
        let bad = |reason: String| Refusal::dpop("invalid_dpop_proof", reason);
        let [proof] = req.proofs.as_slice() else {
            return Err(bad("exactly one DPoP proof header is needed".into()));
        };
        let (header, jwk) = proof_header(proof).map_err(bad)?;
        let claims = proof_claims(proof, &header, &jwk).map_err(bad)?;
        // The binding: the proof's key is the one the token names.
        let thumbprint = jwk
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .map_err(|e| bad(format!("proof jwk: {e}")))?;
        if thumbprint != jkt {
            return Err(Refusal::dpop(
                "invalid_token",
                "the proof's key is not the key the token is bound to",
            ));
        }
        let wanted = format!("{}{}", self.public_url.trim_end_matches('/'), req.path);
        proof_is_for(&claims, token, &req.method, &wanted).map_err(bad)?;
        let iat = fresh_iat(&claims).map_err(bad)?;
        self.first_use(&claims, jkt, iat).map_err(bad)
    }

    /// Remembers the proof's `jti` until it is stale anyway, refusing one
    /// seen before (RFC 9449 §11.1).
    fn first_use(&self, claims: &Map<String, Value>, jkt: &str, iat: f64) -> Result<(), String> {
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty())
            .ok_or("the proof has no jti")?;
        let now = unix_now();
        let mut seen = self.proofs_seen.lock().map_err(|_| "poisoned")?;
        seen.retain(|_, until| *until > now);
        // `as` saturates: a far-future iat was refused before this.
        let until = iat.ceil() as u64 + PROOF_MAX_AGE + 1;
        if seen.insert(format!("{jkt} {jti}"), until).is_some() {
            return Err("the proof was used before (jti)".into());
        }
        Ok(())
    }
}

/// The proof's header and public key: `typ` dpop+jwt, an asymmetric `alg`,
/// and a `jwk` without private members (RFC 9449 §4.3 checks 4 to 6).
fn proof_header(proof: &str) -> Result<(Header, Jwk), String> {
    let header = decode_header(proof).map_err(|e| format!("proof header: {e}"))?;
    if !typ_is(header.typ.as_deref(), "dpop+jwt") {
        return Err("the proof's typ is not dpop+jwt".into());
    }
    if matches!(
        header.alg,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return Err("the proof's alg is symmetric".into());
    }
    if jwk_has_private_members(proof)? {
        return Err("the proof's jwk holds a private key".into());
    }
    let jwk = header.jwk.clone().ok_or("the proof has no jwk")?;
    Ok((header, jwk))
}

/// Whether the `jwk` of a JWS header holds private key material. Read from
/// the raw header: jsonwebtoken's `Jwk` drops the members it does not
/// model, so a leaked private key would pass unseen.
fn jwk_has_private_members(jws: &str) -> Result<bool, String> {
    const PRIVATE: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];
    let encoded = jws.split('.').next().unwrap_or("");
    let header: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or("the proof header is not base64url JSON")?;
    let jwk = header.get("jwk").and_then(Value::as_object);
    Ok(jwk.is_some_and(|jwk| PRIVATE.iter().any(|m| jwk.contains_key(*m))))
}

/// The proof's claims, once its signature by its own `jwk` is verified.
fn proof_claims(proof: &str, header: &Header, jwk: &Jwk) -> Result<Map<String, Value>, String> {
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("proof jwk: {e}"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_required_spec_claims::<&str>(&[]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    decode::<Map<String, Value>>(proof, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| format!("proof signature: {e}"))
}

/// The proof was made for this token (`ath`), method (`htm`) and URL
/// (`htu`, RFC 9449 §4.3 checks 8, 9 and 12).
fn proof_is_for(
    claims: &Map<String, Value>,
    token: &str,
    method: &str,
    url: &str,
) -> Result<(), String> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let ath = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ));
    if text("ath") != Some(ath.as_str()) {
        return Err("the proof's ath is not the hash of this token".into());
    }
    if text("htm") != Some(method) {
        return Err("the proof's htm is not this request's method".into());
    }
    let htu = text("htu").and_then(normalised_url);
    if htu.is_none() || htu != normalised_url(url) {
        return Err("the proof's htu is not this request's URL".into());
    }
    Ok(())
}

/// A URL as RFC 9449 §4.3 compares `htu`: without query and fragment, and
/// normalised as RFC 3986 §6.2.2 and §6.2.3 say — scheme and host in lower
/// case and the scheme's default port dropped (the url crate does these),
/// and percent-encoding normalised in the path. `None` if it is not an
/// http(s) URL.
fn normalised_url(text: &str) -> Option<String> {
    let url = url::Url::parse(text).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    Some(format!(
        "{}://{}{port}{}",
        url.scheme(),
        url.host_str()?,
        normalised_path(url.path())
    ))
}

/// RFC 3986 §6.2.2.1 and §6.2.2.2: `%7E` is `~`, `%2f` is `%2F`. Unreserved
/// characters are decoded; any other escape keeps its meaning (`%2F` is
/// not `/`) and gets upper-case hex.
fn normalised_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(b) if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => out.push(b),
            Some(b) => out.extend(format!("%{b:02X}").bytes()),
            None => {
                out.push(bytes[i]);
                i += 1;
                continue;
            }
        }
        i += 3;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The proof's `iat`, if it is recent: at most PROOF_MAX_AGE old and
/// PROOF_LEEWAY ahead. A NumericDate may have a fraction (RFC 7519 §2).
fn fresh_iat(claims: &Map<String, Value>) -> Result<f64, String> {
    let iat = claims
        .get("iat")
        .and_then(Value::as_f64)
        .ok_or("the proof has no numeric iat")?;
    let now = unix_now() as f64;
    if iat + (PROOF_MAX_AGE as f64) < now || iat > now + PROOF_LEEWAY as f64 {
        return Err("the proof is not fresh (iat)".into());
    }
    Ok(iat)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// -------------------------------------------------------------- serving

async fn api(
    req: actix_web::HttpRequest,
    state: actix_web::web::Data<Api>,
) -> actix_web::HttpResponse {
    use actix_web::HttpResponse;
    let header = |name: &str| {
        req.headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let presented = Presented {
        method: req.method().to_string(),
        path: req.path().to_string(),
        authorization: header("authorization").into_iter().next(),
        proofs: header("dpop"),
        certificate: req.conn_data::<ClientCertificate>().map(|c| c.0.clone()),
    };
    let state = state.into_inner();
    let checked = actix_web::web::block(move || state.check(&presented)).await;
    match checked {
        Ok(Ok(claims)) => HttpResponse::Ok().json(serde_json::json!({ "claims": claims })),
        Ok(Err(refusal)) => refused(&refusal),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// 401 with the challenge of RFC 6750 §3 (Bearer) or RFC 9449 §7.1 (DPoP).
fn refused(refusal: &Refusal) -> actix_web::HttpResponse {
    // The reason goes in error_description, quoted, without quotes inside.
    let reason = refusal.reason.replace(['"', '\\'], "'");
    eprintln!("refused: {reason}");
    let algs = if refusal.scheme == "DPoP" {
        ", algs=\"ES256 ES384 EdDSA PS256 RS256\""
    } else {
        ""
    };
    actix_web::HttpResponse::Unauthorized()
        .insert_header((
            "WWW-Authenticate",
            format!(
                "{} error=\"{}\", error_description=\"{reason}\"{algs}",
                refusal.scheme, refusal.error
            ),
        ))
        .json(serde_json::json!({ "error": refusal.error, "error_description": reason }))
}

fn serve(args: Args, listen: String) -> anyhow::Result<()> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key, args.client_ca.as_deref())?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{listen}"));
    let state = actix_web::web::Data::new(Api {
        args,
        public_url,
        jwks: Mutex::new(None),
        proofs_seen: Mutex::new(HashMap::new()),
    });
    eprintln!("resource server listening on {scheme}://{listen}");
    // actix's server belongs to the system it is built in: make it first.
    let system = actix_web::rt::System::new();
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .default_service(actix_web::web::get().to(api))
    })
    .workers(1)
    .on_connect(capture);
    let server = match tls {
        Some(config) => server.bind_rustls_0_23(&listen, config)?,
        None => server.bind(&listen)?,
    };
    system.block_on(server.run())?;
    Ok(())
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    tokenmint::crypto::install_jwt_provider();
    if let Some(listen) = args.listen.take() {
        return match serve(args, listen) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("resource server: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let token = args.token.clone().unwrap_or_default();
    match fetch_jwks(&args).and_then(|jwks| validate(&token, &jwks, &args)) {
        Ok(claims) => {
            println!("{}", Value::Object(claims));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("invalid token: {e:#}");
            ExitCode::FAILURE
        }
    }
}
