//! Brute-force limits on client authentication (RFC 6749 §2.3.1, docs/http-api.md,
//! `[throttle]`). Failures are counted per source — an IPv4 address or an
//! IPv6 /64 — and per (client id, source), over a sliding minute; a key at
//! its limit gets 429 with `Retry-After` before any secret is checked.
//! Counting per source means that someone who knows a client id cannot lock
//! that client out from elsewhere; the cost is that a guesser with many
//! addresses gets the limit per address (README: why random `new-client`
//! secrets make that moot).
//!
//! Slow checks *reserve* a failure before they start and settle it when
//! they end, so however many run at once, no more are verified than the
//! limit allows. Quick checks settle at once: a failure beyond the limit is
//! answered 429 rather than 401.
//!
//! Memory is fixed and the work per request O(1): each dimension is a table
//! of slots in sharded, set-associative buckets, found by a keyed hash of
//! the key (random per process, so nobody can aim for a bucket); when a
//! bucket is full the least-failing unreserved slot is reused. Forgetting
//! a key can only give a guesser more attempts, never refuse an innocent.
//! The sliding minute is the usual two-window estimate (this minute's
//! count plus the previous minute's, weighted by how much of it still
//! overlaps). The state lives in the application, so a reload keeps it;
//! a limit of 0 turns that dimension off.
//!
//! [`LogLimiter`] keeps the warnings about throttling to one line a second.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use ipnet::IpNet;

/// The sliding minute, in milliseconds.
pub const WINDOW_MS: u64 = 60_000;
const SHARDS: usize = 16;
const WAYS: usize = 8;
/// Buckets per shard: 16 × 512 × 8 = 65 536 keys per dimension, 2 MiB.
const BUCKETS: usize = 512;

/// Which limit a refusal came from (the `dimension` label of
/// `tokenmint_throttled_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Source,
    ClientSource,
}

impl Dimension {
    pub const ALL: [Dimension; 2] = [Dimension::Source, Dimension::ClientSource];

    pub fn label(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::ClientSource => "client_source",
        }
    }
}

/// A refusal: wait this long, because of that limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub retry_after: u64,
    pub dimension: Dimension,
}

/// Where a request comes from, as the throttle counts it: an IPv4 address
/// (IPv4-mapped IPv6 included) or the /64 of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => Self::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let mut prefix = [0u8; 8];
                prefix.copy_from_slice(&v6.octets()[..8]);
                Self::V6Prefix(prefix)
            }
        }
    }
}

/// The limits in force (from the current snapshot's settings).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_client_source: u32,
    pub per_source: u32,
}

/// What one request is counted under: its source, and the configured
/// client it names there. Hashed only when a table is consulted, so a
/// request while nobody is failing costs no hashing.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    client: Option<&'a str>,
    source: Option<Source>,
}

impl<'a> Keys<'a> {
    /// The configured client named, if any.
    pub fn client(&self) -> Option<&'a str> {
        self.client
    }

    /// The source as counted (an IPv4 address or an IPv6 /64), as bytes.
    pub fn source(&self) -> Option<Vec<u8>> {
        self.source.map(|s| match s {
            Source::V4(a) => a.to_vec(),
            Source::V6Prefix(p) => p.to_vec(),
        })
    }
}

pub struct Throttle {
    hasher: RandomState,
    start: Instant,
    sources: Table,
    client_sources: Table,
    /// Milliseconds since `start` of the latest failure or reservation,
    /// +1 (0 = never): while nothing happened in two windows, every slot is
    /// stale and a check needs no lock.
    last_activity: AtomicU64,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            start: Instant::now(),
            sources: Table::new(),
            client_sources: Table::new(),
            last_activity: AtomicU64::new(0),
        }
    }
}

