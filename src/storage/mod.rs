//! Storage: one layer over SQLite (embedded default) and PostgreSQL (production, several instances).
//!
//! Queries are written once in the SQL both engines accept and run through sqlx's `Any` driver;
//! per-engine SQL exists only where the engines truly differ (row claiming, locks), selected with
//! [`Storage::backend`]. Timestamps are stored as UTC microseconds since the Unix epoch (`BIGINT`),
//! which both engines compare and index the same way.
//!
//! SQLite runs in WAL mode with foreign keys on and a busy timeout, with **one writer connection**
//! (so writers queue in the pool instead of failing with "database is locked") and a separate
//! pool of readers.

use std::path::Path;
use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{AnyPool, Executor};
use url::Url;

use crate::config::{Backend, DatabaseConfig, SqliteSynchronous};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// PostgreSQL: a pooled connection idle this long is pinged before it is handed out.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A storage failure, worded for the log and the administrator.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot connect to the database at {url}: {source} (check [database] url, that the server runs and accepts this user)")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create the directory {dir} for the SQLite database: {source}")]
    CreateDir {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the database schema is at version {found}, newer than this contactd knows (latest {known}); upgrade contactd, or restore a backup made for this version")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("database migration failed: {0} (the database was left at the last good version; fix the cause and run `contactd migrate` again)")]
    Migrate(#[source] MigrateError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("invalid database configuration: {0}")]
    Config(String),
}

/// Which migrations ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied_now: Vec<i64>,
    pub schema_version: i64,
}

