//! The simulated Asterisk: shared state, call playback, and the `SimHandle` that tests drive.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog::Catalog;
use crate::json::Json;
use crate::spec::{CallKind, CallSpec, Scenario, TrafficConfig};
use crate::template::{self, ari_time, Cast, Effect, Endpoint, RenderedFrame, Template};
use crate::traffic::TrafficReport;
use crate::{SimConfig, SimError};

/// Entry point: `Sim::bind(listener, config, shutdown)`.
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// Starts serving ARI on an already-bound listener (bind port 0 in tests). Everything stops
    /// when `shutdown` is cancelled; await `SimHandle::join` to know when it has.
    pub fn bind(
        listener: TcpListener,
        config: SimConfig,
        shutdown: CancellationToken,
    ) -> Result<SimHandle, SimError> {
        config.validate()?;
        let addr = listener.local_addr().map_err(SimError::Io)?;
        let catalog = Catalog::load()?;
        let startup = (config.clock)();
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        let shared = Arc::new(Shared {
            catalog,
            clients: Mutex::new(Vec::new()),
            channels: Mutex::new(Channels::default()),
            originates: Mutex::new(Vec::new()),
            channel_seq: AtomicU64::new(0),
            client_seq: AtomicU64::new(0),
            startup: Mutex::new(startup),
            outage: Mutex::new(OutageState::default()),
            outage_changed: Notify::new(),
            rest_delay: Mutex::new(Duration::ZERO),
            epoch: Mutex::new(shutdown.child_token()),
            rng: Mutex::new(rng),
            playing: AtomicUsize::new(0),
            idle: Notify::new(),
            stats: Counters::default(),
            tracker: TaskTracker::new(),
            shutdown,
            config,
        });
        let handle = SimHandle {
            shared: shared.clone(),
            addr,
        };
        crate::server::spawn(shared, listener, addr);
        tracing::info!(%addr, "pbx-sim: fake Asterisk ARI listening");
        Ok(handle)
    }
}

/// Channel ids of a call, in creation order (the caller's trunk leg first for inbound calls).
#[derive(Debug, Clone, PartialEq)]
pub struct CallIds {
    pub channel_ids: Vec<String>,
    pub channel_names: Vec<String>,
    pub bridge_ids: Vec<String>,
    /// Frames the call will send.
    pub frames: usize,
}

/// A channel the PBX currently has.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveChannel {
    pub id: String,
    pub name: String,
    pub state: String,
    /// The channel exactly as `GET /ari/channels` shows it.
    pub json: String,
}

/// A WebSocket client currently connected.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientInfo {
    pub id: u64,
    pub app: String,
    pub subscribe_all: bool,
    pub user: String,
}

/// A `POST /ari/channels` the sim received.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginateRequest {
    /// Query parameters in request order (`endpoint`, `extension`, `context`, …).
    pub query: Vec<(String, String)>,
    /// The request body, if any (ARI accepts `{"variables": {...}}`).
    pub body: Option<String>,
    pub user: String,
    /// The operator leg's channel id returned to the client.
    pub channel_id: String,
}

impl OriginateRequest {
    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What an outage looks like to clients after their sockets are cut.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Outage {
    /// The port is closed (connection refused) this long …
    pub refuse_for: Duration,
    /// … then HTTP answers 503 this long, then service resumes.
    pub unavailable_for: Duration,
}

impl Outage {
    /// Just cut the sockets; reconnects succeed at once (a network blip).
    pub fn none() -> Outage {
        Outage::default()
    }
}

/// Counters for benchmarks and tests.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SimStats {
    pub calls_started: u64,
    pub frames_played: u64,
    pub frames_queued: u64,
    pub clients_dropped_slow: u64,
}

