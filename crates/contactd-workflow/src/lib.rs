//! The request life cycle of the contact center as a pure transition function (decision No. 459,
//! items 7.2 and 9.1–9.7): [`apply`] takes a request's state, an action, the actor and the time,
//! and returns the new state with the audit events and the notifications to send.
//!
//! The daemon writes the [`Transition`] in one database transaction (state with optimistic
//! `version`, audit rows, outbox rows). [`RULES`] is the single source of truth for who may do
//! what in which state; [`allowed_actions`] gives the console the buttons to show. The README
//! holds the rules as a table (a test keeps it in step with [`rules_table_markdown`]).

mod action;
mod actor;
mod apply;
mod error;
mod model;
mod rules;
mod transition;

pub use action::{Action, ActionKind, ReviewWindow, SurveyOutcome};
pub use actor::{Actor, Role};
pub use apply::{
    apply, MAX_TEXT_CHARS, MIN_JUSTIFICATION_CHARS, MIN_REASON_CHARS, MIN_RESULT_CHARS,
};
pub use error::{ErrorClass, WorkflowError};
pub use model::{
    Assignment, AssignmentStatus, ExecutionResult, LongTermControl, Proposal, ProposalKind,
    RequestState, RequestStatus, ResultKind,
};
pub use rules::{rule, rules_table_markdown, Rule, Who, RULES};
pub use transition::{
    ActorRef, AssignmentSnapshot, DomainEvent, EventKind, ExecutorNotice, Notification,
    OperatorNotice, Snapshot, Transition,
};

use contactd_domain::ExecutorCode;
use serde::Serialize;

/// An action the actor may perform now, on the named unit's assignment if it targets one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllowedAction {
    pub action: ActionKind,
    pub unit: Option<ExecutorCode>,
}

/// The actions `actor` may perform on `state` now (role, unit membership, states and structural
/// preconditions). The action's data is still checked by [`apply`]: a button shown here can
/// fail with a 422 (e.g. a reason too short) or, for `return_from_long_term`, before the planned
/// date.
pub fn allowed_actions(state: &RequestState, actor: &Actor) -> Vec<AllowedAction> {
    let mut out = Vec::new();
    for rule in &RULES {
        if rule.assignment_in.is_empty() {
            if rules::permits(state, rule.action, None, actor) {
                out.push(AllowedAction {
                    action: rule.action,
                    unit: None,
                });
            }
            continue;
        }
        for a in state.current_assignments() {
            if rules::permits(state, rule.action, Some(&a.unit), actor) {
                out.push(AllowedAction {
                    action: rule.action,
                    unit: Some(a.unit.clone()),
                });
            }
        }
    }
    out
}
