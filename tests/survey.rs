//! The applicant survey (regulation 9.6) in the daemon, on a fixed clock and seed: draws (min/max
//! per executor, exclusions, same seed ⇒ same sample, a period drawn once, replay, unknown id),
//! the CLI, outcomes (rework through the workflow with audit, retries of unreachable applicants,
//! figures) and click-to-call against the real `contactd-pbx-sim`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is a failed test

#[allow(clippy::unwrap_used, clippy::expect_used)]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use contactd::auth::{add_user, NewUser, Role};
use contactd::clock::ManualClock;
use contactd::config::Config;
use contactd::storage::{to_db_time, Storage};
use contactd::survey::{self, DrawOutcome, DrawRequest, Trigger};
use contactd_domain::{ExecutorCode, RequestNumber};
use contactd_workflow::{
    Assignment, AssignmentStatus, ExecutionResult, RequestState, RequestStatus, ResultKind,
};
use serde_json::{json, Value};
use support::{engines, kyiv, spawn_app_with_clock, Engine, TestApp, TestDb};

const PASSWORD: &str = "correct horse battery";

/// Wednesday 2026-11-25, 10:00 in Kyiv: working time.
fn now() -> DateTime<Utc> {
    kyiv(2026, 11, 25, 10, 0)
}

const SURVEY: &str = "[survey]\nrate_percent = 20\nmin_per_executor = 2\nmax_per_executor = 3\n";

/// One closed request to insert.
struct Closed<'a> {
    unit: &'a str,
    phone: Option<&'a str>,
    opted_out: bool,
    closed_at: DateTime<Utc>,
    status: &'a str,
}

struct Seeded {
    /// Request number → (id, unit, applicant id).
    requests: BTreeMap<String, (i64, String, i64)>,
}

async fn base(storage: &Storage) {
    let at = now() - Duration::days(30);
    for unit in ["UNIT-A", "UNIT-B", "UNIT-C"] {
        sqlx::query("INSERT INTO executors (code, name, created_at) VALUES ($1, $2, $3)")
            .bind(unit)
            .bind(format!("Виконавець {unit}"))
            .bind(to_db_time(at))
            .execute(storage.writer())
            .await
            .unwrap();
    }
    for (login, role, ext) in [
        ("op1", Role::Operator, Some("1001")),
        ("sup1", Role::Supervisor, None),
    ] {
        let user = NewUser {
            login: login.into(),
            password: PASSWORD.into(),
            role,
            executors: vec![],
            extension: ext.map(Into::into),
        };
        add_user(storage, &user, at).await.unwrap();
    }
}

