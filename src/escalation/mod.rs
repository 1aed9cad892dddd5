//! Escalation (Regulation 9.2, 9.7): the periodic job that finds approaching and violated terms,
//! tells the executor unit online (`notices` rows the executor feed pushes), and emails the
//! deputy mayor of the unit's area and the head of affairs.
//!
//! One [`Escalation::tick`] runs in one database transaction and reads only what is new since the
//! previous tick, from cursors kept in `escalation_state`:
//! - deadlines that passed in `(last_tick, now]` (index `requests (status, deadline)`): `overdue`;
//! - deadlines that entered the warning window: a deadline `D` is approaching once
//!   `D <= add_working_days(now, N)` on the executors' calendar, i.e. from the start of the N-th
//!   working day before the deadline's day; the window scanned is `(fwd(last_tick), fwd(now)]`;
//! - audit rows after `last_audit_id`: an extension proposed after the deadline, rework more than
//!   `rework_limit` times, a survey that did not confirm execution or found it poor;
//! - executor notices after `last_notice_id`: new emergency requests, emailed to the unit at once.
//!
//! The id cursors advance only past rows older than [`COMMIT_SETTLE`], since PostgreSQL may commit
//! a smaller id after a larger one; the young rows are read again, and the unique keys below make
//! that harmless.
//!
//! Each finding is a `violations` row with a UNIQUE (request, unit, kind, level, period) key, so it
//! is reported once per level ('executor' notice, 'deputy' digest, 'head' summary) however often
//! the scan sees it. Digests run once per working day at `digest_time` (Kyiv), and each one is an
//! `escalation_sent` row with a UNIQUE (kind, recipient, day) key written in the same transaction
//! as its outbox row: two daemons on one database send each digest once (the job also runs under
//! the scheduler's leader lease). The history is `GET /api/v1/escalations/sent`.
//!
//! The first tick on a new database has no cursors and reads everything once.

mod config;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use contactd_calendar::local_date;
use serde::Serialize;
use sqlx::{Any, Row, Transaction};

pub use config::{Deputy, EscalationConfig, EscalationConfigError, Official};

use crate::calendar::Calendars;
use crate::config::Backend;
use crate::mail::{self, MailError, OutgoingEmail};
use crate::storage::{from_db_time, to_db_time, Storage};

/// Request statuses in which a deadline runs (long-term control and closed do not).
pub const OPEN_STATUSES: &str = "('sent', 'in_progress', 'rework', 'executor_change_requested', \
    'extension_proposed', 'deferral_proposed', 'closing_proposed')";
/// Assignment statuses in which the unit still owes the work.
const OPEN_ASSIGNMENTS: &str = "('sent', 'in_progress', 'rework', 'executor_change_requested', \
    'extension_proposed', 'deferral_proposed', 'closing_proposed')";

const JOB: &str = "escalation";

/// An escalation failure, for the log of the job.
#[derive(Debug, thiserror::Error)]
pub enum EscalationError {
    #[error("escalation database error: {0} (the tick is retried at the next interval; check the database)")]
    Db(#[from] sqlx::Error),
    #[error("escalation email: {0}")]
    Mail(#[from] MailError),
    #[error("escalation calendar: {0} (check [calendar])")]
    Calendar(#[from] contactd_calendar::CalendarError),
    #[error("escalation configuration: {0}")]
    Config(#[from] EscalationConfigError),
}

/// What a violation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// The deadline passed with the request open.
    Overdue,
    /// An extension was proposed after the deadline had passed (9.3 says before).
    LateExtension,
    /// Sent back for rework more than `rework_limit` times.
    Rework,
    /// The survey did not confirm execution or found it poor.
    Survey,
}

impl ViolationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overdue => "overdue",
            Self::LateExtension => "late_extension",
            Self::Rework => "rework",
            Self::Survey => "survey",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::Overdue,
            Self::LateExtension,
            Self::Rework,
            Self::Survey,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }

    /// Ukrainian label for the digests.
    pub fn label(self) -> &'static str {
        match self {
            Self::Overdue => "порушено термін виконання",
            Self::LateExtension => "продовження терміну запропоновано після його закінчення",
            Self::Rework => "неодноразово повернуто на доопрацювання",
            Self::Survey => "виконання не підтверджено або неякісне (опитування)",
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// `deadline_approaching` notices raised.
    pub approaching: usize,
    /// `overdue` notices raised.
    pub overdue: usize,
    /// Violations recorded (at the deputy or head level).
    pub violations: usize,
    /// Emails queued.
    pub emails: usize,
    /// The daily digests ran in this tick.
    pub digests_ran: bool,
}

/// The escalation job over one database.
#[derive(Clone)]
pub struct Escalation {
    pub storage: Storage,
    pub calendars: Calendars,
    pub config: Arc<EscalationConfig>,
    /// Base URL of the console for links in emails (`smtp.console_url`), without a trailing `/`.
    pub console_url: String,
}

struct Cursor {
    last_tick: DateTime<Utc>,
    last_audit_id: i64,
    last_notice_id: i64,
    last_digest_day: Option<String>,
}

/// A deputy-level violation as a digest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestItem {
    pub number: String,
    /// The classifier title and what was violated, in Ukrainian (the template's "Тема" column).
    pub category: String,
    pub kind: ViolationKind,
    pub unit: String,
    pub executor_name: String,
    pub due_at: DateTime<Utc>,
    /// Working days late on the executors' calendar, see [`days_late`].
    pub days_overdue: u32,
}

impl Escalation {
    pub fn new(
        storage: Storage,
        calendars: Calendars,
        config: Arc<EscalationConfig>,
        console_url: Option<&str>,
    ) -> Self {
        Self {
            storage,
            calendars,
            config,
            console_url: console_url.unwrap_or("").trim_end_matches('/').to_owned(),
        }
    }

