//! Requests: the service that applies the pure workflow (`contactd-workflow`) to stored requests.
//!
//! Every change runs in one database transaction: the request row (with an optimistic `version`
//! check), its executor rows, the audit rows of the transition's events, and the notices it
//! raises. The workflow state is stored whole as JSON (`state_json`), with the columns that
//! filters, reports and scans need kept in step with it.

mod create;
mod query;
mod rows;

use chrono::{DateTime, Utc};
use contactd_calendar::local_date;
use contactd_classifier::{ClassifierCode, RequestType};
use contactd_domain::{ExecutorCode, Login, PhoneNumber, RequestNumber};
use contactd_workflow::{
    self as workflow, Action, Actor, ErrorClass, Notification, RequestState, ResultKind,
    ReviewWindow, SurveyOutcome, Transition, WorkflowError,
};
use serde::{Deserialize, Serialize};
use sqlx::Any;
use utoipa::ToSchema;

use create::{ApplicantPlan, Created, Prepared};
use query::{view, Row, COLUMNS};
use rows::{AuditInsert, ExecutorInsert, NoticeInsert, TransitionRows};

pub use create::{CreateQueue, MAX_BATCH};

pub use query::{
    applicant_by_phone, audit_trail, executor_report, executors_of, get, list, operator_queue,
    ApplicantView, AuditEntry, ExecutorReportRow, ListFilter, Page, QueueItem, RequestSummary,
};

use crate::auth::{AuthUser, Role};
use crate::calendar::{Calendars, ScheduleKind, Term};
use crate::classifier::ClassifierHandle;
use crate::http::ApiError;
use crate::storage::{to_db_time, Storage};

/// Longest free text accepted (description, address, names).
pub const MAX_TEXT: usize = 4000;

/// What the service needs from the daemon.
#[derive(Clone)]
pub struct RequestService {
    pub storage: Storage,
    pub calendars: Calendars,
    pub classifier: ClassifierHandle,
    /// Registrations waiting for their group commit (one queue per daemon).
    pub creates: CreateQueue,
}

/// The channel a request came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Phone,
    Web,
    Open311,
    WalkIn,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Web => "web",
            Self::Open311 => "open311",
            Self::WalkIn => "walk_in",
        }
    }
}

/// The applicant of a new request: found by phone (any Ukrainian format) or created.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicantInput {
    /// e.g. `067 123 45 67`, `0671234567` or `+380671234567`.
    pub phone: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub address: String,
    /// The applicant asked not to be called for surveys.
    #[serde(default)]
    pub no_survey: bool,
}

/// `POST /api/v1/requests`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub channel: Channel,
    pub applicant: Option<ApplicantInput>,
    #[serde(default)]
    pub address: String,
    pub description: String,
    /// Leaf code of the classifier, e.g. `22.5.27`.
    pub classifier_code: String,
    /// `emergency`, `ordinary`, `medium` or `long`.
    pub request_type: String,
    /// Executor units; default: the classifier item's.
    pub executors: Option<Vec<String>>,
    /// The call this request was opened in (from the operator's pop-up).
    pub call_id: Option<String>,
}

/// An action as the API takes it; the daemon adds what the calendar decides (review windows,
/// today's date, recomputed deadlines).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ApiAction {
    AssignExecutors {
        units: Vec<String>,
        #[serde(default)]
        recompute_deadline: bool,
    },
    Accept {
        unit: String,
    },
    CommentStatus {
        unit: String,
        comment: String,
    },
    DeclineCompetence {
        unit: String,
        comment: String,
    },
    RequestExecutorChange {
        unit: String,
        reason: String,
    },
    ApproveExecutorChange {
        unit: String,
        new_unit: String,
    },
    RejectExecutorChange {
        unit: String,
        reason: String,
    },
    ProposeExtension {
        unit: String,
        justification: String,
        new_deadline: DateTime<Utc>,
    },
    AcceptExtension {
        unit: String,
    },
    RejectExtension {
        unit: String,
        reason: String,
    },
    ProposeDeferral {
        unit: String,
        planned_date: chrono::NaiveDate,
        applicant_note: String,
    },
    RegisterDeferral {
        unit: String,
    },
    RejectDeferral {
        unit: String,
        reason: String,
    },
    ProposeClosing {
        unit: String,
        #[schema(value_type = String)]
        result: ResultKind,
        result_text: String,
    },
    ApproveClosing {
        unit: String,
    },
    SendBackForRework {
        unit: String,
        reason: String,
    },
    ReturnAfterSurvey {
        #[schema(value_type = String)]
        outcome: SurveyOutcome,
        note: String,
    },
}

