//! Reading requests: one request with the user's allowed actions, filtered lists, the audit
//! trail, applicant lookup by phone, the operators' review queue, and per-executor reports.
//! Executors see only requests assigned to their units.

use chrono::{DateTime, Utc};
use contactd_domain::PhoneNumber;
use contactd_workflow::{self as workflow, RequestState};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{actor_of, bad, not_found, RequestService, RequestView};
use crate::auth::{AuthUser, Role};
use crate::http::ApiError;
use crate::storage::{from_db_time, to_db_time};

pub(crate) const COLUMNS: &str = "r.id, r.number, r.version, r.status, r.channel, r.applicant_id, r.address, r.description, \
    r.classifier_code, r.classifier_revision, r.classifier_title, r.request_type, r.term, r.call_id, r.registered_at, \
    r.deadline, r.original_deadline, r.additional_control, r.long_term_until, r.rework_count, r.extension_count, \
    r.closed_at, r.state_json";

/// Statuses that no longer count toward overdue: closed, or under long-term control (9.4).
const NOT_OVERDUE: &str = "('closed', 'long_term_control')";

#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    pub(crate) id: i64,
    pub(crate) number: String,
    pub(crate) version: i64,
    pub(crate) status: String,
    pub(crate) channel: String,
    pub(crate) applicant_id: Option<i64>,
    pub(crate) address: String,
    pub(crate) description: String,
    pub(crate) classifier_code: String,
    pub(crate) classifier_revision: i64,
    pub(crate) classifier_title: String,
    pub(crate) request_type: String,
    pub(crate) term: String,
    pub(crate) call_id: Option<String>,
    pub(crate) registered_at: i64,
    pub(crate) deadline: i64,
    pub(crate) original_deadline: Option<i64>,
    pub(crate) additional_control: i64,
    pub(crate) long_term_until: Option<String>,
    pub(crate) rework_count: i64,
    pub(crate) extension_count: i64,
    pub(crate) closed_at: Option<i64>,
    pub(crate) state_json: String,
}

fn overdue(status: &str, deadline: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    status != "closed" && status != "long_term_control" && deadline < now
}

pub(crate) fn view(row: Row, user: &AuthUser, now: DateTime<Utc>) -> Result<RequestView, ApiError> {
    let state: RequestState = serde_json::from_str(&row.state_json).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!(
            "request {}: stored state does not load: {e}",
            row.number
        ))
    })?;
    let allowed = workflow::allowed_actions(&state, &actor_of(user));
    let deadline = from_db_time(row.deadline);
    Ok(RequestView {
        overdue: overdue(&row.status, deadline, now),
        number: row.number,
        version: row.version,
        status: row.status,
        channel: row.channel,
        applicant_id: row.applicant_id,
        address: row.address,
        description: row.description,
        classifier_code: row.classifier_code,
        classifier_revision: row.classifier_revision,
        classifier_title: row.classifier_title,
        request_type: row.request_type,
        term: row.term,
        call_id: row.call_id,
        registered_at: from_db_time(row.registered_at),
        deadline,
        original_deadline: row.original_deadline.map(from_db_time),
        additional_control: row.additional_control != 0,
        long_term_until: row.long_term_until,
        rework_count: row.rework_count,
        extension_count: row.extension_count,
        closed_at: row.closed_at.map(from_db_time),
        state: serde_json::to_value(&state).unwrap_or_default(),
        allowed_actions: allowed,
    })
}

/// 404 (not 403) for an executor asking about another unit's request: it must not learn that
/// the request exists.
async fn visible(
    svc: &RequestService,
    user: &AuthUser,
    id: i64,
    number: &str,
) -> Result<(), ApiError> {
    match user.role {
        Role::Operator | Role::Supervisor => Ok(()),
        Role::Admin => Err(ApiError::Forbidden(
            "administrators manage users, units and the classifier; requests are for operators, executors and supervisors".into(),
        )),
        Role::Executor => {
            let units: Vec<String> = sqlx::query_scalar("SELECT executor_code FROM request_executors WHERE request_id = $1")
                .bind(id)
                .fetch_all(svc.storage.reader())
                .await?;
            if units.iter().any(|u| user.executors.contains(u)) { Ok(()) } else { Err(not_found(number)) }
        }
    }
}

