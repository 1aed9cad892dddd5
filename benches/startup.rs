//! Start → READY: spawn `contactd run` with a NOTIFY_SOCKET and time until it sends READY=1
//! (migrations applied, listener bound). Baseline in the same run: spawning `contactd --version`
//! (process start and exit only), so the figure can be read as a ratio on a noisy machine.
//!
//! `cargo bench --bench startup` — target: ≤ 300 ms with migrations applied on SQLite.
// Test and bench code: a failed setup step should stop the run with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_contactd");
const RUNS: usize = 20;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn start_to_ready(fresh_db: bool, dir: &std::path::Path, run: usize) -> Duration {
    let db = if fresh_db {
        dir.join(format!("fresh-{run}.db"))
    } else {
        dir.join("warm.db")
    };
    let config = dir.join(format!("c-{run}.toml"));
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[log]\nfilter = \"warn\"\nformat = \"text\"\n",
            db.display()
        ),
    )
    .expect("write config");
    let socket_path = dir.join(format!("n-{run}.sock"));
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(["run", "--config", config.to_str().expect("utf-8 path")])
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn contactd");
    let mut buf = [0u8; 1024];
    let elapsed = loop {
        let n = socket.recv(&mut buf).expect("READY=1 within 30 s");
        if String::from_utf8_lossy(&buf[..n]).contains("READY=1") {
            break started.elapsed();
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

fn baseline() -> Duration {
    let started = Instant::now();
    let status = Command::new(BIN)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .expect("spawn");
    assert!(status.success());
    started.elapsed()
}

fn report(name: &str, mut samples: Vec<Duration>, base_p50: Duration) {
    samples.sort();
    let p50 = percentile(&samples, 0.5);
    println!(
        "{name:<40} p50 {:>7.1} ms  p95 {:>7.1} ms  max {:>7.1} ms  ratio p50/baseline {:>5.1}×",
        p50.as_secs_f64() * 1e3,
        percentile(&samples, 0.95).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        p50.as_secs_f64() / base_p50.as_secs_f64()
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Warm the page cache and create the warm database once.
    let _ = start_to_ready(false, dir.path(), 999);
    let mut base: Vec<Duration> = (0..RUNS).map(|_| baseline()).collect();
    base.sort();
    let base_p50 = percentile(&base, 0.5);
    let fresh: Vec<Duration> = (0..RUNS)
        .map(|i| start_to_ready(true, dir.path(), i))
        .collect();
    let warm: Vec<Duration> = (0..RUNS)
        .map(|i| start_to_ready(false, dir.path(), 100 + i))
        .collect();
    println!("start → READY=1 over {RUNS} runs (SQLite)");
    report("baseline: contactd --version", base, base_p50);
    report("run, fresh database (all migrations)", fresh, base_p50);
    report("run, migrated database", warm, base_p50);
}
