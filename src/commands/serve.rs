//! `tokenmint serve`: load, log, build, run.

use std::path::Path;

use anyhow::Context as _;

use crate::startup::Application;

pub fn run(config: &Path) -> anyhow::Result<()> {
    let loaded = crate::config::load(config)?;
    crate::telemetry::init(loaded.settings.log_format);
    tracing::info!(config = %config.display(), "starting tokenmint {}", env!("CARGO_PKG_VERSION"));
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(loaded)?;
        let scheme = if app.is_tls() { "https" } else { "http" };
        tracing::info!(
            port = app.port(),
            admin_port = app.admin_port(),
            "listening ({scheme})"
        );
        app.run_until_stopped().await.context("while serving")
    })
}
