//! One file per subcommand other than `serve`'s server itself. Each returns
//! `anyhow::Result`; `main` prints errors with `{:#}` and picks the exit code.

pub mod check_config;
pub mod hash_secret;
pub mod inspect;
pub mod keygen;
pub mod new_client;
pub mod serve;
