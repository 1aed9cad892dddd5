//! Operator pop-up latency at 200 calls per second on a city-sized SQLite database (issue 5), and
//! ARI event ingestion on one core.
//!
//! **Database.** A fresh SQLite file (migrated by the daemon's own storage) is seeded with
//! 300,000 applicants, each with a mobile number in `applicant_phones`, and 1,000,000 requests
//! registered over three years in time order under the example classifier's leaf items (their
//! titles, areas, terms and executor units, one `request_executors` row per unit). Every applicant
//! has at least one request; 5 % of them ("frequent" applicants) have about 25. Requests older than
//! their term are nearly all closed; about 4 % are open (sent, in progress, rework). `state_json`
//! is the real workflow state for the row, so rows have their real size.
//!
//! **Pop-up latency.** The daemon runs in-process (`app::run`, default configuration except that
//! the escalation scan is off: its start-up catch-up over 1M requests is not on the call path and
//! would only add noise) with its PBX link connected to the in-process fake Asterisk
//! (`contactd-pbx-sim`), which plays calls in Asterisk's exact frame format from the real captures.
//! Ten operators (extensions 1001–1010) are signed in on `/ws/operator`. Calls arrive as a seeded
//! Poisson stream of 200 calls/s (2 s warm-up, then 15 s measured), each from a seeded applicant's
//! number (so each pop-up runs the real caller-history lookup), ringing one random operator
//! (80 % answered, 12 % abandoned, 3 % no answer) or two (5 % queue ring-all). Measured per
//! pop-up: from the moment the fake Asterisk is about to write the ARI frame that makes the call
//! ring at that extension (`SimConfig::frame_hook`) to the moment the operator's client has read
//! the `call.ringing` frame: one process, one monotonic clock. Which frame makes a call ring is
//! not assumed: after the run the captured ARI stream is replayed through the real parser,
//! translator and call tracker, and the frame that yields each `Ringing` is the start of that
//! pop-up's clock. A pop-up that never arrives is counted as lost. The daemon logs at its default
//! level (`info`) through a JSON formatter into a discarding writer, so log formatting is paid.
//!
//! **Baseline in the same run:** a bare relay — a minimal tokio-tungstenite server that reads
//! frames from the fake Asterisk's WebSocket and writes each to one connected client — fed by the
//! same call schedule (same kinds, callers, operators, times) from a fresh fake Asterisk; measured
//! from the same hook to the client's read of that same ringing frame. It shows what two
//! WebSocket hops cost on this machine; contactd adds parsing, tracking, the hub, the database
//! lookup and the JSON pop-up on top.
//!
//! **Diagnostic second relay** (not the target's baseline): the same relay passing on only the
//! frames that can make a phone ring (substring tests for a `Dial` to `RINGING` and a
//! `ChannelStateChange` to `Ringing`; the bench checks that every ringing frame passes). Its client reads a few hundred frames a second, as an
//! operator's console does, instead of ~15,000, so its threads sleep between pop-ups as
//! contactd's do. The gap between the two relays is what an idle thread's wake-up costs here.
//!
//! **Ingestion.** Every ARI frame the daemon received in the latency run (~260,000 frames of
//! ~3,300 calls, in their real interleaving) is fed through the link's real consumer
//! (`pbx::link::consume`: parse, translate, tracker fold, metrics, hub publish, record queue) on
//! a `current_thread` runtime, i.e. on one core; events/s is frames over wall time. The
//! WebSocket read itself is not in this figure (the relay baseline shows a socket hop's cost).
//!
//! **Breakdown.** For the same callers, one after another on an idle daemon-configured storage:
//! the caller-history lookup alone (`hub::caller_history`), the part of the pop-up path that the
//! relay has no counterpart for and that no socket hop explains.
//!
//! `cargo bench --bench popup_latency` — targets: pop-up p99 ≤ 1 ms and p50 ≤ 2× the bare
//! relay's p50; ingestion ≥ 50,000 events/s on one core. `POPUP_BENCH_DB=/path/file.db` keeps
//! the seeded database there and reuses it on the next run (for profiling; each run adds its call
//! records to it). `CONTACTD_SECTION__KEY` variables change the daemon's configuration as they do
//! the binary's (e.g. `CONTACTD_DATABASE__SQLITE_SYNCHRONOUS=normal`).
// Test and bench code: a failed setup step should stop the run with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Utc};
use contactd::app;
use contactd::auth::{add_user, NewUser, Role};
use contactd::clock::{Clock, SystemClock};
use contactd::config::{Config, PbxConfig};
use contactd::hub::Hub;
use contactd::metrics::MetricsRegistry;
use contactd::pbx::records::RECORD_QUEUE;
use contactd_ari::{
    parse_frame, translate, AriEvent, CallEvent, CallTracker, WsMessage, DEFAULT_MAX_FRAME_LEN,
};
use contactd_classifier::{Classifier, RequestType, Revision, RevisionId, Term};
use contactd_domain::{ExecutorCode, RequestNumber};
use contactd_pbx_sim::{CallKind, CallSpec, FrameOut, Sim, SimConfig, SimHandle};
use contactd_workflow::{Assignment, AssignmentStatus, ExecutionResult, RequestState, ResultKind};
use futures_util::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Sqlite, SqliteConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const APPLICANTS: usize = 300_000;
const REQUESTS: usize = 1_000_000;
/// Every `FREQUENT_EVERY`-th applicant calls and writes often (5 %).
const FREQUENT_EVERY: usize = 20;
const CALLS_PER_SECOND: f64 = 200.0;
const WARMUP: Duration = Duration::from_secs(2);
const MEASURED: Duration = Duration::from_secs(15);
const OPERATORS: usize = 10;
const PASSWORD: &str = "bench password 1";
const INGEST_PASSES: usize = 3;

