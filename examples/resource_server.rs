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
//! reason otherwise. It uses jsonwebtoken only: the key comes from the JWK
//! whose `kid` the token names, the algorithm from that JWK (never from the
//! token), and iss, aud, exp, nbf and `typ: at+jwt` (RFC 9068 §4) are
//! checked. jsonwebtoken needs a crypto provider; a standalone service would
//! enable its `aws_lc_rs` or `rust_crypto` feature, this example borrows
//! tokenmint's ring provider so the package keeps one crypto stack.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use clap::Parser;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
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
    /// The access token
    token: String,
}

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

/// Why validation failed, with what was expected and what the token says.
fn explain(e: &jsonwebtoken::errors::Error, args: &Args) -> String {
    use jsonwebtoken::errors::ErrorKind;
    let claims: Map<String, Value> =
        jsonwebtoken::dangerous::insecure_decode_claims(&args.token).unwrap_or_default();
    let found = |name: &str| {
        claims
            .get(name)
            .map(Value::to_string)
            .unwrap_or_else(|| "none".into())
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
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

fn validate(args: &Args) -> anyhow::Result<Map<String, Value>> {
    let body = agent(args.cacert.as_deref())?
        .get(&args.jwks)
        .call()
        .with_context(|| format!("while fetching {}", args.jwks))?
        .body_mut()
        .read_to_string()?;
    let jwks: JwkSet = serde_json::from_str(&body).context("the JWK Set is not valid JSON")?;

    let header = decode_header(&args.token).context("malformed token")?;
    if header.typ.as_deref() != Some("at+jwt") {
        bail!("typ is {:?}, not at+jwt (RFC 9068 §4)", header.typ);
    }
    let kid = header.kid.ok_or_else(|| anyhow!("the token has no kid"))?;
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
    let claims = decode::<Map<String, Value>>(&args.token, &key, &validation)
        .map_err(|e| anyhow!(explain(&e, args)))?
        .claims;

    if let Some(needed) = &args.require_scope {
        let scopes = claims.get("scope").and_then(Value::as_str).unwrap_or("");
        if !scopes.split(' ').any(|s| s == needed) {
            bail!("scope {needed} is not granted (token has \"{scopes}\")");
        }
    }
    Ok(claims)
}

fn main() -> ExitCode {
    let args = Args::parse();
    tokenmint::crypto::install_jwt_provider();
    match validate(&args) {
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