/// The current executor units of each request in `ids`, in one query (code order).
pub async fn executors_of(
    storage: &crate::storage::Storage,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<String>>, sqlx::Error> {
    let mut map: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(map);
    }
    let sql = format!(
        "SELECT request_id, executor_code FROM request_executors WHERE request_id IN ({}) ORDER BY executor_code",
        (1..=ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
    );
    let mut query = sqlx::query_as::<_, (i64, String)>(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    for (request_id, unit) in query.fetch_all(storage.reader()).await? {
        map.entry(request_id).or_default().push(unit);
    }
    Ok(map)
}

/// One request.
pub async fn get(
    svc: &RequestService,
    user: &AuthUser,
    number: &str,
    now: DateTime<Utc>,
) -> Result<RequestView, ApiError> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM requests r WHERE r.number = $1"
    ))
    .bind(number)
    .fetch_optional(svc.storage.writer())
    .await?;
    let row = row.ok_or_else(|| not_found(number))?;
    visible(svc, user, row.id, number).await?;
    view(row, user, now)
}

/// Filters of `GET /api/v1/requests`.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListFilter {
    /// Request status, e.g. `in_progress`, `closing_proposed`, `closed`.
    pub status: Option<String>,
    /// Executor unit code.
    pub executor: Option<String>,
    /// Classifier section, e.g. `22`.
    pub section: Option<String>,
    /// Only requests past their deadline (closed and long-term ones never count).
    pub overdue: Option<bool>,
    /// Only requests under additional control (9.3).
    pub additional_control: Option<bool>,
    /// Only requests under long-term control (9.4).
    pub long_term: Option<bool>,
    /// Registered at or after (RFC 3339).
    pub created_from: Option<DateTime<Utc>>,
    /// Registered before (RFC 3339).
    pub created_to: Option<DateTime<Utc>>,
    /// Page size, at most 200 (default 50).
    pub limit: Option<i64>,
    /// Skip this many (default 0).
    pub offset: Option<i64>,
}

/// A request in a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestSummary {
    pub number: String,
    pub status: String,
    pub classifier_code: String,
    pub classifier_title: String,
    pub registered_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub overdue: bool,
    pub additional_control: bool,
    pub long_term_until: Option<String>,
    pub executors: Vec<String>,
}

/// A page of requests, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page {
    pub items: Vec<RequestSummary>,
    pub limit: i64,
    pub offset: i64,
}

enum Arg {
    Text(String),
    Int(i64),
}