#[derive(Debug, Default)]
struct Counters {
    calls_started: AtomicU64,
    frames_played: AtomicU64,
    frames_queued: AtomicU64,
    clients_dropped_slow: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct OutageState {
    pub refuse_until: Option<Instant>,
    pub unavailable_until: Option<Instant>,
}

pub(crate) struct Client {
    pub info: ClientInfo,
    pub tx: mpsc::Sender<Utf8Bytes>,
    /// Cut now, dropping queued frames (network failure, slow client).
    pub kill: CancellationToken,
    /// Cut once the queued frames are written (Asterisk shutting down after its hangups).
    pub drain: CancellationToken,
}

/// The signals a client's socket task obeys.
pub(crate) struct ClientSignals {
    pub rx: mpsc::Receiver<Utf8Bytes>,
    pub kill: CancellationToken,
    pub drain: CancellationToken,
}

#[derive(Debug, Default)]
struct Channels {
    /// Creation order → (id, snapshot JSON).
    by_order: BTreeMap<u64, (String, String)>,
    order_of: HashMap<String, u64>,
    next: u64,
}

pub(crate) struct Shared {
    pub config: SimConfig,
    pub catalog: Catalog,
    pub clients: Mutex<Vec<Client>>,
    channels: Mutex<Channels>,
    originates: Mutex<Vec<OriginateRequest>>,
    channel_seq: AtomicU64,
    pub client_seq: AtomicU64,
    startup: Mutex<DateTime<Utc>>,
    pub outage: Mutex<OutageState>,
    pub outage_changed: Notify,
    /// How long REST answers wait (`GET /ari/asterisk/info`, `GET /ari/channels`).
    pub rest_delay: Mutex<Duration>,
    epoch: Mutex<CancellationToken>,
    rng: Mutex<ChaCha8Rng>,
    playing: AtomicUsize,
    idle: Notify,
    stats: Counters,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the state stays usable:
/// every critical section leaves it consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        (self.config.clock)()
    }

    pub(crate) fn startup_time(&self) -> DateTime<Utc> {
        *lock(&self.startup)
    }

    fn uuid(&self) -> String {
        let mut rng = lock(&self.rng);
        let a: u32 = rng.gen();
        let b: u16 = rng.gen();
        let c: u16 = (rng.gen::<u16>() & 0x0fff) | 0x4000;
        let d: u16 = (rng.gen::<u16>() & 0x3fff) | 0x8000;
        let e: u64 = rng.gen::<u64>() & 0xffff_ffff_ffff;
        format!("{a:08x}-{b:04x}-{c:04x}-{d:04x}-{e:012x}")
    }

    fn sipp_call_id(&self) -> String {
        let n: u32 = lock(&self.rng).gen_range(1000..100_000);
        format!("1-{n}@127.0.0.1")
    }

    /// Fills a template's holes for one call: fresh channel ids, names, call ids, bridge ids.
    #[allow(clippy::too_many_arguments)]
    fn cast(
        &self,
        tpl: &Template,
        caller: &str,
        caller_name: &str,
        dialed: &str,
        operators: Vec<String>,
        applicant: &str,
        dial_timeout: String,
        gaps_ms: Vec<i64>,
        speed: f64,
    ) -> Cast {
        let start = self.now();
        let mut cast = Cast {
            leg_ids: Vec::new(),
            leg_names: Vec::new(),
            leg_protos: Vec::new(),
            bridges: (0..tpl.bridges).map(|_| self.uuid()).collect(),
            caller: caller.into(),
            caller_name: caller_name.into(),
            dialed: dialed.into(),
            operators,
            applicant: applicant.into(),
            dial_timeout,
            asterisk_id: self.config.asterisk_id.clone(),
            app: self.config.app.clone(),
            start,
            gaps_ms,
            speed,
        };
        for (i, leg) in tpl.legs.iter().enumerate() {
            let seq = self.channel_seq.fetch_add(1, Ordering::Relaxed);
            let created =
                start + ChronoDuration::milliseconds(tpl.leg_created_ms(i, &cast.gaps_ms, speed));
            let endpoint = match &leg.endpoint {
                Endpoint::Literal(e) => e.clone(),
                Endpoint::Operator(k) => cast.operators.get(*k).cloned().unwrap_or_default(),
            };
            cast.leg_ids.push(format!("{}.{seq}", created.timestamp()));
            cast.leg_names
                .push(format!("{}/{endpoint}-{:08x}", leg.tech, seq & 0xffff_ffff));
            cast.leg_protos.push(if leg.sipp_call_id {
                self.sipp_call_id()
            } else {
                self.uuid()
            });
        }
        cast
    }

    fn ids(cast: &Cast, frames: usize) -> CallIds {
        CallIds {
            channel_ids: cast.leg_ids.clone(),
            channel_names: cast.leg_names.clone(),
            bridge_ids: cast.bridges.clone(),
            frames,
        }
    }

