//! `X-Request-Id`: the caller's when it is a short printable token (so it
//! cannot forge log lines), else a new one; set on every answer, where the
//! access log reads it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id(&req);
    let mut res = next.call(req).await?;
    res.headers_mut().insert(REQUEST_ID, id);
    Ok(res)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_distinct_and_shaped_prefix_dash_counter() {
        let (a, b) = (new_request_id(), new_request_id());
        assert_ne!(a, b);
        let a = a.to_str().unwrap();
        assert_eq!(a.len(), 25);
        assert_eq!(&a[8..9], "-");
        assert!(a.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
    }
}