/// Inserts closed requests directly, with a workflow state that the workflow accepts.
async fn seed(storage: &Storage, rows: &[Closed<'_>]) -> Seeded {
    let mut requests = BTreeMap::new();
    for (i, c) in rows.iter().enumerate() {
        let seq = u32::try_from(i + 1).unwrap();
        let number = RequestNumber::new(2026, seq).unwrap();
        let registered = c.closed_at - Duration::days(3);
        let applicant: i64 = sqlx::query_scalar(
            "INSERT INTO applicants (name, address, no_survey, created_at, updated_at) VALUES ($1, '', $2, $3, $3) RETURNING id",
        )
        .bind(format!("Заявник {seq}"))
        .bind(i64::from(c.opted_out))
        .bind(to_db_time(registered))
        .fetch_one(storage.writer())
        .await
        .unwrap();
        if let Some(phone) = c.phone {
            sqlx::query("INSERT INTO applicant_phones (e164, applicant_id) VALUES ($1, $2)")
                .bind(phone)
                .bind(applicant)
                .execute(storage.writer())
                .await
                .unwrap();
        }
        let unit = ExecutorCode::parse(c.unit).unwrap();
        let mut state =
            RequestState::registered(number, registered, registered + Duration::days(5));
        let mut a = Assignment::sent(unit.clone(), registered);
        a.accepted_at = Some(registered + Duration::hours(1));
        a.status = AssignmentStatus::Completed;
        a.result = Some(ExecutionResult {
            kind: ResultKind::Done,
            text: format!("Виконано роботи за заявою {seq}"),
            approved_at: c.closed_at,
        });
        state.assignments.push(a);
        state.closed_at = (c.status == "closed").then_some(c.closed_at);
        if c.status != "closed" {
            state.assignments[0].status = AssignmentStatus::InProgress;
            state.assignments[0].result = None;
        }
        state.version = 5;
        state.status = state.derived_status();
        assert_eq!(state.status == RequestStatus::Closed, c.status == "closed");
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO requests (number, channel, applicant_id, address, description, classifier_code, classifier_revision, \
             classifier_title, section, request_type, term, status, version, registered_at, deadline, closed_at, created_by, \
             state_json, updated_at) \
             VALUES ($1, 'phone', $2, 'вул. Тестова, 1', 'Тестова заява про воду', '22.5.27', 1, 'Вода', '22', 'ordinary', '5wd', \
             $3, 5, $4, $5, $6, 1, $7, $8) RETURNING id",
        )
        .bind(number.to_string())
        .bind(applicant)
        .bind(state.status.as_str())
        .bind(to_db_time(registered))
        .bind(to_db_time(state.deadline))
        .bind(state.closed_at.map(to_db_time))
        .bind(serde_json::to_string(&state).unwrap())
        .bind(to_db_time(c.closed_at))
        .fetch_one(storage.writer())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO request_executors (request_id, executor_code, status) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(c.unit)
        .bind(if c.status == "closed" {
            "completed"
        } else {
            "in_progress"
        })
        .execute(storage.writer())
        .await
        .unwrap();
        requests.insert(number.to_string(), (id, c.unit.to_owned(), applicant));
    }
    Seeded { requests }
}

fn phone(n: usize) -> String {
    format!("+38050{:07}", 1_000_000 + n)
}

/// Unit A: 4 requests (20% → 1, raised to the minimum 2); unit B: 4, of which one opted out and
/// one without a phone (2 eligible → 2); unit C: 30 (20% → 6, cut to the maximum 3). Plus one
/// closed before the period and one still in progress, neither in the population.
fn three_executors(phones: &[String]) -> Vec<Closed<'_>> {
    let t = now() - Duration::hours(20);
    let mut rows = Vec::new();
    let mut p = phones.iter();
    let mut next = || Some(p.next().unwrap().as_str());
    for _ in 0..4 {
        rows.push(Closed {
            unit: "UNIT-A",
            phone: next(),
            opted_out: false,
            closed_at: t,
            status: "closed",
        });
    }
    rows.push(Closed {
        unit: "UNIT-B",
        phone: next(),
        opted_out: true,
        closed_at: t,
        status: "closed",
    });
    rows.push(Closed {
        unit: "UNIT-B",
        phone: None,
        opted_out: false,
        closed_at: t,
        status: "closed",
    });
    for _ in 0..2 {
        rows.push(Closed {
            unit: "UNIT-B",
            phone: next(),
            opted_out: false,
            closed_at: t,
            status: "closed",
        });
    }
    for _ in 0..30 {
        rows.push(Closed {
            unit: "UNIT-C",
            phone: next(),
            opted_out: false,
            closed_at: t,
            status: "closed",
        });
    }
    rows.push(Closed {
        unit: "UNIT-A",
        phone: next(),
        opted_out: false,
        closed_at: now() - Duration::days(20),
        status: "closed",
    });
    rows.push(Closed {
        unit: "UNIT-C",
        phone: next(),
        opted_out: false,
        closed_at: t,
        status: "in_progress",
    });
    rows
}

fn config(db: &TestDb, extra: &str) -> Config {
    db.config_with(&format!("{SURVEY}{extra}"))
}

async fn draw_at(storage: &Storage, cfg: &Config, seed: u64) -> DrawOutcome {
    let request = DrawRequest {
        period_end: now(),
        seed: Some(seed),
        trigger: Trigger::Cli,
    };
    survey::run_draw(storage, &cfg.survey, request, now())
        .await
        .unwrap()
}

fn sampled_numbers(outcome: &DrawOutcome) -> Vec<String> {
    match outcome {
        DrawOutcome::Drawn { draw, .. } => draw
            .sample
            .iter()
            .map(|s| s.request_number.clone())
            .collect(),
        DrawOutcome::AlreadyDrawn(s) => {
            panic!("expected a new draw, got the existing draw {}", s.id)
        }
    }
}