    /// Plays rendered frames on their schedule, in a task that stops at restart or shutdown.
    fn spawn_frames(self: &Arc<Self>, frames: Vec<RenderedFrame>) {
        let epoch = lock(&self.epoch).clone();
        self.playing.fetch_add(1, Ordering::SeqCst);
        self.stats.calls_started.fetch_add(1, Ordering::Relaxed);
        let shared = self.clone();
        self.tracker.spawn(async move {
            let t0 = Instant::now();
            for f in frames {
                let due = t0 + Duration::from_millis(u64::try_from(f.at_ms).unwrap_or(0));
                if due > Instant::now() {
                    tokio::select! {
                        () = tokio::time::sleep_until(due) => {}
                        () = epoch.cancelled() => break,
                    }
                } else if epoch.is_cancelled() {
                    break;
                }
                shared.apply(&f.effects);
                shared.broadcast(f.text, true);
            }
            if shared.playing.fetch_sub(1, Ordering::SeqCst) == 1 {
                shared.idle.notify_waiters();
            }
        });
    }

    fn apply(&self, effects: &[Effect]) {
        if effects.is_empty() {
            return;
        }
        let mut ch = lock(&self.channels);
        for e in effects {
            match e {
                Effect::Create { id, snapshot } => {
                    let order = ch.next;
                    ch.next += 1;
                    if let Some(old) = ch.order_of.insert(id.clone(), order) {
                        ch.by_order.remove(&old);
                    }
                    ch.by_order.insert(order, (id.clone(), snapshot.clone()));
                }
                Effect::Update { id, snapshot } => {
                    if let Some(&order) = ch.order_of.get(id) {
                        ch.by_order.insert(order, (id.clone(), snapshot.clone()));
                    }
                }
                Effect::Destroy { id } => {
                    if let Some(order) = ch.order_of.remove(id) {
                        ch.by_order.remove(&order);
                    }
                }
            }
        }
    }

