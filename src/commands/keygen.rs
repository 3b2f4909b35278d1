//! `tokenmint keygen`: a new key in the keys directory, marked with when it
//! starts signing (docs/operations.md): by default one JWK Set cache lifetime plus the
//! publish margin from now, so that every replica has loaded the file and
//! every resource server's cached JWK Set has expired before the key signs.
//! The kid on stdout; where the key went and when it signs on stderr.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};

use crate::clock::{self, unix_now};

/// Without a configuration: docs/operations.md defaults, jwks_max_age 300 s plus
/// publish_margin 120 s.
const DEFAULT_DELAY: u64 = 300 + 120;

/// When the new key starts signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When<'a> {
    /// now + jwks_max_age + publish_margin.
    Scheduled,
    At(&'a str),
    Now,
}

impl<'a> When<'a> {
    pub fn from_flags(activate_at: Option<&'a str>, now: bool) -> Self {
        match (activate_at, now) {
            (Some(at), _) => Self::At(at),
            (None, true) => Self::Now,
            (None, false) => Self::Scheduled,
        }
    }
}

pub fn run(
    config: &Path,
    alg: &str,
    dir: Option<PathBuf>,
    when: When<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let alg = crate::jose::parse_alg_typed(alg).ok_or_else(|| {
        anyhow!("unsupported --alg {alg}: use ES256, ES384, EdDSA, RS256 or PS256")
    })?;
    // The configuration gives the directory and the delay; without one,
    // the defaults.
    let settings = crate::config::load(config).ok().map(|l| l.settings);
    let dir = dir
        .or_else(|| settings.as_ref().map(|s| s.keys.dir.clone()))
        .unwrap_or_else(|| PathBuf::from("keys"));
    let now = unix_now();
    let activate_at = match when {
        When::Now => now,
        When::At(text) => clock::parse(text).ok_or_else(|| {
            anyhow!("--activate-at {text}: not an RFC 3339 time, e.g. 2026-12-01T10:00:00Z")
        })?,
        When::Scheduled => {
            now + settings.as_ref().map_or(DEFAULT_DELAY, |s| {
                s.tokens.jwks_max_age + s.keys.publish_margin
            })
        }
    };
    if activate_at + 86_400 < now && when != When::Now {
        bail!(
            "--activate-at {}: more than a day in the past",
            clock::format(activate_at)
        );
    }
    let (kid, path) = crate::keys::generate(&dir, alg, Some(activate_at))?;
    let signs = if activate_at <= now {
        "signs at once".to_string()
    } else {
        format!(
            "signs from {} (in {} s){}",
            clock::format(activate_at),
            activate_at - now,
            if settings.as_ref().is_some_and(|s| s.keys.active.is_some()) {
                "; keys.active is set, so it signs only once keys.active names it or is removed"
            } else {
                ""
            }
        )
    };
    // One write: a terminal or a container runtime relaying the two streams
    // shows the line whole.
    let line = format!(
        "wrote {} ({}); it is published as soon as the servers load it and {signs}\n",
        path.display(),
        crate::keys::alg_name(alg)
    );
    err.write_all(line.as_bytes())?;
    writeln!(out, "{kid}")?;
    Ok(())
}
