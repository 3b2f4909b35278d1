//! Throttling of failed client authentication (SPEC §3.1, `[throttle]`):
//! at most N failures per sliding minute per configured client id and per
//! source address; past that, requests from that id or address get 429
//! `temporarily_unavailable` with `Retry-After` until the oldest failure
//! leaves the window. Only failures count, so a client that authenticates
//! is never slowed by another id's failures. The state lives in the
//! application (not the snapshot): a reload does not reset it. A limit of 0
//! turns that dimension off.
//!
//! Which address counts: the peer, unless the peer is a trusted proxy, in
//! which case the right-most `X-Forwarded-For` entry that is not itself a
//! trusted proxy (RFC 9700 §4.13: only trusted hops may set it).

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::IpNet;

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many tracked keys, stale ones are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Default)]
pub struct Throttle {
    clients: Windows<String>,
    addresses: Windows<IpAddr>,
}

/// Failure times per key. `tracked` mirrors the map's size so that the
/// common case — nobody failing — costs one atomic load and no lock.
struct Windows<K> {
    map: Mutex<HashMap<K, VecDeque<Instant>>>,
    tracked: AtomicUsize,
}

impl<K> Default for Windows<K> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            tracked: AtomicUsize::new(0),
        }
    }
}

impl<K: Hash + Eq> Windows<K> {
    /// Seconds to wait when `key` already has `limit` failures in the window.
    fn blocked<Q>(&self, key: &Q, limit: u32, now: Instant) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if limit == 0 || self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let window = map.get_mut(key)?;
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            window.pop_front();
        }
        if window.is_empty() {
            map.remove(key);
            self.tracked.store(map.len(), Ordering::Relaxed);
            return None;
        }
        if window.len() < limit as usize {
            return None;
        }
        let oldest = *window.front()?;
        let wait = WINDOW.saturating_sub(now.duration_since(oldest));
        Some(wait.as_secs_f64().ceil().max(1.0) as u64)
    }

    fn record(&self, key: K, limit: u32, now: Instant) {
        if limit == 0 {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, w| w.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let window = map.entry(key).or_default();
        window.push_back(now);
        while window.len() > limit as usize {
            window.pop_front();
        }
        self.tracked.store(map.len(), Ordering::Relaxed);
    }
}

impl Throttle {
    /// `Some(retry_after)` when the client id or the address is throttled.
    pub fn check(
        &self,
        client: Option<&str>,
        address: Option<IpAddr>,
        limits: (u32, u32),
    ) -> Option<u64> {
        let now = Instant::now();
        let by_client = client.and_then(|c| self.clients.blocked(c, limits.0, now));
        let by_address = address.and_then(|a| self.addresses.blocked(&a, limits.1, now));
        by_client.max(by_address)
    }

    /// Counts one failed authentication.
    pub fn record_failure(
        &self,
        client: Option<&str>,
        address: Option<IpAddr>,
        limits: (u32, u32),
    ) {
        let now = Instant::now();
        if let Some(c) = client {
            self.clients.record(c.to_string(), limits.0, now);
        }
        if let Some(a) = address {
            self.addresses.record(a, limits.1, now);
        }
    }
}

/// The address a request comes from, honouring `X-Forwarded-For` (the
/// values of every such header field, in order) only when the peer is a
/// trusted proxy.
pub fn source_address<'a>(
    peer: Option<IpAddr>,
    forwarded_for: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = forwarded_for
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted.iter().any(|net| net.contains(ip)))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_blocks_only_the_failing_key() {
        let t = Throttle::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(t.check(Some("a"), Some(ip), (3, 100)), None);
            t.record_failure(Some("a"), Some(ip), (3, 100));
        }
        let wait = t.check(Some("a"), Some(ip), (3, 100)).unwrap();
        assert!((1..=60).contains(&wait));
        assert_eq!(t.check(Some("b"), Some(ip), (3, 100)), None);
        assert_eq!(t.check(Some("a"), Some(ip), (0, 0)), None, "0 disables");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "192.0.2.1".parse().unwrap();
        let forwarded = || ["203.0.113.9, 198.51.100.7"].into_iter();
        assert_eq!(source_address(Some(proxy), forwarded(), &[]), Some(proxy));
        assert_eq!(
            source_address(Some(proxy), forwarded(), &[proxy.into()]),
            Some("198.51.100.7".parse().unwrap())
        );
    }
}
