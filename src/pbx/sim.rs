//! The `contactd pbx-sim` subcommand: a fake Asterisk ARI server (`contactd-pbx-sim`) on a
//! listen address, playing a scenario file, a captured replay or random traffic, then serving
//! until the shutdown token is cancelled (Ctrl-C / SIGTERM in the binary).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use contactd_pbx_sim::{Replay, Scenario, Sim, SimConfig, TrafficConfig};
use tokio_util::sync::CancellationToken;

/// What the simulator plays.
#[derive(Debug, Clone)]
pub enum Workload {
    /// Serve only: calls come from `POST /ari/channels` (originate) if anyone asks.
    Idle,
    /// A scenario file of timed calls (TOML, or JSON for `.json`).
    Scenario(PathBuf),
    /// A captured `.jsonl` stream, with fresh ids and times, at `speed`.
    Replay { path: PathBuf, speed: f64 },
    /// Random Poisson traffic.
    Traffic(TrafficConfig),
}

/// Options of `contactd pbx-sim`.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub listen: SocketAddr,
    pub username: String,
    pub password: String,
    pub app: String,
    pub workload: Workload,
}

/// Runs the simulator until `shutdown` is cancelled.
pub async fn run(options: SimOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| {
            format!(
                "--listen: cannot listen on {} (is the port in use? choose another)",
                options.listen
            )
        })?;
    let mut config = SimConfig::new(contactd_pbx_sim::system_clock());
    config.username = options.username.clone();
    config.password = options.password;
    config.app = options.app;
    let sim = Sim::bind(listener, config, shutdown.clone()).context("starting the simulator")?;
    println!(
        "pbx-sim: ARI on {} (user {}); events at {}; Ctrl-C to stop",
        sim.base_url(),
        options.username,
        sim.events_url("contactd")
    );
    let work = async {
        match &options.workload {
            Workload::Idle => {}
            Workload::Scenario(path) => {
                let scenario = Scenario::load(path)?;
                let calls = sim.play_scenario(&scenario).await?;
                println!("pbx-sim: scenario started {} calls", calls.len());
            }
            Workload::Replay { path, speed } => {
                let replay = Replay::load(path)?;
                sim.play_replay(&replay, *speed)?;
                println!("pbx-sim: replaying {} frames", replay.frame_count());
            }
            Workload::Traffic(traffic) => {
                let report = sim.run_traffic(traffic).await?;
                println!(
                    "pbx-sim: traffic placed {} calls ({} answered, {} abandoned, {} busy, {} no answer)",
                    report.calls, report.answered, report.abandoned, report.busy, report.no_answer
                );
            }
        }
        sim.wait_idle().await;
        println!("pbx-sim: all calls finished; still serving until stopped");
        Ok::<(), contactd_pbx_sim::SimError>(())
    };
    tokio::select! {
        () = shutdown.cancelled() => {}
        result = work => {
            if let Err(err) = result {
                shutdown.cancel();
                sim.join().await;
                return Err(anyhow::Error::new(err).context("playing the workload"));
            }
            shutdown.cancelled().await;
        }
    }
    tokio::time::timeout(Duration::from_secs(5), sim.join())
        .await
        .context("the simulator did not stop within 5 s")?;
    Ok(())
}
