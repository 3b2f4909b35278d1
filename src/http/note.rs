//! What the access log says about a request beyond its HTTP facts: set in
//! the request's extensions by the routes (which client, which OAuth
//! error, why authentication failed, the source the throttle counted) and
//! by the policies here (a refusal), read by `telemetry::access_log`.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::{HttpMessage as _, HttpRequest};

use crate::clients::Client;

#[derive(Clone, Default)]
pub struct Note {
    /// The configured client the request named (not proof of identity).
    pub client: Option<Arc<Client>>,
    /// The OAuth error code of the answer.
    pub error: Option<&'static str>,
    /// Why authentication failed.
    pub reason: Option<&'static str>,
    /// The source the throttle counted (the peer, or a trusted proxy's
    /// `X-Forwarded-For`).
    pub source: Option<IpAddr>,
}

impl Note {
    /// Changes the request's note, making it when there is none yet.
    pub fn update(req: &HttpRequest, f: impl FnOnce(&mut Note)) {
        let mut extensions = req.extensions_mut();
        match extensions.get_mut::<Note>() {
            Some(n) => f(n),
            None => {
                let mut n = Note::default();
                f(&mut n);
                extensions.insert(n);
            }
        }
    }
}
