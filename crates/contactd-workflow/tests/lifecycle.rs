//! Tests of the request life cycle, one per clause of decision No. 459 (7.2, 9.3–9.6), the
//! "allowed only in" messages, the role/ownership matrix and the README rules table.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use contactd_domain::{ExecutorCode, Login, RequestNumber};
use contactd_workflow::*;

fn t(d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap()
}
fn unit(s: &str) -> ExecutorCode {
    ExecutorCode::parse(s).unwrap()
}
fn housing() -> ExecutorCode {
    unit("DEPT-HOUSING")
}
fn water() -> ExecutorCode {
    unit("KRYVBASVODA")
}
fn roads() -> ExecutorCode {
    unit("DEPT-ROADS")
}
fn operator() -> Actor {
    Actor::operator(Login::parse("o.petrenko").unwrap())
}
fn exec(u: ExecutorCode) -> Actor {
    Actor::executor(Login::parse("ex.member").unwrap(), vec![u])
}
/// A review window for a proposal made at day `d` 10:00 (working hours).
fn in_hours(d: u32) -> ReviewWindow {
    ReviewWindow {
        within_working_hours: true,
        next_working_day_start: t(d + 1, 6),
        next_working_day_end: t(d + 1, 15),
    }
}
const REASON: &str = "The matter belongs to the water utility, not to us.";
const JUSTIFICATION: &str =
    "Pipe replacement needs excavation permit from the city, expected in two weeks.";

fn new_request() -> RequestState {
    RequestState::registered(
        RequestNumber::parse("2026-000123").unwrap(),
        t(2, 8),
        t(12, 15),
    )
}

fn ok(state: &RequestState, action: Action, actor: &Actor, now: DateTime<Utc>) -> Transition {
    let tr = apply(state, action, actor, now).unwrap();
    assert_eq!(tr.state.version, state.version + 1);
    tr.state.check_invariants().unwrap();
    tr
}

fn err(state: &RequestState, action: Action, actor: &Actor, now: DateTime<Utc>) -> WorkflowError {
    apply(state, action, actor, now).unwrap_err()
}

/// Registered → sent to `units` → every unit accepted.
fn in_progress(units: &[ExecutorCode]) -> RequestState {
    let mut s = ok(
        &new_request(),
        Action::AssignExecutors {
            units: units.to_vec(),
            new_deadline: None,
        },
        &operator(),
        t(2, 9),
    )
    .state;
    for u in units {
        s = ok(
            &s,
            Action::Accept { unit: u.clone() },
            &exec(u.clone()),
            t(2, 10),
        )
        .state;
    }
    s
}

fn propose_closing(
    s: &RequestState,
    u: &ExecutorCode,
    now: DateTime<Utc>,
    review: ReviewWindow,
) -> Transition {
    ok(
        s,
        Action::ProposeClosing {
            unit: u.clone(),
            result: ResultKind::Done,
            result_text: "The pipe was replaced on 5 March.".into(),
            review,
        },
        &exec(u.clone()),
        now,
    )
}

#[test]
fn registered_sent_in_progress() {
    let s = new_request();
    assert_eq!(s.status, RequestStatus::Registered);
    let tr = ok(
        &s,
        Action::AssignExecutors {
            units: vec![housing()],
            new_deadline: None,
        },
        &operator(),
        t(2, 9),
    );
    assert_eq!(tr.state.status, RequestStatus::Sent);
    assert_eq!(
        tr.state.assignment(&housing()).unwrap().status,
        AssignmentStatus::Sent
    );
    assert_eq!(
        tr.notifications,
        vec![Notification::NotifyExecutor {
            unit: housing(),
            kind: ExecutorNotice::NewAssignment
        }]
    );
    assert!(matches!(
        tr.events[0].kind,
        EventKind::ExecutorsAssigned { .. }
    ));
    assert_eq!(tr.events[0].before.status, RequestStatus::Registered);
    assert_eq!(tr.events[0].after.status, RequestStatus::Sent);
    let tr = ok(
        &tr.state,
        Action::Accept { unit: housing() },
        &exec(housing()),
        t(2, 10),
    );
    assert_eq!(tr.state.status, RequestStatus::InProgress);
    assert_eq!(
        tr.state.assignment(&housing()).unwrap().accepted_at,
        Some(t(2, 10))
    );
}

