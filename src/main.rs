//! The `tokenmint` binary: parse the command line, dispatch, report errors
//! as one sentence (`{:#}`), exit 0 or 1. All logic lives in the library.
//! A closed stdout (`tokenmint check-config | head -1`) ends a command
//! quietly with status 141, as SIGPIPE would.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use tokenmint::cli::{Cli, Command};
use tokenmint::commands::{self, with_output};

/// Memory freed after a burst of connections goes back to the OS; glibc's
/// allocator kept it (docs/performance.md, "Memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's configuration, in the binary itself so that every build has
/// it (`cargo install`, a packager's build). jemalloc reads this symbol
/// (`malloc_conf`, prefixed by tikv-jemalloc-sys) before `main`; its own
/// definition is weak, so this one wins.
/// - `background_thread`, `dirty_decay_ms:1000`, `muzzy_decay_ms:0`: freed
///   memory goes back to the OS within about a second, from a background
///   thread, instead of at the next allocation burst.
/// - `slab_sizes:8192-8192:16`: actix gives every connection two 8 KiB
///   buffers, and jemalloc otherwise puts each in its own 2-page slab
///   whose bookkeeping it never returns; 64 KiB slabs of 8 made 5 000
///   slow clients leave 1 MB less behind (benches/hostile.py slow_bodies).
///
/// `MALLOC_CONF`-style overrides still apply after it
/// (`_RJEM_MALLOC_CONF=...`). A C string is a thin pointer, hence the
/// array reference.
#[allow(unsafe_code)] // a linker symbol: `export_name` is the only way to set it
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 84] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,slab_sizes:8192-8192:16\0";

fn main() -> ExitCode {
    // Memory freed after a burst is returned by jemalloc's background
    // threads within about a second, even when nothing else allocates;
    // without them it waits for the next allocations (measured: 62 MB kept
    // after 2 000 slow connections were cut). Best effort.
    // One thread purges every arena: on two cores, one per core competed
    // with the workers under load.
    let _ = tikv_jemalloc_ctl::max_background_threads::write(1);
    let _ = tikv_jemalloc_ctl::background_thread::write(true);
    let cli = Cli::parse();
    let config = cli.config_path();
    let result = match cli.command.unwrap_or(Command::Serve) {
        // serve's stdout is its log, written by tracing.
        Command::Serve => commands::serve::run(&config).map(|()| true),
        Command::CheckConfig => {
            with_output(|out, err| commands::check_config::run(&config, out, err))
        }
        Command::Keygen {
            alg,
            dir,
            activate_at,
            now,
        } => {
            let when = commands::keygen::When::from_flags(activate_at.as_deref(), now);
            with_output(|out, err| commands::keygen::run(&config, &alg, dir, when, out, err))
                .map(|()| true)
        }
        Command::HashSecret { iterations } => {
            with_output(|out, _| commands::hash_secret::run(iterations, out)).map(|()| true)
        }
        Command::NewClient { id, scopes, jwks } => with_output(|out, err| match &jwks {
            Some(file) => commands::new_client::run_jwks(&id, scopes.as_deref(), file, out, err),
            None => commands::new_client::run(&id, scopes.as_deref(), out, err),
        })
        .map(|()| true),
        Command::Inspect {
            token,
            jwks,
            cacert,
        } => with_output(|out, err| {
            let jwks = jwks.as_deref();
            commands::inspect::run(&config, &token, jwks, cacert.as_deref(), out, err)
        }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) if commands::is_broken_pipe(&e) => ExitCode::from(commands::BROKEN_PIPE_STATUS),
        Err(e) => {
            // Not eprintln!: it panics when stderr is closed too.
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
