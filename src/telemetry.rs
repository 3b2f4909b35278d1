//! Logging: `tracing` to stdout, text or JSON (`[log] format`), level from
//! `RUST_LOG` (default `info`); and the access log, one line per request
//! (method, path but never the query, status, client id, latency, source,
//! OAuth error and failure reason, `X-Request-Id`), which also feeds the
//! per-route metrics. The HTTP policies around it are `http`'s.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::http::request_id::REQUEST_ID;
use crate::http::Note;
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
    // actix-http logs every malformed request it refuses before routing
    // (bad framing, oversized heads) at ERROR: anyone could flood the error
    // log with client mistakes. Those requests get a plain 400/431 and
    // close; RUST_LOG=actix_http=error shows them again.
    if !spec.contains("actix_http") {
        if let Ok(directive) = "actix_http::h1::dispatcher=off".parse() {
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

/// One line per request, and the route's latency histogram and response
/// counter.
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let res = next.call(req).await?;
    let elapsed = start.elapsed();
    let request = res.request();
    let route = request.match_name().unwrap_or("unmatched");
    let status = res.status();
    if let Some(state) = request.app_data::<web::Data<AppState>>() {
        let metrics = &state.metrics;
        metrics
            .request_duration
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
        metrics
            .responses
            .with_label_values(&[route, status.as_str()])
            .inc();
    }
    let note = request
        .extensions()
        .get::<Note>()
        .cloned()
        .unwrap_or_default();
    let source = note.source.or_else(|| request.peer_addr().map(|a| a.ip()));
    let id = res.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok());
    tracing::info!(
        target: "tokenmint::access",
        method = %request.method(),
        path = request.path(),
        status = status.as_u16(),
        client_id = note.client.as_ref().map_or("-", |c| c.settings.id.as_str()),
        latency_us = elapsed.as_micros() as u64,
        source = %source.map_or_else(|| "-".into(), |s| s.to_string()),
        error = note.error.unwrap_or("-"),
        reason = note.reason.unwrap_or("-"),
        request_id = id.unwrap_or("-"),
        "request"
    );
    Ok(res)
}
