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

/// `result` of an ARI WebSocket frame: `ok`, `unknown` (an event type not modelled),
/// `malformed` (not JSON, no `type`, or a known type that does not match its model),
/// `oversized`, `binary`, `dropped` (the consumer queue was full).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrameLabels {
    pub result: &'static str,
}

/// `kind` of a call event: `ringing`, `answered`, `ended`, `unreached` (a phone that never rang),
/// `finished` (the whole call is over).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallEventLabels {
    pub kind: &'static str,
}

/// Every metric the daemon exports. Later parts add their own fields here.
#[derive(Debug, Default)]
pub struct Metrics {
    pub http_requests: Family<HttpLabels, Counter>,
    pub db_up: Gauge,
    /// 0 = disabled (no `[pbx]`), 1 = connecting, 2 = up, 3 = down.
    pub pbx_link_state: Gauge,
    pub reloads: Counter,
    /// ARI frames by result (see [`FrameLabels`]).
    pub ari_frames: Family<FrameLabels, Counter>,
    /// Successful ARI WebSocket connections (the first one and every reconnect).
    pub pbx_connects: Counter,
    /// ARI WebSocket connection attempts that failed (refused, timed out, rejected credentials).
    pub pbx_connect_failures: Counter,
    /// Reconciliations with `GET /ari/channels` that failed.
    pub pbx_reconcile_failures: Counter,
    /// Call events from the tracker, by kind.
    pub call_events: Family<CallEventLabels, Counter>,
    /// Calls the tracker follows now.
    pub calls_active: Gauge,
    /// Call events not recorded because the record queue was full or the database failed.
    pub call_records_failed: Counter,
    /// Operator sockets open now.
    pub operator_sockets: Gauge,
    /// Fresh snapshots sent to operator sockets that fell behind.
    pub operator_resyncs: Counter,
    /// Pop-ups sent before the caller's history was there (it follows as `call.history`).
    pub popup_history_late: Counter,
    /// Emails the SMTP server accepted.
    pub mail_sent: Counter,
    /// Emails given up (5xx, bad row, or past `smtp.give_up_after_h`).
    pub mail_failed: Counter,
    /// Send attempts that failed transiently and were rescheduled.
    pub mail_retries: Counter,
    /// Emails in the outbox not yet sent nor given up.
    pub mail_pending: Gauge,
    /// Requests registered (committed).
    pub requests_registered: Counter,
    /// Registration transactions committed (group commit: registered / batches = batch size).
    pub request_batches: Counter,
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
        registry.register(
            "ari_frames",
            "ARI WebSocket frames by result: ok, unknown, malformed, oversized, binary, dropped",
            metrics.ari_frames.clone(),
        );
        registry.register(
            "pbx_connects",
            "Successful ARI WebSocket connections (first and reconnects)",
            metrics.pbx_connects.clone(),
        );
        registry.register(
            "pbx_connect_failures",
            "ARI WebSocket connection attempts that failed",
            metrics.pbx_connect_failures.clone(),
        );
        registry.register(
            "pbx_reconcile_failures",
            "Reconciliations with GET /ari/channels that failed",
            metrics.pbx_reconcile_failures.clone(),
        );
        registry.register(
            "call_events",
            "Call events from the call tracker, by kind",
            metrics.call_events.clone(),
        );
        registry.register(
            "calls_active",
            "Calls the call tracker follows now",
            metrics.calls_active.clone(),
        );
        registry.register(
            "call_records_failed",
            "Call events not recorded (record queue full or database error)",
            metrics.call_records_failed.clone(),
        );
        registry.register(
            "operator_sockets",
            "Operator WebSockets open now",
            metrics.operator_sockets.clone(),
        );
        registry.register(
            "operator_resyncs",
            "Fresh snapshots sent to operator sockets that fell behind",
            metrics.operator_resyncs.clone(),
        );
        registry.register(
            "popup_history_late",
            "Pop-ups sent without waiting longer for the caller's history (it followed as call.history)",
            metrics.popup_history_late.clone(),
        );
        registry.register(
            "mail_sent",
            "Emails the SMTP server accepted",
            metrics.mail_sent.clone(),
        );
        registry.register(
            "mail_failed",
            "Emails given up: refused (5xx) or not sent within smtp.give_up_after_h",
            metrics.mail_failed.clone(),
        );
        registry.register(
            "mail_retries",
            "Email send attempts that failed transiently and were rescheduled",
            metrics.mail_retries.clone(),
        );
        registry.register(
            "mail_pending",
            "Emails in the outbox not yet sent nor given up",
            metrics.mail_pending.clone(),
        );
        registry.register(
            "requests_registered",
            "Requests registered (committed)",
            metrics.requests_registered.clone(),
        );
        registry.register(
            "request_batches",
            "Registration transactions committed; requests_registered / request_batches is the group-commit batch size",
            metrics.request_batches.clone(),
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
