//! Prometheus metrics (docs/operations.md), in a registry owned by the application
//! (never the global one, so parallel test apps do not count into each
//! other). Label values are bounded: `client_id` is a configured id or
//! `unknown`, `route` a route pattern (or `unmatched`), `status` an HTTP
//! status, `reason` and `dimension` fixed names.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::keys::{alg_name, Key};
use crate::store::StoreMetrics;
use crate::throttle::Dimension;

pub struct Metrics {
    registry: Registry,
    pub token_requests: IntCounterVec,
    pub auth_failures: IntCounterVec,
    pub request_duration: HistogramVec,
    pub responses: IntCounterVec,
    pub throttled: IntCounterVec,
    pub active_key_info: IntGaugeVec,
    pub active_key_age: Gauge,
    pub quota_exceeded: IntCounterVec,
    pub store: StoreMetrics,
    pub config_reloads: IntCounterVec,
    pub last_reload_success: Gauge,
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    register(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
}

fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Result<Gauge, prometheus::Error> {
    register(registry, Gauge::new(name, help)?)
}

fn info(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, prometheus::Error> {
    register(registry, IntGaugeVec::new(Opts::new(name, help), labels)?)
}

/// `tokenmint_http_request_duration_seconds{route}`.
fn request_duration(r: &Registry) -> Result<HistogramVec, prometheus::Error> {
    register(
        r,
        HistogramVec::new(
            HistogramOpts::new(
                "tokenmint_http_request_duration_seconds",
                "HTTP request duration by route",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0,
            ]),
            &["route"],
        )?,
    )
}

/// The shared store's metrics (`store`).
fn store_metrics(r: &Registry) -> Result<StoreMetrics, prometheus::Error> {
    Ok(StoreMetrics {
        up: register(
            r,
            IntGaugeVec::new(
                Opts::new(
                    "tokenmint_store_up",
                    "Whether the shared store answered the last operation (1) or not (0); absent without [store]",
                ),
                &[],
            )?,
        )?,
        operations: counter(
            r,
            "tokenmint_store_operations_total",
            "Operations on the shared store by kind and result (ok, error)",
            &["op", "result"],
        )?,
        duration: register(
            r,
            HistogramVec::new(
                HistogramOpts::new(
                    "tokenmint_store_operation_duration_seconds",
                    "Duration of operations on the shared store",
                )
                .buckets(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                    0.1, 0.25,
                ]),
                &["op"],
            )?,
        )?,
        fallbacks: counter(
            r,
            "tokenmint_store_fallbacks_total",
            "Operations decided by this replica's own state because the store failed (on_error = \"local\")",
            &["op"],
        )?,
    })
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let r = &registry;
        let request_duration = request_duration(r)?;
        let metrics = Self {
            token_requests: counter(
                r,
                "tokenmint_token_requests_total",
                "Token requests by client and result (issued or the OAuth error code)",
                &["client_id", "result"],
            )?,
            auth_failures: counter(
                r,
                "tokenmint_auth_failures_total",
                "Failed client authentications by reason",
                &["reason"],
            )?,
            request_duration,
            responses: counter(
                r,
                "tokenmint_http_responses_total",
                "HTTP responses by route and status",
                &["route", "status"],
            )?,
            throttled: counter(
                r,
                "tokenmint_throttled_total",
                "Requests refused by the brute-force limits, by the limit that refused them",
                &["dimension"],
            )?,
            active_key_info: info(
                r,
                "tokenmint_active_key_info",
                "The signing key (1)",
                &["kid", "alg"],
            )?,
            active_key_age: gauge(
                r,
                "tokenmint_active_key_age_seconds",
                "Seconds since the signing key started signing (its activation time, else its file's modification time)",
            )?,
            quota_exceeded: counter(
                r,
                "tokenmint_quota_exceeded_total",
                "Token requests refused because the client's quota was spent",
                &["client_id"],
            )?,
            store: store_metrics(r)?,
            config_reloads: counter(
                r,
                "tokenmint_config_reloads_total",
                "Configuration reloads by result",
                &["result"],
            )?,
            last_reload_success: gauge(
                r,
                "tokenmint_config_last_reload_success_timestamp_seconds",
                "When the configuration in force was loaded (Unix time)",
            )?,
            registry,
        };
        metrics.start_series()?;
        #[cfg(target_os = "linux")]
        metrics.registry.register(Box::new(ProcessMetrics(
            prometheus::process_collector::ProcessCollector::for_self(),
        )))?;
        Ok(metrics)
    }

    /// Series that must exist from the start, at 0 or at their value (the
    /// first event of a kind then shows in `rate()`).
    fn start_series(&self) -> Result<(), prometheus::Error> {
        let metrics = self;
        for dimension in Dimension::ALL {
            metrics.throttled.with_label_values(&[dimension.label()]);
        }
        for result in ["success", "failure"] {
            metrics.config_reloads.with_label_values(&[result]);
        }
        for reason in crate::auth::Reason::LABELS.iter().copied() {
            metrics.auth_failures.with_label_values(&[reason]);
        }
        metrics
            .last_reload_success
            .set(crate::clock::unix_now() as f64);
        info(
            &metrics.registry,
            "tokenmint_build_info",
            "The running version (1)",
            &["version"],
        )?
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
        Ok(())
    }

    /// The text exposition format, with `key` as the signing key: the
    /// schedule can change it at any second, so it is set at each scrape.
    pub fn render(&self, key: &Key) -> Vec<u8> {
        self.active_key_info.reset();
        self.active_key_info
            .with_label_values(&[key.kid.as_str(), alg_name(key.alg)])
            .set(1);
        // Since it started signing: its activation time, else its file's
        // modification time (docs/operations.md).
        let started = match key.activate_at {
            Some(at) => Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(at)),
            None => key.modified,
        };
        if let Some(age) = started.and_then(|t| t.elapsed().ok()) {
            self.active_key_age.set(age.as_secs_f64());
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// The prometheus crate's `process_*` metrics, with
/// `process_cpu_seconds_total` to the clock tick instead of whole seconds:
/// the crate truncates it, so `rate()` over a minute showed an instance
/// using a tenth of a core as 0 or 1/60.
#[cfg(target_os = "linux")]
struct ProcessMetrics(prometheus::process_collector::ProcessCollector);

#[cfg(target_os = "linux")]
impl prometheus::core::Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut families = self.0.collect();
        let stat = procfs::process::Process::myself().and_then(|p| p.stat());
        if let Ok(stat) = stat {
            let seconds = (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64;
            for family in &mut families {
                if family.name() == "process_cpu_seconds_total" {
                    for metric in family.mut_metric() {
                        let mut counter = prometheus::proto::Counter::default();
                        counter.set_value(seconds);
                        metric.set_counter(counter);
                    }
                }
            }
        }
        families
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use prometheus::core::Collector;

    fn cpu_ticks() -> u64 {
        let stat = procfs::process::Process::myself().unwrap().stat().unwrap();
        stat.utime + stat.stime
    }

    #[test]
    fn process_cpu_seconds_count_ticks_not_whole_seconds() {
        let ticks = procfs::ticks_per_second();
        // Spin until the process's CPU time is at least half a second past
        // a whole second, where truncating would be off by ≥ 0.5 s.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while cpu_ticks() % ticks < ticks / 2 && std::time::Instant::now() < deadline {}
        let expected = cpu_ticks() as f64 / ticks as f64;

        let families =
            ProcessMetrics(prometheus::process_collector::ProcessCollector::for_self()).collect();

        let cpu = families
            .iter()
            .find(|f| f.name() == "process_cpu_seconds_total")
            .expect("process_cpu_seconds_total is exported");
        let reported = cpu.get_metric()[0].get_counter().get_value();
        let slack = 5.0 / ticks as f64;
        assert!(
            (reported - expected).abs() < slack,
            "reported {reported} s, the process had used {expected} s"
        );
        assert!(families
            .iter()
            .any(|f| f.name() == "process_resident_memory_bytes"));
    }
}
