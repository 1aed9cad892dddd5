//! The request as stored: request-level status, deadline, control flags, and one assignment per
//! executor unit with its own status, "comment on the current status" and pending proposal.

use chrono::{DateTime, NaiveDate, Utc};
use contactd_domain::{ExecutorCode, RequestNumber};
use serde::{Deserialize, Serialize};

/// Status of the request as a whole. It is a projection of the assignments and the request-level
/// facts (closed, long-term control), recomputed by [`RequestState::derived_status`] after every
/// transition and stored for queries; see the crate README for the precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Registered by an operator, not yet sent to any executor.
    Registered,
    /// Sent to executor(s); none has accepted yet.
    Sent,
    /// At least one executor works on it.
    InProgress,
    /// Sent back for rework (9.5, 9.6).
    Rework,
    /// The only executor asked to change the executor (7.2).
    ExecutorChangeRequested,
    /// An executor proposed a deadline extension (9.3).
    ExtensionProposed,
    /// An executor reported a next-budget-year deferral (9.4).
    DeferralProposed,
    /// An executor proposed closing (9.5).
    ClosingProposed,
    /// In the "Strategy" register until its planned date (9.4); out of ordinary overdue statistics.
    LongTermControl,
    /// No executor is left (all declined competence): the operator must route it again.
    ReturnedToOperator,
    /// Execution approved for every executor.
    Closed,
}

impl RequestStatus {
    /// Every status, in declaration order.
    pub const ALL: [Self; 11] = [
        Self::Registered,
        Self::Sent,
        Self::InProgress,
        Self::Rework,
        Self::ExecutorChangeRequested,
        Self::ExtensionProposed,
        Self::DeferralProposed,
        Self::ClosingProposed,
        Self::LongTermControl,
        Self::ReturnedToOperator,
        Self::Closed,
    ];

    /// The stable snake_case name (as in the database and the API).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Sent => "sent",
            Self::InProgress => "in_progress",
            Self::Rework => "rework",
            Self::ExecutorChangeRequested => "executor_change_requested",
            Self::ExtensionProposed => "extension_proposed",
            Self::DeferralProposed => "deferral_proposed",
            Self::ClosingProposed => "closing_proposed",
            Self::LongTermControl => "long_term_control",
            Self::ReturnedToOperator => "returned_to_operator",
            Self::Closed => "closed",
        }
    }
}

impl std::fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Status of one (request, executor unit) assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStatus {
    /// Sent to the unit, not yet accepted.
    Sent,
    /// Accepted; the unit works on it.
    InProgress,
    /// Sent back for rework; the unit works on it again.
    Rework,
    /// The unit (the only executor) asked to change the executor; awaiting the operator.
    ExecutorChangeRequested,
    /// The unit proposed an extension; awaiting the operator.
    ExtensionProposed,
    /// The unit reported a next-budget-year deferral; awaiting the operator.
    DeferralProposed,
    /// The unit proposed closing; awaiting the operator.
    ClosingProposed,
    /// The unit's deferral was registered: the request is under long-term control.
    Deferred,
    /// The operator approved this unit's execution.
    Completed,
    /// The unit stated "outside our competence" (one of several executors, 7.2).
    DeclinedCompetence,
    /// The unit was replaced after an approved change of executor (7.2).
    Withdrawn,
}

impl AssignmentStatus {
    /// Every status, in declaration order.
    pub const ALL: [Self; 11] = [
        Self::Sent,
        Self::InProgress,
        Self::Rework,
        Self::ExecutorChangeRequested,
        Self::ExtensionProposed,
        Self::DeferralProposed,
        Self::ClosingProposed,
        Self::Deferred,
        Self::Completed,
        Self::DeclinedCompetence,
        Self::Withdrawn,
    ];

    /// Statuses in which the unit works and may make a proposal.
    pub const WORKING: [Self; 3] = [Self::Sent, Self::InProgress, Self::Rework];

    /// The stable snake_case name (as in the database and the API).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::InProgress => "in_progress",
            Self::Rework => "rework",
            Self::ExecutorChangeRequested => "executor_change_requested",
            Self::ExtensionProposed => "extension_proposed",
            Self::DeferralProposed => "deferral_proposed",
            Self::ClosingProposed => "closing_proposed",
            Self::Deferred => "deferred",
            Self::Completed => "completed",
            Self::DeclinedCompetence => "declined_competence",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// The unit still has something to do (work, a pending proposal, a deferral).
    pub fn is_active(self) -> bool {
        !matches!(
            self,
            Self::Completed | Self::DeclinedCompetence | Self::Withdrawn
        )
    }

    /// The unit is (still) an executor of the request: active or completed.
    pub fn is_live(self) -> bool {
        !matches!(self, Self::DeclinedCompetence | Self::Withdrawn)
    }

