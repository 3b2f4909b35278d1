//! What must be remembered between requests — the `jti`s of client
//! assertions and DPoP proofs, and the per-client quotas — in this process, and, with a
//! `[store]`, in a Redis (or Redis Cluster) every replica shares, so that
//! the limits hold for the whole deployment.
//!
//! The in-process state ([`ReplayCache`], [`Quotas`]) is always kept up to
//! date with what passes through this replica, so that `on_error = "local"`
//! falls back on everything it saw. With a store, the store decides; when
//! it fails (an error, or no answer within `timeout_ms`), `on_error`
//! decides: `closed` answers [`Unavailable`] (the route says 503), `local`
//! lets the in-process state decide and counts the fallback.
//!
//! The store holds no secret and no token: keys are the prefix, a kind and
//! an HMAC-SHA256 of what they count (`redis`).

mod quota;
mod redis;
mod replay;

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use prometheus::{HistogramVec, IntCounterVec, IntGaugeVec};

use crate::config::{OnError, Quota, StoreSettings};
use crate::throttle::{Keys, Limits, Refusal};
pub use quota::{Quotas, Spent};
pub use redis::probe;
use redis::{Replace, Reserved, Shared};
pub use replay::{Replay, ReplayCache};

/// What a `jti` was used for.
#[derive(Clone, Copy)]
enum Used {
    Assertion,
    Proof,
}

/// The store failed and `on_error = "closed"`: the request cannot be
/// decided now (503 `temporarily_unavailable`, `Retry-After: 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

/// The store's metrics, registered by `metrics`.
#[derive(Clone)]
pub struct StoreMetrics {
    /// `tokenmint_store_up`: no labels; absent without a store.
    pub up: IntGaugeVec,
    /// `tokenmint_store_operations_total{op,result}`.
    pub operations: IntCounterVec,
    /// `tokenmint_store_operation_duration_seconds{op}`.
    pub duration: HistogramVec,
    /// `tokenmint_store_fallbacks_total{op}`.
    pub fallbacks: IntCounterVec,
}

pub struct Store {
    shared: Arc<ArcSwapOption<Shared>>,
    /// The store the latest reload asked for.
    wanted: Arc<ArcSwapOption<StoreSettings>>,
    replay: ReplayCache,
    proofs: ReplayCache,
    quotas: Quotas,
    metrics: StoreMetrics,
}

impl Store {
    pub fn new(metrics: StoreMetrics) -> Self {
        Self {
            shared: Arc::new(ArcSwapOption::empty()),
            wanted: Arc::new(ArcSwapOption::empty()),
            replay: ReplayCache::default(),
            proofs: ReplayCache::default(),
            quotas: Quotas::default(),
            metrics,
        }
    }

    /// Uses the store `settings` names, or none. The first store is used
    /// at once (connecting in the background, retried every second); a
    /// changed one connects first and is swapped in once it answers, the
    /// previous one serving until then. Settings equal to those wanted
    /// change nothing. Call it from a task of the runtime that lives as
    /// long as the server: the connection's driver runs there.
    pub fn configure(&self, settings: Option<&StoreSettings>) {
        if self.wanted.load().as_deref() == settings {
            return;
        }
        self.wanted.store(settings.cloned().map(Arc::new));
        let current = self.shared.load_full();
        match (settings, current) {
            (None, None) => {}
            // Back to the store in use: a replacement pending stops.
            (Some(new), Some(old)) if old.settings() == new => {}
            (None, Some(_)) => {
                tracing::info!("[store] removed: limits are kept in this process");
                self.shared.store(None);
                self.metrics.up.reset();
            }
            (Some(new), None) => {
                let shared = Arc::new(Shared::new(new.clone(), self.metrics.clone()));
                self.metrics.up.with_label_values(&[] as &[&str]).set(0);
                Shared::start(&shared, None);
                self.shared.store(Some(shared));
            }
            (Some(new), Some(_)) => {
                let shared = Arc::new(Shared::new(new.clone(), self.metrics.clone()));
                let replace = Replace {
                    slot: Arc::clone(&self.shared),
                    wanted: Arc::clone(&self.wanted),
                };
                Shared::start(&shared, Some(replace));
            }
        }
    }

    /// Records an assertion's `jti` (in `scope`, the client) until `until`;
    /// `Err(Seen)` when it was used before.
    pub async fn first_use(
        &self,
        scope: &str,
        jti: &str,
        until: u64,
        now: u64,
    ) -> Result<Result<(), Replay>, Unavailable> {
        self.first(Used::Assertion, scope, jti, until, now).await
    }

    /// Records a DPoP proof's `jti` (in `scope`: its key and URL) until
    /// `until`; `Err(Seen)` when it was used before.
    pub async fn first_proof(
        &self,
        scope: &str,
        jti: &str,
        until: u64,
        now: u64,
    ) -> Result<Result<(), Replay>, Unavailable> {
        self.first(Used::Proof, scope, jti, until, now).await
    }

