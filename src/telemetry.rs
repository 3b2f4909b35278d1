//! Logging: `tracing` to stdout, text or JSON (`[log] format`), level from
//! `RUST_LOG` (default `info`); the access-log middleware, one line per
//! request (method, path but never the query, status, client id, latency,
//! source, OAuth error and failure reason, `X-Request-Id`), which also feeds
//! the per-route metrics; and a limiter for lines an attacker could flood.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::{ConnectionType, Version};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::oauth::OAuthError;
use crate::routes::{in_flight, Note};
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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

/// At most one line a second for a noisy event; the rest are counted and
/// reported with the next line that passes.
#[derive(Default)]
pub struct LogLimiter {
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl LogLimiter {
    /// `Some(suppressed since the last line)` when a line may be written.
    pub fn allow(&self) -> Option<u64> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let next = self.next_ms.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_ms
                .compare_exchange(next, now + 1000, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Request ids: a random per-process prefix and a counter, so that an id
/// costs no system call.
struct RequestIds {
    prefix: u32,
    next: AtomicU64,
}

static REQUEST_IDS: OnceLock<RequestIds> = OnceLock::new();

fn new_request_id() -> HeaderValue {
    let ids = REQUEST_IDS.get_or_init(|| {
        let mut seed = [0u8; 4];
        let _ = crate::crypto::random_bytes(&mut seed);
        RequestIds {
            prefix: u32::from_be_bytes(seed),
            next: AtomicU64::new(0),
        }
    });
    // `{prefix:08x}-{counter:016x}`, written by hand: this runs per request.
    let mut id = [0u8; 25];
    let hex = |n: u64, out: &mut [u8]| {
        for (i, byte) in out.iter_mut().rev().enumerate() {
            *byte = b"0123456789abcdef"[((n >> (4 * i)) & 0xf) as usize];
        }
    };
    hex(u64::from(ids.prefix), &mut id[..8]);
    id[8] = b'-';
    hex(ids.next.fetch_add(1, Ordering::Relaxed), &mut id[9..]);
    HeaderValue::from_bytes(&id).unwrap_or(HeaderValue::from_static("-"))
}

/// The caller's `X-Request-Id` when it is a short printable token (so it
/// cannot forge log lines), else a new one.
fn request_id(req: &ServiceRequest) -> HeaderValue {
    req.headers()
        .get(REQUEST_ID)
        .filter(|v| {
            let v = v.as_bytes();
            !v.is_empty() && v.len() <= 128 && v.iter().all(u8::is_ascii_graphic)
        })
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// One line per request, the route's latency histogram and response
/// counter, and the `X-Request-Id` on every response.
pub async fn access_log(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    own_header_values(req.headers_mut());
    let id = request_id(&req);
    let draining = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.is_draining());
    // The worker's share is held until the handler returns, the
    // connection's place by the answer's body until it is sent; `None`
    // inside: no room.
    let slot = req.conn_data::<in_flight::Connection>().map(|c| c.enter());
    let (res, mut slot) = match slot {
        Some(None) => (refuse(req), None),
        Some(slot) => (next.call(req).await?.map_into_boxed_body(), slot),
        None => (next.call(req).await?.map_into_boxed_body(), None),
    };
    if let Some(slot) = &mut slot {
        slot.handled();
    }
    let mut res = res.map_body(|_, body| in_flight::Held::new(body, slot));
    let elapsed = start.elapsed();
    res.headers_mut().insert(REQUEST_ID, id.clone());
    // Draining (SIGTERM): a kept-alive HTTP/1.1 client is told to
    // reconnect, so that its next request reaches a replica that stays
    // instead of racing this one's shutdown. actix sends HTTP/2 clients
    // GOAWAY when the listener stops.
    if draining {
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
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
        request_id = id.to_str().unwrap_or("-"),
        "request"
    );
    Ok(res)
}

/// 503 for a request that found no room (`routes::in_flight`). Over
/// HTTP/2 without a body, so that flow control cannot keep it pending.
fn refuse(req: ServiceRequest) -> ServiceResponse {
    req.extensions_mut().insert(Note {
        error: Some("temporarily_unavailable"),
        reason: Some("in_flight"),
        ..Note::default()
    });
    let mut res = OAuthError::InFlight.error_response();
    if req.version() == Version::HTTP_2 {
        res.headers_mut().remove(CONTENT_TYPE);
        res = res.set_body(BoxBody::new(()));
    }
    req.into_response(res)
}

/// For a listener without the access log (the admin one): only
/// `own_header_values`.
pub async fn own_headers(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    own_header_values(req.headers_mut());
    next.call(req).await
}

/// Gives the request a header map of its own size whose values are copies.
///
/// actix-http gives a new request a map with room for 16 headers (a 7 KiB
/// table) whose values are slices of the connection's 8 KiB read buffer,
/// and actix-web keeps up to 128 finished requests per worker for reuse,
/// headers included. Measured with 5 000 slow clients: 120 MB while they
/// were connected, and 515 of those tables and buffers (4 MB) still
/// allocated after they were cut. A big table is rebuilt at the request's
/// size (actix-http then reuses the small one for later requests); in a
/// small one the values are only copied.
fn own_header_values(headers: &mut HeaderMap) {
    if headers.capacity() > 2 * headers.len().max(4) {
        let shared = std::mem::take(headers);
        headers.reserve(shared.len());
        for (name, mut value) in shared {
            own(&mut value);
            headers.append(name, value);
        }
    } else {
        headers.retain(|_, value| {
            own(value);
            true
        });
    }
}

fn own(value: &mut HeaderValue) {
    // Cannot fail (the bytes are a valid value); the original stays if it
    // did.
    if let Ok(mut owned) = HeaderValue::from_bytes(value.as_bytes()) {
        owned.set_sensitive(value.is_sensitive());
        *value = owned;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{AUTHORIZATION, HOST};
    use actix_web::web::Bytes;

    #[test]
    fn header_values_stop_sharing_the_connection_buffer_in_maps_of_any_size() {
        for capacity in [0, 16] {
            let buffer = Bytes::from(b"127.0.0.1Basic c3ZjOnN2Yy1zZWNyZXQ=".to_vec());
            let mut headers = HeaderMap::with_capacity(capacity);
            let host = HeaderValue::from_maybe_shared(buffer.slice(..9)).unwrap();
            let mut auth = HeaderValue::from_maybe_shared(buffer.slice(9..)).unwrap();
            auth.set_sensitive(true);
            headers.append(HOST, host);
            headers.append(AUTHORIZATION, auth);
            assert!(!buffer.is_unique());

            own_header_values(&mut headers);

            assert!(buffer.is_unique(), "a header value still holds the buffer");
            assert!(headers.capacity() <= 8, "{} slots", headers.capacity());
            assert_eq!(headers.get(HOST).unwrap(), "127.0.0.1");
            let auth = headers.get(AUTHORIZATION).unwrap();
            assert_eq!(auth, "Basic c3ZjOnN2Yy1zZWNyZXQ=");
            assert!(auth.is_sensitive());
        }
    }
}