/// `POST /api/v1/requests/{number}/actions`: the action and the version it was decided on.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ActionBody {
    /// The `version` the client saw; a request changed since is a 409.
    pub version: i64,
    #[serde(flatten)]
    #[schema(inline)]
    pub action: ApiAction,
}

/// A request as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestView {
    pub number: String,
    pub version: i64,
    pub status: String,
    pub channel: String,
    pub applicant_id: Option<i64>,
    pub address: String,
    pub description: String,
    pub classifier_code: String,
    pub classifier_revision: i64,
    pub classifier_title: String,
    pub request_type: String,
    pub term: String,
    pub call_id: Option<String>,
    pub registered_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub original_deadline: Option<DateTime<Utc>>,
    pub overdue: bool,
    pub additional_control: bool,
    pub long_term_until: Option<String>,
    pub rework_count: i64,
    pub extension_count: i64,
    pub closed_at: Option<DateTime<Utc>>,
    /// The workflow state: assignments with their status, comments and pending proposals.
    #[schema(value_type = Object)]
    pub state: serde_json::Value,
    /// What the signed-in user may do now.
    #[schema(value_type = Vec<Object>)]
    pub allowed_actions: Vec<workflow::AllowedAction>,
}

pub(crate) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::Unprocessable(msg.into())
}

fn unit(code: &str) -> Result<ExecutorCode, ApiError> {
    ExecutorCode::parse(code).map_err(|e| bad(e.to_string()))
}

/// The workflow's actor for a user.
pub fn actor_of(user: &AuthUser) -> Actor {
    let login = Login::parse(&user.login).ok();
    let units = user
        .executors
        .iter()
        .filter_map(|u| ExecutorCode::parse(u).ok())
        .collect();
    let role = match user.role {
        Role::Operator => workflow::Role::Operator,
        Role::Executor => workflow::Role::Executor,
        Role::Supervisor => workflow::Role::Supervisor,
        Role::Admin => workflow::Role::Admin,
    };
    Actor { login, role, units }
}

pub(crate) fn workflow_error(err: WorkflowError) -> ApiError {
    let message = err.to_string();
    match err.class() {
        ErrorClass::Forbidden => ApiError::Forbidden(message),
        ErrorClass::NotFound => ApiError::NotFound(message),
        ErrorClass::Conflict => ApiError::Conflict(message),
        ErrorClass::Unprocessable => ApiError::Unprocessable(message),
        ErrorClass::Internal => ApiError::Internal(anyhow::anyhow!(message)),
    }
}

fn request_type(text: &str) -> Result<RequestType, ApiError> {
    RequestType::from_key(text).ok_or_else(|| {
        bad(format!(
            "request_type `{text}` is not one of emergency, ordinary, medium, long"
        ))
    })
}

fn calendar_term(term: contactd_classifier::Term) -> Term {
    match term {
        contactd_classifier::Term::Hours(h) => Term::Hours(h),
        contactd_classifier::Term::WorkingDays(n) => Term::WorkingDays(n),
        contactd_classifier::Term::CalendarDays(n) => Term::CalendarDays(n),
    }
}

