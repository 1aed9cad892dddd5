//! The outbox: emails as rows written in the caller's transaction, and the worker that sends them.
//!
//! Claiming: the worker takes one due row at a time by pushing its `next_attempt_at` a claim lease
//! ahead (and counting the attempt) in one statement. On PostgreSQL the row is picked with
//! `FOR UPDATE SKIP LOCKED`, so several daemons on one database never send the same row at once;
//! on SQLite the single writer connection makes the conditional `UPDATE … RETURNING` safe. A
//! worker that dies after claiming leaves the row pending, and it is taken again when the claim
//! lease runs out: late, never lost. A resend after a crash between sending and marking carries
//! the same `Message-ID`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use lettre::message::Mailbox;
use serde::Serialize;
use sqlx::{Any, Row, Transaction};
use tokio_util::sync::CancellationToken;

use super::mailer::parse_mailbox;
use super::{render, MailError, Mailer};
use crate::clock::SharedClock;
use crate::config::{Backend, SmtpConfig};
use crate::metrics::MetricsRegistry;
use crate::storage::{from_db_time, to_db_time, Storage};

/// An email to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// What caused it, for the console and logs: `executor_new_request`, `escalation_digest`, …
    pub kind: String,
    /// Recipients: `name@example.org` or `Ім'я <name@example.org>`.
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// Stop retrying at this time; `None`: `smtp.give_up_after_h` after the row was written.
    pub give_up_at: Option<DateTime<Utc>>,
}

impl OutgoingEmail {
    /// Render `template` (see [`super::render`]) into an email of kind `kind` to `to`.
    pub fn from_template(
        kind: &str,
        to: Vec<String>,
        template: &str,
        context: impl Serialize,
    ) -> Result<Self, MailError> {
        let rendered = render(template, context)?;
        Ok(Self {
            kind: kind.to_owned(),
            to,
            subject: rendered.subject,
            text: rendered.text,
            html: Some(rendered.html),
            give_up_at: None,
        })
    }
}

/// The row [`enqueue`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueuedEmail {
    pub id: i64,
    /// The `Message-ID` header the email will carry, angle brackets included.
    pub message_id: String,
}

/// Status of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxStatus {
    Pending,
    Sent,
    Failed,
}

impl OutboxStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// An outbox row as the console and tests see it (bodies left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub message_id: String,
    pub kind: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Queue `email` in the caller's open transaction: it is sent only if the transaction commits.
/// `now` is the caller's clock reading; the first attempt is due at once. Every recipient is
/// checked here, so a bad address fails the caller's transaction instead of a send hours later.
pub async fn enqueue(
    tx: &mut Transaction<'_, Any>,
    email: &OutgoingEmail,
    now: DateTime<Utc>,
) -> Result<EnqueuedEmail, MailError> {
    if email.to.is_empty() {
        return Err(MailError::NoRecipients);
    }
    for address in &email.to {
        parse_mailbox(address)?;
    }
    let recipients = serde_json::to_string(&email.to).map_err(|err| MailError::Corrupt {
        id: 0,
        message: format!("cannot encode the recipients: {err}"),
    })?;
    let message_id = format!("<outbox.{}@contactd>", uuid::Uuid::now_v7().simple());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (message_id, kind, recipients, subject, body_text, body_html, status, \
         attempts, next_attempt_at, created_at, give_up_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $9) RETURNING id",
    )
    .bind(&message_id)
    .bind(&email.kind)
    .bind(recipients)
    .bind(&email.subject)
    .bind(&email.text)
    .bind(email.html.as_deref())
    .bind(to_db_time(now))
    .bind(to_db_time(now))
    .bind(email.give_up_at.map(to_db_time))
    .fetch_one(&mut **tx)
    .await?;
    Ok(EnqueuedEmail { id, message_id })
}

/// Rows of one status, oldest first (for the console and tests).
pub async fn list(
    storage: &Storage,
    status: OutboxStatus,
    limit: i64,
) -> Result<Vec<OutboxRow>, MailError> {
    let rows = sqlx::query(
        "SELECT id, message_id, kind, recipients, subject, status, attempts, next_attempt_at, \
         last_error, created_at, sent_at FROM outbox WHERE status = $1 ORDER BY id LIMIT $2",
    )
    .bind(status.as_str())
    .bind(limit)
    // Reads go to the readers, so that the console never queues behind SQLite's one writer.
    .fetch_all(storage.reader())
    .await?;
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            let recipients: String = row.try_get("recipients")?;
            let status: String = row.try_get("status")?;
            Ok(OutboxRow {
                id,
                message_id: row.try_get("message_id")?,
                kind: row.try_get("kind")?,
                recipients: decode_recipients(id, &recipients)?,
                subject: row.try_get("subject")?,
                status: OutboxStatus::parse(&status).ok_or_else(|| MailError::Corrupt {
                    id,
                    message: format!("unknown status `{status}`"),
                })?,
                attempts: row.try_get("attempts")?,
                next_attempt_at: from_db_time(row.try_get("next_attempt_at")?),
                last_error: row.try_get("last_error")?,
                created_at: from_db_time(row.try_get("created_at")?),
                sent_at: row.try_get::<Option<i64>, _>("sent_at")?.map(from_db_time),
            })
        })
        .collect()
}

