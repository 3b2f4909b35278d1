//! tokenmint: a stateless OAuth 2.0 client-credentials token service that
//! mints RFC 9068 JWT access tokens. The binary is a thin shell over this
//! library; tests start [`Application`] on port 0.
//!
//! Public here is what the binary, the tests, the benchmarks, the fuzz
//! targets and the examples use; the rest is private, so that the compiler
//! reports what nothing calls. `docs/architecture.md` maps the modules.

mod auth;
mod ca;
pub mod cli;
pub mod clients;
pub mod clock;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod dpop;
mod http;
pub mod jose;
mod jwks;
pub mod keys;
mod metrics;
pub mod oauth;
mod pem;
mod reload;
mod routes;
pub mod scope;
pub mod secret_hash;
mod startup;
mod state;
mod store;
pub mod telemetry;
mod throttle;
mod tls;
pub mod token;
mod x509;

pub use startup::Application;
pub use store::ReplayCache;
