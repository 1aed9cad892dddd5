//! Escalation (9.2, 9.7) on a fixed clock: a request walked hour by hour past its deadline over a
//! weekend and a holiday (peacetime calendar), with exactly when each notice and email goes out;
//! violations reported once, by two escalation jobs on one database; rework and late extensions;
//! the areas check; the executors' online feed over a real WebSocket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use contactd::auth::{add_user, NewUser, Role};
use contactd::calendar::Calendars;
use contactd::clock::ManualClock;
use contactd::config::Config;
use contactd::escalation::{days_late, Escalation, EscalationConfigError, TickReport};
use contactd::storage::{from_db_time, Storage};
use contactd_classifier::Revision;
use futures_util::StreamExt;
use serde_json::{json, Value};
use support::{engines, kyiv, spawn_app_with_clock, Engine, TestApp, TestDb};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PASSWORD: &str = "correct horse battery";

const ESCALATION: &str = r#"
[calendar]
martial_law = false
[escalation]
enabled = false
approaching_working_days = 1
rework_limit = 2
digest_time = "09:00"
default_deputy = "other"
executor_emails = { "KP-VODA" = "voda@example.gov.ua", "DZHKG" = "dzhkg@example.gov.ua" }
head_of_affairs = { name = "Олена Коваль", email = "affairs@example.gov.ua" }
department_head = { name = "Ігор Сидоренко", email = "cc-head@example.gov.ua" }
[[escalation.deputies]]
id = "zhkg"
name = "Іван Петренко"
email = "petrenko@example.gov.ua"
area = "житлово-комунальне господарство"
units = ["KP-VODA", "DZHKG"]
[[escalation.deputies]]
id = "other"
name = "Марія Шевчук"
email = "shevchuk@example.gov.ua"
area = "інші питання"
"#;

struct World {
    app: TestApp,
    clock: ManualClock,
    config: Config,
    storage: Storage,
    tokens: std::collections::HashMap<&'static str, String>,
    _db: TestDb,
}

const LOGINS: [&str; 4] = ["op1", "sup1", "voda1", "dzhkg1"];

async fn world(engine: Engine, start: DateTime<Utc>) -> World {
    world_with(engine, start, ESCALATION).await
}

async fn world_with(engine: Engine, start: DateTime<Utc>, extra: &str) -> World {
    let db = TestDb::new(engine).await;
    let config = db.config_with(extra);
    let storage = contactd::app::open_storage(&config).await.unwrap();
    support::import_example_classifier(&storage, start, true).await;
    for (login, role, units, ext) in [
        ("op1", Role::Operator, vec![], Some("1001")),
        ("sup1", Role::Supervisor, vec![], None),
        ("voda1", Role::Executor, vec!["KP-VODA".to_owned()], None),
        ("dzhkg1", Role::Executor, vec!["DZHKG".to_owned()], None),
    ] {
        let user = NewUser {
            login: login.into(),
            password: PASSWORD.into(),
            role,
            executors: units,
            extension: ext.map(Into::into),
        };
        add_user(&storage, &user, start).await.unwrap();
    }
    let clock = ManualClock::new(start);
    let app = spawn_app_with_clock(config.clone(), Arc::new(clock.clone())).await;
    let mut w = World {
        app,
        clock,
        config,
        storage,
        tokens: Default::default(),
        _db: db,
    };
    w.set_time(start).await;
    w
}

impl World {
    /// Move the clock; sessions live 12 h, so everyone signs in again.
    async fn set_time(&mut self, t: DateTime<Utc>) {
        self.clock.set(t);
        for login in LOGINS {
            let token = self.app.sign_in(login, PASSWORD).await;
            self.tokens.insert(login, token);
        }
    }

    fn token(&self, login: &str) -> &str {
        &self.tokens[login]
    }

    fn escalation(&self) -> Escalation {
        let calendars = Calendars::from_settings(&self.config.calendar).unwrap();
        Escalation::new(
            self.storage.clone(),
            calendars,
            Arc::new(self.config.escalation.clone()),
            Some("https://cc.example.gov.ua"),
        )
    }

