//! Logging: a `RUST_LOG`-style filter that SIGHUP can replace, human text on a terminal, JSON or
//! journald under systemd.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

use crate::config::LogFormat;

/// Replaces the active log filter (on SIGHUP).
#[derive(Clone)]
pub struct LogReloader {
    handle: Option<reload::Handle<EnvFilter, Registry>>,
}

impl std::fmt::Debug for LogReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReloader")
            .field("active", &self.handle.is_some())
            .finish()
    }
}

impl LogReloader {
    /// A reloader that does nothing (tests, or when logging was set up by someone else).
    pub fn disabled() -> Self {
        Self { handle: None }
    }

    pub fn reload(&self, filter: &str) -> Result<(), String> {
        let Some(handle) = &self.handle else {
            return Ok(());
        };
        let filter = EnvFilter::try_new(filter)
            .map_err(|e| format!("invalid log filter `{filter}`: {e}"))?;
        handle.reload(filter).map_err(|e| e.to_string())
    }
}

/// Install the global subscriber. `RUST_LOG`, when set, wins over `filter`.
pub fn init(filter: &str, format: LogFormat) -> LogReloader {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(filter).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let under_systemd =
        std::env::var_os("JOURNAL_STREAM").is_some() || std::env::var_os("INVOCATION_ID").is_some();
    let format = match format {
        LogFormat::Auto if under_systemd => LogFormat::Journald,
        LogFormat::Auto if std::io::stderr().is_terminal() => LogFormat::Text,
        LogFormat::Auto => LogFormat::Json,
        other => other,
    };
    type Filtered =
        tracing_subscriber::layer::Layered<reload::Layer<EnvFilter, Registry>, Registry>;
    let output: Box<dyn Layer<Filtered> + Send + Sync> = match format {
        LogFormat::Journald => match tracing_journald::layer() {
            Ok(layer) => Box::new(layer.with_syslog_identifier("contactd".to_owned())),
            Err(_) => Box::new(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            ),
        },
        LogFormat::Json => Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stderr),
        ),
        _ => Box::new(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        ),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init()
        .is_ok();
    LogReloader {
        handle: installed.then_some(handle),
    }
}