#[tokio::test]
async fn draw_respects_limits_and_exclusions_once_per_period_and_replays() {
    let phones: Vec<String> = (0..60).map(phone).collect();
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let cfg = config(&db, "");
        let storage = contactd::app::open_storage(&cfg).await.unwrap();
        base(&storage).await;
        let seeded = seed(&storage, &three_executors(&phones)).await;

        let outcome = draw_at(&storage, &cfg, 42).await;
        let DrawOutcome::Drawn { summary, draw } = &outcome else {
            panic!("no draw")
        };
        assert_eq!(
            summary.population, 38,
            "36 in the period + the opted-out and no-phone ones; not the old or open ones"
        );
        assert_eq!(summary.seed, "42");
        assert_eq!(draw.excluded.opted_out, 1);
        assert_eq!(draw.excluded.no_phone, 1);
        let per_unit: BTreeMap<&str, usize> = draw
            .executors
            .iter()
            .map(|e| (e.executor_code.as_str(), e.sampled))
            .collect();
        assert_eq!(
            per_unit,
            BTreeMap::from([("UNIT-A", 2), ("UNIT-B", 2), ("UNIT-C", 3)]),
            "{:?}",
            draw.executors
        );

        // The tasks are exactly the sample, and the excluded requests are not among them.
        let tasks: Vec<(String, String, String)> =
            sqlx::query_as("SELECT request_number, executor_code, status FROM survey_tasks WHERE draw_id = $1 ORDER BY id")
                .bind(summary.id)
                .fetch_all(storage.reader())
                .await
                .unwrap();
        assert_eq!(tasks.len(), 7);
        assert!(tasks.iter().all(|t| t.2 == "pending"));
        let numbers: BTreeSet<String> = tasks.iter().map(|t| t.0.clone()).collect();
        assert_eq!(numbers, sampled_numbers(&outcome).into_iter().collect());
        for excluded in ["2026-000005", "2026-000006", "2026-000037", "2026-000038"] {
            assert!(seeded.requests.contains_key(excluded));
            assert!(
                !numbers.contains(excluded),
                "{excluded} must not be sampled: {numbers:?}"
            );
        }

        // The same period again: nothing is sampled, nothing is stored.
        match draw_at(&storage, &cfg, 43).await {
            DrawOutcome::AlreadyDrawn(s) => assert_eq!(s.id, summary.id),
            DrawOutcome::Drawn { summary, .. } => {
                panic!("drew the period twice: draw {}", summary.id)
            }
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM survey_tasks")
            .fetch_one(storage.reader())
            .await
            .unwrap();
        assert_eq!(count, 7);
        // The scheduler's step on the same day finds the period covered (draw_at 09:30 < now).
        let calendars = contactd::calendar::Calendars::from_settings(&cfg.calendar).unwrap();
        let due = survey::run_due_draw(
            &storage,
            &calendars,
            &cfg.survey,
            now() + Duration::hours(1),
        )
        .await
        .unwrap();
        assert!(matches!(due, Some(DrawOutcome::AlreadyDrawn(_))), "{due:?}");
        let draws: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM survey_draws")
            .fetch_one(storage.reader())
            .await
            .unwrap();
        assert_eq!(draws, 1);

        // Replay reproduces the stored draw exactly; an unknown id is named in the error.
        let replayed = survey::replay_draw(&storage, summary.id).await.unwrap();
        assert_eq!(replayed.sampled, 7);
        assert_eq!(replayed.request_numbers, sampled_numbers(&outcome));
        let err = survey::replay_draw(&storage, 424_242)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("survey draw 424242 does not exist"), "{err}");

        // A tampered task table is detected.
        sqlx::query("DELETE FROM survey_tasks WHERE id = (SELECT MIN(id) FROM survey_tasks)")
            .execute(storage.writer())
            .await
            .unwrap();
        let err = survey::replay_draw(&storage, summary.id)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("stored tasks differ"), "{err}");
        storage.close().await;
    }
}

