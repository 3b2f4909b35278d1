//! The shared store on Redis (or Valkey, which speaks the same protocol):
//! one node through redis-rs's reconnecting `ConnectionManager`, or a
//! Redis Cluster through its cluster connection. Each operation is one
//! atomic command or script, bounded by `timeout_ms`:
//!
//! - replay: `SET key 1 NX EX ttl`, a put-if-absent that expires when the
//!   assertion would be refused anyway;
//! - quota: a script that takes one token from the hour's and the day's
//!   counters together, or from neither when either is spent. Both keys
//!   share a hash tag (`{…}`), so a Cluster keeps them on one slot.
//!
//! Key names are `prefix`, a kind and the hex of an HMAC-SHA256 keyed by
//! `key_file` — never a raw jti, client id or address. The connection is
//! made in the background and retried every second until the store
//! answers; meanwhile every operation fails (and `on_error` decides).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Client, IntoConnectionInfo as _, Script, TlsCertificates};

use super::quota::{check, DAY, HOUR};
use super::{Spent, StoreMetrics};
use crate::config::{Quota, StoreNodes, StoreSettings};
use crate::throttle::{refusal, Dimension, Keys, Limits, Refusal, WINDOW_MS};

/// A throttle counter's stem (without its minute), limit and dimension.
type Counter = (String, u32, Dimension);

/// 128 random bits in hex: names one reservation or quota token.
fn random_id() -> String {
    let mut id = [0u8; 16];
    let _ = crate::crypto::random_bytes(&mut id);
    String::from_utf8_lossy(&hex(&id)).to_string()
}

fn hex(bytes: &[u8]) -> Vec<u8> {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out.into_bytes()
}

/// Takes one token from `KEYS[1]` (the hour) and `KEYS[2]` (the day):
/// 0 when taken, else the counts that refused it as `{hour, day}`. A token
/// taken leaves the marker `KEYS[3]`, which [`GIVE_BACK`] needs.
const TAKE_QUOTA: &str = r"
local hour = tonumber(redis.call('GET', KEYS[1]) or '0')
local day = tonumber(redis.call('GET', KEYS[2]) or '0')
local per_hour, per_day = tonumber(ARGV[1]), tonumber(ARGV[2])
if (per_hour > 0 and hour >= per_hour) or (per_day > 0 and day >= per_day) then
  return {hour, day}
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[4])
-- Short-lived: an undo is sent right behind on the same connection.
redis.call('SET', KEYS[3], '1', 'PX', 10000)
return 0
";

/// Undoes what the operation that left the marker `KEYS[1]` counted in
/// `KEYS[2..]`, once: a reservation given back after a success, or a
/// reservation or quota token whose answer never came (the command may
/// still run after its timeout, e.g. once a paused Redis resumes; sent on
/// the same connection, this runs after it, and does nothing if it never
/// counted).
const GIVE_BACK: &str = r"
if redis.call('DEL', KEYS[1]) == 1 then
  for i = 2, #KEYS do
    redis.call('DECR', KEYS[i])
  end
end
return 0
";