    /// Sends a frame to every client; a client whose queue is full is dropped (too slow).
    /// `stasis_only`: ARI delivers channel events only to `subscribeAll=true` clients here,
    /// because no channel of the dialplan enters a Stasis application.
    pub(crate) fn broadcast(&self, text: String, stasis_only: bool) {
        self.stats.frames_played.fetch_add(1, Ordering::Relaxed);
        let own_app = format!("\"application\":\"{}\"", escape(&self.config.app));
        let bytes = Utf8Bytes::from(text);
        let mut clients = lock(&self.clients);
        clients.retain(|c| {
            if stasis_only && !c.info.subscribe_all {
                return true;
            }
            let frame = if c.info.app == self.config.app {
                bytes.clone()
            } else {
                let theirs = format!("\"application\":\"{}\"", escape(&c.info.app));
                Utf8Bytes::from(bytes.as_str().replace(&own_app, &theirs))
            };
            match c.tx.try_send(frame) {
                Ok(()) => {
                    self.stats.frames_queued.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(
                        client = c.info.id,
                        "pbx-sim: client does not read its events; disconnecting it as Asterisk's websocket_write_timeout would"
                    );
                    self.stats.clients_dropped_slow.fetch_add(1, Ordering::Relaxed);
                    c.kill.cancel();
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    pub(crate) fn register_client(&self, info: ClientInfo) -> ClientSignals {
        let (tx, rx) = mpsc::channel(self.config.client_queue_frames);
        let kill = self.shutdown.child_token();
        let drain = CancellationToken::new();
        tracing::info!(client = info.id, app = %info.app, "pbx-sim: ARI WebSocket client connected");
        lock(&self.clients).push(Client {
            info,
            tx,
            kill: kill.clone(),
            drain: drain.clone(),
        });
        ClientSignals { rx, kill, drain }
    }

    pub(crate) fn unregister_client(&self, id: u64) {
        lock(&self.clients).retain(|c| c.info.id != id);
    }

    pub(crate) fn channels_body(&self) -> String {
        let ch = lock(&self.channels);
        let mut out = String::with_capacity(ch.by_order.len() * 420 + 2);
        out.push('[');
        for (i, (_, (_, snap))) in ch.by_order.iter().rev().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(snap);
        }
        out.push(']');
        out
    }

    pub(crate) fn channel_body(&self, id: &str) -> Option<String> {
        let ch = lock(&self.channels);
        let order = ch.order_of.get(id)?;
        ch.by_order.get(order).map(|(_, s)| s.clone())
    }

    pub(crate) fn info_body(&self) -> String {
        let mut info = self.catalog.info.clone();
        let startup = Json::Str(ari_time(self.startup_time()));
        if let Some(status) = info.get_mut("status") {
            status.set("startup_time", startup.clone());
            status.set("last_reload_time", startup);
        }
        if let Some(system) = info.get_mut("system") {
            system.set("entity_id", Json::Str(self.config.asterisk_id.clone()));
        }
        info.to_compact()
    }

    /// Starts the survey call of an originate; returns the response body (the operator leg).
    pub(crate) fn originate(
        self: &Arc<Self>,
        query: Vec<(String, String)>,
        body: Option<String>,
        user: String,
    ) -> Result<String, &'static str> {
        let param = |n: &str| query.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let endpoint = param("endpoint").ok_or("Endpoint must be specified")?;
        let operator = endpoint
            .split_once('/')
            .map(|(_, r)| r.to_owned())
            .filter(|r| !r.is_empty())
            .ok_or("Invalid endpoint specified")?;
        let applicant = param("extension").unwrap_or_else(|| "s".into());
        let caller_id = param("callerId").unwrap_or_default();
        let plan = &self.config.originate;
        let tpl = &self.catalog.originate;
        let ms = |d: Duration| d.as_millis() as i64;
        let cast = self.cast(
            tpl,
            "",
            "",
            &caller_id,
            vec![operator],
            &applicant,
            "30".into(),
            vec![
                ms(plan.operator_ring),
                ms(plan.applicant_ring),
                ms(plan.talk),
            ],
            self.config.speed,
        );
        let mut frames = tpl.render(&cast);
        let response = frames.pop().map(|f| f.text).unwrap_or_default();
        let channel_id = cast.leg_ids.first().cloned().unwrap_or_default();
        tracing::info!(channel = %channel_id, "pbx-sim: originate");
        lock(&self.originates).push(OriginateRequest {
            query,
            body,
            user,
            channel_id,
        });
        self.spawn_frames(frames);
        Ok(response)
    }
}

fn escape(s: &str) -> String {
    let mut o = String::new();
    crate::json::push_json_escaped(&mut o, s);
    o
}

/// A compiled `.jsonl` capture for `SimHandle::play_replay`.
#[derive(Debug, Clone)]
pub struct Replay {
    template: Template,
}

impl Replay {
    /// Compiles a capture: one ARI frame per line. Lines that are not JSON are replayed verbatim.
    pub fn parse(name: &str, jsonl: &str) -> Result<Replay, SimError> {
        let lines = template::parse_lines(jsonl);
        if !lines.iter().any(|l| matches!(l, template::Line::Json(_))) {
            return Err(SimError::EmptyReplay);
        }
        Ok(Replay {
            template: Template::compile(name, &lines, &template::Roles::default()),
        })
    }

    /// Reads and compiles a `.jsonl` capture file.
    pub fn load(path: &Path) -> Result<Replay, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Replay::parse(&path.display().to_string(), &text)
    }

    /// Frames per replay.
    pub fn frame_count(&self) -> usize {
        self.template.frame_count()
    }
}

/// Control of a running simulator. Cheap to clone.
#[derive(Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The address the sim listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/ari`, the ARI base URL to give the daemon.
    pub fn base_url(&self) -> String {
        format!("http://{}/ari", self.addr)
    }

    /// The events WebSocket URL for `app`, without credentials.
    pub fn events_url(&self, app: &str) -> String {
        format!("ws://{}/ari/events?app={app}&subscribeAll=true", self.addr)
    }

    /// Starts one call now; returns the channel ids it will use.
    pub fn play(&self, spec: &CallSpec) -> Result<CallIds, SimError> {
        self.play_at_speed(spec, self.shared.config.speed)
    }

    fn play_at_speed(&self, spec: &CallSpec, speed: f64) -> Result<CallIds, SimError> {
        if self.shared.shutdown.is_cancelled() {
            return Err(SimError::ShutDown);
        }
        spec.validate()?;
        let c = &self.shared.catalog;
        let tpl = match spec.kind {
            CallKind::Answered => &c.answered,
            CallKind::Abandoned => &c.abandoned,
            CallKind::Queue => &c.queue,
            CallKind::Busy => &c.busy,
            CallKind::NoAnswer => &c.no_answer,
        };
        let dial_timeout = if spec.kind == CallKind::NoAnswer {
            spec.ring_ms.map_or(spec.dial_timeout_s.to_string(), |ms| {
                ms.div_ceil(1000).to_string()
            })
        } else {
            spec.dial_timeout_s.to_string()
        };
        let cast = self.shared.cast(
            tpl,
            &spec.caller,
            &spec.caller_name,
            &spec.dialed,
            spec.template_operators(),
            "",
            dial_timeout,
            spec.gaps_ms(),
            speed,
        );
        let frames = tpl.render(&cast);
        let ids = Shared::ids(&cast, frames.len());
        tracing::debug!(template = %tpl.name, caller_leg = %ids.channel_ids.first().map_or("", String::as_str), "pbx-sim: playing call");
        self.shared.spawn_frames(frames);
        Ok(ids)
    }

    /// Replays a capture with fresh ids and timestamps, `speed` times faster than recorded.
    pub fn play_replay(&self, replay: &Replay, speed: f64) -> Result<CallIds, SimError> {
        if !(speed > 0.0 && speed.is_finite()) {
            return Err(SimError::Config(format!(
                "replay speed must be positive, got {speed}"
            )));
        }
        let cast = self.shared.cast(
            &replay.template,
            "",
            "",
            "",
            Vec::new(),
            "",
            String::new(),
            Vec::new(),
            speed,
        );
        let frames = replay.template.render(&cast);
        let ids = Shared::ids(&cast, frames.len());
        self.shared.spawn_frames(frames);
        Ok(ids)
    }

    /// Plays a scenario: starts each call at its offset (divided by the scenario's speed) and
    /// returns once all have started. Stops early on shutdown.
    pub async fn play_scenario(&self, scenario: &Scenario) -> Result<Vec<CallIds>, SimError> {
        let t0 = Instant::now();
        let mut calls: Vec<_> = scenario.calls.iter().collect();
        calls.sort_by_key(|c| c.at_ms);
        let mut out = Vec::with_capacity(calls.len());
        for c in calls {
            let due = t0 + Duration::from_secs_f64(c.at_ms as f64 / 1000.0 / scenario.speed);
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                () = self.shared.shutdown.cancelled() => return Err(SimError::ShutDown),
            }
            out.push(self.play_at_speed(&c.call, scenario.speed)?);
        }
        Ok(out)
    }