/// Captured outgoing ARI frames: when the fake Asterisk was about to write each, and its text.
type Capture = Arc<Mutex<Vec<(Instant, String)>>>;
type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn extensions() -> Vec<String> {
    (0..OPERATORS).map(|i| (1001 + i).to_string()).collect()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

// ---------------------------------------------------------------------------------------------
// Seeding

/// Mobile operator codes of Ukraine; applicant `i` gets one of them and seven digits.
const MOBILE_CODES: [&str; 12] = [
    "50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99",
];
const SURNAMES: [&str; 16] = [
    "Шевченко",
    "Коваленко",
    "Бондаренко",
    "Ткаченко",
    "Кравченко",
    "Олійник",
    "Шевчук",
    "Коваль",
    "Поліщук",
    "Бойко",
    "Мельник",
    "Лисенко",
    "Руденко",
    "Савченко",
    "Петренко",
    "Марченко",
];
const NAMES: [&str; 12] = [
    "Олександр",
    "Іван",
    "Андрій",
    "Сергій",
    "Микола",
    "Володимир",
    "Олена",
    "Наталія",
    "Тетяна",
    "Ірина",
    "Оксана",
    "Людмила",
];
const STREETS: [&str; 8] = [
    "вул. Соборності",
    "просп. Металургів",
    "вул. Володимира Великого",
    "просп. Миру",
    "вул. Кобилянського",
    "вул. Співдружності",
    "вул. Тбіліська",
    "вул. Електрозаводська",
];
const DESCRIPTIONS: [&str; 8] = [
    "Відсутнє гаряче водопостачання у квартирі",
    "Не працює вуличне освітлення біля будинку",
    "Яма на проїжджій частині, небезпечно для авто",
    "Не вивезено сміття з контейнерного майданчика",
    "Протікає дах над під'їздом",
    "Прошу роз'яснити порядок оформлення субсидії",
    "Низький тиск води на верхніх поверхах",
    "Безпритульні собаки біля школи",
];

/// The E.164 number of applicant `i` (unique: 7919 is prime to 10^7 and `i` < 10^7).
fn phone_of(i: usize) -> String {
    let code = MOBILE_CODES[i % MOBILE_CODES.len()];
    format!("+380{code}{:07}", (i * 7919 + 1234) % 10_000_000)
}

/// What Asterisk shows as the caller id of a Ukrainian mobile: national format, `0XXXXXXXXX`.
fn national(e164: &str) -> String {
    format!("0{}", &e164[4..])
}

struct Leaf {
    code: String,
    title: String,
    section: String,
    area: String,
    units: Vec<ExecutorCode>,
    /// (request type, term) allowed for the item.
    terms: Vec<(RequestType, Term)>,
}

fn term_micros(term: Term) -> i64 {
    const HOUR: i64 = 3_600_000_000;
    match term {
        Term::Hours(h) => i64::from(h) * HOUR,
        // Five working days in seven calendar days; holidays are not worth modelling here.
        Term::WorkingDays(d) => i64::from(d) * 24 * HOUR * 7 / 5,
        Term::CalendarDays(d) => i64::from(d) * 24 * HOUR,
    }
}

struct Req {
    at: i64,
    applicant: u32,
    leaf: u16,
    /// Index into the leaf's `terms`.
    term: u8,
    /// `None` when closed.
    open: Option<AssignmentStatus>,
}

fn micros_to_time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).expect("time")
}

