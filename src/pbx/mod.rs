//! The PBX link as the rest of the daemon sees it: its state, published on a `watch` channel;
//! the link task (`link`: ARI client → call tracker → hub and call records), the call records
//! (`records`) and the `pbx-sim` subcommand (`sim`).

pub mod link;
pub mod records;
pub mod sim;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// State of the link to the PBX, shown by `/readyz`, `/metrics` and the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkState {
    /// No `[pbx]` section: the daemon runs without a PBX.
    Disabled,
    Connecting {
        since: DateTime<Utc>,
    },
    Up {
        since: DateTime<Utc>,
    },
    Down {
        since: DateTime<Utc>,
        reason: String,
    },
}

impl LinkState {
    /// The value of the `contactd_pbx_link_state` gauge.
    pub fn gauge(&self) -> i64 {
        match self {
            Self::Disabled => 0,
            Self::Connecting { .. } => 1,
            Self::Up { .. } => 2,
            Self::Down { .. } => 3,
        }
    }
}