/// Filtered list; executors get only their units' requests whatever the filter says.
pub async fn list(
    svc: &RequestService,
    user: &AuthUser,
    filter: &ListFilter,
    now: DateTime<Utc>,
) -> Result<Page, ApiError> {
    if user.role == Role::Admin {
        return Err(ApiError::Forbidden(
            "administrators do not work on requests; sign in as an operator or supervisor".into(),
        ));
    }
    let limit = filter.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad("limit must be between 1 and 200"));
    }
    let offset = filter.offset.unwrap_or(0);
    if offset < 0 {
        return Err(bad("offset must not be negative"));
    }
    let mut conditions: Vec<String> = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    let next = |args: &mut Vec<Arg>, arg: Arg| {
        args.push(arg);
        format!("${}", args.len())
    };
    if let Some(status) = &filter.status {
        let p = next(&mut args, Arg::Text(status.clone()));
        conditions.push(format!("r.status = {p}"));
    }
    if let Some(unit) = &filter.executor {
        let p = next(&mut args, Arg::Text(unit.clone()));
        conditions.push(format!("EXISTS (SELECT 1 FROM request_executors e WHERE e.request_id = r.id AND e.executor_code = {p})"));
    }
    if user.role == Role::Executor {
        let ps: Vec<String> = user
            .executors
            .iter()
            .map(|u| next(&mut args, Arg::Text(u.clone())))
            .collect();
        let list = if ps.is_empty() {
            "NULL".to_owned()
        } else {
            ps.join(", ")
        };
        conditions.push(format!("EXISTS (SELECT 1 FROM request_executors e WHERE e.request_id = r.id AND e.executor_code IN ({list}))"));
    }
    if let Some(section) = &filter.section {
        let p = next(&mut args, Arg::Text(section.clone()));
        conditions.push(format!("r.section = {p}"));
    }
    match filter.overdue {
        Some(true) => {
            let p = next(&mut args, Arg::Int(to_db_time(now)));
            conditions.push(format!(
                "r.deadline < {p} AND r.status NOT IN {NOT_OVERDUE}"
            ));
        }
        Some(false) => {
            let p = next(&mut args, Arg::Int(to_db_time(now)));
            conditions.push(format!("(r.deadline >= {p} OR r.status IN {NOT_OVERDUE})"));
        }
        None => {}
    }
    if let Some(flag) = filter.additional_control {
        conditions.push(format!("r.additional_control = {}", i64::from(flag)));
    }
    match filter.long_term {
        Some(true) => conditions.push("r.status = 'long_term_control'".into()),
        Some(false) => conditions.push("r.status <> 'long_term_control'".into()),
        None => {}
    }
    if let Some(from) = filter.created_from {
        let p = next(&mut args, Arg::Int(to_db_time(from)));
        conditions.push(format!("r.registered_at >= {p}"));
    }
    if let Some(to) = filter.created_to {
        let p = next(&mut args, Arg::Int(to_db_time(to)));
        conditions.push(format!("r.registered_at < {p}"));
    }
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let limit_p = next(&mut args, Arg::Int(limit));
    let offset_p = next(&mut args, Arg::Int(offset));
    let sql = format!(
        "SELECT r.id, r.number, r.status, r.classifier_code, r.classifier_title, r.registered_at, r.deadline, \
         r.additional_control, r.long_term_until FROM requests r {where_clause} \
         ORDER BY r.registered_at DESC, r.id DESC LIMIT {limit_p} OFFSET {offset_p}"
    );
    type ListRow = (
        i64,
        String,
        String,
        String,
        String,
        i64,
        i64,
        i64,
        Option<String>,
    );
    let mut query = sqlx::query_as::<_, ListRow>(&sql);
    for arg in &args {
        query = match arg {
            Arg::Text(t) => query.bind(t.as_str()),
            Arg::Int(i) => query.bind(*i),
        };
    }
    let rows = query.fetch_all(svc.storage.reader()).await?;
    let mut units =
        executors_of(&svc.storage, &rows.iter().map(|r| r.0).collect::<Vec<_>>()).await?;
    let mut items = Vec::with_capacity(rows.len());
    for (id, number, status, code, title, registered, deadline, additional, long_term) in rows {
        let executors = units.remove(&id).unwrap_or_default();
        let deadline = from_db_time(deadline);
        items.push(RequestSummary {
            overdue: overdue(&status, deadline, now),
            number,
            status,
            classifier_code: code,
            classifier_title: title,
            registered_at: from_db_time(registered),
            deadline,
            additional_control: additional != 0,
            long_term_until: long_term,
            executors,
        });
    }
    Ok(Page {
        items,
        limit,
        offset,
    })
}

/// One audit record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    #[schema(value_type = Object)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Object)]
    pub after: Option<serde_json::Value>,
    pub comment: Option<String>,
}

/// The audit trail of one request, oldest first.
pub async fn audit_trail(
    svc: &RequestService,
    user: &AuthUser,
    number: &str,
) -> Result<Vec<AuditEntry>, ApiError> {
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM requests WHERE number = $1")
        .bind(number)
        .fetch_optional(svc.storage.reader())
        .await?;
    let id = id.ok_or_else(|| not_found(number))?;
    visible(svc, user, id, number).await?;
    type AuditRow = (
        i64,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT at, actor, action, before_json, after_json, comment FROM audit_log \
         WHERE entity = 'request' AND entity_id = $1 ORDER BY id",
    )
    .bind(number)
    .fetch_all(svc.storage.reader())
    .await?;
    let parse = |s: Option<String>| s.and_then(|t| serde_json::from_str(&t).ok());
    Ok(rows
        .into_iter()
        .map(|(at, actor, action, before, after, comment)| AuditEntry {
            at: from_db_time(at),
            actor,
            action,
            before: parse(before),
            after: parse(after),
            comment,
        })
        .collect())
}