fn check_text(field: &str, text: &str, required: bool) -> Result<(), ApiError> {
    if required && text.trim().is_empty() {
        return Err(bad(format!("`{field}` must not be empty")));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(bad(format!(
            "`{field}` is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(())
}

impl RequestService {
    /// The review window of a proposal made at `now`, on the contact center's calendar (9.5:
    /// proposals outside working hours are reviewed the next working day).
    fn review_window(&self, now: DateTime<Utc>) -> Result<ReviewWindow, ApiError> {
        let cc = self.calendars.get(ScheduleKind::ContactCenter);
        let next = cc
            .next_working_day(local_date(now))
            .map_err(|e| ApiError::Internal(e.into()))?;
        let start = cc.start_of_working_day(next);
        let end = cc.end_of_working_day(next);
        match (start, end) {
            (Some(start), Some(end)) => Ok(ReviewWindow {
                within_working_hours: cc.is_working_time(now),
                next_working_day_start: start,
                next_working_day_end: end,
            }),
            _ => Err(ApiError::Internal(anyhow::anyhow!(
                "the calendar has no hours for working day {next}"
            ))),
        }
    }

    /// The deadline of a stored request's term counted again from `now` (re-routing).
    async fn recomputed_deadline(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, ApiError> {
        let term: String = sqlx::query_scalar("SELECT term FROM requests WHERE id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
        let term = contactd_classifier::Term::parse(&term)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored term: {e}")))?;
        self.calendars
            .get(ScheduleKind::Executors)
            .deadline(now, calendar_term(term))
            .map_err(|e| ApiError::Unprocessable(e.to_string()))
    }

    /// Register a request and send it to its executors. With `idempotency_key`, a retried POST
    /// returns the request the first one created (`Ok((view, false))`).
    pub async fn create(
        &self,
        user: &AuthUser,
        input: NewRequest,
        idempotency_key: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(RequestView, bool), ApiError> {
        user.require(&[Role::Operator, Role::Supervisor], "registering a request")?;
        if let Some(key) = &idempotency_key {
            if key.is_empty() || key.len() > 200 {
                return Err(ApiError::BadRequest(
                    "Idempotency-Key must be 1–200 characters".into(),
                ));
            }
            if let Some(number) = create::by_idempotency_key(&self.storage, user.id, key).await? {
                return Ok((get(self, user, &number, now).await?, false));
            }
        }
        check_text("description", &input.description, true)?;
        check_text("address", &input.address, false)?;
        let code = ClassifierCode::parse(&input.classifier_code).map_err(|e| bad(e.to_string()))?;
        let kind = request_type(&input.request_type)?;
        let loaded = self
            .classifier
            .get_or_load(&self.storage)
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .ok_or_else(|| {
                ApiError::Unavailable(
                "no classifier is imported yet: an administrator runs `contactd classifier import`"
                    .into(),
            )
            })?;
        let filed = loaded
            .classifier
            .file_request(code, kind, local_date(now))
            .map_err(|e| bad(e.to_string()))?;
        let units: Vec<ExecutorCode> = match &input.executors {
            Some(list) if !list.is_empty() => {
                list.iter().map(|u| unit(u)).collect::<Result<_, _>>()?
            }
            _ => filed
                .item
                .executors
                .iter()
                .map(|u| unit(u.as_str()))
                .collect::<Result<_, _>>()?,
        };
        let deadline = self
            .calendars
            .get(ScheduleKind::Executors)
            .deadline(now, calendar_term(filed.term))
            .map_err(|e| bad(e.to_string()))?;
        let phone = match input
            .applicant
            .as_ref()
            .and_then(|a| a.phone.as_deref())
            .filter(|p| !p.trim().is_empty())
        {
            Some(p) => {
                Some(PhoneNumber::parse(p).map_err(|e| bad(format!("applicant.phone: {e}")))?)
            }
            None => None,
        };
        if let Some(a) = &input.applicant {
            check_text("applicant.name", &a.name, false)?;
            check_text("applicant.address", &a.address, false)?;
        }
        if input.call_id.as_ref().is_some_and(|c| c.len() > 100) {
            return Err(bad("call_id is longer than 100 characters"));
        }
        let prepared = Prepared {
            user: user.clone(),
            channel: input.channel,
            applicant: input.applicant.as_ref().map(|a| ApplicantPlan {
                phone,
                name: a.name.trim().to_owned(),
                address: a.address.trim().to_owned(),
                no_survey: a.no_survey,
            }),
            address: input.address.trim().to_owned(),
            description: input.description.trim().to_owned(),
            classifier_code: filed.item_ref.code.to_string(),
            classifier_revision: i64::from(filed.item_ref.revision.0),
            classifier_title: filed.item.title.clone(),
            section: filed.item_ref.code.section().to_string(),
            area: filed.area.clone(),
            request_type: kind.key(),
            term: filed.term.to_string(),
            units,
            deadline,
            now,
            year: i64::from(chrono::Datelike::year(&local_date(now))),
            created_details: serde_json::json!({
                "classifier_code": filed.item_ref.code.to_string(),
                "classifier_revision": filed.item_ref.revision.0,
                "request_type": kind.key(),
                "term": filed.term.to_string(),
                "deadline": deadline,
                "call_id": input.call_id,
            }),
            call_id: input.call_id,
            idempotency_key,
        };
        match self.creates.submit(&self.storage, prepared).await? {
            // Answer from what was just written; no second read through the (single SQLite) writer.
            Created::New(row) => Ok((view(*row, user, now)?, true)),
            Created::Existing(number) => Ok((get(self, user, &number, now).await?, false)),
        }
    }

    /// Apply an action decided on `version`.
    pub async fn act(
        &self,
        user: &AuthUser,
        number: &str,
        body: ActionBody,
        now: DateTime<Utc>,
    ) -> Result<RequestView, ApiError> {
        let actor = actor_of(user);
        let mut tx = self.storage.writer().begin().await?;
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM requests r WHERE r.number = $1"
        ))
        .bind(number)
        .fetch_optional(&mut *tx)
        .await?;
        let mut row = row.ok_or_else(|| not_found(number))?;
        let (id, version) = (row.id, row.version);
        let state: RequestState = serde_json::from_str(&row.state_json).map_err(|e| {
            ApiError::Internal(anyhow::anyhow!(
                "request {number}: stored state does not load: {e}"
            ))
        })?;
        if user.role == Role::Executor
            && !state
                .assignments
                .iter()
                .any(|a| actor.units.contains(&a.unit))
        {
            return Err(not_found(number));
        }
        if body.version != version {
            return Err(ApiError::Conflict(format!(
                "request {number} changed since you loaded it (you saw version {}, it is now {version}); reload it and decide again",
                body.version
            )));
        }
        let action = match body.action {
            ApiAction::AssignExecutors {
                units,
                recompute_deadline,
            } => Action::AssignExecutors {
                units: units.iter().map(|u| unit(u)).collect::<Result<_, _>>()?,
                new_deadline: if recompute_deadline {
                    Some(self.recomputed_deadline(&mut tx, id, now).await?)
                } else {
                    None
                },
            },
            ApiAction::Accept { unit: u } => Action::Accept { unit: unit(&u)? },
            ApiAction::CommentStatus { unit: u, comment } => Action::CommentStatus {
                unit: unit(&u)?,
                comment,
            },
            ApiAction::DeclineCompetence { unit: u, comment } => Action::DeclineCompetence {
                unit: unit(&u)?,
                comment,
            },
            ApiAction::RequestExecutorChange { unit: u, reason } => Action::RequestExecutorChange {
                unit: unit(&u)?,
                reason,
                review: self.review_window(now)?,
            },
            ApiAction::ApproveExecutorChange { unit: u, new_unit } => {
                Action::ApproveExecutorChange {
                    unit: unit(&u)?,
                    new_unit: unit(&new_unit)?,
                    // Policy: the new executor's term runs from the approval, when it learns of the request.
                    new_deadline: self.recomputed_deadline(&mut tx, id, now).await?,
                }
            }
            ApiAction::RejectExecutorChange { unit: u, reason } => Action::RejectExecutorChange {
                unit: unit(&u)?,
                reason,
            },
            ApiAction::ProposeExtension {
                unit: u,
                justification,
                new_deadline,
            } => Action::ProposeExtension {
                unit: unit(&u)?,
                justification,
                new_deadline,
                review: self.review_window(now)?,
            },
            ApiAction::AcceptExtension { unit: u } => Action::AcceptExtension { unit: unit(&u)? },
            ApiAction::RejectExtension { unit: u, reason } => Action::RejectExtension {
                unit: unit(&u)?,
                reason,
            },
            ApiAction::ProposeDeferral {
                unit: u,
                planned_date,
                applicant_note,
            } => Action::ProposeDeferral {
                unit: unit(&u)?,
                planned_date,
                applicant_note,
                local_today: local_date(now),
                review: self.review_window(now)?,
            },
            ApiAction::RegisterDeferral { unit: u } => Action::RegisterDeferral { unit: unit(&u)? },
            ApiAction::RejectDeferral { unit: u, reason } => Action::RejectDeferral {
                unit: unit(&u)?,
                reason,
            },
            ApiAction::ProposeClosing {
                unit: u,
                result,
                result_text,
            } => Action::ProposeClosing {
                unit: unit(&u)?,
                result,
                result_text,
                review: self.review_window(now)?,
            },
            ApiAction::ApproveClosing { unit: u } => Action::ApproveClosing { unit: unit(&u)? },
            ApiAction::SendBackForRework { unit: u, reason } => Action::SendBackForRework {
                unit: unit(&u)?,
                reason,
            },
            ApiAction::ReturnAfterSurvey { outcome, note } => {
                Action::ReturnAfterSurvey { outcome, note }
            }
        };
        let transition = workflow::apply(&state, action, &actor, now).map_err(workflow_error)?;
        let new = &transition.state;
        let json = state_json(new)?;
        let updated = sqlx::query(
            "UPDATE requests SET status = $1, version = $2, deadline = $3, original_deadline = $4, additional_control = $5, \
             long_term_until = $6, rework_count = $7, extension_count = $8, closed_at = $9, state_json = $10, updated_at = $11 \
             WHERE id = $12 AND version = $13",
        )
        .bind(new.status.as_str())
        .bind(new.version)
        .bind(to_db_time(new.deadline))
        .bind(new.original_deadline.map(to_db_time))
        .bind(i64::from(new.additional_control))
        .bind(new.long_term.as_ref().map(|l| l.planned_date.to_string()))
        .bind(i64::from(new.rework_count))
        .bind(i64::from(new.extension_count))
        .bind(new.closed_at.map(to_db_time))
        .bind(&json)
        .bind(to_db_time(now))
        .bind(id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(ApiError::Conflict(format!("request {number} was changed by someone else at the same moment; reload it and decide again")));
        }
        let number_parsed =
            RequestNumber::parse(number).map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?;
        write_transition(&mut tx, id, &number_parsed, user, &transition, now).await?;
        tx.commit().await?;
        row.version = new.version;
        row.status = new.status.as_str().to_owned();
        row.deadline = to_db_time(new.deadline);
        row.original_deadline = new.original_deadline.map(to_db_time);
        row.additional_control = i64::from(new.additional_control);
        row.long_term_until = new.long_term.as_ref().map(|l| l.planned_date.to_string());
        row.rework_count = i64::from(new.rework_count);
        row.extension_count = i64::from(new.extension_count);
        row.closed_at = new.closed_at.map(to_db_time);
        row.state_json = json;
        view(row, user, now)
    }
}

pub(crate) fn not_found(number: &str) -> ApiError {
    ApiError::NotFound(format!(
        "request {number} does not exist or is not assigned to your unit"
    ))
}

fn state_json(state: &RequestState) -> Result<String, ApiError> {
    serde_json::to_string(state).map_err(|e| ApiError::Internal(e.into()))
}

/// One audit row to write.
struct AuditRow {
    action: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    comment: Option<String>,
    at: DateTime<Utc>,
}

/// PostgreSQL: create the year's request-number SEQUENCE, starting after what the counter
/// table already handed out (numbers before this scheme), so numbers stay unique. `nextval` takes
/// no row lock and needs no commit, so concurrent registrations never queue on it; numbers of a
/// failed registration are skipped (gaps are allowed).
async fn create_number_sequence(storage: &Storage, year: i64) -> Result<(), ApiError> {
    let start: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(last), 0) + 1 FROM request_numbers WHERE year = $1",
    )
    .bind(year)
    .fetch_one(storage.writer())
    .await?;
    // `year` and `start` are our own integers, never client text.
    let created = sqlx::query(&format!(
        "CREATE SEQUENCE IF NOT EXISTS request_number_{year} START WITH {start}"
    ))
    .execute(storage.writer())
    .await;
    match created {
        Ok(_) => Ok(()),
        // Another instance created it at the same moment.
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The rows a transition writes: audit rows for its events (after `first`, if any), the
/// request's current executor rows `(request_id, unit, status)`, and its notices.
fn transition_rows(
    request_id: i64,
    number: &RequestNumber,
    user: &AuthUser,
    transition: &Transition,
    first: Option<AuditRow>,
    now: DateTime<Utc>,
) -> Result<TransitionRows, ApiError> {
    let mut audit: Vec<AuditRow> = first.into_iter().collect();
    for event in &transition.events {
        let mut after =
            serde_json::to_value(&event.after).map_err(|e| ApiError::Internal(e.into()))?;
        if let (Some(obj), Ok(serde_json::Value::Object(kind))) =
            (after.as_object_mut(), serde_json::to_value(&event.kind))
        {
            obj.insert(
                "event".into(),
                kind.get("event").cloned().unwrap_or_default(),
            );
            obj.insert("details".into(), serde_json::Value::Object(kind));
            obj.insert(
                "unit".into(),
                serde_json::to_value(&event.unit).unwrap_or_default(),
            );
        }
        audit.push(AuditRow {
            action: format!("request.{}", event.action),
            before: Some(
                serde_json::to_value(&event.before).map_err(|e| ApiError::Internal(e.into()))?,
            ),
            after: Some(after),
            comment: event.comment.clone(),
            at: event.at,
        });
    }
    let entity_id = number.to_string();
    let audit = audit
        .into_iter()
        .map(|row| AuditInsert {
            at: to_db_time(row.at),
            actor_id: user.id,
            actor: user.login.clone(),
            action: row.action,
            entity_id: entity_id.clone(),
            before: row.before.map(|b| b.to_string()),
            after: row.after.map(|a| a.to_string()),
            comment: row.comment,
        })
        .collect();
    let executors = transition
        .state
        .current_assignments()
        .map(|a| ExecutorInsert {
            request_id,
            unit: a.unit.as_str().to_owned(),
            status: a.status.as_str().to_owned(),
        })
        .collect();
    let notices = transition
        .notifications
        .iter()
        .map(|notification| {
            let (audience, unit, kind, visible_from, review_due) = match notification {
                Notification::NotifyExecutor { unit, kind } => (
                    "executor",
                    Some(unit.as_str().to_owned()),
                    enum_name(kind),
                    now,
                    None,
                ),
                Notification::NotifyOperators {
                    kind,
                    unit,
                    visible_from,
                    review_due,
                } => (
                    "operators",
                    unit.as_ref().map(|u| u.as_str().to_owned()),
                    enum_name(kind),
                    *visible_from,
                    *review_due,
                ),
            };
            NoticeInsert {
                request_id,
                audience,
                unit,
                kind,
                visible_from: to_db_time(visible_from),
                review_due: review_due.map(to_db_time),
                created_at: to_db_time(now),
            }
        })
        .collect();
    Ok(TransitionRows {
        audit,
        executors,
        notices,
    })
}

/// Write a transition of a stored request inside `tx`: its audit rows, its executor rows
/// (replacing the old ones), its notices; an operator's decision also settles the proposals
/// waiting in the operators' queue.
async fn write_transition(
    tx: &mut sqlx::Transaction<'_, Any>,
    request_id: i64,
    number: &RequestNumber,
    user: &AuthUser,
    transition: &Transition,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let TransitionRows {
        audit,
        executors,
        notices,
    } = transition_rows(request_id, number, user, transition, None, now)?;
    rows::insert_chunked(tx, &audit, rows::AUDIT_WIDTH, rows::audit_sql).await?;
    sqlx::query("DELETE FROM request_executors WHERE request_id = $1")
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
    rows::insert_chunked(tx, &executors, rows::EXECUTOR_WIDTH, rows::executors_sql).await?;
    if matches!(user.role, Role::Operator | Role::Supervisor) {
        sqlx::query("UPDATE notices SET resolved_at = $1 WHERE request_id = $2 AND audience = 'operators' AND resolved_at IS NULL")
            .bind(to_db_time(now))
            .bind(request_id)
            .execute(&mut **tx)
            .await?;
    }
    rows::insert_chunked(tx, &notices, rows::NOTICE_WIDTH, rows::notices_sql).await?;
    Ok(())
}

/// The serde name of a unit enum variant (`"new_assignment"`).
fn enum_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
