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
use crate::scheduler::{holder_id, Lease};
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
        let ttl = Duration::minutes(3);
        let holder = holder_id();
        let mut lease: Option<Lease> = None;
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = interval.tick() => {}
            }
            let now = clock.now();
            let held = match lease.as_mut() {
                Some(l) => l.renew(&self.storage, ttl, now).await,
                None => Lease::try_acquire(&self.storage, LEASE, &holder, ttl, now)
                    .await
                    .map(|l| {
                        lease = l;
                        lease.is_some()
                    }),
            };
            match held {
                Ok(true) => {
                    match run_due_draw(&self.storage, &self.calendars, &self.config, now).await {
                        Ok(Some(DrawOutcome::Drawn { summary, .. })) => tracing::info!(
                            draw_id = summary.id,
                            sampled = summary.sampled,
                            "survey: scheduled draw made"
                        ),
                        Ok(_) => {}
                        Err(err) => {
                            tracing::error!(
                                error = format!("{:#}", anyhow::Error::new(err)),
                                "survey: scheduled draw failed; retried next minute"
                            )
                        }
                    }
                }
                Ok(false) => lease = None,
                Err(err) => tracing::warn!(error = %err, "survey draw lease"),
            }
        }
        if let Some(l) = lease {
            if let Err(err) = l.release(&self.storage).await {
                tracing::warn!(error = %err, "releasing the survey draw lease");
            }
        }
    }
}
