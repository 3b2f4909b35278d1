//! Admission: how many requests may be in progress at once, per connection
//! and per worker, and whether a connection stays open while the server
//! drains. HTTP/1.1 has one request at a time per connection, so
//! `server.max_connections` bounds it; HTTP/2 multiplexes, and actix-web
//! neither advertises `SETTINGS_MAX_CONCURRENT_STREAMS` nor bounds streams.
//! Measured before: one connection opened 5 000 token requests whose bodies
//! never came, each holding a handler until `request_timeout` (+26 MB).
//! Past either bound a request is answered 503 `temporarily_unavailable`
//! at once, without reading its body.
//!
//! A request keeps its connection place until its answer has been sent,
//! not only until the handler returns: an HTTP/2 peer that grants no
//! flow-control window keeps every answer with a body pending, and such
//! streams were never freed (one connection: +26 MB per 5 000 streams,
//! without bound). For the same reason a refusal over HTTP/2 has no body
//! (its HEADERS frame ends the stream; flow control does not apply to it).
//! The worker's share is given back when the handler returns: handlers end
//! within `request_timeout`, sends to a peer that withholds its window may
//! never end, and 50 such connections must not hold a whole worker.
//!
//! Draining (SIGTERM): a kept-alive HTTP/1.1 client is told to reconnect,
//! so that its next request reaches a replica that stays instead of racing
//! this one's shutdown. actix sends HTTP/2 clients GOAWAY when the listener
//! stops.

use std::any::Any;
use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::{ConnectionType, Version};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{web, HttpMessage as _, ResponseError as _};

use super::Note;
use crate::oauth::OAuthError;
use crate::state::AppState;

/// RFC 9113 §6.5.2 asks that a server allow at least 100 concurrent
/// streams.
pub const PER_CONNECTION: u32 = 100;

thread_local! {
    // Each actix worker is one thread, and a request is served on the
    // worker that accepted its connection.
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Admits the request or answers 503 at once. The worker's share is held
/// until the handler returns, the connection's place by the answer's body
/// until it is sent.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<Held>, actix_web::Error> {
    let draining = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.is_draining());
    let slot = req.conn_data::<Connection>().map(Connection::enter);
    let (res, mut slot) = match slot {
        Some(None) => (refuse(req), None),
        Some(slot) => (next.call(req).await?.map_into_boxed_body(), slot),
        None => (next.call(req).await?.map_into_boxed_body(), None),
    };
    if let Some(slot) = &mut slot {
        slot.handled();
    }
    let mut res = res.map_body(|_, body| Held::new(body, slot));
    if draining {
        res.response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(res)
}

/// 503 for a request that found no room. Over HTTP/2 without a body, so
/// that flow control cannot keep it pending.
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

/// Per-connection state, made by [`on_connect`] and found through
/// `conn_data`.
pub struct Connection {
    requests: Rc<Cell<u32>>,
    worker_limit: usize,
}

/// `HttpServer::on_connect` hook: `worker_limit` is the worker's share of
/// `server.max_connections`, so HTTP/2 can keep no more requests in flight
/// than HTTP/1.1 could.
pub fn on_connect(worker_limit: usize) -> impl Fn(&dyn Any, &mut Extensions) + Send + Sync {
    move |_, extensions| {
        extensions.insert(Connection {
            requests: Rc::default(),
            worker_limit,
        });
    }
}

impl Connection {
    /// A place for one more request, or `None` when this connection or
    /// this worker has no room.
    pub fn enter(&self) -> Option<Slot> {
        let on_connection = self.requests.get();
        if on_connection >= PER_CONNECTION {
            return None;
        }
        let admitted = WORKER.with(|worker| {
            let n = worker.get();
            let room = n < self.worker_limit;
            if room {
                worker.set(n + 1);
            }
            room
        });
        if !admitted {
            return None;
        }
        self.requests.set(on_connection + 1);
        Some(Slot {
            requests: Rc::clone(&self.requests),
            on_worker: true,
        })
    }
}

/// One request in progress; its places are given back when it is dropped.
pub struct Slot {
    requests: Rc<Cell<u32>>,
    on_worker: bool,
}

impl Slot {
    /// Gives the worker's share back (the handler has returned); the
    /// connection's place stays until the slot is dropped.
    pub fn handled(&mut self) {
        if std::mem::take(&mut self.on_worker) {
            WORKER.with(|worker| worker.set(worker.get().saturating_sub(1)));
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.handled();
        self.requests.set(self.requests.get().saturating_sub(1));
    }
}

/// A response body that holds its request's [`Slot`] until actix has sent
/// it (or given up on it) and drops it.
pub struct Held {
    body: BoxBody,
    _slot: Option<Slot>,
}

impl Held {
    pub fn new(body: BoxBody, slot: Option<Slot>) -> Self {
        Self { body, _slot: slot }
    }
}

impl MessageBody for Held {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_gets_at_most_its_share_and_places_come_back() {
        let connection = Connection {
            requests: Rc::default(),
            worker_limit: 1_000,
        };
        let slots: Vec<Slot> = (0..PER_CONNECTION)
            .map(|_| connection.enter().expect("room"))
            .collect();

        assert!(connection.enter().is_none());
        drop(slots);
        assert!(connection.enter().is_some());
    }

    #[test]
    fn the_worker_bound_holds_across_connections() {
        let connections: Vec<Connection> = (0..3)
            .map(|_| Connection {
                requests: Rc::default(),
                worker_limit: 150,
            })
            .collect();
        let mut slots = Vec::new();
        for connection in &connections {
            while let Some(slot) = connection.enter() {
                slots.push(slot);
            }
        }

        assert_eq!(slots.len(), 150);
        slots.truncate(149);
        assert!(connections[2].enter().is_some());
    }

    #[test]
    fn a_handled_request_frees_the_worker_but_not_its_connection() {
        let busy = Connection {
            requests: Rc::default(),
            worker_limit: 100,
        };
        let mut sending: Vec<Slot> = (0..PER_CONNECTION)
            .map(|_| busy.enter().expect("room"))
            .collect();
        let other = Connection {
            requests: Rc::default(),
            worker_limit: 100,
        };
        assert!(other.enter().is_none(), "the worker is full");

        sending.iter_mut().for_each(Slot::handled);

        assert!(busy.enter().is_none(), "answers still being sent");
        assert!(other.enter().is_some());
    }
}