#[test]
fn status_comment_is_per_assignment() {
    let s = in_progress(&[housing(), water()]);
    let tr = ok(
        &s,
        Action::CommentStatus {
            unit: water(),
            comment: "Crew sent for 4 March".into(),
        },
        &exec(water()),
        t(3, 9),
    );
    assert_eq!(
        tr.state
            .assignment(&water())
            .unwrap()
            .status_comment
            .as_deref(),
        Some("Crew sent for 4 March")
    );
    assert_eq!(
        tr.state.assignment(&housing()).unwrap().status_comment,
        None
    );
    assert_eq!(
        tr.events[0].comment.as_deref(),
        Some("Crew sent for 4 March")
    );
}

#[test]
fn clause_7_2_only_executor_change_approved() {
    let s = in_progress(&[housing()]);
    let tr = ok(
        &s,
        Action::RequestExecutorChange {
            unit: housing(),
            reason: REASON.into(),
            review: in_hours(3),
        },
        &exec(housing()),
        t(3, 10),
    );
    assert_eq!(tr.state.status, RequestStatus::ExecutorChangeRequested);
    // Reason is required.
    let e = err(
        &s,
        Action::RequestExecutorChange {
            unit: housing(),
            reason: "  ".into(),
            review: in_hours(3),
        },
        &exec(housing()),
        t(3, 10),
    );
    assert_eq!(e.class(), ErrorClass::Unprocessable, "{e}");
    let new_deadline = t(20, 15);
    let tr = ok(
        &tr.state,
        Action::ApproveExecutorChange {
            unit: housing(),
            new_unit: water(),
            new_deadline,
        },
        &operator(),
        t(4, 9),
    );
    assert_eq!(tr.state.status, RequestStatus::Sent);
    assert_eq!(tr.state.deadline, new_deadline);
    assert_eq!(
        tr.state.original_deadline, None,
        "a change of executor is not an extension"
    );
    assert_eq!(
        tr.state.assignment(&housing()).unwrap().status,
        AssignmentStatus::Withdrawn
    );
    assert_eq!(
        tr.state.assignment(&water()).unwrap().status,
        AssignmentStatus::Sent
    );
    assert!(tr.notifications.contains(&Notification::NotifyExecutor {
        unit: water(),
        kind: ExecutorNotice::NewAssignment
    }));
    assert!(tr.notifications.contains(&Notification::NotifyExecutor {
        unit: housing(),
        kind: ExecutorNotice::AssignmentWithdrawn
    }));
    // The old executor can no longer act.
    let e = err(
        &tr.state,
        Action::Accept { unit: housing() },
        &exec(housing()),
        t(4, 10),
    );
    assert_eq!(e.class(), ErrorClass::Conflict);
}

#[test]
fn clause_7_2_only_executor_change_rejected() {
    let s = in_progress(&[housing()]);
    let s = ok(
        &s,
        Action::RequestExecutorChange {
            unit: housing(),
            reason: REASON.into(),
            review: in_hours(3),
        },
        &exec(housing()),
        t(3, 10),
    )
    .state;
    let e = err(
        &s,
        Action::RejectExecutorChange {
            unit: housing(),
            reason: "".into(),
        },
        &operator(),
        t(3, 11),
    );
    assert_eq!(e.class(), ErrorClass::Unprocessable);
    let tr = ok(
        &s,
        Action::RejectExecutorChange {
            unit: housing(),
            reason: "Roof repairs are the housing department's.".into(),
        },
        &operator(),
        t(3, 11),
    );
    assert_eq!(tr.state.status, RequestStatus::InProgress);
    assert_eq!(tr.state.assignment(&housing()).unwrap().proposal, None);
}

#[test]
fn clause_7_2_several_executors_decline_competence() {
    let s = in_progress(&[housing(), water()]);
    // With several executors, changing the executor is not the way: decline instead.
    let e = err(
        &s,
        Action::RequestExecutorChange {
            unit: water(),
            reason: REASON.into(),
            review: in_hours(3),
        },
        &exec(water()),
        t(3, 10),
    );
    assert!(e.to_string().contains("decline_competence"), "{e}");
    let tr = ok(
        &s,
        Action::DeclineCompetence {
            unit: water(),
            comment: "Not in our competence: no water network there.".into(),
        },
        &exec(water()),
        t(3, 10),
    );
    assert_eq!(
        tr.state.assignment(&water()).unwrap().status,
        AssignmentStatus::DeclinedCompetence
    );
    assert!(tr
        .state
        .assignment(&water())
        .unwrap()
        .status_comment
        .as_deref()
        .unwrap()
        .contains("competence"));
    assert_eq!(
        tr.state.status,
        RequestStatus::InProgress,
        "the others continue"
    );
    assert!(tr.notifications.is_empty());
    // Now housing is the only executor: it cannot decline, it must ask for a change.
    let e = err(
        &tr.state,
        Action::DeclineCompetence {
            unit: housing(),
            comment: "Not ours either, it is the roads.".into(),
        },
        &exec(housing()),
        t(3, 11),
    );
    assert!(e.to_string().contains("request_executor_change"), "{e}");
}