#[tokio::test]
async fn two_draws_at_the_same_moment_make_one() {
    let phones: Vec<String> = (0..60).map(phone).collect();
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let cfg = config(&db, "");
        let storage = contactd::app::open_storage(&cfg).await.unwrap();
        base(&storage).await;
        seed(&storage, &three_executors(&phones)).await;
        // Two instances (or the scheduler and an administrator) draw the same period at once.
        let (a, b) = tokio::join!(draw_at(&storage, &cfg, 1), draw_at(&storage, &cfg, 2));
        let drawn = [&a, &b]
            .iter()
            .filter(|o| matches!(o, DrawOutcome::Drawn { .. }))
            .count();
        assert_eq!(
            drawn, 1,
            "{engine:?}: exactly one draw is stored: {a:?} / {b:?}"
        );
        let draws: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM survey_draws")
            .fetch_one(storage.reader())
            .await
            .unwrap();
        let tasks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM survey_tasks")
            .fetch_one(storage.reader())
            .await
            .unwrap();
        assert_eq!((draws, tasks), (1, 7), "{engine:?}: no half or double draw");
        storage.close().await;
    }
}

#[tokio::test]
async fn same_seed_gives_the_same_sample() {
    let phones: Vec<String> = (0..60).map(phone).collect();
    let mut samples = Vec::new();
    for seed_value in [7_u64, 7, 8] {
        let db = TestDb::new(Engine::Sqlite).await;
        let cfg = config(&db, "");
        let storage = contactd::app::open_storage(&cfg).await.unwrap();
        base(&storage).await;
        seed(&storage, &three_executors(&phones)).await;
        samples.push(sampled_numbers(&draw_at(&storage, &cfg, seed_value).await));
        storage.close().await;
    }
    assert_eq!(samples[0], samples[1], "same data, same seed ⇒ same sample");
    assert_ne!(
        samples[0], samples[2],
        "another seed draws another sample of unit C's 30 requests"
    );
}

