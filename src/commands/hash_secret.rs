//! `tokenmint hash-secret`: a secret on stdin, its `secret_hash` on stdout.

use std::io::{Read as _, Write};

use anyhow::{bail, Context as _};

use crate::secret_hash::SecretHash;

pub fn run(iterations: u32, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("while reading the secret from stdin (it must be UTF-8)")?;
    // Only the line ending that `echo` or a terminal adds is dropped.
    let secret = input
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&input);
    if secret.is_empty() {
        bail!("no secret on stdin: try `printf '%s' \"$SECRET\" | tokenmint hash-secret`");
    }
    if !(1000..=10_000_000).contains(&iterations) {
        bail!("--iterations must be from 1000 to 10000000");
    }
    let hash = SecretHash::hash(secret, iterations)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    writeln!(out, "{hash}")?;
    Ok(())
}
