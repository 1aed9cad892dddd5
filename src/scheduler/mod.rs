//! Scheduler: the leader lease that lets one of several daemons sharing a database run each
//! scheduled job, and lets another take over within seconds when that one dies.
//!
//! A lease is a row of `job_leases` (name, holder, acquired_at, expires_at). Taking it is one
//! upsert that succeeds only when the row is missing, expired, or already ours, so two instances
//! cannot both hold it (the upsert is atomic on PostgreSQL; SQLite has one writer). The holder
//! renews it well before it expires (e.g. every TTL/3); a holder that dies stops renewing and the
//! lease is free once `expires_at` passes. Time comes from the caller's clock.

use chrono::{DateTime, Duration, Utc};

use crate::storage::{from_db_time, to_db_time, Storage};

/// A lease failure.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("job lease `{name}`: database error: {source} (the job does not run until the database answers)")]
    Db {
        name: String,
        #[source]
        source: sqlx::Error,
    },
}

/// A held lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    name: String,
    holder: String,
    expires_at: DateTime<Utc>,
}

impl Lease {
    /// Take the lease `name` for `holder` until `now + ttl`, if nobody else holds an unexpired
    /// one. `Ok(None)`: another holder has it.
    pub async fn try_acquire(
        storage: &Storage,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, LeaseError> {
        let expires_at = now + ttl;
        let done = sqlx::query(
            "INSERT INTO job_leases (name, holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             acquired_at = excluded.acquired_at, expires_at = excluded.expires_at \
             WHERE job_leases.expires_at <= $5 OR job_leases.holder = $6",
        )
        .bind(name)
        .bind(holder)
        .bind(to_db_time(now))
        .bind(to_db_time(expires_at))
        .bind(to_db_time(now))
        .bind(holder)
        .execute(storage.writer())
        .await
        .map_err(|source| LeaseError::Db {
            name: name.to_owned(),
            source,
        })?;
        Ok((done.rows_affected() == 1).then(|| Lease {
            name: name.to_owned(),
            holder: holder.to_owned(),
            expires_at,
        }))
    }

    /// Extend the lease to `now + ttl`. `Ok(false)`: it was lost (expired and taken by another
    /// holder); stop the job's work and go back to [`Lease::try_acquire`].
    pub async fn renew(
        &mut self,
        storage: &Storage,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, LeaseError> {
        let expires_at = now + ttl;
        let done =
            sqlx::query("UPDATE job_leases SET expires_at = $1 WHERE name = $2 AND holder = $3")
                .bind(to_db_time(expires_at))
                .bind(&self.name)
                .bind(&self.holder)
                .execute(storage.writer())
                .await
                .map_err(|source| self.db_error(source))?;
        if done.rows_affected() == 1 {
            self.expires_at = expires_at;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Give the lease up (at shutdown), so another instance takes over at once.
    pub async fn release(self, storage: &Storage) -> Result<(), LeaseError> {
        sqlx::query("DELETE FROM job_leases WHERE name = $1 AND holder = $2")
            .bind(&self.name)
            .bind(&self.holder)
            .execute(storage.writer())
            .await
            .map_err(|source| self.db_error(source))?;
        Ok(())
    }

    /// Who holds `name` now, and until when (expired holders included).
    pub async fn current(
        storage: &Storage,
        name: &str,
    ) -> Result<Option<(String, DateTime<Utc>)>, LeaseError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT holder, expires_at FROM job_leases WHERE name = $1")
                .bind(name)
                .fetch_optional(storage.writer())
                .await
                .map_err(|source| LeaseError::Db {
                    name: name.to_owned(),
                    source,
                })?;
        Ok(row.map(|(holder, expires)| (holder, from_db_time(expires))))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Until when the lease is held unless renewed; a job must not start work it cannot finish
    /// before this.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    fn db_error(&self, source: sqlx::Error) -> LeaseError {
        LeaseError::Db {
            name: self.name.clone(),
            source,
        }
    }
}

/// A holder name unique to this process: `HOSTNAME:PID:RANDOM` (the random part tells apart two
/// daemons started in one process, as tests do).
pub fn holder_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{host}:{}:{}",
        std::process::id(),
        random.get(..8).unwrap_or(&random)
    )
}

/// Run `job` every `every` while this daemon holds the lease `name` (acquired or renewed before
/// each run, expiring after `ttl` if this daemon dies), until `shutdown`; the lease is released
/// on the way out so another daemon takes over at once. Missed ticks are skipped.
pub async fn run_leased<F, Fut>(
    storage: &Storage,
    name: &str,
    every: std::time::Duration,
    ttl: Duration,
    clock: crate::clock::SharedClock,
    shutdown: tokio_util::sync::CancellationToken,
    mut job: F,
) where
    F: FnMut(DateTime<Utc>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let holder = holder_id();
    let mut lease: Option<Lease> = None;
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = interval.tick() => {}
        }
        let now = clock.now();
        let held = match lease.as_mut() {
            Some(l) => l.renew(storage, ttl, now).await,
            None => Lease::try_acquire(storage, name, &holder, ttl, now)
                .await
                .map(|l| {
                    lease = l;
                    lease.is_some()
                }),
        };
        match held {
            Ok(true) => job(now).await,
            Ok(false) => lease = None,
            Err(err) => tracing::warn!(error = %err, lease = name, "leader lease"),
        }
    }
    if let Some(l) = lease {
        if let Err(err) = l.release(storage).await {
            tracing::warn!(error = %err, lease = name, "releasing the leader lease");
        }
    }
}