/// Seeds the database; returns the seconds it took.
async fn seed(config: &Config, db_path: &Path, now: DateTime<Utc>) -> f64 {
    let started = Instant::now();
    let storage = app::open_storage(config).await.expect("storage");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let classifier_path = root.join("classifier.example.toml");
    let date = chrono::NaiveDate::from_ymd_opt(2020, 7, 22).expect("date");
    contactd::classifier::import(&storage, &classifier_path, Revision::new(339, date), now)
        .await
        .expect("classifier import");
    let mut created_by = 0;
    for ext in extensions() {
        let user = NewUser {
            login: format!("op{ext}"),
            password: PASSWORD.into(),
            role: Role::Operator,
            executors: vec![],
            extension: Some(ext),
        };
        let id = add_user(&storage, &user, now).await.expect("user");
        if created_by == 0 {
            created_by = id;
        }
    }
    storage.close().await;

    let file = contactd_classifier::load_file(&classifier_path).expect("classifier file");
    let classifier = Classifier::from_base(&file, Revision::new(339, date)).expect("classifier");
    let rev = RevisionId(0);
    let leaves: Vec<Leaf> = classifier
        .leaves(rev)
        .into_iter()
        .map(|item| Leaf {
            code: item.code.to_string(),
            title: item.title.clone(),
            section: item.code.section().to_string(),
            area: classifier.area(item.code, rev).unwrap_or("").to_owned(),
            units: item
                .executors
                .iter()
                .map(|u| ExecutorCode::parse(u.as_str()).expect("unit"))
                .collect(),
            terms: item.terms.allowed().collect(),
        })
        .filter(|l| !l.terms.is_empty() && !l.units.is_empty())
        .collect();
    assert!(!leaves.is_empty(), "the example classifier has no leaves");

    // One plain SQLite connection for the bulk load: no fsync, a large page cache. The daemon
    // opens the file with its own settings afterwards.
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", db_path.display()))
        .expect("sqlite options")
        .synchronous(SqliteSynchronous::Off)
        .pragma("cache_size", "-262144")
        .pragma("temp_store", "MEMORY")
        .foreign_keys(true);
    let mut conn: SqliteConnection = options.connect().await.expect("sqlite connect");

    let mut rng = StdRng::seed_from_u64(5);
    let now_us = now.timestamp_micros();
    let span_us = 3 * 365 * 86_400 * 1_000_000_i64;
    let mut times: Vec<i64> = (0..REQUESTS)
        .map(|_| now_us - rng.gen_range(60_000_000..span_us))
        .collect();
    times.sort_unstable();
    // Each applicant once, then the rest: half uniformly, half among the frequent ones.
    let mut owners: Vec<u32> = (0..APPLICANTS as u32).collect();
    for _ in APPLICANTS..REQUESTS {
        let a = if rng.gen_bool(0.5) {
            rng.gen_range(0..APPLICANTS)
        } else {
            rng.gen_range(0..APPLICANTS / FREQUENT_EVERY) * FREQUENT_EVERY
        };
        owners.push(a as u32);
    }
    owners.shuffle(&mut rng);
    let day = 86_400 * 1_000_000_i64;
    let reqs: Vec<Req> = times
        .iter()
        .zip(&owners)
        .map(|(&at, &applicant)| {
            let leaf = rng.gen_range(0..leaves.len());
            let terms = &leaves[leaf].terms;
            let ordinary = terms.iter().position(|(t, _)| *t == RequestType::Ordinary);
            let term = match ordinary {
                Some(o) if rng.gen_bool(0.85) => o,
                _ => rng.gen_range(0..terms.len()),
            };
            let age = now_us - at;
            let p_open = if age < 45 * day {
                0.85
            } else if age < 365 * day {
                0.015
            } else {
                0.002
            };
            let open = rng.gen_bool(p_open).then(|| {
                *[
                    AssignmentStatus::Sent,
                    AssignmentStatus::InProgress,
                    AssignmentStatus::InProgress,
                    AssignmentStatus::InProgress,
                    AssignmentStatus::Rework,
                ]
                .choose(&mut rng)
                .expect("status")
            });
            Req {
                at,
                applicant,
                leaf: leaf as u16,
                term: term as u8,
                open,
            }
        })
        .collect();

    // Applicants, created with their first request.
    let mut created = vec![i64::MAX; APPLICANTS];
    for r in &reqs {
        let c = &mut created[r.applicant as usize];
        *c = (*c).min(r.at);
    }
    let mut tx = conn.begin().await.expect("begin");
    for chunk in (0..APPLICANTS).collect::<Vec<_>>().chunks(2_000) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO applicants (id, name, address, no_survey, created_at, updated_at) ",
        );
        q.push_values(chunk, |mut b, &i| {
            let name = format!("{} {}", SURNAMES[i % 16], NAMES[(i / 16) % 12]);
            let address = format!(
                "{}, {}, кв. {}",
                STREETS[(i / 7) % 8],
                1 + (i * 31) % 150,
                1 + (i * 17) % 200
            );
            b.push_bind(i as i64 + 1)
                .push_bind(name)
                .push_bind(address)
                .push_bind(i64::from(i % 50 == 0))
                .push_bind(created[i])
                .push_bind(created[i]);
        });
        q.build().execute(&mut *tx).await.expect("applicants");
    }
    for chunk in (0..APPLICANTS).collect::<Vec<_>>().chunks(10_000) {
        let mut q =
            QueryBuilder::<Sqlite>::new("INSERT INTO applicant_phones (e164, applicant_id) ");
        q.push_values(chunk, |mut b, &i| {
            b.push_bind(phone_of(i)).push_bind(i as i64 + 1);
        });
        q.build().execute(&mut *tx).await.expect("phones");
    }
    tx.commit().await.expect("commit");

    // Requests in registration order, numbered per year, with their executor rows.
    let mut per_year: HashMap<i32, u32> = HashMap::new();
    let mut numbers = Vec::with_capacity(REQUESTS);
    for r in &reqs {
        let year = micros_to_time(r.at).year();
        let seq = per_year.entry(year).or_insert(0);
        *seq += 1;
        numbers.push(RequestNumber::new(year as u16, *seq).expect("number"));
    }
    let ids: Vec<usize> = (0..REQUESTS).collect();
    for batch in ids.chunks(100_000) {
        let mut tx = conn.begin().await.expect("begin");
        for chunk in batch.chunks(1_000) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO requests (id, number, channel, applicant_id, address, description, \
                 classifier_code, classifier_revision, classifier_title, section, area, \
                 request_type, term, status, version, registered_at, deadline, closed_at, \
                 created_by, state_json, updated_at) ",
            );
            q.push_values(chunk, |mut b, &k| {
                let r = &reqs[k];
                let leaf = &leaves[r.leaf as usize];
                let (kind, term) = leaf.terms[r.term as usize];
                let deadline = r.at + term_micros(term);
                let registered = micros_to_time(r.at);
                let closed_at = r.open.is_none().then(|| {
                    let took = (deadline - r.at) * (3 + (k as i64 % 7)) / 10;
                    (r.at + took).min(now_us - 1_000_000)
                });
                let mut state =
                    RequestState::registered(numbers[k], registered, micros_to_time(deadline));
                state.assignments = leaf
                    .units
                    .iter()
                    .map(|u| {
                        let mut a = Assignment::sent(u.clone(), registered);
                        match (r.open, closed_at) {
                            (Some(status), _) => a.status = status,
                            (None, Some(closed)) => {
                                a.status = AssignmentStatus::Completed;
                                a.accepted_at = Some(registered);
                                a.result = Some(ExecutionResult {
                                    kind: ResultKind::Done,
                                    text: "Роботи виконано, заявника повідомлено".into(),
                                    approved_at: micros_to_time(closed),
                                });
                            }
                            (None, None) => {}
                        }
                        a
                    })
                    .collect();
                state.closed_at = closed_at.map(micros_to_time);
                state.status = state.derived_status();
                state.version = match r.open {
                    None => 5,
                    Some(AssignmentStatus::Sent) => 2,
                    Some(AssignmentStatus::Rework) => 6,
                    Some(_) => 3,
                };
                let channel = match k % 20 {
                    0 | 1 => "web",
                    2 => "walk_in",
                    _ => "phone",
                };
                let address = format!("{}, {}", STREETS[k % 8], 1 + k % 150);
                b.push_bind(k as i64 + 1)
                    .push_bind(numbers[k].to_string())
                    .push_bind(channel)
                    .push_bind(i64::from(r.applicant) + 1)
                    .push_bind(address)
                    .push_bind(DESCRIPTIONS[k % DESCRIPTIONS.len()])
                    .push_bind(leaf.code.as_str())
                    .push_bind(0_i64)
                    .push_bind(leaf.title.as_str())
                    .push_bind(leaf.section.as_str())
                    .push_bind(leaf.area.as_str())
                    .push_bind(kind.key())
                    .push_bind(term.to_string())
                    .push_bind(state.status.as_str())
                    .push_bind(state.version)
                    .push_bind(r.at)
                    .push_bind(deadline)
                    .push_bind(closed_at)
                    .push_bind(created_by)
                    .push_bind(serde_json::to_string(&state).expect("state json"))
                    .push_bind(closed_at.unwrap_or(r.at));
            });
            q.build().execute(&mut *tx).await.expect("requests");
        }
        let rows: Vec<(usize, &ExecutorCode)> = batch
            .iter()
            .flat_map(|&k| {
                leaves[reqs[k].leaf as usize]
                    .units
                    .iter()
                    .map(move |u| (k, u))
            })
            .collect();
        for chunk in rows.chunks(10_000) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO request_executors (request_id, executor_code, status) ",
            );
            q.push_values(chunk, |mut b, (k, unit)| {
                let status = reqs[*k].open.unwrap_or(AssignmentStatus::Completed);
                b.push_bind(*k as i64 + 1)
                    .push_bind(unit.as_str())
                    .push_bind(status.as_str());
            });
            q.build().execute(&mut *tx).await.expect("executors");
        }
        tx.commit().await.expect("commit");
    }
    for (year, last) in &per_year {
        sqlx::query("INSERT INTO request_numbers (year, last) VALUES (?, ?)")
            .bind(i64::from(*year))
            .bind(i64::from(*last))
            .execute(&mut conn)
            .await
            .expect("request numbers");
    }
    sqlx::query("ANALYZE")
        .execute(&mut conn)
        .await
        .expect("analyze");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .expect("checkpoint");
    conn.close().await.expect("close");
    started.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// Calls

