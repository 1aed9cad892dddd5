//! The rules table: who may do each action and in which states. It is the single source of
//! truth for [`crate::apply`], [`crate::allowed_actions`] and the table in the crate README.

use contactd_domain::ExecutorCode;
use serde::Serialize;

use crate::action::ActionKind;
use crate::actor::{Actor, Role};
use crate::error::{state_list, WorkflowError};
use crate::model::{AssignmentStatus as A, RequestState, RequestStatus as R};

/// Who may perform an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Who {
    /// An operator or a supervisor.
    OperatorOrSupervisor,
    /// An executor belonging to the assignment's unit.
    UnitExecutor,
    /// The scheduler.
    System,
}

impl Who {
    /// The roles that may act.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Self::OperatorOrSupervisor => &[Role::Operator, Role::Supervisor],
            Self::UnitExecutor => &[Role::Executor],
            Self::System => &[Role::System],
        }
    }
}

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OperatorOrSupervisor => "an operator or a supervisor",
            Self::UnitExecutor => "an executor of the assigned unit",
            Self::System => "the scheduler",
        })
    }
}

/// One row of the rules table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub action: ActionKind,
    pub who: Who,
    /// Request statuses in which the action is allowed.
    pub request_in: &'static [R],
    /// Assignment statuses (of the unit named in the action) in which it is allowed; empty when
    /// the action does not target an assignment.
    pub assignment_in: &'static [A],
    /// What it does, for the README table and the console's help.
    pub effect: &'static str,
}

/// Request statuses in which executors work and the operator decides on proposals.
const OPEN: &[R] = &[
    R::Sent,
    R::InProgress,
    R::Rework,
    R::ExecutorChangeRequested,
    R::ExtensionProposed,
    R::DeferralProposed,
    R::ClosingProposed,
];
const OPEN_OR_LONG_TERM: &[R] = &[
    R::Sent,
    R::InProgress,
    R::Rework,
    R::ExecutorChangeRequested,
    R::ExtensionProposed,
    R::DeferralProposed,
    R::ClosingProposed,
    R::LongTermControl,
];
const WORKING: &[A] = &A::WORKING;
const ACTIVE: &[A] = &[
    A::Sent,
    A::InProgress,
    A::Rework,
    A::ExecutorChangeRequested,
    A::ExtensionProposed,
    A::DeferralProposed,
    A::ClosingProposed,
    A::Deferred,
];

