//! tokenmint: a stateless OAuth 2.0 client-credentials token service that
//! mints RFC 9068 JWT access tokens. The binary is a thin shell over this
//! library; tests start [`startup::Application`] on port 0.

pub mod auth;
pub mod ca;
pub mod cli;
pub mod clients;
pub mod clock;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod http;
pub mod jose;
pub mod jwks;
pub mod keys;
pub mod metrics;
pub mod oauth;
pub mod pem;
pub mod reload;
pub mod routes;
pub mod scope;
pub mod secret_hash;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod throttle;
pub mod tls;
pub mod token;

pub use startup::Application;
