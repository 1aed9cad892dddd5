//! The one configuration of the daemon: defaults → TOML file → `CONTACTD_…` environment, validated.
//!
//! Every key is documented here and in `config/contactd.example.toml`. Secrets (database, ARI and
//! SMTP passwords) redact themselves in `Debug` and in `check-config` output, and may be read from
//! a file (`*_file` keys) so that systemd's `LoadCredential=` can supply them.
//!
//! Environment overrides use a double underscore between the section and the key, so that keys
//! with single underscores stay readable: `CONTACTD_DATABASE__URL`, `CONTACTD_PBX__ARI_URL`,
//! `CONTACTD_LOG__FILTER`. Variables without `__` (such as `CONTACTD_CONFIG`) are not config keys.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use url::Url;

/// Where `run` and the other subcommands look for the file when `--config` is not given and
/// `CONTACTD_CONFIG` is unset.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/contactd/contactd.toml";

/// A configuration problem, worded for the administrator: it names the key (or the file and line)
/// and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source} (check the path given by --config or CONTACTD_CONFIG)")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}, line {line}, column {column}: {message}")]
    AtLine {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("config {origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
}

impl ConfigError {
    fn key(key: &str, message: impl Into<String>) -> Self {
        Self::Key {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// A secret string (password). Never printed: `Debug` and `Serialize` show `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that hands it to a driver.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// A URL that may carry a password (`postgres://user:pass@host/db`); shown with the password
/// replaced in `Debug`, `Display` and `Serialize`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                // set_password only fails for URLs that cannot have one, which we just saw it has.
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            _ => self.0.clone(),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// Without a `[pbx]` section the daemon runs with no PBX link and `/readyz` says so.
    #[serde(default)]
    pub pbx: Option<PbxConfig>,
    /// Development and demos only: run the built-in PBX simulator (a fake Asterisk with random
    /// calls) inside the daemon and link to it. Not allowed together with `[pbx]`.
    #[serde(default)]
    pub pbx_simulator: Option<PbxSimulatorConfig>,
    /// Without an `[smtp]` section emails stay queued in the outbox until one is configured.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    #[serde(default)]
    pub calendar: CalendarConfig,
    #[serde(default)]
    pub survey: SurveyConfig,
    #[serde(default)]
    pub escalation: EscalationConfig,
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (relative paths are relative to the working directory; the file and its
    /// directory are created) or `postgres://USER@HOST:PORT/DB`.
    pub url: SecretUrl,
    /// Password for PostgreSQL, overriding the one in the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// File holding the PostgreSQL password (e.g. `/run/credentials/contactd.service/db`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Connections in the pool (PostgreSQL) or readers (SQLite; SQLite always has one writer).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Seconds to wait for a connection before a request fails.
    #[serde(default = "default_acquire_timeout_s")]
    pub acquire_timeout_s: u64,
    /// SQLite `synchronous` mode: `full` (default; every acknowledged commit survives power loss)
    /// or `normal` (faster; survives a crash of the daemon, may lose the last commits on power loss).
    #[serde(default)]
    pub sqlite_synchronous: SqliteSynchronous,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    #[default]
    Full,
    Normal,
}

fn default_max_connections() -> u32 {
    8
}

fn default_acquire_timeout_s() -> u64 {
    5
}

/// `[http]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port of the HTTP API, console and operator sockets, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// Bearer token that `GET /metrics` requires. Without one, `/metrics` answers loopback
    /// clients only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_token: Option<Secret>,
    /// File holding the metrics token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_token_file: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: usize,
}

fn default_body_limit() -> usize {
    256 * 1024
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `RUST_LOG`-style filter, e.g. `info` or `info,contactd::pbx=debug`. `RUST_LOG`, when set,
    /// wins. Reloaded on SIGHUP.
    #[serde(default = "default_log_filter")]
    pub filter: String,
    /// `auto` (journald under systemd, human text on a terminal, JSON otherwise), `text`,
    /// `json` or `journald`.
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: default_log_filter(),
            format: LogFormat::default(),
        }
    }
}

fn default_log_filter() -> String {
    "info".to_owned()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Auto,
    Text,
    Json,
    Journald,
}

/// `[daemon]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Seconds the daemon waits for in-flight work after SIGTERM before it exits anyway.
    /// Keep it below systemd's `TimeoutStopSec=`.
    #[serde(default = "default_shutdown_deadline_s")]
    pub shutdown_deadline_s: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            shutdown_deadline_s: default_shutdown_deadline_s(),
        }
    }
}

