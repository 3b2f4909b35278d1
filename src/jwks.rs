//! A JWK Set fetched over HTTPS (a client's `jwks_uri`, a trusted issuer's
//! `jwks_uri` or OIDC discovery), kept off the request path (docs/client-authentication.md):
//! fetched on first use and when its `Cache-Control` lifetime ends, and
//! again when an assertion names a `kid` it lacks — at most once per
//! `[client_auth] jwks_min_refresh`. A fetch is bounded in time and size; a
//! failed one keeps the last good keys and concerns only the clients of
//! that source. One [`RemoteKeys`] per source lives for the whole process
//! (across reloads), in [`RemoteRegistry`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use crate::config::RemoteSource;
use crate::jose::PublicKeys;

/// Longest a fetch (discovery and JWK Set together) may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest document accepted (a JWK Set of a few hundred keys).
pub const MAX_DOCUMENT: u64 = 256 * 1024;
/// Bounds on how long a fetched set is used before it is fetched again in
/// the background, whatever its `Cache-Control` says.
const MIN_FRESH: Duration = Duration::from_secs(60);
const MAX_FRESH: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_FRESH: Duration = Duration::from_secs(300);

/// Why no key could be had.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

#[derive(Default)]
struct Fetching {
    last_attempt: Option<Instant>,
    fresh_until: Option<Instant>,
    in_flight: bool,
}

pub struct RemoteKeys {
    source: RemoteSource,
    current: ArcSwapOption<PublicKeys>,
    fetching: Mutex<Fetching>,
    /// Wakes the requests waiting for a fetch in flight.
    landed: tokio::sync::Notify,
}

impl RemoteKeys {
    fn new(source: RemoteSource) -> Self {
        Self {
            source,
            current: ArcSwapOption::empty(),
            fetching: Mutex::new(Fetching::default()),
            landed: tokio::sync::Notify::new(),
        }
    }

    /// The keys to try for an assertion naming `kid`. Known keys are
    /// answered at once (a stale set is refreshed in the background); with
    /// no keys yet, or without `kid`, a fetch is started if `min_refresh`
    /// allows one, and awaited up to [`FETCH_TIMEOUT`].
    pub async fn keys_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        min_refresh: Duration,
    ) -> Result<Arc<PublicKeys>, FetchError> {
        let current = self.current.load_full();
        if let Some(keys) = &current {
            if kid.is_none_or(|kid| keys.has_kid(kid)) {
                if self.is_stale() {
                    self.start(Duration::ZERO);
                }
                return Ok(Arc::clone(keys));
            }
        }
        // Registered before the fetch starts, so that a fast one is not missed.
        let mut notified = std::pin::pin!(self.landed.notified());
        notified.as_mut().enable();
        if self.start(min_refresh) || self.in_flight() {
            let _ = tokio::time::timeout(FETCH_TIMEOUT + Duration::from_secs(1), notified).await;
        }
        self.current
            .load_full()
            .ok_or_else(|| FetchError(format!("no keys could be fetched from {}", self.source.url)))
    }

    fn is_stale(&self) -> bool {
        let f = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
        f.fresh_until.is_none_or(|t| Instant::now() >= t)
    }

    fn in_flight(&self) -> bool {
        self.fetching
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .in_flight
    }

    /// Starts a background fetch unless one is in flight or the last began
    /// less than `min_gap` ago; whether one was started.
    fn start(self: &Arc<Self>, min_gap: Duration) -> bool {
        {
            let mut f = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
            let recent = f.last_attempt.is_some_and(|t| t.elapsed() < min_gap);
            if f.in_flight || recent {
                return false;
            }
            f.in_flight = true;
            f.last_attempt = Some(Instant::now());
        }
        let me = Arc::clone(self);
        // ureq is blocking: the fetch runs on the blocking pool, never on a worker.
        tokio::task::spawn_blocking(move || {
            let result = fetch(&me.source);
            let mut f = me.fetching.lock().unwrap_or_else(|e| e.into_inner());
            match result {
                Ok((keys, fresh)) => {
                    tracing::info!(url = %me.source.url, keys = keys.len(), "fetched a JWK Set");
                    me.current.store(Some(Arc::new(keys)));
                    f.fresh_until = Some(Instant::now() + fresh);
                }
                Err(e) => {
                    tracing::warn!(url = %me.source.url, error = %e, "fetching a JWK Set failed; keeping the last good keys");
                    // Retry no sooner than the refetch limit allows.
                    f.fresh_until = Some(Instant::now() + MIN_FRESH);
                }
            }
            f.in_flight = false;
            drop(f);
            me.landed.notify_waiters();
        });
        true
    }
}