    /// A proposal of the unit awaits the operator's decision.
    pub fn is_proposal(self) -> bool {
        matches!(
            self,
            Self::ExecutorChangeRequested
                | Self::ExtensionProposed
                | Self::DeferralProposed
                | Self::ClosingProposed
        )
    }
}

impl std::fmt::Display for AssignmentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the executor resolved the matter (9.5: solved, or a reasoned explanation was given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultKind {
    /// The problem is solved.
    Done,
    /// A reasoned explanation was given to the applicant.
    Explained,
}

/// What a unit proposes; the operator decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProposalKind {
    /// 7.2: the only executor asks for another executor.
    ExecutorChange { reason: String },
    /// 9.3: a later deadline with a reasoned justification.
    Extension {
        justification: String,
        new_deadline: DateTime<Utc>,
        /// The proposal came after the deadline had passed (the escalation module counts it as a
        /// violation of 9.2).
        after_deadline: bool,
    },
    /// 9.4: execution in the next budget year, with the note given to the applicant.
    Deferral {
        planned_date: NaiveDate,
        applicant_note: String,
    },
    /// 9.5: the matter is solved or explained.
    Closing { result: ResultKind, text: String },
}

impl ProposalKind {
    /// The assignment status that this proposal puts the assignment in.
    pub fn assignment_status(&self) -> AssignmentStatus {
        match self {
            Self::ExecutorChange { .. } => AssignmentStatus::ExecutorChangeRequested,
            Self::Extension { .. } => AssignmentStatus::ExtensionProposed,
            Self::Deferral { .. } => AssignmentStatus::DeferralProposed,
            Self::Closing { .. } => AssignmentStatus::ClosingProposed,
        }
    }
}

/// A proposal awaiting the operator's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    #[serde(flatten)]
    pub kind: ProposalKind,
    pub submitted_at: DateTime<Utc>,
    /// When it appears in the operator queue: at once in working hours, else at the start of the
    /// next working day (9.5).
    pub visible_from: DateTime<Utc>,
    /// By when the operator must decide: the end of the next working day.
    pub review_due: DateTime<Utc>,
    /// The status the assignment goes back to when the operator rejects the proposal.
    pub resume_status: AssignmentStatus,
}

/// The approved result of a unit's execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionResult {
    pub kind: ResultKind,
    pub text: String,
    pub approved_at: DateTime<Utc>,
}

/// One executor unit's part of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub unit: ExecutorCode,
    pub status: AssignmentStatus,
    /// "Comment on the current status" (Коментар до поточного стану), written by the unit.
    pub status_comment: Option<String>,
    pub assigned_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    /// Present exactly when `status.is_proposal()`.
    pub proposal: Option<Proposal>,
    /// Present exactly when `status` is `completed`.
    pub result: Option<ExecutionResult>,
    /// How many times this unit's execution was sent back for rework.
    pub rework_count: u32,
}

impl Assignment {
    /// A fresh assignment, just sent to `unit`.
    pub fn sent(unit: ExecutorCode, at: DateTime<Utc>) -> Self {
        Self {
            unit,
            status: AssignmentStatus::Sent,
            status_comment: None,
            assigned_at: at,
            accepted_at: None,
            proposal: None,
            result: None,
            rework_count: 0,
        }
    }
}

/// The request registered into long-term control ("Strategy" register, 9.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongTermControl {
    /// The unit that deferred execution.
    pub unit: ExecutorCode,
    /// The planned execution date; the scheduler returns the request to active control on it.
    pub planned_date: NaiveDate,
    /// What the applicant was told.
    pub applicant_note: String,
    pub registered_at: DateTime<Utc>,
}

/// Everything the transition function needs to know about a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestState {
    pub number: RequestNumber,
    /// Optimistic-locking version: +1 on every transition (`UPDATE … WHERE version = $old`).
    pub version: i64,
    /// Always equal to [`derived_status`](Self::derived_status).
    pub status: RequestStatus,
    pub registered_at: DateTime<Utc>,
    /// The deadline in force (regulated term, moved by accepted extensions and re-routing).
    pub deadline: DateTime<Utc>,
    /// The deadline before the first accepted extension; set once, never changed after.
    pub original_deadline: Option<DateTime<Utc>>,
    /// Under additional control after an accepted extension (9.3). Never cleared.
    pub additional_control: bool,
    /// Present while the request is under long-term control (9.4).
    pub long_term: Option<LongTermControl>,
    pub extension_count: u32,
    /// Sends back for rework, all units together (9.5 and 9.6).
    pub rework_count: u32,
    pub closed_at: Option<DateTime<Utc>>,
    /// In assignment order; a unit re-assigned after declining or being replaced gets a new entry,
    /// and the last entry of a unit is its current one.
    pub assignments: Vec<Assignment>,
}