    /// Generates random traffic until its bound; returns when the last call has started.
    pub async fn run_traffic(&self, config: &TrafficConfig) -> Result<TrafficReport, SimError> {
        crate::traffic::run(self, config).await
    }

    /// Waits until no call is playing.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.shared.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.playing.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Calls currently playing.
    pub fn calls_in_progress(&self) -> usize {
        self.shared.playing.load(Ordering::SeqCst)
    }

    /// The channels the PBX has now, newest first (as `GET /ari/channels`).
    pub fn active_channels(&self) -> Vec<ActiveChannel> {
        let body = self.shared.channels_body();
        let Ok(Json::Arr(items)) = Json::parse(&body) else {
            return Vec::new();
        };
        items
            .into_iter()
            .map(|c| ActiveChannel {
                id: c.str_at("id").unwrap_or_default().to_owned(),
                name: c.str_at("name").unwrap_or_default().to_owned(),
                state: c.str_at("state").unwrap_or_default().to_owned(),
                json: c.to_compact(),
            })
            .collect()
    }

    /// Answer `GET /ari/asterisk/info` and `GET /ari/channels` only after `delay` from now on
    /// (an Asterisk under load): tests use it to hold a client's reconciliation open while
    /// events keep coming on the WebSocket.
    pub fn set_rest_delay(&self, delay: Duration) {
        *lock(&self.shared.rest_delay) = delay;
    }