/// The rules, one per action, in [`ActionKind::ALL`] order.
pub static RULES: [Rule; 18] = [
    Rule {
        action: ActionKind::AssignExecutors,
        who: Who::OperatorOrSupervisor,
        request_in: &[R::Registered, R::ReturnedToOperator],
        assignment_in: &[],
        effect: "new assignments `sent` (units not already executors); deadline replaced if given",
    },
    Rule {
        action: ActionKind::Accept,
        who: Who::UnitExecutor,
        request_in: OPEN,
        assignment_in: &[A::Sent],
        effect: "assignment `in_progress`",
    },
    Rule {
        action: ActionKind::CommentStatus,
        who: Who::UnitExecutor,
        request_in: OPEN_OR_LONG_TERM,
        assignment_in: ACTIVE,
        effect: "\"comment on the current status\" set; status unchanged",
    },
    Rule {
        action: ActionKind::DeclineCompetence,
        who: Who::UnitExecutor,
        request_in: OPEN,
        assignment_in: WORKING,
        effect: "7.2, only with another executor: assignment `declined_competence`; request `returned_to_operator` if no active assignment is left",
    },
    Rule {
        action: ActionKind::RequestExecutorChange,
        who: Who::UnitExecutor,
        request_in: OPEN,
        assignment_in: WORKING,
        effect: "7.2, only executor: assignment `executor_change_requested`",
    },
    Rule {
        action: ActionKind::ApproveExecutorChange,
        who: Who::OperatorOrSupervisor,
        request_in: OPEN,
        assignment_in: &[A::ExecutorChangeRequested],
        effect: "old assignment `withdrawn`, new unit's assignment `sent`; deadline = the given one (counted from approval)",
    },
    Rule {
        action: ActionKind::RejectExecutorChange,
        who: Who::OperatorOrSupervisor,
        request_in: OPEN,
        assignment_in: &[A::ExecutorChangeRequested],
        effect: "assignment back to its status before the proposal",
    },
    Rule {
        action: ActionKind::ProposeExtension,
        who: Who::UnitExecutor,
        request_in: OPEN,
        assignment_in: WORKING,
        effect: "9.3: assignment `extension_proposed` (records whether the deadline had passed)",
    },
    Rule {
        action: ActionKind::AcceptExtension,
        who: Who::OperatorOrSupervisor,
        request_in: OPEN,
        assignment_in: &[A::ExtensionProposed],
        effect: "9.3: deadline moved, original kept, additional control; assignment back",
    },
    Rule {
        action: ActionKind::RejectExtension,
        who: Who::OperatorOrSupervisor,
        request_in: OPEN,
        assignment_in: &[A::ExtensionProposed],
        effect: "9.3: assignment back; deadline unchanged",
    },
    Rule {
        action: ActionKind::ProposeDeferral,
        who: Who::UnitExecutor,
        request_in: OPEN,
        assignment_in: WORKING,
        effect: "9.4: assignment `deferral_proposed` (planned date in a later year)",
    },
    Rule {
        action: ActionKind::RegisterDeferral,
        who: Who::OperatorOrSupervisor,
        request_in: OPEN,
        assignment_in: &[A::DeferralProposed],
        effect: "9.4: assignment `deferred`, request `long_term_control`",
    },
    Rule {
        action: ActionKind::RejectDeferral,
        who: Who::OperatorOrSupervisor,
        request_in: OPEN,
        assignment_in: &[A::DeferralProposed],
        effect: "9.4: assignment back",
    },
    Rule {
        action: ActionKind::ReturnFromLongTerm,
        who: Who::System,
        request_in: &[R::LongTermControl],
        assignment_in: &[],
        effect: "9.4, on or after the planned date: deferred assignment `in_progress`, new deadline",
    },
    Rule {
        action: ActionKind::ProposeClosing,
        who: Who::UnitExecutor,
        request_in: OPEN,
        assignment_in: WORKING,
        effect: "9.5: assignment `closing_proposed`",
    },
    Rule {
        action: ActionKind::ApproveClosing,
        who: Who::OperatorOrSupervisor,
        request_in: OPEN,
        assignment_in: &[A::ClosingProposed],
        effect: "9.5: assignment `completed`; request `closed` if no active assignment is left",
    },
    Rule {
        action: ActionKind::SendBackForRework,
        who: Who::OperatorOrSupervisor,
        request_in: OPEN,
        assignment_in: &[A::ClosingProposed],
        effect: "9.5: assignment `rework`, rework counts +1",
    },
    Rule {
        action: ActionKind::ReturnAfterSurvey,
        who: Who::OperatorOrSupervisor,
        request_in: &[R::Closed],
        assignment_in: &[],
        effect: "9.6: request reopened, every `completed` assignment `rework`, rework count +1",
    },
];

/// The rule of an action.
pub fn rule(action: ActionKind) -> &'static Rule {
    // RULES is in ActionKind::ALL order, which the tests check.
    let i = ActionKind::ALL
        .iter()
        .position(|a| *a == action)
        .unwrap_or(0);
    &RULES[i]
}

/// Checks role, ownership, state and the structural preconditions (those that need no action
/// data) of `action` on `unit`'s assignment. Returns the index of the current assignment of
/// `unit` when the action targets one.
pub(crate) fn check(
    state: &RequestState,
    action: ActionKind,
    unit: Option<&ExecutorCode>,
    actor: &Actor,
) -> Result<Option<usize>, WorkflowError> {
    decide(state, action, unit, actor).map_err(|refusal| refusal.explain(state, action, actor))
}

/// Whether [`check`] would pass, without wording its refusal: [`crate::allowed_actions`] asks
/// this for every rule and assignment of every request it shows.
pub(crate) fn permits(
    state: &RequestState,
    action: ActionKind,
    unit: Option<&ExecutorCode>,
    actor: &Actor,
) -> bool {
    decide(state, action, unit, actor).is_ok()
}

