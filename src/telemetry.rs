//! Logging: `tracing` to stdout, text or JSON (`[log] format`), level from
//! `RUST_LOG` (default `info`); and the access-log middleware, one line per
//! request with method, path (never the query), status, client id and
//! latency, which also feeds the request-duration histogram.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::routes::ClientLabel;
use crate::state::AppState;

/// Installs the global subscriber (once per process; later calls are no-ops).
pub fn init(format: LogFormat) {
    let spec = std::env::var("RUST_LOG").unwrap_or_default();
    let mut filter = EnvFilter::try_new(&spec)
        .ok()
        .filter(|_| !spec.trim().is_empty())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // rustls warns once per handshake for things a server cannot fix (a
    // client sending an IP address as SNI): a log flood under load. Its
    // errors still show; RUST_LOG=rustls=warn brings the rest back.
    if !spec.contains("rustls") {
        if let Ok(directive) = "rustls=error".parse() {
            filter = filter.add_directive(directive);
        }
    }
    // Colour only for a person at a terminal, never into files.
    use std::io::IsTerminal as _;
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let res = next.call(req).await?;
    let elapsed = start.elapsed();
    let request = res.request();
    let route = request.match_pattern();
    if let Some(state) = request.app_data::<web::Data<AppState>>() {
        state
            .metrics
            .request_duration
            .with_label_values(&[route.as_deref().unwrap_or("unmatched")])
            .observe(elapsed.as_secs_f64());
    }
    let client = request.extensions().get::<ClientLabel>().cloned();
    tracing::info!(
        target: "tokenmint::access",
        method = %request.method(),
        path = request.path(),
        status = res.status().as_u16(),
        client_id = client.as_ref().map_or("-", |c| c.0.settings.id.as_str()),
        latency_us = elapsed.as_micros() as u64,
        "request"
    );
    Ok(res)
}
