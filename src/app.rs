//! The Application: builds the parts, spawns named tasks under one `CancellationToken`, tells
//! systemd when it is ready, and shuts down within the configured deadline.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::LoginLimiter;
use crate::calendar::Calendars;
use crate::classifier::ClassifierHandle;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::http::{self, AppState};
use crate::hub::Hub;
use crate::metrics::MetricsRegistry;
use crate::pbx::link::LinkDeps;
use crate::pbx::{self, LinkState};
use crate::storage::Storage;
use crate::telemetry::LogReloader;

/// Sockets bound before the daemon starts (so tests can bind port 0, and so a port in use is
/// reported before anything else happens).
#[derive(Debug)]
pub struct Listeners {
    pub http: TcpListener,
}

impl Listeners {
    /// Bind `http.listen`; the error names the key and the address.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let addr = config.http.listen_addr()?;
        let http = TcpListener::bind(addr).await.map_err(|err| {
            anyhow::anyhow!(
                "config key `http.listen`: cannot listen on {addr}: {err} (is another contactd or another server using the port? stop it or choose another port)"
            )
        })?;
        Ok(Self { http })
    }
}

/// Optional hooks for the embedding program (the binary, or a test).
#[derive(Default)]
pub struct RunHooks {
    /// Receives the bound HTTP address once the daemon is ready.
    pub ready: Option<oneshot::Sender<SocketAddr>>,
    /// Replaces the log filter on SIGHUP.
    pub log_reloader: Option<LogReloader>,
    /// The config file to re-read on SIGHUP.
    pub config_path: Option<PathBuf>,
    /// Install SIGTERM/SIGINT/SIGHUP handlers (the binary does; in-process tests do not).
    pub handle_signals: bool,
}

/// Tell systemd something; a no-op when not run by systemd.
fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(false, states) {
        tracing::debug!(error = %err, "sd_notify failed");
    }
}

/// Apply migrations on an opened storage and report.
pub async fn open_storage(config: &Config) -> anyhow::Result<Storage> {
    let storage = Storage::connect(&config.database).await?;
    let report = storage.migrate().await?;
    if !report.applied_now.is_empty() {
        tracing::info!(applied = ?report.applied_now, schema_version = report.schema_version, "database migrated");
    }
    Ok(storage)
}

/// Run the daemon until `shutdown` is cancelled (or a signal cancels it).
pub async fn run(
    config: Config,
    listeners: Listeners,
    clock: SharedClock,
    shutdown: CancellationToken,
    mut hooks: RunHooks,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let tasks = TaskTracker::new();
    notify(&[sd_notify::NotifyState::Status(
        "applying database migrations",
    )]);
    let storage = open_storage(&config).await?;

    let metrics = MetricsRegistry::new();
    let pbx_config = config.effective_pbx();
    if let Some(sim) = &config.pbx_simulator {
        spawn_simulator(&tasks, sim, shutdown.clone())?;
    }
    let initial_link = if pbx_config.is_some() {
        LinkState::Connecting { since: clock.now() }
    } else {
        LinkState::Disabled
    };
    metrics.metrics.pbx_link_state.set(initial_link.gauge());
    let (link_tx, link_rx) = watch::channel(initial_link);
    let hub = Hub::new(shutdown.clone(), tasks.clone());
    hub.set_storage(storage.clone());
    if let Some(pbx) = &pbx_config {
        let deps = LinkDeps {
            storage: storage.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            hub: hub.clone(),
        };
        pbx::link::spawn(&tasks, pbx, deps, link_tx, shutdown.clone())
            .context("starting the PBX link")?;
    }

    if let Some(smtp) = &config.smtp {
        // The transport is built once here and shared by every send.
        let mailer =
            crate::mail::Mailer::from_config(smtp).context("building the SMTP transport")?;
        let worker = crate::mail::OutboxWorker::new(
            storage.clone(),
            Arc::new(mailer),
            clock.clone(),
            metrics.clone(),
            crate::mail::WorkerSettings::from_config(smtp),
        );
        tasks.spawn(tracing::Instrument::instrument(
            worker.run(shutdown.clone()),
            tracing::info_span!("mail_outbox"),
        ));
    }

    let calendars =
        Calendars::from_settings(&config.calendar).context("building the working-time calendar")?;
    let classifier = ClassifierHandle::default();
    classifier
        .reload(&storage)
        .await
        .context("loading the classifier")?;
    if config.escalation.enabled {
        let escalation = crate::escalation::Escalation::new(
            storage.clone(),
            calendars.clone(),
            Arc::new(config.escalation.clone()),
            config.smtp.as_ref().and_then(|s| s.console_url.as_deref()),
        );
        tasks.spawn(tracing::Instrument::instrument(
            escalation.run(clock.clone(), shutdown.clone()),
            tracing::info_span!("escalation"),
        ));
    }
    // The daily survey draw (idempotent per period; leader lease among instances).
    let survey_job = crate::survey::DrawJob {
        storage: storage.clone(),
        calendars: calendars.clone(),
        config: Arc::new(config.survey.clone()),
    };
    tasks.spawn(tracing::Instrument::instrument(
        survey_job.run(clock.clone(), shutdown.clone()),
        tracing::info_span!("survey_draw"),
    ));
    if hooks.handle_signals {
        let reload = ReloadTargets {
            log: hooks.log_reloader.take(),
            config_path: hooks.config_path.take(),
            classifier: classifier.clone(),
            storage: storage.clone(),
        };
        spawn_signal_handler(&tasks, shutdown.clone(), reload)?;
    }
    let state = AppState::new(http::AppParts {
        config: config.clone(),
        storage: storage.clone(),
        metrics: metrics.clone(),
        clock: clock.clone(),
        pbx_link: link_rx,
        calendars,
        classifier: classifier.clone(),
        login_limiter: Arc::new(LoginLimiter::new(10, chrono::Duration::minutes(5))),
        sessions: crate::auth::SessionCache::default(),
        hub,
        creates: crate::requests::CreateQueue::new(metrics.clone()),
    });
    let router = http::app(state);
    let addr = listeners
        .http
        .local_addr()
        .context("reading the bound HTTP address")?;
    let server_shutdown = shutdown.clone();
    // TCP_NODELAY: an operator's pop-up is one small frame that must leave at once, not wait
    // for the client's (delayed, up to 40 ms) acknowledgement of the frame before it (Nagle).
    let http_listener = axum::serve::ListenerExt::tap_io(listeners.http, |tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY on a client connection");
        }
    });
    let server = tokio::spawn(async move {
        axum::serve(
            http_listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(server_shutdown.cancelled_owned())
        .await
    });

    spawn_watchdog(&tasks, shutdown.clone());
    tracing::info!(%addr, backend = ?storage.backend(), "contactd ready");
    let status = format!("ready; HTTP on {addr}");
    notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&status),
    ]);
    if let Some(ready) = hooks.ready.take() {
        let _ = ready.send(addr);
    }

    shutdown.cancelled().await;
    notify(&[
        sd_notify::NotifyState::Stopping,
        sd_notify::NotifyState::Status("stopping"),
    ]);
    tracing::info!("shutting down");
    tasks.close();
    let deadline = config.daemon.shutdown_deadline();
    let finished = tokio::time::timeout(deadline, async {
        let served = server.await;
        tasks.wait().await;
        served
    })
    .await;
    storage.close().await;
    match finished {
        Ok(Ok(Ok(()))) => {
            tracing::info!("stopped cleanly");
            Ok(())
        }
        Ok(Ok(Err(err))) => Err(anyhow::Error::new(err).context("the HTTP server failed")),
        Ok(Err(join)) => Err(anyhow::anyhow!("the HTTP server task panicked: {join}")),
        Err(_) => Err(anyhow::anyhow!(
            "shutdown did not finish within daemon.shutdown_deadline_s = {} s; exiting anyway",
            deadline.as_secs()
        )),
    }
}

