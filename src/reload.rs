//! SIGHUP: build a whole new snapshot from the configuration file and the
//! keys directory, then swap it in; if anything fails, keep serving the
//! current one and say why (log and `tokenmint_config_reloads_total`).
//! Listener addresses, workers and TLS files are bound at start: a change
//! to them needs a restart, which the log says.

use crate::state::{AppState, Snapshot};

pub fn reload(state: &AppState) {
    let result = crate::config::load(&state.config_path)
        .map_err(anyhow::Error::from)
        .and_then(|loaded| {
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            Ok(Snapshot::build(loaded.settings)?)
        });
    match result {
        Ok((snapshot, notes)) => {
            for note in notes {
                tracing::warn!("{note}");
            }
            let current = state.snapshot();
            let (old, new) = (&current.settings.server, &snapshot.settings.server);
            if old.listen != new.listen
                || old.admin_listen != new.admin_listen
                || old.workers != new.workers
                || old.tls.as_ref().map(|t| (&t.cert, &t.key))
                    != new.tls.as_ref().map(|t| (&t.cert, &t.key))
            {
                tracing::warn!(
                    "[server] changed: listeners, workers and TLS apply at the next restart"
                );
            }
            tracing::info!(kid = %snapshot.keys.active().kid, "configuration reloaded");
            state.swap(snapshot);
            state
                .metrics
                .config_reloads
                .with_label_values(&["success"])
                .inc();
            state
                .metrics
                .last_reload_success
                .set(crate::token::unix_now() as f64);
        }
        Err(e) => {
            tracing::error!("reload rejected, still serving the previous configuration: {e:#}");
            state
                .metrics
                .config_reloads
                .with_label_values(&["failure"])
                .inc();
        }
    }
}
