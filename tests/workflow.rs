//! The request life cycle of the Regulation end to end through HTTP, on SQLite and PostgreSQL:
//! 7.2 (both variants), 9.3 accept/reject, 9.4, 9.5 approve/rework/after-hours, 9.6, illegal
//! transitions, concurrent edits, idempotent create, and the authorization matrix.
// Test and bench code: a failed setup step should stop the run with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use contactd::auth::{add_user, NewUser, Role};
use contactd::clock::{Clock, ManualClock};
use serde_json::{json, Value};
use support::{engines, kyiv, spawn_app_with_clock, Engine, TestApp, TestDb};

const PASSWORD: &str = "correct horse battery";

struct World {
    app: TestApp,
    clock: ManualClock,
    op: String,
    sup: String,
    admin: String,
    voda: String,
    dzhkg: String,
    _db: TestDb,
}

/// A session token of `login` on `app`.
async fn sign_in(app: &TestApp, login: &str) -> String {
    app.sign_in(login, PASSWORD).await
}

async fn world(engine: Engine) -> World {
    let db = TestDb::new(engine).await;
    let config = db.config();
    let storage = contactd::app::open_storage(&config).await.unwrap();
    let start = kyiv(2026, 11, 25, 10, 0); // Wednesday, working hours
    support::import_example_classifier(&storage, start, true).await;
    for (login, role, units, ext) in [
        ("op1", Role::Operator, vec![], Some("1001")),
        ("sup1", Role::Supervisor, vec![], None),
        ("adm1", Role::Admin, vec![], None),
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
    storage.close().await;
    let clock = ManualClock::new(start);
    let app = spawn_app_with_clock(config, Arc::new(clock.clone())).await;
    let mut tokens = Vec::new();
    for login in ["op1", "sup1", "adm1", "voda1", "dzhkg1"] {
        tokens.push(sign_in(&app, login).await);
    }
    let [op, sup, admin, voda, dzhkg]: [String; 5] = tokens.try_into().unwrap();
    World {
        app,
        clock,
        op,
        sup,
        admin,
        voda,
        dzhkg,
        _db: db,
    }
}

impl World {
    /// Move the clock; sessions live 12 h, so everyone signs in again.
    async fn set_time(&mut self, t: DateTime<Utc>) {
        self.clock.set(t);
        let mut tokens = Vec::new();
        for login in ["op1", "sup1", "adm1", "voda1", "dzhkg1"] {
            tokens.push(sign_in(&self.app, login).await);
        }
        [self.op, self.sup, self.admin, self.voda, self.dzhkg] = tokens.try_into().unwrap();
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .app
            .client
            .post(self.app.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .app
            .client
            .get(self.app.url(path))
            .bearer_auth(token)
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
            "request_type": "ordinary",
            "call_id": "1795859899.0"
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, view) = self.post(&self.op, "/api/v1/requests", body).await;
        assert_eq!(status, 201, "{view}");
        view
    }

    /// Apply an action as `token` on the request's current version; returns (status, body).
    async fn act(&self, token: &str, number: &str, action: Value) -> (u16, Value) {
        let (_, current) = self
            .get(&self.sup, &format!("/api/v1/requests/{number}"))
            .await;
        let mut body = action;
        body["version"] = current["version"].clone();
        self.post(token, &format!("/api/v1/requests/{number}/actions"), body)
            .await
    }

    async fn act_ok(&self, token: &str, number: &str, action: Value) -> Value {
        let (status, view) = self.act(token, number, action.clone()).await;
        assert_eq!(status, 200, "{action} → {view}");
        view
    }
}

fn number(view: &Value) -> String {
    view["number"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn registration_closing_and_audit_trail() {
    for engine in engines().await {
        let w = world(engine).await;
        let created = w.create(json!({})).await;
        let n = number(&created);
        assert!(n.starts_with("2026-") && n.len() == 11, "{n}");
        assert_eq!(created["status"], "sent");
        assert_eq!(
            created["classifier_revision"], 1,
            "filed under the latest revision (459)"
        );
        assert_eq!(created["call_id"], "1795859899.0");
        assert_eq!(created["state"]["assignments"][0]["unit"], "KP-VODA");
        // 22.5.27 after 459 in the example: 5 working days from Wednesday 25.11 → Wednesday 02.12, 17:00.
        assert_eq!(created["deadline"], "2026-12-02T15:00:00Z", "{created}");

        let accepted = w
            .act_ok(&w.voda, &n, json!({"action": "accept", "unit": "KP-VODA"}))
            .await;
        assert_eq!(accepted["status"], "in_progress");
        let proposed = w
            .act_ok(&w.voda, &n, json!({"action": "propose_closing", "unit": "KP-VODA", "result": "done", "result_text": "Трубу замінено, воду подано"}))
            .await;
        assert_eq!(proposed["status"], "closing_proposed");
        let (_, queue) = w.get(&w.op, "/api/v1/queue").await;
        assert!(
            queue
                .as_array()
                .unwrap()
                .iter()
                .any(|q| q["number"] == n.as_str() && q["kind"] == "closing_proposed"),
            "{queue}"
        );
        let closed = w
            .act_ok(
                &w.op,
                &n,
                json!({"action": "approve_closing", "unit": "KP-VODA"}),
            )
            .await;
        assert_eq!(closed["status"], "closed");
        assert!(closed["closed_at"].is_string());
        let (_, queue) = w.get(&w.op, "/api/v1/queue").await;
        assert!(
            queue.as_array().unwrap().is_empty(),
            "the decision settles the queue item: {queue}"
        );

        let (status, audit) = w.get(&w.sup, &format!("/api/v1/requests/{n}/audit")).await;
        assert_eq!(status, 200);
        let actions: Vec<&str> = audit
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "request.create",
                "request.assign_executors",
                "request.accept",
                "request.propose_closing",
                "request.approve_closing",
                "request.approve_closing"
            ],
            "approval writes the unit's approval and the request's closing: {audit}"
        );
        assert_eq!(audit[5]["after"]["event"], "request_closed");
        let approve = &audit[4];
        assert_eq!(approve["actor"], "op1");
        assert_eq!(approve["before"]["status"], "closing_proposed");
        assert_eq!(approve["after"]["status"], "closed");

        // The applicant is found by any format of the number, with the request.
        let (status, applicant) = w
            .get(&w.op, "/api/v1/applicants?phone=%2B380671234567")
            .await;
        assert_eq!(status, 200, "{applicant}");
        assert_eq!(applicant["phones"][0], "+380671234567");
        assert_eq!(applicant["recent_closed_requests"][0]["number"], n.as_str());
        w.app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn rework_after_hours_and_survey_return() {
    for engine in engines().await {
        let mut w = world(engine).await;
        let n = number(&w.create(json!({})).await);
        w.act_ok(&w.voda, &n, json!({"action": "accept", "unit": "KP-VODA"}))
            .await;
        w.act_ok(&w.voda, &n, json!({"action": "propose_closing", "unit": "KP-VODA", "result": "done", "result_text": "Виконано частково"})).await;
        // 9.5: sent back for rework with a reason; the count is kept.
        let (status, short) = w
            .act(
                &w.op,
                &n,
                json!({"action": "send_back_for_rework", "unit": "KP-VODA", "reason": "ні"}),
            )
            .await;
        assert_eq!(status, 422, "a reason is required: {short}");
        let rework = w
            .act_ok(&w.op, &n, json!({"action": "send_back_for_rework", "unit": "KP-VODA", "reason": "Вода досі тече з-під асфальту"}))
            .await;
        assert_eq!(rework["status"], "rework");
        assert_eq!(rework["rework_count"], 1);

        // 9.5: a proposal at 18:30 (after hours) waits for the next working day.
        w.set_time(kyiv(2026, 11, 25, 18, 30)).await;
        w.act_ok(&w.voda, &n, json!({"action": "propose_closing", "unit": "KP-VODA", "result": "done", "result_text": "Асфальт перекладено, витоку немає"})).await;
        let (_, queue) = w.get(&w.op, "/api/v1/queue").await;
        assert!(
            queue.as_array().unwrap().is_empty(),
            "not shown before the next working day starts: {queue}"
        );
        w.set_time(kyiv(2026, 11, 26, 8, 0)).await;
        let (_, queue) = w.get(&w.op, "/api/v1/queue").await;
        let item = queue
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["number"] == n.as_str())
            .cloned()
            .unwrap_or_default();
        assert_eq!(item["visible_from"], "2026-11-26T06:00:00Z", "{queue}");
        assert_eq!(
            item["review_due"], "2026-11-26T15:00:00Z",
            "due by the end of the next working day: {queue}"
        );
        w.set_time(kyiv(2026, 11, 26, 17, 30)).await;
        let (_, queue) = w.get(&w.op, "/api/v1/queue").await;
        assert_eq!(queue[0]["overdue_review"], true, "{queue}");
        w.act_ok(
            &w.op,
            &n,
            json!({"action": "approve_closing", "unit": "KP-VODA"}),
        )
        .await;

        // 9.6: the survey did not confirm → back to the executor for rework.
        let back = w.act_ok(&w.op, &n, json!({"action": "return_after_survey", "outcome": "not_confirmed", "note": "Заявник каже, що вода тече далі"})).await;
        assert_eq!(back["status"], "rework");
        assert_eq!(back["rework_count"], 2);
        w.app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn extension_accepted_and_rejected_9_3() {
    for engine in engines().await {
        let w = world(engine).await;
        let n = number(&w.create(json!({})).await);
        let created_deadline =
            w.get(&w.sup, &format!("/api/v1/requests/{n}")).await.1["deadline"].clone();
        w.act_ok(&w.voda, &n, json!({"action": "accept", "unit": "KP-VODA"}))
            .await;
        let (status, early) = w
            .act(&w.voda, &n, json!({"action": "propose_extension", "unit": "KP-VODA", "justification": "Потрібна заміна ділянки трубопроводу, матеріали очікуються", "new_deadline": "2026-11-20T10:00:00Z"}))
            .await;
        assert_eq!(
            status, 422,
            "the new date must be later than the deadline: {early}"
        );
        w.act_ok(&w.voda, &n, json!({"action": "propose_extension", "unit": "KP-VODA", "justification": "Потрібна заміна ділянки трубопроводу, матеріали очікуються", "new_deadline": "2026-12-15T15:00:00Z"})).await;
        let accepted = w
            .act_ok(
                &w.op,
                &n,
                json!({"action": "accept_extension", "unit": "KP-VODA"}),
            )
            .await;
        assert_eq!(accepted["deadline"], "2026-12-15T15:00:00Z");
        assert_eq!(
            accepted["original_deadline"], created_deadline,
            "the original deadline is kept"
        );
        assert_eq!(accepted["additional_control"], true);
        let (_, listed) = w
            .get(&w.sup, "/api/v1/requests?additional_control=true")
            .await;
        assert!(
            listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["number"] == n.as_str()),
            "{listed}"
        );

        // Rejected: the deadline stays.
        let m = number(&w.create(json!({})).await);
        w.act_ok(&w.voda, &m, json!({"action": "accept", "unit": "KP-VODA"}))
            .await;
        w.act_ok(&w.voda, &m, json!({"action": "propose_extension", "unit": "KP-VODA", "justification": "Потрібна заміна ділянки трубопроводу, матеріали очікуються", "new_deadline": "2026-12-15T15:00:00Z"})).await;
        let rejected = w.act_ok(&w.op, &m, json!({"action": "reject_extension", "unit": "KP-VODA", "reason": "Строк достатній для ремонту"})).await;
        assert_eq!(rejected["status"], "in_progress");
        assert_eq!(rejected["additional_control"], false);
        assert!(rejected["original_deadline"].is_null());
        w.app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn next_budget_year_deferral_9_4() {
    for engine in engines().await {
        let mut w = world(engine).await;
        let n = number(&w.create(json!({})).await);
        w.act_ok(&w.voda, &n, json!({"action": "accept", "unit": "KP-VODA"}))
            .await;
        let (status, same_year) = w
            .act(&w.voda, &n, json!({"action": "propose_deferral", "unit": "KP-VODA", "planned_date": "2026-12-20", "applicant_note": "Роботи включено до плану на наступний рік"}))
            .await;
        assert_eq!(
            status, 422,
            "the planned date must be in a later budget year: {same_year}"
        );
        w.act_ok(&w.voda, &n, json!({"action": "propose_deferral", "unit": "KP-VODA", "planned_date": "2027-05-15", "applicant_note": "Роботи включено до плану на наступний рік"})).await;
        let registered = w
            .act_ok(
                &w.op,
                &n,
                json!({"action": "register_deferral", "unit": "KP-VODA"}),
            )
            .await;
        assert_eq!(registered["status"], "long_term_control");
        assert_eq!(registered["long_term_until"], "2027-05-15");
        // Past the original deadline it is not counted as overdue.
        w.set_time(kyiv(2026, 12, 20, 10, 0)).await;
        let (_, overdue) = w.get(&w.sup, "/api/v1/requests?overdue=true").await;
        assert!(
            overdue["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["number"] != n.as_str()),
            "{overdue}"
        );
        let (_, long_term) = w.get(&w.sup, "/api/v1/requests?long_term=true").await;
        assert_eq!(long_term["items"][0]["number"], n.as_str());
        let (_, report) = w
            .get(
                &w.sup,
                "/api/v1/reports/executors?from=2026-11-01T00:00:00Z&to=2026-12-31T00:00:00Z",
            )
            .await;
        let voda = report
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["executor"] == "KP-VODA")
            .cloned()
            .unwrap();
        assert_eq!(
            (voda["deferred"].as_i64(), voda["open_overdue"].as_i64()),
            (Some(1), Some(0)),
            "{voda}"
        );
        // An operator cannot bring it back early: that is the scheduler's, on the planned date.
        let (status, _) = w
            .act(
                &w.op,
                &n,
                json!({"action": "approve_closing", "unit": "KP-VODA"}),
            )
            .await;
        assert_eq!(status, 409);
        w.app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn executor_change_7_2_single_and_several_executors() {
    for engine in engines().await {
        let mut w = world(engine).await;
        // Single executor asks to change; the operator approves with a new unit; the term restarts.
        let n = number(&w.create(json!({})).await);
        let (status, no_reason) = w
            .act(
                &w.voda,
                &n,
                json!({"action": "request_executor_change", "unit": "KP-VODA", "reason": ""}),
            )
            .await;
        assert_eq!(status, 422, "{no_reason}");
        w.act_ok(&w.voda, &n, json!({"action": "request_executor_change", "unit": "KP-VODA", "reason": "Мережа на балансі ОСББ, не КП"})).await;
        w.set_time(kyiv(2026, 11, 27, 9, 0)).await; // Friday
        let moved = w.act_ok(&w.op, &n, json!({"action": "approve_executor_change", "unit": "KP-VODA", "new_unit": "DZHKG"})).await;
        let units: Vec<&str> = moved["state"]["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["status"] != "withdrawn")
            .map(|a| a["unit"].as_str().unwrap())
            .collect();
        assert_eq!(units, ["DZHKG"], "{moved}");
        assert_eq!(
            moved["deadline"], "2026-12-04T13:45:00Z",
            "5 working days from Friday's approval → next Friday 15:45: {moved}"
        );
        let (status, _) = w.get(&w.voda, &format!("/api/v1/requests/{n}")).await;
        assert_eq!(status, 200, "the former executor still sees its history");
        let (status, _) = w.get(&w.dzhkg, &format!("/api/v1/requests/{n}")).await;
        assert_eq!(status, 200);

        // Rejected: the executor keeps it.
        let m = number(&w.create(json!({})).await);
        w.act_ok(&w.voda, &m, json!({"action": "request_executor_change", "unit": "KP-VODA", "reason": "Мережа на балансі ОСББ, не КП"})).await;
        let kept = w.act_ok(&w.op, &m, json!({"action": "reject_executor_change", "unit": "KP-VODA", "reason": "Мережа на балансі КП згідно з актом"})).await;
        assert_eq!(kept["state"]["assignments"][0]["unit"], "KP-VODA");
        assert_ne!(
            kept["state"]["assignments"][0]["status"],
            "executor_change_requested"
        );

        // Several executors: one says "not in our competence" in its status comment; the other continues.
        let s = number(&w.create(json!({"executors": ["KP-VODA", "DZHKG"]})).await);
        let (status, refused) = w.act(&w.voda, &s, json!({"action": "request_executor_change", "unit": "KP-VODA", "reason": "Мережа на балансі ОСББ, не КП"})).await;
        assert_eq!(
            status, 409,
            "with several executors a change request is not allowed: {refused}"
        );
        let declined = w.act_ok(&w.voda, &s, json!({"action": "decline_competence", "unit": "KP-VODA", "comment": "Питання не належить до компетенції КП"})).await;
        let voda = declined["state"]["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["unit"] == "KP-VODA")
            .cloned()
            .unwrap();
        assert_eq!(voda["status"], "declined_competence");
        assert_eq!(
            voda["status_comment"],
            "Питання не належить до компетенції КП"
        );
        let other = w
            .act_ok(&w.dzhkg, &s, json!({"action": "accept", "unit": "DZHKG"}))
            .await;
        assert_eq!(other["status"], "in_progress");
        w.app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn illegal_transitions_concurrent_edits_and_idempotent_create() {
    for engine in engines().await {
        let w = world(engine).await;
        let n = number(&w.create(json!({})).await);
        let (status, problem) = w
            .act(
                &w.op,
                &n,
                json!({"action": "approve_closing", "unit": "KP-VODA"}),
            )
            .await;
        assert_eq!(status, 409);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("allowed only in"),
            "{problem}"
        );

        // Two clients decide on the same version: the second loses with 409.
        let (_, current) = w.get(&w.voda, &format!("/api/v1/requests/{n}")).await;
        let version = current["version"].clone();
        let first = w
            .post(
                &w.voda,
                &format!("/api/v1/requests/{n}/actions"),
                json!({"version": version, "action": "accept", "unit": "KP-VODA"}),
            )
            .await;
        assert_eq!(first.0, 200);
        let second = w
            .post(&w.voda, &format!("/api/v1/requests/{n}/actions"), json!({"version": version, "action": "comment_status", "unit": "KP-VODA", "comment": "Бригада виїхала на місце"}))
            .await;
        assert_eq!(second.0, 409, "{}", second.1);
        assert!(
            second.1["detail"].as_str().unwrap().contains("reload"),
            "{}",
            second.1
        );

        // A retried POST with the same Idempotency-Key does not open a second request.
        let body = json!({"channel": "web", "description": "Не працює ліфт у під'їзді", "classifier_code": "22.5.1", "request_type": "ordinary"});
        let send = || {
            w.app
                .client
                .post(w.app.url("/api/v1/requests"))
                .bearer_auth(&w.op)
                .header("Idempotency-Key", "retry-1")
                .json(&body)
                .send()
        };
        let a = send().await.unwrap();
        assert_eq!(a.status(), 201);
        let a: Value = a.json().await.unwrap();
        let b = send().await.unwrap();
        assert_eq!(b.status(), 200);
        let b: Value = b.json().await.unwrap();
        assert_eq!(a["number"], b["number"]);
        let (_, all) = w.get(&w.sup, "/api/v1/requests?limit=200").await;
        assert_eq!(all["items"].as_array().unwrap().len(), 2);

        // Bad input gets a clear 4xx.
        let cases = [
            (
                json!({"channel": "phone", "description": "x", "classifier_code": "22", "request_type": "ordinary"}),
                422,
                "sub-items",
            ),
            (
                json!({"channel": "phone", "description": "x", "classifier_code": "22.5.27", "request_type": "urgent"}),
                422,
                "request_type",
            ),
            (
                json!({"channel": "fax", "description": "x", "classifier_code": "22.5.27", "request_type": "ordinary"}),
                422,
                "channel",
            ),
            (
                json!({"channel": "phone", "description": "x", "classifier_code": "22.5.27", "request_type": "ordinary", "colour": 1}),
                422,
                "colour",
            ),
            (
                json!({"channel": "phone", "description": "x".repeat(5000), "classifier_code": "22.5.27", "request_type": "ordinary"}),
                422,
                "4000",
            ),
            (
                json!({"channel": "phone", "description": "x", "classifier_code": "22.5.27", "request_type": "ordinary", "applicant": {"phone": "12"}}),
                422,
                "applicant.phone",
            ),
        ];
        for (body, status, needle) in cases {
            let (got, problem) = w.post(&w.op, "/api/v1/requests", body.clone()).await;
            assert_eq!(got, status, "{body} → {problem}");
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(needle),
                "`{needle}` not in {problem}"
            );
        }
        w.app.stop().await.unwrap();
    }
}

/// Registrations sent at once are written by group commit: every one is answered after its
/// batch commits, numbers stay unique (and gap-free on SQLite), one phone in any format is one
/// applicant, an unknown executor fails only its own request, and a key retried concurrently
/// opens one request.
#[tokio::test]
async fn concurrent_registrations_group_commit() {
    for engine in engines().await {
        let w = world(engine).await;
        let phone = |i: usize| {
            let k = i % 6;
            match i % 3 {
                0 => format!("067 100 00 0{k}"),
                1 => format!("+38067100000{k}"),
                _ => format!("067100000{k}"),
            }
        };
        let mut sends = Vec::new();
        for i in 0..60 {
            let body = json!({
                "channel": "phone",
                "applicant": {"phone": phone(i), "name": format!("Заявник {}", i % 6)},
                "description": format!("Звернення {i}"),
                "classifier_code": "22.5.27",
                "request_type": "ordinary"
            });
            sends.push(w.post(&w.op, "/api/v1/requests", body));
        }
        let bad = json!({"channel": "web", "description": "Невідомий виконавець", "classifier_code": "22.5.27", "request_type": "ordinary", "executors": ["NO-SUCH"]});
        let keyed = || {
            w.app
                .client
                .post(w.app.url("/api/v1/requests"))
                .bearer_auth(&w.op)
                .header("Idempotency-Key", "burst-1")
                .json(&json!({"channel": "web", "description": "Повторений запит", "classifier_code": "22.5.1", "request_type": "ordinary"}))
                .send()
        };
        let (created, bad, keyed) = tokio::join!(
            futures_util::future::join_all(sends),
            w.post(&w.op, "/api/v1/requests", bad),
            futures_util::future::join_all((0..5).map(|_| keyed())),
        );
        let mut numbers = Vec::new();
        for (status, view) in &created {
            assert_eq!(*status, 201, "{engine:?}: {view}");
            numbers.push(number(view));
        }
        assert_eq!(bad.0, 422, "{}", bad.1);
        assert!(
            bad.1["detail"]
                .as_str()
                .unwrap()
                .contains("unknown executor unit `NO-SUCH`"),
            "{}",
            bad.1
        );
        let mut keyed_numbers = Vec::new();
        let mut keyed_created = 0;
        for r in keyed {
            let r = r.unwrap();
            match r.status().as_u16() {
                201 => keyed_created += 1,
                200 => {}
                other => panic!("keyed create answered {other}"),
            }
            keyed_numbers.push(number(&r.json::<Value>().await.unwrap()));
        }
        assert_eq!(keyed_created, 1, "exactly one keyed POST creates");
        keyed_numbers.dedup();
        assert_eq!(keyed_numbers.len(), 1, "{keyed_numbers:?}");
        numbers.push(keyed_numbers[0].clone());

        let mut sorted = numbers.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 61, "numbers are unique");
        if engine == Engine::Sqlite {
            let expected: Vec<String> = (1..=61).map(|n| format!("2026-{n:06}")).collect();
            assert_eq!(sorted, expected, "SQLite numbers have no gaps");
        }
        let (_, all) = w.get(&w.sup, "/api/v1/requests?limit=200").await;
        assert_eq!(all["items"].as_array().unwrap().len(), 61);

        // One applicant per phone, whatever format it was given in; each has its ten requests.
        let mut ids = Vec::new();
        for k in 0..6 {
            let (status, applicant) = w
                .get(
                    &w.op,
                    &format!("/api/v1/applicants?phone=%2B38067100000{k}"),
                )
                .await;
            assert_eq!(status, 200, "{applicant}");
            assert_eq!(
                applicant["open_requests"].as_array().unwrap().len(),
                10,
                "{applicant}"
            );
            assert_eq!(applicant["name"], format!("Заявник {k}"));
            ids.push(applicant["id"].as_i64().unwrap());
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 6);

        // Each request has its audit trail and its executor, as if written alone.
        for n in numbers.iter().step_by(7) {
            let (status, trail) = w.get(&w.sup, &format!("/api/v1/requests/{n}/audit")).await;
            assert_eq!(status, 200, "{trail}");
            let actions: Vec<&str> = trail
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["action"].as_str().unwrap())
                .collect();
            assert_eq!(actions.first(), Some(&"request.create"), "{trail}");
            assert!(actions.len() >= 2, "{trail}");
            let (_, view) = w.get(&w.voda, &format!("/api/v1/requests/{n}")).await;
            assert_eq!(
                view["number"],
                n.as_str(),
                "the executor sees its new request"
            );
        }

        // They were written in fewer transactions than requests.
        let metrics = w.app.metrics().await;
        let value = |name: &str| -> u64 {
            support::metric_value(&metrics, name).unwrap_or_else(|| panic!("{name} in {metrics}"))
                as u64
        };
        let registered = value("contactd_requests_registered_total");
        let batches = value("contactd_request_batches_total");
        assert_eq!(registered, 61, "{metrics}");
        assert!(
            batches < registered,
            "{engine:?}: {batches} batches for {registered}"
        );
        w.app.stop().await.unwrap();
    }
}

/// Registration checks executor units against the codes it has seen before and looks up only the
/// others: a unit added while the daemon runs (by an administrator, on this instance or another)
/// is accepted at once, and one that does not exist is refused even after others were seen.
#[tokio::test]
async fn a_unit_added_while_the_daemon_runs_is_accepted_at_once() {
    for engine in engines().await {
        let w = world(engine).await;
        let to = |unit: &str| {
            json!({"channel": "web", "description": "Звернення до нового підрозділу",
                   "classifier_code": "22.5.27", "request_type": "ordinary", "executors": [unit]})
        };
        let (status, view) = w.post(&w.op, "/api/v1/requests", to("KP-VODA")).await;
        assert_eq!(status, 201, "{engine:?}: {view}");
        let (status, problem) = w.post(&w.op, "/api/v1/requests", to("NEW-UNIT")).await;
        assert_eq!(status, 422, "{engine:?}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("unknown executor unit `NEW-UNIT`"),
            "{problem}"
        );

        // Another instance (here: a connection of our own) adds the unit.
        let storage = contactd::app::open_storage(&w._db.config()).await.unwrap();
        sqlx::query("INSERT INTO executors (code, name, created_at) VALUES ($1, $2, 0)")
            .bind("NEW-UNIT")
            .bind("Новий підрозділ")
            .execute(storage.writer())
            .await
            .unwrap();
        storage.close().await;

        let (status, view) = w.post(&w.op, "/api/v1/requests", to("NEW-UNIT")).await;
        assert_eq!(status, 201, "{engine:?}: {view}");
        assert_eq!(view["state"]["assignments"][0]["unit"], "NEW-UNIT");
        let (status, problem) = w.post(&w.op, "/api/v1/requests", to("STILL-NONE")).await;
        assert_eq!(status, 422, "{engine:?}: {problem}");
        w.app.stop().await.unwrap();
    }
}

/// Two daemons sharing one PostgreSQL database register requests of the same new applicants at
/// the same moment: their batches race on the applicants' phones, the loser is rolled back and
/// written again, and every request is registered once, with one applicant per phone.
#[tokio::test]
async fn two_daemons_on_one_postgres_database_register_concurrently() {
    if !engines().await.contains(&Engine::Postgres) {
        return; // `engines()` already failed the run in CI if PostgreSQL is missing.
    }
    let w = world(Engine::Postgres).await;
    let second = support::spawn_app_with_clock(w._db.config(), Arc::new(w.clock.clone())).await;
    let token = sign_in(&second, "op1").await;
    let mut sends = Vec::new();
    for i in 0..80 {
        let (app, token) = if i % 2 == 0 {
            (&w.app, w.op.as_str())
        } else {
            (&second, token.as_str())
        };
        let body = json!({
            "channel": "phone",
            "applicant": {"phone": format!("+38067200000{}", i % 4), "name": "Заявник"},
            "description": format!("Звернення {i}"),
            "classifier_code": "22.5.27",
            "request_type": "ordinary"
        });
        sends.push(
            app.client
                .post(app.url("/api/v1/requests"))
                .bearer_auth(token)
                .json(&body)
                .send(),
        );
    }
    let mut numbers = Vec::new();
    for r in futures_util::future::join_all(sends).await {
        let r = r.unwrap();
        let status = r.status().as_u16();
        let view: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "{view}");
        numbers.push(number(&view));
    }
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 80, "numbers are unique across daemons");
    for k in 0..4 {
        let (status, applicant) = w
            .get(
                &w.op,
                &format!("/api/v1/applicants?phone=%2B38067200000{k}"),
            )
            .await;
        assert_eq!(status, 200, "{applicant}");
        assert_eq!(
            applicant["open_requests"].as_array().unwrap().len(),
            20,
            "{applicant}"
        );
    }
    second.stop().await.unwrap();
    w.app.stop().await.unwrap();
}

#[tokio::test]
async fn authorization_matrix() {
    let w = world(Engine::Sqlite).await;
    let n = number(&w.create(json!({})).await);
    let path = format!("/api/v1/requests/{n}");
    let anonymous = w.app.client.get(w.app.url(&path)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // (who, method+path, expected)
    let create = json!({"channel": "phone", "description": "x", "classifier_code": "22.5.27", "request_type": "ordinary"});
    for (who, token) in [
        ("op", &w.op),
        ("sup", &w.sup),
        ("admin", &w.admin),
        ("voda", &w.voda),
        ("dzhkg", &w.dzhkg),
    ] {
        let get = w.get(token, &path).await.0;
        let list = w.get(token, "/api/v1/requests").await;
        let created = w.post(token, "/api/v1/requests", create.clone()).await.0;
        let report = w
            .get(
                token,
                "/api/v1/reports/executors?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z",
            )
            .await
            .0;
        let applicant = w.get(token, "/api/v1/applicants?phone=0671234567").await.0;
        let queue = w.get(token, "/api/v1/queue").await.0;
        let audit = w.get(token, &format!("{path}/audit")).await.0;
        let expected: (u16, u16, u16, u16, u16, u16, u16) = match who {
            "op" => (200, 200, 201, 403, 200, 200, 200),
            "sup" => (200, 200, 201, 200, 200, 200, 200),
            "admin" => (403, 403, 403, 403, 403, 403, 403),
            "voda" => (200, 200, 403, 403, 403, 403, 200),
            // Another unit's request: 404, so that its existence is not disclosed.
            "dzhkg" => (404, 200, 403, 403, 403, 403, 404),
            _ => unreachable!(),
        };
        assert_eq!(
            (get, list.0, created, report, applicant, queue, audit),
            expected,
            "{who}"
        );
        if who == "dzhkg" {
            assert!(
                list.1["items"].as_array().unwrap().is_empty(),
                "an executor lists only its units' requests"
            );
        }
        if who == "voda" {
            assert!(list.1["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["executors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e == "KP-VODA")));
        }
    }
    // Executors act only on their own unit's assignment.
    let (status, _) = w
        .act(&w.dzhkg, &n, json!({"action": "accept", "unit": "KP-VODA"}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = w
        .act(&w.voda, &n, json!({"action": "accept", "unit": "DZHKG"}))
        .await;
    assert_eq!(status, 403);
    // Operators do not act for executors.
    let (status, _) = w
        .act(&w.op, &n, json!({"action": "accept", "unit": "KP-VODA"}))
        .await;
    assert_eq!(status, 403);
    w.app.stop().await.unwrap();
}

#[tokio::test]
async fn executor_report_json_and_csv() {
    for engine in engines().await {
        let mut w = world(engine).await;
        let closed = number(&w.create(json!({})).await);
        w.act_ok(
            &w.voda,
            &closed,
            json!({"action": "accept", "unit": "KP-VODA"}),
        )
        .await;
        w.act_ok(&w.voda, &closed, json!({"action": "propose_closing", "unit": "KP-VODA", "result": "done", "result_text": "Трубу замінено, воду подано"})).await;
        w.act_ok(
            &w.op,
            &closed,
            json!({"action": "approve_closing", "unit": "KP-VODA"}),
        )
        .await;
        let _late = number(&w.create(json!({})).await);
        w.set_time(kyiv(2026, 12, 10, 10, 0)).await;
        let (status, rows) = w
            .get(
                &w.sup,
                "/api/v1/reports/executors?from=2026-11-01T00:00:00Z&to=2026-12-31T00:00:00Z",
            )
            .await;
        assert_eq!(status, 200, "{rows}");
        let voda = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["executor"] == "KP-VODA")
            .cloned()
            .unwrap();
        assert_eq!(
            (
                voda["received"].as_i64(),
                voda["closed_on_time"].as_i64(),
                voda["open_overdue"].as_i64()
            ),
            (Some(2), Some(1), Some(1)),
            "{voda}"
        );
        let csv = w
            .app
            .client
            .get(w.app.url("/api/v1/reports/executors?from=2026-11-01T00:00:00Z&to=2026-12-31T00:00:00Z&format=csv"))
            .bearer_auth(&w.sup)
            .send()
            .await
            .unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let text = csv.text().await.unwrap();
        assert!(
            text.starts_with("executor,received,closed_on_time")
                && text.contains("KP-VODA,2,1,0,1,"),
            "{text}"
        );
        let _ = w.clock.now();
        w.app.stop().await.unwrap();
    }
}
