//! The PBX link task: the ARI WebSocket client (`contactd_ari::ws`) feeds a bounded queue; one
//! consumer parses each frame, translates it to PBX-neutral events and folds them in the call
//! tracker; the resulting call events go to the operator hub (never waits) and to the call
//! record writer (a bounded queue of its own). After every (re)connect the consumer reconciles
//! the tracker with `GET /ari/channels`, since Asterisk does not replay missed events.
//!
//! The link state is published on the daemon's `watch` channel for `/readyz` and the
//! `contactd_pbx_link_state` gauge. While reconnecting after a failure the state stays `down`
//! with the last reason (the retries are implicit), so an administrator sees why.
//!
//! Credentials never reach a log line or an error; phone numbers are logged masked.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use contactd_ari::events::DEFAULT_MAX_FRAME_LEN;
use contactd_ari::{
    parse_frame, translate, AriEvent, AriRest, CallEvent, CallTracker, ChannelSnapshot,
    Credentials, FrameError, WsConfig, WsMessage, WsStats,
};
use contactd_domain::CallerNumber;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::records::{self, outcome_str, RECORD_QUEUE};
use super::LinkState;
use crate::clock::SharedClock;
use crate::config::PbxConfig;
use crate::hub::Hub;
use crate::metrics::{CallEventLabels, FrameLabels, MetricsRegistry};
use crate::storage::Storage;

/// Frames buffered between the WebSocket read loop and the consumer.
pub const FRAME_QUEUE: usize = 8192;

/// A `[pbx]` section that cannot be turned into a link.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("pbx.password is missing: set pbx.password or pbx.password_file")]
    NoPassword,
    #[error("cannot set up the ARI REST client: {0}")]
    Rest(#[from] contactd_ari::RestError),
}

/// What the link needs from the daemon.
#[derive(Clone)]
pub struct LinkDeps {
    pub storage: Storage,
    pub clock: SharedClock,
    pub metrics: MetricsRegistry,
    pub hub: Hub,
}

/// Spawns the link's tasks (`pbx-ws`, `pbx-state`, `pbx-events`, `pbx-records`) on `tasks`.
pub fn spawn(
    tasks: &TaskTracker,
    config: &PbxConfig,
    deps: LinkDeps,
    link_tx: watch::Sender<LinkState>,
    shutdown: CancellationToken,
) -> Result<(), LinkError> {
    let password = config.password.as_ref().ok_or(LinkError::NoPassword)?;
    let rest = AriRest::new(&config.ari_url, &config.username, password.expose())?;
    let credentials = Credentials::new(config.username.clone(), password.expose().to_owned());
    let ws_config = WsConfig::new(&config.ari_url, &config.app, credentials);

    let (frames_tx, frames_rx) = mpsc::channel(FRAME_QUEUE);
    let (records_tx, records_rx) = mpsc::channel(RECORD_QUEUE);
    let (ari_state_tx, ari_state_rx) = watch::channel(contactd_ari::LinkState::Connecting);
    let stats = Arc::new(WsStats::default());

    // The WebSocket client.
    {
        let clock = deps.clock.clone();
        let stats = stats.clone();
        let shutdown = shutdown.clone();
        let link_tx = link_tx.clone();
        let metrics = deps.metrics.clone();
        tasks.spawn(async move {
            let now = move || clock.now();
            let result =
                contactd_ari::ws::run(ws_config, frames_tx, ari_state_tx, stats, &now, shutdown)
                    .await;
            if let Err(err) = result {
                tracing::error!(error = %err, "the PBX link cannot start; fix [pbx] and restart");
                let state = LinkState::Down {
                    since: now(),
                    reason: err.to_string(),
                };
                metrics.metrics.pbx_link_state.set(state.gauge());
                link_tx.send_replace(state);
            }
        });
    }

    // Link state: the client's state → the daemon's watch channel and gauge.
    {
        let clock = deps.clock.clone();
        let metrics = deps.metrics.clone();
        tasks.spawn(publish_state(ari_state_rx, link_tx, clock, metrics));
    }

    // The consumer: frames → tracker → hub + record queue.
    {
        let consumer = Consumer::new(
            rest,
            deps.hub.clone(),
            records_tx,
            deps.metrics.clone(),
            stats,
        );
        tasks.spawn(consumer.run(frames_rx, shutdown.clone()));
    }

    // The record writer.
    tasks.spawn(records::run_writer(
        deps.storage,
        deps.clock,
        deps.metrics,
        records_rx,
        shutdown,
    ));
    Ok(())
}

