//! Property test: random sequences of actions by random actors never panic and keep the
//! invariants of the life cycle; `allowed_actions` agrees with `apply`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use contactd_domain::{ExecutorCode, Login, RequestNumber};
use contactd_workflow::*;
use proptest::prelude::*;

fn units() -> [ExecutorCode; 3] {
    ["DEPT-HOUSING", "KRYVBASVODA", "DEPT-ROADS"].map(|u| ExecutorCode::parse(u).unwrap())
}

fn actors() -> Vec<Actor> {
    let [a, b, c] = units();
    let login = |s: &str| Login::parse(s).unwrap();
    vec![
        Actor::operator(login("operator")),
        Actor::supervisor(login("supervisor")),
        Actor::admin(login("admin")),
        Actor::system(),
        Actor::executor(login("exec.a"), vec![a.clone()]),
        Actor::executor(login("exec.b"), vec![b]),
        Actor::executor(login("exec.ac"), vec![a, c]),
    ]
}

/// One random step; the action's data is built from the current state so that many steps succeed.
#[derive(Debug, Clone)]
struct Step {
    kind: usize,
    unit: usize,
    actor: usize,
    hours: i64,
    valid: bool,
    days: i64,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..ActionKind::ALL.len(),
        0..3usize,
        0..7usize,
        0..72i64,
        prop::bool::weighted(0.85),
        1..40i64,
    )
        .prop_map(|(kind, unit, actor, hours, valid, days)| Step {
            kind,
            unit,
            actor,
            hours,
            valid,
            days,
        })
}

fn text(valid: bool) -> String {
    if valid {
        "A reasoned text long enough for every field of every action.".to_owned()
    } else {
        " ".to_owned()
    }
}

