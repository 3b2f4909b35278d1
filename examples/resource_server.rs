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
//! `Authorization: Bearer TOKEN`, or for a DPoP-bound token (`cnf.jkt`)
//! `Authorization: DPoP TOKEN` with a `DPoP` proof of that key for this
//! request (RFC 9449 §7: `ath`, `htm`, `htu` under `--public-url`, a fresh
//! `iat`, an unseen `jti`); it answers 200 with the claims or 401 with an
//! RFC 6750 / RFC 9449 `WWW-Authenticate` header; the JWK Set is fetched on the first
//! request and again when a token names a `kid` it does not hold (at most
//! every 10 s), as a resource server should cache it. It uses jsonwebtoken only: the key comes from the JWK
//! whose `kid` the token names, the algorithm from that JWK (never from the
//! token), and iss, aud, exp, nbf and `typ: at+jwt` (RFC 9068 §4) are
//! checked. jsonwebtoken needs a crypto provider; a standalone service would
//! enable its `aws_lc_rs` or `rust_crypto` feature, this example borrows
//! tokenmint's ring provider so the package keeps one crypto stack.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
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
    /// The URL clients reach the API at (with --listen), for the `htu` of
    /// DPoP proofs; default http://ADDR
    #[arg(long, value_name = "URL", requires = "listen")]
    public_url: Option<String>,
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
}

/// What a request brings: method, path, `Authorization`, `DPoP` headers.
struct Presented {
    method: String,
    path: String,
    authorization: Option<String>,
    proofs: Vec<String>,
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

    /// A bearer token, or a DPoP-bound one with a valid proof of its key
    /// (RFC 9449 §7).
    fn check(&self, req: &Presented) -> Result<Map<String, Value>, Refusal> {
        let authorization = req.authorization.as_deref().unwrap_or("");
        let (scheme, token) = match authorization.split_once(' ') {
            Some((s, t)) if s.eq_ignore_ascii_case("Bearer") => ("Bearer", t),
            Some((s, t)) if s.eq_ignore_ascii_case("DPoP") => ("DPoP", t),
            _ => return Err(Refusal::bearer("no Bearer or DPoP access token")),
        };
        let claims = self
            .keys_for(token)
            .and_then(|jwks| validate(token, &jwks, &self.args))
            .map_err(Refusal::bearer)?;
        let jkt = claims
            .get("cnf")
            .and_then(|c| c.get("jkt"))
            .and_then(Value::as_str);
        match (scheme, jkt) {
            ("Bearer", None) => Ok(claims),
            ("Bearer", Some(_)) => Err(Refusal::dpop(
                "invalid_token",
                "the token is DPoP-bound: send it as Authorization: DPoP, with a proof",
            )),
            (_, None) => Err(Refusal::bearer(
                "the token is not DPoP-bound: send it as Bearer",
            )),
            (_, Some(jkt)) => {
                self.check_proof(req, token, jkt)?;
                Ok(claims)
            }
        }
    }

    fn check_proof(&self, req: &Presented, token: &str, jkt: &str) -> Result<(), Refusal> {
        let bad = |reason: &str| Refusal::dpop("invalid_dpop_proof", reason);
        let [proof] = req.proofs.as_slice() else {
            return Err(bad("exactly one DPoP proof header is needed"));
        };
        let header = decode_header(proof).map_err(|e| bad(&format!("proof header: {e}")))?;
        if header.typ.as_deref() != Some("dpop+jwt") {
            return Err(bad("the proof's typ is not dpop+jwt"));
        }
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(bad("the proof's alg is symmetric"));
        }
        let jwk = header.jwk.ok_or_else(|| bad("the proof has no jwk"))?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| bad(&format!("proof jwk: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims::<&str>(&[]);
        validation.validate_exp = false;
        validation.validate_aud = false;
        let claims = decode::<Map<String, Value>>(proof, &key, &validation)
            .map_err(|e| bad(&format!("proof signature: {e}")))?
            .claims;
        // The binding: the proof's key is the one the token names.
        let thumbprint = jwk
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .map_err(|e| bad(&format!("proof jwk: {e}")))?;
        if thumbprint != jkt {
            return Err(Refusal::dpop(
                "invalid_token",
                "the proof's key is not the key the token is bound to",
            ));
        }
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let ath = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            token.as_bytes(),
        ));
        if text("ath") != Some(ath.as_str()) {
            return Err(bad("the proof's ath is not the hash of this token"));
        }
        if text("htm") != Some(req.method.as_str()) {
            return Err(bad("the proof's htm is not this request's method"));
        }
        let htu = text("htu").map(|u| u.split(['?', '#']).next().unwrap_or(u));
        let wanted = format!("{}{}", self.public_url.trim_end_matches('/'), req.path);
        if htu != Some(wanted.as_str()) {
            return Err(bad("the proof's htu is not this request's URL"));
        }
        let now = unix_now();
        let iat = claims
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("the proof has no iat"))?;
        if iat + PROOF_MAX_AGE < now || iat > now + PROOF_LEEWAY {
            return Err(bad("the proof is not fresh (iat)"));
        }
        let jti = text("jti")
            .filter(|j| !j.is_empty())
            .ok_or_else(|| bad("the proof has no jti"))?;
        let mut seen = self.proofs_seen.lock().map_err(|_| bad("poisoned"))?;
        seen.retain(|_, until| *until > now);
        if seen
            .insert(format!("{jkt} {jti}"), iat + PROOF_MAX_AGE + 1)
            .is_some()
        {
            return Err(bad("the proof was used before (jti)"));
        }
        Ok(())
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

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
    };
    let state = state.into_inner();
    let checked = actix_web::web::block(move || state.check(&presented)).await;
    match checked {
        Ok(Ok(claims)) => HttpResponse::Ok().json(serde_json::json!({ "claims": claims })),
        Ok(Err(refusal)) => {
            // RFC 6750 §3: the reason goes in error_description, quoted, without quotes inside.
            let reason = refusal.reason.replace(['"', '\\'], "'");
            eprintln!("refused: {reason}");
            let algs = if refusal.scheme == "DPoP" {
                ", algs=\"ES256 ES384 EdDSA PS256 RS256\""
            } else {
                ""
            };
            HttpResponse::Unauthorized()
                .insert_header((
                    "WWW-Authenticate",
                    format!(
                        "{} error=\"{}\", error_description=\"{reason}\"{algs}",
                        refusal.scheme, refusal.error
                    ),
                ))
                .json(serde_json::json!({ "error": refusal.error, "error_description": reason }))
        }
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

fn serve(args: Args, listen: String) -> std::io::Result<()> {
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{listen}"));
    let state = actix_web::web::Data::new(Api {
        args,
        public_url,
        jwks: Mutex::new(None),
        proofs_seen: Mutex::new(HashMap::new()),
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
