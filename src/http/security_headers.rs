//! The headers every public response carries, whatever answered it: the
//! routes, a refusal of `in_flight`, or actix's own 404 and 405.

use actix_web::middleware::DefaultHeaders;

/// `nosniff` (JSON is never sniffed as HTML) and `DENY` (nothing here is
/// meant to be framed).
pub fn middleware() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
}
