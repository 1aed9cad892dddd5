//! The PBX link: the ARI WebSocket client (`contactd_ari::ws`) hands each frame to the consumer
//! right in its read loop: parse, translate to PBX-neutral events, fold them in the call tracker,
//! and give the resulting call events to the operator hub and the call record queue. None of it
//! waits (the hub's channels and the record queue are bounded and never block), so the read loop
//! keeps reading, and a pop-up is one task hop from the ARI frame instead of two.
//!
//! After every (re)connect the consumer reconciles the tracker with `GET /ari/channels`, since
//! Asterisk does not replay missed events. That REST call runs in a task of its own; frames that
//! arrive meanwhile are kept in order and applied after the reconciliation, so the read loop
//! never waits for it either.
//!
//! The link state is published on the daemon's `watch` channel for `/readyz` and the
//! `contactd_pbx_link_state` gauge. While reconnecting after a failure the state stays `down`
//! with the last reason (the retries are implicit), so an administrator sees why.
//!
//! Credentials never reach a log line or an error; phone numbers are logged masked.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use contactd_ari::events::DEFAULT_MAX_FRAME_LEN;
use contactd_ari::{
    parse_frame, translate, AriEvent, AriRest, CallEvent, CallTracker, ChannelSnapshot,
    Credentials, FrameError, FrameSink, WsConfig, WsMessage, WsStats,
};
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

/// Frames kept while a reconciliation runs (beyond this they are dropped and counted).
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