/// Every remote source seen by this process, by source.
#[derive(Default)]
pub struct RemoteRegistry {
    sources: Mutex<HashMap<RemoteSource, Arc<RemoteKeys>>>,
}

impl RemoteRegistry {
    pub fn get(&self, source: &RemoteSource) -> Arc<RemoteKeys> {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            sources
                .entry(source.clone())
                .or_insert_with(|| Arc::new(RemoteKeys::new(source.clone()))),
        )
    }
}

/// One fetch: with discovery, the issuer's OpenID configuration first.
fn fetch(source: &RemoteSource) -> Result<(PublicKeys, Duration), FetchError> {
    let agent = agent(source)?;
    let url = if source.discovery {
        let base = source.url.trim_end_matches('/');
        let (text, _) = get(&agent, &format!("{base}/.well-known/openid-configuration"))?;
        let doc: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
            FetchError(format!(
                "{base}/.well-known/openid-configuration is not JSON"
            ))
        })?;
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(source.url.as_str()) {
            return Err(FetchError(format!(
                "the discovery document's issuer is not \"{}\" (OpenID Connect Discovery §4.3)",
                source.url
            )));
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or_else(|| FetchError("the discovery document has no jwks_uri".into()))?;
        if !jwks_uri.starts_with("https://") && !source.url.starts_with("http://") {
            return Err(FetchError(format!("jwks_uri {jwks_uri} is not https")));
        }
        jwks_uri.to_string()
    } else {
        source.url.clone()
    };
    let (text, max_age) = get(&agent, &url)?;
    let keys = PublicKeys::from_document(&text)
        .map_err(|p| FetchError(format!("{url} {}", p.join("; "))))?;
    let fresh = max_age.map_or(DEFAULT_FRESH, |s| {
        Duration::from_secs(s).clamp(MIN_FRESH, MAX_FRESH)
    });
    Ok((keys, fresh))
}

fn agent(source: &RemoteSource) -> Result<ureq::Agent, FetchError> {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .max_redirects(0)
        .http_status_as_error(true);
    if let Some(ca) = &source.ca_file {
        let tls = crate::ca::ureq_tls(ca)
            .map_err(|e| FetchError(format!("CA file {}: {e}", ca.display())))?;
        config = config.tls_config(tls);
    }
    Ok(config.build().new_agent())
}

/// A GET bounded by [`MAX_DOCUMENT`]: the body and its `max-age`.
fn get(agent: &ureq::Agent, url: &str) -> Result<(String, Option<u64>), FetchError> {
    let mut response = agent
        .get(url)
        .header("Accept", "application/json")
        .call()
        .map_err(|e| FetchError(format!("GET {url}: {e}")))?;
    let max_age = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .and_then(max_age);
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_DOCUMENT)
        .read_to_string()
        .map_err(|e| {
            FetchError(format!(
                "GET {url}: {e} (at most {MAX_DOCUMENT} bytes are read)"
            ))
        })?;
    Ok((text, max_age))
}

/// `max-age` of a `Cache-Control` value; `no-store`/`no-cache` mean 0.
fn max_age(value: &str) -> Option<u64> {
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        if let Some(v) = lower.strip_prefix("max-age=") {
            age = v.trim_matches('"').parse().ok();
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_gives_the_lifetime() {
        assert_eq!(max_age("public, max-age=600"), Some(600));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("public"), None);
    }
}