#[test]
fn clause_7_2_all_decline_returns_to_operator() {
    let s = in_progress(&[housing(), water()]);
    // housing finishes its part, water declines: nothing active is left.
    let s = propose_closing(&s, &housing(), t(3, 10), in_hours(3)).state;
    let s = ok(
        &s,
        Action::ApproveClosing { unit: housing() },
        &operator(),
        t(3, 11),
    )
    .state;
    let tr = ok(
        &s,
        Action::DeclineCompetence {
            unit: water(),
            comment: "Not in our competence: no water network there.".into(),
        },
        &exec(water()),
        t(3, 12),
    );
    assert_eq!(tr.state.status, RequestStatus::ReturnedToOperator);
    assert!(tr
        .events
        .iter()
        .any(|e| e.kind == EventKind::ReturnedToOperator));
    assert!(matches!(
        tr.notifications[..],
        [Notification::NotifyOperators {
            kind: OperatorNotice::ReturnedForRerouting,
            ..
        }]
    ));
    let tr = ok(
        &tr.state,
        Action::AssignExecutors {
            units: vec![roads()],
            new_deadline: Some(t(25, 15)),
        },
        &operator(),
        t(3, 13),
    );
    assert_eq!(tr.state.status, RequestStatus::Sent);
    assert_eq!(tr.state.deadline, t(25, 15));
}

fn propose_extension(
    s: &RequestState,
    now: DateTime<Utc>,
    new_deadline: DateTime<Utc>,
) -> Transition {
    ok(
        s,
        Action::ProposeExtension {
            unit: housing(),
            justification: JUSTIFICATION.into(),
            new_deadline,
            review: in_hours(now.day0() + 1),
        },
        &exec(housing()),
        now,
    )
}
use chrono::Datelike;

#[test]
fn clause_9_3_extension_accepted() {
    let s = in_progress(&[housing()]);
    let original = s.deadline;
    let tr = propose_extension(&s, t(5, 10), t(26, 15));
    assert_eq!(tr.state.status, RequestStatus::ExtensionProposed);
    assert!(matches!(
        tr.events[0].kind,
        EventKind::ExtensionProposed {
            after_deadline: false,
            ..
        }
    ));
    let tr = ok(
        &tr.state,
        Action::AcceptExtension { unit: housing() },
        &operator(),
        t(5, 11),
    );
    assert_eq!(tr.state.deadline, t(26, 15));
    assert_eq!(tr.state.original_deadline, Some(original));
    assert!(tr.state.additional_control);
    assert_eq!(tr.state.status, RequestStatus::InProgress);
    assert!(tr.notifications.contains(&Notification::NotifyExecutor {
        unit: housing(),
        kind: ExecutorNotice::ExtensionAccepted
    }));
    // A second extension keeps the original deadline.
    let tr = propose_extension(&tr.state, t(6, 10), t(28, 15));
    let tr = ok(
        &tr.state,
        Action::AcceptExtension { unit: housing() },
        &operator(),
        t(6, 11),
    );
    assert_eq!(tr.state.original_deadline, Some(original));
    assert_eq!(tr.state.extension_count, 2);
}

