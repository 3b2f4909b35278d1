//! `tokenmint inspect`: show a token's header and claims, then verify it
//! against the configured keys (signature, `typ`, issuer, time) or against a
//! JWK Set from a URL or file (signature, time). A JWK Set over https is
//! fetched trusting `--cacert` when given (a private CA), else the Mozilla
//! roots. Exit code 1 when it does not verify, saying what was expected and
//! what was found. The algorithm always comes from the key, never the token.

use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _};
use jsonwebtoken::{decode, decode_header};
use serde_json::{Map, Value};

use crate::jose::PublicKeys;

pub fn run(
    config: &Path,
    token: &str,
    jwks: Option<&str>,
    cacert: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<bool> {
    crate::crypto::install_jwt_provider();
    let token = token.trim();
    let header = decode_header(token).context("while decoding the token header")?;
    let claims: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode_claims(token)
        .context("while decoding the token claims")?;
    writeln!(out, "header: {}", serde_json::to_string_pretty(&header)?)?;
    writeln!(out, "claims: {}", serde_json::to_string_pretty(&claims)?)?;
    let now = crate::clock::unix_now();
    let verdict = match jwks {
        Some(source) => verify_with_jwks(token, &claims, source, cacert, now),
        None => verify_with_config(config, token, &claims, now),
    };
    match verdict {
        Ok(how) => {
            writeln!(out, "verified: {how}")?;
            Ok(true)
        }
        Err(e) => {
            writeln!(err, "NOT VERIFIED: {e:#}")?;
            Ok(false)
        }
    }
}

fn verify_with_config(
    config: &Path,
    token: &str,
    claims: &Map<String, Value>,
    now: u64,
) -> anyhow::Result<String> {
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
    if let Err(e) = crate::token::verify(&keys, &s.issuer, token, now) {
        let published: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
        let mut why = mismatches(claims, Some(&s.issuer), now);
        if matches!(e, crate::token::Inactive::UnknownKid) {
            why.push(format!(
                "kid: expected one of [{}] (in {}), found {}",
                published.join(", "),
                s.keys.dir.display(),
                found_header_kid(token)
            ));
        }
        bail!("{e}{}", because(&why));
    }
    Ok(format!(
        "signature, typ, issuer {} and time, with the keys in {}",
        s.issuer,
        s.keys.dir.display()
    ))
}

fn verify_with_jwks(
    token: &str,
    claims: &Map<String, Value>,
    source: &str,
    cacert: Option<&Path>,
    now: u64,
) -> anyhow::Result<String> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        fetch(source, cacert)?
    } else {
        std::fs::read_to_string(source).with_context(|| format!("while reading {source}"))?
    };
    // The server's own parser: `inspect` accepts exactly the keys a
    // configuration or a fetched JWK Set would.
    let set = PublicKeys::from_document(&text)
        .map_err(|problems| anyhow!("{source}: {}", problems.join("; ")))?;
    let header = decode_header(token)?;
    let kid = header.kid.ok_or_else(|| anyhow!("the token has no kid"))?;
    if !set.has_kid(&kid) {
        let kids: Vec<&str> = set.kids().flatten().collect();
        bail!(
            "kid: expected one of [{}] (from {source}), found {kid}",
            kids.join(", ")
        );
    }
    let alg = header.alg;
    let key = set.candidates(Some(&kid), alg).next().ok_or_else(|| {
        anyhow!(
            "alg: the key {kid} does not verify {}, found in the token",
            crate::jose::alg_name(alg)
        )
    })?;
    // The signature here; the time claims below, so that a failure can say
    // what was expected and what was found.
    decode::<Map<String, Value>>(token, &key.key, &crate::token::signature_only(alg))
        .context("signature")?;
    let why = mismatches(claims, None, now);
    if !why.is_empty() {
        bail!("the signature is valid but{}", because(&why));
    }
    let issuer = claims
        .get("iss")
        .map(Value::to_string)
        .unwrap_or_else(|| "none".into());
    Ok(format!(
        "signature and time, with kid {kid} from {source} (issuer {issuer} not checked: no issuer is expected with --jwks)"
    ))
}

/// GETs `url`, trusting only the certificates of `cacert` when given.
fn fetch(url: &str, cacert: Option<&Path>) -> anyhow::Result<String> {
    let agent = match cacert {
        None => ureq::agent(),
        Some(path) => {
            let tls = crate::ca::ureq_tls(path)
                .map_err(|e| anyhow!("--cacert {}: {e}", path.display()))?;
            ureq::Agent::config_builder()
                .tls_config(tls)
                .build()
                .new_agent()
        }
    };
    let hint = if url.starts_with("https://") && cacert.is_none() {
        " (for a server whose certificate a private CA signed, pass --cacert CA.pem)"
    } else {
        ""
    };
    agent
        .get(url)
        .call()
        .with_context(|| format!("while fetching {url}{hint}"))?
        .body_mut()
        .read_to_string()
        .with_context(|| format!("while reading {url}"))
}

/// Each claim that does not hold at `now`, as "what: expected …, found …".
pub fn mismatches(claims: &Map<String, Value>, issuer: Option<&str>, now: u64) -> Vec<String> {
    let mut why = Vec::new();
    if let Some(expected) = issuer {
        match claims.get("iss") {
            Some(Value::String(found)) if found == expected => {}
            Some(found) => why.push(format!("issuer: expected \"{expected}\", found {found}")),
            None => why.push(format!(
                "issuer: expected \"{expected}\", found no iss claim"
            )),
        }
    }
    match claims.get("exp").and_then(Value::as_u64) {
        Some(exp) if now >= exp => why.push(format!(
            "expiry: expected exp after now ({now}), found exp {exp}: expired {} s ago",
            now - exp
        )),
        Some(_) => {}
        None => why.push("expiry: expected a numeric exp claim, found none".into()),
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_u64) {
        if nbf > now {
            why.push(format!(
                "not before: expected nbf at or before now ({now}), found nbf {nbf}: valid in {} s",
                nbf - now
            ));
        }
    }
    why
}

fn because(why: &[String]) -> String {
    if why.is_empty() {
        String::new()
    } else {
        format!(": {}", why.join("; "))
    }
}

fn found_header_kid(token: &str) -> String {
    decode_header(token)
        .ok()
        .and_then(|h| h.kid)
        .unwrap_or_else(|| "no kid".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_wrong_issuer_and_an_expired_token_say_what_was_expected_and_found() {
        let c = claims(json!({"iss": "https://a.example", "exp": 100, "nbf": 300}));
        let why = mismatches(&c, Some("https://b.example"), 200);
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(
            why[0].contains("expected \"https://b.example\"")
                && why[0].contains("found \"https://a.example\"")
        );
        assert!(why[1].contains("now (200)") && why[1].contains("exp 100"));
        assert!(why[2].contains("nbf 300"));
        let ok = claims(json!({"iss": "https://a.example", "exp": 201}));
        assert!(mismatches(&ok, Some("https://a.example"), 200).is_empty());
    }
}