/// Start the built-in PBX simulator (`[pbx_simulator]`) with random traffic.
fn spawn_simulator(
    tasks: &TaskTracker,
    sim: &crate::config::PbxSimulatorConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use crate::pbx::sim::{SimOptions, Workload};
    let link = sim.link_config();
    let traffic = contactd_pbx_sim::TrafficConfig {
        calls_per_second: sim.calls_per_minute / 60.0,
        operators: sim.operators.clone(),
        duration: Some(Duration::from_secs(7 * 24 * 3600)),
        ..contactd_pbx_sim::TrafficConfig::default()
    };
    let options = SimOptions {
        listen: sim.listen_addr()?,
        username: link.username,
        password: link
            .password
            .map(|p| p.expose().to_owned())
            .unwrap_or_default(),
        app: link.app,
        workload: Workload::Traffic(traffic),
    };
    tracing::warn!(listen = %options.listen, "running the built-in PBX simulator ([pbx_simulator]); not for production");
    tasks.spawn(async move {
        if let Err(err) = crate::pbx::sim::run(options, shutdown).await {
            tracing::error!(
                error = format!("{err:#}"),
                "the built-in PBX simulator stopped"
            );
        }
    });
    Ok(())
}

/// SIGTERM/SIGINT cancel the root token; SIGHUP reloads what can be reloaded (the log filter).
/// What SIGHUP reloads.
struct ReloadTargets {
    log: Option<LogReloader>,
    config_path: Option<PathBuf>,
    classifier: ClassifierHandle,
    storage: Storage,
}

fn spawn_signal_handler(
    tasks: &TaskTracker,
    shutdown: CancellationToken,
    targets: ReloadTargets,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    tasks.spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM received"); shutdown.cancel(); break; }
                _ = int.recv() => { tracing::info!("SIGINT received"); shutdown.cancel(); break; }
                _ = hup.recv() => reload(&targets).await,
                () = shutdown.cancelled() => break,
            }
        }
    });
    Ok(())
}

async fn reload(targets: &ReloadTargets) {
    notify(&[sd_notify::NotifyState::Reloading]);
    let reloader = targets.log.as_ref();
    let outcome = match targets.config_path.as_deref() {
        Some(path) => {
            let env: Vec<(String, String)> = std::env::vars().collect();
            match Config::load(path, &env) {
                Ok(config) => reloader
                    .map(|r| r.reload(&config.log.filter))
                    .unwrap_or(Ok(()))
                    .map(|()| config.log.filter),
                Err(err) => Err(err.to_string()),
            }
        }
        None => Err("no config file to reload".to_owned()),
    };
    match outcome {
        Ok(filter) => tracing::info!(%filter, "configuration reloaded (log filter)"),
        Err(err) => {
            tracing::error!(error = %err, "reload failed; keeping the running configuration")
        }
    }
    match targets.classifier.reload(&targets.storage).await {
        Ok(()) => {
            tracing::info!(revision = ?targets.classifier.get().map(|c| c.latest), "classifier reloaded")
        }
        Err(err) => {
            tracing::error!(error = %err, "classifier reload failed; keeping the loaded one")
        }
    }
    notify(&[sd_notify::NotifyState::Ready]);
}

/// Ping systemd's watchdog at half its interval from the runtime, so a hung runtime is restarted.
fn spawn_watchdog(tasks: &TaskTracker, shutdown: CancellationToken) {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let period = Duration::from_micros(usec / 2);
    tasks.spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = interval.tick() => notify(&[sd_notify::NotifyState::Watchdog]),
                () = shutdown.cancelled() => break,
            }
        }
    });
}