#[tokio::test]
async fn cli_draw_and_replay() {
    let phones: Vec<String> = (0..60).map(phone).collect();
    let db = TestDb::new(Engine::Sqlite).await;
    let cfg = config(&db, "");
    let storage = contactd::app::open_storage(&cfg).await.unwrap();
    base(&storage).await;
    seed(&storage, &three_executors(&phones)).await;
    storage.close().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contactd.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n{SURVEY}",
            db.url
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_contactd"))
            .args(args)
            .arg("--config")
            .arg(&path)
            .env_remove("CONTACTD_CONFIG")
            .output()
            .unwrap()
    };
    let end = now().to_rfc3339();
    let out = run(&["survey", "draw", "--period-end", &end, "--seed", "42"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("survey draw 1 made")
            && stdout.contains("seed 42")
            && stdout.contains("sampled 7"),
        "{stdout}"
    );
    let out = run(&["survey", "draw", "--period-end", &end, "--seed", "42"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("nothing sampled: survey draw 1 already covers"),
        "{stdout}"
    );
    let out = run(&["survey", "replay", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("survey draw 1 replayed: exactly the same sample of 7 of 38 requests"),
        "{stdout}"
    );
    let out = run(&["survey", "replay", "99"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("survey draw 99 does not exist"), "{stderr}");
}

async fn sign_in(app: &TestApp, login: &str) -> String {
    app.sign_in(login, PASSWORD).await
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Two closed requests of two units, both sampled (rate 100%).
async fn two_tasks(db: &TestDb, extra: &str) -> (Config, Seeded) {
    let cfg = db.config_with(&format!("[survey]\nrate_percent = 100\n{extra}"));
    let storage = contactd::app::open_storage(&cfg).await.unwrap();
    base(&storage).await;
    let t = now() - Duration::hours(20);
    let seeded = seed(
        &storage,
        &[
            Closed {
                unit: "UNIT-A",
                phone: Some("+380501234567"),
                opted_out: false,
                closed_at: t,
                status: "closed",
            },
            Closed {
                unit: "UNIT-B",
                phone: Some("+380671112233"),
                opted_out: false,
                closed_at: t,
                status: "closed",
            },
        ],
    )
    .await;
    let request = DrawRequest {
        period_end: now(),
        seed: Some(1),
        trigger: Trigger::Scheduler,
    };
    let outcome = survey::run_draw(&storage, &cfg.survey, request, now())
        .await
        .unwrap();
    assert_eq!(sampled_numbers(&outcome).len(), 2);
    storage.close().await;
    (cfg, seeded)
}

#[tokio::test]
async fn outcomes_rework_retries_and_figures() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let (cfg, seeded) = two_tasks(&db, "").await;
        let clock = ManualClock::new(now());
        let app = spawn_app_with_clock(cfg, Arc::new(clock.clone())).await;
        let op = sign_in(&app, "op1").await;
        let sup = sign_in(&app, "sup1").await;

        let (status, list) = get(&app, &op, "/api/v1/survey/tasks").await;
        assert_eq!(status, 200, "{list}");
        let list = list.as_array().unwrap().clone();
        assert_eq!(list.len(), 2);
        let task_a = list
            .iter()
            .find(|t| t["executor_code"] == "UNIT-A")
            .unwrap()
            .clone();
        let task_b = list
            .iter()
            .find(|t| t["executor_code"] == "UNIT-B")
            .unwrap()
            .clone();
        assert_eq!(task_a["request_number"], "2026-000001");
        assert_eq!(task_a["applicant_name"], "Заявник 1");
        assert_eq!(task_a["phone"], "+380501234567");
        assert_eq!(task_a["phone_masked"], "+38050*****67");
        assert_eq!(task_a["result_text"], "Виконано роботи за заявою 1");
        assert_eq!(task_a["due"], true);

        // Without [pbx] click-to-call says so.
        let (status, problem) = post(
            &app,
            &op,
            &format!("/api/v1/survey/tasks/{}/call", task_a["id"]),
            json!({}),
        )
        .await;
        assert_eq!(status, 503, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("no PBX is configured"),
            "{problem}"
        );

        // Not confirmed → the request goes back to UNIT-A for rework, through the workflow.
        let (status, done) = post(
            &app,
            &op,
            &format!("/api/v1/survey/tasks/{}/outcome", task_a["id"]),
            json!({"outcome": "not_confirmed", "note": "Заявник каже, що вода тече далі"}),
        )
        .await;
        assert_eq!(status, 200, "{done}");
        assert_eq!(done["status"], "done");
        assert_eq!(done["outcome"], "not_confirmed");
        let (_, request) = get(&app, &sup, "/api/v1/requests/2026-000001").await;
        assert_eq!(request["status"], "rework", "{request}");
        assert_eq!(request["rework_count"], 1);
        let (_, audit) = get(&app, &sup, "/api/v1/requests/2026-000001/audit").await;
        let last = audit.as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["action"], "request.return_after_survey", "{audit}");
        assert_eq!(last["actor"], "op1");
        // Recording again is refused.
        let (status, _) = post(
            &app,
            &op,
            &format!("/api/v1/survey/tasks/{}/outcome", task_a["id"]),
            json!({"outcome": "refused"}),
        )
        .await;
        assert_eq!(status, 409);

        // Unreachable: retried later in working time, then closed after max_attempts (3).
        let path = format!("/api/v1/survey/tasks/{}/outcome", task_b["id"]);
        let (status, first) = post(&app, &op, &path, json!({"outcome": "unreachable"})).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["status"], "pending");
        assert_eq!(first["attempts"], 1);
        let next: DateTime<Utc> = first["next_attempt_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            next,
            kyiv(2026, 11, 25, 12, 45),
            "10:00 + 120 min = 12:00 is lunch: after lunch"
        );
        assert_eq!(first["due"], false);
        clock.set(next);
        let (_, second) = post(&app, &op, &path, json!({"outcome": "unreachable"})).await;
        assert_eq!(second["status"], "pending");
        let next: DateTime<Utc> = second["next_attempt_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            next,
            kyiv(2026, 11, 25, 14, 45),
            "12:45 + 120 min, another time of the day"
        );
        clock.set(kyiv(2026, 11, 25, 16, 30));
        let (_, third_try) = post(&app, &op, &path, json!({"outcome": "unreachable"})).await;
        assert_eq!(third_try["status"], "closed_unreachable", "{third_try}");
        assert_eq!(third_try["attempts"], 3);
        let (_, request) = get(&app, &sup, "/api/v1/requests/2026-000002").await;
        assert_eq!(
            request["status"], "closed",
            "unreachable does not send the request back"
        );

        // The work list is empty now; the applicant reached is stamped as surveyed.
        let (_, list) = get(&app, &op, "/api/v1/survey/tasks").await;
        assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
        let (_, all) = get(&app, &op, "/api/v1/survey/tasks?status=all").await;
        assert_eq!(all.as_array().unwrap().len(), 2);
        let (status, _) = get(&app, &op, "/api/v1/survey/tasks?status=open").await;
        assert_eq!(
            status, 422,
            "an unknown status filter is refused, not an empty list"
        );

        // Figures per executor.
        let (status, stats) = get(
            &app,
            &sup,
            "/api/v1/survey/stats?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z",
        )
        .await;
        assert_eq!(status, 200, "{stats}");
        assert_eq!(stats["by_executor"]["UNIT-A"]["sampled"], 1);
        assert_eq!(stats["by_executor"]["UNIT-A"]["reached"], 1);
        assert_eq!(stats["by_executor"]["UNIT-A"]["not_confirmed"], 1);
        assert_eq!(stats["by_executor"]["UNIT-B"]["unreachable"], 1);
        assert_eq!(stats["by_executor"]["UNIT-B"]["reached"], 0);
        assert_eq!(stats["total"]["sampled"], 2);
        let (status, _) = get(
            &app,
            &op,
            "/api/v1/survey/stats?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z",
        )
        .await;
        assert_eq!(status, 403, "figures are for supervisors");
        let (_, openapi) = get(&app, &sup, "/api/v1/openapi.json").await;
        for path in [
            "/api/v1/survey/tasks",
            "/api/v1/survey/tasks/{id}/call",
            "/api/v1/survey/tasks/{id}/outcome",
            "/api/v1/survey/draws/{id}",
            "/api/v1/survey/stats",
        ] {
            assert!(
                openapi["paths"][path].is_object(),
                "{path} missing from the OpenAPI document"
            );
        }
        let (status, draw) = get(&app, &sup, "/api/v1/survey/draws/1").await;
        assert_eq!(status, 200, "{draw}");
        assert_eq!(draw["sampled"], 2);
        assert_eq!(draw["seed"], "1");
        let (status, _) = get(&app, &sup, "/api/v1/survey/draws/77").await;
        assert_eq!(status, 404);
        app.stop().await.unwrap();

        let storage = contactd::app::open_storage(&db.config()).await.unwrap();
        let stamped: Vec<(i64, Option<i64>)> =
            sqlx::query_as("SELECT id, last_surveyed_at FROM applicants ORDER BY id")
                .fetch_all(storage.reader())
                .await
                .unwrap();
        let applicant_a = seeded.requests["2026-000001"].2;
        for (id, at) in stamped {
            assert_eq!(
                at.is_some(),
                id == applicant_a,
                "only the reached applicant is stamped"
            );
        }
        storage.close().await;
    }
}

