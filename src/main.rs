//! The `tokenmint` binary: parse the command line, dispatch, report errors
//! as one sentence (`{:#}`), exit 0 or 1. All logic lives in the library.

use std::process::ExitCode;

use clap::Parser as _;
use tokenmint::cli::{Cli, Command};
use tokenmint::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config_path();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => commands::serve::run(&config).map(|()| true),
        Command::CheckConfig => commands::check_config::run(&config),
        Command::Keygen { alg, dir } => commands::keygen::run(&config, &alg, dir).map(|()| true),
        Command::HashSecret { iterations } => commands::hash_secret::run(iterations).map(|()| true),
        Command::NewClient { id, scopes } => {
            commands::new_client::run(&id, scopes.as_deref()).map(|()| true)
        }
        Command::Inspect { token, jwks } => {
            commands::inspect::run(&config, &token, jwks.as_deref())
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