    /// Checks every executor unit in the database against the areas (9.7): each must belong to
    /// exactly one deputy mayor's area or the default one.
    pub async fn check_units(&self) -> Result<(), EscalationError> {
        let units: Vec<String> =
            sqlx::query_scalar("SELECT code FROM executors WHERE active = 1 ORDER BY code")
                .fetch_all(self.storage.reader())
                .await?;
        self.config.check_units(units.iter().map(String::as_str))?;
        Ok(())
    }

    /// One scan at `now`; see the module documentation.
    #[tracing::instrument(skip_all, fields(now = %now))]
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, EscalationError> {
        let mut tx = self.storage.writer().begin().await?;
        let cursor = load_cursor(&mut tx, self.storage.backend()).await?;
        let mut report = TickReport::default();
        if now <= cursor.last_tick {
            tx.rollback().await?;
            return Ok(report);
        }
        self.scan_overdue(&mut tx, cursor.last_tick, now, &mut report)
            .await?;
        self.scan_approaching(&mut tx, cursor.last_tick, now, &mut report)
            .await?;
        let last_audit_id = self
            .scan_audit(&mut tx, cursor.last_audit_id, now, &mut report)
            .await?;
        let last_notice_id = self
            .scan_new_emergencies(&mut tx, cursor.last_notice_id, now, &mut report)
            .await?;
        let mut digest_day = cursor.last_digest_day.clone();
        if let Some(today) = self.digest_due(now, cursor.last_digest_day.as_deref())? {
            self.run_digests(&mut tx, today, now, &mut report).await?;
            digest_day = Some(today.to_string());
            report.digests_ran = true;
        }
        sqlx::query(
            "UPDATE escalation_state SET last_tick = $1, last_audit_id = $2, last_notice_id = $3, last_digest_day = $4 WHERE job = $5",
        )
        .bind(to_db_time(now))
        .bind(last_audit_id)
        .bind(last_notice_id)
        .bind(digest_day)
        .bind(JOB)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if report != TickReport::default() {
            tracing::info!(?report, "escalation tick");
        }
        Ok(report)
    }