/// Reserves one failure in the throttle's counters: `KEYS` are pairs of
/// (this minute's, the last minute's) counter per limit in force, then the
/// reservation's marker (left when counted, for [`GIVE_BACK`]); `ARGV[1]`
/// the milliseconds into this minute and `ARGV[2..]` each pair's limit.
/// Refused (nothing counted): `{pair, current, previous}` of the first
/// limit reached, with the sliding-minute estimate of the in-process
/// throttle. Else every current counter is incremented: 0. With a last
/// `ARGV` of `peek`, the limits are only read: nothing is counted.
const RESERVE_FAILURE: &str = r"
local into = tonumber(ARGV[1])
local pairs = (#KEYS - 1) / 2
local peek = ARGV[#ARGV] == 'peek'
for i = 1, pairs do
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  local estimate = current + math.floor(previous * (60000 - into) / 60000)
  if estimate >= tonumber(ARGV[1 + i]) then
    return {i, current, previous}
  end
end
if peek then
  return 0
end
for i = 1, pairs do
  redis.call('INCR', KEYS[2 * i - 1])
  redis.call('PEXPIRE', KEYS[2 * i - 1], 120000)
end
redis.call('SET', KEYS[#KEYS], '1', 'PX', 120000)
return 0
";

/// Where a replacement store goes once it answers, and what the latest
/// reload wants.
pub struct Replace {
    pub slot: Arc<ArcSwapOption<Shared>>,
    pub wanted: Arc<ArcSwapOption<StoreSettings>>,
}

impl Replace {
    fn wants(&self, settings: &StoreSettings) -> bool {
        self.wanted.load().as_deref() == Some(settings)
    }
}

/// The counters a failure was reserved in, to give back on success.
#[derive(Debug, Default)]
pub struct Reserved {
    marker: String,
    keys: Vec<String>,
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// One configured store: its settings, and its connection once made.
pub struct Shared {
    settings: StoreSettings,
    hmac: ring::hmac::Key,
    connection: ArcSwapOption<Connection>,
    quota_script: Script,
    reserve_script: Script,
    give_back_script: Script,
    metrics: StoreMetrics,
    /// Whether the last operation (or connection attempt) succeeded, so
    /// that a failure is logged when it starts, not at every request.
    healthy: AtomicBool,
}

impl Shared {
    pub fn new(settings: StoreSettings, metrics: StoreMetrics) -> Self {
        Self {
            hmac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &settings.hash_key),
            settings,
            connection: ArcSwapOption::empty(),
            quota_script: Script::new(TAKE_QUOTA),
            reserve_script: Script::new(RESERVE_FAILURE),
            give_back_script: Script::new(GIVE_BACK),
            metrics,
            healthy: AtomicBool::new(true),
        }
    }

    pub fn settings(&self) -> &StoreSettings {
        &self.settings
    }

    /// Connects in the background, every second until the store answers:
    /// for as long as this store is the one in use, or, with `replace`, for
    /// as long as a reload still wants it, swapping it in once it answers
    /// (the previous store serves until then).
    pub fn start(shared: &Arc<Self>, replace: Option<Replace>) {
        let weak: Weak<Self> = Arc::downgrade(shared);
        // A replacement is held here until it is swapped in.
        let pending = replace.as_ref().map(|_| Arc::clone(shared));
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let Some(shared) = weak.upgrade() else { return };
                if replace.as_ref().is_some_and(|r| !r.wants(&shared.settings)) {
                    return; // a later reload asked for another store
                }
                match connect(&shared.settings).await {
                    Ok(connection) => {
                        tracing::info!(store = %shared.settings.nodes.shown(), "store connected");
                        shared.connection.store(Some(Arc::new(connection)));
                        if let Some(replace) = &replace {
                            replace.slot.store(Some(Arc::clone(&shared)));
                        }
                        shared.answered(true);
                        shared.healthy.store(true, Ordering::Relaxed);
                        drop(pending);
                        drop(shared);
                        watch(weak).await;
                        return;
                    }
                    Err(e) if replace.is_some() && first => tracing::warn!(
                        store = %shared.settings.nodes.shown(),
                        "the new [store] does not answer ({e}): the previous store stays in use until it does"
                    ),
                    Err(e) => shared.failed("connect", &e),
                }
                first = false;
                drop(shared);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    /// One `PING` within `timeout_ms`.
    async fn ping(&self) -> Result<(), String> {
        let pong: String = self
            .run(|mut c| async move { redis::cmd("PING").query_async(&mut c).await })
            .await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(format!("PING answered {pong:?}"))
        }
    }

    /// `store_up` after an answer (or its absence).
    pub fn answered(&self, ok: bool) {
        self.metrics
            .up
            .with_label_values(&[] as &[&str])
            .set(i64::from(ok));
        if ok && !self.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!(store = %self.settings.nodes.shown(), "the store answers again");
        }
    }

    /// Logs a failure when the store starts failing.
    pub fn failed(&self, op: &str, error: &str) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                store = %self.settings.nodes.shown(),
                op,
                on_error = ?self.settings.on_error,
                "the store fails: {error}"
            );
        }
    }

    /// Whether `jti` (in `scope`) is used for the first time; remembered
    /// for `ttl` seconds.
    /// `kind`: `r` for assertions, `p` for DPoP proofs.
    pub async fn first_use(
        &self,
        kind: &str,
        scope: &str,
        jti: &str,
        ttl: u64,
    ) -> Result<bool, String> {
        let key = self.key(kind, &[scope, jti], false);
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(1).arg("NX").arg("EX").arg(ttl.max(1));
        let set: Option<String> = self
            .run(|mut c| async move { cmd.query_async(&mut c).await })
            .await?;
        Ok(set.is_some())
    }

    /// Takes one token from `client`'s windows at `now`.
    pub async fn take_quota(
        &self,
        client: &str,
        quota: &Quota,
        now: u64,
    ) -> Result<Result<(), Spent>, String> {
        let tag = self.key("q", &[client], true);
        let (hour, day) = (now / HOUR, now / DAY);
        let taken = Reserved {
            marker: format!("{tag}:u:{}", random_id()),
            keys: vec![format!("{tag}:h:{hour}"), format!("{tag}:d:{day}")],
        };
        let mut invocation = self.quota_script.prepare_invoke();
        invocation
            .key(&taken.keys[0])
            .key(&taken.keys[1])
            .key(&taken.marker)
            .arg(quota.per_hour)
            .arg(quota.per_day)
            .arg(HOUR - now % HOUR + 60)
            .arg(DAY - now % DAY + 60);
        let answer = self.run_undoable(invocation, &taken).await?;
        match answer {
            redis::Value::Int(0) => Ok(Ok(())),
            redis::Value::Array(counts) => {
                let count = |i: usize| match counts.get(i) {
                    Some(redis::Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
                    _ => 0,
                };
                // The same arithmetic as in process, for the same answer.
                Ok(check(quota, count(0), count(1), now).and(Err(Spent {
                    retry_after: HOUR - now % HOUR,
                })))
            }
            other => Err(format!("unexpected answer to the quota script: {other:?}")),
        }
    }

    /// Reserves one failure for `keys` (a client, from a source) under
    /// `limits`, in wall-clock minutes shared by every replica.
    pub async fn reserve_failure(
        &self,
        keys: Keys<'_>,
        limits: Limits,
        now_ms: u64,
    ) -> Result<Result<Reserved, Refusal>, String> {
        self.limit_script(keys, limits, now_ms, false).await
    }

    /// Whether a limit of `keys` is reached across the deployment, without
    /// counting anything (for a credential already known to be right).
    pub async fn over_limit(
        &self,
        keys: Keys<'_>,
        limits: Limits,
        now_ms: u64,
    ) -> Result<Result<(), Refusal>, String> {
        Ok(self
            .limit_script(keys, limits, now_ms, true)
            .await?
            .map(|_| ()))
    }

    async fn limit_script(
        &self,
        keys: Keys<'_>,
        limits: Limits,
        now_ms: u64,
        peek: bool,
    ) -> Result<Result<Reserved, Refusal>, String> {
        let Some((tag, counters)) = self.counters(keys, limits) else {
            return Ok(Ok(Reserved::default()));
        };
        let minute = now_ms / WINDOW_MS;
        let reserved = Reserved {
            marker: format!("{tag}:r:{}", random_id()),
            keys: counters
                .iter()
                .map(|(stem, _, _)| format!("{stem}:{minute}"))
                .collect(),
        };
        let mut invocation = self.reserve_script.prepare_invoke();
        for (stem, _, _) in &counters {
            invocation.key(format!("{stem}:{minute}"));
            invocation.key(format!("{stem}:{}", minute.saturating_sub(1)));
        }
        invocation.key(&reserved.marker);
        let into = now_ms % WINDOW_MS;
        invocation.arg(into);
        for (_, limit, _) in &counters {
            invocation.arg(*limit);
        }
        let answer = if peek {
            invocation.arg("peek");
            self.run(|mut c| async move { invocation.invoke_async(&mut c).await })
                .await?
        } else {
            self.run_undoable(invocation, &reserved).await?
        };
        let reserved = if peek { Reserved::default() } else { reserved };
        match answer {
            redis::Value::Int(0) => Ok(Ok(reserved)),
            redis::Value::Array(refused) => {
                let int = |i: usize| match refused.get(i) {
                    Some(redis::Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
                    _ => 0,
                };
                let (_, limit, dimension) = counters
                    .get(usize::try_from(int(0)).unwrap_or(1).saturating_sub(1))
                    .ok_or("the reserve script named no limit")?;
                Ok(Err(refusal(int(1), int(2), *limit, into, *dimension)))
            }
            other => Err(format!(
                "unexpected answer to the reserve script: {other:?}"
            )),
        }
    }

    /// The throttle's counters for `keys` under `limits`: the source's
    /// hash tag (both limits on one Cluster slot) and each limit in force
    /// with its counter's stem; `None` when none applies.
    fn counters(&self, keys: Keys<'_>, limits: Limits) -> Option<(String, Vec<Counter>)> {
        let source = String::from_utf8_lossy(&hex(&keys.source()?)).to_string();
        let tag = self.key("t", &[&source], true);
        let mut counters = Vec::new();
        if limits.per_source > 0 {
            counters.push((format!("{tag}:s"), limits.per_source, Dimension::Source));
        }
        if let Some(client) = keys.client().filter(|_| limits.per_client_source > 0) {
            let stem = self.key("c", &[client], false);
            let stem = stem.trim_start_matches(self.settings.prefix.as_str());
            counters.push((
                format!("{tag}:{stem}"),
                limits.per_client_source,
                Dimension::ClientSource,
            ));
        }
        (!counters.is_empty()).then_some((tag, counters))
    }

    /// Gives a reservation back (the check succeeded).
    pub async fn release(&self, reserved: Reserved) -> Result<(), String> {
        if reserved.keys.is_empty() {
            return Ok(());
        }
        let mut invocation = self.give_back_script.prepare_invoke();
        invocation.key(&reserved.marker);
        for key in &reserved.keys {
            invocation.key(key);
        }
        let _: redis::Value = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        Ok(())
    }

    /// Runs a script that counts; when its answer does not come, what it
    /// may count later is undone ([`Self::give_back_later`]).
    async fn run_undoable(
        &self,
        invocation: redis::ScriptInvocation<'_>,
        counted: &Reserved,
    ) -> Result<redis::Value, String> {
        let answer = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await;
        if answer.is_err() {
            self.give_back_later(counted);
        }
        answer
    }

    /// Undoes, in the background, an operation whose answer never came:
    /// on the same connection, so that it runs after the operation if the
    /// store ever runs that.
    fn give_back_later(&self, counted: &Reserved) {
        let Some(connection) = self.connection.load_full() else {
            return; // not connected: nothing was sent
        };
        let mut connection = ConnectionBox((*connection).clone());
        let script = self.give_back_script.clone();
        let marker = counted.marker.clone();
        let keys = counted.keys.clone();
        tokio::spawn(async move {
            let mut invocation = script.prepare_invoke();
            invocation.key(marker);
            for key in keys {
                invocation.key(key);
            }
            let undo = invocation.invoke_async::<redis::Value>(&mut connection);
            let _ = tokio::time::timeout(Duration::from_secs(60), undo).await;
        });
    }

    /// Runs `op` on the connection within `timeout_ms`.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, String>
    where
        F: FnOnce(ConnectionBox) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let Some(connection) = self.connection.load_full() else {
            return Err("not connected yet".into());
        };
        let connection = ConnectionBox((*connection).clone());
        match tokio::time::timeout(self.settings.timeout, op(connection)).await {
            Err(_) => Err(format!(
                "no answer within {} ms",
                self.settings.timeout.as_millis()
            )),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(value)) => Ok(value),
        }
    }

    /// `prefix` + `kind` + `:` + hex(HMAC(parts joined by NUL)); in braces
    /// (a Cluster hash tag) when the key is the stem of several.
    fn key(&self, kind: &str, parts: &[&str], tag: bool) -> String {
        let mut context = ring::hmac::Context::with_key(&self.hmac);
        context.update(kind.as_bytes());
        for part in parts {
            context.update(&[0]);
            context.update(part.as_bytes());
        }
        let digest = context.sign();
        let mut key = format!("{}{kind}:", self.settings.prefix);
        key.push_str(if tag { "{" } else { "" });
        for byte in &digest.as_ref()[..16] {
            let _ = write!(key, "{byte:02x}");
        }
        key.push_str(if tag { "}" } else { "" });
        key
    }
}

