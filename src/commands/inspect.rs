//! `tokenmint inspect`: show a token's header and claims, then verify it
//! against the configured keys (issuer, signature, expiry) or against a
//! JWK Set from a URL or file (signature, expiry). Exit code 1 when it does
//! not verify. The algorithm always comes from the key, never the token.

use std::path::Path;

use anyhow::{anyhow, bail, Context as _};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use serde_json::{Map, Value};

pub fn run(config: &Path, token: &str, jwks: Option<&str>) -> anyhow::Result<bool> {
    crate::crypto::install_jwt_provider();
    let token = token.trim();
    let header = decode_header(token).context("while decoding the token header")?;
    let claims: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode_claims(token)
        .context("while decoding the token claims")?;
    println!(
        "header: {}",
        serde_json::to_string_pretty(&header).unwrap_or_default()
    );
    println!(
        "claims: {}",
        serde_json::to_string_pretty(&claims).unwrap_or_default()
    );
    let now = crate::token::unix_now();
    let verdict = match jwks {
        Some(source) => verify_with_jwks(token, source, now),
        None => verify_with_config(config, token, now),
    };
    match verdict {
        Ok(how) => {
            println!("verified: {how}");
            Ok(true)
        }
        Err(e) => {
            eprintln!("NOT VERIFIED: {e:#}");
            Ok(false)
        }
    }
}

fn verify_with_config(config: &Path, token: &str, now: u64) -> anyhow::Result<String> {
    let loaded = crate::config::load(config)?;
    let s = &loaded.settings;
    let (keys, _) = crate::keys::KeySet::load(&s.keys.dir, s.keys.active.as_deref(), false)
        .map_err(|errors| {
            anyhow!(
                "while loading keys from {}: {}",
                s.keys.dir.display(),
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
    crate::token::verify(&keys, &s.issuer, token, now).map_err(|e| anyhow!("{e}"))?;
    Ok(format!(
        "signature, issuer {} and expiry, with the keys in {}",
        s.issuer,
        s.keys.dir.display()
    ))
}

fn verify_with_jwks(token: &str, source: &str, now: u64) -> anyhow::Result<String> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        ureq::get(source)
            .call()
            .with_context(|| format!("while fetching {source}"))?
            .body_mut()
            .read_to_string()
            .with_context(|| format!("while reading {source}"))?
    } else {
        std::fs::read_to_string(source).with_context(|| format!("while reading {source}"))?
    };
    let set: JwkSet =
        serde_json::from_str(&text).with_context(|| format!("{source} is not a JWK Set"))?;
    let header = decode_header(token)?;
    let kid = header.kid.ok_or_else(|| anyhow!("the token has no kid"))?;
    let jwk = set
        .find(&kid)
        .ok_or_else(|| anyhow!("kid {kid} is not in {source}"))?;
    let alg = jwk
        .common
        .key_algorithm
        .and_then(|a| a.to_string().parse().ok())
        .ok_or_else(|| anyhow!("the JWK for {kid} has no usable alg"))?;
    if header.alg != alg {
        bail!(
            "the token says alg {:?} but key {kid} is {:?}",
            header.alg,
            alg
        );
    }
    let key = DecodingKey::from_jwk(jwk)?;
    let mut validation = Validation::new(alg);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let data =
        decode::<Map<String, Value>>(token, &key, &validation).context("signature or claims")?;
    let exp = data.claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    if now >= exp {
        bail!("the token expired at {exp}");
    }
    Ok(format!(
        "signature and expiry, with kid {kid} from {source}"
    ))
}
