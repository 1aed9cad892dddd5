//! Escalation scan at scale: 1,000,000 open requests (3,000 executor units) in a SQLite file, then
//! one incremental escalation tick (a minute of deadlines through the `(status, deadline)` index,
//! plus the audit and notice cursors), median of several, against a full-table overdue query as
//! the baseline in the same run, so the figure reads as a ratio on a noisy machine.
//!
//! `cargo bench --bench overdue_scan` — target: a tick ≤ 50 ms at 1M open requests.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use contactd::calendar::Calendars;
use contactd::config::Config;
use contactd::escalation::{Escalation, OPEN_STATUSES};
use contactd::storage::to_db_time;

const REQUESTS: i64 = 1_000_000;
const UNITS: i64 = 3_000;
const RUNS: usize = 9;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("contactd-overdue-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(dir: &Path) -> anyhow::Result<()> {
    let text = format!(
        "[database]\nurl = \"sqlite://{}\"\nsqlite_synchronous = \"normal\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [escalation]\nenabled = false\nexecutor_digest = false\nexecutor_emergency_email = false\n",
        dir.join("bench.db").display()
    );
    let config = Config::from_toml(&text, Path::new("bench.toml"), &[]).context("bench config")?;
    let storage = contactd::app::open_storage(&config).await?;
    // Wednesday 16.12.2026, 12:00 Kyiv: a working day, no midnight crossing during the ticks.
    let now: DateTime<Utc> = chrono_tz::Europe::Kyiv
        .with_ymd_and_hms(2026, 12, 16, 12, 0, 0)
        .single()
        .context("bench time")?
        .with_timezone(&Utc);
    let t0 = to_db_time(now);
    let span = 60 * 86_400 * 1_000_000_i64; // deadlines spread over ±30 days

    let seeding = Instant::now();
    let mut tx = storage.writer().begin().await?;
    sqlx::query("INSERT INTO users (login, password_hash, role, created_at) VALUES ('bench', 'x', 'operator', 0)")
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!(
        "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {UNITS} - 1) \
         INSERT INTO executors (code, name, active, created_at) SELECT 'U' || i, 'Unit ' || i, 1, 0 FROM seq"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {REQUESTS}) \
         INSERT INTO requests (id, number, channel, description, classifier_code, classifier_revision, \
         classifier_title, section, request_type, term, status, version, registered_at, deadline, \
         created_by, state_json, updated_at) \
         SELECT i, 'B-' || i, 'phone', 'bench', '22.5.27', 0, 'Bench', '22', \
         CASE WHEN i % 50 = 0 THEN 'emergency' ELSE 'ordinary' END, '5wd', \
         CASE i % 3 WHEN 0 THEN 'sent' WHEN 1 THEN 'in_progress' ELSE 'rework' END, 1, {t0} - {span}, \
         {t0} - {span} / 2 + ((i * 7919) % {REQUESTS}) * ({span} / {REQUESTS}), 1, '{{}}', 0 FROM seq"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO request_executors (request_id, executor_code, status) \
         SELECT id, 'U' || (id % {UNITS}), status FROM requests"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO escalation_state (job, last_tick, last_audit_id, last_notice_id, last_digest_day) \
         VALUES ('escalation', $1, 0, 0, '2026-12-16')",
    )
    .bind(to_db_time(now - chrono::Duration::minutes(1)))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(storage.writer()).await?;
    println!(
        "seeded {REQUESTS} open requests, {UNITS} units in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let calendars = Calendars::from_settings(&config.calendar)?;
    let esc = Escalation::new(
        storage.clone(),
        calendars,
        Arc::new(config.escalation.clone()),
        None,
    );
    let mut ticks = Vec::new();
    let mut found = 0;
    for k in 0..RUNS {
        let at = now + chrono::Duration::minutes(i64::try_from(k)?);
        let started = Instant::now();
        let report = esc.tick(at).await?;
        ticks.push(started.elapsed());
        found += report.overdue;
    }
    // The worst tick of a day: at local midnight a whole day of deadlines enters the
    // `deadline_approaching` window at once (~1/60 of the requests here).
    let midnight: DateTime<Utc> = chrono_tz::Europe::Kyiv
        .with_ymd_and_hms(2026, 12, 17, 0, 0, 0)
        .single()
        .context("bench midnight")?
        .with_timezone(&Utc);
    sqlx::query("UPDATE escalation_state SET last_tick = $1")
        .bind(to_db_time(midnight - chrono::Duration::minutes(1)))
        .execute(storage.writer())
        .await?;
    let started = Instant::now();
    let report = esc.tick(midnight).await?;
    let midnight_tick = started.elapsed();
    let sql = format!(
        "SELECT r.id FROM requests r WHERE r.status IN {OPEN_STATUSES} AND r.deadline <= $1"
    );
    let mut full = Vec::new();
    let mut overdue_rows = 0;
    for _ in 0..RUNS.min(5) {
        let started = Instant::now();
        let rows: Vec<i64> = sqlx::query_scalar(&sql)
            .bind(t0)
            .fetch_all(storage.reader())
            .await?;
        full.push(started.elapsed());
        overdue_rows = rows.len();
    }
    let (tick, base) = (median(ticks), median(full));
    println!(
        "incremental tick: median {:.2} ms over {RUNS} ticks ({found} overdue notices raised, ~{:.0} per minute)",
        ms(tick),
        found as f64 / RUNS as f64
    );
    println!(
        "midnight tick (a day of deadlines becomes approaching): {:.1} ms ({} notices)",
        ms(midnight_tick),
        report.approaching
    );
    println!(
        "full-table overdue query (baseline): median {:.1} ms ({overdue_rows} rows)",
        ms(base)
    );
    println!(
        "ratio tick/full: {:.4}; target tick ≤ 50 ms: {}",
        tick.as_secs_f64() / base.as_secs_f64(),
        if ms(tick) <= 50.0 { "met" } else { "NOT met" }
    );
    storage.close().await;
    Ok(())
}
