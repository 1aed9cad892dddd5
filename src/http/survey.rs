//! Survey endpoints (regulation 9.6): the operators' work list, click-to-call, outcomes; a stored
//! draw and the figures per executor for supervisors.

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, ApiJson, AppState};
use crate::auth::{AuthUser, Role};
use crate::survey::{self, CallStarted, DrawView, OutcomeBody, StatsView, TaskFilter, TaskView};

const CALLERS: &[Role] = &[Role::Operator, Role::Supervisor, Role::Admin];
const SUPERVISORS: &[Role] = &[Role::Supervisor, Role::Admin];

/// The survey work list: applicant, number to call, request, executor and its result text.
#[utoipa::path(get, path = "/api/v1/survey/tasks", tag = "survey", params(TaskFilter),
    responses((status = 200, body = [TaskView]), (status = 403, description = "operators and supervisors only")))]
pub async fn tasks(
    State(state): State<AppState>,
    user: AuthUser,
    Query(filter): Query<TaskFilter>,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    user.require(CALLERS, "the survey work list")?;
    Ok(Json(
        survey::work_list(&state.storage, &filter, state.clock.now()).await?,
    ))
}

/// Click-to-call: the PBX rings your extension, then dials the applicant; the call is linked to
/// the task by its channel id.
#[utoipa::path(post, path = "/api/v1/survey/tasks/{id}/call", tag = "survey", params(("id" = i64, Path)),
    responses((status = 200, body = CallStarted), (status = 404), (status = 409, description = "task already closed"),
              (status = 422, description = "no extension or no phone"), (status = 503, description = "no PBX configured or the PBX refused")))]
pub async fn call(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<CallStarted>, ApiError> {
    user.require(CALLERS, "placing survey calls")?;
    let pbx = state.config.effective_pbx();
    let started = survey::click_to_call(
        &state.storage,
        pbx.as_ref(),
        &state.config.survey,
        &user,
        id,
        state.clock.now(),
    )
    .await?;
    Ok(Json(started))
}

/// Record the outcome of a survey call.
#[utoipa::path(post, path = "/api/v1/survey/tasks/{id}/outcome", tag = "survey", params(("id" = i64, Path)), request_body = OutcomeBody,
    responses((status = 200, body = TaskView), (status = 404), (status = 409, description = "task closed, or the request changed"),
              (status = 422, description = "note missing or too short for a rework")))]
pub async fn outcome(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<OutcomeBody>,
) -> Result<Json<TaskView>, ApiError> {
    user.require(CALLERS, "recording survey outcomes")?;
    Ok(Json(
        survey::record_outcome(
            &state.requests(),
            &state.config.survey,
            &user,
            id,
            body,
            state.clock.now(),
        )
        .await?,
    ))
}

/// A stored draw: period, seed, fingerprint, population, figures per executor and the sample.
#[utoipa::path(get, path = "/api/v1/survey/draws/{id}", tag = "survey", params(("id" = i64, Path)),
    responses((status = 200, body = DrawView), (status = 404)))]
pub async fn draw(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<DrawView>, ApiError> {
    user.require(SUPERVISORS, "survey draws")?;
    Ok(Json(survey::get_draw(&state.storage, id).await?))
}

/// `GET /api/v1/survey/stats` period.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Draws made from (inclusive), RFC 3339.
    pub from: DateTime<Utc>,
    /// Draws made until (exclusive), RFC 3339.
    pub to: DateTime<Utc>,
}

/// Survey figures per executor: sampled, reached, confirmed, poor quality, not confirmed, …
#[utoipa::path(get, path = "/api/v1/survey/stats", tag = "survey", params(StatsQuery),
    responses((status = 200, body = StatsView), (status = 422, description = "`from` not before `to`")))]
pub async fn stats(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<StatsQuery>,
) -> Result<Json<StatsView>, ApiError> {
    user.require(SUPERVISORS, "survey figures")?;
    if q.from >= q.to {
        return Err(ApiError::Unprocessable(format!(
            "`from` ({}) must be before `to` ({})",
            q.from, q.to
        )));
    }
    Ok(Json(survey::stats(&state.storage, q.from, q.to).await?))
}