#[test]
fn clause_9_3_extension_rules_and_rejection() {
    let s = in_progress(&[housing()]);
    // Justification too short; date not later than the deadline.
    let e = err(
        &s,
        Action::ProposeExtension {
            unit: housing(),
            justification: "busy".into(),
            new_deadline: t(26, 15),
            review: in_hours(5),
        },
        &exec(housing()),
        t(5, 10),
    );
    assert!(
        e.to_string().contains("justification") && e.to_string().contains("at least"),
        "{e}"
    );
    let e = err(
        &s,
        Action::ProposeExtension {
            unit: housing(),
            justification: JUSTIFICATION.into(),
            new_deadline: t(11, 15),
            review: in_hours(5),
        },
        &exec(housing()),
        t(5, 10),
    );
    assert!(
        e.to_string().contains("later than the current deadline"),
        "{e}"
    );
    // Proposed after the deadline (12 March 15:00) had passed: recorded.
    let tr = propose_extension(&s, t(13, 10), t(26, 15));
    assert!(matches!(
        tr.events[0].kind,
        EventKind::ExtensionProposed {
            after_deadline: true,
            ..
        }
    ));
    let tr = ok(
        &tr.state,
        Action::RejectExtension {
            unit: housing(),
            reason: "Excavation permits take two days.".into(),
        },
        &operator(),
        t(13, 11),
    );
    assert_eq!(tr.state.deadline, s.deadline);
    assert!(!tr.state.additional_control);
    assert_eq!(tr.state.status, RequestStatus::InProgress);
    assert!(matches!(
        tr.events[0].kind,
        EventKind::ExtensionRejected {
            after_deadline: true
        }
    ));
    assert!(tr.notifications.contains(&Notification::NotifyExecutor {
        unit: housing(),
        kind: ExecutorNotice::ExtensionRejected
    }));
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

#[test]
fn clause_9_4_deferral_long_term_and_return() {
    let s = in_progress(&[housing()]);
    let note = "Included in the 2027 budget request; planned for May 2027.";
    let propose = |planned| Action::ProposeDeferral {
        unit: housing(),
        planned_date: planned,
        applicant_note: note.into(),
        local_today: d(2026, 3, 5),
        review: in_hours(5),
    };
    let e = err(&s, propose(d(2026, 12, 1)), &exec(housing()), t(5, 10));
    assert!(e.to_string().contains("later budget year"), "{e}");
    let tr = ok(&s, propose(d(2027, 5, 15)), &exec(housing()), t(5, 10));
    assert_eq!(tr.state.status, RequestStatus::DeferralProposed);
    let tr = ok(
        &tr.state,
        Action::RegisterDeferral { unit: housing() },
        &operator(),
        t(5, 11),
    );
    assert_eq!(tr.state.status, RequestStatus::LongTermControl);
    assert_eq!(
        tr.state.long_term.as_ref().unwrap().planned_date,
        d(2027, 5, 15)
    );
    // Parked: the executor can only comment; the operator cannot close it.
    let e = err(
        &tr.state,
        propose_closing_action(),
        &exec(housing()),
        t(6, 10),
    );
    assert!(
        e.to_string().contains("the request is long_term_control"),
        "{e}"
    );
    ok(
        &tr.state,
        Action::CommentStatus {
            unit: housing(),
            comment: "Waiting for the 2027 budget".into(),
        },
        &exec(housing()),
        t(6, 10),
    );
    // Only the scheduler returns it, and not before the planned date.
    let at = Utc.with_ymd_and_hms(2027, 5, 14, 22, 0, 0).unwrap();
    let back = |today| Action::ReturnFromLongTerm {
        local_today: today,
        new_deadline: at + Duration::days(10),
    };
    let e = err(&tr.state, back(d(2027, 5, 15)), &operator(), at);
    assert_eq!(e.class(), ErrorClass::Forbidden);
    let e = err(
        &tr.state,
        back(d(2027, 5, 14)),
        &Actor::system(),
        at - Duration::days(1),
    );
    assert!(e.to_string().contains("planned date 2027-05-15"), "{e}");
    let tr = ok(&tr.state, back(d(2027, 5, 15)), &Actor::system(), at);
    assert_eq!(tr.state.status, RequestStatus::InProgress);
    assert_eq!(tr.state.long_term, None);
    assert_eq!(tr.state.deadline, at + Duration::days(10));
    assert!(tr.notifications.contains(&Notification::NotifyExecutor {
        unit: housing(),
        kind: ExecutorNotice::ReturnedFromLongTerm
    }));
}

#[test]
fn clause_9_4_deferral_rejected() {
    let s = in_progress(&[housing()]);
    let s = ok(
        &s,
        Action::ProposeDeferral {
            unit: housing(),
            planned_date: d(2027, 5, 15),
            applicant_note: "Included in the 2027 budget request.".into(),
            local_today: d(2026, 3, 5),
            review: in_hours(5),
        },
        &exec(housing()),
        t(5, 10),
    )
    .state;
    let tr = ok(
        &s,
        Action::RejectDeferral {
            unit: housing(),
            reason: "The 2026 reserve fund covers it.".into(),
        },
        &operator(),
        t(5, 11),
    );
    assert_eq!(tr.state.status, RequestStatus::InProgress);
    assert_eq!(tr.state.long_term, None);
}

fn propose_closing_action() -> Action {
    Action::ProposeClosing {
        unit: housing(),
        result: ResultKind::Explained,
        result_text: "Explained to the applicant by phone.".into(),
        review: in_hours(6),
    }
}

#[test]
fn clause_9_5_closing_approved() {
    let s = in_progress(&[housing()]);
    let tr = propose_closing(&s, &housing(), t(5, 10), in_hours(5));
    assert_eq!(tr.state.status, RequestStatus::ClosingProposed);
    let p = tr
        .state
        .assignment(&housing())
        .unwrap()
        .proposal
        .clone()
        .unwrap();
    assert_eq!((p.visible_from, p.review_due), (t(5, 10), t(6, 15)));
    let tr = ok(
        &tr.state,
        Action::ApproveClosing { unit: housing() },
        &operator(),
        t(5, 12),
    );
    assert_eq!(tr.state.status, RequestStatus::Closed);
    assert_eq!(tr.state.closed_at, Some(t(5, 12)));
    assert!(tr.events.iter().any(|e| e.kind == EventKind::RequestClosed));
    assert_eq!(
        tr.state
            .assignment(&housing())
            .unwrap()
            .result
            .as_ref()
            .unwrap()
            .kind,
        ResultKind::Done
    );
}

#[test]
fn clause_9_5_closing_with_several_executors_waits_for_all() {
    let s = in_progress(&[housing(), water()]);
    let s = propose_closing(&s, &housing(), t(5, 10), in_hours(5)).state;
    let s = ok(
        &s,
        Action::ApproveClosing { unit: housing() },
        &operator(),
        t(5, 11),
    )
    .state;
    assert_eq!(s.status, RequestStatus::InProgress);
    let s = propose_closing(&s, &water(), t(5, 12), in_hours(5)).state;
    let s = ok(
        &s,
        Action::ApproveClosing { unit: water() },
        &operator(),
        t(5, 13),
    )
    .state;
    assert_eq!(s.status, RequestStatus::Closed);
}

#[test]
fn clause_9_5_sent_back_for_rework() {
    let s = in_progress(&[housing()]);
    let s = propose_closing(&s, &housing(), t(5, 10), in_hours(5)).state;
    let e = err(
        &s,
        Action::SendBackForRework {
            unit: housing(),
            reason: "".into(),
        },
        &operator(),
        t(5, 11),
    );
    assert!(e.to_string().contains("reason is required"), "{e}");
    let tr = ok(
        &s,
        Action::SendBackForRework {
            unit: housing(),
            reason: "Only half of the potholes were patched.".into(),
        },
        &operator(),
        t(5, 11),
    );
    assert_eq!(tr.state.status, RequestStatus::Rework);
    assert_eq!(tr.state.rework_count, 1);
    assert_eq!(tr.state.assignment(&housing()).unwrap().rework_count, 1);
    assert!(tr.notifications.contains(&Notification::NotifyExecutor {
        unit: housing(),
        kind: ExecutorNotice::Rework
    }));
    // Rework is a working state: the unit proposes closing again.
    let tr = propose_closing(&tr.state, &housing(), t(6, 10), in_hours(6));
    assert_eq!(tr.state.status, RequestStatus::ClosingProposed);
}

#[test]
fn clause_9_5_proposal_after_hours_is_due_next_working_day() {
    let s = in_progress(&[housing()]);
    // Friday 6 March 2026, 20:00 UTC: outside hours; next working day is Monday 9 March.
    let review = ReviewWindow {
        within_working_hours: false,
        next_working_day_start: t(9, 6),
        next_working_day_end: t(9, 15),
    };
    let tr = propose_closing(&s, &housing(), t(6, 20), review);
    let p = tr
        .state
        .assignment(&housing())
        .unwrap()
        .proposal
        .clone()
        .unwrap();
    assert_eq!(p.submitted_at, t(6, 20));
    assert_eq!(p.visible_from, t(9, 6));
    assert_eq!(p.review_due, t(9, 15));
    assert!(tr.notifications.contains(&Notification::NotifyOperators {
        kind: OperatorNotice::ClosingProposed,
        unit: Some(housing()),
        visible_from: t(9, 6),
        review_due: Some(t(9, 15)),
    }));
    assert!(
        matches!(tr.events[0].kind, EventKind::ClosingProposed { visible_from, .. } if visible_from == t(9, 6))
    );
    // A window that is not after `now` is refused.
    let bad = ReviewWindow {
        within_working_hours: false,
        next_working_day_start: t(6, 6),
        next_working_day_end: t(6, 15),
    };
    let e = err(
        &s,
        propose_closing_action_with(bad),
        &exec(housing()),
        t(6, 20),
    );
    assert_eq!(e.class(), ErrorClass::Unprocessable);
}

fn propose_closing_action_with(review: ReviewWindow) -> Action {
    match propose_closing_action() {
        Action::ProposeClosing {
            unit,
            result,
            result_text,
            ..
        } => Action::ProposeClosing {
            unit,
            result,
            result_text,
            review,
        },
        other => other,
    }
}

#[test]
fn clause_9_6_survey_not_confirmed_reopens_for_rework() {
    let s = in_progress(&[housing()]);
    let s = propose_closing(&s, &housing(), t(5, 10), in_hours(5)).state;
    let closed = ok(
        &s,
        Action::ApproveClosing { unit: housing() },
        &operator(),
        t(5, 11),
    )
    .state;
    let survey = |note: &str| Action::ReturnAfterSurvey {
        outcome: SurveyOutcome::NotConfirmed,
        note: note.into(),
    };
    let e = err(&closed, survey(""), &operator(), t(9, 10));
    assert_eq!(e.class(), ErrorClass::Unprocessable);
    let e = err(
        &s,
        survey("The applicant says nothing was done."),
        &operator(),
        t(9, 10),
    );
    assert_eq!(
        e.to_string(),
        "return_after_survey is allowed only in state closed; the request is closing_proposed"
    );
    let tr = ok(
        &closed,
        survey("The applicant says nothing was done."),
        &operator(),
        t(9, 10),
    );
    assert_eq!(tr.state.status, RequestStatus::Rework);
    assert_eq!(tr.state.closed_at, None);
    assert_eq!(tr.state.rework_count, 1);
    assert!(tr.notifications.contains(&Notification::NotifyExecutor {
        unit: housing(),
        kind: ExecutorNotice::Rework
    }));
    assert!(
        matches!(&tr.events[0].kind, EventKind::SurveyReturnedForRework { outcome: SurveyOutcome::NotConfirmed, units } if units == &vec![housing()])
    );
    assert_eq!(
        tr.events[0].comment.as_deref(),
        Some("The applicant says nothing was done.")
    );
}

#[test]
fn illegal_transition_says_which_states_allow_it() {
    let s = in_progress(&[housing()]);
    let e = err(
        &s,
        Action::ApproveClosing { unit: housing() },
        &operator(),
        t(5, 10),
    );
    assert_eq!(e.class(), ErrorClass::Conflict);
    assert_eq!(
        e.to_string(),
        "approve_closing is allowed only in state closing_proposed; the assignment of DEPT-HOUSING is in_progress"
    );
    let e = err(
        &s,
        Action::AssignExecutors {
            units: vec![water()],
            new_deadline: None,
        },
        &operator(),
        t(5, 10),
    );
    assert_eq!(
        e.to_string(),
        "assign_executors is allowed only in states registered or returned_to_operator; the request is in_progress"
    );
    let e = err(
        &s,
        Action::ApproveClosing { unit: water() },
        &operator(),
        t(5, 10),
    );
    assert_eq!(e.class(), ErrorClass::NotFound);
}

#[test]
fn permission_errors_are_distinct() {
    let s = in_progress(&[housing(), water()]);
    let e = err(&s, propose_closing_action(), &exec(water()), t(5, 10));
    assert_eq!(e.class(), ErrorClass::Forbidden);
    assert!(e.to_string().contains("member of DEPT-HOUSING"), "{e}");
    let e = err(&s, propose_closing_action(), &operator(), t(5, 10));
    assert_eq!(e.class(), ErrorClass::Forbidden);
    assert_eq!(
        e.to_string(),
        "propose_closing may be done only by an executor of the assigned unit; you are signed in as operator"
    );
    // An executor of several units acts for each of them.
    let both = Actor::executor(Login::parse("multi").unwrap(), vec![housing(), water()]);
    ok(&s, propose_closing_action(), &both, t(5, 10));
}

/// For each action: a state where it is allowed, and a valid action. Used by the role matrix.
fn fixtures() -> Vec<(RequestState, Action)> {
    let one = in_progress(&[housing()]);
    let two = in_progress(&[housing(), water()]);
    let change = ok(
        &one,
        Action::RequestExecutorChange {
            unit: housing(),
            reason: REASON.into(),
            review: in_hours(3),
        },
        &exec(housing()),
        t(3, 10),
    )
    .state;
    let ext = propose_extension(&one, t(5, 10), t(26, 15)).state;
    let deferral = ok(
        &one,
        Action::ProposeDeferral {
            unit: housing(),
            planned_date: d(2027, 1, 10),
            applicant_note: "Included in the 2027 budget request.".into(),
            local_today: d(2026, 3, 5),
            review: in_hours(5),
        },
        &exec(housing()),
        t(5, 10),
    )
    .state;
    let long_term = ok(
        &deferral,
        Action::RegisterDeferral { unit: housing() },
        &operator(),
        t(5, 11),
    )
    .state;
    let closing = propose_closing(&one, &housing(), t(5, 10), in_hours(5)).state;
    let closed = ok(
        &closing,
        Action::ApproveClosing { unit: housing() },
        &operator(),
        t(5, 11),
    )
    .state;
    let sent = ok(
        &new_request(),
        Action::AssignExecutors {
            units: vec![housing()],
            new_deadline: None,
        },
        &operator(),
        t(2, 9),
    )
    .state;
    let h = housing;
    let reason = || REASON.to_owned();
    vec![
        (
            new_request(),
            Action::AssignExecutors {
                units: vec![h()],
                new_deadline: None,
            },
        ),
        (sent, Action::Accept { unit: h() }),
        (
            one.clone(),
            Action::CommentStatus {
                unit: h(),
                comment: "On it".into(),
            },
        ),
        (
            two,
            Action::DeclineCompetence {
                unit: h(),
                comment: reason(),
            },
        ),
        (
            one.clone(),
            Action::RequestExecutorChange {
                unit: h(),
                reason: reason(),
                review: in_hours(5),
            },
        ),
        (
            change.clone(),
            Action::ApproveExecutorChange {
                unit: h(),
                new_unit: roads(),
                new_deadline: t(25, 15),
            },
        ),
        (
            change,
            Action::RejectExecutorChange {
                unit: h(),
                reason: reason(),
            },
        ),
        (
            one.clone(),
            Action::ProposeExtension {
                unit: h(),
                justification: JUSTIFICATION.into(),
                new_deadline: t(26, 15),
                review: in_hours(5),
            },
        ),
        (ext.clone(), Action::AcceptExtension { unit: h() }),
        (
            ext,
            Action::RejectExtension {
                unit: h(),
                reason: reason(),
            },
        ),
        (
            one.clone(),
            Action::ProposeDeferral {
                unit: h(),
                planned_date: d(2027, 1, 10),
                applicant_note: "Included in the 2027 budget request.".into(),
                local_today: d(2026, 3, 5),
                review: in_hours(5),
            },
        ),
        (deferral.clone(), Action::RegisterDeferral { unit: h() }),
        (
            deferral,
            Action::RejectDeferral {
                unit: h(),
                reason: reason(),
            },
        ),
        (
            long_term,
            Action::ReturnFromLongTerm {
                local_today: d(2026, 3, 5),
                new_deadline: t(25, 15),
            },
        ),
        (one, propose_closing_action()),
        (closing.clone(), Action::ApproveClosing { unit: h() }),
        (
            closing,
            Action::SendBackForRework {
                unit: h(),
                reason: reason(),
            },
        ),
        (
            closed,
            Action::ReturnAfterSurvey {
                outcome: SurveyOutcome::PoorQuality,
                note: "Poor quality of the patching.".into(),
            },
        ),
    ]
}

#[test]
fn role_and_ownership_matrix() {
    let fixtures = fixtures();
    let kinds: Vec<ActionKind> = fixtures.iter().map(|(_, a)| a.kind()).collect();
    assert_eq!(kinds, ActionKind::ALL, "one fixture per action, in order");
    let mut matrix = String::new();
    for (state, action) in &fixtures {
        let rule = rule(action.kind());
        let action = match action {
            Action::ReturnFromLongTerm { .. } => Action::ReturnFromLongTerm {
                local_today: d(2027, 1, 10),
                new_deadline: Utc.with_ymd_and_hms(2027, 1, 20, 15, 0, 0).unwrap(),
            },
            other => other.clone(),
        };
        // The long-term fixture's planned date is in 2027: the scheduler runs then.
        let now = if action.kind() == ActionKind::ReturnFromLongTerm {
            Utc.with_ymd_and_hms(2027, 1, 10, 8, 0, 0).unwrap()
        } else {
            t(5, 12)
        };
        let actors = [
            operator(),
            exec(housing()),
            Actor::supervisor(Login::parse("s.head").unwrap()),
            Actor::admin(Login::parse("root.admin").unwrap()),
            Actor::system(),
        ];
        for actor in &actors {
            let result = apply(state, action.clone(), actor, now);
            let allowed = rule.who.roles().contains(&actor.role);
            matrix.push_str(&format!(
                "{} {} {}\n",
                action.kind(),
                actor.role,
                result.is_ok()
            ));
            if allowed {
                let tr =
                    result.unwrap_or_else(|e| panic!("{} by {}: {e}", action.kind(), actor.role));
                tr.state.check_invariants().unwrap();
                assert!(allowed_actions(state, actor)
                    .iter()
                    .any(|a| a.action == action.kind() && a.unit.as_ref() == action.unit()));
            } else {
                let e = result.unwrap_err();
                assert!(
                    matches!(e, WorkflowError::Forbidden { .. }),
                    "{} by {}: {e}",
                    action.kind(),
                    actor.role
                );
                assert!(!allowed_actions(state, actor)
                    .iter()
                    .any(|a| a.action == action.kind()));
            }
        }
        // An executor of another unit is refused on unit-scoped executor actions.
        if rule.who == Who::UnitExecutor {
            let e = apply(state, action.clone(), &exec(roads()), now).unwrap_err();
            assert!(matches!(e, WorkflowError::NotYourUnit { .. }), "{e}");
        }
    }
    assert_eq!(matrix.lines().count(), 18 * 5);
}

#[test]
fn allowed_actions_for_the_console() {
    let s = in_progress(&[housing(), water()]);
    let mine: Vec<ActionKind> = allowed_actions(&s, &exec(housing()))
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        mine,
        vec![
            ActionKind::CommentStatus,
            ActionKind::DeclineCompetence,
            ActionKind::ProposeExtension,
            ActionKind::ProposeDeferral,
            ActionKind::ProposeClosing
        ]
    );
    assert!(allowed_actions(&s, &operator()).is_empty());
    assert!(allowed_actions(&s, &Actor::admin(Login::parse("root.admin").unwrap())).is_empty());
}

