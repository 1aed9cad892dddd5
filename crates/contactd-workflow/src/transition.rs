//! The output of a transition: the new state, the domain events for the audit trail, and the
//! notifications for the outbox, all written by the daemon in one database transaction.

use chrono::{DateTime, NaiveDate, Utc};
use contactd_domain::{ExecutorCode, Login};
use serde::{Deserialize, Serialize};

use crate::action::{ActionKind, SurveyOutcome};
use crate::actor::Role;
use crate::model::{AssignmentStatus, RequestState, RequestStatus, ResultKind};

/// The result of a successful [`crate::apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The new state; its `version` is the old one + 1.
    pub state: RequestState,
    /// What happened, for the audit trail (one row each).
    pub events: Vec<DomainEvent>,
    /// What to tell whom, for the outbox (one row each).
    pub notifications: Vec<Notification>,
}

/// Who did it, as recorded in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorRef {
    pub login: Option<Login>,
    pub role: Role,
}

/// An audit-trail entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub at: DateTime<Utc>,
    pub actor: ActorRef,
    pub action: ActionKind,
    /// The assignment concerned, if any.
    pub unit: Option<ExecutorCode>,
    #[serde(flatten)]
    pub kind: EventKind,
    /// The free text of the action (reason, justification, comment, note, result).
    pub comment: Option<String>,
    pub before: Snapshot,
    pub after: Snapshot,
}

/// What happened, with the facts other modules query (escalation, statistics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    ExecutorsAssigned {
        units: Vec<ExecutorCode>,
    },
    AssignmentAccepted,
    StatusCommented,
    CompetenceDeclined,
    ReturnedToOperator,
    ExecutorChangeRequested,
    ExecutorChangeApproved {
        new_unit: ExecutorCode,
        new_deadline: DateTime<Utc>,
    },
    ExecutorChangeRejected,
    ExtensionProposed {
        new_deadline: DateTime<Utc>,
        /// Proposed after the deadline had passed: a violation for the escalation module.
        after_deadline: bool,
    },
    ExtensionAccepted {
        previous_deadline: DateTime<Utc>,
        new_deadline: DateTime<Utc>,
        original_deadline: DateTime<Utc>,
        after_deadline: bool,
    },
    ExtensionRejected {
        after_deadline: bool,
    },
    DeferralProposed {
        planned_date: NaiveDate,
    },
    DeferralRegistered {
        planned_date: NaiveDate,
    },
    DeferralRejected,
    ReturnedFromLongTerm {
        planned_date: NaiveDate,
        new_deadline: DateTime<Utc>,
    },
    ClosingProposed {
        result: ResultKind,
        visible_from: DateTime<Utc>,
        review_due: DateTime<Utc>,
    },
    ClosingApproved {
        result: ResultKind,
    },
    RequestClosed,
    SentBackForRework {
        rework_count: u32,
    },
    SurveyReturnedForRework {
        outcome: SurveyOutcome,
        units: Vec<ExecutorCode>,
    },
}

/// The facts of a request an audit reader needs, before and after a transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: i64,
    pub status: RequestStatus,
    pub deadline: DateTime<Utc>,
    pub additional_control: bool,
    pub long_term_planned_date: Option<NaiveDate>,
    /// The assignment concerned, if any.
    pub assignment: Option<AssignmentSnapshot>,
}

/// One assignment in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentSnapshot {
    pub unit: ExecutorCode,
    pub status: AssignmentStatus,
    pub status_comment: Option<String>,
}

impl Snapshot {
    /// The snapshot of `state`, with `unit`'s current assignment.
    pub fn of(state: &RequestState, unit: Option<&ExecutorCode>) -> Self {
        Self {
            version: state.version,
            status: state.status,
            deadline: state.deadline,
            additional_control: state.additional_control,
            long_term_planned_date: state.long_term.as_ref().map(|l| l.planned_date),
            assignment: unit
                .and_then(|u| state.assignment(u))
                .map(|a| AssignmentSnapshot {
                    unit: a.unit.clone(),
                    status: a.status,
                    status_comment: a.status_comment.clone(),
                }),
        }
    }
}

/// A message to send (outbox row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notification {
    /// Tell the members of an executor unit.
    NotifyExecutor {
        unit: ExecutorCode,
        kind: ExecutorNotice,
    },
    /// Put an item into the operators' queue.
    NotifyOperators {
        kind: OperatorNotice,
        unit: Option<ExecutorCode>,
        /// Not shown before this time (proposals made outside working hours).
        visible_from: DateTime<Utc>,
        /// Decision due by this time, for proposals.
        review_due: Option<DateTime<Utc>>,
    },
}

/// Why an executor unit is notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorNotice {
    NewAssignment,
    AssignmentWithdrawn,
    ExecutorChangeRejected,
    ExtensionAccepted,
    ExtensionRejected,
    DeferralRegistered,
    DeferralRejected,
    ReturnedFromLongTerm,
    ClosingApproved,
    Rework,
}

/// Why the operators' queue gets an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorNotice {
    ExecutorChangeRequested,
    ExtensionProposed,
    DeferralProposed,
    ClosingProposed,
    /// Every executor declined competence: route the request again.
    ReturnedForRerouting,
}
