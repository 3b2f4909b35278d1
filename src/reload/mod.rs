//! Reloads, and the process's life after start-up. The [`Reloader`] owns
//! what a reload reads and swaps — where the configuration comes from, the
//! fingerprint of the last inputs tried, the TLS certificate store, the
//! file watcher — so that none of it rides on the request state. It runs
//! beside the listeners: it reloads on SIGHUP and when a watched file
//! changes (bursts debounced), and drains and stops them on SIGTERM.
//!
//! A reload reads the configuration file (with its `TOKENMINT_`
//! environment overrides), the keys directory and the other [`inputs`];
//! builds a whole new snapshot and certified key; then swaps both in. If
//! anything fails, the current snapshot and certificate keep serving, and
//! the log and `tokenmint_config_reloads_total{result="failure"}` say so.
//!
//! A reload whose inputs are byte for byte those of the last attempt (the
//! [`inputs::fingerprint`]) is a no-op: a debug line says so, nothing is
//! counted, nothing is swapped. A SIGHUP without a change is therefore one
//! too, and a broken file is counted as a failure once, not at every event
//! that touches it.
//!
//! The certificate serves new connections; open ones keep theirs. Listener
//! addresses, workers, and turning TLS on or off are bound at start: a
//! change to them needs a restart, which the log says.

mod inputs;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::web;

use crate::config::Settings;
use crate::state::{AppState, Snapshot};
use crate::tls::CertStore;
use inputs::Fingerprint;
use watch::{Debounce, Watch};

pub struct Reloader {
    state: web::Data<AppState>,
    config_path: PathBuf,
    /// The fingerprint of the inputs of the last reload attempted (or of
    /// the first snapshot): equal inputs are not reloaded again.
    last_inputs: Fingerprint,
    /// The public listener's certificate, when it serves TLS.
    tls: Option<Arc<CertStore>>,
    /// Started with the reloader, so that a change made once `build` has
    /// returned is seen; events wait in its channel until `run` reads them.
    watch: Option<Watch>,
}

/// A new snapshot and, when the listener serves TLS, a new certified key:
/// both or neither.
type Built = (Snapshot, Option<rustls::sign::CertifiedKey>);

impl Reloader {
    /// Starts watching what the current snapshot was built from. Call it
    /// after the first snapshot is built (which may have generated a
    /// development key).
    pub fn new(state: web::Data<AppState>, tls: Option<Arc<CertStore>>) -> Self {
        let snapshot = state.snapshot();
        let config_path = snapshot.settings.source.clone();
        let last_inputs =
            inputs::fingerprint(&inputs::read(&config_path), Some(&snapshot.settings));
        let watch = Watch::start(&snapshot.settings);
        Self {
            state,
            config_path,
            last_inputs,
            tls,
            watch,
        }
    }

    /// Reads the inputs and, when they changed, builds and swaps in a new
    /// snapshot. Files are read on the blocking pool.
    async fn reload(&mut self) {
        let path = self.config_path.clone();
        let last = self.last_inputs;
        let with_tls = self.tls.is_some();
        let attempt = tokio::task::spawn_blocking(move || attempt(&path, last, with_tls)).await;
        match attempt {
            Err(e) => tracing::error!("the reload task failed: {e}"),
            Ok(None) => tracing::debug!("configuration unchanged: nothing to reload"),
            Ok(Some((inputs, result))) => {
                self.last_inputs = inputs;
                self.apply(result);
            }
        }
        if let Some(watch) = self.watch.as_mut() {
            watch.update(&self.state.snapshot().settings);
        }
    }

    fn apply(&self, result: anyhow::Result<Built>) {
        let metrics = &self.state.metrics;
        let (snapshot, cert) = match result {
            Ok(built) => built,
            Err(e) => {
                tracing::error!("reload rejected, still serving the previous configuration: {e:#}");
                metrics.config_reloads.with_label_values(&["failure"]).inc();
                return;
            }
        };
        let current = self.state.snapshot();
        let (old, new) = (&current.settings.server, &snapshot.settings.server);
        if old.listen != new.listen
            || old.admin_listen != new.admin_listen
            || old.workers != new.workers
        {
            tracing::warn!(
                "[server] listen, admin_listen or workers changed: they apply at the next restart"
            );
        }
        if self.tls.is_some() != new.tls.is_some() {
            tracing::warn!(
                "[server.tls] added or removed: HTTPS on or off applies at the next restart"
            );
        }
        if let (Some(store), Some(cert)) = (&self.tls, cert) {
            store.store(cert);
        }
        if let Some(store) = &self.tls {
            let clients = snapshot.clients.iter();
            store.ask_client_cert(clients.map(|c| &c.settings).any(|c| c.needs_certificate()));
        }
        crate::keys::log_changes(&current.keys, &snapshot.keys);
        self.state.store.configure(snapshot.settings.store.as_ref());
        tracing::info!(kid = %snapshot.keys.active().kid, "configuration reloaded");
        self.state.swap(snapshot);
        metrics.config_reloads.with_label_values(&["success"]).inc();
        metrics
            .last_reload_success
            .set(crate::clock::unix_now() as f64);
    }