impl Throttle {
    /// The keys of a request from `source` naming `client` (a configured
    /// id; unknown ids count under the source only).
    pub fn keys<'a>(&self, client: Option<&'a str>, source: Option<IpAddr>) -> Keys<'a> {
        Keys {
            client,
            source: source.map(Source::from),
        }
    }

    /// `Err` when a key is at its limit: answer 429, check nothing.
    pub fn check(&self, keys: Keys<'_>, limits: Limits) -> Result<(), Refusal> {
        let now = self.now_ms();
        if !self.active(now) {
            return Ok(());
        }
        self.each(keys, limits, |table, tag, limit, dimension| {
            table.get(tag, |slot| match slot {
                Some(slot) => {
                    if slot.estimate(now) >= u64::from(limit) {
                        Err(slot.refusal(now, limit, dimension))
                    } else {
                        Ok(())
                    }
                }
                None => Ok(()),
            })
        })
    }

    /// Whether this replica has seen a failure from the request's source in
    /// the last two minutes (or one is being checked).
    pub fn source_has_failures(&self, keys: Keys<'_>) -> bool {
        let now = self.now_ms();
        let Some(source) = keys.source.filter(|_| self.active(now)) else {
            return false;
        };
        self.sources.get(self.tag(&source), |slot| {
            slot.is_some_and(|slot| slot.estimate(now) > 0 || slot.pending > 0)
        })
    }

    /// Reserves one failure for a slow check about to start; `Err` when the
    /// failures and the checks in flight already reach a limit.
    pub fn reserve(
        self: &Arc<Self>,
        keys: Keys<'_>,
        limits: Limits,
    ) -> Result<Reservation, Refusal> {
        let now = self.now_ms();
        self.touch(now);
        let mut reservation = Reservation {
            throttle: Arc::clone(self),
            taken: Vec::with_capacity(2),
            settled: false,
        };
        self.each(keys, limits, |table, tag, limit, dimension| {
            table.entry(tag, now, |slot| {
                if slot.estimate(now) + u64::from(slot.pending) >= u64::from(limit) {
                    return Err(slot.refusal(now, limit, dimension));
                }
                slot.pending += 1;
                Ok(())
            })?;
            reservation.taken.push((dimension, tag));
            Ok(())
        })?;
        // On a refusal, dropping `reservation` releases what it took.
        Ok(reservation)
    }

    /// Counts a failure of a quick check (or of a shared slow one); `Err`
    /// when a key is already at its limit, which then answers 429. Failures
    /// reserved by slow checks still running count as made: they will be
    /// (measured: 60 identical wrong secrets under load got 13 × 401 with a
    /// limit of 10 when a second check's reservation was ignored here).
    pub fn fail(&self, keys: Keys<'_>, limits: Limits) -> Result<(), Refusal> {
        let now = self.now_ms();
        self.touch(now);
        self.each(keys, limits, |table, tag, limit, dimension| {
            table.entry(tag, now, |slot| {
                if slot.estimate(now) + u64::from(slot.pending) >= u64::from(limit) {
                    return Err(slot.refusal(now, limit, dimension));
                }
                slot.count_failure(now);
                Ok(())
            })
        })
    }

    /// Runs `f` for each dimension that applies (a key and a limit > 0).
    fn each(
        &self,
        keys: Keys<'_>,
        limits: Limits,
        mut f: impl FnMut(&Table, u64, u32, Dimension) -> Result<(), Refusal>,
    ) -> Result<(), Refusal> {
        let Some(source) = keys.source else {
            return Ok(());
        };
        if limits.per_source > 0 {
            f(
                &self.sources,
                self.tag(&source),
                limits.per_source,
                Dimension::Source,
            )?;
        }
        if let Some(client) = keys.client.filter(|_| limits.per_client_source > 0) {
            let tag = self.tag(&(client, source));
            f(
                &self.client_sources,
                tag,
                limits.per_client_source,
                Dimension::ClientSource,
            )?;
        }
        Ok(())
    }

    fn table(&self, dimension: Dimension) -> &Table {
        match dimension {
            Dimension::Source => &self.sources,
            Dimension::ClientSource => &self.client_sources,
        }
    }

    fn tag(&self, key: &impl Hash) -> u64 {
        // 0 marks an empty slot.
        self.hasher.hash_one(key).max(1)
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn touch(&self, now: u64) {
        self.last_activity.fetch_max(now + 1, Ordering::Relaxed);
    }

    fn active(&self, now: u64) -> bool {
        let last = self.last_activity.load(Ordering::Relaxed);
        last != 0 && now < last - 1 + 2 * WINDOW_MS
    }
}

