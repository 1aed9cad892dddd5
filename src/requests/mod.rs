//! Requests: the service that applies the pure workflow (`contactd-workflow`) to stored requests.
//!
//! Every change runs in one database transaction: the request row (with an optimistic `version`
//! check), its executor rows, the audit rows of the transition's events, and the notices it
//! raises. The workflow state is stored whole as JSON (`state_json`), with the columns that
//! filters, reports and scans need kept in step with it.

mod query;

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

use query::{view, Row, COLUMNS};

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
            if let Some(number) = self.by_idempotency_key(user.id, key).await? {
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
        let actor = actor_of(user);

        const NEXT_NUMBER: &str = "INSERT INTO request_numbers (year, last) VALUES ($1, 1) \
             ON CONFLICT (year) DO UPDATE SET last = request_numbers.last + 1 RETURNING last";
        let year = i64::from(chrono::Datelike::year(&local_date(now)));
        // PostgreSQL: the number comes from a sequence outside the transaction, so concurrent
        // registrations do not queue on a counter row (numbers may have gaps, which is allowed).
        // SQLite: one writer anyway, so the counter row is updated inside the transaction.
        let early_seq: Option<i64> = match self.storage.backend() {
            crate::config::Backend::Postgres => Some(self.next_number_postgres(year).await?),
            crate::config::Backend::Sqlite => None,
        };
        let mut tx = self.storage.writer().begin().await?;
        let applicant_id = match &input.applicant {
            Some(a) => Some(upsert_applicant(&mut tx, a, phone.as_ref(), now).await?),
            None => None,
        };
        let seq: i64 = match early_seq {
            Some(seq) => seq,
            None => {
                sqlx::query_scalar(NEXT_NUMBER)
                    .bind(year)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        let number = RequestNumber::new(
            u16::try_from(year)
                .map_err(|_| ApiError::Internal(anyhow::anyhow!("year {year} out of range")))?,
            u32::try_from(seq)
                .map_err(|_| ApiError::Internal(anyhow::anyhow!("sequence {seq} out of range")))?,
        )
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("request number: {e}")))?;
        let registered = RequestState::registered(number, now, deadline);
        let transition = workflow::apply(
            &registered,
            Action::AssignExecutors {
                units,
                new_deadline: None,
            },
            &actor,
            now,
        )
        .map_err(workflow_error)?;
        let state = &transition.state;
        let json = state_json(state)?;
        let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(
            "INSERT INTO requests (number, channel, applicant_id, address, description, classifier_code, classifier_revision, \
             classifier_title, section, area, request_type, term, call_id, status, version, registered_at, deadline, \
             original_deadline, additional_control, long_term_until, rework_count, extension_count, closed_at, created_by, \
             idempotency_key, state_json, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, NULL, 0, NULL, 0, 0, NULL, $18, $19, $20, $21) \
             RETURNING id",
        )
        .bind(number.to_string())
        .bind(input.channel.as_str())
        .bind(applicant_id)
        .bind(input.address.trim())
        .bind(input.description.trim())
        .bind(filed.item_ref.code.to_string())
        .bind(i64::from(filed.item_ref.revision.0))
        .bind(&filed.item.title)
        .bind(filed.item_ref.code.section().to_string())
        .bind(&filed.area)
        .bind(kind.key())
        .bind(filed.term.to_string())
        .bind(input.call_id.as_deref())
        .bind(state.status.as_str())
        .bind(state.version)
        .bind(to_db_time(state.registered_at))
        .bind(to_db_time(state.deadline))
        .bind(user.id)
        .bind(idempotency_key.as_deref())
        .bind(&json)
        .bind(to_db_time(now))
        .fetch_one(&mut *tx)
        .await;
        let id = match inserted {
            Ok(id) => id,
            Err(sqlx::Error::Database(db))
                if db.is_unique_violation() && idempotency_key.is_some() =>
            {
                // A concurrent retry with the same key won the race: answer with its request.
                drop(tx);
                let key = idempotency_key.unwrap_or_default();
                let number = self
                    .by_idempotency_key(user.id, &key)
                    .await?
                    .ok_or_else(|| {
                        ApiError::Conflict(
                            "a request with this Idempotency-Key is being created; retry shortly"
                                .into(),
                        )
                    })?;
                return Ok((get(self, user, &number, now).await?, false));
            }
            Err(e) => return Err(e.into()),
        };
        let created = AuditRow {
            action: "request.create".into(),
            before: None,
            after: Some(serde_json::json!({
                "classifier_code": filed.item_ref.code.to_string(),
                "classifier_revision": filed.item_ref.revision.0,
                "request_type": kind.key(),
                "term": filed.term.to_string(),
                "deadline": deadline,
                "call_id": input.call_id,
            })),
            comment: None,
            at: now,
        };
        write_transition(
            &mut tx,
            id,
            &number,
            user,
            &transition,
            Some(created),
            true,
            now,
        )
        .await?;
        tx.commit().await?;
        // Answer from what was just written; no second read through the (single SQLite) writer.
        let row = Row {
            id,
            number: number.to_string(),
            version: state.version,
            status: state.status.as_str().to_owned(),
            channel: input.channel.as_str().to_owned(),
            applicant_id,
            address: input.address.trim().to_owned(),
            description: input.description.trim().to_owned(),
            classifier_code: filed.item_ref.code.to_string(),
            classifier_revision: i64::from(filed.item_ref.revision.0),
            classifier_title: filed.item.title.clone(),
            request_type: kind.key().to_owned(),
            term: filed.term.to_string(),
            call_id: input.call_id.clone(),
            registered_at: to_db_time(state.registered_at),
            deadline: to_db_time(state.deadline),
            original_deadline: None,
            additional_control: 0,
            long_term_until: None,
            rework_count: 0,
            extension_count: 0,
            closed_at: None,
            state_json: json,
        };
        Ok((view(row, user, now)?, true))
    }

    /// PostgreSQL: the year's number from a per-year SEQUENCE (created on first use). `nextval`
    /// takes no row lock and needs no commit, so concurrent registrations never queue on it.
    async fn next_number_postgres(&self, year: i64) -> Result<i64, ApiError> {
        // `year` is our own integer, never client text.
        let name = format!("request_number_{year}");
        let next = format!("SELECT nextval('{name}')");
        match sqlx::query_scalar::<_, i64>(&next)
            .fetch_one(self.storage.writer())
            .await
        {
            Ok(seq) => Ok(seq),
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P01") => {
                // Start after what the counter table already handed out (numbers before this
                // scheme), so numbers stay unique.
                let start: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(last), 0) + 1 FROM request_numbers WHERE year = $1",
                )
                .bind(year)
                .fetch_one(self.storage.writer())
                .await?;
                let created = sqlx::query(&format!(
                    "CREATE SEQUENCE IF NOT EXISTS {name} START WITH {start}"
                ))
                .execute(self.storage.writer())
                .await;
                match created {
                    Ok(_) => {}
                    // Another instance created it at the same moment.
                    Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {}
                    Err(e) => return Err(e.into()),
                }
                Ok(sqlx::query_scalar::<_, i64>(&next)
                    .fetch_one(self.storage.writer())
                    .await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn by_idempotency_key(
        &self,
        user_id: i64,
        key: &str,
    ) -> Result<Option<String>, ApiError> {
        Ok(sqlx::query_scalar(
            "SELECT number FROM requests WHERE created_by = $1 AND idempotency_key = $2",
        )
        .bind(user_id)
        .bind(key)
        .fetch_optional(self.storage.writer())
        .await?)
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
        write_transition(
            &mut tx,
            id,
            &number_parsed,
            user,
            &transition,
            None,
            false,
            now,
        )
        .await?;
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

async fn upsert_applicant(
    tx: &mut sqlx::Transaction<'_, Any>,
    input: &ApplicantInput,
    phone: Option<&PhoneNumber>,
    now: DateTime<Utc>,
) -> Result<i64, ApiError> {
    if let Some(phone) = phone {
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT applicant_id FROM applicant_phones WHERE e164 = $1")
                .bind(phone.as_e164())
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(id) = existing {
            // Fill in what the applicant told us this time; an empty field keeps what we had.
            sqlx::query(
                "UPDATE applicants SET name = CASE WHEN $1 = '' THEN name ELSE $2 END, \
                 address = CASE WHEN $3 = '' THEN address ELSE $4 END, \
                 no_survey = CASE WHEN $5 = 1 THEN 1 ELSE no_survey END, updated_at = $6 WHERE id = $7",
            )
            .bind(input.name.trim())
            .bind(input.name.trim())
            .bind(input.address.trim())
            .bind(input.address.trim())
            .bind(i64::from(input.no_survey))
            .bind(to_db_time(now))
            .bind(id)
            .execute(&mut **tx)
            .await?;
            return Ok(id);
        }
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO applicants (name, address, no_survey, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(input.name.trim())
    .bind(input.address.trim())
    .bind(i64::from(input.no_survey))
    .bind(to_db_time(now))
    .bind(to_db_time(now))
    .fetch_one(&mut **tx)
    .await?;
    if let Some(phone) = phone {
        sqlx::query("INSERT INTO applicant_phones (e164, applicant_id) VALUES ($1, $2)")
            .bind(phone.as_e164())
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(id)
}

/// One audit row to write.
struct AuditRow {
    action: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    comment: Option<String>,
    at: DateTime<Utc>,
}

/// Audit rows for the transition's events (after `first`, if any), executor rows, and notices —
/// inside `tx`, each kind in one multi-row statement. `fresh`: the request was just inserted, so
/// there are no executor rows to replace.
#[allow(clippy::too_many_arguments)]
async fn write_transition(
    tx: &mut sqlx::Transaction<'_, Any>,
    request_id: i64,
    number: &RequestNumber,
    user: &AuthUser,
    transition: &Transition,
    first: Option<AuditRow>,
    fresh: bool,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
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
    if !audit.is_empty() {
        let values: Vec<String> = (0..audit.len())
            .map(|i| {
                let b = i * 8;
                format!(
                    "(${}, ${}, ${}, ${}, 'request', ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO audit_log (at, actor_id, actor, action, entity, entity_id, before_json, after_json, comment) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for row in &audit {
            query = query
                .bind(to_db_time(row.at))
                .bind(user.id)
                .bind(user.login.as_str())
                .bind(row.action.as_str())
                .bind(number.to_string())
                .bind(row.before.as_ref().map(|b| b.to_string()))
                .bind(row.after.as_ref().map(|a| a.to_string()))
                .bind(row.comment.as_deref());
        }
        query.execute(&mut **tx).await?;
    }
    if !fresh {
        sqlx::query("DELETE FROM request_executors WHERE request_id = $1")
            .bind(request_id)
            .execute(&mut **tx)
            .await?;
    }
    let current: Vec<_> = transition.state.current_assignments().collect();
    if !current.is_empty() {
        let values: Vec<String> = (0..current.len())
            .map(|i| format!("(${}, ${}, ${})", i * 3 + 1, i * 3 + 2, i * 3 + 3))
            .collect();
        let sql = format!(
            "INSERT INTO request_executors (request_id, executor_code, status) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for assignment in current {
            query = query
                .bind(request_id)
                .bind(assignment.unit.as_str())
                .bind(assignment.status.as_str());
        }
        query.execute(&mut **tx).await?;
    }
    // An operator's decision settles the proposals waiting in the operators' queue.
    if !fresh && matches!(user.role, Role::Operator | Role::Supervisor) {
        sqlx::query("UPDATE notices SET resolved_at = $1 WHERE request_id = $2 AND audience = 'operators' AND resolved_at IS NULL")
            .bind(to_db_time(now))
            .bind(request_id)
            .execute(&mut **tx)
            .await?;
    }
    for notification in &transition.notifications {
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
        sqlx::query(
            "INSERT INTO notices (request_id, audience, unit, kind, visible_from, review_due, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(request_id)
        .bind(audience)
        .bind(unit)
        .bind(kind)
        .bind(to_db_time(visible_from))
        .bind(review_due.map(to_db_time))
        .bind(to_db_time(now))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The serde name of a unit enum variant (`"new_assignment"`).
fn enum_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