/// Emails not yet sent nor given up.
pub async fn pending_count(storage: &Storage) -> Result<i64, MailError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
            .fetch_one(storage.reader())
            .await?,
    )
}

fn decode_recipients(id: i64, json: &str) -> Result<Vec<String>, MailError> {
    serde_json::from_str(json).map_err(|err| MailError::Corrupt {
        id,
        message: format!("recipients are not a JSON list of strings: {err}"),
    })
}

/// How the worker paces itself (from `[smtp]`).
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Rows handled per [`OutboxWorker::step`].
    pub batch: usize,
    /// How long a claimed row is reserved for the worker that claimed it.
    pub claim_lease: Duration,
    /// The first retry delay; doubled per attempt up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Rows with no `give_up_at` of their own are failed this long after they were written.
    pub give_up_after: Duration,
    /// Pause between polls when the outbox is drained.
    pub poll_interval: std::time::Duration,
}

impl WorkerSettings {
    pub fn from_config(config: &SmtpConfig) -> Self {
        let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1_000_000));
        Self {
            batch: 20,
            // Longer than one send can take (connect + SMTP dialogue, each bounded by timeout_s).
            claim_lease: secs(config.timeout_s.saturating_mul(4).max(60)),
            retry_initial: secs(config.retry_initial_s.max(1)),
            retry_max: secs(config.retry_max_s.max(config.retry_initial_s).max(1)),
            give_up_after: secs(config.give_up_after_h.saturating_mul(3600)),
            poll_interval: std::time::Duration::from_millis(config.poll_interval_ms.max(10)),
        }
    }

    /// The delay after the `attempts`-th failed attempt: `retry_initial · 2^(attempts-1)`, capped.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.retry_initial
            .checked_mul(2i32.saturating_pow(exponent))
            .unwrap_or(self.retry_max)
            .min(self.retry_max)
    }
}

/// What one [`OutboxWorker::step`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    pub sent: usize,
    /// Transient failures (server down, 4xx): rescheduled.
    pub retried: usize,
    /// Permanent failures (5xx, bad row) and rows past their give-up time.
    pub failed: usize,
}

impl StepReport {
    pub fn handled(&self) -> usize {
        self.sent + self.retried + self.failed
    }
}

struct Claimed {
    id: i64,
    message_id: String,
    kind: String,
    recipients: String,
    subject: String,
    body_text: String,
    body_html: Option<String>,
    attempts: i64,
    created_at: i64,
    give_up_at: Option<i64>,
}

enum Outcome {
    Sent,
    Retry(String),
    Fail(String),
}

/// Sends due outbox rows. Run [`OutboxWorker::run`] as a task, or drive [`OutboxWorker::step`].
#[derive(Clone)]
pub struct OutboxWorker {
    storage: Storage,
    mailer: Arc<Mailer>,
    clock: SharedClock,
    metrics: MetricsRegistry,
    settings: WorkerSettings,
}

