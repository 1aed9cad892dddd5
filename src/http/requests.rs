//! Request endpoints: create (idempotent), read, list, act, audit trail; applicant lookup; the
//! operators' review queue; per-executor reports (JSON or CSV).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, ApiJson, AppState};
use crate::auth::AuthUser;
use crate::requests::{
    self, ActionBody, ApplicantView, AuditEntry, ExecutorReportRow, ListFilter, NewRequest,
    QueueItem, RequestView,
};

/// Register a request. Send `Idempotency-Key` so that a retried POST does not open two.
#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", request_body = NewRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key returns the request the first POST created")),
    responses((status = 201, body = RequestView), (status = 200, body = RequestView, description = "replayed by Idempotency-Key"),
              (status = 403, description = "role"), (status = 422, description = "invalid input")))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewRequest>,
) -> Result<Response, ApiError> {
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".into()))?;
    let (view, created) = state
        .requests()
        .create(&user, body, key, state.clock.now())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)).into_response())
}

/// One request with the actions the signed-in user may take now.
#[utoipa::path(get, path = "/api/v1/requests/{number}", tag = "requests",
    params(("number" = String, Path, description = "e.g. 2026-000123")),
    responses((status = 200, body = RequestView), (status = 404, description = "no such request, or not your unit's")))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    Path(number): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        requests::get(&state.requests(), &user, &number, state.clock.now()).await?,
    ))
}

/// Requests, newest first, filtered.
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", params(ListFilter),
    responses((status = 200, body = requests::Page)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(filter): Query<ListFilter>,
) -> Result<Json<requests::Page>, ApiError> {
    Ok(Json(
        requests::list(&state.requests(), &user, &filter, state.clock.now()).await?,
    ))
}

/// Apply a life-cycle action (Regulation 7.2, 9.3–9.6) decided on `version`.
#[utoipa::path(post, path = "/api/v1/requests/{number}/actions", tag = "requests", request_body = ActionBody,
    params(("number" = String, Path)),
    responses((status = 200, body = RequestView), (status = 403, description = "role or unit"), (status = 404),
              (status = 409, description = "not allowed in this state, or changed since `version`"),
              (status = 422, description = "invalid data (reason too short, date not later, …)")))]
pub async fn act(
    State(state): State<AppState>,
    user: AuthUser,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<ActionBody>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        state
            .requests()
            .act(&user, &number, body, state.clock.now())
            .await?,
    ))
}

/// The audit trail of a request.
#[utoipa::path(get, path = "/api/v1/requests/{number}/audit", tag = "requests", params(("number" = String, Path)),
    responses((status = 200, body = [AuditEntry])))]
pub async fn audit(
    State(state): State<AppState>,
    user: AuthUser,
    Path(number): Path<String>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    Ok(Json(
        requests::audit_trail(&state.requests(), &user, &number).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PhoneQuery {
    /// Any Ukrainian format: `067 123 45 67`, `0671234567`, `+380671234567`.
    pub phone: String,
}

/// Find an applicant by phone, with their open and recent requests.
#[utoipa::path(get, path = "/api/v1/applicants", tag = "applicants", params(PhoneQuery),
    responses((status = 200, body = ApplicantView), (status = 404, description = "unknown number")))]
pub async fn applicant(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<PhoneQuery>,
) -> Result<Json<ApplicantView>, ApiError> {
    Ok(Json(
        requests::applicant_by_phone(&state.requests(), &user, &q.phone, state.clock.now()).await?,
    ))
}

/// Proposals waiting for an operator (after-hours ones appear from the next working day's start).
#[utoipa::path(get, path = "/api/v1/queue", tag = "requests", responses((status = 200, body = [QueueItem])))]
pub async fn queue(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<QueueItem>>, ApiError> {
    Ok(Json(
        requests::operator_queue(&state.requests(), &user, state.clock.now()).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// Per-executor figures for requests registered in `[from, to)` (supervisors).
#[utoipa::path(get, path = "/api/v1/reports/executors", tag = "reports", params(ReportQuery),
    responses((status = 200, body = [ExecutorReportRow]), (status = 403, description = "supervisors only")))]
pub async fn executor_report(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let rows = requests::executor_report(&state.requests(), &user, q.from, q.to).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(rows).into_response()),
        Some("csv") => {
            let mut csv = String::from("executor,received,closed_on_time,closed_late,open_overdue,extended,deferred,reworked,survey_confirmation_rate\n");
            for r in rows {
                csv.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{}\n",
                    r.executor,
                    r.received,
                    r.closed_on_time,
                    r.closed_late,
                    r.open_overdue,
                    r.extended,
                    r.deferred,
                    r.reworked,
                    r.survey_confirmation_rate
                        .map(|v| format!("{v:.1}"))
                        .unwrap_or_default()
                ));
            }
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"executors.csv\"",
                    ),
                ],
                csv,
            )
                .into_response())
        }
        Some(other) => Err(ApiError::BadRequest(format!(
            "format `{other}` is not json or csv"
        ))),
    }
}