/// Spawns the link's tasks (the WebSocket client with the consumer in its read loop, the state
/// publisher, the stats tick, the record writer; reconciliations as they come) on `tasks`.
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

    let (records_tx, records_rx) = mpsc::channel(RECORD_QUEUE);
    let (ari_state_tx, ari_state_rx) = watch::channel(contactd_ari::LinkState::Connecting);
    let stats = Arc::new(WsStats::default());
    let consumer = Consumer::new(
        rest,
        deps.hub.clone(),
        records_tx,
        deps.metrics.clone(),
        stats.clone(),
        tasks.clone(),
        shutdown.clone(),
    );

    // The WebSocket client, with the consumer in its read loop.
    {
        let clock = deps.clock.clone();
        let shutdown = shutdown.clone();
        let link_tx = link_tx.clone();
        let metrics = deps.metrics.clone();
        let consumer = consumer.clone();
        tasks.spawn(async move {
            let now = move || clock.now();
            let result =
                contactd_ari::ws::run(ws_config, consumer, ari_state_tx, stats, &now, shutdown)
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

    // The client's counters → metrics, twice a second.
    tasks.spawn(consumer.clone().tick(shutdown.clone()));

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
/// reconciles over `config`'s ARI REST). Returns once `frames` is closed and everything it
/// brought is applied, or on `shutdown`. The daemon itself uses [`spawn`].
pub async fn consume(
    config: &PbxConfig,
    hub: Hub,
    metrics: MetricsRegistry,
    mut frames: mpsc::Receiver<WsMessage>,
    records: mpsc::Sender<CallEvent>,
    shutdown: CancellationToken,
) -> Result<(), LinkError> {
    let password = config.password.as_ref().ok_or(LinkError::NoPassword)?;
    let rest = AriRest::new(&config.ari_url, &config.username, password.expose())?;
    let stats = Arc::new(WsStats::default());
    let tasks = TaskTracker::new();
    let mut consumer = Consumer::new(
        rest,
        hub,
        records,
        metrics,
        stats.clone(),
        tasks.clone(),
        shutdown.clone(),
    );
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            msg = frames.recv() => match msg {
                Some(msg) => {
                    consumer.deliver(msg, &stats);
                }
                None => break,
            },
        }
    }
    tasks.close();
    tasks.wait().await;
    let mut core = consumer.lock();
    core.finish_deferred();
    core.sync_stats();
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

/// The consumer, a [`FrameSink`] the WebSocket read loop calls for each message. Cheap to clone:
/// the read loop, the stats tick and a running reconciliation share one [`Core`].
#[derive(Clone)]
struct Consumer {
    core: Arc<Mutex<Core>>,
    rest: AriRest,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

/// What the consumer keeps between frames. Locked only for work that never waits.
struct Core {
    tracker: CallTracker,
    hub: Hub,
    records: mpsc::Sender<CallEvent>,
    metrics: MetricsRegistry,
    stats: Arc<WsStats>,
    synced: StatsSeen,
    /// Asterisk's `startup_time` at the last connection: a change means it restarted.
    startup_time: Option<DateTime<Utc>>,
    /// While a reconciliation runs: the messages that came after its `Connected`, in order
    /// (another `Connected` among them starts the next reconciliation when it is reached).
    pending: Option<VecDeque<WsMessage>>,
    /// Call events already published to the hub whose log line, metrics and record wait until
    /// the read loop has let the operator sockets send their pop-ups (see `take_urgent`).
    deferred: Vec<CallEvent>,
}

/// Attempts at `GET /ari/channels` after a connect, and the pause between them.
const RECONCILE_ATTEMPTS: u32 = 3;
const RECONCILE_RETRY: Duration = Duration::from_millis(500);
/// Frames kept during a reconciliation applied per hold of the consumer's lock.
const RECONCILE_CHUNK: usize = 256;

impl FrameSink for Consumer {
    fn deliver(&mut self, msg: WsMessage, stats: &WsStats) -> bool {
        let mut core = self.lock();
        core.finish_deferred();
        if let Some(pending) = &mut core.pending {
            if pending.len() >= FRAME_QUEUE {
                contactd_ari::ws::count_dropped(stats);
            } else {
                pending.push_back(msg);
            }
            return true;
        }
        match msg {
            WsMessage::Frame(text) => core.frame(&text),
            WsMessage::Connected { at } => {
                core.pending = Some(VecDeque::new());
                drop(core);
                self.tasks.spawn(self.clone().reconcile(at));
            }
        }
        true
    }

    fn take_urgent(&mut self) -> bool {
        !self.lock().deferred.is_empty()
    }

    fn resume(&mut self) {
        self.lock().finish_deferred();
    }
}

impl Consumer {
    fn new(
        rest: AriRest,
        hub: Hub,
        records: mpsc::Sender<CallEvent>,
        metrics: MetricsRegistry,
        stats: Arc<WsStats>,
        tasks: TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        let core = Core {
            tracker: CallTracker::new(),
            hub,
            records,
            metrics,
            stats,
            synced: StatsSeen::default(),
            startup_time: None,
            pending: None,
            deferred: Vec::new(),
        };
        Consumer {
            core: Arc::new(Mutex::new(core)),
            rest,
            tasks,
            shutdown,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        // Every update of the core is made in steps that leave it consistent.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Copies the client's counters into the metrics twice a second until shutdown.
    async fn tick(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    let mut core = self.lock();
                    core.finish_deferred();
                    core.sync_stats();
                }
            }
        }
        self.lock().sync_stats();
    }

    /// After a (re)connect: what the PBX has now against what the tracker believes. Frames that
    /// arrive meanwhile are kept (`Core::pending`) and applied after the reconciliation, in
    /// order; a later `Connected` among them reconciles again when it is reached.
    async fn reconcile(self, mut at: DateTime<Utc>) {
        'connection: loop {
            self.lock().sync_stats();
            let before = self.lock().startup_time;
            let startup_time = self.check_restart(before).await;
            let channels = self.channels().await;
            {
                let mut core = self.lock();
                if startup_time.is_some() {
                    core.startup_time = startup_time;
                }
                if let Some(channels) = channels {
                    let snapshots: Vec<ChannelSnapshot> =
                        channels.iter().map(ChannelSnapshot::from_ari).collect();
                    let events = core.tracker.reconcile(&snapshots, at);
                    tracing::info!(
                        channels = snapshots.len(),
                        call_events = events.len(),
                        "reconciled with the PBX's current channels"
                    );
                    core.dispatch(events);
                }
            }
            // The frames that came meanwhile, up to the next connection's `Connected`; a few
            // hundred per lock, so the read loop (which keeps them coming) never waits long.
            loop {
                {
                    let mut core = self.lock();
                    for _ in 0..RECONCILE_CHUNK {
                        match core.pending.as_mut().and_then(VecDeque::pop_front) {
                            Some(WsMessage::Frame(text)) => core.frame(&text),
                            Some(WsMessage::Connected { at: next }) => {
                                at = next;
                                continue 'connection;
                            }
                            None => {
                                core.pending = None;
                                core.finish_deferred();
                                return;
                            }
                        }
                    }
                    core.finish_deferred();
                }
                tokio::task::yield_now().await;
            }
        }
    }

    /// `GET /ari/channels`, tried [`RECONCILE_ATTEMPTS`] times; `None` when it cannot be read.
    async fn channels(&self) -> Option<Vec<contactd_ari::models::Channel>> {
        let mut attempt = 1;
        loop {
            match self.rest.channels().await {
                Ok(channels) => return Some(channels),
                Err(err) if attempt < RECONCILE_ATTEMPTS => {
                    tracing::debug!(error = %err, attempt, "GET /ari/channels failed; retrying");
                }
                Err(err) => {
                    self.lock().metrics.metrics.pbx_reconcile_failures.inc();
                    tracing::warn!(
                        error = %err,
                        "cannot read the PBX's channels after connecting; calls that changed \
                         while the link was down may show late"
                    );
                    return None;
                }
            }
            attempt += 1;
            tokio::select! {
                () = self.shutdown.cancelled() => return None,
                () = tokio::time::sleep(RECONCILE_RETRY) => {}
            }
        }
    }

    /// Logs whether Asterisk restarted since the last connection (it then hung up every call;
    /// reconciliation ends them) or the link only blinked. Returns the current `startup_time`.
    async fn check_restart(&self, before: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        match self.rest.asterisk_info().await {
            Ok(info) => {
                let now = info.startup_time();
                match (before, now) {
                    (Some(before), Some(after)) if before != after => tracing::warn!(
                        %before, %after,
                        "Asterisk restarted while the link was down; its calls were hung up"
                    ),
                    (None, Some(after)) => tracing::info!(startup_time = %after, "Asterisk is up"),
                    _ => {}
                }
                now
            }
            Err(err) => {
                tracing::debug!(error = %err, "GET /ari/asterisk/info failed");
                None
            }
        }
    }
}

impl Core {
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
                    self.hub.prefetch(&channel.caller_number);
                }
            }
            out.extend(self.tracker.apply(&pbx_event));
        }
        if !out.is_empty() {
            self.dispatch(out);
        }
    }

    /// Call events to the hub first (an operator is waiting for them; never waits), then the
    /// log, the metrics and the record queue (dropped and counted when full, so the event path
    /// never waits on the database). When a phone started ringing, that second part waits in
    /// `deferred` until the read loop has yielded to the operator sockets (`take_urgent`,
    /// `resume`), or until the next message, whichever comes first.
    fn dispatch(&mut self, events: Vec<CallEvent>) {
        for event in &events {
            self.hub.publish(event);
        }
        let ringing = events
            .iter()
            .any(|e| matches!(e, CallEvent::Ringing { .. }));
        self.deferred.extend(events);
        if !ringing {
            self.finish_deferred();
        }
    }

    /// The log lines, metrics and records of the published events.
    fn finish_deferred(&mut self) {
        if self.deferred.is_empty() {
            return;
        }
        for event in std::mem::take(&mut self.deferred) {
            log_event(&self.hub, &event);
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

fn log_event(hub: &Hub, event: &CallEvent) {
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
            caller = %hub.caller(caller_number_raw).masked(),
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
            caller = %hub.caller(caller_number_raw).masked(),
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