    /// Cuts every WebSocket without a close frame (as when Asterisk dies), then refuses and
    /// 503s new connections as `outage` says.
    pub fn drop_clients(&self, outage: Outage) {
        self.cut_clients(outage, false);
    }

    fn cut_clients(&self, outage: Outage, drain: bool) {
        let now = Instant::now();
        {
            let mut o = lock(&self.shared.outage);
            let refuse_until = now + outage.refuse_for;
            o.refuse_until = (!outage.refuse_for.is_zero()).then_some(refuse_until);
            o.unavailable_until = (!outage.unavailable_for.is_zero())
                .then_some(refuse_until + outage.unavailable_for);
        }
        self.shared.outage_changed.notify_waiters();
        let clients = std::mem::take(&mut *lock(&self.shared.clients));
        tracing::info!(
            clients = clients.len(),
            ?outage,
            "pbx-sim: dropping all ARI clients"
        );
        for c in clients {
            if drain {
                c.drain.cancel();
            } else {
                c.kill.cancel();
            }
        }
    }

    /// Simulates an Asterisk restart: every channel is hung up (soft hangup cause 4, then
    /// ChannelDestroyed), sockets are cut without a close frame, the outage runs, and
    /// `status.startup_time` moves to when the PBX is back.
    pub fn restart(&self, outage: Outage) {
        let shared = &self.shared;
        {
            let mut epoch = lock(&shared.epoch);
            epoch.cancel();
            *epoch = shared.shutdown.child_token();
        }
        let channels = std::mem::take(&mut *lock(&shared.channels));
        let now = shared.now();
        let ts = ari_time(now);
        let tail = format!(
            ",\"asterisk_id\":\"{}\",\"application\":\"{}\"}}",
            escape(&shared.config.asterisk_id),
            escape(&shared.config.app)
        );
        for (_, (_, snap)) in channels.by_order.iter().rev() {
            shared.broadcast(
                format!("{{\"cause\":4,\"soft\":true,\"type\":\"ChannelHangupRequest\",\"timestamp\":\"{ts}\",\"channel\":{snap}{tail}"),
                true,
            );
            shared.broadcast(
                format!("{{\"type\":\"ChannelDestroyed\",\"timestamp\":\"{ts}\",\"cause\":16,\"cause_txt\":\"Normal Clearing\",\"channel\":{snap}{tail}"),
                true,
            );
        }
        self.cut_clients(outage, true);
        let back = now
            + ChronoDuration::from_std(outage.refuse_for + outage.unavailable_for)
                .unwrap_or_default()
            + ChronoDuration::milliseconds(1);
        *lock(&shared.startup) = back;
        tracing::info!(startup = %ari_time(back), "pbx-sim: restarted");
    }

    /// Sends any text to every connected client as a WebSocket text frame (malformed JSON,
    /// unknown event types, …).
    pub fn inject_raw_frame(&self, text: impl Into<String>) {
        self.shared.broadcast(text.into(), false);
    }

    /// Every originate received so far.
    pub fn originate_requests(&self) -> Vec<OriginateRequest> {
        lock(&self.shared.originates).clone()
    }

    /// WebSocket clients connected now.
    pub fn connected_clients(&self) -> Vec<ClientInfo> {
        lock(&self.shared.clients)
            .iter()
            .map(|c| c.info.clone())
            .collect()
    }

    /// `status.startup_time` of `GET /ari/asterisk/info`.
    pub fn startup_time(&self) -> DateTime<Utc> {
        self.shared.startup_time()
    }

    /// Counters.
    pub fn stats(&self) -> SimStats {
        let s = &self.shared.stats;
        SimStats {
            calls_started: s.calls_started.load(Ordering::Relaxed),
            frames_played: s.frames_played.load(Ordering::Relaxed),
            frames_queued: s.frames_queued.load(Ordering::Relaxed),
            clients_dropped_slow: s.clients_dropped_slow.load(Ordering::Relaxed),
        }
    }

    /// Whether the shutdown token was cancelled.
    pub fn is_shut_down(&self) -> bool {
        self.shared.shutdown.is_cancelled()
    }

    /// Waits until the server and every call task have stopped (after the shutdown token).
    pub async fn join(&self) {
        self.shared.shutdown.cancelled().await;
        self.shared.tracker.close();
        self.shared.tracker.wait().await;
    }
}
