//! The OAuth 2.0 protocol layer, free of any HTTP framework: strict form
//! parsing, the request values parsed once ([`request`]), the credential a
//! request presents (RFC 6749 §2.3), the grant
//! decision and the error values (§5.2). Rendering errors as HTTP responses
//! is `routes::error`'s job.

pub mod credentials;
pub mod error;
pub mod form;
pub mod grant;
pub mod request;

pub use error::OAuthError;
