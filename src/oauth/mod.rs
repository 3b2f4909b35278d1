//! The OAuth 2.0 protocol layer: strict form parsing, client authentication
//! extraction (RFC 6749 §2.3), the scope grammar (§3.3), the grant decision
//! and the error responses (§5.2). No HTTP framework types leak in here
//! except in `error`, which renders errors in one place.

pub mod client_auth;
pub mod error;
pub mod form;
pub mod grant;
pub mod scope;

pub use error::OAuthError;
