//! Build, then run (zero-to-production's shape): [`Application::build`] binds
//! the listeners (port 0 friendly, so tests learn the port from
//! `local_addr`) with the HTTP policies around the routes;
//! [`Application::run_until_stopped`] serves, with the `Reloader` beside
//! the listeners until SIGTERM. actix's own signal handling is off because
//! two servers must stop together.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::config::{LoadedConfig, ServerSettings};
use crate::http::{in_flight, own_headers, request_id, security_headers};
use crate::metrics::Metrics;
use crate::reload::{Reloader, Signals};
use crate::state::{AppState, Snapshot};
use crate::telemetry::access_log;

pub struct Application {
    port: u16,
    admin_port: Option<u16>,
    tls: bool,
    public: Server,
    admin: Option<Server>,
    /// Made in `build`, so that a change made once `build` has returned
    /// is seen.
    reloader: Reloader,
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
                store.ask_client_cert(settings.clients.iter().any(|c| c.needs_certificate()));
                log_warnings(&warnings);
                (Some(config), Some(store))
            }
            None => (None, None),
        };
        let state = web::Data::new(app_state(settings)?);
        state
            .store
            .configure(state.snapshot().settings.store.as_ref());

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
        Ok(Self {
            port,
            admin_port,
            tls: with_tls,
            public,
            admin,
            reloader: Reloader::new(state, cert_store),
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
    /// with the `Reloader` beside the listeners. The signal handlers are
    /// installed before the `listening` line is logged, so a SIGHUP sent
    /// after it never meets the default action (which would end the
    /// process).
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
        let reloader = tokio::spawn(self.reloader.run(signals, handles));
        let result = match self.admin {
            Some(admin) => tokio::try_join!(self.public, admin).map(|_| ()),
            None => self.public.await,
        };
        reloader.abort();
        result
    }
}

fn log_warnings(warnings: &[String]) {
    for warning in warnings {
        tracing::warn!("{warning}");
    }
}

/// The first snapshot and the state every handler shares.
fn app_state(settings: crate::config::Settings) -> anyhow::Result<AppState> {
    let (snapshot, notes) = Snapshot::build(settings, &crate::routes::TOKEN_PATHS)?;
    log_warnings(&notes);
    let key = snapshot.keys.active();
    tracing::info!(
        kid = %key.kid,
        alg = crate::keys::alg_name(key.alg),
        keys = snapshot.keys.iter().count(),
        clients = snapshot.clients.iter().count(),
        "signing key loaded"
    );
    let metrics = Metrics::new().context("while registering metrics")?;
    Ok(AppState::new(snapshot, metrics)?)
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
            // The last `wrap` is the outermost: see `http` for the order.
            .wrap(from_fn(own_headers::middleware))
            .wrap(from_fn(in_flight::middleware))
            .wrap(from_fn(request_id::middleware))
            .wrap(from_fn(access_log))
            .wrap(security_headers::middleware())
    })
    .disable_signals()
    .shutdown_timeout(30)
    // What keeps slow or idle peers from holding resources (docs/configuration.md): the
    // deadline for a request head (the body's is `routes::body`'s), the
    // connection cap, and HTTP/2 receive windows sized for 8 KiB bodies,
    // which bound what one stream or connection makes the server buffer.
    .client_request_timeout(server.request_timeout)
    .max_connections(connections_per_worker(server, server.workers))
    .on_connect({
        let admit = in_flight::on_connect(connections_per_worker(server, server.workers));
        move |connection, extensions| {
            admit(connection, extensions);
            crate::http::client_cert::capture(connection, extensions);
        }
    })
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
            .wrap(from_fn(own_headers::middleware))
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
