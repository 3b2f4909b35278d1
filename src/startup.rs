//! Build, then run (zero-to-production's shape): [`Application::build`] binds
//! the listeners (port 0 friendly, so tests learn the port from
//! `local_addr`), [`Application::run_until_stopped`] serves until SIGTERM
//! (graceful) and reloads on SIGHUP and when a watched file changes
//! (`watch`; bursts debounced here). actix's own signal handling is off
//! because two servers must stop together.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::config::{LoadedConfig, ServerSettings};
use crate::metrics::Metrics;
use crate::routes::in_flight;
use crate::state::{AppState, Snapshot};
use crate::telemetry::{access_log, own_headers};

pub struct Application {
    port: u16,
    admin_port: Option<u16>,
    tls: bool,
    public: Server,
    admin: Option<Server>,
    state: web::Data<AppState>,
    /// Started in `build`, so that a change made once `build` has returned
    /// is seen; events wait in its channel until the signal task runs.
    watch: Option<crate::watch::Watch>,
}

impl Application {
    /// Loads keys, builds the snapshot and binds every listener; nothing is
    /// served until [`run_until_stopped`](Self::run_until_stopped).
    pub fn build(loaded: LoadedConfig) -> anyhow::Result<Self> {
        crate::crypto::install_jwt_provider();
        log_warnings(&loaded.warnings);
        let settings = loaded.settings;
        let server = settings.server.clone();
        let (tls, cert_store) = match &server.tls {
            Some(tls) => {
                let (config, store, warnings) = crate::tls::server_config(tls)?;
                log_warnings(&warnings);
                (Some(config), Some(store))
            }
            None => (None, None),
        };
        let state = web::Data::new(app_state(settings, cert_store)?);

        let listener = bind("server.listen", &server.listen)?;
        let port = listener.local_addr()?.port();
        let admin_listener = match &server.admin_listen {
            Some(addr) => Some(bind("server.admin_listen", addr)?),
            None => None,
        };
        let admin_port = match &admin_listener {
            Some(l) => Some(l.local_addr()?.port()),
            None => None,
        };
        let with_tls = tls.is_some();
        let ops_on_public = admin_listener.is_none();
        let public = public_server(&server, listener, tls, state.clone(), ops_on_public)?;
        let admin = match admin_listener {
            Some(listener) => Some(admin_server(&server, listener, state.clone())?),
            None => None,
        };
        let watch = crate::watch::Watch::start(&state.snapshot().settings);
        Ok(Self {
            port,
            admin_port,
            tls: with_tls,
            public,
            admin,
            state,
            watch,
        })
    }

    /// The bound public port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound admin port, when `admin_listen` is set.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin_port
    }

    /// Serves until SIGTERM/SIGINT (graceful: in-flight requests finish),
    /// reloading on SIGHUP and on changes to the watched directories (the
    /// watcher, started by `build`, is handled beside the signals). The
    /// signal handlers are installed before the `listening` line is logged,
    /// so a SIGHUP sent after it never meets the default action (which would
    /// end the process).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handles: Vec<ServerHandle> = std::iter::once(self.public.handle())
            .chain(self.admin.as_ref().map(Server::handle))
            .collect();
        let signals = Signals::install()?;
        tracing::info!(
            port = self.port,
            admin_port = self.admin_port,
            "listening ({})",
            if self.tls { "https" } else { "http" }
        );
        let signals = tokio::spawn(signals.handle(handles, self.state.clone(), self.watch));
        let result = match self.admin {
            Some(admin) => tokio::try_join!(self.public, admin).map(|_| ()),
            None => self.public.await,
        };
        signals.abort();
        result
    }
}

fn log_warnings(warnings: &[String]) {
    for warning in warnings {
        tracing::warn!("{warning}");
    }
}

/// The first snapshot and the state every handler shares.
fn app_state(
    settings: crate::config::Settings,
    tls: Option<std::sync::Arc<crate::tls::CertStore>>,
) -> anyhow::Result<AppState> {
    let config_path = settings.source.clone();
    let (snapshot, notes) = Snapshot::build(settings)?;
    log_warnings(&notes);
    // After the build, which may have generated a development key.
    let inputs =
        crate::reload::fingerprint(&crate::reload::read(&config_path), Some(&snapshot.settings));
    let key = snapshot.keys.active();
    tracing::info!(
        kid = %key.kid,
        alg = crate::keys::alg_name(key.alg),
        keys = snapshot.keys.iter().count(),
        clients = snapshot.clients.iter().count(),
        "signing key loaded"
    );
    let metrics = Metrics::new().context("while registering metrics")?;
    Ok(AppState::new(snapshot, metrics, config_path, inputs, tls)?)
}

fn bind(key: &str, addr: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).with_context(|| format!("while binding {key} {addr}"))
}