    async fn post(&self, login: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .app
            .client
            .post(self.app.url(path))
            .bearer_auth(self.token(login))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, login: &str, path: &str) -> (u16, Value) {
        let r = self
            .app
            .client
            .get(self.app.url(path))
            .bearer_auth(self.token(login))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn create(&self, extra: Value) -> Value {
        let mut body = json!({
            "channel": "phone",
            "applicant": {"phone": "067 123 45 67", "name": "Резидент", "address": "вул. Тестова, 1"},
            "address": "вул. Тестова, 1",
            "description": "Витікає вода з труби біля будинку",
            "classifier_code": "22.5.27",
            "request_type": "ordinary"
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, view) = self.post("op1", "/api/v1/requests", body).await;
        assert_eq!(status, 201, "{view}");
        view
    }

    async fn act_ok(&self, login: &str, number: &str, action: Value) -> Value {
        let (_, current) = self
            .get("sup1", &format!("/api/v1/requests/{number}"))
            .await;
        let mut body = action.clone();
        body["version"] = current["version"].clone();
        let (status, view) = self
            .post(login, &format!("/api/v1/requests/{number}/actions"), body)
            .await;
        assert_eq!(status, 200, "{action} → {view}");
        view
    }

    /// Executor notices of `kind`: (unit, request number, created_at).
    async fn notices(&self, kind: &str) -> Vec<(String, String, DateTime<Utc>)> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT n.unit, r.number, n.created_at FROM notices n JOIN requests r ON r.id = n.request_id \
             WHERE n.audience = 'executor' AND n.kind = $1 ORDER BY n.id",
        )
        .bind(kind)
        .fetch_all(self.storage.reader())
        .await
        .unwrap();
        rows.into_iter()
            .map(|(u, n, t)| (u, n, from_db_time(t)))
            .collect()
    }

    /// Outbox rows: (kind, recipients JSON, subject, text, created_at).
    async fn outbox(&self) -> Vec<(String, String, String, String, DateTime<Utc>)> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT kind, recipients, subject, body_text, created_at FROM outbox ORDER BY id",
        )
        .fetch_all(self.storage.reader())
        .await
        .unwrap();
        rows.into_iter()
            .map(|(k, r, s, t, c)| (k, r, s, t, from_db_time(c)))
            .collect()
    }

    async fn violations(&self, level: &str) -> Vec<(String, String)> {
        sqlx::query_as("SELECT kind, unit FROM violations WHERE level = $1 ORDER BY id")
            .bind(level)
            .fetch_all(self.storage.reader())
            .await
            .unwrap()
    }
}

