//! The telephone survey of applicants (regulation 9.6) in the daemon: draws stored with their
//! inputs (auditable, replayable, one per period), survey tasks, click-to-call through ARI,
//! outcomes (retry, rework through the workflow) and figures. The sampling rules themselves live
//! in the pure `contactd-survey` crate.
//!
//! Entry points: [`run_draw`] (CLI `survey draw` and the scheduler), [`run_due_draw`] (what the
//! periodic [`DrawJob`] calls every minute under a leader lease), [`replay_draw`] (CLI
//! `survey replay`), and the task functions used by `src/http/survey.rs`.

mod draw;
mod job;
mod tasks;

use contactd_survey::Outcome;

pub use draw::{
    get_draw, replay_draw, run_draw, run_due_draw, DrawOutcome, DrawRequest, DrawSummary, DrawView,
    ReplayReport, Trigger,
};
pub use job::DrawJob;
pub use tasks::{
    click_to_call, dialable_number, record_outcome, stats, work_list, CallStarted, OutcomeBody,
    StatsView, TaskFilter, TaskView,
};

use crate::http::ApiError;

/// A survey operation that failed; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SurveyError {
    #[error("survey draw {0} does not exist; list the draws with GET /api/v1/survey/draws/{{id}} or check the id printed by `contactd survey draw`")]
    NoSuchDraw(i64),
    #[error("survey task {0} does not exist; reload the survey work list")]
    NoSuchTask(i64),
    #[error("survey task {id} is already {status}; reload the survey work list")]
    TaskClosed { id: i64, status: String },
    #[error("survey task {0} was changed by someone else at the same moment; reload it and record the outcome again")]
    TaskChanged(i64),
    #[error("no PBX is configured ([pbx] section missing), so the daemon cannot place survey calls; dial the applicant by hand and record the outcome")]
    NoPbx,
    #[error("your user has no PBX extension; ask an administrator to set one (`contactd user add --extension`)")]
    NoExtension,
    #[error(
        "the applicant of survey task {0} has no phone number; record the outcome as unreachable"
    )]
    NoPhone(i64),
    #[error("the PBX did not place the call: {0}")]
    Originate(#[from] contactd_ari::RestError),
    #[error("cannot draw the survey sample: {0}")]
    Draw(#[from] contactd_survey::DrawError),
    #[error("survey draw {id} does not replay: {source}")]
    Replay {
        id: i64,
        #[source]
        source: contactd_survey::ReplayError,
    },
    #[error("survey draw {id} replays, but its stored tasks differ from its sample ({what}): the task table was altered")]
    TasksDiffer { id: i64, what: String },
    #[error("stored survey data cannot be read ({0}); the row was altered or written by another version")]
    Stored(String),
    #[error("calendar: {0}")]
    Calendar(#[from] contactd_calendar::CalendarError),
    #[error("status `{0}` is not one of pending, done, closed_unreachable, all")]
    BadStatus(String),
    #[error("the note is too long: at most {max} characters")]
    NoteTooLong { max: usize },
    #[error("database error: {0} (check that the database is reachable)")]
    Database(#[from] sqlx::Error),
    /// An error of the request workflow (rework), passed through as the API shows it.
    #[error(transparent)]
    Workflow(ApiError),
}

impl From<SurveyError> for ApiError {
    fn from(err: SurveyError) -> Self {
        let message = err.to_string();
        match err {
            SurveyError::NoSuchDraw(_) | SurveyError::NoSuchTask(_) => ApiError::NotFound(message),
            SurveyError::TaskClosed { .. } | SurveyError::TaskChanged(_) => {
                ApiError::Conflict(message)
            }
            SurveyError::NoPbx | SurveyError::Originate(_) => ApiError::Unavailable(message),
            SurveyError::NoExtension
            | SurveyError::NoPhone(_)
            | SurveyError::NoteTooLong { .. }
            | SurveyError::BadStatus(_) => ApiError::Unprocessable(message),
            SurveyError::Workflow(e) => e,
            SurveyError::Database(e) => ApiError::from(e),
            // Listed one by one so that a new variant must be given its status here.
            other @ (SurveyError::Draw(_)
            | SurveyError::Replay { .. }
            | SurveyError::TasksDiffer { .. }
            | SurveyError::Stored(_)
            | SurveyError::Calendar(_)) => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

/// How an outcome is stored (`survey_tasks.outcome`), the same spelling as its JSON.
pub(crate) fn outcome_str(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::ConfirmedSatisfied => "confirmed_satisfied",
        Outcome::ConfirmedPoorQuality => "confirmed_poor_quality",
        Outcome::NotConfirmed => "not_confirmed",
        Outcome::Unreachable => "unreachable",
        Outcome::Refused => "refused",
    }
}

pub(crate) fn parse_outcome(text: &str) -> Result<Outcome, SurveyError> {
    Ok(match text {
        "confirmed_satisfied" => Outcome::ConfirmedSatisfied,
        "confirmed_poor_quality" => Outcome::ConfirmedPoorQuality,
        "not_confirmed" => Outcome::NotConfirmed,
        "unreachable" => Outcome::Unreachable,
        "refused" => Outcome::Refused,
        other => return Err(SurveyError::Stored(format!("unknown outcome `{other}`"))),
    })
}

/// What `contactd survey draw` prints: the draw's audit facts and per-executor figures, or that
/// the period was already drawn.
pub fn describe_draw(outcome: &DrawOutcome) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    match outcome {
        DrawOutcome::Drawn { summary: s, draw } => {
            let _ = writeln!(
                out,
                "survey draw {} made: period {} .. {}, seed {}, population {}, eligible {}, sampled {}",
                s.id, s.period_start.to_rfc3339(), s.period_end.to_rfc3339(), s.seed, s.population, draw.eligible, s.sampled
            );
            let _ = writeln!(out, "fingerprint {} ({})", s.fingerprint, s.algorithm);
            for e in &draw.executors {
                let _ = writeln!(
                    out,
                    "  {:<16} population {:>5}  eligible {:>5}  sampled {:>4} (always {}, random {})",
                    e.executor_code, e.population, e.eligible, e.sampled, e.always_included, e.random
                );
            }
        }
        DrawOutcome::AlreadyDrawn(s) => {
            let _ = writeln!(
                out,
                "nothing sampled: survey draw {} already covers the period {} .. {} (seed {}, sampled {})",
                s.id, s.period_start.to_rfc3339(), s.period_end.to_rfc3339(), s.seed, s.sampled
            );
        }
    }
    out
}
