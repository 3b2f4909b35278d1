//! `tokenmint check-config`: everything `serve` would load, without serving.
//! Prints a summary and every warning; lists every problem and fails.
//! Configuration problems and key problems are listed together: the keys
//! (and TLS files) are loaded whenever their own section is valid, even
//! when another section is not.

use std::io::Write;
use std::path::Path;

use crate::clock::{self, unix_now};
use crate::config::{
    AssertionKeys, ClientSecret, ClientSettings, KeySettings, KeySource, Settings, StoreSettings,
    TlsSettings, TokenSettings,
};
use crate::keys::{alg_name, Key, KeySet, KeyState};

/// What was found besides the configuration's own problems.
#[derive(Default)]
struct Found {
    problems: Vec<String>,
    warnings: Vec<String>,
}

pub fn run(config: &Path, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<bool> {
    let report = match crate::config::check(config) {
        Ok(report) => report,
        Err(e) => return invalid(config, &e.problems(), err),
    };
    let mut found = Found {
        problems: report.problems.iter().map(ToString::to_string).collect(),
        warnings: report.warnings.iter().map(ToString::to_string).collect(),
    };
    writeln!(out, "config: {}", config.display())?;
    if let Some(s) = &report.settings {
        summary(s, out)?;
    }
    if let Some(tls) = &report.tls {
        check_tls(tls, out, &mut found)?;
    }
    if let Some(keys) = &report.keys {
        let tokens = report.settings.as_ref().map(|s| &s.tokens);
        check_keys(keys, tokens, out, &mut found)?;
    }
    if let Some(s) = &report.settings {
        clients(s, out)?;
        sender_constraints(s, out)?;
        if let Some(store) = &s.store {
            check_store(store, out, &mut found)?;
        }
    }
    for w in &found.warnings {
        writeln!(err, "  warning: {w}")?;
    }
    if found.problems.is_empty() {
        writeln!(out, "OK")?;
        Ok(true)
    } else {
        invalid(config, &found.problems, err)
    }
}

fn invalid(config: &Path, problems: &[String], err: &mut dyn Write) -> anyhow::Result<bool> {
    writeln!(err, "{}: INVALID", config.display())?;
    for p in problems {
        writeln!(err, "  error: {p}")?;
    }
    Ok(false)
}

fn summary(s: &Settings, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "issuer: {}", s.issuer)?;
    let scheme = if s.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let admin = s
        .server
        .admin_listen
        .as_ref()
        .map(|a| format!(", admin {a}"))
        .unwrap_or_default();
    writeln!(out, "listen: {} ({scheme}){admin}", s.server.listen)?;
    writeln!(
        out,
        "tokens: default_ttl {} s, max_ttl {} s, audience {:?}",
        s.tokens.default_ttl, s.tokens.max_ttl, s.tokens.audience
    )
}

/// Connects to the store as `serve` would: an unreachable store, a refused
/// password or a TLS name mismatch is a problem here (`serve` starts all
/// the same and retries).
fn check_store(
    store: &StoreSettings,
    out: &mut dyn Write,
    found: &mut Found,
) -> std::io::Result<()> {
    let probed = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| runtime.block_on(crate::store::probe(store)));
    match probed {
        Ok(shown) => writeln!(
            out,
            "store: {shown} answers (prefix {:?}, timeout {} ms, on_error {:?})",
            store.prefix,
            store.timeout.as_millis(),
            store.on_error
        )?,
        Err(e) => found.problems.push(format!(
            "store: {} does not answer: {e}",
            store.nodes.shown()
        )),
    }
    Ok(())
}

fn check_tls(tls: &TlsSettings, out: &mut dyn Write, found: &mut Found) -> std::io::Result<()> {
    match crate::tls::server_config(tls) {
        Ok((_, _, warnings)) => {
            writeln!(out, "tls: {} + {}", tls.cert.display(), tls.key.display())?;
            found.warnings.extend(warnings);
        }
        Err(e) => found.problems.push(e.to_string()),
    }
    Ok(())
}