#[test]
fn rules_are_in_action_order_and_in_the_readme() {
    for (rule, kind) in RULES.iter().zip(ActionKind::ALL) {
        assert_eq!(rule.action, kind);
    }
    let readme = include_str!("../README.md");
    let table = rules_table_markdown();
    assert!(
        readme.contains(&table),
        "README rules table is out of date; paste:\n{table}"
    );
}

#[test]
fn serde_names_are_stable_snake_case() {
    let s = in_progress(&[housing()]);
    let tr = propose_closing(&s, &housing(), t(5, 10), in_hours(5));
    let json = serde_json::to_value(&tr).unwrap();
    assert_eq!(json["state"]["status"], "closing_proposed");
    assert_eq!(
        json["state"]["assignments"][0]["proposal"]["kind"],
        "closing"
    );
    assert_eq!(json["events"][0]["event"], "closing_proposed");
    assert_eq!(json["events"][0]["action"], "propose_closing");
    assert_eq!(json["notifications"][0]["type"], "notify_operators");
    let back: Transition = serde_json::from_value(json).unwrap();
    assert_eq!(back, tr);
    let action: Action =
        serde_json::from_str(r#"{"action":"approve_closing","unit":"DEPT-HOUSING"}"#).unwrap();
    assert_eq!(action, Action::ApproveClosing { unit: housing() });
    assert!(
        serde_json::from_str::<Action>(r#"{"action":"approve_closing","unit":"dept"}"#).is_err()
    );
}