impl RequestState {
    /// A request just registered by an operator (version 1, no executor yet).
    pub fn registered(
        number: RequestNumber,
        registered_at: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Self {
        Self {
            number,
            version: 1,
            status: RequestStatus::Registered,
            registered_at,
            deadline,
            original_deadline: None,
            additional_control: false,
            long_term: None,
            extension_count: 0,
            rework_count: 0,
            closed_at: None,
            assignments: Vec::new(),
        }
    }

    /// Index of the current assignment of `unit` (its last entry).
    pub fn current_index(&self, unit: &ExecutorCode) -> Option<usize> {
        self.assignments.iter().rposition(|a| &a.unit == unit)
    }

    /// The current assignment of `unit`.
    pub fn assignment(&self, unit: &ExecutorCode) -> Option<&Assignment> {
        self.current_index(unit).map(|i| &self.assignments[i])
    }

    /// The current assignment of each unit, in assignment order.
    pub fn current_assignments(&self) -> impl Iterator<Item = &Assignment> {
        self.assignments
            .iter()
            .enumerate()
            .filter(|(i, a)| self.current_index(&a.unit) == Some(*i))
            .map(|(_, a)| a)
    }

    /// Units that are (still) executors of the request: active or completed.
    pub fn live_units(&self) -> impl Iterator<Item = &ExecutorCode> {
        self.current_assignments()
            .filter(|a| a.status.is_live())
            .map(|a| &a.unit)
    }

    /// Whether the request has proposals awaiting the operator.
    pub fn has_pending_proposals(&self) -> bool {
        self.assignments.iter().any(|a| a.proposal.is_some())
    }

    /// The request status implied by the assignments and request-level facts. Precedence:
    /// closed, long-term control, registered (no assignment), returned to operator (no active
    /// assignment), then the first of executor_change_requested, deferral_proposed,
    /// extension_proposed, closing_proposed, rework, in_progress held by any active assignment,
    /// else sent.
    pub fn derived_status(&self) -> RequestStatus {
        use AssignmentStatus as A;
        if self.closed_at.is_some() {
            return RequestStatus::Closed;
        }
        if self.long_term.is_some() {
            return RequestStatus::LongTermControl;
        }
        if self.assignments.is_empty() {
            return RequestStatus::Registered;
        }
        let active: Vec<AssignmentStatus> = self
            .current_assignments()
            .map(|a| a.status)
            .filter(|s| s.is_active())
            .collect();
        if active.is_empty() {
            return RequestStatus::ReturnedToOperator;
        }
        let precedence = [
            (
                A::ExecutorChangeRequested,
                RequestStatus::ExecutorChangeRequested,
            ),
            (A::DeferralProposed, RequestStatus::DeferralProposed),
            (A::ExtensionProposed, RequestStatus::ExtensionProposed),
            (A::ClosingProposed, RequestStatus::ClosingProposed),
            (A::Rework, RequestStatus::Rework),
            (A::InProgress, RequestStatus::InProgress),
        ];
        precedence
            .iter()
            .find(|(a, _)| active.contains(a))
            .map_or(RequestStatus::Sent, |(_, r)| *r)
    }

    /// Checks the invariants the transition function keeps; returns the first one broken.
    /// Used by tests, and useful to the daemon as a sanity check on rows read back.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.status != self.derived_status() {
            return Err(format!(
                "status is {} but the assignments imply {}",
                self.status,
                self.derived_status()
            ));
        }
        for a in &self.assignments {
            let proposal_status = a.proposal.as_ref().map(|p| p.kind.assignment_status());
            if a.status.is_proposal() != proposal_status.is_some()
                || proposal_status.is_some_and(|s| s != a.status)
            {
                return Err(format!(
                    "assignment of {} is {} with proposal {:?}",
                    a.unit, a.status, proposal_status
                ));
            }
            if (a.status == AssignmentStatus::Completed) != a.result.is_some() {
                return Err(format!(
                    "assignment of {} is {} with result {:?}",
                    a.unit,
                    a.status,
                    a.result.is_some()
                ));
            }
        }
        let deferred = self
            .current_assignments()
            .filter(|a| a.status == AssignmentStatus::Deferred)
            .count();
        if deferred != usize::from(self.long_term.is_some()) {
            return Err(format!(
                "{deferred} deferred assignments but long_term is {:?}",
                self.long_term.is_some()
            ));
        }
        if self.closed_at.is_some() {
            if self.has_pending_proposals() {
                return Err("closed request has pending proposals".to_owned());
            }
            if self.current_assignments().any(|a| a.status.is_active()) {
                return Err("closed request has active assignments".to_owned());
            }
        }
        if self.additional_control != self.original_deadline.is_some() {
            return Err("additional_control and original_deadline disagree".to_owned());
        }
        Ok(())
    }
}