struct Planned {
    /// Start offset from the beginning of the phase.
    at: Duration,
    spec: CallSpec,
}

/// The seeded call schedule both phases play: Poisson arrivals at `CALLS_PER_SECOND`.
fn schedule() -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(7);
    let exts = extensions();
    let total = WARMUP + MEASURED;
    let mut out = Vec::new();
    let mut t = 0.0f64;
    loop {
        let u: f64 = rng.gen_range(f64::EPSILON..1.0);
        t += -u.ln() / CALLS_PER_SECOND;
        if t >= total.as_secs_f64() {
            break;
        }
        let applicant = if rng.gen_bool(0.4) {
            rng.gen_range(0..APPLICANTS / FREQUENT_EVERY) * FREQUENT_EVERY
        } else {
            rng.gen_range(0..APPLICANTS)
        };
        let r: f64 = rng.gen();
        let kind = if r < 0.80 {
            CallKind::Answered
        } else if r < 0.92 {
            CallKind::Abandoned
        } else if r < 0.97 {
            CallKind::Queue
        } else {
            CallKind::NoAnswer
        };
        let ring = Duration::from_millis(rng.gen_range(500..2_000));
        let talk = Duration::from_millis(rng.gen_range(1_000..4_000));
        let first = rng.gen_range(0..exts.len());
        let mut spec = CallSpec::new(kind).durations(ring, talk);
        spec.caller = national(&phone_of(applicant));
        spec.caller_name = String::new();
        spec.operators = vec![exts[first].clone()];
        match kind {
            CallKind::Queue => {
                let second = (first + rng.gen_range(1..exts.len())) % exts.len();
                spec.operators.push(exts[second].clone());
                spec.answered_by = Some(exts[first].clone());
            }
            CallKind::NoAnswer => {
                spec.ring_ms = None;
                spec.dial_timeout_s = 2;
            }
            _ => {}
        }
        out.push(Planned {
            at: Duration::from_secs_f64(t),
            spec,
        });
    }
    out
}