/// A failure reserved by a slow check. Settle it with [`Reservation::fail`];
/// dropped unsettled (success, or a check that never ran), it is released.
pub struct Reservation {
    throttle: Arc<Throttle>,
    taken: Vec<(Dimension, u64)>,
    settled: bool,
}

impl Reservation {
    /// The check failed: the reserved failure is counted.
    pub fn fail(mut self) {
        let now = self.throttle.now_ms();
        self.throttle.touch(now);
        self.settle(|slot| slot.count_failure(now));
    }

    fn settle(&mut self, mut f: impl FnMut(&mut Slot)) {
        self.settled = true;
        for &(dimension, tag) in &self.taken {
            // The slot may have been reused meanwhile: then nothing is left to settle.
            self.throttle.table(dimension).get(tag, |slot| {
                if let Some(slot) = slot {
                    slot.pending = slot.pending.saturating_sub(1);
                    f(slot);
                }
            });
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.settled {
            self.settle(|_| {});
        }
    }
}

struct Table {
    shards: Box<[Mutex<Box<[Slot]>>]>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    tag: u64,
    /// Which window `current` counts (milliseconds since start / WINDOW_MS).
    window: u64,
    current: u32,
    previous: u32,
    pending: u32,
}

impl Slot {
    /// Moves the windows forward to `now`.
    fn roll(&mut self, now: u64) {
        let window = now / WINDOW_MS;
        if window == self.window + 1 {
            self.previous = self.current;
        } else if window != self.window {
            self.previous = 0;
        }
        if window != self.window {
            self.current = 0;
            self.window = window;
        }
    }

    /// Failures in the sliding minute ending at `now`.
    fn estimate(&mut self, now: u64) -> u64 {
        self.roll(now);
        let into = now % WINDOW_MS;
        u64::from(self.current) + u64::from(self.previous) * (WINDOW_MS - into) / WINDOW_MS
    }

    fn count_failure(&mut self, now: u64) {
        self.roll(now);
        self.current = self.current.saturating_add(1);
    }

    /// How long until the estimate falls below `limit`.
    fn refusal(&mut self, now: u64, limit: u32, dimension: Dimension) -> Refusal {
        refusal(
            u64::from(self.current),
            u64::from(self.previous),
            limit,
            now % WINDOW_MS,
            dimension,
        )
    }

    fn is_idle(&mut self, now: u64) -> bool {
        self.tag == 0 || (self.pending == 0 && self.estimate(now) == 0)
    }
}

/// The refusal for counts `current` and `previous` at `into` ms into the
/// current window: how long until their estimate falls below `limit`. The
/// shared store's counters use it too, for the same answer.
pub fn refusal(
    current: u64,
    previous: u64,
    limit: u32,
    into: u64,
    dimension: Dimension,
) -> Refusal {
    let limit = u64::from(limit);
    let wait_ms = if current >= limit {
        // Into the next window, where this window's count fades:
        // current × (W − t) / W < limit.
        (WINDOW_MS - into) + WINDOW_MS * (current - limit) / current.max(1) + 1
    } else {
        // previous × (W − t) / W + current < limit.
        match (WINDOW_MS * (limit - current)).checked_div(previous) {
            Some(fade) => WINDOW_MS.saturating_sub(fade).saturating_sub(into) + 1,
            None => 1,
        }
    };
    Refusal {
        retry_after: wait_ms.div_ceil(1000).clamp(1, 2 * WINDOW_MS / 1000),
        dimension,
    }
}

impl Table {
    fn new() -> Self {
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(vec![Slot::default(); BUCKETS * WAYS].into_boxed_slice()))
            .collect();
        Self { shards }
    }

