//! One file per subcommand other than `serve`'s server itself. Each returns
//! `anyhow::Result`; `main` prints errors with `{:#}` and picks the exit code.
//!
//! Commands write through the handles [`with_output`] gives them, never
//! `println!`: `tokenmint check-config | head -1` closes stdout early, and
//! that must end the command quietly ([`is_broken_pipe`]), not in a panic.

use std::io::Write;

pub mod check_config;
pub mod hash_secret;
pub mod inspect;
pub mod keygen;
pub mod new_client;
pub mod serve;

/// The exit status when stdout was closed under a command: what a shell
/// reports for a process ended by SIGPIPE (128 + 13), as for C tools.
pub const BROKEN_PIPE_STATUS: u8 = 141;

/// Runs `command` with locked stdout (buffered per line) and stderr, and
/// flushes stdout at the end, so that a late write error is seen too.
pub fn with_output<T>(
    command: impl FnOnce(&mut dyn Write, &mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let result = command(&mut out, &mut err)?;
    out.flush()?;
    Ok(result)
}

/// Whether `e` comes from writing to a pipe whose reader has gone.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