    /// Reloads on SIGHUP and on changes until SIGTERM or SIGINT; then, for
    /// SIGTERM, drains (`/readyz` says 503 while the listeners keep serving
    /// for `server.drain_seconds`) and stops the listeners gracefully.
    #[cfg(unix)]
    pub async fn run(mut self, mut signals: Signals, handles: Vec<ServerHandle>) {
        let mut debounce = Debounce::default();
        let drain = loop {
            let changes = async {
                match self.watch.as_mut() {
                    Some(watch) => watch.changes.recv().await,
                    None => std::future::pending().await,
                }
            };
            let wake = tokio::select! {
                _ = signals.term.recv() => Wake::Stop { drain: true },
                _ = signals.int.recv() => Wake::Stop { drain: false },
                _ = signals.hup.recv() => Wake::Reload,
                Some(()) = changes => Wake::Changed,
                () = debounce.settled() => Wake::Reload,
                () = next_key_switch(&self.state) => Wake::KeySwitch,
            };
            match wake {
                Wake::Stop { drain } => break drain,
                Wake::Changed => debounce.event(),
                Wake::Reload => {
                    debounce.reset();
                    self.reload().await;
                }
                Wake::KeySwitch => {
                    let key = Arc::clone(self.state.snapshot().keys.active());
                    let alg = crate::keys::alg_name(key.alg);
                    tracing::info!(kid = %key.kid, alg, "key starts signing");
                }
            }
        };
        self.state.start_draining();
        let seconds = self.state.snapshot().settings.server.drain_seconds;
        if drain && seconds > 0 {
            tracing::info!(seconds, "draining: /readyz answers 503, still serving");
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(seconds)) => {}
                _ = signals.int.recv() => {}
            }
        }
        stop(&handles).await;
    }

    /// No signals to reload on here: serves until Ctrl-C.
    #[cfg(not(unix))]
    pub async fn run(self, _signals: Signals, handles: Vec<ServerHandle>) {
        let _ = tokio::signal::ctrl_c().await;
        stop(&handles).await;
    }
}

/// Resolves when the current keys' schedule makes another key sign (keys
/// switch by time, without a reload: this only says so in the log).
async fn next_key_switch(state: &AppState) {
    let now = crate::clock::unix_now();
    match state.snapshot().keys.next_switch(now) {
        Some(at) => tokio::time::sleep(std::time::Duration::from_secs(at - now)).await,
        None => std::future::pending().await,
    }
}

#[cfg(unix)]
enum Wake {
    Stop { drain: bool },
    Reload,
    Changed,
    KeySwitch,
}

async fn stop(handles: &[ServerHandle]) {
    tracing::info!("stopping: finishing in-flight requests");
    for handle in handles {
        handle.stop(true).await;
    }
}

/// The new snapshot built from the inputs at `path`, with the
/// fingerprint of what was read; `None` when that equals `last`. The file
/// is read for the fingerprint before it is loaded: a change between the
/// two makes the next event reload again, never be missed.
fn attempt(
    path: &std::path::Path,
    last: Fingerprint,
    with_tls: bool,
) -> Option<(Fingerprint, anyhow::Result<Built>)> {
    let config = inputs::read(path);
    let loaded = crate::config::load(path);
    let fingerprint = inputs::fingerprint(&config, loaded.as_ref().ok().map(|l| &l.settings));
    if fingerprint == last {
        return None;
    }
    let built = loaded
        .map_err(anyhow::Error::from)
        .and_then(|loaded| build(with_tls, &loaded.warnings, loaded.settings));
    Some((fingerprint, built))
}

fn build(with_tls: bool, warnings: &[String], settings: Settings) -> anyhow::Result<Built> {
    let cert = match (&settings.server.tls, with_tls) {
        (Some(tls), true) => Some(crate::tls::certified_key(tls)?),
        _ => None,
    };
    let (snapshot, notes) = Snapshot::build(settings, &crate::routes::TOKEN_PATHS)?;
    let tls_warnings = cert.as_ref().map(|(_, w)| w.as_slice()).unwrap_or_default();
    for line in warnings.iter().chain(&notes).chain(tls_warnings) {
        tracing::warn!("{line}");
    }
    Ok((snapshot, cert.map(|(cert, _)| cert)))
}

/// The signals the [`Reloader`] answers, installed before the server says
/// it listens: a SIGHUP sent after that line never meets the default
/// action (which would end the process).
#[cfg(unix)]
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

#[cfg(not(unix))]
pub struct Signals;

#[cfg(not(unix))]
impl Signals {
    pub fn install() -> std::io::Result<Self> {
        Ok(Self)
    }
}