    fn lock(&self, tag: u64) -> (MutexGuard<'_, Box<[Slot]>>, usize) {
        let shard = &self.shards[(tag as usize) % SHARDS];
        let bucket = ((tag >> 8) as usize) % BUCKETS;
        (
            shard.lock().unwrap_or_else(|e| e.into_inner()),
            bucket * WAYS,
        )
    }

    /// Runs `f` on the slot of `tag`, if it has one.
    fn get<R>(&self, tag: u64, f: impl FnOnce(Option<&mut Slot>) -> R) -> R {
        let (mut slots, first) = self.lock(tag);
        f(slots[first..first + WAYS].iter_mut().find(|s| s.tag == tag))
    }

    /// Runs `f` on the slot of `tag`, taking one if it has none: an idle
    /// slot of its bucket, else the one with the fewest failures and no
    /// reservation.
    fn entry<R>(&self, tag: u64, now: u64, f: impl FnOnce(&mut Slot) -> R) -> R {
        let (mut slots, first) = self.lock(tag);
        let ways = &mut slots[first..first + WAYS];
        let index = match ways.iter().position(|s| s.tag == tag) {
            Some(i) => i,
            None => {
                let mut victim = 0;
                let mut best = (true, true, u64::MAX);
                for (i, slot) in ways.iter_mut().enumerate() {
                    let rank = (!slot.is_idle(now), slot.pending > 0, slot.estimate(now));
                    if rank < best {
                        (victim, best) = (i, rank);
                    }
                }
                ways[victim] = Slot {
                    tag,
                    window: now / WINDOW_MS,
                    ..Slot::default()
                };
                victim
            }
        };
        f(&mut ways[index])
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
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
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
            .find(|ip| !is_trusted(ip))
            .unwrap_or(peer),
    )
}

/// At most one line a second for a noisy event; the rest are counted and
/// reported with the next line that passes.
#[derive(Default)]
pub struct LogLimiter {
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl LogLimiter {
    /// `Some(suppressed since the last line)` when a line may be written.
    pub fn allow(&self) -> Option<u64> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let next = self.next_ms.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_ms
                .compare_exchange(next, now + 1000, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        per_client_source: 3,
        per_source: 5,
    };

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn failures_block_the_client_at_that_source_only() {
        let t = Throttle::default();
        let attacker = t.keys(Some("svc"), ip("192.0.2.1"));
        for _ in 0..3 {
            assert_eq!(t.check(attacker, LIMITS), Ok(()));
            assert_eq!(t.fail(attacker, LIMITS), Ok(()));
        }
        let refusal = t.check(attacker, LIMITS).unwrap_err();
        assert_eq!(refusal.dimension, Dimension::ClientSource);
        assert!((1..=120).contains(&refusal.retry_after), "{refusal:?}");
        // The same client from elsewhere, and another client from there.
        assert_eq!(
            t.check(t.keys(Some("svc"), ip("192.0.2.2")), LIMITS),
            Ok(())
        );
        assert_eq!(
            t.check(t.keys(Some("other"), ip("192.0.2.1")), LIMITS),
            Ok(())
        );
        let off = Limits {
            per_client_source: 0,
            per_source: 0,
        };
        assert_eq!(t.check(attacker, off), Ok(()), "0 turns a limit off");
    }

    #[test]
    fn failures_beyond_the_limit_are_refused_and_not_counted() {
        let t = Throttle::default();
        let keys = t.keys(None, ip("192.0.2.1"));
        for _ in 0..5 {
            assert_eq!(t.fail(keys, LIMITS), Ok(()));
        }
        assert_eq!(
            t.fail(keys, LIMITS).unwrap_err().dimension,
            Dimension::Source
        );
    }

    #[test]
    fn reservations_bound_checks_in_flight_and_are_released_unless_failed() {
        let t = Arc::new(Throttle::default());
        let keys = t.keys(Some("svc"), ip("192.0.2.1"));
        let held: Vec<Reservation> = (0..3).map(|_| t.reserve(keys, LIMITS).unwrap()).collect();
        assert!(
            t.reserve(keys, LIMITS).is_err(),
            "3 in flight reach the limit"
        );
        assert_eq!(t.check(keys, LIMITS), Ok(()), "in flight is not failed");
        drop(held); // three successes
        let r = t.reserve(keys, LIMITS).unwrap();
        r.fail();
        assert_eq!(t.check(keys, LIMITS), Ok(()), "one failure");
        for _ in 0..2 {
            t.reserve(keys, LIMITS).unwrap().fail();
        }
        assert!(t.check(keys, LIMITS).is_err(), "three failures");
    }

    #[test]
    fn quick_failures_leave_room_for_the_reserved_ones_so_the_limit_is_exact() {
        let t = Arc::new(Throttle::default());
        let keys = t.keys(Some("svc"), ip("192.0.2.1"));
        let reserved = t.reserve(keys, LIMITS).unwrap();
        // LIMITS allow 3 per client and source: one is reserved.
        assert!(t.fail(keys, LIMITS).is_ok());
        assert!(t.fail(keys, LIMITS).is_ok());
        assert!(
            t.fail(keys, LIMITS).is_err(),
            "the third is the reserved one's"
        );
        reserved.fail();
        assert!(t.check(keys, LIMITS).is_err());
        assert!(t.fail(keys, LIMITS).is_err(), "no fourth failure");
    }

    #[test]
    fn ipv6_is_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let t = Throttle::default();
        for a in [
            "2001:db8::1",
            "2001:db8::2",
            "2001:db8::ffff:1",
            "2001:db8::abcd",
            "2001:db8::9",
        ] {
            t.fail(t.keys(None, ip(a)), LIMITS).unwrap();
        }
        assert!(t.check(t.keys(None, ip("2001:db8::77")), LIMITS).is_err());
        assert_eq!(t.check(t.keys(None, ip("2001:db8:0:1::1")), LIMITS), Ok(()));
        assert_eq!(
            Source::from("::ffff:192.0.2.7".parse::<IpAddr>().unwrap()),
            Source::from("192.0.2.7".parse::<IpAddr>().unwrap())
        );
    }

