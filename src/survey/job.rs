//! The scheduled survey draw: a named task that, under the `survey_draw` leader lease, calls
//! [`super::run_due_draw`] every minute. The draw itself is idempotent per period (unique period
//! bounds), so the lease only saves work; a daemon that loses it simply stops drawing.

use std::sync::Arc;

use chrono::Duration;
use tokio_util::sync::CancellationToken;

use super::{run_due_draw, DrawOutcome};
use crate::calendar::Calendars;
use crate::clock::SharedClock;
use crate::config::SurveyConfig;
use crate::storage::Storage;

/// Name of the leader lease in `job_leases`.
pub const LEASE: &str = "survey_draw";
/// How often the job looks whether a draw is due.
const TICK: std::time::Duration = std::time::Duration::from_secs(60);

/// The periodic draw.
#[derive(Clone)]
pub struct DrawJob {
    pub storage: Storage,
    pub calendars: Calendars,
    pub config: Arc<SurveyConfig>,
}

impl DrawJob {
    /// Runs until `shutdown`; releases the lease on the way out.
    pub async fn run(self, clock: SharedClock, shutdown: CancellationToken) {
        let this = &self;
        crate::scheduler::run_leased(
            &self.storage,
            LEASE,
            TICK,
            Duration::minutes(3),
            clock,
            shutdown,
            move |now| async move {
                match run_due_draw(&this.storage, &this.calendars, &this.config, now).await {
                    Ok(Some(DrawOutcome::Drawn { summary, .. })) => tracing::info!(
                        draw_id = summary.id,
                        sampled = summary.sampled,
                        "survey: scheduled draw made"
                    ),
                    Ok(_) => {}
                    Err(err) => tracing::error!(
                        error = format!("{:#}", anyhow::Error::new(err)),
                        "survey: scheduled draw failed; retried next minute"
                    ),
                }
            },
        )
        .await;
    }
}
