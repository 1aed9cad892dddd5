//! `GET /api/v1/calendar/deadline`: the deadline a term gives, so the console can show it before
//! a request is saved.

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, AppState};
use crate::auth::AuthUser;
use crate::calendar::{ScheduleKind, Term};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeadlineQuery {
    /// Registration moment, RFC 3339 (e.g. `2026-04-10T17:30:00+03:00`); default: now.
    pub from: Option<String>,
    /// Term in working days (deadline: end of the N-th working day after the day of `from`).
    pub working_days: Option<u32>,
    /// Term in calendar days.
    pub calendar_days: Option<u32>,
    /// Term in hours, round the clock (emergency requests).
    pub hours: Option<u32>,
    /// `executors` (default) or `contact_center`.
    pub schedule: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlineAnswer {
    /// The deadline, RFC 3339 in UTC.
    pub deadline: DateTime<Utc>,
    /// The same instant in Kyiv time, for display.
    pub deadline_local: String,
    pub martial_law: bool,
}

/// Compute a deadline on the working-time calendar.
#[utoipa::path(get, path = "/api/v1/calendar/deadline", tag = "calendar", params(DeadlineQuery),
    responses((status = 200, body = DeadlineAnswer), (status = 400, description = "bad or missing term")))]
pub async fn deadline(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(q): Query<DeadlineQuery>,
) -> Result<Json<DeadlineAnswer>, ApiError> {
    let from = match &q.from {
        Some(text) => DateTime::<FixedOffset>::parse_from_rfc3339(text)
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "`from` must be RFC 3339 such as 2026-04-10T17:30:00+03:00: {e}"
                ))
            })?
            .with_timezone(&Utc),
        None => state.clock.now(),
    };
    let term =
        parse_term(q.working_days, q.calendar_days, q.hours).map_err(ApiError::BadRequest)?;
    let kind = match q.schedule.as_deref() {
        None | Some("executors") => ScheduleKind::Executors,
        Some("contact_center") => ScheduleKind::ContactCenter,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "`schedule` is `executors` or `contact_center`, not `{other}`"
            )))
        }
    };
    let calendar = state.calendars.get(kind);
    let deadline = calendar
        .deadline(from, term)
        .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    Ok(Json(DeadlineAnswer {
        deadline,
        deadline_local: deadline
            .with_timezone(&contactd_calendar::KYIV)
            .to_rfc3339(),
        martial_law: calendar.martial_law(),
    }))
}

/// Exactly one of the three term kinds.
pub fn parse_term(
    working_days: Option<u32>,
    calendar_days: Option<u32>,
    hours: Option<u32>,
) -> Result<Term, String> {
    match (working_days, calendar_days, hours) {
        (Some(n), None, None) => Ok(Term::WorkingDays(n)),
        (None, Some(n), None) => Ok(Term::CalendarDays(n)),
        (None, None, Some(h)) => Ok(Term::Hours(h)),
        _ => Err("give exactly one of working_days, calendar_days or hours".into()),
    }
}