    /// Records `kind` at `level` for every open (request, unit) whose deadline is in
    /// `(from, to]`, in one statement; returns how many were new. New rows carry
    /// `detected_at = now` (ticks have strictly increasing `now`), which is how the follow-up
    /// statements find them.
    async fn record_crossings(
        &self,
        tx: &mut Transaction<'_, Any>,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        kind: &str,
        level: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, EscalationError> {
        // `WHERE` before `ON CONFLICT` keeps SQLite's parser from reading it as a join clause.
        let sql = format!(
            "INSERT INTO violations (request_id, unit, kind, level, period, detected_at) \
             SELECT r.id, e.executor_code, $1, $2, 'once', $3 \
             FROM requests r JOIN request_executors e ON e.request_id = r.id \
             WHERE r.status IN {OPEN_STATUSES} AND r.deadline > $4 AND r.deadline <= $5 \
             AND e.status IN {OPEN_ASSIGNMENTS} \
             ON CONFLICT (request_id, unit, kind, level, period) DO NOTHING"
        );
        let done = sqlx::query(&sql)
            .bind(kind)
            .bind(level)
            .bind(to_db_time(now))
            .bind(to_db_time(from))
            .bind(to_db_time(to))
            .execute(&mut **tx)
            .await?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    /// Executor notices for the `kind` rows this tick recorded at the executor level.
    async fn notices_for_new(
        &self,
        tx: &mut Transaction<'_, Any>,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<(), EscalationError> {
        sqlx::query(
            "INSERT INTO notices (request_id, audience, unit, kind, visible_from, created_at) \
             SELECT request_id, 'executor', unit, kind, $1, $2 FROM violations \
             WHERE detected_at = $3 AND kind = $4 AND level = 'executor'",
        )
        .bind(to_db_time(now))
        .bind(to_db_time(now))
        .bind(to_db_time(now))
        .bind(kind)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn scan_overdue(
        &self,
        tx: &mut Transaction<'_, Any>,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> Result<(), EscalationError> {
        let window = (last, now);
        report.overdue += self
            .record_crossings(tx, window, "overdue", "executor", now)
            .await?;
        if report.overdue > 0 {
            self.notices_for_new(tx, "overdue", now).await?;
        }
        // The deputy of each violation is resolved when it is reported (unit, else section, else
        // the default), so that these stay one statement each.
        if !self.config.deputies.is_empty() {
            report.violations += self
                .record_crossings(tx, window, "overdue", "deputy", now)
                .await?;
        }
        if self.config.head_of_affairs.is_some() {
            report.violations += self
                .record_crossings(tx, window, "overdue", "head", now)
                .await?;
        }
        if self.config.emergency_immediate && !self.config.deputies.is_empty() {
            self.immediate_emergencies(tx, now, report).await?;
        }
        Ok(())
    }

    /// Emails the deputy at once about emergency requests that became overdue in this tick, and
    /// marks those deputy-level violations reported (they are not repeated in the digest).
    async fn immediate_emergencies(
        &self,
        tx: &mut Transaction<'_, Any>,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> Result<(), EscalationError> {
        let rows = sqlx::query(
            "SELECT v.id, v.unit, r.section, r.number, r.classifier_title, r.deadline, COALESCE(x.name, v.unit) \
             FROM violations v JOIN requests r ON r.id = v.request_id LEFT JOIN executors x ON x.code = v.unit \
             WHERE v.detected_at = $1 AND v.kind = 'overdue' AND v.level = 'deputy' \
             AND r.request_type = 'emergency' ORDER BY v.id",
        )
        .bind(to_db_time(now))
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            let id: i64 = row.try_get(0)?;
            let unit: String = row.try_get(1)?;
            let section: String = row.try_get(2)?;
            let Some(deputy) = self.config.deputy_for(&unit, &section) else {
                continue;
            };
            let title: String = row.try_get(4)?;
            let item = DigestItem {
                number: row.try_get(3)?,
                category: format!("{title} — {}", ViolationKind::Overdue.label()),
                kind: ViolationKind::Overdue,
                unit,
                executor_name: row.try_get(6)?,
                due_at: from_db_time(row.try_get(5)?),
                days_overdue: 0,
            };
            let email = deputy_digest_email(
                deputy,
                &self.console_url,
                now,
                std::slice::from_ref(&item),
                "escalation_immediate",
            )?;
            if self
                .send(
                    tx,
                    &email,
                    "deputy",
                    &deputy.id,
                    &item.number,
                    std::slice::from_ref(&item.number),
                    now,
                )
                .await?
            {
                report.emails += 1;
            }
            sqlx::query("UPDATE violations SET reported_at = $1, deputy = $2 WHERE id = $3")
                .bind(to_db_time(now))
                .bind(&deputy.id)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    async fn scan_approaching(
        &self,
        tx: &mut Transaction<'_, Any>,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> Result<(), EscalationError> {
        let n = self.config.approaching_working_days;
        if n == 0 {
            return Ok(());
        }
        let cal = &self.calendars.executors;
        let from = cal.add_working_days(last, n)?.max(now);
        let to = cal.add_working_days(now, n)?;
        if to <= from {
            return Ok(());
        }
        let new = self
            .record_crossings(tx, (from, to), "deadline_approaching", "executor", now)
            .await?;
        if new > 0 {
            self.notices_for_new(tx, "deadline_approaching", now)
                .await?;
            report.approaching += new;
        }
        Ok(())
    }

    /// Violations found in the audit trail after `after`; returns the new cursor.
    async fn scan_audit(
        &self,
        tx: &mut Transaction<'_, Any>,
        after: i64,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> Result<i64, EscalationError> {
        let rows = sqlx::query(
            "SELECT a.id, a.action, a.after_json, r.id, r.section, r.rework_count FROM audit_log a \
             JOIN requests r ON r.number = a.entity_id \
             WHERE a.id > $1 AND a.entity = 'request' \
             AND a.action IN ('request.propose_extension', 'request.send_back_for_rework', 'request.return_after_survey') \
             ORDER BY a.id",
        )
        .bind(after)
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            let action: String = row.try_get(1)?;
            let after_json: Option<String> = row.try_get(2)?;
            let request_id: i64 = row.try_get(3)?;
            let section: String = row.try_get(4)?;
            let rework_count: i64 = row.try_get(5)?;
            let after: serde_json::Value = after_json
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default();
            let Some(unit) = after
                .get("unit")
                .and_then(|u| u.as_str())
                .map(str::to_owned)
            else {
                continue;
            };
            let (kind, detail) = match action.as_str() {
                "request.propose_extension"
                    if after
                        .pointer("/details/after_deadline")
                        .and_then(serde_json::Value::as_bool)
                        == Some(true) =>
                {
                    (ViolationKind::LateExtension, None)
                }
                "request.send_back_for_rework"
                    if rework_count > i64::from(self.config.rework_limit) =>
                {
                    (ViolationKind::Rework, Some(rework_count))
                }
                "request.return_after_survey" => (ViolationKind::Survey, None),
                _ => continue,
            };
            report.violations += self
                .record_levels(tx, request_id, &unit, &section, kind, detail, now)
                .await?;
        }
        settled_cursor(tx, "audit_log", "at", after, now).await
    }

    /// Emails executor units about new emergency requests; returns the new notice cursor.
    async fn scan_new_emergencies(
        &self,
        tx: &mut Transaction<'_, Any>,
        after: i64,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> Result<i64, EscalationError> {
        let max = settled_cursor(tx, "notices", "created_at", after, now).await?;
        if !self.config.executor_emergency_email {
            return Ok(max);
        }
        let rows = sqlx::query(
            "SELECT n.unit, r.number, r.classifier_title, r.address, r.description, r.registered_at, r.deadline \
             FROM notices n JOIN requests r ON r.id = n.request_id \
             WHERE n.id > $1 AND n.audience = 'executor' AND n.kind = 'new_assignment' \
             AND r.request_type = 'emergency' ORDER BY n.id",
        )
        .bind(after)
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            let unit: Option<String> = row.try_get(0)?;
            let Some(unit) = unit else { continue };
            let Some(address) = self.executor_email(tx, &unit).await? else {
                tracing::warn!(%unit, "no email address for the executor unit; set escalation.executor_emails");
                continue;
            };
            let number: String = row.try_get(1)?;
            let address_text: String = row.try_get(3)?;
            let context = serde_json::json!({
                "console_url": self.console_url,
                "executor_name": executor_name(tx, &unit).await?,
                "request": {
                    "number": number,
                    "category": row.try_get::<String, _>(2)?,
                    "address": (!address_text.is_empty()).then_some(address_text),
                    "summary": row.try_get::<String, _>(4)?,
                    "registered_at": from_db_time(row.try_get(5)?),
                    "due_at": from_db_time(row.try_get(6)?),
                },
            });
            let email = OutgoingEmail::from_template(
                "executor_emergency",
                vec![address],
                "executor_new_request",
                context,
            )?;
            if self
                .send(
                    tx,
                    &email,
                    "executor",
                    &unit,
                    &number,
                    std::slice::from_ref(&number),
                    now,
                )
                .await?
            {
                report.emails += 1;
            }
        }
        Ok(max)
    }

    /// Records a violation at the deputy and head levels (where configured); returns how many
    /// new rows were written.
    #[allow(clippy::too_many_arguments)]
    async fn record_levels(
        &self,
        tx: &mut Transaction<'_, Any>,
        request_id: i64,
        unit: &str,
        section: &str,
        kind: ViolationKind,
        detail: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<usize, EscalationError> {
        let mut new = 0;
        let deputy = self.config.deputy_for(unit, section).map(|d| d.id.as_str());
        if deputy.is_some()
            && record(
                tx,
                request_id,
                unit,
                kind.as_str(),
                "deputy",
                deputy,
                detail,
                now,
            )
            .await?
        {
            new += 1;
        }
        if self.config.head_of_affairs.is_some()
            && record(
                tx,
                request_id,
                unit,
                kind.as_str(),
                "head",
                deputy,
                detail,
                now,
            )
            .await?
        {
            new += 1;
        }
        Ok(new)
    }

    /// The Kyiv date whose digests are due at `now`, if any: a working day of the contact
    /// center, at or after `digest_time`, and not yet done.
    fn digest_due(
        &self,
        now: DateTime<Utc>,
        last_day: Option<&str>,
    ) -> Result<Option<NaiveDate>, EscalationError> {
        let today = local_date(now);
        if last_day == Some(today.to_string().as_str())
            || !self.calendars.contact_center.is_working_day(today)
        {
            return Ok(None);
        }
        let at = self.config.digest_time()?;
        let local = now.with_timezone(&chrono_tz::Europe::Kyiv).time();
        Ok((local >= at).then_some(today))
    }

    /// The daily digests: per deputy, the head's summary, per executor unit.
    async fn run_digests(
        &self,
        tx: &mut Transaction<'_, Any>,
        today: NaiveDate,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> Result<(), EscalationError> {
        let period = today.to_string();
        let per_deputy = self.pending_items(tx, "deputy", now).await?;
        for deputy in &self.config.deputies {
            let Some(items) = per_deputy.get(deputy.id.as_str()) else {
                continue;
            };
            let email =
                deputy_digest_email(deputy, &self.console_url, now, items, "escalation_digest")?;
            let numbers: Vec<String> = items.iter().map(|i| i.number.clone()).collect();
            if self
                .send(tx, &email, "deputy", &deputy.id, &period, &numbers, now)
                .await?
            {
                report.emails += 1;
            }
        }
        mark_reported(tx, "deputy", now).await?;
        if let Some(head) = &self.config.head_of_affairs {
            let per_area = self.pending_items(tx, "head", now).await?;
            if !per_area.is_empty() {
                let email =
                    head_summary_email(head, &self.config, &self.console_url, now, &per_area)?;
                let numbers: Vec<String> = per_area
                    .values()
                    .flatten()
                    .map(|i| i.number.clone())
                    .collect();
                if self
                    .send(tx, &email, "head", "head", &period, &numbers, now)
                    .await?
                {
                    report.emails += 1;
                }
            }
            mark_reported(tx, "head", now).await?;
        }
        if self.config.executor_digest {
            report.emails += self.executor_digests(tx, &period, now).await?;
        }
        Ok(())
    }

    /// Unreported violations at `level`, grouped by deputy id ('' for none), sorted by executor
    /// then request.
    async fn pending_items(
        &self,
        tx: &mut Transaction<'_, Any>,
        level: &str,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, Vec<DigestItem>>, EscalationError> {
        let rows = sqlx::query(
            "SELECT v.kind, v.unit, v.deputy, v.detail, r.number, r.classifier_title, r.deadline, COALESCE(x.name, v.unit), r.section \
             FROM violations v JOIN requests r ON r.id = v.request_id LEFT JOIN executors x ON x.code = v.unit \
             WHERE v.level = $1 AND v.reported_at IS NULL ORDER BY v.unit, r.number, v.kind",
        )
        .bind(level)
        .fetch_all(&mut **tx)
        .await?;
        let mut out: BTreeMap<String, Vec<DigestItem>> = BTreeMap::new();
        for row in rows {
            let Some(kind) = ViolationKind::parse(&row.try_get::<String, _>(0)?) else {
                continue;
            };
            let detail: Option<i64> = row.try_get(3)?;
            let title: String = row.try_get(5)?;
            let due_at = from_db_time(row.try_get(6)?);
            let label = match (kind, detail) {
                (ViolationKind::Rework, Some(n)) => format!("{} ({n} раз(и))", kind.label()),
                _ => kind.label().to_owned(),
            };
            let unit: String = row.try_get(1)?;
            let section: String = row.try_get(8)?;
            let deputy: Option<String> = row.try_get(2)?;
            let deputy = deputy.or_else(|| {
                self.config
                    .deputy_for(&unit, &section)
                    .map(|d| d.id.clone())
            });
            out.entry(deputy.unwrap_or_default())
                .or_default()
                .push(DigestItem {
                    number: row.try_get(4)?,
                    category: format!("{title} — {label}"),
                    kind,
                    unit,
                    executor_name: row.try_get(7)?,
                    due_at,
                    days_overdue: days_late(&self.calendars.executors, due_at, now),
                });
        }
        Ok(out)
    }

    /// Each unit with an address gets its new (not yet accepted), approaching and overdue requests.
    async fn executor_digests(
        &self,
        tx: &mut Transaction<'_, Any>,
        period: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, EscalationError> {
        let horizon = self
            .calendars
            .executors
            .add_working_days(now, self.config.approaching_working_days.max(1))?;
        let sql = format!(
            "SELECT e.executor_code, r.number, r.classifier_title, r.status, r.deadline, e.status \
             FROM request_executors e JOIN requests r ON r.id = e.request_id \
             WHERE r.status IN {OPEN_STATUSES} AND e.status IN {OPEN_ASSIGNMENTS} \
             AND (e.status = 'sent' OR r.deadline <= $1) ORDER BY e.executor_code, r.deadline"
        );
        let rows = sqlx::query(&sql)
            .bind(to_db_time(horizon))
            .fetch_all(&mut **tx)
            .await?;
        let mut per_unit: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
        let mut numbers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in rows {
            let unit: String = row.try_get(0)?;
            let number: String = row.try_get(1)?;
            let due_at = from_db_time(row.try_get(4)?);
            per_unit
                .entry(unit.clone())
                .or_default()
                .push(serde_json::json!({
                    "number": number,
                    "category": row.try_get::<String, _>(2)?,
                    "status": status_label(&row.try_get::<String, _>(3)?),
                    "due_at": due_at,
                    "overdue": due_at <= now,
                }));
            numbers.entry(unit).or_default().push(number);
        }
        let mut sent = 0;
        for (unit, requests) in per_unit {
            let Some(address) = self.executor_email(tx, &unit).await? else {
                continue;
            };
            let context = serde_json::json!({
                "console_url": self.console_url,
                "executor_name": executor_name(tx, &unit).await?,
                "date": now,
                "requests": requests,
            });
            let email = OutgoingEmail::from_template(
                "executor_digest",
                vec![address],
                "executor_digest",
                context,
            )?;
            let list = numbers.remove(&unit).unwrap_or_default();
            if self
                .send(tx, &email, "executor", &unit, period, &list, now)
                .await?
            {
                sent += 1;
            }
        }
        Ok(sent)
    }

    async fn executor_email(
        &self,
        tx: &mut Transaction<'_, Any>,
        unit: &str,
    ) -> Result<Option<String>, EscalationError> {
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT email FROM executors WHERE code = $1")
                .bind(unit)
                .fetch_optional(&mut **tx)
                .await?;
        Ok(stored
            .flatten()
            .filter(|e| !e.trim().is_empty())
            .or_else(|| self.config.executor_emails.get(unit).cloned()))
    }

    /// Queues `email` once per (kind, recipient, period) and records it in the history; `false`
    /// if it was already sent (by this or another daemon).
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        tx: &mut Transaction<'_, Any>,
        email: &OutgoingEmail,
        role: &str,
        recipient_id: &str,
        period: &str,
        numbers: &[String],
        now: DateTime<Utc>,
    ) -> Result<bool, EscalationError> {
        let requests = serde_json::Value::from(numbers.to_vec()).to_string();
        let inserted = sqlx::query(
            "INSERT INTO escalation_sent (sent_at, kind, recipient_role, recipient_id, recipient, period, items, requests) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kind, recipient_id, period) DO NOTHING",
        )
        .bind(to_db_time(now))
        .bind(&email.kind)
        .bind(role)
        .bind(recipient_id)
        .bind(email.to.join(", "))
        .bind(period)
        .bind(i64::try_from(numbers.len()).unwrap_or(i64::MAX))
        .bind(requests)
        .execute(&mut **tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        let queued = mail::enqueue(tx, email, now).await?;
        sqlx::query("UPDATE escalation_sent SET outbox_id = $1 WHERE kind = $2 AND recipient_id = $3 AND period = $4")
            .bind(queued.id)
            .bind(&email.kind)
            .bind(recipient_id)
            .bind(period)
            .execute(&mut **tx)
            .await?;
        Ok(true)
    }
}

/// Builds a deputy mayor's digest (or immediate notice) of `items`, grouped by executor.
pub fn deputy_digest_email(
    deputy: &Deputy,
    console_url: &str,
    now: DateTime<Utc>,
    items: &[DigestItem],
    kind: &str,
) -> Result<OutgoingEmail, MailError> {
    let mut sorted = items.to_vec();
    sorted.sort_by(|a, b| (&a.executor_name, &a.number).cmp(&(&b.executor_name, &b.number)));
    let context = serde_json::json!({
        "console_url": console_url,
        "official_name": deputy.name,
        "area": deputy.area,
        "date": now,
        "violations": sorted,
    });
    OutgoingEmail::from_template(
        kind,
        vec![format!("{} <{}>", deputy.name, deputy.email)],
        "escalation_digest_deputy",
        context,
    )
}

/// Builds the head of affairs' city-wide summary: counts per area.
pub fn head_summary_email(
    head: &Official,
    config: &EscalationConfig,
    console_url: &str,
    now: DateTime<Utc>,
    per_deputy: &BTreeMap<String, Vec<DigestItem>>,
) -> Result<OutgoingEmail, MailError> {
    let areas: Vec<serde_json::Value> = per_deputy
        .iter()
        .map(|(id, items)| {
            let deputy = config.deputies.iter().find(|d| &d.id == id);
            let requests: HashSet<&str> = items.iter().map(|i| i.number.as_str()).collect();
            serde_json::json!({
                "area": deputy.map_or("без напряму", |d| d.area.as_str()),
                "deputy_name": deputy.map_or("не призначено", |d| d.name.as_str()),
                "count": items.len(),
                "requests": requests.len(),
            })
        })
        .collect();
    let total: usize = per_deputy.values().map(Vec::len).sum();
    let context = serde_json::json!({
        "console_url": console_url,
        "official_name": head.name,
        "date": now,
        "total": total,
        "areas": areas,
    });
    OutgoingEmail::from_template(
        "escalation_summary",
        vec![format!("{} <{}>", head.name, head.email)],
        "escalation_summary_head",
        context,
    )
}

/// Working days of delay at `now` for a term that ended at `deadline`: the working days after the
/// deadline's local day that have begun by `now` (weekends and holidays do not count). A request
/// due Thursday 17:00 is 1 day late on the following Monday at 09:00 when Friday is a holiday.
pub fn days_late(
    cal: &crate::calendar::WorkCalendar,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> u32 {
    if now <= deadline {
        return 0;
    }
    let last = local_date(now);
    let mut date = local_date(deadline);
    let mut count: u32 = 0;
    while date < last {
        let Some(next) = date.succ_opt() else { break };
        date = next;
        if cal
            .start_of_working_day(date)
            .is_some_and(|start| start <= now)
        {
            count = count.saturating_add(1);
        }
    }
    count
}

fn status_label(status: &str) -> &'static str {
    match status {
        "sent" => "надіслано, не прийнято",
        "in_progress" => "у роботі",
        "rework" => "на доопрацюванні",
        "executor_change_requested" => "запит на зміну виконавця",
        "extension_proposed" => "запропоновано продовження",
        "deferral_proposed" => "запропоновано перенесення",
        "closing_proposed" => "запропоновано закриття",
        _ => "інше",
    }
}

/// How long after its time a row is taken as committed: id cursors advance only past rows at
/// least this old, because on PostgreSQL a transaction holding a smaller id may commit after one
/// holding a larger id. Rows younger than this are read again by the next tick, harmlessly: what
/// they cause is deduplicated by the `violations` and `escalation_sent` keys.
pub const COMMIT_SETTLE: chrono::Duration = chrono::Duration::seconds(30);

/// The new id cursor of `table`: the largest id after `after` whose `time_column` is at least
/// [`COMMIT_SETTLE`] before `now` (or `after` when there is none). A range scan on the key.
async fn settled_cursor(
    tx: &mut Transaction<'_, Any>,
    table: &str,
    time_column: &str,
    after: i64,
    now: DateTime<Utc>,
) -> Result<i64, EscalationError> {
    let max: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT MAX(id) FROM {table} WHERE id > $1 AND {time_column} <= $2"
    ))
    .bind(after)
    .bind(to_db_time(now - COMMIT_SETTLE))
    .fetch_one(&mut **tx)
    .await?;
    Ok(max.unwrap_or(after).max(after))
}

async fn load_cursor(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
) -> Result<Cursor, EscalationError> {
    sqlx::query(
        "INSERT INTO escalation_state (job, last_tick, last_audit_id, last_notice_id) VALUES ($1, 0, 0, 0) \
         ON CONFLICT (job) DO NOTHING",
    )
    .bind(JOB)
    .execute(&mut **tx)
    .await?;
    // Taking the row for update serialises two daemons' ticks on PostgreSQL; SQLite has one writer.
    let sql = match backend {
        Backend::Postgres => "SELECT last_tick, last_audit_id, last_notice_id, last_digest_day FROM escalation_state WHERE job = $1 FOR UPDATE",
        _ => "SELECT last_tick, last_audit_id, last_notice_id, last_digest_day FROM escalation_state WHERE job = $1",
    };
    let row = sqlx::query(sql).bind(JOB).fetch_one(&mut **tx).await?;
    Ok(Cursor {
        last_tick: from_db_time(row.try_get(0)?),
        last_audit_id: row.try_get(1)?,
        last_notice_id: row.try_get(2)?,
        last_digest_day: row.try_get(3)?,
    })
}

/// Inserts a violation row unless it exists; `true` if it was new.
#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &mut Transaction<'_, Any>,
    request_id: i64,
    unit: &str,
    kind: &str,
    level: &str,
    deputy: Option<&str>,
    detail: Option<i64>,
    now: DateTime<Utc>,
) -> Result<bool, EscalationError> {
    let done = sqlx::query(
        "INSERT INTO violations (request_id, unit, kind, level, period, deputy, detail, detected_at) \
         VALUES ($1, $2, $3, $4, 'once', $5, $6, $7) ON CONFLICT (request_id, unit, kind, level, period) DO NOTHING",
    )
    .bind(request_id)
    .bind(unit)
    .bind(kind)
    .bind(level)
    .bind(deputy)
    .bind(detail)
    .bind(to_db_time(now))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn mark_reported(
    tx: &mut Transaction<'_, Any>,
    level: &str,
    now: DateTime<Utc>,
) -> Result<(), EscalationError> {
    sqlx::query("UPDATE violations SET reported_at = $1 WHERE level = $2 AND reported_at IS NULL")
        .bind(to_db_time(now))
        .bind(level)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn executor_name(
    tx: &mut Transaction<'_, Any>,
    unit: &str,
) -> Result<String, EscalationError> {
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM executors WHERE code = $1")
        .bind(unit)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(name.unwrap_or_else(|| unit.to_owned()))
}

/// One sent escalation email, as the history shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SentEntry {
    pub id: i64,
    pub sent_at: DateTime<Utc>,
    /// `escalation_digest`, `escalation_immediate`, `escalation_summary`, `executor_digest`,
    /// `executor_emergency`.
    pub kind: String,
    /// `deputy`, `head` or `executor`.
    pub recipient_role: String,
    /// Deputy id, `head`, or executor unit code.
    pub recipient_id: String,
    pub recipient: String,
    /// Kyiv date of a digest, or the request number of an immediate email.
    pub period: String,
    pub items: i64,
    pub requests: Vec<String>,
    pub outbox_id: Option<i64>,
}

/// The history of what was sent to whom in `[from, to)`.
pub async fn sent_history(
    storage: &Storage,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<SentEntry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, sent_at, kind, recipient_role, recipient_id, recipient, period, items, requests, outbox_id \
         FROM escalation_sent WHERE sent_at >= $1 AND sent_at < $2 ORDER BY sent_at, id LIMIT 10000",
    )
    .bind(to_db_time(from))
    .bind(to_db_time(to))
    .fetch_all(storage.reader())
    .await?;
    rows.into_iter()
        .map(|row| {
            let requests: String = row.try_get(8)?;
            Ok(SentEntry {
                id: row.try_get(0)?,
                sent_at: from_db_time(row.try_get(1)?),
                kind: row.try_get(2)?,
                recipient_role: row.try_get(3)?,
                recipient_id: row.try_get(4)?,
                recipient: row.try_get(5)?,
                period: row.try_get(6)?,
                items: row.try_get(7)?,
                requests: serde_json::from_str(&requests).unwrap_or_default(),
                outbox_id: row.try_get(9)?,
            })
        })
        .collect()
}

/// Name of the leader lease the job runs under.
pub const LEASE: &str = "escalation";

impl Escalation {
    /// The periodic job: every `scan_interval_s`, if this daemon holds the `escalation` lease
    /// (renewed each tick, TTL three intervals), run one [`Escalation::tick`]. Stops when
    /// `shutdown` is cancelled, releasing the lease so another daemon takes over at once.
    pub async fn run(
        self,
        clock: crate::clock::SharedClock,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let every = std::time::Duration::from_secs(self.config.scan_interval_s.max(1));
        let ttl = chrono::Duration::seconds(
            i64::try_from(self.config.scan_interval_s.max(1))
                .unwrap_or(60)
                .saturating_mul(3),
        );
        if let Err(err) = self.check_units().await {
            tracing::error!(error = %err, "escalation areas are incomplete; violations of such units go to no deputy");
        }
        let this = &self;
        crate::scheduler::run_leased(
            &self.storage,
            LEASE,
            every,
            ttl,
            clock,
            shutdown,
            move |now| async move {
                if let Err(err) = this.tick(now).await {
                    tracing::error!(error = %err, "escalation tick failed");
                }
            },
        )
        .await;
    }
}