/// The public listener: token, JWKS, discovery, introspection (and the
/// operations endpoints when there is no admin listener), behind the
/// access log and the security headers of every response.
fn public_server(
    server: &ServerSettings,
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    state: web::Data<AppState>,
    ops_on_public: bool,
) -> anyhow::Result<Server> {
    let mut http = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(crate::routes::public)
            .configure(|cfg| {
                if ops_on_public {
                    crate::routes::admin(cfg);
                }
            })
            .wrap(from_fn(access_log))
            .wrap(
                DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("X-Frame-Options", "DENY")),
            )
    })
    .disable_signals()
    .shutdown_timeout(30)
    // What keeps slow or idle peers from holding resources (SPEC §2): the
    // deadline for a request head (the body's is `routes::body`'s), the
    // connection cap, and HTTP/2 receive windows sized for 8 KiB bodies,
    // which bound what one stream or connection makes the server buffer.
    .client_request_timeout(server.request_timeout)
    .max_connections(connections_per_worker(server, server.workers))
    .on_connect(in_flight::on_connect(connections_per_worker(
        server,
        server.workers,
    )))
    .h2_initial_window_size(16 * 1024)
    .h2_initial_connection_window_size(64 * 1024);
    if server.workers > 0 {
        http = http.workers(server.workers);
    }
    let http = match tls {
        Some(config) => http.listen_rustls_0_23(listener, config)?,
        None => http.listen(listener)?,
    };
    Ok(http.run())
}

/// The admin listener: `/metrics`, `/healthz`, `/readyz`, one worker.
fn admin_server(
    server: &ServerSettings,
    listener: TcpListener,
    state: web::Data<AppState>,
) -> anyhow::Result<Server> {
    let http = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(crate::routes::admin)
            .wrap(from_fn(own_headers))
    })
    .disable_signals()
    .workers(1)
    .client_request_timeout(server.request_timeout)
    .max_connections(connections_per_worker(server, 1));
    Ok(http.listen(listener)?.run())
}

/// Connections per worker for `server.max_connections` per listener
/// (actix counts per worker).
fn connections_per_worker(server: &ServerSettings, workers: usize) -> usize {
    let workers = match workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    server.max_connections.div_ceil(workers).max(1)
}

#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn handle(
        mut self,
        handles: Vec<ServerHandle>,
        state: web::Data<AppState>,
        mut watch: Option<crate::watch::Watch>,
    ) {
        let mut debounce = Debounce::default();
        let drain = loop {
            let changes = async {
                match watch.as_mut() {
                    Some(watch) => watch.changes.recv().await,
                    None => std::future::pending().await,
                }
            };
            let wake = tokio::select! {
                _ = self.term.recv() => Wake::Stop { drain: true },
                _ = self.int.recv() => Wake::Stop { drain: false },
                _ = self.hup.recv() => Wake::Reload,
                Some(()) = changes => Wake::Changed,
                () = debounce.settled() => Wake::Reload,
            };
            match wake {
                Wake::Stop { drain } => break drain,
                Wake::Changed => debounce.event(),
                Wake::Reload => {
                    debounce.reset();
                    // Reading and parsing files: on the blocking pool, not
                    // on this runtime's thread.
                    let for_reload = state.clone();
                    let done =
                        tokio::task::spawn_blocking(move || crate::reload::reload(&for_reload));
                    if let Err(e) = done.await {
                        tracing::error!("the reload task failed: {e}");
                    }
                    if let Some(watch) = watch.as_mut() {
                        watch.update(&state.snapshot().settings);
                    }
                }
            }
        };
        // SIGTERM (SPEC §3.6): /readyz says 503 at once, so that load
        // balancers stop sending, while the listeners keep serving for
        // server.drain_seconds. SIGINT (a person at a terminal) skips that.
        state.start_draining();
        let seconds = state.snapshot().settings.server.drain_seconds;
        if drain && seconds > 0 {
            tracing::info!(seconds, "draining: /readyz answers 503, still serving");
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(seconds)) => {}
                _ = self.int.recv() => {}
            }
        }
        tracing::info!("stopping: finishing in-flight requests");
        for handle in &handles {
            handle.stop(true).await;
        }
    }
}

#[cfg(unix)]
enum Wake {
    Stop { drain: bool },
    Reload,
    Changed,
}

/// A burst of file events is applied once: when 250 ms pass without
/// another, or 1 s after its first event if they keep coming.
#[cfg(unix)]
#[derive(Default)]
struct Debounce {
    first: Option<tokio::time::Instant>,
    due: Option<tokio::time::Instant>,
}

#[cfg(unix)]
impl Debounce {
    const QUIET: std::time::Duration = std::time::Duration::from_millis(250);
    const AT_MOST: std::time::Duration = std::time::Duration::from_secs(1);

    fn event(&mut self) {
        let now = tokio::time::Instant::now();
        let first = *self.first.get_or_insert(now);
        self.due = Some((now + Self::QUIET).min(first + Self::AT_MOST));
    }

    fn reset(&mut self) {
        *self = Self::default();
    }

    /// Resolves when the pending burst is due; never when there is none.
    async fn settled(&self) {
        match self.due {
            Some(due) => tokio::time::sleep_until(due).await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self)
    }

    /// No watching here: `_watch` is dropped, and a change needs a restart.
    async fn handle(
        self,
        handles: Vec<ServerHandle>,
        _state: web::Data<AppState>,
        _watch: Option<crate::watch::Watch>,
    ) {
        let _ = tokio::signal::ctrl_c().await;
        for handle in &handles {
            handle.stop(true).await;
        }
    }
}
