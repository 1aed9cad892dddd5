//! Survey call outcomes and the retry decision for unreachable applicants.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How one survey task ended (or how one call went, for `Unreachable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The applicant confirms the request was executed, and is satisfied with the quality.
    ConfirmedSatisfied,
    /// Executed, but the applicant reports poor quality: back to the executor for rework.
    ConfirmedPoorQuality,
    /// The applicant says it was not executed: back to the executor for rework.
    NotConfirmed,
    /// No answer, busy, switched off or wrong number.
    Unreachable,
    /// The applicant answered but declined to take part.
    Refused,
}

impl Outcome {
    /// Whether the request goes back to the executor for rework (regulation 9.6): execution not
    /// confirmed, or its quality poor. Unreachable and refused surveys say nothing about the
    /// execution, so they do not send it back.
    pub fn needs_rework(self) -> bool {
        matches!(self, Self::ConfirmedPoorQuality | Self::NotConfirmed)
    }

    /// Whether someone answered the phone.
    pub fn is_reached(self) -> bool {
        !matches!(self, Self::Unreachable)
    }

    /// Whether the applicant answered the survey question (confirmed or not).
    pub fn is_answered(self) -> bool {
        matches!(
            self,
            Self::ConfirmedSatisfied | Self::ConfirmedPoorQuality | Self::NotConfirmed
        )
    }
}

/// What the daemon asks when an attempt was unanswered: the number of the next attempt and the
/// earliest time it may be made (`retry_after_minutes` after the last one). The daemon answers
/// with a slot in working time, at another time of day than the earlier attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryRequest {
    /// 2 for the second call, and so on.
    pub attempt: u32,
    pub not_before: DateTime<Utc>,
}

/// What to do with a survey task after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum NextStep {
    /// Call again at `at`; it will be attempt number `attempt`.
    Retry { attempt: u32, at: DateTime<Utc> },
    /// The task is finished with `outcome`; when `rework` is true the request goes back to the
    /// executor.
    Close { outcome: Outcome, rework: bool },
}

/// Decides the next step after attempt number `attempts_made` (1 for the first call) ended
/// with `outcome` at `attempted_at`.
///
/// Any outcome other than `Unreachable` closes the task. An unreachable applicant is called
/// again while `attempts_made < max_attempts` and `next_slot` finds a slot; when it returns
/// `None` (e.g. no working time left before the survey deadline) or the attempts are used up,
/// the task closes as unreachable.
pub fn after_attempt(
    outcome: Outcome,
    attempts_made: u32,
    attempted_at: DateTime<Utc>,
    params: &crate::SurveyParams,
    next_slot: impl FnOnce(RetryRequest) -> Option<DateTime<Utc>>,
) -> NextStep {
    let close = NextStep::Close {
        outcome,
        rework: outcome.needs_rework(),
    };
    if outcome != Outcome::Unreachable || attempts_made >= params.max_attempts {
        return close;
    }
    let request = RetryRequest {
        attempt: attempts_made + 1,
        not_before: params.earliest_retry(attempted_at),
    };
    match next_slot(request) {
        // A slot earlier than asked would defeat `retry_after_minutes`; clamp rather than trust.
        Some(at) => NextStep::Retry {
            attempt: request.attempt,
            at: at.max(request.not_before),
        },
        None => close,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::SurveyParams;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn rework_only_for_poor_quality_or_not_confirmed() {
        use Outcome::*;
        let rework: Vec<_> = [
            ConfirmedSatisfied,
            ConfirmedPoorQuality,
            NotConfirmed,
            Unreachable,
            Refused,
        ]
        .into_iter()
        .filter(|o| o.needs_rework())
        .collect();
        assert_eq!(rework, vec![ConfirmedPoorQuality, NotConfirmed]);
        assert!(Refused.is_reached() && !Refused.is_answered());
        assert!(!Unreachable.is_reached());
    }

    #[test]
    fn unreachable_is_retried_until_max_attempts_then_closed() {
        let params = SurveyParams::default(); // max_attempts = 3, retry after 120 min
        let t = at("2025-03-10T08:00:00Z");
        let slot = |r: RetryRequest| Some(r.not_before + Duration::minutes(30));
        assert_eq!(
            after_attempt(Outcome::Unreachable, 1, t, &params, slot),
            NextStep::Retry {
                attempt: 2,
                at: at("2025-03-10T10:30:00Z")
            }
        );
        assert!(matches!(
            after_attempt(Outcome::Unreachable, 2, t, &params, slot),
            NextStep::Retry { attempt: 3, .. }
        ));
        assert_eq!(
            after_attempt(
                Outcome::Unreachable,
                3,
                t,
                &params,
                |_| -> Option<DateTime<Utc>> {
                    panic!("no slot is asked for once the attempts are used up")
                }
            ),
            NextStep::Close {
                outcome: Outcome::Unreachable,
                rework: false
            }
        );
    }

    #[test]
    fn no_slot_closes_and_early_slot_is_clamped() {
        let params = SurveyParams::default();
        let t = at("2025-03-10T08:00:00Z");
        assert_eq!(
            after_attempt(Outcome::Unreachable, 1, t, &params, |_| None),
            NextStep::Close {
                outcome: Outcome::Unreachable,
                rework: false
            }
        );
        assert_eq!(
            after_attempt(Outcome::Unreachable, 1, t, &params, |_| Some(t)),
            NextStep::Retry {
                attempt: 2,
                at: at("2025-03-10T10:00:00Z")
            }
        );
    }

    #[test]
    fn answered_outcomes_close_at_once() {
        let params = SurveyParams::default();
        let t = at("2025-03-10T08:00:00Z");
        assert_eq!(
            after_attempt(Outcome::NotConfirmed, 1, t, &params, |_| None),
            NextStep::Close {
                outcome: Outcome::NotConfirmed,
                rework: true
            }
        );
        assert_eq!(
            after_attempt(Outcome::Refused, 1, t, &params, |_| None),
            NextStep::Close {
                outcome: Outcome::Refused,
                rework: false
            }
        );
    }
}