/// An applicant with their requests.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApplicantView {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub phones: Vec<String>,
    pub no_survey: bool,
    pub open_requests: Vec<RequestSummary>,
    pub recent_closed_requests: Vec<RequestSummary>,
}

/// Find an applicant by any format of their phone number (operators and supervisors).
pub async fn applicant_by_phone(
    svc: &RequestService,
    user: &AuthUser,
    phone: &str,
    now: DateTime<Utc>,
) -> Result<ApplicantView, ApiError> {
    user.require(&[Role::Operator, Role::Supervisor], "looking up applicants")?;
    let phone =
        PhoneNumber::parse(phone).map_err(|e| ApiError::BadRequest(format!("phone: {e}")))?;
    let row: Option<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT a.id, a.name, a.address, a.no_survey FROM applicants a JOIN applicant_phones p ON p.applicant_id = a.id WHERE p.e164 = $1",
    )
    .bind(phone.as_e164())
    .fetch_optional(svc.storage.reader())
    .await?;
    let (id, name, address, no_survey) = row.ok_or_else(|| {
        ApiError::NotFound(format!("no applicant has the number {}", phone.masked()))
    })?;
    let phones: Vec<String> = sqlx::query_scalar(
        "SELECT e164 FROM applicant_phones WHERE applicant_id = $1 ORDER BY e164",
    )
    .bind(id)
    .fetch_all(svc.storage.reader())
    .await?;
    let mut open = Vec::new();
    let mut closed = Vec::new();
    type R = (
        String,
        String,
        String,
        String,
        i64,
        i64,
        i64,
        Option<String>,
        i64,
    );
    let rows: Vec<R> = sqlx::query_as(
        "SELECT number, status, classifier_code, classifier_title, registered_at, deadline, additional_control, long_term_until, id \
         FROM requests WHERE applicant_id = $1 ORDER BY registered_at DESC LIMIT 50",
    )
    .bind(id)
    .fetch_all(svc.storage.reader())
    .await?;
    let mut units =
        executors_of(&svc.storage, &rows.iter().map(|r| r.8).collect::<Vec<_>>()).await?;
    for (number, status, code, title, registered, deadline, additional, long_term, request_id) in
        rows
    {
        let executors = units.remove(&request_id).unwrap_or_default();
        let deadline = from_db_time(deadline);
        let summary = RequestSummary {
            overdue: overdue(&status, deadline, now),
            number,
            classifier_code: code,
            classifier_title: title,
            registered_at: from_db_time(registered),
            deadline,
            additional_control: additional != 0,
            long_term_until: long_term,
            executors,
            status,
        };
        if summary.status == "closed" {
            if closed.len() < 5 {
                closed.push(summary);
            }
        } else {
            open.push(summary);
        }
    }
    Ok(ApplicantView {
        id,
        name,
        address,
        phones,
        no_survey: no_survey != 0,
        open_requests: open,
        recent_closed_requests: closed,
    })
}

/// A proposal waiting for an operator's decision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueItem {
    pub number: String,
    pub kind: String,
    pub unit: Option<String>,
    pub visible_from: DateTime<Utc>,
    pub review_due: Option<DateTime<Utc>>,
    pub overdue_review: bool,
}

/// The operators' queue: proposals visible now (after-hours ones from the start of the next
/// working day), oldest due first.
pub async fn operator_queue(
    svc: &RequestService,
    user: &AuthUser,
    now: DateTime<Utc>,
) -> Result<Vec<QueueItem>, ApiError> {
    user.require(&[Role::Operator, Role::Supervisor], "the review queue")?;
    type R = (String, String, Option<String>, i64, Option<i64>);
    let rows: Vec<R> = sqlx::query_as(
        "SELECT r.number, n.kind, n.unit, n.visible_from, n.review_due FROM notices n JOIN requests r ON r.id = n.request_id \
         WHERE n.audience = 'operators' AND n.resolved_at IS NULL AND n.visible_from <= $1 \
         ORDER BY COALESCE(n.review_due, n.visible_from), n.id",
    )
    .bind(to_db_time(now))
    .fetch_all(svc.storage.reader())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(number, kind, unit, visible_from, review_due)| QueueItem {
            number,
            kind,
            unit,
            visible_from: from_db_time(visible_from),
            overdue_review: review_due.is_some_and(|d| from_db_time(d) < now),
            review_due: review_due.map(from_db_time),
        })
        .collect())
}