/// Starts a fake Asterisk whose outgoing frames are captured with their send time.
async fn start_sim(capture: &Capture, shutdown: &CancellationToken) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sim");
    let mut config = SimConfig::new(contactd_pbx_sim::system_clock());
    let sink = capture.clone();
    config.frame_hook = Some(Arc::new(move |f: FrameOut<'_>| {
        let at = Instant::now();
        let text = f.text.to_owned();
        sink.lock().expect("capture").push((at, text));
    }));
    Sim::bind(listener, config, shutdown.clone()).expect("sim")
}

/// Plays the schedule in real time from now; returns when the last call has started.
async fn play(sim: &SimHandle, calls: &[Planned]) -> Instant {
    let t0 = Instant::now();
    let base = tokio::time::Instant::from_std(t0);
    for c in calls {
        tokio::time::sleep_until(base + c.at).await;
        sim.play(&c.spec).expect("play");
    }
    t0
}

/// The frames (by index) that make a call ring at an extension, found by replaying the captured
/// stream through the real parser, translator and call tracker.
fn ringing_frames(texts: &[&str]) -> Vec<(usize, String, String)> {
    let mut tracker = CallTracker::new();
    let mut out = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let Ok(event) = parse_frame(text, DEFAULT_MAX_FRAME_LEN) else {
            continue;
        };
        for pbx in translate(&event) {
            for call in tracker.apply(&pbx) {
                if let CallEvent::Ringing {
                    call_id,
                    operator_extension,
                    ..
                } = call
                {
                    out.push((i, call_id, operator_extension));
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Results

#[derive(Default)]
struct Phase {
    /// Latencies of the pop-ups whose ringing frame was written after the warm-up.
    samples: Vec<Duration>,
    expected: usize,
    lost: usize,
    notes: Vec<String>,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

// ---------------------------------------------------------------------------------------------
// contactd

/// What one operator console saw.
#[derive(Default)]
struct Console {
    /// (call_id, extension, read at, had an applicant, history items, frame bytes)
    popups: Vec<(String, String, Instant, bool, usize, usize)>,
    snapshots: usize,
    other: usize,
}

async fn console(mut ws: Ws, stop: CancellationToken) -> Console {
    let mut seen = Console::default();
    loop {
        let msg = tokio::select! {
            () = stop.cancelled() => break,
            msg = ws.next() => msg,
        };
        let at = Instant::now();
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => continue,
        };
        let v: Value = serde_json::from_str(text.as_str()).expect("pop-up json");
        match v["type"].as_str() {
            Some("call.ringing") => {
                let items = v["open_requests"].as_array().map_or(0, Vec::len)
                    + v["recent_requests"].as_array().map_or(0, Vec::len);
                seen.popups.push((
                    v["call_id"].as_str().unwrap_or_default().to_owned(),
                    v["operator_extension"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    at,
                    !v["applicant"].is_null(),
                    items,
                    text.len(),
                ));
            }
            Some("snapshot") => seen.snapshots += 1,
            _ => seen.other += 1,
        }
    }
    let _ = ws.close(None).await;
    seen
}

/// `contactd_<name>{labels} value` lines of `/metrics` whose name starts with `prefix`.
fn metric_lines(text: &str, prefixes: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && prefixes.iter().any(|p| l.starts_with(p)))
        .map(str::to_owned)
        .collect()
}

async fn run_contactd(db_url: &str, calls: &[Planned]) -> (Phase, Vec<String>, PbxConfig) {
    let capture: Capture = Arc::new(Mutex::new(Vec::with_capacity(400_000)));
    let sim_shutdown = CancellationToken::new();
    let sim = start_sim(&capture, &sim_shutdown).await;
    let text = format!(
        "[database]\nurl = \"{db_url}\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [escalation]\nenabled = false\n\
         [pbx]\nari_url = \"{}\"\nusername = \"cc\"\npassword = \"ccpass\"\n",
        sim.base_url()
    );
    // `CONTACTD_SECTION__KEY` variables change the daemon's configuration as they do the binary's.
    let env: Vec<(String, String)> = std::env::vars().collect();
    let config = Config::from_toml(&text, Path::new("bench.toml"), &env).expect("config");
    let pbx = config.effective_pbx().expect("pbx config");
    let app = support::spawn_app(config).await;
    let addr = app.addr;
    let http = app.client.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body: Value = http
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .expect("readyz")
            .json()
            .await
            .expect("readyz json");
        if body["pbx"]["state"] == "up" && sim.connected_clients().len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "PBX link not up: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let stop = CancellationToken::new();
    let mut consoles = Vec::new();
    for ext in extensions() {
        let token = app.sign_in(&format!("op{ext}"), PASSWORD).await;
        let mut request = format!("ws://{addr}/ws/operator")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("operator socket");
        let first = ws.next().await.expect("snapshot").expect("snapshot");
        let snapshot: Value = serde_json::from_str(first.to_text().expect("text")).expect("json");
        assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
        consoles.push(tokio::spawn(console(ws, stop.clone())));
    }
    capture.lock().expect("capture").clear();

    let load_before = loadavg();
    let t0 = play(&sim, calls).await;
    sim.wait_idle().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let metrics = app.metrics().await;
    stop.cancel();
    let mut seen = Console::default();
    for c in consoles {
        let c = c.await.expect("console");
        seen.popups.extend(c.popups);
        seen.snapshots += c.snapshots;
        seen.other += c.other;
    }
    app.stop().await.expect("daemon");
    sim_shutdown.cancel();
    sim.join().await;

    let frames = std::mem::take(&mut *capture.lock().expect("capture"));
    let texts: Vec<&str> = frames.iter().map(|(_, t)| t.as_str()).collect();
    let expected: HashMap<(String, String), Instant> = ringing_frames(&texts)
        .into_iter()
        .map(|(i, call, ext)| ((call, ext), frames[i].0))
        .collect();
    let measured_from = t0 + WARMUP;
    let mut phase = Phase {
        expected: expected.len(),
        ..Phase::default()
    };
    let mut received = HashSet::new();
    let (mut with_applicant, mut items, mut bytes, mut unmatched) = (0, 0, 0, 0);
    // (latency, when its ringing frame was written, since the start of the calls)
    let mut timed = Vec::new();
    for (call, ext, at, applicant, n, len) in &seen.popups {
        with_applicant += usize::from(*applicant);
        items += n;
        bytes += len;
        let key = (call.clone(), ext.clone());
        match expected.get(&key) {
            Some(sent) => {
                if *sent >= measured_from {
                    let latency = at.saturating_duration_since(*sent);
                    phase.samples.push(latency);
                    timed.push((latency, sent.saturating_duration_since(t0)));
                }
                received.insert(key);
            }
            None => unmatched += 1,
        }
    }
    phase.lost = expected.len() - received.len();
    let popups = seen.popups.len().max(1);
    phase.notes.push(format!(
        "{} calls, {} ARI frames ({:.0}/s) in {:.1} s; load average before {load_before}, after {}",
        calls.len(),
        frames.len(),
        frames.len() as f64 / (WARMUP + MEASURED).as_secs_f64(),
        (WARMUP + MEASURED).as_secs_f64(),
        loadavg()
    ));
    phase.notes.push(format!(
        "pop-ups: {} received for {} ringing legs, {} with an applicant, {:.1} requests and {:.0} bytes per pop-up on average; {unmatched} unmatched, {} resync snapshots, {} other frames",
        seen.popups.len(),
        expected.len(),
        with_applicant,
        items as f64 / popups as f64,
        bytes as f64 / popups as f64,
        seen.snapshots,
        seen.other
    ));
    timed.sort_by(|a, b| b.cmp(a));
    let slowest: Vec<String> = timed
        .iter()
        .take(5)
        .map(|(latency, at)| format!("{:.1} ms at {:.2} s", us(*latency) / 1e3, at.as_secs_f64()))
        .collect();
    phase
        .notes
        .push(format!("slowest pop-ups: {}", slowest.join(", ")));
    for line in metric_lines(
        &metrics,
        &[
            "contactd_ari_frames",
            "contactd_call_records_failed",
            "contactd_operator_resyncs",
            "contactd_popup_history_late",
            "contactd_call_events",
        ],
    ) {
        phase.notes.push(format!("daemon metric {line}"));
    }
    let texts = frames.into_iter().map(|(_, t)| t).collect();
    (phase, texts, pbx)
}

/// The caller-history lookup alone for every call of the schedule, one after another.
async fn lookup_alone(config: &Config, calls: &[Planned]) -> String {
    let storage = contactd::storage::Storage::connect(&config.database)
        .await
        .expect("storage");
    let mut took = Vec::with_capacity(calls.len());
    for c in calls {
        let caller = contactd_domain::CallerNumber::from_pbx(&c.spec.caller);
        let started = Instant::now();
        let history = contactd::hub::caller_history(&storage, &caller)
            .await
            .expect("history");
        took.push(started.elapsed());
        assert!(
            history.applicant.is_some(),
            "caller {} unknown",
            c.spec.caller
        );
    }
    storage.close().await;
    took.sort();
    format!(
        "caller_history alone, {} lookups one at a time: p50 {:.0} µs, p95 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        took.len(),
        us(pct(&took, 0.50)),
        us(pct(&took, 0.95)),
        us(pct(&took, 0.99)),
        us(pct(&took, 1.0))
    )
}

// ---------------------------------------------------------------------------------------------
// The bare relay

/// Which ARI frames a relay passes on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RelayFilter {
    /// Every text frame: the baseline the target is set against.
    All,
    /// Only frames that can make a phone ring (a `Dial` with `"dialstatus":"RINGING"` or a
    /// `ChannelStateChange` to `"Ringing"`; plain substring tests). The client then reads as few frames as an operator's console
    /// does (a few hundred a second, not ~15,000), so its threads sleep between pop-ups as
    /// contactd's do: it shows how much of the gap to the baseline is the wake-up of an idle
    /// thread rather than work. Reported beside the baseline, never instead of it.
    RingingOnly,
}

impl RelayFilter {
    fn passes(self, text: &str) -> bool {
        self == Self::All
            || text.contains("\"dialstatus\":\"RINGING\"")
            || (text.contains("\"type\":\"ChannelStateChange\"")
                && text.contains("\"state\":\"Ringing\""))
    }
}

/// Accepts one client, then relays the text frames of the ARI WebSocket at `ari` that pass
/// `filter` to it.
async fn relay(listener: TcpListener, ari: String, filter: RelayFilter) {
    let (tcp, _) = listener.accept().await.expect("relay accept");
    tcp.set_nodelay(true).expect("nodelay");
    let mut client = tokio_tungstenite::accept_async(tcp)
        .await
        .expect("relay handshake");
    let (mut upstream, _) = tokio_tungstenite::connect_async_with_config(ari, None, true)
        .await
        .expect("relay to ARI");
    while let Some(Ok(msg)) = upstream.next().await {
        let pass = msg.is_text() && msg.to_text().is_ok_and(|t| filter.passes(t));
        if pass && client.send(msg).await.is_err() {
            break;
        }
    }
    let _ = client.close(None).await;
}

async fn run_relay(calls: &[Planned], filter: RelayFilter) -> Phase {
    let capture: Capture = Arc::new(Mutex::new(Vec::with_capacity(400_000)));
    let sim_shutdown = CancellationToken::new();
    let sim = start_sim(&capture, &sim_shutdown).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
    let relay_addr = listener.local_addr().expect("addr");
    let ari = format!("{}&api_key=cc:ccpass", sim.events_url("contactd"));
    let relay_task = tokio::spawn(relay(listener, ari, filter));
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{relay_addr}/"))
        .await
        .expect("relay client");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.connected_clients().len() != 1 {
        assert!(Instant::now() < deadline, "relay never connected to ARI");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stop = CancellationToken::new();
    let reader = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut got: Vec<(Instant, usize)> = Vec::with_capacity(400_000);
            loop {
                let msg = tokio::select! {
                    () = stop.cancelled() => break,
                    msg = ws.next() => msg,
                };
                let at = Instant::now();
                match msg {
                    Some(Ok(Message::Text(t))) => got.push((at, t.len())),
                    Some(Ok(_)) => {}
                    None | Some(Err(_)) => break,
                }
            }
            got
        })
    };
    let load_before = loadavg();
    let t0 = play(&sim, calls).await;
    sim.wait_idle().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.cancel();
    let got = reader.await.expect("reader");
    sim_shutdown.cancel();
    sim.join().await;
    let _ = relay_task.await;

    let frames = std::mem::take(&mut *capture.lock().expect("capture"));
    // The frames the relay passed on, in order: `got[k]` is the client's read of `passed[k]`.
    let passed: Vec<usize> = (0..frames.len())
        .filter(|i| filter.passes(&frames[*i].1))
        .collect();
    for (k, (i, (_, len))) in passed.iter().zip(&got).enumerate() {
        assert_eq!(frames[*i].1.len(), *len, "relay frame {k} out of order");
    }
    let texts: Vec<&str> = frames.iter().map(|(_, t)| t.as_str()).collect();
    let ringing = ringing_frames(&texts);
    // Every frame that makes a phone ring must pass the filter, or its pop-up is not measured.
    for (i, _, _) in &ringing {
        assert!(
            filter.passes(texts[*i]),
            "relay filter misses ringing frame {i}"
        );
    }
    let measured_from = t0 + WARMUP;
    let mut phase = Phase {
        expected: ringing.len(),
        ..Phase::default()
    };
    for (i, _, _) in &ringing {
        let k = passed.binary_search(i).unwrap_or(usize::MAX);
        match got.get(k) {
            Some((at, _)) => {
                let sent = frames[*i].0;
                if sent >= measured_from {
                    phase.samples.push(at.saturating_duration_since(sent));
                }
            }
            None => phase.lost += 1,
        }
    }
    let all: Vec<Duration> = passed
        .iter()
        .zip(&got)
        .map(|(i, (at, _))| at.saturating_duration_since(frames[*i].0))
        .collect();
    let mut all_sorted = all;
    all_sorted.sort();
    phase.notes.push(format!(
        "{} calls, {} ARI frames relayed of {}; every relayed frame: p50 {:.0} µs, p99 {:.0} µs; load average before {load_before}, after {}",
        calls.len(),
        got.len(),
        frames.len(),
        us(pct(&all_sorted, 0.50)),
        us(pct(&all_sorted, 0.99)),
        loadavg()
    ));
    phase
}

// ---------------------------------------------------------------------------------------------
// Ingestion

/// One pass of `frames` through the link's real consumer on the current (single) thread;
/// returns (elapsed, call events, frames counted ok + unknown).
async fn ingest_pass(pbx: &PbxConfig, frames: Vec<String>) -> (Duration, u64, u64) {
    let n = frames.len();
    let (tx, rx) = mpsc::channel(n + 1);
    for f in frames {
        tx.try_send(WsMessage::Frame(f)).expect("queue");
    }
    drop(tx);
    let (records_tx, mut records_rx) = mpsc::channel(RECORD_QUEUE);
    let drain = tokio::spawn(async move {
        let mut events = 0u64;
        while records_rx.recv().await.is_some() {
            events += 1;
        }
        events
    });
    let hub = Hub::new(CancellationToken::new(), TaskTracker::new());
    let metrics = MetricsRegistry::new();
    let started = Instant::now();
    contactd::pbx::link::consume(
        pbx,
        hub,
        metrics.clone(),
        rx,
        records_tx,
        CancellationToken::new(),
    )
    .await
    .expect("consume");
    let elapsed = started.elapsed();
    let events = drain.await.expect("drain");
    let counted = metric_lines(&metrics.render(), &["contactd_ari_frames_total"])
        .iter()
        .filter(|l| l.contains("result=\"ok\"") || l.contains("result=\"unknown\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    (elapsed, events, counted)
}

fn ingestion(pbx: PbxConfig, frames: Vec<String>) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let bytes: usize = frames.iter().map(String::len).sum();
        println!(
            "\ningestion: {} captured ARI frames ({:.0} bytes mean) through pbx::link::consume on one thread",
            frames.len(),
            bytes as f64 / frames.len().max(1) as f64
        );
        let mut rates = Vec::new();
        for pass in 1..=INGEST_PASSES {
            let copy = frames.clone();
            let (elapsed, events, counted) = runtime.block_on(ingest_pass(&pbx, copy));
            let rate = frames.len() as f64 / elapsed.as_secs_f64();
            println!(
                "  pass {pass}: {rate:>9.0} events/s ({:.3} s; {counted} frames counted, {events} call events)",
                elapsed.as_secs_f64()
            );
            assert_eq!(counted as usize, frames.len(), "frames lost in ingestion");
            rates.push(rate);
        }
        // For context: the parser alone over the same frames on the same thread.
        let started = Instant::now();
        let mut ok = 0usize;
        for f in &frames {
            if let Ok(e) = parse_frame(std::hint::black_box(f), DEFAULT_MAX_FRAME_LEN) {
                ok += usize::from(!matches!(e, AriEvent::Unknown { .. }));
            }
        }
        let parse_rate = frames.len() as f64 / started.elapsed().as_secs_f64();
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        println!("  parse_frame alone: {parse_rate:>9.0} events/s ({ok} modelled events)");
        println!(
            "  ingestion median {median:.0} events/s; target ≥ 50,000 events/s on one core: {}",
            if median >= 50_000.0 { "met" } else { "NOT met" }
        );
    })
    .join()
    .expect("ingestion thread");
}