/// The link's consumer alone, without the WebSocket client, for benchmarks and tools that bring
/// their own frames: every message from `frames` is handled exactly as in the running link
/// (parse, translate, call tracker, metrics, call events to `hub` and to `records`; `Connected`
/// reconciles over `config`'s ARI REST). Returns once `frames` is closed and drained, or on
/// `shutdown`. The daemon itself uses [`spawn`].
pub async fn consume(
    config: &PbxConfig,
    hub: Hub,
    metrics: MetricsRegistry,
    frames: mpsc::Receiver<WsMessage>,
    records: mpsc::Sender<CallEvent>,
    shutdown: CancellationToken,
) -> Result<(), LinkError> {
    let password = config.password.as_ref().ok_or(LinkError::NoPassword)?;
    let rest = AriRest::new(&config.ari_url, &config.username, password.expose())?;
    let stats = Arc::new(WsStats::default());
    Consumer::new(rest, hub, records, metrics, stats)
        .run(frames, shutdown)
        .await;
    Ok(())
}

/// Maps the ARI client's state onto the daemon's. A `Connecting` that follows a `Down` (a
/// retry) keeps showing the `Down` and its reason.
async fn publish_state(
    mut ari: watch::Receiver<contactd_ari::LinkState>,
    link_tx: watch::Sender<LinkState>,
    clock: SharedClock,
    metrics: MetricsRegistry,
) {
    loop {
        let next = ari.borrow_and_update().clone();
        let current = link_tx.borrow().clone();
        let mapped = match next {
            contactd_ari::LinkState::Connecting => match current {
                LinkState::Down { .. } | LinkState::Connecting { .. } => None,
                _ => Some(LinkState::Connecting { since: clock.now() }),
            },
            contactd_ari::LinkState::Up { since } => Some(LinkState::Up { since }),
            contactd_ari::LinkState::Down { since, reason } => {
                match &current {
                    // A retry that fails the same way keeps the first `since`.
                    LinkState::Down { reason: r, .. } if *r == reason => None,
                    _ => Some(LinkState::Down { since, reason }),
                }
            }
        };
        if let Some(state) = mapped {
            metrics.metrics.pbx_link_state.set(state.gauge());
            link_tx.send_replace(state);
        }
        if ari.changed().await.is_err() {
            break;
        }
    }
}

/// The last values of the client's counters copied into the metrics.
#[derive(Default)]
struct StatsSeen {
    dropped: u64,
    oversized: u64,
    binary: u64,
    connects: u64,
    connect_failures: u64,
}

struct Consumer {
    tracker: CallTracker,
    rest: AriRest,
    hub: Hub,
    records: mpsc::Sender<CallEvent>,
    metrics: MetricsRegistry,
    stats: Arc<WsStats>,
    synced: StatsSeen,
    /// Asterisk's `startup_time` at the last connection: a change means it restarted.
    startup_time: Option<DateTime<Utc>>,
}

/// Attempts at `GET /ari/channels` after a connect, and the pause between them.
const RECONCILE_ATTEMPTS: u32 = 3;
const RECONCILE_RETRY: Duration = Duration::from_millis(500);

impl Consumer {
    fn new(
        rest: AriRest,
        hub: Hub,
        records: mpsc::Sender<CallEvent>,
        metrics: MetricsRegistry,
        stats: Arc<WsStats>,
    ) -> Self {
        Consumer {
            tracker: CallTracker::new(),
            rest,
            hub,
            records,
            metrics,
            stats,
            synced: StatsSeen::default(),
            startup_time: None,
        }
    }