    async fn first(
        &self,
        used: Used,
        scope: &str,
        jti: &str,
        until: u64,
        now: u64,
    ) -> Result<Result<(), Replay>, Unavailable> {
        // Two caches: a flood of proofs cannot crowd out assertions.
        let (cache, kind, op) = match used {
            Used::Assertion => (&self.replay, "r", "replay"),
            Used::Proof => (&self.proofs, "p", "dpop_replay"),
        };
        let local = cache.insert(scope, jti, until, now);
        let Some(shared) = self.shared.load_full() else {
            return Ok(local);
        };
        if local == Err(Replay::Seen) {
            // This replica saw it: a replay, whatever the store says.
            return Ok(local);
        }
        let started = Instant::now();
        let result = shared
            .first_use(kind, scope, jti, until.saturating_sub(now))
            .await;
        match self.settle(&shared, op, started, result) {
            Some(true) => Ok(Ok(())),
            Some(false) => Ok(Err(Replay::Seen)),
            None => self.fallback(&shared, op, local),
        }
    }

    /// Whether limits are shared (a `[store]` is configured).
    pub fn is_shared(&self) -> bool {
        self.shared.load().is_some()
    }

    /// Reserves one failure of `keys` in the shared throttle counters
    /// before a credential is checked: `Err(refusal)` when a limit is
    /// reached across the deployment (429, nothing checked). Without a
    /// store, or when it fails under `on_error = "local"`, the in-process
    /// throttle alone decides (an empty reservation).
    pub async fn reserve_failure(
        &self,
        keys: Keys<'_>,
        limits: Limits,
    ) -> Result<Result<Reservation, Refusal>, Unavailable> {
        let Some(shared) = self.shared.load_full() else {
            return Ok(Ok(Reservation(None)));
        };
        let started = Instant::now();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let result = shared.reserve_failure(keys, limits, now_ms).await;
        match self.settle(&shared, "throttle", started, result) {
            Some(Ok(reserved)) => Ok(Ok(Reservation(Some((shared, reserved))))),
            Some(Err(refusal)) => Ok(Err(refusal)),
            None => self.fallback(&shared, "throttle", Ok(Reservation(None))),
        }
    }

    /// Whether `keys` reached a limit across the deployment, counting
    /// nothing: for a credential known to be right, from a source that
    /// failed on this replica (a reservation per right request would make
    /// concurrent right requests refuse each other). `Ok(Ok(()))` without
    /// a store.
    pub async fn over_limit(
        &self,
        keys: Keys<'_>,
        limits: Limits,
    ) -> Result<Result<(), Refusal>, Unavailable> {
        let Some(shared) = self.shared.load_full() else {
            return Ok(Ok(()));
        };
        let started = Instant::now();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let result = shared.over_limit(keys, limits, now_ms).await;
        match self.settle(&shared, "throttle_check", started, result) {
            Some(decided) => Ok(decided),
            None => self.fallback(&shared, "throttle_check", Ok(())),
        }
    }

    /// Takes one token from `client`'s quota at `now`.
    pub async fn take_quota(
        &self,
        client: &str,
        quota: &Quota,
        now: u64,
    ) -> Result<Result<(), Spent>, Unavailable> {
        let Some(shared) = self.shared.load_full() else {
            return Ok(self.quotas.take(client, quota, now));
        };
        let started = Instant::now();
        let result = shared.take_quota(client, quota, now).await;
        match self.settle(&shared, "quota", started, result) {
            Some(decided) => {
                if decided.is_ok() {
                    self.quotas.record(client, now);
                }
                Ok(decided)
            }
            None => {
                let local = self.quotas.take(client, quota, now);
                self.fallback(&shared, "quota", local)
            }
        }
    }

    /// Counts one operation; `None` when the store failed.
    fn settle<T>(
        &self,
        shared: &Shared,
        op: &str,
        started: Instant,
        result: Result<T, String>,
    ) -> Option<T> {
        let m = &self.metrics;
        m.duration
            .with_label_values(&[op])
            .observe(started.elapsed().as_secs_f64());
        let outcome = if result.is_ok() { "ok" } else { "error" };
        m.operations.with_label_values(&[op, outcome]).inc();
        shared.answered(result.is_ok());
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                shared.failed(op, &e);
                None
            }
        }
    }

    /// What `on_error` makes of a failed operation whose in-process answer
    /// is `local`.
    fn fallback<T>(&self, shared: &Shared, op: &str, local: T) -> Result<T, Unavailable> {
        match shared.settings().on_error {
            OnError::Closed => Err(Unavailable),
            OnError::Local => {
                self.metrics.fallbacks.with_label_values(&[op]).inc();
                Ok(local)
            }
        }
    }
}

/// A failure reserved in the shared counters. Dropped, it stays counted
/// (the check failed); [`Reservation::release`] gives it back.
#[derive(Default)]
pub struct Reservation(Option<(Arc<Shared>, Reserved)>);

impl Reservation {
    /// The check succeeded: the reserved failure is given back, off the
    /// request's path.
    pub fn release(self) {
        if let Some((shared, reserved)) = self.0 {
            tokio::spawn(async move {
                if let Err(e) = shared.release(reserved).await {
                    shared.failed("release", &e);
                }
            });
        }
    }
}
