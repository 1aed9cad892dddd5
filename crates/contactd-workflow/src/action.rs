//! The actions of the life cycle, as the API and the scheduler submit them.

use chrono::{DateTime, NaiveDate, Utc};
use contactd_domain::ExecutorCode;
use serde::{Deserialize, Serialize};

use crate::model::ResultKind;

/// The contact center's working time around `now`, computed by the daemon from its calendar so
/// that the transition function stays pure. Every executor proposal carries one: the operator
/// sees a proposal at once in working hours and decides by the end of the next working day; a
/// proposal made outside working hours appears in the queue at the start of the next working day
/// and is due by its end (9.5: "considered on the next working day").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewWindow {
    /// `now` falls within the contact center's working hours.
    pub within_working_hours: bool,
    /// Start of the first working day that starts after `now`.
    pub next_working_day_start: DateTime<Utc>,
    /// End of that working day.
    pub next_working_day_end: DateTime<Utc>,
}

/// Why the random telephone survey sends a closed request back (9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyOutcome {
    /// The applicant did not confirm the execution.
    NotConfirmed,
    /// The applicant confirmed it, but the quality is poor.
    PoorQuality,
}

/// An action on a request. `unit` names the assignment acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Send the request to one or more executor units. `new_deadline` replaces the deadline when
    /// re-routing a request that came back to the operator (the new executor learns of it only now).
    AssignExecutors {
        units: Vec<ExecutorCode>,
        new_deadline: Option<DateTime<Utc>>,
    },
    /// The unit accepts the request and starts work.
    Accept { unit: ExecutorCode },
    /// The unit writes its "comment on the current status".
    CommentStatus { unit: ExecutorCode, comment: String },
    /// 7.2, several executors: "outside our competence" in the status comment.
    DeclineCompetence { unit: ExecutorCode, comment: String },
    /// 7.2, the only executor: asks for another executor.
    RequestExecutorChange {
        unit: ExecutorCode,
        reason: String,
        review: ReviewWindow,
    },
    /// The operator approves the change; `new_deadline` is computed by the daemon from the
    /// approval time (the regulated term of the request's classifier item, counted from now).
    ApproveExecutorChange {
        unit: ExecutorCode,
        new_unit: ExecutorCode,
        new_deadline: DateTime<Utc>,
    },
    /// The operator rejects the change; the unit keeps the request.
    RejectExecutorChange { unit: ExecutorCode, reason: String },
    /// 9.3: the unit proposes a later deadline with a reasoned justification.
    ProposeExtension {
        unit: ExecutorCode,
        justification: String,
        new_deadline: DateTime<Utc>,
        review: ReviewWindow,
    },
    /// 9.3: the operator accepts: the deadline moves and the request is under additional control.
    AcceptExtension { unit: ExecutorCode },
    /// 9.3: the operator rejects the extension.
    RejectExtension { unit: ExecutorCode, reason: String },
    /// 9.4: the unit reports execution in the next budget year. `local_today` is today's date in
    /// the contact center's time zone (the budget year is a calendar year there).
    ProposeDeferral {
        unit: ExecutorCode,
        planned_date: NaiveDate,
        applicant_note: String,
        local_today: NaiveDate,
        review: ReviewWindow,
    },
    /// 9.4: the operator registers the request into long-term control ("Strategy" register).
    RegisterDeferral { unit: ExecutorCode },
    /// 9.4: the operator rejects the deferral.
    RejectDeferral { unit: ExecutorCode, reason: String },
    /// 9.4: the scheduler returns the request to active control on (or after) its planned date.
    /// `new_deadline` is computed by the daemon (by default: the planned date's end of day).
    ReturnFromLongTerm {
        local_today: NaiveDate,
        new_deadline: DateTime<Utc>,
    },
    /// 9.5: the unit proposes closing.
    ProposeClosing {
        unit: ExecutorCode,
        result: ResultKind,
        result_text: String,
        review: ReviewWindow,
    },
    /// 9.5: the operator approves the unit's execution; the request closes when no unit has
    /// anything left to do.
    ApproveClosing { unit: ExecutorCode },
    /// 9.5: the operator sends the unit's execution back for rework.
    SendBackForRework { unit: ExecutorCode, reason: String },
    /// 9.6: the survey did not confirm execution or found poor quality: the closed request goes
    /// back to every unit whose execution was approved, for rework.
    ReturnAfterSurvey {
        outcome: SurveyOutcome,
        note: String,
    },
}