impl OutboxWorker {
    pub fn new(
        storage: Storage,
        mailer: Arc<Mailer>,
        clock: SharedClock,
        metrics: MetricsRegistry,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            storage,
            mailer,
            clock,
            metrics,
            settings,
        }
    }

    /// Claim and send up to `batch` due rows, one at a time, and update `contactd_mail_pending`.
    pub async fn step(&self) -> Result<StepReport, MailError> {
        let mut report = StepReport::default();
        while report.handled() < self.settings.batch {
            let Some(row) = self.claim().await? else {
                break;
            };
            match self.deliver(&row).await {
                Outcome::Sent => {
                    self.mark_sent(row.id).await?;
                    self.metrics.metrics.mail_sent.inc();
                    tracing::info!(outbox_id = row.id, kind = %row.kind, message_id = %row.message_id, attempts = row.attempts, "email sent");
                    report.sent += 1;
                }
                Outcome::Retry(cause) => {
                    let now = self.clock.now();
                    let deadline = self.give_up_deadline(&row);
                    if now >= deadline {
                        self.fail(
                            &row,
                            &format!(
                                "gave up after {} attempts; last error: {cause}",
                                row.attempts
                            ),
                        )
                        .await?;
                        report.failed += 1;
                    } else {
                        let next = (now + self.settings.backoff(row.attempts)).min(deadline);
                        self.mark_retry(row.id, next, &cause).await?;
                        self.metrics.metrics.mail_retries.inc();
                        tracing::warn!(outbox_id = row.id, kind = %row.kind, attempts = row.attempts, retry_at = %next, error = %cause, "email not sent; will retry");
                        report.retried += 1;
                    }
                }
                Outcome::Fail(cause) => {
                    self.fail(&row, &cause).await?;
                    report.failed += 1;
                }
            }
        }
        self.update_pending_gauge().await;
        Ok(report)
    }

    /// Loop until `shutdown`: step, and pause for the poll interval when nothing was due. A step
    /// in progress finishes its current email before the loop sees the cancellation; rows never
    /// reached stay pending for the next start.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(server = %self.mailer.server(), "outbox worker started");
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let busy = match self.step().await {
                Ok(report) => report.handled() >= self.settings.batch,
                Err(err) => {
                    tracing::error!(error = %err, "outbox step failed; retrying after the poll interval");
                    false
                }
            };
            if busy {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
        tracing::info!("outbox worker stopped");
    }

    fn give_up_deadline(&self, row: &Claimed) -> DateTime<Utc> {
        row.give_up_at
            .map(from_db_time)
            .unwrap_or_else(|| from_db_time(row.created_at) + self.settings.give_up_after)
    }

    async fn claim(&self) -> Result<Option<Claimed>, MailError> {
        let now = self.clock.now();
        // The engines differ only in how the row is locked (see the module comment).
        let lock = match self.storage.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1 \
             WHERE id = (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at, id LIMIT 1{lock}) \
             RETURNING id, message_id, kind, recipients, subject, body_text, body_html, attempts, \
             created_at, give_up_at"
        );
        let row = sqlx::query(&sql)
            .bind(to_db_time(now + self.settings.claim_lease))
            .bind(to_db_time(now))
            .fetch_optional(self.storage.writer())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(Claimed {
            id: row.try_get("id")?,
            message_id: row.try_get("message_id")?,
            kind: row.try_get("kind")?,
            recipients: row.try_get("recipients")?,
            subject: row.try_get("subject")?,
            body_text: row.try_get("body_text")?,
            body_html: row.try_get("body_html")?,
            attempts: row.try_get("attempts")?,
            created_at: row.try_get("created_at")?,
            give_up_at: row.try_get("give_up_at")?,
        }))
    }

    async fn deliver(&self, row: &Claimed) -> Outcome {
        let to = match decode_recipients(row.id, &row.recipients).and_then(|list| {
            list.iter()
                .map(|a| parse_mailbox(a))
                .collect::<Result<Vec<Mailbox>, _>>()
        }) {
            Ok(to) => to,
            Err(err) => return Outcome::Fail(err.to_string()),
        };
        let message = match self.mailer.build_message(
            &to,
            &row.message_id,
            from_db_time(row.created_at),
            &row.subject,
            &row.body_text,
            row.body_html.as_deref(),
        ) {
            Ok(message) => message,
            Err(err) => return Outcome::Fail(err.to_string()),
        };
        match self.mailer.send(message).await {
            Ok(()) => Outcome::Sent,
            // Rejected credentials are the administrator's to fix, not this email's fault: keep
            // the outbox until smtp.url / smtp.password_file are corrected (or the give-up time).
            Err(err) if is_auth_failure(&err) => Outcome::Retry(format!(
                "{} (check the user and password in smtp.url or smtp.password_file)",
                error_chain(&err)
            )),
            // Any other 5xx: the server refuses this email; retrying will not help.
            Err(err) if err.is_permanent() => Outcome::Fail(error_chain(&err)),
            // Connection refused, timeouts, TLS trouble, 4xx: the server may recover.
            Err(err) => Outcome::Retry(error_chain(&err)),
        }
    }

    async fn mark_sent(&self, id: i64) -> Result<(), MailError> {
        sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = $1, last_error = NULL WHERE id = $2",
        )
        .bind(to_db_time(self.clock.now()))
        .bind(id)
        .execute(self.storage.writer())
        .await?;
        Ok(())
    }

    async fn mark_retry(&self, id: i64, next: DateTime<Utc>, cause: &str) -> Result<(), MailError> {
        sqlx::query("UPDATE outbox SET next_attempt_at = $1, last_error = $2 WHERE id = $3")
            .bind(to_db_time(next))
            .bind(cause)
            .bind(id)
            .execute(self.storage.writer())
            .await?;
        Ok(())
    }

    async fn fail(&self, row: &Claimed, cause: &str) -> Result<(), MailError> {
        sqlx::query("UPDATE outbox SET status = 'failed', last_error = $1 WHERE id = $2")
            .bind(cause)
            .bind(row.id)
            .execute(self.storage.writer())
            .await?;
        self.metrics.metrics.mail_failed.inc();
        tracing::error!(outbox_id = row.id, kind = %row.kind, message_id = %row.message_id, attempts = row.attempts, error = %cause, "email failed permanently; it will not be sent (see the outbox in the console)");
        Ok(())
    }

    async fn update_pending_gauge(&self) {
        match pending_count(&self.storage).await {
            Ok(n) => {
                self.metrics.metrics.mail_pending.set(n);
            }
            Err(err) => tracing::warn!(error = %err, "cannot count pending emails"),
        }
    }
}

/// 530 (authentication required), 534, 535 (credentials rejected), 538.
fn is_auth_failure(err: &lettre::transport::smtp::Error) -> bool {
    err.status()
        .is_some_and(|code| matches!(code.to_string().as_str(), "530" | "534" | "535" | "538"))
}

/// An error with its causes, one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
