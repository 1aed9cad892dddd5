//! Who performs an action: a role and, for executors, the executor units the user belongs to.

use contactd_domain::{ExecutorCode, Login};
use serde::{Deserialize, Serialize};

/// A user's role (the `--role` of `contactd user add`), or the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Contact-center worker: routes requests and decides on executors' proposals.
    Operator,
    /// Member of one or more executor units: works on the units' assignments.
    Executor,
    /// Head of the operators: may do everything an operator may.
    Supervisor,
    /// Manages accounts and settings; makes no workflow decisions (separation of duties).
    Admin,
    /// The scheduler (returns requests from long-term control on their planned date).
    System,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Self; 5] = [
        Self::Operator,
        Self::Executor,
        Self::Supervisor,
        Self::Admin,
        Self::System,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Executor => "executor",
            Self::Supervisor => "supervisor",
            Self::Admin => "admin",
            Self::System => "system",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The user (or the scheduler) performing an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `None` for the scheduler.
    pub login: Option<Login>,
    pub role: Role,
    /// Executor units the user belongs to (executors only; empty for other roles).
    pub units: Vec<ExecutorCode>,
}

impl Actor {
    /// An operator.
    pub fn operator(login: Login) -> Self {
        Self {
            login: Some(login),
            role: Role::Operator,
            units: Vec::new(),
        }
    }

    /// A supervisor.
    pub fn supervisor(login: Login) -> Self {
        Self {
            login: Some(login),
            role: Role::Supervisor,
            units: Vec::new(),
        }
    }

    /// An administrator.
    pub fn admin(login: Login) -> Self {
        Self {
            login: Some(login),
            role: Role::Admin,
            units: Vec::new(),
        }
    }

    /// A member of the executor units `units`.
    pub fn executor(login: Login, units: Vec<ExecutorCode>) -> Self {
        Self {
            login: Some(login),
            role: Role::Executor,
            units,
        }
    }

    /// The scheduler.
    pub fn system() -> Self {
        Self {
            login: None,
            role: Role::System,
            units: Vec::new(),
        }
    }

    /// Whether the actor is an executor belonging to `unit`.
    pub fn acts_for(&self, unit: &ExecutorCode) -> bool {
        self.role == Role::Executor && self.units.contains(unit)
    }
}
