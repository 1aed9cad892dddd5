//! Test support: a fresh database per test on each engine, and the daemon spawned in-process on
//! port 0.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use contactd::app::{self, Listeners, RunHooks};
use contactd::clock::{SharedClock, SystemClock};
use contactd::config::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The PostgreSQL server the tests use (trust auth on this machine kind).
pub fn postgres_admin_url() -> String {
    std::env::var("CONTACTD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The engines to run a test against. PostgreSQL is required when `CI=true`; elsewhere a missing
/// server is reported and skipped.
pub async fn engines() -> Vec<Engine> {
    let mut engines = vec![Engine::Sqlite];
    match sqlx::postgres::PgPool::connect(&postgres_admin_url()).await {
        Ok(pool) => {
            pool.close().await;
            engines.push(Engine::Postgres);
        }
        Err(err) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "PostgreSQL is required in CI but unreachable at {}: {err}",
                    postgres_admin_url()
                );
            }
            eprintln!(
                "SKIPPING PostgreSQL: unreachable at {} ({err}); set CONTACTD_TEST_POSTGRES_URL",
                postgres_admin_url()
            );
        }
    }
    engines
}

/// A database of its own for one test.
pub struct TestDb {
    pub engine: Engine,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn new(engine: Engine) -> Self {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("contactd.db").display());
                Self {
                    engine,
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Engine::Postgres => {
                let name = format!(
                    "contactd_t_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    uuid::Uuid::new_v4()
                        .simple()
                        .to_string()
                        .get(..8)
                        .unwrap_or("x")
                );
                let admin = sqlx::postgres::PgPool::connect(&postgres_admin_url())
                    .await
                    .expect("postgres admin");
                drop_stale_databases(&admin).await;
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&admin)
                    .await
                    .expect("create database");
                admin.close().await;
                let mut url = url::Url::parse(&postgres_admin_url()).expect("url");
                url.set_path(&name);
                Self {
                    engine,
                    url: url.to_string(),
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// A minimal configuration on this database with an ephemeral port.
    pub fn config(&self) -> Config {
        self.config_with("")
    }

    /// Like [`TestDb::config`] with extra TOML appended.
    pub fn config_with(&self, extra: &str) -> Config {
        let text = format!(
            "[database]\nurl = \"{}\"\nsqlite_synchronous = \"normal\"\n[http]\nlisten = \"127.0.0.1:0\"\n[daemon]\nshutdown_deadline_s = 5\n{extra}",
            self.url
        );
        Config::from_toml(&text, &PathBuf::from("test.toml"), &[]).expect("test config")
    }
}

/// Drop databases left by earlier test processes that are gone.
async fn drop_stale_databases(admin: &sqlx::PgPool) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'contactd_t_%'")
            .fetch_all(admin)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists()) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(admin)
                .await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Best effort, outside the test's runtime; stale ones are dropped by the next run.
            let url = postgres_admin_url();
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(admin) = sqlx::postgres::PgPool::connect(&url).await {
                        let _ = sqlx::query(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .execute(&admin)
                        .await;
                        admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// The daemon running in this process.
pub struct TestApp {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<anyhow::Result<()>>,
    pub client: reqwest::Client,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Signs `login` in with `password` (`POST /api/v1/session`); returns the session token.
    pub async fn sign_in(&self, login: &str, password: &str) -> String {
        let body: serde_json::Value = self
            .client
            .post(self.url("/api/v1/session"))
            .json(&serde_json::json!({"login": login, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.handle.await.expect("daemon task")
    }
}

/// The value of the sample `name_and_labels` (e.g. `contactd_x_total` or
/// `contactd_x_total{result="ok"}`) in a `/metrics` text, if it is there.
pub fn metric_value(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(name_and_labels)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

pub async fn spawn_app(config: Config) -> TestApp {
    spawn_app_with_clock(config, Arc::new(SystemClock)).await
}

pub async fn spawn_app_with_clock(config: Config, clock: SharedClock) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let shutdown = CancellationToken::new();
    let (ready_tx, ready_rx) = oneshot::channel();
    let hooks = RunHooks {
        ready: Some(ready_tx),
        ..RunHooks::default()
    };
    let handle = tokio::spawn(app::run(
        config,
        Listeners { http: listener },
        clock,
        shutdown.clone(),
        hooks,
    ));
    let addr = match ready_rx.await {
        Ok(addr) => addr,
        Err(_) => {
            let result = handle.await.expect("daemon task");
            panic!("daemon did not become ready: {result:?}");
        }
    };
    TestApp {
        addr,
        shutdown,
        handle,
        client: reqwest::Client::new(),
    }
}

/// Kyiv local time → UTC instant.
pub fn kyiv(y: i32, m: u32, d: u32, h: u32, min: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono_tz::Europe::Kyiv
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("an unambiguous Kyiv time")
        .with_timezone(&chrono::Utc)
}

/// Import the shipped example classifier (decision 339) and, with `amendment`, its decision-459
/// amendment: revision 0, then 1.
pub async fn import_example_classifier(
    storage: &contactd::storage::Storage,
    at: chrono::DateTime<chrono::Utc>,
    amendment: bool,
) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
    contactd::classifier::import(
        storage,
        &root.join("classifier.example.toml"),
        contactd_classifier::Revision::new(339, date("2020-07-22")),
        at,
    )
    .await
    .expect("import the example classifier");
    if amendment {
        contactd::classifier::import(
            storage,
            &root.join("classifier.amendment-459.example.toml"),
            contactd_classifier::Revision::new(459, date("2020-09-16")),
            at,
        )
        .await
        .expect("import the 459 amendment");
    }
}