/// Pings the store every second for as long as it is in use, so that
/// `tokenmint_store_up` follows it even when no request needs it (a replica
/// that serves only clients verified before would otherwise never notice
/// an outage, nor the recovery).
async fn watch(weak: Weak<Shared>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(shared) = weak.upgrade() else { return };
        match shared.ping().await {
            Ok(()) => shared.answered(true),
            Err(e) => {
                shared.answered(false);
                shared.failed("ping", &e);
            }
        }
    }
}

/// Either connection, as one `ConnectionLike`.
pub struct ConnectionBox(Connection);

impl ConnectionLike for ConnectionBox {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match &mut self.0 {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match &mut self.0 {
            Connection::Single(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// Connects to the store and makes sure it answers (`PING`).
async fn connect(settings: &StoreSettings) -> Result<Connection, String> {
    let tls = || TlsCertificates {
        client_tls: None,
        root_cert: settings.ca_pem.clone(),
    };
    let deadline = settings.timeout.max(Duration::from_secs(2));
    let connection = match &settings.nodes {
        StoreNodes::Single(url) => {
            let mut info = url
                .as_str()
                .into_connection_info()
                .map_err(|e| e.to_string())?;
            if let Some(password) = &settings.password {
                let redis = info.redis_settings().clone().set_password(password);
                info = info.set_redis_settings(redis);
            }
            let client = if settings.ca_pem.is_some() {
                Client::build_with_tls(info, tls())
            } else {
                Client::open(info)
            }
            .map_err(|e| e.to_string())?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(deadline))
                .set_response_timeout(Some(deadline))
                .set_number_of_retries(1);
            let manager =
                tokio::time::timeout(deadline, ConnectionManager::new_with_config(client, config))
                    .await
                    .map_err(|_| format!("no connection within {} ms", deadline.as_millis()))?
                    .map_err(|e| e.to_string())?;
            Connection::Single(manager)
        }
        StoreNodes::Cluster(urls) => {
            let mut builder = ClusterClientBuilder::new(urls.clone())
                .connection_timeout(deadline)
                .response_timeout(deadline);
            if let Some(password) = &settings.password {
                builder = builder.password(password);
            }
            if settings.ca_pem.is_some() {
                builder = builder.certs(tls());
            }
            let client = builder.build().map_err(|e| e.to_string())?;
            let connection = tokio::time::timeout(deadline, client.get_async_connection())
                .await
                .map_err(|_| format!("no connection within {} ms", deadline.as_millis()))?
                .map_err(|e| e.to_string())?;
            Connection::Cluster(connection)
        }
    };
    let mut ping = ConnectionBox(connection.clone());
    let pong: String = tokio::time::timeout(deadline, redis::cmd("PING").query_async(&mut ping))
        .await
        .map_err(|_| format!("no answer to PING within {} ms", deadline.as_millis()))?
        .map_err(|e| e.to_string())?;
    if pong != "PONG" {
        return Err(format!("PING answered {pong:?}"));
    }
    Ok(connection)
}

/// Connects once and says how that went, for `check-config`: `Ok` with
/// the store's name, or the error.
pub async fn probe(settings: &StoreSettings) -> Result<String, String> {
    connect(settings).await.map(|_| settings.nodes.shown())
}
