//! The HTTP API on both engines: sessions (sign in, cookie and bearer, sign out, rate limit),
//! the calendar deadline, the classifier (import by decision, revisions, search), OpenAPI.
// Test and bench code: a failed setup step should stop the run with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use chrono::NaiveDate;
use contactd::auth::{add_user, NewUser, Role};
use contactd::clock::{Clock, SystemClock};
use contactd::storage::Storage;
use contactd_classifier::Revision;
use serde_json::{json, Value};
use support::{engines, spawn_app, TestApp, TestDb};

const PASSWORD: &str = "correct horse battery";

async fn with_user(db: &TestDb, login: &str, role: Role, executors: &[&str]) {
    let config = db.config();
    let storage = contactd::app::open_storage(&config).await.unwrap();
    let user = NewUser {
        login: login.into(),
        password: PASSWORD.into(),
        role,
        executors: executors.iter().map(|s| s.to_string()).collect(),
        extension: (role == Role::Operator).then(|| "1001".into()),
    };
    add_user(&storage, &user, SystemClock.now()).await.unwrap();
    storage.close().await;
}

async fn sign_in(app: &TestApp, login: &str) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"login": login, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("contactd_session="),
        "{cookie}"
    );
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

async fn import_examples(db: &TestDb) -> Storage {
    let storage = contactd::app::open_storage(&db.config()).await.unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    contactd::classifier::import(
        &storage,
        &root.join("classifier.example.toml"),
        Revision::new(339, d("2020-07-22")),
        SystemClock.now(),
    )
    .await
    .unwrap();
    contactd::classifier::import(
        &storage,
        &root.join("classifier.amendment-459.example.toml"),
        Revision::new(459, d("2020-09-16")),
        SystemClock.now(),
    )
    .await
    .unwrap();
    storage
}