    #[test]
    fn many_sources_neither_grow_memory_nor_refuse_an_innocent() {
        let t = Throttle::default();
        // Far more failing sources than slots.
        for i in 0..200_000u32 {
            let [a, b, c, d] = i.to_be_bytes();
            let source = IpAddr::from([10 ^ a, b, c, d]);
            let _ = t.fail(t.keys(None, Some(source)), LIMITS);
        }
        let innocent = t.keys(Some("svc"), ip("198.51.100.7"));
        assert_eq!(t.check(innocent, LIMITS), Ok(()));
        // A fresh attacker is still tracked and stopped at its limit.
        let attacker = t.keys(None, ip("203.0.113.9"));
        for _ in 0..5 {
            t.fail(attacker, LIMITS).unwrap();
        }
        assert!(t.check(attacker, LIMITS).is_err());
        assert_eq!(
            t.sources.shards.len() * BUCKETS * WAYS,
            65_536,
            "fixed size"
        );
    }

    #[test]
    fn the_sliding_minute_fades_the_previous_window() {
        let mut slot = Slot::default();
        for _ in 0..10 {
            slot.count_failure(0);
        }
        assert_eq!(slot.estimate(59_999), 10);
        // A quarter into the next window, three quarters still overlap.
        assert_eq!(slot.estimate(75_000), 7);
        assert_eq!(slot.estimate(2 * WINDOW_MS), 0);
        let mut slot = Slot::default();
        for _ in 0..10 {
            slot.count_failure(30_000);
        }
        let refusal = slot.refusal(30_000, 10, Dimension::Source);
        // 10 × (60 − t) / 60 < 10 needs t > 0 in the next window: ~30 s.
        assert!((30..=31).contains(&refusal.retry_after), "{refusal:?}");
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
        let range: IpNet = "192.0.2.0/24".parse().unwrap();
        assert_eq!(
            source_address(Some(proxy), forwarded(), &[range]),
            Some("198.51.100.7".parse().unwrap())
        );
    }
}
