//! `tokenmint check-config`: everything `serve` would load, without serving.
//! Prints a summary and every warning; lists every problem and fails.

use std::path::Path;

use crate::config::ClientSecret;
use crate::keys::alg_name;
use crate::state::Snapshot;

pub fn run(config: &Path) -> anyhow::Result<bool> {
    let mut problems: Vec<String> = Vec::new();
    let loaded = match crate::config::load(config) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{}: INVALID", config.display());
            for p in e.problems() {
                eprintln!("  error: {p}");
            }
            return Ok(false);
        }
    };
    let s = &loaded.settings;
    println!("config: {}", config.display());
    println!("issuer: {}", s.issuer);
    println!(
        "listen: {} ({}){}",
        s.server.listen,
        if s.server.tls.is_some() {
            "https"
        } else {
            "http"
        },
        s.server
            .admin_listen
            .as_ref()
            .map(|a| format!(", admin {a}"))
            .unwrap_or_default()
    );
    if let Some(tls) = &s.server.tls {
        match crate::tls::server_config(tls) {
            Ok((_, warnings)) => {
                println!("tls: {} + {}", tls.cert.display(), tls.key.display());
                for w in warnings {
                    eprintln!("  warning: {w}");
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    let dir = &s.keys.dir;
    let no_keys_yet = crate::keys::pem_files(dir)
        .map(|f| f.is_empty())
        .unwrap_or(true);
    if s.keys.generate_if_missing && no_keys_yet {
        println!(
            "keys: none in {} yet; `serve` will generate a development ES256 key (keys.generate_if_missing = true)",
            dir.display()
        );
    } else {
        let mut settings = s.clone();
        settings.keys.generate_if_missing = false;
        match Snapshot::build(settings) {
            Ok((snapshot, notes)) => {
                let active = &snapshot.keys.active().kid;
                for k in snapshot.keys.iter() {
                    println!(
                        "key: {} {} {}{}",
                        k.kid,
                        alg_name(k.alg),
                        k.path.display(),
                        if &k.kid == active { " (active)" } else { "" }
                    );
                }
                for n in notes {
                    eprintln!("  warning: {n}");
                }
            }
            Err(e) => problems.extend(e.problems()),
        }
    }
    println!(
        "tokens: default_ttl {} s, max_ttl {} s, audience {:?}",
        s.tokens.default_ttl, s.tokens.max_ttl, s.tokens.audience
    );
    for c in &s.clients {
        let secret = match c.secrets.first() {
            Some(ClientSecret::Plain(_)) => "plaintext secret",
            Some(ClientSecret::Hashed(_)) => "hashed secret",
            None => "no secret",
        };
        println!(
            "client: {} ({secret}; auth {}; scopes [{}]; audience [{}]; ttl {} s)",
            c.id,
            c.auth_methods
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", "),
            c.scopes.join(" "),
            c.audience.join(" "),
            c.token_ttl
        );
    }
    for w in &loaded.warnings {
        eprintln!("  warning: {w}");
    }
    if problems.is_empty() {
        println!("OK");
        Ok(true)
    } else {
        eprintln!("{}: INVALID", config.display());
        for p in &problems {
            eprintln!("  error: {p}");
        }
        Ok(false)
    }
}