    async fn run(mut self, mut frames: mpsc::Receiver<WsMessage>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => self.sync_stats(),
                msg = frames.recv() => match msg {
                    None => break,
                    Some(WsMessage::Connected { at }) => self.reconcile(at, &shutdown).await,
                    Some(WsMessage::Frame(text)) => self.frame(&text),
                }
            }
        }
        self.sync_stats();
    }

    /// Copies the WebSocket client's counters (frames it skipped itself) into the metrics.
    fn sync_stats(&mut self) {
        let frames = &self.metrics.metrics.ari_frames;
        let sync = |seen: &mut u64, now: u64, result: &'static str| {
            if now > *seen {
                frames
                    .get_or_create(&FrameLabels { result })
                    .inc_by(now - *seen);
                *seen = now;
            }
        };
        sync(
            &mut self.synced.dropped,
            self.stats.dropped.load(Ordering::Relaxed),
            "dropped",
        );
        sync(
            &mut self.synced.oversized,
            self.stats.oversized.load(Ordering::Relaxed),
            "oversized",
        );
        sync(
            &mut self.synced.binary,
            self.stats.binary.load(Ordering::Relaxed),
            "binary",
        );
        let connects = self.stats.connects.load(Ordering::Relaxed);
        if connects > self.synced.connects {
            self.metrics
                .metrics
                .pbx_connects
                .inc_by(connects - self.synced.connects);
            self.synced.connects = connects;
        }
        let failures = self.stats.connect_failures.load(Ordering::Relaxed);
        if failures > self.synced.connect_failures {
            self.metrics
                .metrics
                .pbx_connect_failures
                .inc_by(failures - self.synced.connect_failures);
            self.synced.connect_failures = failures;
        }
    }

    fn count(&self, result: &'static str) {
        self.metrics
            .metrics
            .ari_frames
            .get_or_create(&FrameLabels { result })
            .inc();
    }

    /// After a (re)connect: what the PBX has now against what the tracker believes. Frames of
    /// the new connection wait in the queue meanwhile, so they apply after the reconciliation.
    async fn reconcile(&mut self, at: DateTime<Utc>, shutdown: &CancellationToken) {
        self.sync_stats();
        self.check_restart().await;
        let mut attempt = 1;
        let channels = loop {
            match self.rest.channels().await {
                Ok(channels) => break channels,
                Err(err) if attempt < RECONCILE_ATTEMPTS => {
                    tracing::debug!(error = %err, attempt, "GET /ari/channels failed; retrying");
                }
                Err(err) => {
                    self.metrics.metrics.pbx_reconcile_failures.inc();
                    tracing::warn!(
                        error = %err,
                        "cannot read the PBX's channels after connecting; calls that changed \
                         while the link was down may show late"
                    );
                    return;
                }
            }
            attempt += 1;
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RECONCILE_RETRY) => {}
            }
        };
        let snapshots: Vec<ChannelSnapshot> =
            channels.iter().map(ChannelSnapshot::from_ari).collect();
        let events = self.tracker.reconcile(&snapshots, at);
        tracing::info!(
            channels = snapshots.len(),
            call_events = events.len(),
            "reconciled with the PBX's current channels"
        );
        self.dispatch(events);
    }

    /// Logs whether Asterisk restarted since the last connection (it then hung up every call;
    /// reconciliation ends them) or the link only blinked.
    async fn check_restart(&mut self) {
        match self.rest.asterisk_info().await {
            Ok(info) => {
                let now = info.startup_time();
                match (self.startup_time, now) {
                    (Some(before), Some(after)) if before != after => tracing::warn!(
                        %before, %after,
                        "Asterisk restarted while the link was down; its calls were hung up"
                    ),
                    (None, Some(after)) => tracing::info!(startup_time = %after, "Asterisk is up"),
                    _ => {}
                }
                if now.is_some() {
                    self.startup_time = now;
                }
            }
            Err(err) => tracing::debug!(error = %err, "GET /ari/asterisk/info failed"),
        }
    }

    fn frame(&mut self, text: &str) {
        let event = match parse_frame(text, DEFAULT_MAX_FRAME_LEN) {
            Ok(AriEvent::Unknown { event_type, .. }) => {
                self.count("unknown");
                tracing::debug!(%event_type, "ARI event type not modelled; ignored");
                return;
            }
            Ok(event) => {
                self.count("ok");
                event
            }
            Err(err) => {
                let result = match err {
                    FrameError::Oversized { .. } => "oversized",
                    _ => "malformed",
                };
                self.count(result);
                // The frame itself is never logged: it carries phone numbers.
                tracing::warn!(error = %mask_digits(&err.to_string()), "ARI frame dropped");
                return;
            }
        };
        let mut out = Vec::new();
        for pbx_event in translate(&event) {
            // A caller's channel (not an operator's phone): look their history up now, before
            // any phone rings.
            if let contactd_ari::PbxEvent::ChannelCreated { channel, .. } = &pbx_event {
                if channel.extension.is_none() && !channel.caller_number.is_empty() {
                    self.hub
                        .prefetch(&CallerNumber::from_pbx(&channel.caller_number));
                }
            }
            out.extend(self.tracker.apply(&pbx_event));
        }
        if !out.is_empty() {
            self.dispatch(out);
        }
    }

    /// Call events to the hub (never waits) and to the record queue (dropped and counted when
    /// full, so the event path never waits on the database).
    fn dispatch(&mut self, events: Vec<CallEvent>) {
        for event in events {
            log_event(&event);
            let kind = match event {
                CallEvent::Ringing { .. } => "ringing",
                CallEvent::Answered { .. } => "answered",
                CallEvent::Ended { .. } => "ended",
                CallEvent::Unreached { .. } => "unreached",
                CallEvent::Finished { .. } => "finished",
            };
            self.metrics
                .metrics
                .call_events
                .get_or_create(&CallEventLabels { kind })
                .inc();
            self.hub.publish(&event);
            if let Err(err) = self.records.try_send(event) {
                self.metrics.metrics.call_records_failed.inc();
                tracing::error!(
                    reason = match err {
                        mpsc::error::TrySendError::Full(_) => "the record queue is full",
                        mpsc::error::TrySendError::Closed(_) => "the record writer has stopped",
                    },
                    "call record dropped (the database is too slow or down)"
                );
            }
        }
        let active = i64::try_from(self.tracker.active_calls()).unwrap_or(i64::MAX);
        self.metrics.metrics.calls_active.set(active);
    }
}