#[tokio::test]
async fn click_to_call_originates_through_the_pbx_simulator() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sim = contactd_pbx_sim::Sim::bind(
        listener,
        contactd_pbx_sim::SimConfig::new(contactd_pbx_sim::system_clock()),
        shutdown.clone(),
    )
    .unwrap();

    let db = TestDb::new(Engine::Sqlite).await;
    let pbx = format!(
        "[pbx]\nari_url = \"http://{addr}/ari\"\nusername = \"cc\"\npassword = \"ccpass\"\n"
    );
    let (cfg, _) = two_tasks(
        &db,
        &format!("outbound_context = \"survey-out\"\ncaller_id = \"1580\"\n{pbx}"),
    )
    .await;
    let app = spawn_app_with_clock(cfg, Arc::new(ManualClock::new(now()))).await;
    let op = sign_in(&app, "op1").await;
    let (_, list) = get(&app, &op, "/api/v1/survey/tasks").await;
    let task = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["executor_code"] == "UNIT-A")
        .unwrap()
        .clone();

    // A user without an extension cannot place the call; nothing reaches the PBX.
    let sup = sign_in(&app, "sup1").await;
    let (status, problem) = post(
        &app,
        &sup,
        &format!("/api/v1/survey/tasks/{}/call", task["id"]),
        json!({}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no PBX extension"),
        "{problem}"
    );
    assert!(sim.originate_requests().is_empty());

    let (status, call) = post(
        &app,
        &op,
        &format!("/api/v1/survey/tasks/{}/call", task["id"]),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{call}");
    let originates = sim.originate_requests();
    assert_eq!(originates.len(), 1);
    let query: Vec<(&str, &str)> = originates[0]
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        query,
        [
            ("endpoint", "PJSIP/1001"),
            ("extension", "0501234567"),
            ("context", "survey-out"),
            ("priority", "1"),
            ("callerId", "1580"),
            ("timeout", "30"),
        ],
        "the same request as the capture originate.json"
    );
    assert_eq!(originates[0].user, "cc");
    assert_eq!(call["channel_id"], originates[0].channel_id.as_str());
    let (_, list) = get(&app, &op, "/api/v1/survey/tasks").await;
    let linked = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == task["id"])
        .unwrap()
        .clone();
    assert_eq!(
        linked["call_channel_id"],
        originates[0].channel_id.as_str(),
        "the call is linked to the task"
    );

    app.stop().await.unwrap();
    shutdown.cancel();
    sim.join().await;
}

