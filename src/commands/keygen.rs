//! `tokenmint keygen`: a new key in the keys directory; the kid on stdout.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

pub fn run(
    config: &Path,
    alg: &str,
    dir: Option<PathBuf>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let alg = crate::keys::parse_alg(alg).ok_or_else(|| {
        anyhow!("unsupported --alg {alg}: use ES256, ES384, EdDSA, RS256 or PS256")
    })?;
    let dir = dir.unwrap_or_else(|| {
        crate::config::load(config)
            .map(|l| l.settings.keys.dir)
            .unwrap_or_else(|_| PathBuf::from("keys"))
    });
    let (kid, path) = crate::keys::generate(&dir, alg)?;
    writeln!(
        err,
        "wrote {} ({}); it is published at the next start or reload, and signs once keys.active = \"{kid}\"",
        path.display(),
        crate::keys::alg_name(alg)
    )?;
    writeln!(out, "{kid}")?;
    Ok(())
}