fn default_shutdown_deadline_s() -> u64 {
    10
}

impl DaemonConfig {
    pub fn shutdown_deadline(&self) -> Duration {
        Duration::from_secs(self.shutdown_deadline_s)
    }
}

/// `[pbx]`: the Asterisk REST Interface (ARI) of the PBX.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PbxConfig {
    /// Base URL of ARI, e.g. `http://127.0.0.1:8088/ari`.
    pub ari_url: String,
    /// ARI user from Asterisk's `ari.conf`.
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// The Stasis application name contactd registers as.
    #[serde(default = "default_ari_app")]
    pub app: String,
}

fn default_ari_app() -> String {
    "contactd".to_owned()
}

/// `[pbx_simulator]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PbxSimulatorConfig {
    /// Loopback address the simulator's ARI listens on, e.g. `127.0.0.1:8088`.
    pub listen: String,
    /// Average number of incoming calls per minute (random arrivals).
    #[serde(default = "default_sim_calls_per_minute")]
    pub calls_per_minute: f64,
    /// Operator extensions the calls ring at.
    #[serde(default = "default_sim_operators")]
    pub operators: Vec<String>,
}

fn default_sim_calls_per_minute() -> f64 {
    4.0
}

fn default_sim_operators() -> Vec<String> {
    vec!["1001".to_owned(), "1002".to_owned()]
}

impl PbxSimulatorConfig {
    /// The `[pbx]` settings that link the daemon to the simulator.
    pub fn link_config(&self) -> PbxConfig {
        PbxConfig {
            ari_url: format!("http://{}/ari", self.listen),
            username: "cc".to_owned(),
            password: Some(Secret::new("simulator")),
            password_file: None,
            app: default_ari_app(),
        }
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        let addr: SocketAddr = self.listen.parse().map_err(|_| {
            ConfigError::key(
                "pbx_simulator.listen",
                format!(
                    "`{}` is not an address:port such as 127.0.0.1:8088",
                    self.listen
                ),
            )
        })?;
        if !addr.ip().is_loopback() {
            return Err(ConfigError::key(
                "pbx_simulator.listen",
                "the simulator is for development: use a loopback address",
            ));
        }
        Ok(addr)
    }
}

impl Config {
    /// The PBX to link to: `[pbx]`, or the built-in simulator of `[pbx_simulator]`.
    pub fn effective_pbx(&self) -> Option<PbxConfig> {
        self.pbx.clone().or_else(|| {
            self.pbx_simulator
                .as_ref()
                .map(PbxSimulatorConfig::link_config)
        })
    }
}

/// `[smtp]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// lettre URL form: `smtp://127.0.0.1:25` (no TLS), `smtp://host:587?tls=required`
    /// (STARTTLS), `smtps://host:465` (implicit TLS); credentials may be in the URL.
    pub url: SecretUrl,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Sender, e.g. `Контакт-центр <cc@example.gov.ua>`.
    pub from: String,
    /// Base URL of the operators' console, for links in emails (`{console_url}/requests/{number}`),
    /// e.g. `https://cc.example.gov.ua`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_url: Option<String>,
    /// Hours after which an email that could not be sent is given up: marked failed, logged and
    /// counted in `contactd_mail_failed_total`.
    #[serde(default = "default_give_up_after_h")]
    pub give_up_after_h: u64,
    /// Seconds before the first retry of an email the server did not take (down, 4xx); doubled per
    /// attempt up to `retry_max_s`.
    #[serde(default = "default_retry_initial_s")]
    pub retry_initial_s: u64,
    #[serde(default = "default_retry_max_s")]
    pub retry_max_s: u64,
    /// Seconds for connecting and for each SMTP command.
    #[serde(default = "default_smtp_timeout_s")]
    pub timeout_s: u64,
    /// Milliseconds between polls of the outbox when it is empty.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
}

fn default_give_up_after_h() -> u64 {
    48
}

fn default_retry_initial_s() -> u64 {
    30
}

fn default_retry_max_s() -> u64 {
    15 * 60
}

fn default_smtp_timeout_s() -> u64 {
    30
}