/// Per-executor figures for a period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecutorReportRow {
    pub executor: String,
    /// Requests registered in the period and assigned to the unit.
    pub received: i64,
    pub closed_on_time: i64,
    pub closed_late: i64,
    /// Open at the period's end and past their deadline (counted as late).
    pub open_overdue: i64,
    pub extended: i64,
    /// Registered for next-budget-year long-term control (9.4), even if back under control since.
    pub deferred: i64,
    pub reworked: i64,
    /// Percentage of answered survey calls in the period that confirmed the work (9.6).
    pub survey_confirmation_rate: Option<f64>,
}

/// Figures per executor for requests registered in `[from, to)`.
pub async fn executor_report(
    svc: &RequestService,
    user: &AuthUser,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ExecutorReportRow>, ApiError> {
    user.require(&[Role::Supervisor], "reports")?;
    if to <= from {
        return Err(bad("`to` must be after `from`"));
    }
    type R = (String, i64, i64, i64, i64, i64, i64, i64);
    let rows: Vec<R> = sqlx::query_as(
        "SELECT e.executor_code, COUNT(*), \
         SUM(CASE WHEN r.status = 'closed' AND r.closed_at <= r.deadline THEN 1 ELSE 0 END), \
         SUM(CASE WHEN r.status = 'closed' AND r.closed_at > r.deadline THEN 1 ELSE 0 END), \
         SUM(CASE WHEN r.status NOT IN ('closed', 'long_term_control') AND r.deadline < $1 THEN 1 ELSE 0 END), \
         SUM(CASE WHEN r.extension_count > 0 THEN 1 ELSE 0 END), \
         SUM(CASE WHEN EXISTS (SELECT 1 FROM audit_log a WHERE a.entity = 'request' AND a.entity_id = r.number \
             AND a.action = 'request.register_deferral') THEN 1 ELSE 0 END), \
         SUM(CASE WHEN r.rework_count > 0 THEN 1 ELSE 0 END) \
         FROM request_executors e JOIN requests r ON r.id = e.request_id \
         WHERE r.registered_at >= $2 AND r.registered_at < $3 \
         GROUP BY e.executor_code ORDER BY e.executor_code",
    )
    .bind(to_db_time(to))
    .bind(to_db_time(from))
    .bind(to_db_time(to))
    .fetch_all(svc.storage.reader())
    .await?;
    // Survey confirmation rate (9.6): confirmed ÷ (confirmed + poor quality + not confirmed) among
    // the survey calls answered in the period, per executor.
    let survey: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT executor_code, \
         SUM(CASE WHEN outcome = 'confirmed_satisfied' THEN 1 ELSE 0 END), \
         SUM(CASE WHEN outcome IN ('confirmed_satisfied', 'confirmed_poor_quality', 'not_confirmed') THEN 1 ELSE 0 END) \
         FROM survey_tasks WHERE status = 'done' AND updated_at >= $1 AND updated_at < $2 GROUP BY executor_code",
    )
    .bind(to_db_time(from))
    .bind(to_db_time(to))
    .fetch_all(svc.storage.reader())
    .await?;
    let rate = |unit: &str| {
        survey
            .iter()
            .find(|(u, _, _)| u == unit)
            .filter(|(_, _, answered)| *answered > 0)
            .map(|(_, confirmed, answered)| 100.0 * *confirmed as f64 / *answered as f64)
    };
    Ok(rows
        .into_iter()
        .map(
            |(executor, received, on_time, late, open_overdue, extended, deferred, reworked)| {
                ExecutorReportRow {
                    survey_confirmation_rate: rate(&executor),
                    executor,
                    received,
                    closed_on_time: on_time,
                    closed_late: late,
                    open_overdue,
                    extended,
                    deferred,
                    reworked,
                }
            },
        )
        .collect())
}
