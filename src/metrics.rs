//! Prometheus metrics (SPEC §3.6), in a registry owned by the application
//! (never the global one, so parallel test apps do not count into each
//! other). Label values are bounded: `client_id` is a configured id or
//! `unknown`, `route` a route pattern.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::keys::{alg_name, Key};

pub struct Metrics {
    registry: Registry,
    pub token_requests: IntCounterVec,
    pub auth_failures: IntCounterVec,
    pub request_duration: HistogramVec,
    pub active_key_info: IntGaugeVec,
    pub active_key_age: Gauge,
    pub config_reloads: IntCounterVec,
    active_key_modified: std::sync::Mutex<Option<std::time::SystemTime>>,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let token_requests = IntCounterVec::new(
            Opts::new(
                "tokenmint_token_requests_total",
                "Token requests by client and result (issued or the OAuth error code)",
            ),
            &["client_id", "result"],
        )?;
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "tokenmint_auth_failures_total",
                "Failed client authentications by reason",
            ),
            &["reason"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "tokenmint_http_request_duration_seconds",
                "HTTP request duration by route",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0,
            ]),
            &["route"],
        )?;
        let active_key_info = IntGaugeVec::new(
            Opts::new("tokenmint_active_key_info", "The signing key (1)"),
            &["kid", "alg"],
        )?;
        let active_key_age = Gauge::new(
            "tokenmint_active_key_age_seconds",
            "Seconds since the signing key file was last modified",
        )?;
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "tokenmint_config_reloads_total",
                "Configuration reloads by result",
            ),
            &["result"],
        )?;
        registry.register(Box::new(token_requests.clone()))?;
        registry.register(Box::new(auth_failures.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(active_key_info.clone()))?;
        registry.register(Box::new(active_key_age.clone()))?;
        registry.register(Box::new(config_reloads.clone()))?;
        for result in ["success", "failure"] {
            config_reloads.with_label_values(&[result]);
        }
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            token_requests,
            auth_failures,
            request_duration,
            active_key_info,
            active_key_age,
            config_reloads,
            active_key_modified: std::sync::Mutex::new(None),
        })
    }

    pub fn set_active_key(&self, key: &Key) {
        self.active_key_info.reset();
        self.active_key_info
            .with_label_values(&[key.kid.as_str(), alg_name(key.alg)])
            .set(1);
        *self
            .active_key_modified
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = key.modified;
    }

    /// The text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let modified = *self
            .active_key_modified
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(age) = modified.and_then(|m| m.elapsed().ok()) {
            self.active_key_age.set(age.as_secs_f64());
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}
