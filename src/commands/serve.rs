//! `tokenmint serve`: load, log, build, run.

use std::path::Path;

use anyhow::Context as _;

use crate::startup::Application;

pub fn run(config: &Path) -> anyhow::Result<()> {
    let loaded = crate::config::load(config)?;
    crate::telemetry::init(loaded.settings.log_format);
    tracing::info!(config = %config.display(), "starting tokenmint {}", env!("CARGO_PKG_VERSION"));
    actix_web::rt::System::new().block_on(async move {
        // run_until_stopped logs `listening` once its signal handlers are in.
        let app = Application::build(loaded)?;
        app.run_until_stopped().await.context("while serving")
    })
}