/// Handle to the database: clone freely (pools are reference-counted).
#[derive(Clone, Debug)]
pub struct Storage {
    writer: AnyPool,
    reader: AnyPool,
    backend: Backend,
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

impl Storage {
    /// Open the pools. For SQLite the file and its directory are created when missing.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, StorageError> {
        install_drivers();
        let backend = config
            .backend()
            .map_err(|e| StorageError::Config(e.to_string()))?;
        let acquire = Duration::from_secs(config.acquire_timeout_s);
        let shown = config.url.redacted();
        let connect_err = |source| StorageError::Connect {
            url: shown.clone(),
            source,
        };
        match backend {
            Backend::Sqlite => {
                let url = sqlite_url(config.url.expose())?;
                let options = AnyConnectOptions::from_str(&url).map_err(connect_err)?;
                let synchronous = match config.sqlite_synchronous {
                    SqliteSynchronous::Full => "FULL",
                    SqliteSynchronous::Normal => "NORMAL",
                };
                let pragmas: &'static str = if synchronous == "FULL" {
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;"
                } else {
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;"
                };
                let writer = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(acquire)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            conn.execute(pragmas).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options.clone())
                    .await
                    .map_err(connect_err)?;
                // A local file: no liveness ping before each read (the pop-up's lookup pays it).
                let reader = AnyPoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(config.max_connections)
                    .acquire_timeout(acquire)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(connect_err)?;
                Ok(Self {
                    writer,
                    reader,
                    backend,
                })
            }
            Backend::Postgres => {
                let mut url = Url::parse(config.url.expose())
                    .map_err(|e| StorageError::Config(format!("database.url: {e}")))?;
                if let Some(password) = &config.password {
                    url.set_password(Some(password.expose())).map_err(|()| {
                        StorageError::Config("database.url cannot carry a password".into())
                    })?;
                }
                let options = AnyConnectOptions::from_str(url.as_str()).map_err(connect_err)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(acquire)
                    // A liveness ping only for a connection that sat idle: one in use a moment
                    // ago is alive, and a ping before every use is a round trip on every
                    // query's path (~0.6 ms per registration batch under load). A connection
                    // broken in between fails its query with a connection error, which callers
                    // treat as transient.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for >= PING_AFTER_IDLE {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(connect_err)?;
                Ok(Self {
                    writer: pool.clone(),
                    reader: pool,
                    backend,
                })
            }
        }
    }

    /// Apply pending migrations. A database migrated by a newer contactd is refused.
    pub async fn migrate(&self) -> Result<MigrationReport, StorageError> {
        let migrator = self.migrator();
        let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        let before = self.applied_versions().await?;
        if let Some(found) = before.iter().copied().filter(|v| *v > known).max() {
            return Err(StorageError::SchemaTooNew { found, known });
        }
        migrator.run(&self.writer).await.map_err(|err| match err {
            MigrateError::VersionMissing(found) => StorageError::SchemaTooNew { found, known },
            other => StorageError::Migrate(other),
        })?;
        let after = self.applied_versions().await?;
        let applied_now = after
            .iter()
            .copied()
            .filter(|v| !before.contains(v))
            .collect();
        Ok(MigrationReport {
            applied_now,
            schema_version: after.iter().copied().max().unwrap_or(0),
        })
    }

    /// The newest schema version this binary knows.
    pub fn known_schema_version(&self) -> i64 {
        self.migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    async fn applied_versions(&self) -> Result<Vec<i64>, StorageError> {
        let exists: bool = match self.backend {
            Backend::Sqlite => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_one(&self.writer)
            .await?
                > 0,
            Backend::Postgres => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema()",
            )
            .fetch_one(&self.writer)
            .await?
                > 0,
        };
        if !exists {
            return Ok(Vec::new());
        }
        let versions = sqlx::query_scalar::<_, i64>(
            "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
        )
        .fetch_all(&self.writer)
        .await?;
        Ok(versions)
    }

    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&self.reader)
            .await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for writes and read-modify-write transactions.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// The pool for reads that need no transaction with a write (pop-ups, lists, reports).
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// Close the pools, waiting for checked-out connections to come back.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// Normalise `sqlite://PATH` for sqlx: create the directory, and open read-write-create unless the
/// URL says otherwise.
fn sqlite_url(url: &str) -> Result<String, StorageError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StorageError::Config(format!("`{url}` is not a sqlite:// URL")))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(StorageError::Config(
            "database.url: sqlite:// needs a file path, e.g. sqlite://var/contactd.db".into(),
        ));
    }
    if path != ":memory:" {
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
                dir: dir.display().to_string(),
                source,
            })?;
        }
    }
    let query = if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        query.to_owned()
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// A timestamp as stored: UTC microseconds since the Unix epoch.
/// Whether `err` may pass if the same work is tried again later: the database could not be
/// reached or is restarting (connection errors, PostgreSQL classes 08 and 57, too many
/// connections), or the work lost a race (deadlock, serialization failure, SQLite busy/locked).
/// Anything else (a constraint, bad SQL) fails the same way every time.
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("57")
                || code.starts_with("53")
                || code == "40001"
                || code == "40P01"
                // SQLite: SQLITE_BUSY and SQLITE_LOCKED with their extended codes.
                || matches!(code.parse::<i64>(), Ok(c) if c & 0xff == 5 || c & 0xff == 6)
        }),
        _ => false,
    }
}

pub fn to_db_time(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The inverse of [`to_db_time`]; out-of-range values (never written by us) clamp to the epoch.
pub fn from_db_time(micros: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(micros).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_worth_a_retry_are_told_from_the_rest() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(is_transient(&io));
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        // A real constraint error from SQLite is not worth a retry; a busy database is.
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut conn)
            .await
            .unwrap();
        let duplicate = sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(!is_transient(&duplicate), "{duplicate}");
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("busy.db").display());
        let mut a = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        let mut b = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (id INTEGER)")
            .execute(&mut a)
            .await
            .unwrap();
        sqlx::query("PRAGMA busy_timeout = 0")
            .execute(&mut b)
            .await
            .unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut a)
            .await
            .unwrap();
        let busy = sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut b)
            .await
            .unwrap_err();
        assert!(is_transient(&busy), "{busy}");
    }

    #[test]
    fn sqlite_url_gets_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/contactd.db");
        let url = sqlite_url(&format!("sqlite://{}", path.display())).unwrap();
        assert!(url.ends_with("?mode=rwc"), "{url}");
        assert!(path.parent().unwrap().is_dir());
        assert_eq!(
            sqlite_url("sqlite://x.db?mode=ro").unwrap(),
            "sqlite://x.db?mode=ro"
        );
    }

    #[test]
    fn db_time_round_trips() {
        let t = DateTime::parse_from_rfc3339("2026-10-25T03:59:59.123456+02:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(from_db_time(to_db_time(t)), t);
    }
}