/// A call record with the requests opened in it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CallView {
    pub call_id: String,
    pub direction: String,
    /// E.164 when the caller id is a valid number, else as received (e.g. `anonymous`).
    pub caller_number: String,
    pub caller_name: String,
    pub dialed_number: String,
    /// When the first operator phone rang; `null` when none did (e.g. the operator was busy).
    pub ringing_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub answered_by: Option<String>,
    /// When the call was over (the caller's leg and every operator leg gone).
    pub ended_at: Option<DateTime<Utc>>,
    /// Once the call is over: `answered` when an operator answered, else the outcome of the
    /// last operator leg (`abandoned`, `busy`, `no_answer`, `failed`, …).
    pub outcome: Option<String>,
    /// The end was inferred after a PBX reconnect.
    pub reconciled: bool,
    /// Numbers of the requests registered with this `call_id`.
    pub requests: Vec<String>,
}

/// One call and the requests opened in it (operators and supervisors).
#[utoipa::path(get, path = "/api/v1/calls/{call_id}", tag = "calls", params(("call_id" = String, Path)),
    responses((status = 200, body = CallView), (status = 404, description = "no such call")))]
pub async fn call(
    State(state): State<AppState>,
    user: AuthUser,
    Path(call_id): Path<String>,
) -> Result<Json<CallView>, ApiError> {
    use crate::storage::from_db_time;
    user.require(
        &[crate::auth::Role::Operator, crate::auth::Role::Supervisor],
        "call records",
    )?;
    type Row = (
        String,
        String,
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<String>,
        i64,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT call_id, direction, caller_number, caller_name, dialed_number, ringing_at, answered_at, answered_by, \
         ended_at, outcome, reconciled FROM calls WHERE call_id = $1",
    )
    .bind(&call_id)
    .fetch_optional(state.storage.reader())
    .await?;
    let (
        call_id,
        direction,
        caller_number,
        caller_name,
        dialed_number,
        ringing_at,
        answered_at,
        answered_by,
        ended_at,
        outcome,
        reconciled,
    ) = row.ok_or_else(|| ApiError::NotFound(format!("no call {call_id} was recorded")))?;
    let requests: Vec<String> =
        sqlx::query_scalar("SELECT number FROM requests WHERE call_id = $1 ORDER BY id")
            .bind(&call_id)
            .fetch_all(state.storage.reader())
            .await?;
    Ok(Json(CallView {
        call_id,
        direction,
        caller_number,
        caller_name,
        dialed_number,
        ringing_at: ringing_at.map(from_db_time),
        answered_at: answered_at.map(from_db_time),
        answered_by,
        ended_at: ended_at.map(from_db_time),
        outcome,
        reconciled: reconciled != 0,
        requests,
    }))
}
