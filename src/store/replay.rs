//! The `jti` replay cache for client assertions (docs/client-authentication.md): each accepted
//! assertion's (client, `jti`) is kept until its `exp`, so the same one is
//! refused if it comes back. Fixed-size keys (16 bytes of SHA-256) in
//! sharded maps with a hard bound on entries: memory stays bounded whatever
//! clients send, and expired entries are swept as the maps fill and once a
//! minute. One replica sees only its own assertions (README).

use std::collections::HashMap;
use std::sync::Mutex;

const SHARDS: usize = 16;
/// 2^20 entries in all: about 50 MB at most (measured in the README).
pub const CAPACITY: usize = 1 << 20;
const SWEEP_EVERY: u64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Seen before and not yet expired.
    Seen,
    /// Every slot holds an unexpired assertion: refuse rather than forget.
    Full,
}

#[derive(Default)]
struct Shard {
    seen: HashMap<[u8; 16], u64>,
    next_sweep: u64,
    /// When the shard was last swept: a full shard is swept at most once a
    /// second, or every refused insert would scan it (measured: 100 µs each).
    last_sweep: u64,
}

pub struct ReplayCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl ReplayCache {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// Records `jti` of `client` until `exp`; `Err` when it was seen.
    pub fn insert(&self, client: &str, jti: &str, exp: u64, now: u64) -> Result<(), Replay> {
        let mut input = Vec::with_capacity(client.len() + jti.len() + 1);
        input.extend_from_slice(client.as_bytes());
        input.push(0);
        input.extend_from_slice(jti.as_bytes());
        let digest = crate::crypto::sha256(&input);
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        let mut shard = self.shards[usize::from(key[0]) % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if shard.seen.get(&key).is_some_and(|&until| until > now) {
            return Err(Replay::Seen);
        }
        let full = shard.seen.len() >= self.per_shard;
        if now >= shard.next_sweep || (full && now > shard.last_sweep) {
            shard.seen.retain(|_, until| *until > now);
            shard.next_sweep = now + SWEEP_EVERY;
            shard.last_sweep = now;
        }
        if shard.seen.len() >= self.per_shard {
            return Err(Replay::Full);
        }
        shard.seen.insert(key, exp);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).seen.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_refused_until_its_exp_and_only_for_its_client() {
        let cache = ReplayCache::default();
        assert_eq!(cache.insert("a", "j1", 100, 10), Ok(()));
        assert_eq!(cache.insert("a", "j1", 100, 50), Err(Replay::Seen));
        assert_eq!(cache.insert("b", "j1", 100, 50), Ok(()));
        assert_eq!(
            cache.insert("a", "j1", 200, 100),
            Ok(()),
            "expired: may be used again"
        );
    }

    #[test]
    fn a_full_cache_sweeps_expired_entries_then_refuses() {
        let cache = ReplayCache::with_capacity(SHARDS);
        let mut inserted = 0;
        for i in 0..200 {
            if cache.insert("c", &i.to_string(), 100, 10).is_ok() {
                inserted += 1;
            }
        }
        assert!(inserted <= SHARDS, "{inserted}");
        assert_eq!(
            cache.insert("c", "late", 300, 150),
            Ok(()),
            "the expired made room"
        );
    }
}
