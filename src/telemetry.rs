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
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
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
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    let elapsed = start.elapsed();
    let request = res.request();
    let route = request.match_pattern();
    if let Some(state) = state {
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
        client_id = client.as_ref().map_or("-", |c| &*c.0),
        latency_us = elapsed.as_micros() as u64,
        "request"
    );
    Ok(res)
}