/// Builds the action of `step` for `state` at `now`; may move `now` forward (the scheduler runs
/// on the planned date).
fn build(step: &Step, state: &RequestState, now: &mut DateTime<Utc>) -> Action {
    let all = units();
    let unit = all[step.unit].clone();
    let other = all[(step.unit + 1) % 3].clone();
    let later = *now + Duration::days(step.days);
    let review = ReviewWindow {
        within_working_hours: step.valid,
        next_working_day_start: *now + Duration::hours(12),
        next_working_day_end: *now + Duration::hours(21),
    };
    match ActionKind::ALL[step.kind] {
        ActionKind::AssignExecutors => Action::AssignExecutors {
            units: if step.valid {
                vec![unit]
            } else {
                vec![unit, other]
            },
            new_deadline: step.valid.then_some(later),
        },
        ActionKind::Accept => Action::Accept { unit },
        ActionKind::CommentStatus => Action::CommentStatus {
            unit,
            comment: text(step.valid),
        },
        ActionKind::DeclineCompetence => Action::DeclineCompetence {
            unit,
            comment: text(step.valid),
        },
        ActionKind::RequestExecutorChange => Action::RequestExecutorChange {
            unit,
            reason: text(step.valid),
            review,
        },
        ActionKind::ApproveExecutorChange => Action::ApproveExecutorChange {
            unit,
            new_unit: other,
            new_deadline: later,
        },
        ActionKind::RejectExecutorChange => Action::RejectExecutorChange {
            unit,
            reason: text(step.valid),
        },
        ActionKind::ProposeExtension => Action::ProposeExtension {
            unit,
            justification: text(step.valid),
            new_deadline: if step.valid {
                state.deadline.max(*now) + Duration::days(step.days)
            } else {
                state.deadline
            },
            review,
        },
        ActionKind::AcceptExtension => Action::AcceptExtension { unit },
        ActionKind::RejectExtension => Action::RejectExtension {
            unit,
            reason: text(step.valid),
        },
        ActionKind::ProposeDeferral => {
            let today = now.date_naive();
            let year = if step.valid {
                today.year() + 1
            } else {
                today.year()
            };
            Action::ProposeDeferral {
                unit,
                planned_date: NaiveDate::from_ymd_opt(year, 12, 31).unwrap(),
                applicant_note: text(step.valid),
                local_today: today,
                review,
            }
        }
        ActionKind::RegisterDeferral => Action::RegisterDeferral { unit },
        ActionKind::RejectDeferral => Action::RejectDeferral {
            unit,
            reason: text(step.valid),
        },
        ActionKind::ReturnFromLongTerm => {
            if let (true, Some(lt)) = (step.valid, &state.long_term) {
                let planned = Utc.from_utc_datetime(&lt.planned_date.and_hms_opt(6, 0, 0).unwrap());
                *now = (*now).max(planned);
            }
            Action::ReturnFromLongTerm {
                local_today: now.date_naive(),
                new_deadline: *now + Duration::days(step.days),
            }
        }
        ActionKind::ProposeClosing => Action::ProposeClosing {
            unit,
            result: if step.days % 2 == 0 {
                ResultKind::Done
            } else {
                ResultKind::Explained
            },
            result_text: text(step.valid),
            review,
        },
        ActionKind::ApproveClosing => Action::ApproveClosing { unit },
        ActionKind::SendBackForRework => Action::SendBackForRework {
            unit,
            reason: text(step.valid),
        },
        ActionKind::ReturnAfterSurvey => Action::ReturnAfterSurvey {
            outcome: if step.valid {
                SurveyOutcome::NotConfirmed
            } else {
                SurveyOutcome::PoorQuality
            },
            note: text(step.valid),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_invariants(steps in prop::collection::vec(step(), 1..80)) {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let mut state = RequestState::registered(RequestNumber::new(2026, 1).unwrap(), start, start + Duration::days(10));
        let mut now = start;
        let actors = actors();
        for step in &steps {
            now += Duration::hours(step.hours);
            let action = build(step, &state, &mut now);
            let actor = &actors[step.actor];
            let kind = action.kind();
            let unit = action.unit().cloned();
            let allowed = allowed_actions(&state, actor).iter().any(|a| a.action == kind && a.unit == unit);
            let before = state.clone();
            match apply(&state, action, actor, now) {
                Ok(tr) => {
                    prop_assert!(allowed, "{kind} succeeded but allowed_actions did not offer it");
                    prop_assert_eq!(tr.state.version, before.version + 1);
                    if let Err(e) = tr.state.check_invariants() {
                        prop_assert!(false, "after {}: {}", kind, e);
                    }
                    if before.original_deadline.is_some() {
                        prop_assert_eq!(tr.state.original_deadline, before.original_deadline);
                    }
                    if tr.state.status == RequestStatus::Closed {
                        prop_assert!(!tr.state.has_pending_proposals());
                    }
                    prop_assert!(!tr.events.is_empty());
                    for e in &tr.events {
                        prop_assert_eq!(e.before.version, before.version);
                        prop_assert_eq!(e.after.version, tr.state.version);
                        prop_assert_eq!(e.action, kind);
                    }
                    let json = serde_json::to_string(&tr).unwrap();
                    prop_assert_eq!(serde_json::from_str::<Transition>(&json).unwrap(), tr.clone());
                    state = tr.state;
                }
                Err(e) => {
                    // Pure: the caller's state is untouched, so its version is too.
                    prop_assert_eq!(&state, &before);
                    prop_assert!(!e.to_string().is_empty());
                    let structural = matches!(
                        e,
                        WorkflowError::Forbidden { .. }
                            | WorkflowError::NotYourUnit { .. }
                            | WorkflowError::NoSuchAssignment { .. }
                            | WorkflowError::IllegalTransition { .. }
                    );
                    if allowed {
                        prop_assert!(!structural, "{} was offered but failed with {}", kind, e);
                    } else {
                        prop_assert!(
                            structural || matches!(e, WorkflowError::Precondition { .. }),
                            "{} was not offered but failed with a data error: {}", kind, e
                        );
                    }
                }
            }
        }
    }
}

/// The generator must actually drive requests through the life cycle, or the property above
/// proves little: over a fixed set of sequences, every request status and every action must be
/// reached at least once.
#[test]
fn random_sequences_cover_the_life_cycle() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeSet;

    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec(step(), 60..120);
    let actors = actors();
    let mut statuses = BTreeSet::new();
    let mut actions = BTreeSet::new();
    for _ in 0..1500 {
        let steps = strategy.new_tree(&mut runner).unwrap().current();
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let mut state = RequestState::registered(
            RequestNumber::new(2026, 1).unwrap(),
            start,
            start + Duration::days(10),
        );
        let mut now = start;
        for step in &steps {
            now += Duration::hours(step.hours);
            let action = build(step, &state, &mut now);
            let kind = action.kind();
            if let Ok(tr) = apply(&state, action, &actors[step.actor], now) {
                state = tr.state;
                statuses.insert(state.status);
                actions.insert(kind);
            }
        }
    }
    let missing: Vec<_> = RequestStatus::ALL
        .iter()
        .filter(|s| **s != RequestStatus::Registered && !statuses.contains(s))
        .collect();
    assert!(missing.is_empty(), "statuses never reached: {missing:?}");
    let missing: Vec<_> = ActionKind::ALL
        .iter()
        .filter(|a| !actions.contains(a))
        .collect();
    assert!(missing.is_empty(), "actions never succeeded: {missing:?}");
}