fn number(view: &Value) -> String {
    view["number"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn deadline_walk_over_a_weekend_and_a_holiday() {
    for engine in engines().await {
        // Thursday 17.12.2026; 5 working days → Thursday 24.12 (Friday 25.12 is Christmas, a day
        // off in peacetime, then the weekend).
        let start = kyiv(2026, 12, 17, 10, 0);
        let mut w = world(engine, start).await;
        let created = w.create(json!({})).await;
        let n = number(&created);
        let calendars = Calendars::from_settings(&w.config.calendar).unwrap();
        let deadline: DateTime<Utc> = created["deadline"].as_str().unwrap().parse().unwrap();
        let day24 = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
        assert_eq!(
            Some(deadline),
            calendars.executors.end_of_working_day(day24),
            "{created}"
        );

        // Two jobs on one database (two daemons): every tick runs on both at once.
        let (a, b) = (w.escalation(), w.escalation());
        let mut log: Vec<(DateTime<Utc>, TickReport)> = Vec::new();
        let mut t = start;
        let end = kyiv(2026, 12, 29, 10, 0);
        while t <= end {
            w.clock.set(t);
            let (ra, rb) = tokio::join!(a.tick(t), b.tick(t));
            let (ra, rb) = (ra.unwrap(), rb.unwrap());
            let mut merged = ra.clone();
            merged.approaching += rb.approaching;
            merged.overdue += rb.overdue;
            merged.violations += rb.violations;
            merged.emails += rb.emails;
            merged.digests_ran |= rb.digests_ran;
            // The same tick again does nothing.
            assert_eq!(
                a.tick(t).await.unwrap(),
                TickReport::default(),
                "second tick at {t}"
            );
            log.push((t, merged));
            t += Duration::hours(1);
        }

        // deadline_approaching: exactly once, at the first tick of Wednesday 23.12 (the working day
        // before the deadline's day).
        let approaching = w.notices("deadline_approaching").await;
        assert_eq!(
            approaching,
            vec![("KP-VODA".to_owned(), n.clone(), kyiv(2026, 12, 23, 0, 0))],
            "{engine:?}"
        );
        // overdue: exactly once, at the deadline tick.
        let overdue = w.notices("overdue").await;
        assert_eq!(overdue, vec![("KP-VODA".to_owned(), n.clone(), deadline)]);
        assert!(log.iter().any(|(t, r)| *t == deadline && r.overdue == 1));
        assert!(log.iter().all(|(t, r)| *t == deadline || r.overdue == 0));

        // Digests ran on working days only: 17, 18, 21, 22, 23, 24, 28, 29 December at 09:00
        // (the first tick on the 17th was at 10:00).
        let digest_ticks: Vec<DateTime<Utc>> = log
            .iter()
            .filter(|(_, r)| r.digests_ran)
            .map(|(t, _)| *t)
            .collect();
        let expected: Vec<DateTime<Utc>> = [
            (17, 10),
            (18, 9),
            (21, 9),
            (22, 9),
            (23, 9),
            (24, 9),
            (28, 9),
            (29, 9),
        ]
        .into_iter()
        .map(|(d, h)| kyiv(2026, 12, d, h, 0))
        .collect();
        assert_eq!(digest_ticks, expected);

        let outbox = w.outbox().await;
        let deputy: Vec<_> = outbox
            .iter()
            .filter(|o| o.0 == "escalation_digest")
            .collect();
        assert_eq!(
            deputy.len(),
            1,
            "one deputy digest, once, from two jobs: {outbox:#?}"
        );
        let (_, to, subject, text, at) = deputy[0];
        assert_eq!(
            *at,
            kyiv(2026, 12, 28, 9, 0),
            "the first digest after the deadline: Monday, not the holiday"
        );
        assert!(to.contains("petrenko@example.gov.ua"), "{to}");
        assert!(
            subject.contains("житлово-комунальне господарство"),
            "{subject}"
        );
        assert!(
            text.contains(&n) && text.contains("порушено термін виконання"),
            "{text}"
        );
        // Thursday 17:00 → Monday 09:00: the holiday and the weekend are not counted, Monday is
        // the first working day of delay.
        assert!(text.contains("прострочено днів: 1"), "{text}");
        let head: Vec<_> = outbox
            .iter()
            .filter(|o| o.0 == "escalation_summary")
            .collect();
        assert_eq!(head.len(), 1, "{outbox:#?}");
        assert!(head[0].1.contains("affairs@example.gov.ua"));
        assert!(
            head[0].3.contains("житлово-комунальне господарство") && head[0].3.contains(": 1"),
            "{}",
            head[0].3
        );
        assert_eq!(head[0].4, kyiv(2026, 12, 28, 9, 0));
        // The executor's own daily digest (working days only), once per day.
        let executor: Vec<DateTime<Utc>> = outbox
            .iter()
            .filter(|o| o.0 == "executor_digest")
            .map(|o| o.4)
            .collect();
        assert_eq!(executor, expected, "{outbox:#?}");
        assert!(outbox
            .iter()
            .filter(|o| o.0 == "executor_digest")
            .all(|o| o.1.contains("voda@example.gov.ua")));
        assert!(outbox
            .iter()
            .any(|o| o.0 == "executor_digest" && o.3.contains("ТЕРМІН ПОРУШЕНО")));

        // Days late on the calendar.
        assert_eq!(
            days_late(&calendars.executors, deadline, kyiv(2026, 12, 25, 12, 0)),
            0,
            "holiday"
        );
        assert_eq!(
            days_late(&calendars.executors, deadline, kyiv(2026, 12, 27, 12, 0)),
            0,
            "weekend"
        );
        assert_eq!(
            days_late(&calendars.executors, deadline, kyiv(2026, 12, 28, 7, 59)),
            0,
            "before Monday opens"
        );
        assert_eq!(
            days_late(&calendars.executors, deadline, kyiv(2026, 12, 28, 9, 0)),
            1
        );
        assert_eq!(
            days_late(&calendars.executors, deadline, kyiv(2026, 12, 29, 12, 0)),
            2
        );

        // The history of what was sent to whom.
        w.set_time(end).await;
        let (status, sent) = w
            .get(
                "sup1",
                "/api/v1/escalations/sent?from=2026-12-01T00:00:00Z&to=2027-01-01T00:00:00Z",
            )
            .await;
        assert_eq!(status, 200, "{sent}");
        let sent = sent.as_array().unwrap();
        let digest = sent
            .iter()
            .find(|s| s["kind"] == "escalation_digest")
            .unwrap();
        assert_eq!(digest["recipient_id"], "zhkg");
        assert_eq!(digest["period"], "2026-12-28");
        assert_eq!(digest["requests"], json!([n]));
        assert!(digest["outbox_id"].is_i64());
        assert_eq!(sent.len(), outbox.len());
        let (status, _) = w.get("voda1", "/api/v1/escalations/sent").await;
        assert_eq!(status, 403);
        w.app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn rework_late_extension_and_emergency_mail() {
    for engine in engines().await {
        let start = kyiv(2026, 12, 14, 10, 0); // Monday
        let mut w = world(engine, start).await;
        let esc = w.escalation();
        esc.tick(start).await.unwrap();

        // Rework three times with rework_limit = 2: a violation at the third.
        let r = number(&w.create(json!({})).await);
        w.act_ok("voda1", &r, json!({"action": "accept", "unit": "KP-VODA"}))
            .await;
        for round in 1..=3 {
            w.act_ok("voda1", &r, json!({"action": "propose_closing", "unit": "KP-VODA", "result": "done", "result_text": "Трубу замінено, воду подано"}))
                .await;
            w.act_ok("op1", &r, json!({"action": "send_back_for_rework", "unit": "KP-VODA", "reason": "Заявник каже, що вода досі тече"}))
                .await;
            let report = esc.tick(start + Duration::minutes(round)).await.unwrap();
            let expected = if round == 3 { 2 } else { 0 };
            assert_eq!(
                report.violations, expected,
                "round {round}: deputy + head levels"
            );
        }
        assert_eq!(
            w.violations("deputy").await,
            vec![("rework".to_owned(), "KP-VODA".to_owned())]
        );

        // An extension proposed after the deadline.
        let e = w
            .create(json!({"description": "Прорив труби на перехресті"}))
            .await;
        let en = number(&e);
        let deadline: DateTime<Utc> = e["deadline"].as_str().unwrap().parse().unwrap();
        w.act_ok("voda1", &en, json!({"action": "accept", "unit": "KP-VODA"}))
            .await;
        let late = deadline + Duration::hours(18);
        w.set_time(late).await;
        w.act_ok(
            "voda1",
            &en,
            json!({"action": "propose_extension", "unit": "KP-VODA", "justification": "Потрібна заміна ділянки труби, чекаємо техніку", "new_deadline": (late + Duration::days(10)).to_rfc3339()}),
        )
        .await;
        esc.tick(late).await.unwrap();
        let kinds: Vec<String> = w
            .violations("deputy")
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert!(kinds.contains(&"late_extension".to_owned()), "{kinds:?}");

        // A new emergency request: the unit gets an email at once.
        w.create(json!({"request_type": "emergency", "description": "Вода заливає підвал"}))
            .await;
        let report = esc.tick(late + Duration::minutes(1)).await.unwrap();
        assert_eq!(report.emails, 1, "{report:?}");
        let outbox = w.outbox().await;
        let mail = outbox.iter().find(|o| o.0 == "executor_emergency").unwrap();
        assert!(mail.1.contains("voda@example.gov.ua"));
        assert!(mail.2.starts_with("Нове звернення №"), "{}", mail.2);
        // …and its deputy at once when it becomes overdue (emergency_immediate), not only in a digest.
        let report = esc.tick(late + Duration::hours(5)).await.unwrap();
        assert!(report.overdue >= 1, "{report:?}");
        let outbox = w.outbox().await;
        let immediate: Vec<_> = outbox
            .iter()
            .filter(|o| o.0 == "escalation_immediate")
            .collect();
        assert_eq!(immediate.len(), 1, "{outbox:#?}");
        assert!(immediate[0].1.contains("petrenko@example.gov.ua"));
        w.app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn areas_are_checked() {
    let db = TestDb::new(Engine::Sqlite).await;
    // Static checks name the key.
    let text = |extra: &str| {
        format!(
            "[database]\nurl = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n{extra}",
            db.url
        )
    };
    let err = Config::from_toml(
        &text("[escalation]\ndefault_deputy = \"nobody\"\n"),
        Path::new("t.toml"),
        &[],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("escalation.default_deputy"),
        "{err}"
    );
    let two = "[escalation]\nhead_of_affairs = { name = \"Г\", email = \"h@example.gov.ua\" }\n\
        [[escalation.deputies]]\nid = \"a\"\nname = \"А\"\nemail = \"a@example.gov.ua\"\narea = \"А\"\nunits = [\"KP-VODA\"]\n\
        [[escalation.deputies]]\nid = \"b\"\nname = \"Б\"\nemail = \"b@example.gov.ua\"\narea = \"Б\"\nunits = [\"KP-VODA\"]\n";
    let err = Config::from_toml(&text(two), Path::new("t.toml"), &[]).unwrap_err();
    assert!(
        err.to_string().contains("escalation.deputies[1].units")
            && err.to_string().contains("KP-VODA"),
        "{err}"
    );
    let err = Config::from_toml(
        &text("[escalation]\ndigest_time = \"9 am\"\n"),
        Path::new("t.toml"),
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("escalation.digest_time"), "{err}");

    // Against the executor units in the database: one in no area and no default is named.
    let one = "[escalation]\nhead_of_affairs = { name = \"Г\", email = \"h@example.gov.ua\" }\n\
        [[escalation.deputies]]\nid = \"a\"\nname = \"А\"\nemail = \"a@example.gov.ua\"\narea = \"А\"\nunits = [\"KP-VODA\"]\n";
    let config = Config::from_toml(&text(one), Path::new("t.toml"), &[]).unwrap();
    let storage = contactd::app::open_storage(&config).await.unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let d = NaiveDate::from_ymd_opt(2020, 7, 22).unwrap();
    contactd::classifier::import(
        &storage,
        &root.join("classifier.example.toml"),
        Revision::new(339, d),
        kyiv(2026, 12, 1, 10, 0),
    )
    .await
    .unwrap();
    let esc = Escalation::new(
        storage.clone(),
        Calendars::from_settings(&config.calendar).unwrap(),
        Arc::new(config.escalation.clone()),
        None,
    );
    let err = esc.check_units().await.unwrap_err();
    let text_err = err.to_string();
    assert!(
        text_err.contains("belongs to no deputy mayor's area")
            && text_err.contains("default_deputy"),
        "{text_err}"
    );
    assert!(!text_err.contains("`KP-VODA`"), "{text_err}");
    let mut with_default = config.escalation.clone();
    with_default.default_deputy = Some("a".into());
    assert_eq!(with_default.check_units(["CNAP", "KP-VODA"]), Ok(()));
    assert_eq!(
        config.escalation.check_units(["KP-VODA", "CNAP"]),
        Err(EscalationConfigError::UnitWithoutArea {
            unit: "CNAP".into()
        })
    );
    storage.close().await;
}

async fn connect(
    w: &World,
    login: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let mut request = format!("ws://{}/ws/executor", w.app.addr)
        .into_client_request()
        .unwrap();
    if let Some(login) = login {
        request.headers_mut().insert(
            "Authorization",
            format!("Bearer {}", w.token(login)).parse().unwrap(),
        );
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

async fn next_frame<S>(ws: &mut S, wait: StdDuration) -> Option<Value>
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
                return Some(serde_json::from_str(&t).unwrap())
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

#[tokio::test]
async fn executor_feed_shows_own_units_only() {
    let start = kyiv(2026, 12, 14, 10, 0);
    let mut w = world(Engine::Sqlite, start).await;
    let esc = w.escalation();
    let mut voda = connect(&w, Some("voda1")).await.unwrap();
    let mut dzhkg = connect(&w, Some("dzhkg1")).await.unwrap();
    let snap = next_frame(&mut voda, StdDuration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["units"], json!(["KP-VODA"]));
    assert_eq!(
        next_frame(&mut dzhkg, StdDuration::from_secs(5))
            .await
            .unwrap()["type"],
        "snapshot"
    );

    let created = w.create(json!({})).await;
    let n = number(&created);
    let frame = next_frame(&mut voda, StdDuration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        (frame["type"].as_str(), frame["kind"].as_str()),
        (Some("notice"), Some("new_assignment")),
        "{frame}"
    );
    assert_eq!(frame["request"]["number"], n.as_str());

    let deadline: DateTime<Utc> = created["deadline"].as_str().unwrap().parse().unwrap();
    esc.tick(start).await.unwrap();
    esc.tick(deadline - Duration::hours(20)).await.unwrap();
    w.set_time(deadline).await;
    esc.tick(deadline).await.unwrap();
    let mut kinds = Vec::new();
    while let Some(frame) = next_frame(&mut voda, StdDuration::from_secs(3)).await {
        kinds.push(frame["kind"].as_str().unwrap().to_owned());
        if kinds.last().map(String::as_str) == Some("overdue") {
            break;
        }
    }
    assert_eq!(kinds, ["deadline_approaching", "overdue"]);
    assert_eq!(
        next_frame(&mut dzhkg, StdDuration::from_millis(2500)).await,
        None,
        "another unit's notices are not shown"
    );

    // No session, or not an executor: no socket.
    assert!(connect(&w, None).await.is_err());
    assert!(connect(&w, Some("op1")).await.is_err());
    w.app.stop().await.unwrap();
}

#[tokio::test]
async fn two_daemons_send_each_digest_once() {
    for engine in engines().await {
        let start = kyiv(2026, 12, 17, 10, 0);
        let extra = ESCALATION.replace("enabled = false", "enabled = true\nscan_interval_s = 1");
        let mut w = world_with(engine, start, &extra).await;
        let second = spawn_app_with_clock(w.config.clone(), Arc::new(w.clock.clone())).await;
        let n = number(&w.create(json!({})).await);
        // Both daemons run the job every second; the clock jumps past the deadline, to Monday
        // after the holiday, after the digest time.
        w.set_time(kyiv(2026, 12, 28, 10, 0)).await;
        let mut waited = 0;
        while waited < 100 && !w.outbox().await.iter().any(|o| o.0 == "escalation_summary") {
            tokio::time::sleep(StdDuration::from_millis(100)).await;
            waited += 1;
        }
        tokio::time::sleep(StdDuration::from_secs(3)).await;
        let outbox = w.outbox().await;
        let count = |kind: &str| outbox.iter().filter(|o| o.0 == kind).count();
        assert_eq!(count("escalation_digest"), 1, "{engine:?}: {outbox:#?}");
        assert_eq!(count("escalation_summary"), 1, "{engine:?}");
        assert!(outbox
            .iter()
            .any(|o| o.0 == "escalation_digest" && o.3.contains(&n)));
        assert_eq!(w.notices("overdue").await.len(), 1);
        second.stop().await.unwrap();
        w.app.stop().await.unwrap();
    }
}
