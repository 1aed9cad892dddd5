//! `GET /api/v1/escalations/sent`: the history of escalation emails — what was sent to whom and
//! when, with the requests each one listed (Regulation 9.7). Supervisors and admins only.

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, AppState};
use crate::auth::{AuthUser, Role};
use crate::escalation::{sent_history, SentEntry};

/// The period of the history; default: the last 30 days.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SentQuery {
    /// From (inclusive), RFC 3339, e.g. `2026-12-01T00:00:00Z`.
    pub from: Option<DateTime<Utc>>,
    /// To (exclusive), RFC 3339; default: now.
    pub to: Option<DateTime<Utc>>,
}

/// Escalation emails queued in `[from, to)`, oldest first.
#[utoipa::path(get, path = "/api/v1/escalations/sent", tag = "escalations", params(SentQuery),
    responses((status = 200, body = [SentEntry]), (status = 403, description = "supervisors and admins only"),
              (status = 422, description = "`from` is after `to`")))]
pub async fn sent(
    State(state): State<AppState>,
    user: AuthUser,
    Query(query): Query<SentQuery>,
) -> Result<Json<Vec<SentEntry>>, ApiError> {
    user.require(&[Role::Supervisor, Role::Admin], "the escalation history")?;
    let to = query
        .to
        .unwrap_or_else(|| state.clock.now() + Duration::seconds(1));
    let from = query.from.unwrap_or(to - Duration::days(30));
    if from > to {
        return Err(ApiError::Unprocessable(format!(
            "`from` ({from}) is after `to` ({to}); swap them"
        )));
    }
    Ok(Json(sent_history(&state.storage, from, to).await?))
}