fn default_poll_interval_ms() -> u64 {
    2000
}

/// `[calendar]`: the working-time calendar (keys documented on
/// [`contactd_calendar::CalendarSettings`] and in `config/contactd.example.toml`).
pub type CalendarConfig = contactd_calendar::CalendarSettings;

/// `[survey]`: the sampling parameters of [`contactd_survey::SurveyParams`] (documented there and
/// in `config/contactd.example.toml`) plus the daemon's keys for survey calls and draws:
///
/// - `outbound_context` (default `survey-out`): dialplan context that dials the applicant
///   through the trunk once the operator's phone answers;
/// - `caller_id` (default `1580`): caller id shown on the operator's phone and to the applicant;
/// - `originate_timeout_s` (default 30): seconds the operator's phone rings;
/// - `first_draw_lookback_days` (default 7): the very first draw covers this many days before it.
///
/// Unknown keys are rejected, like everywhere else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SurveyConfig {
    pub outbound_context: String,
    pub caller_id: String,
    pub originate_timeout_s: u32,
    pub first_draw_lookback_days: u32,
    #[serde(flatten)]
    pub params: contactd_survey::SurveyParams,
}

impl Default for SurveyConfig {
    fn default() -> Self {
        Self {
            outbound_context: "survey-out".to_owned(),
            caller_id: "1580".to_owned(),
            originate_timeout_s: 30,
            first_draw_lookback_days: 7,
            params: contactd_survey::SurveyParams::default(),
        }
    }
}

impl<'de> Deserialize<'de> for SurveyConfig {
    // Written by hand because `#[serde(flatten)]` would silently ignore unknown keys: the daemon's
    // keys are taken out, and the rest must be exactly `SurveyParams` (which denies unknowns).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(deserializer)?;
        let mut out = Self::default();
        if let Some(v) = table.remove("outbound_context") {
            out.outbound_context = String::deserialize(v).map_err(D::Error::custom)?;
        }
        if let Some(v) = table.remove("caller_id") {
            out.caller_id = String::deserialize(v).map_err(D::Error::custom)?;
        }
        if let Some(v) = table.remove("originate_timeout_s") {
            out.originate_timeout_s = u32::deserialize(v).map_err(D::Error::custom)?;
        }
        if let Some(v) = table.remove("first_draw_lookback_days") {
            out.first_draw_lookback_days = u32::deserialize(v).map_err(D::Error::custom)?;
        }
        out.params = contactd_survey::SurveyParams::deserialize(toml::Value::Table(table))
            .map_err(D::Error::custom)?;
        Ok(out)
    }
}

