//! Prometheus metrics: one registry per daemon (no globals, so tests can run several daemons in
//! one process), rendered in the text exposition format at `GET /metrics`.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub status: u16,
}

/// Every metric the daemon exports. Later parts add their own fields here.
#[derive(Debug, Default)]
pub struct Metrics {
    pub http_requests: Family<HttpLabels, Counter>,
    pub db_up: Gauge,
    /// 0 = disabled (no `[pbx]`), 1 = connecting, 2 = up, 3 = down.
    pub pbx_link_state: Gauge,
    pub reloads: Counter,
}

/// The registry plus handles to the metrics in it.
#[derive(Clone, Debug)]
pub struct MetricsRegistry {
    registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
}

impl MetricsRegistry {
    pub fn new() -> Self {
        let metrics = Arc::new(Metrics::default());
        let mut registry = Registry::with_prefix("contactd");
        registry.register(
            "build",
            "contactd build information",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register(
            "http_requests",
            "HTTP requests served, by method and status",
            metrics.http_requests.clone(),
        );
        registry.register(
            "db_up",
            "1 when the last database check succeeded",
            metrics.db_up.clone(),
        );
        registry.register(
            "pbx_link_state",
            "PBX link: 0 disabled, 1 connecting, 2 up, 3 down",
            metrics.pbx_link_state.clone(),
        );
        registry.register(
            "config_reloads",
            "SIGHUP reloads applied",
            metrics.reloads.clone(),
        );
        Self {
            registry: Arc::new(registry),
            metrics,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %err, "cannot encode metrics");
        }
        out
    }
}

impl Default for MetricsRegistry {
    fn default() -> Self {
        Self::new()
    }
}
