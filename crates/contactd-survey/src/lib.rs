//! Random telephone survey of applicants (regulation 9.6): the pure, deterministic core.
//!
//! The daemon loads the closed requests of a period into [`DrawInputs`], calls [`draw`], stores
//! both, and turns [`Draw::sample`] into survey tasks; [`after_attempt`] decides retries,
//! [`Outcome::needs_rework`] sends requests back, [`survey_stats`] gives the figures. Nothing
//! here reads the clock, the database or the network. See `README.md` for the method.

mod draw;
mod inputs;
mod outcome;
mod params;
mod sample;
mod stats;

pub use draw::{
    draw, replay, Draw, DrawError, Exclusions, ExecutorStats, RateGroup, ReplayError,
    SampledRequest, SelectionReason,
};
pub use inputs::{ClosedRequest, DrawInputs, Fingerprint, Period, RecentResults, ResultKind};
pub use outcome::{after_attempt, NextStep, Outcome, RetryRequest};
pub use params::{ParamsError, SurveyParams, TimeOfDay, TimeOfDayError};
pub use stats::{survey_stats, SurveyReport, SurveyStats, TaskOutcome};

/// Version of the sampling method, stored in every [`Draw`] and mixed into the random streams.
/// Change it whenever a change to this crate could change a draw for the same inputs.
pub const ALGORITHM: &str = "contactd-survey/stratified-chacha20/v1";
