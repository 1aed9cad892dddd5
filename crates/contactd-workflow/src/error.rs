//! Why an action was refused, with the class the API maps to an HTTP status.

use contactd_domain::ExecutorCode;

use crate::action::ActionKind;
use crate::actor::Role;
use crate::rules::Who;

/// A refused action. Nothing was changed; the messages say what was wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// The role may not perform the action at all (HTTP 403).
    #[error("{action} may be done only by {allowed}; you are signed in as {role}")]
    Forbidden {
        action: ActionKind,
        role: Role,
        allowed: Who,
    },
    /// An executor acted on an assignment of a unit it does not belong to (HTTP 403).
    #[error("{action} on the assignment of {unit} may be done only by a member of {unit}; you are not one")]
    NotYourUnit {
        action: ActionKind,
        unit: ExecutorCode,
    },
    /// The request has no assignment for the unit named (HTTP 404).
    #[error("the request has no executor {unit}; check the executor code or reload the request")]
    NoSuchAssignment {
        action: ActionKind,
        unit: ExecutorCode,
    },
    /// The action is not allowed in the current state (HTTP 409).
    #[error("{action} is allowed only in {allowed}; {subject} is {actual}")]
    IllegalTransition {
        action: ActionKind,
        /// "state x" or "states x, y or z".
        allowed: String,
        /// "the request" or "the assignment of UNIT".
        subject: String,
        actual: String,
    },
    /// The state allows the action in general, but not for this request now (HTTP 409).
    #[error("{action} cannot be done now: {problem}")]
    Precondition { action: ActionKind, problem: String },
    /// The action's data is invalid (HTTP 422).
    #[error("{action}: {field} {problem}")]
    Invalid {
        action: ActionKind,
        field: &'static str,
        problem: String,
    },
    /// The stored version cannot be incremented: the row is corrupt (HTTP 500).
    #[error("request version {0} cannot be incremented; the stored row is corrupt")]
    VersionOverflow(i64),
}

/// How the API should answer a [`WorkflowError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 409.
    Conflict,
    /// 422.
    Unprocessable,
    /// 500.
    Internal,
}

impl WorkflowError {
    /// The class of the error, for the HTTP status.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Forbidden { .. } | Self::NotYourUnit { .. } => ErrorClass::Forbidden,
            Self::NoSuchAssignment { .. } => ErrorClass::NotFound,
            Self::IllegalTransition { .. } | Self::Precondition { .. } => ErrorClass::Conflict,
            Self::Invalid { .. } => ErrorClass::Unprocessable,
            Self::VersionOverflow(_) => ErrorClass::Internal,
        }
    }
}

/// "state x" or "states x, y or z".
pub(crate) fn state_list(names: &[&str]) -> String {
    match names {
        [] => "no state".to_owned(),
        [one] => format!("state {one}"),
        [init @ .., last] => format!("states {} or {last}", init.join(", ")),
    }
}