/// `[escalation]`: officials, areas, thresholds and schedule (keys documented on
/// [`crate::escalation::EscalationConfig`] and in `config/contactd.example.toml`).
pub use crate::escalation::EscalationConfig;

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Config {
    /// Load `path` (TOML), apply `CONTACTD_…__…` environment overrides, resolve secret files and
    /// validate. `env` is the environment to read, so tests need not touch the process's own.
    pub fn load(path: &Path, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path, env)
    }

    /// Like [`Config::load`], from text already read; `path` is used in messages.
    pub fn from_toml(
        text: &str,
        path: &Path,
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        // First the file alone, so that its errors carry the key and the line.
        let deserializer = toml::Deserializer::new(text);
        let mut config: Config = serde_path_to_error::deserialize(deserializer)
            .map_err(|err| file_error(err, text, path))?;
        let overrides = env_overrides(env);
        if !overrides.is_empty() {
            let mut table: toml::Table =
                text.parse()
                    .map_err(|err: toml::de::Error| ConfigError::Invalid {
                        origin: path.display().to_string(),
                        message: err.message().to_owned(),
                    })?;
            for (key, value) in &overrides {
                set_dotted(&mut table, key, value)?;
            }
            config =
                serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|err| {
                    ConfigError::Invalid {
                        origin: "environment (CONTACTD_SECTION__KEY variables)".to_owned(),
                        message: format!("key `{}`: {}", err.path(), err.inner()),
                    }
                })?;
        }
        config.resolve_secret_files()?;
        config.validate()?;
        Ok(config)
    }

    fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        if let Some(file) = &self.database.password_file {
            self.database.password = Some(read_secret("database.password_file", file)?);
        }
        if let Some(file) = &self.http.metrics_token_file {
            self.http.metrics_token = Some(read_secret("http.metrics_token_file", file)?);
        }
        if let Some(pbx) = &mut self.pbx {
            if let Some(file) = &pbx.password_file {
                pbx.password = Some(read_secret("pbx.password_file", file)?);
            }
        }
        if let Some(smtp) = &self.smtp {
            if let Some(file) = &smtp.password_file {
                // Checked for readability now; the mailer reads it when it builds its transport.
                read_secret("smtp.password_file", file)?;
            }
        }
        Ok(())
    }

    /// Cross-field and format checks; each error names its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.database.backend()?;
        if self.database.max_connections == 0 {
            return Err(ConfigError::key(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        self.http.listen_addr()?;
        if self.daemon.shutdown_deadline_s == 0 {
            return Err(ConfigError::key(
                "daemon.shutdown_deadline_s",
                "must be at least 1 second",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.filter).map_err(|err| {
            ConfigError::key(
                "log.filter",
                format!(
                    "invalid filter `{}`: {err} (example: `info,contactd::pbx=debug`)",
                    self.log.filter
                ),
            )
        })?;
        crate::calendar::Calendars::from_settings(&self.calendar)
            .map_err(|err| ConfigError::key("calendar", err.to_string()))?;
        self.escalation.validate().map_err(|err| match err {
            crate::escalation::EscalationConfigError::Key { key, message } => {
                ConfigError::key(&format!("escalation.{key}"), message)
            }
            other => ConfigError::key("escalation", other.to_string()),
        })?;
        if let Some(sim) = &self.pbx_simulator {
            if self.pbx.is_some() {
                return Err(ConfigError::key(
                    "pbx_simulator",
                    "remove it when [pbx] names a real PBX (the simulator is for development)",
                ));
            }
            sim.listen_addr()?;
            if !(sim.calls_per_minute > 0.0 && sim.calls_per_minute <= 6000.0) {
                return Err(ConfigError::key(
                    "pbx_simulator.calls_per_minute",
                    "must be between 0 and 6000",
                ));
            }
            if sim.operators.is_empty()
                || sim
                    .operators
                    .iter()
                    .any(|o| o.is_empty() || !o.chars().all(|c| c.is_ascii_digit()))
            {
                return Err(ConfigError::key(
                    "pbx_simulator.operators",
                    "list one or more extensions such as \"1001\"",
                ));
            }
        }
        if let Some(pbx) = &self.pbx {
            let url = Url::parse(&pbx.ari_url).map_err(|err| {
                ConfigError::key(
                    "pbx.ari_url",
                    format!(
                        "`{}` is not a URL ({err}); example: http://127.0.0.1:8088/ari",
                        pbx.ari_url
                    ),
                )
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ConfigError::key(
                    "pbx.ari_url",
                    format!("scheme `{}` is not supported; use http:// or https:// (the WebSocket URL is derived)", url.scheme()),
                ));
            }
            if pbx.username.is_empty() {
                return Err(ConfigError::key(
                    "pbx.username",
                    "must not be empty (the ARI user from ari.conf)",
                ));
            }
            if pbx.password.as_ref().is_none_or(Secret::is_empty) {
                return Err(ConfigError::key(
                    "pbx.password",
                    "missing: set pbx.password or pbx.password_file (the ARI user's password)",
                ));
            }
            if pbx.app.is_empty()
                || !pbx
                    .app
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(ConfigError::key(
                    "pbx.app",
                    "must be a non-empty name of letters, digits, - and _",
                ));
            }
        }
        if let Some(smtp) = &self.smtp {
            let url = Url::parse(smtp.url.expose()).map_err(|err| {
                ConfigError::key(
                    "smtp.url",
                    format!("not a URL ({err}); example: smtp://127.0.0.1:25"),
                )
            })?;
            if !matches!(url.scheme(), "smtp" | "smtps") {
                return Err(ConfigError::key(
                    "smtp.url",
                    format!(
                        "scheme `{}` is not supported; use smtp:// or smtps://",
                        url.scheme()
                    ),
                ));
            }
            if smtp.from.trim().is_empty() {
                return Err(ConfigError::key("smtp.from", "must not be empty"));
            }
            smtp.from.parse::<lettre::message::Mailbox>().map_err(|err| {
                ConfigError::key(
                    "smtp.from",
                    format!(
                        "`{}` is not an address ({err}); example: Контакт-центр <cc@example.gov.ua>",
                        smtp.from
                    ),
                )
            })?;
            if let Some(console) = &smtp.console_url {
                Url::parse(console).map_err(|err| {
                    ConfigError::key(
                        "smtp.console_url",
                        format!(
                            "`{console}` is not a URL ({err}); example: https://cc.example.gov.ua"
                        ),
                    )
                })?;
            }
            if smtp.give_up_after_h == 0 {
                return Err(ConfigError::key(
                    "smtp.give_up_after_h",
                    "must be at least 1 hour",
                ));
            }
            if smtp.timeout_s == 0 {
                return Err(ConfigError::key(
                    "smtp.timeout_s",
                    "must be at least 1 second",
                ));
            }
        }
        self.survey
            .params
            .validate()
            .map_err(|err| ConfigError::Invalid {
                origin: "[survey]".to_owned(),
                message: err.to_string(),
            })?;
        if self.survey.outbound_context.trim().is_empty() {
            return Err(ConfigError::key(
                "survey.outbound_context",
                "must not be empty; the dialplan context that dials the applicant, e.g. survey-out",
            ));
        }
        if self.survey.originate_timeout_s == 0 {
            return Err(ConfigError::key(
                "survey.originate_timeout_s",
                "must be at least 1 second",
            ));
        }
        if self.survey.first_draw_lookback_days == 0 {
            return Err(ConfigError::key(
                "survey.first_draw_lookback_days",
                "must be at least 1 day",
            ));
        }
        Ok(())
    }

    /// The configuration as TOML with every secret redacted, for `check-config`.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|err| format!("# cannot render the configuration: {err}\n"))
    }
}

impl DatabaseConfig {
    pub fn backend(&self) -> Result<Backend, ConfigError> {
        let url = self.url.expose();
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => {
                Url::parse(url).map_err(|err| {
                    ConfigError::key(
                        "database.url",
                        format!("`{}` is not a valid URL: {err}", self.url),
                    )
                })?;
                Ok(Backend::Postgres)
            }
            "" => Err(ConfigError::key(
                "database.url",
                format!(
                    "`{}` has no scheme; use sqlite://PATH or postgres://USER@HOST/DB",
                    self.url
                ),
            )),
            other => Err(ConfigError::key(
                "database.url",
                format!(
                    "unsupported scheme `{other}`; use sqlite://PATH or postgres://USER@HOST/DB"
                ),
            )),
        }
    }
}

