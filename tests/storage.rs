//! Storage and readiness on both engines: migrations, refusal of a newer schema, `/readyz`.
// Test and bench code: a failed setup step should stop the run with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use contactd::storage::{Storage, StorageError};
use support::{engines, spawn_app, TestDb};

#[tokio::test]
async fn migrations_apply_once_and_are_idempotent() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let config = db.config();
        let storage = Storage::connect(&config.database).await.unwrap();
        let first = storage.migrate().await.unwrap();
        assert!(
            !first.applied_now.is_empty(),
            "{engine:?}: fresh database gets migrations"
        );
        assert_eq!(first.schema_version, storage.known_schema_version());
        let second = storage.migrate().await.unwrap();
        assert!(
            second.applied_now.is_empty(),
            "{engine:?}: nothing to apply the second time"
        );
        storage.ping().await.unwrap();
        storage.close().await;
    }
}

#[tokio::test]
async fn database_newer_than_binary_is_refused() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let config = db.config();
        let storage = Storage::connect(&config.database).await.unwrap();
        storage.migrate().await.unwrap();
        let future = storage.known_schema_version() + 1;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
             VALUES ($1, 'from a newer contactd', CURRENT_TIMESTAMP, TRUE, $2, 0)",
        )
        .bind(future)
        .bind(vec![0u8; 48])
        .execute(storage.writer())
        .await
        .unwrap();
        let err = storage.migrate().await.unwrap_err();
        assert!(
            matches!(err, StorageError::SchemaTooNew { found, .. } if found == future),
            "{engine:?}: {err}"
        );
        assert!(
            err.to_string().contains("newer than this contactd"),
            "{err}"
        );
        storage.close().await;
    }
}

#[tokio::test]
async fn readyz_reports_database_and_pbx_state() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let app = spawn_app(db.config()).await;
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["ready"], true, "{body}");
        assert_eq!(body["database"]["ok"], true);
        assert_eq!(
            body["pbx"]["state"], "disabled",
            "no [pbx] section → no PBX link"
        );
        let health = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_requests() {
    let db = TestDb::new(support::Engine::Sqlite).await;
    let app = spawn_app(db.config()).await;
    app.client.get(app.url("/healthz")).send().await.unwrap();
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("contactd_http_requests_total{method=\"GET\",status=\"200\"}"),
        "{text}"
    );
    assert!(text.contains("contactd_pbx_link_state 0"), "{text}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_token_is_required_when_configured() {
    let db = TestDb::new(support::Engine::Sqlite).await;
    let app = spawn_app(db.config_with("").clone_with_token("s3cret")).await;
    let denied = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    assert_eq!(denied.headers()["content-type"], "application/problem+json");
    let allowed = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_endpoint_is_a_problem_document() {
    let db = TestDb::new(support::Engine::Sqlite).await;
    let app = spawn_app(db.config()).await;
    let response = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert!(body["detail"].as_str().unwrap().contains("/nope"));
    app.stop().await.unwrap();
}

trait WithToken {
    fn clone_with_token(self, token: &str) -> Self;
}

impl WithToken for contactd::config::Config {
    fn clone_with_token(mut self, token: &str) -> Self {
        self.http.metrics_token = Some(contactd::config::Secret::new(token));
        self
    }
}