#[tokio::test]
async fn sessions_cookie_bearer_logout_and_problem_details() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        with_user(&db, "op1", Role::Operator, &[]).await;
        let app = spawn_app(db.config()).await;

        let anonymous = app.client.get(app.url("/api/v1/me")).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        assert_eq!(
            anonymous.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = anonymous.json().await.unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("POST /api/v1/session"),
            "{problem}"
        );

        let wrong = app
            .client
            .post(app.url("/api/v1/session"))
            .json(&json!({"login": "op1", "password": "nope"}))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        let unknown = app
            .client
            .post(app.url("/api/v1/session"))
            .json(&json!({"login": "ghost", "password": "nope"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            unknown.status(),
            401,
            "unknown login looks like a wrong password"
        );
        let malformed = app
            .client
            .post(app.url("/api/v1/session"))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status(), 400);
        let extra = app
            .client
            .post(app.url("/api/v1/session"))
            .json(&json!({"login": "op1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(extra.status(), 422);

        let token = sign_in(&app, "op1").await;
        let me: Value = app
            .client
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["login"], "op1");
        assert_eq!(me["role"], "operator");
        assert_eq!(me["extension"], "1001");
        let by_cookie = app
            .client
            .get(app.url("/api/v1/me"))
            .header("cookie", format!("other=1; contactd_session={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(by_cookie.status(), 200);

        let out = app
            .client
            .delete(app.url("/api/v1/session"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 204);
        let after = app
            .client
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(after.status(), 401, "a signed-out token is revoked");

        // The stored token is a hash, never the token itself.
        let storage = Storage::connect(&db.config().database).await.unwrap();
        let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM sessions")
            .fetch_all(storage.reader())
            .await
            .unwrap();
        assert!(!stored.is_empty() && !stored.contains(&token));
        let hash: String =
            sqlx::query_scalar("SELECT password_hash FROM users WHERE login = 'op1'")
                .fetch_one(storage.reader())
                .await
                .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        storage.close().await;
        app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn failed_sign_ins_are_rate_limited() {
    let db = TestDb::new(support::Engine::Sqlite).await;
    with_user(&db, "op1", Role::Operator, &[]).await;
    let app = spawn_app(db.config()).await;
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let r = app
            .client
            .post(app.url("/api/v1/session"))
            .json(&json!({"login": "op1", "password": "wrong"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429);
    let blocked = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({"login": "op1", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        blocked.status(),
        429,
        "even the right password waits out the window"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn calendar_deadline_endpoint_counts_like_the_regulation() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        with_user(&db, "op1", Role::Operator, &[]).await;
        let peace = spawn_app(db.config_with("[calendar]\nmartial_law = false\n")).await;
        let token = sign_in(&peace, "op1").await;
        let ask = |app: &TestApp, query: &str| {
            let request = app
                .client
                .get(app.url(&format!("/api/v1/calendar/deadline?{query}")))
                .bearer_auth(&token);
            async move { request.send().await.unwrap() }
        };
        let from = "from=2026-04-10T17%3A30%3A00%2B03%3A00";
        let body: Value = ask(&peace, &format!("{from}&working_days=10"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            body["deadline"], "2026-04-27T14:00:00Z",
            "peacetime: Easter Monday 04-13 is off"
        );
        assert_eq!(body["martial_law"], false);
        let both = ask(&peace, &format!("{from}&working_days=10&hours=3")).await;
        assert_eq!(both.status(), 400);
        let bad_from = ask(&peace, "from=yesterday&working_days=1").await;
        assert_eq!(bad_from.status(), 400);
        let unauth = peace
            .client
            .get(peace.url(&format!("/api/v1/calendar/deadline?{from}&working_days=10")))
            .send()
            .await
            .unwrap();
        assert_eq!(unauth.status(), 401);
        peace.stop().await.unwrap();

        let war = spawn_app(db.config()).await;
        let token = sign_in(&war, "op1").await;
        let body: Value = war
            .client
            .get(war.url(&format!("/api/v1/calendar/deadline?{from}&working_days=10")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            body["deadline"], "2026-04-24T12:45:00Z",
            "martial law: holidays are working days; Friday closes 15:45"
        );
        let hours: Value = war
            .client
            .get(war.url(&format!("/api/v1/calendar/deadline?{from}&hours=24")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            hours["deadline"], "2026-04-11T14:30:00Z",
            "emergency terms run round the clock"
        );
        war.stop().await.unwrap();
    }
}

#[tokio::test]
async fn classifier_import_keeps_revisions_and_search_finds_items() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let storage = import_examples(&db).await;
        // A second import of the same decision is refused and changes nothing.
        let again = contactd::classifier::import(
            &storage,
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("config/classifier.amendment-459.example.toml"),
            Revision::new(459, NaiveDate::from_ymd_opt(2020, 9, 16).unwrap()),
            SystemClock.now(),
        )
        .await
        .unwrap_err();
        assert!(again.to_string().contains("already imported"), "{again}");
        let units: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM executors")
            .fetch_one(storage.reader())
            .await
            .unwrap();
        assert!(
            units > 0,
            "executor units declared by the file are registered"
        );
        let audit: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'classifier.import'")
                .fetch_one(storage.reader())
                .await
                .unwrap();
        assert_eq!(audit, 2);

        // Revisions: the request filed under 339 keeps its wording; new ones get 459's.
        let loaded = contactd::classifier::load(&storage).await.unwrap().unwrap();
        let code = contactd_classifier::ClassifierCode::parse("22.5.27").unwrap();
        let old = loaded
            .item(code, contactd_classifier::RevisionId(0))
            .unwrap()
            .title
            .clone();
        let new = loaded
            .item(code, contactd_classifier::RevisionId(1))
            .unwrap()
            .title
            .clone();
        assert_ne!(old, new);
        storage.close().await;

        with_user(&db, "op1", Role::Operator, &[]).await;
        let app = spawn_app(db.config()).await;
        let token = sign_in(&app, "op1").await;
        let hits: Value = app
            .client
            .get(app.url("/api/v1/classifier/search"))
            .query(&[("q", "витік води")])
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let hits = hits.as_array().unwrap();
        assert!(
            hits.iter()
                .any(|h| h["code"] == "22.5.27" && h["title"] == new.as_str()),
            "{hits:?}"
        );
        assert!(hits.iter().all(|h| h["revision"] == 1));
        let by_code: Value = app
            .client
            .get(app.url("/api/v1/classifier/search"))
            .query(&[("q", "22.5")])
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            by_code
                .as_array()
                .unwrap()
                .iter()
                .all(|h| h["code"].as_str().unwrap().starts_with("22.5")),
            "{by_code}"
        );
        let item: Value = app
            .client
            .get(app.url("/api/v1/classifier/items/22.5.27"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(item["title"], new.as_str());
        assert!(item["terms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["request_type"] == "emergency"));
        let missing = app
            .client
            .get(app.url("/api/v1/classifier/items/99.99"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn classifier_search_without_import_says_what_to_do() {
    let db = TestDb::new(support::Engine::Sqlite).await;
    with_user(&db, "op1", Role::Operator, &[]).await;
    let app = spawn_app(db.config()).await;
    let token = sign_in(&app, "op1").await;
    let response = app
        .client
        .get(app.url("/api/v1/classifier/search?q=x"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("classifier import"),
        "{body}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn openapi_document_lists_the_api() {
    let db = TestDb::new(support::Engine::Sqlite).await;
    with_user(&db, "op1", Role::Operator, &[]).await;
    let app = spawn_app(db.config()).await;
    assert_eq!(
        app.client
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let token = sign_in(&app, "op1").await;
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/session",
        "/api/v1/calendar/deadline",
        "/api/v1/classifier/search",
        "/api/v1/requests",
        "/api/v1/requests/{number}/actions",
        "/api/v1/applicants",
        "/api/v1/queue",
        "/api/v1/reports/executors",
        "/api/v1/calls/{call_id}",
        "/api/v1/survey/tasks",
        "/api/v1/escalations/sent",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn executor_users_need_a_known_unit() {
    let db = TestDb::new(support::Engine::Sqlite).await;
    let storage = import_examples(&db).await;
    let user = |executors: Vec<String>| NewUser {
        login: "ex1".into(),
        password: PASSWORD.into(),
        role: Role::Executor,
        executors,
        extension: None,
    };
    let err = add_user(&storage, &user(vec![]), SystemClock.now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--executor"), "{err}");
    let err = add_user(&storage, &user(vec!["NO-SUCH".into()]), SystemClock.now())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown executor unit `NO-SUCH`"),
        "{err}"
    );
    add_user(&storage, &user(vec!["KP-VODA".into()]), SystemClock.now())
        .await
        .unwrap();
    let err = add_user(&storage, &user(vec!["KP-VODA".into()]), SystemClock.now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    storage.close().await;
}