impl HttpConfig {
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError::key(
                "http.listen",
                format!(
                    "`{}` is not an address:port such as 127.0.0.1:8080",
                    self.listen
                ),
            )
        })
    }
}

fn read_secret(key: &str, path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        ConfigError::key(
            key,
            format!("cannot read secret file {}: {err} (check the path and that the contactd user may read it)", path.display()),
        )
    })?;
    let value = text.trim_end_matches(['\n', '\r']).to_owned();
    if value.is_empty() {
        return Err(ConfigError::key(
            key,
            format!("secret file {} is empty", path.display()),
        ));
    }
    Ok(Secret(value))
}

fn file_error(
    err: serde_path_to_error::Error<toml::de::Error>,
    text: &str,
    path: &Path,
) -> ConfigError {
    let key = err.path().to_string();
    let inner = err.inner();
    // toml's messages may span lines; the administrator gets one line.
    let text_message = inner.message().trim().replace('\n', "; ");
    let message = if key.is_empty() || key == "." {
        text_message
    } else {
        format!("key `{key}`: {text_message}")
    };
    match inner.span() {
        Some(span) => {
            let (line, column) = line_col(text, span.start);
            ConfigError::AtLine {
                path: path.to_owned(),
                line,
                column,
                message,
            }
        }
        None => ConfigError::Invalid {
            origin: path.display().to_string(),
            message,
        },
    }
}

/// `CONTACTD_SECTION__KEY=value` pairs as (`section.key`, value).
fn env_overrides(env: &[(String, String)]) -> Vec<(String, String)> {
    env.iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("CONTACTD_")?;
            key.contains("__")
                .then(|| (key.to_ascii_lowercase().replace("__", "."), v.clone()))
        })
        .collect()
}

