//! The HTTP-level policies, one module and one middleware each, applied to
//! every request before it reaches a route. On the public listener, from
//! the outside in:
//!
//! 1. [`security_headers`]: what every response carries;
//! 2. `telemetry::access_log`: the log line and the per-route metrics;
//! 3. [`request_id`]: the `X-Request-Id` of the request and its answer;
//! 4. [`in_flight`]: whether the request is served now (per-connection and
//!    per-worker bounds, 503 past them), and whether its connection stays
//!    open while the server drains;
//! 5. [`own_headers`]: the request's header map, copied out of the
//!    connection's buffer.
//!
//! [`client_cert`] is no middleware: it keeps a connection's client
//! certificate and tells routes which certificate a request brings.
//!
//! Routes and policies leave what the access log should say in the
//! request's [`Note`]. The admin listener has only [`own_headers`]. A new policy is one more
//! module here and one more `wrap` in `startup`.

pub mod client_cert;
pub mod in_flight;
mod note;
pub mod own_headers;
pub mod request_id;
pub mod security_headers;

pub use note::Note;