#[tokio::test]
async fn the_daemon_draws_once_a_working_day_after_draw_at() {
    let phones: Vec<String> = (0..60).map(phone).collect();
    let db = TestDb::new(Engine::Sqlite).await;
    let cfg = config(&db, "");
    let storage = contactd::app::open_storage(&cfg).await.unwrap();
    base(&storage).await;
    seed(&storage, &three_executors(&phones)).await;
    storage.close().await;
    // Wednesday 10:00, after draw_at 09:30: the job's first tick draws the period up to 09:30.
    let app = spawn_app_with_clock(cfg, Arc::new(ManualClock::new(now()))).await;
    let sup = sign_in(&app, "sup1").await;
    let mut draw = Value::Null;
    for _ in 0..100 {
        let (status, body) = get(&app, &sup, "/api/v1/survey/draws/1").await;
        if status == 200 {
            draw = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(draw["triggered_by"], "scheduler", "{draw}");
    assert_eq!(draw["period_end"], "2026-11-25T07:30:00Z");
    assert_eq!(draw["sampled"], 7);
    let (status, _) = get(&app, &sup, "/api/v1/survey/draws/2").await;
    assert_eq!(status, 404, "one draw per period");
    app.stop().await.unwrap();
}

#[test]
fn dialable_numbers() {
    let ua = contactd_domain::PhoneNumber::parse("+380501234567").unwrap();
    assert_eq!(survey::dialable_number(&ua), "0501234567");
    let pl = contactd_domain::PhoneNumber::parse("+48601234567").unwrap();
    assert_eq!(survey::dialable_number(&pl), "0048601234567");
}

#[test]
fn survey_config_keys_and_unknown_key() {
    let db_url = "sqlite://x.db";
    let base = format!("[database]\nurl = \"{db_url}\"\n[http]\nlisten = \"127.0.0.1:0\"\n");
    let cfg = Config::from_toml(
        &format!(
            "{base}[survey]\nrate_percent = 15\noutbound_context = \"out\"\ncaller_id = \"1555\"\n"
        ),
        std::path::Path::new("t.toml"),
        &[],
    )
    .unwrap();
    assert_eq!(cfg.survey.params.rate_percent, 15);
    assert_eq!(cfg.survey.outbound_context, "out");
    assert_eq!(cfg.survey.caller_id, "1555");
    assert_eq!(cfg.survey.params.max_attempts, 3);
    let err = Config::from_toml(
        &format!("{base}[survey]\nrate_percnt = 15\n"),
        std::path::Path::new("t.toml"),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("rate_percnt"), "{err}");
    let err = Config::from_toml(
        &format!("{base}[survey]\nrate_percent = 150\n"),
        std::path::Path::new("t.toml"),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("rate_percent"), "{err}");
}