/// Set `a.b.c = value` in `table`; the value is read as a TOML value when it is one (numbers,
/// booleans, arrays) and as a string otherwise.
fn set_dotted(table: &mut toml::Table, key: &str, value: &str) -> Result<(), ConfigError> {
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| {
            ConfigError::key(
                key,
                format!(
                    "`{part}` is not a section, so CONTACTD_{} cannot set a key in it",
                    key.to_ascii_uppercase().replace('.', "__")
                ),
            )
        })?;
    }
    current.insert(last.to_owned(), parsed);
    Ok(())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The path `run` uses: `--config`, else `$CONTACTD_CONFIG`, else [`DEFAULT_CONFIG_PATH`].
pub fn config_path(arg: Option<PathBuf>, env: &[(String, String)]) -> PathBuf {
    arg.or_else(|| {
        env.iter()
            .find(|(k, _)| k == "CONTACTD_CONFIG")
            .map(|(_, v)| PathBuf::from(v))
    })
    .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_toml(text, Path::new("/etc/contactd/test.toml"), &env)
    }

    const MINIMAL: &str =
        "[database]\nurl = \"sqlite://var/test.db\"\n[http]\nlisten = \"127.0.0.1:8080\"\n";

    #[test]
    fn minimal_config_has_defaults() {
        let config = load(MINIMAL, &[]).unwrap();
        assert_eq!(config.database.backend().unwrap(), Backend::Sqlite);
        assert_eq!(config.log.filter, "info");
        assert_eq!(config.daemon.shutdown_deadline_s, 10);
        assert!(config.pbx.is_none());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load(&format!("{MINIMAL}\n[http2]\nx = 1\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 6") && err.contains("unknown field `http2`"),
            "{err}"
        );
        let err = load(&MINIMAL.replace("listen", "listne"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.listne"), "{err}");
    }

    #[test]
    fn syntax_error_has_line() {
        let err = load("[database]\nurl = \"sqlite://x\"\n[http\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn env_overrides_file() {
        let config = load(
            MINIMAL,
            &[
                ("CONTACTD_HTTP__LISTEN", "0.0.0.0:9000"),
                ("CONTACTD_DAEMON__SHUTDOWN_DEADLINE_S", "3"),
                ("CONTACTD_CONFIG", "/ignored.toml"),
            ],
        )
        .unwrap();
        assert_eq!(config.http.listen, "0.0.0.0:9000");
        assert_eq!(config.daemon.shutdown_deadline_s, 3);
    }

    #[test]
    fn bad_url_names_key() {
        let err = load(&MINIMAL.replace("sqlite://", "mysql://"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("database.url") && err.contains("mysql"),
            "{err}"
        );
        let err = load(&MINIMAL.replace("127.0.0.1:8080", "localhost"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.listen"), "{err}");
    }

    #[test]
    fn secrets_are_redacted() {
        let text = "[database]\nurl = \"postgres://cc:topsecret@db/cc\"\n[http]\nlisten = \"127.0.0.1:1\"\n\
                    [pbx]\nari_url = \"http://127.0.0.1:8088/ari\"\nusername = \"cc\"\npassword = \"ariPass\"\n";
        let config = load(text, &[]).unwrap();
        let shown = format!("{config:?}\n{}", config.to_redacted_toml());
        assert!(
            !shown.contains("topsecret") && !shown.contains("ariPass"),
            "{shown}"
        );
        assert_eq!(
            config.database.url.expose(),
            "postgres://cc:topsecret@db/cc"
        );
    }

    #[test]
    fn unreadable_secret_file_is_named() {
        let text = format!("{MINIMAL}[pbx]\nari_url = \"http://127.0.0.1:8088/ari\"\nusername = \"cc\"\npassword_file = \"/nonexistent/ari\"\n");
        let err = load(&text, &[]).unwrap_err().to_string();
        assert!(
            err.contains("pbx.password_file") && err.contains("/nonexistent/ari"),
            "{err}"
        );
    }

    #[test]
    fn pbx_without_password_is_rejected() {
        let text =
            format!("{MINIMAL}[pbx]\nari_url = \"http://127.0.0.1:8088/ari\"\nusername = \"cc\"\n");
        let err = load(&text, &[]).unwrap_err().to_string();
        assert!(err.contains("pbx.password"), "{err}");
    }
}
