//! tokenmint's integration tests: one binary, every test starting its own
//! server on 127.0.0.1:0 and talking HTTP to it, validating tokens the way
//! a resource server does (from the served JWK Set only).

mod helpers;
mod verify;

mod assertions;
mod cli;
mod discovery;
mod dpop;
mod hardening;
mod introspection;
mod jwks;
mod keygen;
mod keys_and_config;
mod live;
mod mtls;
mod quotas;
mod remote_jwks;
mod store;
mod tls;
mod token;
mod token_errors;
