//! Survey tasks: the operators' work list, click-to-call through ARI (the call's channel id is
//! stored on the task), outcomes (retry in working time, close, rework through the workflow with
//! its audit trail and executor notice) and the figures per executor.

use chrono::{DateTime, Utc};
use contactd_ari::{AriRest, OriginateParams};
use contactd_calendar::ScheduleKind;
use contactd_domain::PhoneNumber;
use contactd_survey::{after_attempt, survey_stats, NextStep, Outcome, SurveyStats, TaskOutcome};
use contactd_workflow::{RequestState, SurveyOutcome};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{outcome_str, parse_outcome, SurveyError};
use crate::auth::AuthUser;
use crate::config::{PbxConfig, SurveyConfig};
use crate::requests::{ActionBody, ApiAction, RequestService, MAX_TEXT};
use crate::storage::{from_db_time, to_db_time, Storage};

/// One survey task as the operators' console shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskView {
    pub id: i64,
    pub draw_id: i64,
    pub request_number: String,
    pub executor_code: String,
    /// `random`, `always_after_rework` or `always_after_extension`.
    pub reason: String,
    /// `pending`, `done` or `closed_unreachable`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    /// Whether the task may be called now.
    pub due: bool,
    pub outcome: Option<String>,
    pub note: Option<String>,
    pub call_channel_id: Option<String>,
    pub applicant_id: i64,
    pub applicant_name: String,
    /// The number to call, E.164 (operators see it in full; logs only the masked form).
    pub phone: Option<String>,
    pub phone_masked: Option<String>,
    /// What the executor reported when the request was closed.
    pub result_text: Option<String>,
}

/// `GET /api/v1/survey/tasks` filter.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// `pending` (default), `done`, `closed_unreachable` or `all`.
    pub status: Option<String>,
}

/// `POST /api/v1/survey/tasks/{id}/outcome`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeBody {
    /// `confirmed_satisfied`, `confirmed_poor_quality`, `not_confirmed`, `unreachable`, `refused`.
    #[schema(value_type = String)]
    pub outcome: Outcome,
    /// What the applicant said; required (at least 10 characters) when the request goes back
    /// for rework, since the executor reads it.
    #[serde(default)]
    pub note: String,
}

/// The call placed by click-to-call.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallStarted {
    pub task_id: i64,
    /// ARI channel id of the operator's leg; the survey task keeps it.
    pub channel_id: String,
    pub channel_name: String,
}

type TaskRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
    String,
);

const TASK_SELECT: &str = "SELECT t.id, t.draw_id, t.request_number, t.executor_code, t.reason, t.status, t.attempts, \
     t.next_attempt_at, t.outcome, t.note, t.call_channel_id, t.applicant_id, a.name, r.state_json \
     FROM survey_tasks t JOIN requests r ON r.id = t.request_id LEFT JOIN applicants a ON a.id = t.applicant_id";

async fn first_phone(
    storage: &Storage,
    applicant_id: i64,
) -> Result<Option<PhoneNumber>, SurveyError> {
    let e164: Option<String> = sqlx::query_scalar(
        "SELECT e164 FROM applicant_phones WHERE applicant_id = $1 ORDER BY e164 LIMIT 1",
    )
    .bind(applicant_id)
    .fetch_optional(storage.reader())
    .await?;
    Ok(e164.and_then(|p| PhoneNumber::parse(&p).ok()))
}

async fn task_view(
    storage: &Storage,
    row: TaskRow,
    now: DateTime<Utc>,
) -> Result<TaskView, SurveyError> {
    let (
        id,
        draw_id,
        request_number,
        executor_code,
        reason,
        status,
        attempts,
        next,
        outcome,
        note,
        channel,
        applicant_id,
        name,
        state_json,
    ) = row;
    let result_text = serde_json::from_str::<RequestState>(&state_json)
        .ok()
        .and_then(|state| {
            let unit = state
                .current_assignments()
                .find(|a| a.unit.to_string() == executor_code && a.result.is_some())
                .or_else(|| state.current_assignments().find(|a| a.result.is_some()))
                .and_then(|a| a.result.as_ref().map(|r| r.text.clone()));
            unit
        });
    let phone = first_phone(storage, applicant_id).await?;
    let next_attempt_at = from_db_time(next);
    Ok(TaskView {
        id,
        draw_id,
        request_number,
        executor_code,
        reason,
        due: status == "pending" && next_attempt_at <= now,
        status,
        attempts,
        next_attempt_at,
        outcome,
        note,
        call_channel_id: channel,
        applicant_id,
        applicant_name: name.unwrap_or_default(),
        phone_masked: phone.as_ref().map(PhoneNumber::masked),
        phone: phone.map(|p| p.as_e164().to_owned()),
        result_text,
    })
}