// ---------------------------------------------------------------------------------------------

fn row(name: &str, p: &Phase) -> [Duration; 4] {
    let mut s = p.samples.clone();
    s.sort();
    let q = [pct(&s, 0.50), pct(&s, 0.95), pct(&s, 0.99), pct(&s, 1.0)];
    let over = |limit: Duration| s.iter().filter(|d| **d > limit).count();
    println!(
        "{name:<12} {:>7} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>7} {:>7}   lost {} of {}",
        s.len(),
        us(q[0]),
        us(q[1]),
        us(q[2]),
        us(q[3]),
        over(Duration::from_millis(1)),
        over(Duration::from_millis(10)),
        p.lost,
        p.expected
    );
    q
}

fn main() {
    // The daemon's default log level, formatted as under systemd without journald, then dropped.
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let kept = std::env::var_os("POPUP_BENCH_DB").map(std::path::PathBuf::from);
    let db_path = kept
        .clone()
        .unwrap_or_else(|| dir.path().join("contactd.db"));
    let db_url = format!("sqlite://{}", db_path.display());
    let (contactd, relay, frames, pbx) = runtime.block_on(async {
        let now = SystemClock.now();
        let text = format!("[database]\nurl = \"{db_url}\"\n[http]\nlisten = \"127.0.0.1:0\"\n");
        let config = Config::from_toml(&text, Path::new("bench.toml"), &[]).expect("config");
        if kept.is_some() && db_path.exists() {
            println!("reusing the database seeded earlier at {}", db_path.display());
        } else {
            let secs = seed(&config, &db_path, now).await;
            let size = std::fs::metadata(&db_path).map(|m| m.len()).unwrap_or(0);
            println!(
                "seeded {APPLICANTS} applicants (with phones) and {REQUESTS} requests (with executors) in {secs:.1} s; database {:.0} MB",
                size as f64 / 1e6
            );
        }
        let calls = schedule();
        println!(
            "schedule: {} calls at {CALLS_PER_SECOND}/s (Poisson), {} s warm-up + {} s measured, {OPERATORS} operators",
            calls.len(),
            WARMUP.as_secs(),
            MEASURED.as_secs()
        );
        let (mut contactd, frames, pbx) = run_contactd(&db_url, &calls).await;
        contactd.notes.push(lookup_alone(&config, &calls).await);
        let relay = run_relay(&calls, RelayFilter::All).await;
        let quiet = run_relay(&calls, RelayFilter::RingingOnly).await;
        (contactd, (relay, quiet), frames, pbx)
    });
    let (relay, quiet) = relay;
    println!("\npop-up latency, ARI frame written → operator frame read (µs)");
    println!(
        "{:<12} {:>7} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "", "n", "p50", "p95", "p99", "max", ">1ms", ">10ms"
    );
    let c = row("contactd", &contactd);
    let r = row("bare relay", &relay);
    let q = row("relay, ring", &quiet);
    println!(
        "ratio contactd / relay: p50 {:.2}, p99 {:.2}",
        c[0].as_secs_f64() / r[0].as_secs_f64(),
        c[2].as_secs_f64() / r[2].as_secs_f64()
    );
    println!(
        "diagnostic, not the target: contactd / relay passing only ringing frames: p50 {:.2}, p99 {:.2}",
        c[0].as_secs_f64() / q[0].as_secs_f64(),
        c[2].as_secs_f64() / q[2].as_secs_f64()
    );
    for note in &contactd.notes {
        println!("  contactd: {note}");
    }
    for note in &relay.notes {
        println!("  relay: {note}");
    }
    for note in &quiet.notes {
        println!("  relay, ring: {note}");
    }
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "targets: p99 ≤ 1 ms: {}; p50 ≤ 2× relay: {}; no pop-up lost: {}",
        met(c[2] <= Duration::from_millis(1)),
        met(c[0].as_secs_f64() <= 2.0 * r[0].as_secs_f64()),
        met(contactd.lost == 0)
    );
    ingestion(pbx, frames);
}