fn log_event(event: &CallEvent) {
    match event {
        CallEvent::Ringing {
            call_id,
            caller_number_raw,
            operator_extension,
            direction,
            ..
        } => tracing::info!(
            call_id,
            extension = %operator_extension,
            caller = %CallerNumber::from_pbx(caller_number_raw).masked(),
            ?direction,
            "call ringing"
        ),
        CallEvent::Answered {
            call_id,
            answered_by,
            ..
        } => tracing::info!(call_id, extension = %answered_by, "call answered"),
        CallEvent::Ended {
            call_id,
            operator_extension,
            outcome,
            duration_s,
            reconciled,
            ..
        } => tracing::info!(
            call_id,
            extension = %operator_extension,
            outcome = outcome_str(*outcome),
            duration_s,
            reconciled,
            "call ended"
        ),
        CallEvent::Unreached {
            call_id,
            caller_number_raw,
            operator_extension,
            direction,
            outcome,
            reconciled,
            ..
        } => tracing::info!(
            call_id,
            extension = %operator_extension,
            caller = %CallerNumber::from_pbx(caller_number_raw).masked(),
            ?direction,
            outcome = outcome_str(*outcome),
            reconciled,
            "operator phone never rang"
        ),
        CallEvent::Finished {
            call_id,
            outcome,
            reconciled,
            ..
        } => tracing::info!(
            call_id,
            outcome = outcome_str(*outcome),
            reconciled,
            "call finished"
        ),
    }
}

/// Masks runs of five or more digits (phone numbers a parser error may quote).
fn mask_digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 5 {
            out.push_str(&run[..2]);
            out.extend(std::iter::repeat_n('*', run.len() - 2));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_masked() {
        assert_eq!(
            mask_digits("invalid type: string \"0671234567\", line 1 column 12"),
            "invalid type: string \"06********\", line 1 column 12"
        );
    }
}
