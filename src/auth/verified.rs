//! Remembering and sharing slow secret checks, for the whole application
//! (a reload keeps both, so a reload under load costs no PBKDF2 storm):
//!
//! - [`Verified`]: secrets that passed a slow check, as keyed tags
//!   HMAC-SHA256(random key, client's secrets fingerprint ‖ id ‖ secret) —
//!   never the secret — in two generations of bounded size, so a full cache
//!   forgets the least recently used half, not everything. A client whose
//!   secrets change has a new fingerprint: its old tags never match again.
//! - [`Flights`]: concurrent requests presenting the same id and secret
//!   share one check; the first starts it, the others wait for its verdict.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};

use ring::hmac;
use tokio::sync::watch;

use crate::clients::Client;

/// Tags kept per generation.
const GENERATION: usize = 5_000;

pub type Tag = [u8; 32];

pub struct Verified {
    key: hmac::Key,
    /// (current, previous) generations.
    tags: RwLock<(HashSet<Tag>, HashSet<Tag>)>,
}

impl Verified {
    pub fn new() -> Result<Self, ring::error::Unspecified> {
        Ok(Self {
            key: hmac::Key::generate(hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())?,
            tags: RwLock::new((HashSet::new(), HashSet::new())),
        })
    }

    /// The tag of `secrets` presented for `client` (or for the unknown id
    /// `id`): the flight key when all candidates are given, the cache key
    /// for one.
    pub fn tag<S: AsRef<str>>(&self, client: Option<&Client>, id: &str, secrets: &[S]) -> Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(client.map_or(&[0u8; 32], |c| &c.secrets_fingerprint));
        ctx.update(id.as_bytes());
        for s in secrets {
            ctx.update(&[0]);
            ctx.update(s.as_ref().as_bytes());
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// Whether one of `secrets` passed a slow check for `client`.
    pub fn contains(&self, client: &Client, secrets: &[String]) -> bool {
        // Tags first, so the lock is held for the lookups only.
        let id = &client.settings.id;
        let tags: Vec<Tag> = secrets
            .iter()
            .map(|s| self.tag(Some(client), id, std::slice::from_ref(s)))
            .collect();
        let found = {
            let sets = self.tags.read().unwrap_or_else(|e| e.into_inner());
            tags.iter()
                .find(|t| sets.0.contains(*t) || sets.1.contains(*t))
                .map(|t| (*t, sets.0.contains(t)))
        };
        match found {
            Some((_, true)) => true,
            // Seen in the older generation only: promote it.
            Some((tag, false)) => {
                self.insert(tag);
                true
            }
            None => false,
        }
    }

    /// Remembers that `secret` passed for `client`.
    pub fn remember(&self, client: &Client, secret: &str) {
        let tag = self.tag(Some(client), &client.settings.id, &[secret]);
        self.insert(tag);
    }

    fn insert(&self, tag: Tag) {
        let mut sets = self.tags.write().unwrap_or_else(|e| e.into_inner());
        if sets.0.len() >= GENERATION {
            let current = std::mem::take(&mut sets.0);
            sets.1 = current;
        }
        sets.0.insert(tag);
    }
}

/// Slow checks in progress, by the tag of what they check.
#[derive(Default)]
pub struct Flights {
    running: Mutex<HashMap<Tag, watch::Receiver<Option<bool>>>>,
}

/// Either the check to run (the first request) or the verdict to wait for.
pub enum Flight {
    Lead(Leader),
    Follow(watch::Receiver<Option<bool>>),
}

/// Runs the check and publishes its verdict to every follower.
pub struct Leader {
    tag: Tag,
    sender: watch::Sender<Option<bool>>,
}

impl Flights {
    pub fn join(&self, tag: Tag) -> Flight {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(receiver) = running.get(&tag) {
            return Flight::Follow(receiver.clone());
        }
        let (sender, receiver) = watch::channel(None);
        running.insert(tag, receiver);
        Flight::Lead(Leader { tag, sender })
    }

    /// Ends the flight: later requests start a new check (or hit the cache).
    pub fn land(&self, leader: Leader, verdict: bool) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&leader.tag);
        leader.sender.send_replace(Some(verdict));
    }

    /// Ends a flight that never took off (the check could not start).
    pub fn abort(&self, leader: Leader) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&leader.tag);
    }
}

/// Waits for the leader's verdict; `None` if it never came.
pub async fn verdict(mut receiver: watch::Receiver<Option<bool>>) -> Option<bool> {
    receiver
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|v| *v)
}