/// Loads the keys as `serve` would, except that a development key is never
/// generated here: `check-config` only says that `serve` would make one.
fn check_keys(
    keys: &KeySettings,
    tokens: Option<&TokenSettings>,
    out: &mut dyn Write,
    found: &mut Found,
) -> std::io::Result<()> {
    let dir = &keys.dir;
    let no_keys_yet = crate::keys::pem_files(dir)
        .map(|f| f.is_empty())
        .unwrap_or(true);
    if keys.generate_if_missing && no_keys_yet {
        return writeln!(
            out,
            "keys: none in {} yet; `serve` will generate a development ES256 key (keys.generate_if_missing = true)",
            dir.display()
        );
    }
    match KeySet::load(dir, keys.active.as_deref(), false) {
        Ok((set, notes)) => {
            let now = unix_now();
            for (k, state) in set.states_at(now) {
                let state = describe(state, tokens, now);
                writeln!(
                    out,
                    "key: {} {} {}: {state}",
                    k.kid,
                    alg_name(k.alg),
                    k.path.display()
                )?;
                found.warnings.extend(schedule_warning(k, tokens, now));
            }
            found.warnings.extend(notes);
        }
        Err(errors) => found
            .problems
            .extend(errors.iter().map(ToString::to_string)),
    }
    Ok(())
}

/// A key's state in words (docs/operations.md: published, signing, retired since,
/// removable after).
fn describe(state: KeyState, tokens: Option<&TokenSettings>, now: u64) -> String {
    match state {
        KeyState::Signing { since: 0 } => "published, signing".into(),
        KeyState::Signing { since } => {
            format!("published, signing since {}", clock::format(since))
        }
        KeyState::Published => "published; keys.active pins another key".into(),
        KeyState::Pending { from } => format!(
            "published, signs from {} (in {} s)",
            clock::format(from),
            from.saturating_sub(now)
        ),
        KeyState::Retired { since } => match tokens {
            Some(t) if since + t.max_ttl <= now => format!(
                "published, retired since {}; removable now (tokens.max_ttl has passed)",
                clock::format(since)
            ),
            Some(t) => format!(
                "published, retired since {}; removable after {} (+ tokens.max_ttl)",
                clock::format(since),
                clock::format(since + t.max_ttl)
            ),
            None => format!("published, retired since {}", clock::format(since)),
        },
    }
}

/// A key that will sign before resource servers can have fetched it: its
/// first tokens would fail validation where a JWK Set is cached.
fn schedule_warning(key: &Key, tokens: Option<&TokenSettings>, now: u64) -> Option<String> {
    let at = key.activate_at.filter(|&at| at > now)?;
    let max_age = tokens?.jwks_max_age;
    let published = key
        .modified
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(now, |d| d.as_secs());
    (at < published + max_age).then(|| {
        format!(
            "key {} ({}) signs from {}, less than tokens.jwks_max_age = {max_age} s after its file appeared: \
             resource servers holding a cached JWK Set will reject its first tokens; \
             `tokenmint keygen` schedules now + jwks_max_age + keys.publish_margin",
            key.kid,
            key.path.display(),
            clock::format(at)
        )
    })
}

/// What kind of secret a client has, and what checking it costs.
fn secret_kind(secret: &ClientSecret) -> String {
    match secret {
        ClientSecret::Plain(_) => "plaintext secret (development only)".into(),
        ClientSecret::Hashed(h) => match h.iterations() {
            Some(i) => format!("PBKDF2 hash, {i} iterations (a secret a person chose; slow check)"),
            None => "fast $sha256$ hash (a random secret of >= 256 bits)".into(),
        },
    }
}

