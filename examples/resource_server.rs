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
//! `Authorization: Bearer TOKEN`, answers 200 with the claims or 401 with an
//! RFC 6750 `WWW-Authenticate` header; the JWK Set is fetched on the first
//! request and again when a token names a `kid` it does not hold (at most
//! every 10 s), as a resource server should cache it. It uses jsonwebtoken only: the key comes from the JWK
//! whose `kid` the token names, the algorithm from that JWK (never from the
//! token), and iss, aud, exp, nbf and `typ: at+jwt` (RFC 9068 §4) are
//! checked. jsonwebtoken needs a crypto provider; a standalone service would
//! enable its `aws_lc_rs` or `rust_crypto` feature, this example borrows
//! tokenmint's ring provider so the package keeps one crypto stack.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// Serve `GET /…` on this address, validating each request's bearer token
    #[arg(long, value_name = "ADDR", conflicts_with = "token")]
    listen: Option<String>,
    /// The access token (without --listen)
    #[arg(required_unless_present = "listen")]
    token: Option<String>,
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

/// The `kid` a token names, after checking its `typ`.
fn token_kid(token: &str) -> anyhow::Result<String> {
    let header = decode_header(token).context("malformed token")?;
    if header.typ.as_deref() != Some("at+jwt") {
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

/// The API mode's state: the cached JWK Set and when it was fetched.
struct Api {
    args: Args,
    jwks: Mutex<Option<(Arc<JwkSet>, Instant)>>,
}

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

    fn check(&self, authorization: Option<&str>) -> anyhow::Result<Map<String, Value>> {
        let token = authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| anyhow!("no bearer token"))?;
        let jwks = self.keys_for(token)?;
        validate(token, &jwks, &self.args)
    }
}

async fn api(
    req: actix_web::HttpRequest,
    state: actix_web::web::Data<Api>,
) -> actix_web::HttpResponse {
    use actix_web::HttpResponse;
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let state = state.into_inner();
    let checked = actix_web::web::block(move || state.check(authorization.as_deref())).await;
    match checked {
        Ok(Ok(claims)) => HttpResponse::Ok().json(serde_json::json!({ "claims": claims })),
        Ok(Err(e)) => {
            // RFC 6750 §3: the reason goes in error_description, quoted, without quotes inside.
            let reason = format!("{e:#}").replace(['"', '\\'], "'");
            eprintln!("refused: {reason}");
            HttpResponse::Unauthorized()
                .insert_header((
                    "WWW-Authenticate",
                    format!("Bearer error=\"invalid_token\", error_description=\"{reason}\""),
                ))
                .json(serde_json::json!({ "error": "invalid_token", "error_description": reason }))
        }
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

fn serve(args: Args, listen: String) -> std::io::Result<()> {
    let state = actix_web::web::Data::new(Api {
        args,
        jwks: Mutex::new(None),
    });
    eprintln!("resource server listening on {listen}");
    actix_web::rt::System::new().block_on(
        actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(state.clone())
                .default_service(actix_web::web::get().to(api))
        })
        .workers(1)
        .bind(listen)?
        .run(),
    )
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    tokenmint::crypto::install_jwt_provider();
    if let Some(listen) = args.listen.take() {
        return match serve(args, listen) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("resource server: {e}");
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
