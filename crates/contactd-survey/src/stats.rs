//! Survey figures per executor: counts by outcome and the confirmation rate, from task outcomes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::inputs::RecentResults;
use crate::outcome::Outcome;

/// One survey task as the figures see it. `outcome` is `None` while the task is still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskOutcome {
    pub request_id: i64,
    pub executor_code: String,
    pub outcome: Option<Outcome>,
}

/// Survey figures for one executor (or all) over the period the caller selected tasks from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SurveyStats {
    /// Tasks in the sample.
    pub sampled: usize,
    /// Tasks not finished yet.
    pub pending: usize,
    /// Someone answered the phone: the four answered outcomes plus `refused`.
    pub reached: usize,
    /// Execution confirmed, quality acceptable.
    pub confirmed: usize,
    /// Execution confirmed, quality poor (rework).
    pub poor_quality: usize,
    /// Execution not confirmed (rework).
    pub not_confirmed: usize,
    pub refused: usize,
    /// Closed as unreachable after the last attempt.
    pub unreachable: usize,
    /// `confirmed / (confirmed + poor_quality + not_confirmed)` in percent: the share of
    /// applicants who answered and confirmed execution with acceptable quality (about 90 in
    /// Kryvyi Rih). `None` when nobody answered.
    pub confirmation_rate_percent: Option<f64>,
}

impl SurveyStats {
    /// Applicants who answered the survey question.
    pub fn answered(&self) -> usize {
        self.confirmed + self.poor_quality + self.not_confirmed
    }

    /// Requests sent back for rework.
    pub fn rework(&self) -> usize {
        self.poor_quality + self.not_confirmed
    }

    /// These figures as the look-back input of the next draw's poor-results rule.
    pub fn recent_results(&self) -> RecentResults {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        RecentResults {
            answered: clamp(self.answered()),
            confirmed: clamp(self.confirmed),
        }
    }

    fn count(&mut self, outcome: Option<Outcome>) {
        self.sampled += 1;
        match outcome {
            None => self.pending += 1,
            Some(Outcome::ConfirmedSatisfied) => self.confirmed += 1,
            Some(Outcome::ConfirmedPoorQuality) => self.poor_quality += 1,
            Some(Outcome::NotConfirmed) => self.not_confirmed += 1,
            Some(Outcome::Refused) => self.refused += 1,
            Some(Outcome::Unreachable) => self.unreachable += 1,
        }
    }

    fn finish(&mut self) {
        self.reached = self.answered() + self.refused;
        let answered = self.answered();
        self.confirmation_rate_percent =
            (answered > 0).then(|| self.confirmed as f64 * 100.0 / answered as f64);
    }
}

/// Figures per executor code (sorted) and for all executors together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SurveyReport {
    pub by_executor: BTreeMap<String, SurveyStats>,
    pub total: SurveyStats,
}

/// Computes the figures from the tasks of a period.
pub fn survey_stats<'a>(tasks: impl IntoIterator<Item = &'a TaskOutcome>) -> SurveyReport {
    let mut report = SurveyReport::default();
    for task in tasks {
        report.total.count(task.outcome);
        report
            .by_executor
            .entry(task.executor_code.clone())
            .or_default()
            .count(task.outcome);
    }
    report.total.finish();
    report
        .by_executor
        .values_mut()
        .for_each(SurveyStats::finish);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: i64, exec: &str, outcome: Option<Outcome>) -> TaskOutcome {
        TaskOutcome {
            request_id: id,
            executor_code: exec.to_owned(),
            outcome,
        }
    }

    #[test]
    fn counts_and_rates() {
        use Outcome::*;
        let mut tasks: Vec<TaskOutcome> = (0..9)
            .map(|i| task(i, "A", Some(ConfirmedSatisfied)))
            .collect();
        tasks.push(task(9, "A", Some(NotConfirmed)));
        tasks.push(task(10, "A", Some(Unreachable)));
        tasks.push(task(11, "A", Some(Refused)));
        tasks.push(task(12, "A", None));
        tasks.push(task(13, "B", Some(ConfirmedPoorQuality)));
        tasks.push(task(14, "C", Some(Unreachable)));
        let report = survey_stats(&tasks);
        let a = report.by_executor["A"];
        assert_eq!(
            (
                a.sampled,
                a.pending,
                a.reached,
                a.confirmed,
                a.not_confirmed
            ),
            (13, 1, 11, 9, 1)
        );
        assert_eq!((a.refused, a.unreachable, a.rework()), (1, 1, 1));
        assert_eq!(a.confirmation_rate_percent, Some(90.0));
        assert_eq!(
            a.recent_results(),
            RecentResults {
                answered: 10,
                confirmed: 9
            }
        );
        assert_eq!(report.by_executor["B"].confirmation_rate_percent, Some(0.0));
        assert_eq!(report.by_executor["C"].confirmation_rate_percent, None);
        assert_eq!(report.total.sampled, 15);
        assert_eq!(report.total.rework(), 2);
        assert_eq!(survey_stats(&[]).total, SurveyStats::default());
    }
}