/// Where keys come from, for the summary.
fn key_source(source: &KeySource) -> String {
    match source {
        KeySource::Static(keys) => {
            let kids: Vec<&str> = keys.kids().map(|k| k.unwrap_or("(no kid)")).collect();
            format!("{} key(s) [{}]", keys.len(), kids.join(" "))
        }
        KeySource::Remote(r) if r.discovery => format!("keys by OIDC discovery of {}", r.url),
        KeySource::Remote(r) => format!("keys fetched from {}", r.url),
    }
}

/// What a client's tokens are bound to, and how its certificate is matched.
fn binding(c: &ClientSettings) -> String {
    let mut parts = Vec::new();
    if let Some(subject) = &c.subject {
        parts.push(format!("certificate subject {subject}"));
    }
    if c.certificate_bound {
        parts.push("certificate-bound".to_string());
    }
    if c.require_dpop {
        parts.push("DPoP required".to_string());
    }
    if c.dpop_nonce {
        parts.push("DPoP nonce".to_string());
    }
    parts.iter().map(|p| format!("; {p}")).collect()
}

/// `[dpop]` and `[mtls]`, when they matter.
fn sender_constraints(s: &Settings, out: &mut dyn Write) -> std::io::Result<()> {
    let d = &s.dpop;
    writeln!(
        out,
        "dpop: proofs up to {} s old, {} s ahead; nonces {}",
        d.proof_max_age,
        d.leeway,
        match (&d.nonce_secret, d.require_nonce) {
            (None, _) => "off".to_string(),
            (Some(_), true) => format!("required, {} s steps", d.nonce_lifetime),
            (Some(_), false) => format!("for dpop_nonce clients, {} s steps", d.nonce_lifetime),
        }
    )?;
    let m = &s.mtls;
    if !m.roots.is_empty() || !m.trusted_proxies.is_empty() {
        let proxies: Vec<String> = m.trusted_proxies.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "mtls: {} CA certificate(s); Client-Cert believed from [{}]",
            m.roots.len(),
            proxies.join(" ")
        )?;
    }
    Ok(())
}

fn clients(s: &Settings, out: &mut dyn Write) -> std::io::Result<()> {
    for t in &s.trusted_issuers {
        writeln!(
            out,
            "trusted issuer: {} ({}; {}; audience {}; max_token_lifetime {} s)",
            t.name,
            t.issuer,
            key_source(&t.keys),
            t.audience,
            t.max_token_lifetime
        )?;
    }
    for c in &s.clients {
        let mut kinds: Vec<String> = c.secrets.iter().map(secret_kind).collect();
        match &c.assertion_keys {
            Some(AssertionKeys::Own(source)) => {
                kinds.push(format!("public keys: {}", key_source(source)))
            }
            Some(AssertionKeys::Federated { issuer, subject }) => kinds.push(format!(
                "federated: {} subject {subject}",
                s.trusted_issuers
                    .get(*issuer)
                    .map_or("?", |t| t.name.as_str())
            )),
            None => {}
        }
        let secret = if kinds.is_empty() {
            "no secret".to_string()
        } else {
            kinds.join(" + ")
        };
        let auth: Vec<&str> = c.auth_methods.iter().map(|m| m.name()).collect();
        let quota = match c.quota {
            None => String::new(),
            Some(q) => {
                let caps: Vec<String> = [("hour", q.per_hour), ("day", q.per_day)]
                    .into_iter()
                    .filter(|(_, cap)| *cap > 0)
                    .map(|(window, cap)| format!("{cap} per {window}"))
                    .collect();
                format!("; quota {}", caps.join(", "))
            }
        };
        let binding = binding(c);
        writeln!(
            out,
            "client: {} ({secret}; auth {}; scopes [{}]; audience [{}]; ttl {} s{quota}{binding})",
            c.id,
            auth.join(", "),
            c.scopes.join(" "),
            c.audience.join(" "),
            c.token_ttl
        )?;
    }
    Ok(())
}