async fn load_task(
    storage: &Storage,
    id: i64,
    now: DateTime<Utc>,
) -> Result<TaskView, SurveyError> {
    let row: Option<TaskRow> = sqlx::query_as(&format!("{TASK_SELECT} WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(storage.writer())
        .await?;
    let row = row.ok_or(SurveyError::NoSuchTask(id))?;
    task_view(storage, row, now).await
}

/// The survey work list, due tasks first.
pub async fn work_list(
    storage: &Storage,
    filter: &TaskFilter,
    now: DateTime<Utc>,
) -> Result<Vec<TaskView>, SurveyError> {
    let status = filter.status.as_deref().unwrap_or("pending");
    if !matches!(status, "pending" | "done" | "closed_unreachable" | "all") {
        return Err(SurveyError::BadStatus(status.to_owned()));
    }
    let rows: Vec<TaskRow> = if status == "all" {
        sqlx::query_as(&format!("{TASK_SELECT} ORDER BY t.next_attempt_at, t.id"))
            .fetch_all(storage.reader())
            .await?
    } else {
        sqlx::query_as(&format!(
            "{TASK_SELECT} WHERE t.status = $1 ORDER BY t.next_attempt_at, t.id"
        ))
        .bind(status)
        .fetch_all(storage.reader())
        .await?
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(task_view(storage, row, now).await?);
    }
    Ok(out)
}

/// The applicant's number as the outbound dialplan dials it: Ukrainian numbers in national form
/// (`+380501234567` → `0501234567`), others with the international prefix `00`.
pub fn dialable_number(phone: &PhoneNumber) -> String {
    let e164 = phone.as_e164();
    match e164.strip_prefix("+380") {
        Some(rest) => format!("0{rest}"),
        None => format!("00{}", e164.trim_start_matches('+')),
    }
}

/// Click-to-call: ARI originates a call that rings the operator's extension and, once answered,
/// dials the applicant through `survey.outbound_context`; the channel id is stored on the task.
pub async fn click_to_call(
    storage: &Storage,
    pbx: Option<&PbxConfig>,
    config: &SurveyConfig,
    user: &AuthUser,
    task_id: i64,
    now: DateTime<Utc>,
) -> Result<CallStarted, SurveyError> {
    let pbx = pbx.ok_or(SurveyError::NoPbx)?;
    let extension = user
        .extension
        .clone()
        .filter(|e| !e.trim().is_empty())
        .ok_or(SurveyError::NoExtension)?;
    let task = load_task(storage, task_id, now).await?;
    if task.status != "pending" {
        return Err(SurveyError::TaskClosed {
            id: task_id,
            status: task.status,
        });
    }
    let phone = first_phone(storage, task.applicant_id)
        .await?
        .ok_or(SurveyError::NoPhone(task_id))?;
    let password = pbx
        .password
        .as_ref()
        .map(|p| p.expose().to_owned())
        .unwrap_or_default();
    // Built per click: a click is a human action, and the link task owns the long-lived client.
    let rest = AriRest::new(&pbx.ari_url, &pbx.username, &password)?;
    let params = OriginateParams {
        endpoint: format!("PJSIP/{extension}"),
        extension: dialable_number(&phone),
        context: config.outbound_context.clone(),
        priority: 1,
        caller_id: Some(config.caller_id.clone()),
        timeout_s: Some(config.originate_timeout_s),
    };
    let channel = rest.originate(&params).await?;
    sqlx::query(
        "UPDATE survey_tasks SET call_channel_id = $1, called_at = $2, operator_user_id = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(&channel.id)
    .bind(to_db_time(now))
    .bind(user.id)
    .bind(to_db_time(now))
    .bind(task_id)
    .execute(storage.writer())
    .await?;
    tracing::info!(task_id, channel_id = %channel.id, operator = %extension, applicant = %phone.masked(), "survey: call placed");
    Ok(CallStarted {
        task_id,
        channel_id: channel.id,
        channel_name: channel.name,
    })
}

/// Records the outcome of a call on a pending task: an unreachable applicant is called again
/// later in the contact center's working time until `max_attempts`, then the task closes as
/// unreachable; not confirmed / poor quality send the request back to its executor through the
/// workflow (`return_after_survey`: audit trail, executor notice).
pub async fn record_outcome(
    requests: &RequestService,
    config: &SurveyConfig,
    user: &AuthUser,
    task_id: i64,
    body: OutcomeBody,
    now: DateTime<Utc>,
) -> Result<TaskView, SurveyError> {
    let storage = &requests.storage;
    if body.note.chars().count() > MAX_TEXT {
        return Err(SurveyError::NoteTooLong { max: MAX_TEXT });
    }
    let row: Option<(i64, String, i64, i64, String)> =
        sqlx::query_as("SELECT request_id, status, attempts, applicant_id, request_number FROM survey_tasks WHERE id = $1")
            .bind(task_id)
            .fetch_optional(storage.writer())
            .await?;
    let (request_id, status, attempts, applicant_id, number) =
        row.ok_or(SurveyError::NoSuchTask(task_id))?;
    if status != "pending" {
        return Err(SurveyError::TaskClosed {
            id: task_id,
            status,
        });
    }
    let attempts_made = u32::try_from(attempts.saturating_add(1)).unwrap_or(u32::MAX);
    let cc = requests.calendars.get(ScheduleKind::ContactCenter);
    let step = after_attempt(body.outcome, attempts_made, now, &config.params, |r| {
        cc.next_working_moment(r.not_before).ok()
    });
    if let NextStep::Close {
        outcome,
        rework: true,
    } = step
    {
        let survey_outcome = match outcome {
            Outcome::ConfirmedPoorQuality => SurveyOutcome::PoorQuality,
            _ => SurveyOutcome::NotConfirmed,
        };
        let version: i64 = sqlx::query_scalar("SELECT version FROM requests WHERE id = $1")
            .bind(request_id)
            .fetch_one(storage.writer())
            .await?;
        // Its own transaction (SQLite has one writer: nothing of ours may be open meanwhile). The
        // task is updated after; should that fail, the request was still sent back with its audit.
        let action = ActionBody {
            version,
            action: ApiAction::ReturnAfterSurvey {
                outcome: survey_outcome,
                note: body.note.clone(),
            },
        };
        requests
            .act(user, &number, action, now)
            .await
            .map_err(SurveyError::Workflow)?;
    }
    let (new_status, next_at) = match step {
        NextStep::Retry { at, .. } => ("pending", at),
        NextStep::Close {
            outcome: Outcome::Unreachable,
            ..
        } => ("closed_unreachable", now),
        NextStep::Close { .. } => ("done", now),
    };
    let note = (!body.note.trim().is_empty()).then(|| body.note.clone());
    let mut tx = storage.writer().begin().await?;
    let updated = sqlx::query(
        "UPDATE survey_tasks SET status = $1, attempts = $2, next_attempt_at = $3, last_attempt_at = $4, outcome = $5, \
         note = $6, operator_user_id = $7, updated_at = $8 WHERE id = $9 AND status = 'pending' AND attempts = $10",
    )
    .bind(new_status)
    .bind(i64::from(attempts_made))
    .bind(to_db_time(next_at))
    .bind(to_db_time(now))
    .bind(outcome_str(body.outcome))
    .bind(note.clone())
    .bind(user.id)
    .bind(to_db_time(now))
    .bind(task_id)
    .bind(attempts)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(SurveyError::TaskChanged(task_id));
    }
    if body.outcome.is_reached() {
        sqlx::query("UPDATE applicants SET last_surveyed_at = $1, updated_at = $2 WHERE id = $3")
            .bind(to_db_time(now))
            .bind(to_db_time(now))
            .bind(applicant_id)
            .execute(&mut *tx)
            .await?;
    }
    let after = serde_json::json!({
        "request": number, "outcome": outcome_str(body.outcome), "attempt": attempts_made,
        "status": new_status, "next_attempt_at": (new_status == "pending").then_some(next_at),
    });
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor, action, entity, entity_id, before_json, after_json, comment) \
         VALUES ($1, $2, $3, 'survey.outcome', 'survey_task', $4, NULL, $5, $6)",
    )
    .bind(to_db_time(now))
    .bind(user.id)
    .bind(&user.login)
    .bind(task_id.to_string())
    .bind(after.to_string())
    .bind(note)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(
        task_id,
        outcome = outcome_str(body.outcome),
        status = new_status,
        "survey: outcome recorded"
    );
    load_task(storage, task_id, now).await
}

/// Survey figures per executor and in total (`GET /api/v1/survey/stats`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatsView {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub by_executor: std::collections::BTreeMap<String, SurveyStats>,
    #[schema(value_type = Object)]
    pub total: SurveyStats,
}

/// Figures of the tasks of the draws made in `[from, to)`.
pub async fn stats(
    storage: &Storage,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<StatsView, SurveyError> {
    let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT t.request_id, t.executor_code, t.status, t.outcome FROM survey_tasks t \
         JOIN survey_draws d ON d.id = t.draw_id WHERE d.created_at >= $1 AND d.created_at < $2",
    )
    .bind(to_db_time(from))
    .bind(to_db_time(to))
    .fetch_all(storage.reader())
    .await?;
    let mut tasks = Vec::with_capacity(rows.len());
    for (request_id, executor_code, status, outcome) in rows {
        let outcome = if status == "pending" {
            None
        } else {
            outcome.as_deref().map(parse_outcome).transpose()?
        };
        tasks.push(TaskOutcome {
            request_id,
            executor_code,
            outcome,
        });
    }
    let report = survey_stats(&tasks);
    Ok(StatsView {
        from,
        to,
        by_executor: report.by_executor,
        total: report.total,
    })
}