/// Why [`decide`] refused, before it is put in words.
enum Refusal<'a> {
    Forbidden,
    NotYourUnit(&'a ExecutorCode),
    UnitRequired,
    RequestState,
    NoSuchAssignment(&'a ExecutorCode),
    AssignmentState(&'a ExecutorCode, A),
    OnlyExecutor(&'a ExecutorCode),
    OtherExecutors(usize),
}

/// The decision of [`check`]; allocates nothing.
fn decide<'a>(
    state: &RequestState,
    action: ActionKind,
    unit: Option<&'a ExecutorCode>,
    actor: &Actor,
) -> Result<Option<usize>, Refusal<'a>> {
    let rule = rule(action);
    if !rule.who.roles().contains(&actor.role) {
        return Err(Refusal::Forbidden);
    }
    if rule.who == Who::UnitExecutor {
        match unit {
            Some(u) if actor.acts_for(u) => {}
            Some(u) => return Err(Refusal::NotYourUnit(u)),
            None => return Err(Refusal::UnitRequired),
        }
    }
    if !rule.request_in.contains(&state.status) {
        return Err(Refusal::RequestState);
    }
    if rule.assignment_in.is_empty() {
        return Ok(None);
    }
    let Some(unit) = unit else {
        return Err(Refusal::UnitRequired);
    };
    let Some(index) = state.current_index(unit) else {
        return Err(Refusal::NoSuchAssignment(unit));
    };
    let status = state.assignments[index].status;
    if !rule.assignment_in.contains(&status) {
        return Err(Refusal::AssignmentState(unit, status));
    }
    let others_live = state.live_units().filter(|u| *u != unit).count();
    match action {
        ActionKind::DeclineCompetence if others_live == 0 => Err(Refusal::OnlyExecutor(unit)),
        ActionKind::RequestExecutorChange if others_live > 0 => {
            Err(Refusal::OtherExecutors(others_live))
        }
        _ => Ok(Some(index)),
    }
}

impl Refusal<'_> {
    /// The refusal as the error the API answers with: what was wrong and which state allows it.
    fn explain(self, state: &RequestState, action: ActionKind, actor: &Actor) -> WorkflowError {
        let rule = rule(action);
        match self {
            Self::Forbidden => WorkflowError::Forbidden {
                action,
                role: actor.role,
                allowed: rule.who,
            },
            Self::NotYourUnit(unit) => WorkflowError::NotYourUnit {
                action,
                unit: unit.clone(),
            },
            Self::UnitRequired => WorkflowError::Invalid {
                action,
                field: "unit",
                problem: "is required".to_owned(),
            },
            Self::RequestState => {
                let names: Vec<&str> = rule.request_in.iter().map(|s| s.as_str()).collect();
                WorkflowError::IllegalTransition {
                    action,
                    allowed: state_list(&names),
                    subject: "the request".to_owned(),
                    actual: state.status.as_str().to_owned(),
                }
            }
            Self::NoSuchAssignment(unit) => WorkflowError::NoSuchAssignment {
                action,
                unit: unit.clone(),
            },
            Self::AssignmentState(unit, status) => {
                let names: Vec<&str> = rule.assignment_in.iter().map(|s| s.as_str()).collect();
                WorkflowError::IllegalTransition {
                    action,
                    allowed: state_list(&names),
                    subject: format!("the assignment of {unit}"),
                    actual: status.as_str().to_owned(),
                }
            }
            Self::OnlyExecutor(unit) => WorkflowError::Precondition {
                action,
                problem: format!(
                    "{unit} is the only executor of the request; ask for a change of executor (request_executor_change) instead"
                ),
            },
            Self::OtherExecutors(others_live) => WorkflowError::Precondition {
                action,
                problem: format!(
                    "the request has {others_live} other executor(s); state that the matter is outside your competence (decline_competence) instead"
                ),
            },
        }
    }
}

/// The rules as the markdown table kept in the crate README (a test checks they agree).
pub fn rules_table_markdown() -> String {
    let mut out = String::from(
        "| action | who | request status | assignment status | effect |\n| --- | --- | --- | --- | --- |\n",
    );
    for r in &RULES {
        let req: Vec<&str> = r.request_in.iter().map(|s| s.as_str()).collect();
        let asg: Vec<&str> = r.assignment_in.iter().map(|s| s.as_str()).collect();
        let who = match r.who {
            Who::OperatorOrSupervisor => "operator, supervisor",
            Who::UnitExecutor => "executor of the unit",
            Who::System => "system",
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            r.action,
            who,
            req.join(", "),
            if asg.is_empty() {
                "—".to_owned()
            } else {
                asg.join(", ")
            },
            r.effect
        ));
    }
    out
}