/// The name of an action, without its data (for errors, the rules table and the console).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    AssignExecutors,
    Accept,
    CommentStatus,
    DeclineCompetence,
    RequestExecutorChange,
    ApproveExecutorChange,
    RejectExecutorChange,
    ProposeExtension,
    AcceptExtension,
    RejectExtension,
    ProposeDeferral,
    RegisterDeferral,
    RejectDeferral,
    ReturnFromLongTerm,
    ProposeClosing,
    ApproveClosing,
    SendBackForRework,
    ReturnAfterSurvey,
}

impl ActionKind {
    /// Every action, in life-cycle order.
    pub const ALL: [Self; 18] = [
        Self::AssignExecutors,
        Self::Accept,
        Self::CommentStatus,
        Self::DeclineCompetence,
        Self::RequestExecutorChange,
        Self::ApproveExecutorChange,
        Self::RejectExecutorChange,
        Self::ProposeExtension,
        Self::AcceptExtension,
        Self::RejectExtension,
        Self::ProposeDeferral,
        Self::RegisterDeferral,
        Self::RejectDeferral,
        Self::ReturnFromLongTerm,
        Self::ProposeClosing,
        Self::ApproveClosing,
        Self::SendBackForRework,
        Self::ReturnAfterSurvey,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AssignExecutors => "assign_executors",
            Self::Accept => "accept",
            Self::CommentStatus => "comment_status",
            Self::DeclineCompetence => "decline_competence",
            Self::RequestExecutorChange => "request_executor_change",
            Self::ApproveExecutorChange => "approve_executor_change",
            Self::RejectExecutorChange => "reject_executor_change",
            Self::ProposeExtension => "propose_extension",
            Self::AcceptExtension => "accept_extension",
            Self::RejectExtension => "reject_extension",
            Self::ProposeDeferral => "propose_deferral",
            Self::RegisterDeferral => "register_deferral",
            Self::RejectDeferral => "reject_deferral",
            Self::ReturnFromLongTerm => "return_from_long_term",
            Self::ProposeClosing => "propose_closing",
            Self::ApproveClosing => "approve_closing",
            Self::SendBackForRework => "send_back_for_rework",
            Self::ReturnAfterSurvey => "return_after_survey",
        }
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    /// The action's name.
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::AssignExecutors { .. } => ActionKind::AssignExecutors,
            Self::Accept { .. } => ActionKind::Accept,
            Self::CommentStatus { .. } => ActionKind::CommentStatus,
            Self::DeclineCompetence { .. } => ActionKind::DeclineCompetence,
            Self::RequestExecutorChange { .. } => ActionKind::RequestExecutorChange,
            Self::ApproveExecutorChange { .. } => ActionKind::ApproveExecutorChange,
            Self::RejectExecutorChange { .. } => ActionKind::RejectExecutorChange,
            Self::ProposeExtension { .. } => ActionKind::ProposeExtension,
            Self::AcceptExtension { .. } => ActionKind::AcceptExtension,
            Self::RejectExtension { .. } => ActionKind::RejectExtension,
            Self::ProposeDeferral { .. } => ActionKind::ProposeDeferral,
            Self::RegisterDeferral { .. } => ActionKind::RegisterDeferral,
            Self::RejectDeferral { .. } => ActionKind::RejectDeferral,
            Self::ReturnFromLongTerm { .. } => ActionKind::ReturnFromLongTerm,
            Self::ProposeClosing { .. } => ActionKind::ProposeClosing,
            Self::ApproveClosing { .. } => ActionKind::ApproveClosing,
            Self::SendBackForRework { .. } => ActionKind::SendBackForRework,
            Self::ReturnAfterSurvey { .. } => ActionKind::ReturnAfterSurvey,
        }
    }

    /// The unit whose assignment the action targets, if it targets one.
    pub fn unit(&self) -> Option<&ExecutorCode> {
        match self {
            Self::AssignExecutors { .. }
            | Self::ReturnFromLongTerm { .. }
            | Self::ReturnAfterSurvey { .. } => None,
            Self::Accept { unit }
            | Self::CommentStatus { unit, .. }
            | Self::DeclineCompetence { unit, .. }
            | Self::RequestExecutorChange { unit, .. }
            | Self::ApproveExecutorChange { unit, .. }
            | Self::RejectExecutorChange { unit, .. }
            | Self::ProposeExtension { unit, .. }
            | Self::AcceptExtension { unit }
            | Self::RejectExtension { unit, .. }
            | Self::ProposeDeferral { unit, .. }
            | Self::RegisterDeferral { unit }
            | Self::RejectDeferral { unit, .. }
            | Self::ProposeClosing { unit, .. }
            | Self::ApproveClosing { unit }
            | Self::SendBackForRework { unit, .. } => Some(unit),
        }
    }
}
