//! contactd-pbx-sim: a stand-alone fake Asterisk 22 ARI server (WebSocket events + REST).
//!
//! It plays calls in Asterisk's exact frame format, compiled from real captures, so that the
//! daemon's PBX link, call tracking and benchmarks can run without an Asterisk. See README.md.
//!
//! ```no_run
//! # async fn demo() -> Result<(), contactd_pbx_sim::SimError> {
//! use contactd_pbx_sim::{CallKind, CallSpec, Sim, SimConfig};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(contactd_pbx_sim::SimError::Io)?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let sim = Sim::bind(listener, SimConfig::new(contactd_pbx_sim::system_clock()), shutdown.clone())?;
//! let ids = sim.play(&CallSpec::new(CallKind::Answered))?;
//! println!("caller leg {}", ids.channel_ids[0]);
//! shutdown.cancel();
//! sim.join().await;
//! # Ok(()) }
//! ```

mod catalog;
mod json;
mod server;
mod sim;
mod spec;
mod template;
mod traffic;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use sim::{
    ActiveChannel, CallIds, ClientInfo, OriginateRequest, Outage, Replay, Sim, SimHandle, SimStats,
};
pub use spec::{CallKind, CallSpec, Scenario, ScheduledCall, TrafficConfig};
pub use template::{ari_time, ARI_TIME_FORMAT};
pub use traffic::TrafficReport;

/// The wall clock, injected so tests control time.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// A frame that a client's socket task is about to write, as shown to [`SimConfig::frame_hook`].
#[derive(Debug, Clone, Copy)]
pub struct FrameOut<'a> {
    /// The client ([`ClientInfo::id`]).
    pub client: u64,
    /// The frame, exactly as it goes on the wire.
    pub text: &'a str,
}

/// Observer of outgoing frames (see [`SimConfig::frame_hook`]).
pub type FrameHook = Arc<dyn Fn(FrameOut<'_>) + Send + Sync>;

/// The system clock, for the `pbx-sim` subcommand. Tests pass their own clock.
#[allow(clippy::disallowed_methods)] // the one place the sim reads the wall clock; binaries only
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// How the survey call placed by `POST /ari/channels` plays out (always answered, as captured).
#[derive(Debug, Clone, PartialEq)]
pub struct OriginatePlan {
    /// The operator's phone rings this long before answering.
    pub operator_ring: Duration,
    /// The applicant's phone rings this long.
    pub applicant_ring: Duration,
    /// Then they talk this long and the applicant hangs up.
    pub talk: Duration,
}

impl Default for OriginatePlan {
    fn default() -> Self {
        OriginatePlan {
            operator_ring: Duration::from_secs(2),
            applicant_ring: Duration::from_secs(2),
            talk: Duration::from_secs(4),
        }
    }
}

/// Configuration of one simulated Asterisk.
#[derive(Clone)]
pub struct SimConfig {
    /// ARI user (`ari.conf` `[cc]`).
    pub username: String,
    /// ARI password; never logged, redacted in `Debug`.
    pub password: String,
    /// The Stasis application name written in every frame's `application` field when the client
    /// subscribed with this name (a client subscribing with another name gets its own).
    pub app: String,
    /// `asterisk_id` of frames and `system.entity_id` of `GET /ari/asterisk/info`.
    pub asterisk_id: String,
    /// Wall clock for timestamps, channel ids and `startup_time`.
    pub clock: Clock,
    /// Frames queued per WebSocket client before it is dropped as too slow.
    pub client_queue_frames: usize,
    /// Like Asterisk's `websocket_write_timeout` (http.conf, default 100 ms): a client whose
    /// socket does not take a frame within this time is disconnected.
    pub websocket_write_timeout: Duration,
    /// Playback speed-up for calls started with `play` (scenarios and replays carry their own).
    pub speed: f64,
    /// How originated survey calls play out.
    pub originate: OriginatePlan,
    /// Seed for SIP call ids and bridge ids.
    pub seed: u64,
    /// Called with every frame just before a client's socket task writes it, in write order,
    /// on that task: a benchmark reads its clock here to time the path from "Asterisk wrote the
    /// frame" to whatever the client does with it. It delays the frame it is shown, so it must
    /// be quick. `None` (the default) costs nothing.
    pub frame_hook: Option<FrameHook>,
}

impl SimConfig {
    /// Defaults matching the captures' `ari.conf`: user `cc`, password `ccpass`, app `contactd`.
    pub fn new(clock: Clock) -> SimConfig {
        SimConfig {
            username: "cc".into(),
            password: "ccpass".into(),
            app: "contactd".into(),
            asterisk_id: "02:fc:00:00:00:01".into(),
            clock,
            client_queue_frames: 8192,
            websocket_write_timeout: Duration::from_millis(100),
            speed: 1.0,
            originate: OriginatePlan::default(),
            seed: 0x5eed,
            frame_hook: None,
        }
    }

    fn validate(&self) -> Result<(), SimError> {
        if self.username.is_empty() || self.username.contains(':') {
            return Err(SimError::Config(
                "`username` must be non-empty and must not contain ':'".into(),
            ));
        }
        if self.client_queue_frames == 0 {
            return Err(SimError::Config(
                "`client_queue_frames` must be at least 1".into(),
            ));
        }
        if !(self.speed > 0.0 && self.speed.is_finite()) {
            return Err(SimError::Config(format!(
                "`speed` must be a positive number, got {}",
                self.speed
            )));
        }
        Ok(())
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("app", &self.app)
            .field("asterisk_id", &self.asterisk_id)
            .field("client_queue_frames", &self.client_queue_frames)
            .field("websocket_write_timeout", &self.websocket_write_timeout)
            .field("speed", &self.speed)
            .field("originate", &self.originate)
            .field("seed", &self.seed)
            .field("frame_hook", &self.frame_hook.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid pbx-sim configuration: {0}")]
    Config(String),
    #[error("invalid call: {0}")]
    InvalidCall(String),
    #[error("invalid traffic settings: {0}")]
    InvalidTraffic(String),
    #[error("invalid scenario file: {0} (see crates/contactd-pbx-sim/README.md for the format)")]
    Scenario(String),
    #[error("cannot read {path}: {source}; check the path and its permissions")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the replay file has no JSON frames; pass a .jsonl capture with one ARI frame per line"
    )]
    EmptyReplay,
    #[error("embedded capture is damaged ({0}); this is a bug in contactd-pbx-sim")]
    Embedded(String),
    #[error("the simulator has shut down; start a new one")]
    ShutDown,
    #[error("socket error: {0}; is the listen address free and valid?")]
    Io(#[source] std::io::Error),
}
