//! The transition function: (state, action, actor, now) → new state + events + notifications.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use contactd_domain::ExecutorCode;

use crate::action::{Action, ActionKind, ReviewWindow};
use crate::actor::Actor;
use crate::error::WorkflowError;
use crate::model::{
    Assignment, AssignmentStatus, ExecutionResult, LongTermControl, Proposal, ProposalKind,
    RequestState,
};
use crate::rules::check;
use crate::transition::{
    ActorRef, DomainEvent, EventKind, ExecutorNotice, Notification, OperatorNotice, Snapshot,
    Transition,
};

/// Shortest reason for a rejection, a change of executor or a rework.
pub const MIN_REASON_CHARS: usize = 10;
/// Shortest justification of an extension (9.3: "reasoned").
pub const MIN_JUSTIFICATION_CHARS: usize = 30;
/// Shortest result text of a closing proposal, note to the applicant or survey note.
pub const MIN_RESULT_CHARS: usize = 10;
/// Longest free text of any action.
pub const MAX_TEXT_CHARS: usize = 4000;

/// Applies `action`, performed by `actor` at `now`, to `request`.
///
/// Pure: no I/O and no clock; the daemon writes the returned state (`UPDATE … SET version =
/// new.version WHERE id = … AND version = old.version`), the events (audit) and the notifications
/// (outbox) in one database transaction. On error nothing changes and the error says why.
///
/// Checks, in order: role and unit membership (403), the assignment exists (404), the request and
/// assignment states (409, "allowed only in state …"), structural preconditions (409), then the
/// action's data (422).
pub fn apply(
    request: &RequestState,
    action: Action,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Transition, WorkflowError> {
    let kind = action.kind();
    let index = check(request, kind, action.unit(), actor)?;
    let version = request
        .version
        .checked_add(1)
        .ok_or(WorkflowError::VersionOverflow(request.version))?;
    let mut next = request.clone();
    let mut out = Out::default();
    // `index` is Some for every action that targets an assignment (check() guarantees it).
    let idx = index.unwrap_or(0);

    match action {
        Action::AssignExecutors {
            units,
            new_deadline,
        } => {
            if units.is_empty() {
                return Err(invalid(
                    kind,
                    "units",
                    "is empty; name at least one executor unit",
                ));
            }
            for (i, unit) in units.iter().enumerate() {
                if units[..i].contains(unit) {
                    return Err(invalid(
                        kind,
                        "units",
                        format!("names {unit} twice; name each unit once"),
                    ));
                }
                if next.live_units().any(|u| u == unit) {
                    return Err(WorkflowError::Precondition {
                        action: kind,
                        problem: format!(
                            "{unit} is already an executor of this request; choose another unit"
                        ),
                    });
                }
            }
            if let Some(deadline) = new_deadline {
                future(kind, "new_deadline", deadline, now)?;
                next.deadline = deadline;
            }
            for unit in &units {
                next.assignments.push(Assignment::sent(unit.clone(), now));
                out.notify_executor(unit, ExecutorNotice::NewAssignment);
            }
            out.event(None, EventKind::ExecutorsAssigned { units }, None);
        }
        Action::Accept { unit } => {
            let a = &mut next.assignments[idx];
            a.status = AssignmentStatus::InProgress;
            a.accepted_at = Some(now);
            out.event(Some(unit), EventKind::AssignmentAccepted, None);
        }
        Action::CommentStatus { unit, comment } => {
            let comment = text(kind, "comment", comment, 1)?;
            next.assignments[idx].status_comment = Some(comment.clone());
            out.event(Some(unit), EventKind::StatusCommented, Some(comment));
        }
        Action::DeclineCompetence { unit, comment } => {
            let comment = text(kind, "comment", comment, MIN_REASON_CHARS)?;
            let a = &mut next.assignments[idx];
            a.status = AssignmentStatus::DeclinedCompetence;
            a.status_comment = Some(comment.clone());
            out.event(Some(unit), EventKind::CompetenceDeclined, Some(comment));
            if !next.current_assignments().any(|a| a.status.is_active()) {
                out.event(None, EventKind::ReturnedToOperator, None);
                out.notifications.push(Notification::NotifyOperators {
                    kind: OperatorNotice::ReturnedForRerouting,
                    unit: None,
                    visible_from: now,
                    review_due: None,
                });
            }
        }
        Action::RequestExecutorChange {
            unit,
            reason,
            review,
        } => {
            let reason = text(kind, "reason", reason, MIN_REASON_CHARS)?;
            let proposal = ProposalKind::ExecutorChange {
                reason: reason.clone(),
            };
            propose(
                &mut next.assignments[idx],
                proposal,
                &review,
                now,
                kind,
                &mut out,
            )?;
            out.event(Some(unit), EventKind::ExecutorChangeRequested, Some(reason));
        }
        Action::ApproveExecutorChange {
            unit,
            new_unit,
            new_deadline,
        } => {
            if next.live_units().any(|u| *u == new_unit) {
                return Err(invalid(
                    kind,
                    "new_unit",
                    format!(
                        "{new_unit} is already an executor of this request; choose another unit"
                    ),
                ));
            }
            future(kind, "new_deadline", new_deadline, now)?;
            let a = &mut next.assignments[idx];
            a.status = AssignmentStatus::Withdrawn;
            a.proposal = None;
            next.assignments
                .push(Assignment::sent(new_unit.clone(), now));
            next.deadline = new_deadline;
            out.notify_executor(&unit, ExecutorNotice::AssignmentWithdrawn);
            out.notify_executor(&new_unit, ExecutorNotice::NewAssignment);
            out.event(
                Some(unit),
                EventKind::ExecutorChangeApproved {
                    new_unit,
                    new_deadline,
                },
                None,
            );
        }
        Action::RejectExecutorChange { unit, reason } => {
            let reason = text(kind, "reason", reason, MIN_REASON_CHARS)?;
            resume(&mut next.assignments[idx]);
            out.notify_executor(&unit, ExecutorNotice::ExecutorChangeRejected);
            out.event(Some(unit), EventKind::ExecutorChangeRejected, Some(reason));
        }
        Action::ProposeExtension {
            unit,
            justification,
            new_deadline,
            review,
        } => {
            let justification = text(
                kind,
                "justification",
                justification,
                MIN_JUSTIFICATION_CHARS,
            )?;
            if new_deadline <= request.deadline {
                return Err(invalid(
                    kind,
                    "new_deadline",
                    format!(
                        "must be later than the current deadline {}; propose a later date",
                        request.deadline.to_rfc3339()
                    ),
                ));
            }
            future(kind, "new_deadline", new_deadline, now)?;
            let after_deadline = now > request.deadline;
            let proposal = ProposalKind::Extension {
                justification: justification.clone(),
                new_deadline,
                after_deadline,
            };
            propose(
                &mut next.assignments[idx],
                proposal,
                &review,
                now,
                kind,
                &mut out,
            )?;
            out.event(
                Some(unit),
                EventKind::ExtensionProposed {
                    new_deadline,
                    after_deadline,
                },
                Some(justification),
            );
        }
        Action::AcceptExtension { unit } => {
            let Some(ProposalKind::Extension {
                new_deadline,
                after_deadline,
                ..
            }) = next.assignments[idx]
                .proposal
                .as_ref()
                .map(|p| p.kind.clone())
            else {
                return Err(corrupt(kind, &unit));
            };
            let previous_deadline = next.deadline;
            let original_deadline = *next.original_deadline.get_or_insert(previous_deadline);
            next.deadline = new_deadline;
            next.additional_control = true;
            next.extension_count = next.extension_count.saturating_add(1);
            resume(&mut next.assignments[idx]);
            out.notify_executor(&unit, ExecutorNotice::ExtensionAccepted);
            out.event(
                Some(unit),
                EventKind::ExtensionAccepted {
                    previous_deadline,
                    new_deadline,
                    original_deadline,
                    after_deadline,
                },
                None,
            );
        }
        Action::RejectExtension { unit, reason } => {
            let reason = text(kind, "reason", reason, MIN_REASON_CHARS)?;
            let after_deadline = matches!(
                next.assignments[idx].proposal.as_ref().map(|p| &p.kind),
                Some(ProposalKind::Extension {
                    after_deadline: true,
                    ..
                })
            );
            resume(&mut next.assignments[idx]);
            out.notify_executor(&unit, ExecutorNotice::ExtensionRejected);
            out.event(
                Some(unit),
                EventKind::ExtensionRejected { after_deadline },
                Some(reason),
            );
        }
        Action::ProposeDeferral {
            unit,
            planned_date,
            applicant_note,
            local_today,
            review,
        } => {
            let applicant_note = text(kind, "applicant_note", applicant_note, MIN_RESULT_CHARS)?;
            local_date(kind, local_today, now)?;
            if planned_date.year() <= local_today.year() {
                return Err(invalid(
                    kind,
                    "planned_date",
                    format!(
                        "must be in a later budget year than {} (9.4 defers to the next budget year); for a later date within this year propose an extension",
                        local_today.year()
                    ),
                ));
            }
            let proposal = ProposalKind::Deferral {
                planned_date,
                applicant_note: applicant_note.clone(),
            };
            propose(
                &mut next.assignments[idx],
                proposal,
                &review,
                now,
                kind,
                &mut out,
            )?;
            out.event(
                Some(unit),
                EventKind::DeferralProposed { planned_date },
                Some(applicant_note),
            );
        }
        Action::RegisterDeferral { unit } => {
            let Some(ProposalKind::Deferral {
                planned_date,
                applicant_note,
            }) = next.assignments[idx]
                .proposal
                .as_ref()
                .map(|p| p.kind.clone())
            else {
                return Err(corrupt(kind, &unit));
            };
            let a = &mut next.assignments[idx];
            a.status = AssignmentStatus::Deferred;
            a.proposal = None;
            next.long_term = Some(LongTermControl {
                unit: unit.clone(),
                planned_date,
                applicant_note,
                registered_at: now,
            });
            out.notify_executor(&unit, ExecutorNotice::DeferralRegistered);
            out.event(
                Some(unit),
                EventKind::DeferralRegistered { planned_date },
                None,
            );
        }
        Action::RejectDeferral { unit, reason } => {
            let reason = text(kind, "reason", reason, MIN_REASON_CHARS)?;
            resume(&mut next.assignments[idx]);
            out.notify_executor(&unit, ExecutorNotice::DeferralRejected);
            out.event(Some(unit), EventKind::DeferralRejected, Some(reason));
        }
        Action::ReturnFromLongTerm {
            local_today,
            new_deadline,
        } => {
            local_date(kind, local_today, now)?;
            let Some(long_term) = next.long_term.take() else {
                return Err(WorkflowError::Precondition {
                    action: kind,
                    problem: "the request is not under long-term control".to_owned(),
                });
            };
            if local_today < long_term.planned_date {
                return Err(WorkflowError::Precondition {
                    action: kind,
                    problem: format!(
                        "the request returns to active control on its planned date {}; today is {}",
                        long_term.planned_date, local_today
                    ),
                });
            }
            future(kind, "new_deadline", new_deadline, now)?;
            let Some(i) = next.current_index(&long_term.unit) else {
                return Err(corrupt(kind, &long_term.unit));
            };
            next.assignments[i].status = AssignmentStatus::InProgress;
            next.deadline = new_deadline;
            out.notify_executor(&long_term.unit, ExecutorNotice::ReturnedFromLongTerm);
            out.event(
                Some(long_term.unit),
                EventKind::ReturnedFromLongTerm {
                    planned_date: long_term.planned_date,
                    new_deadline,
                },
                None,
            );
        }
        Action::ProposeClosing {
            unit,
            result,
            result_text,
            review,
        } => {
            let result_text = text(kind, "result_text", result_text, MIN_RESULT_CHARS)?;
            let proposal = ProposalKind::Closing {
                result,
                text: result_text.clone(),
            };
            let (visible_from, review_due) = propose(
                &mut next.assignments[idx],
                proposal,
                &review,
                now,
                kind,
                &mut out,
            )?;
            out.event(
                Some(unit),
                EventKind::ClosingProposed {
                    result,
                    visible_from,
                    review_due,
                },
                Some(result_text),
            );
        }
        Action::ApproveClosing { unit } => {
            let Some(ProposalKind::Closing { result, text }) = next.assignments[idx]
                .proposal
                .as_ref()
                .map(|p| p.kind.clone())
            else {
                return Err(corrupt(kind, &unit));
            };
            let a = &mut next.assignments[idx];
            a.status = AssignmentStatus::Completed;
            a.proposal = None;
            a.result = Some(ExecutionResult {
                kind: result,
                text,
                approved_at: now,
            });
            out.notify_executor(&unit, ExecutorNotice::ClosingApproved);
            out.event(Some(unit), EventKind::ClosingApproved { result }, None);
            if !next.current_assignments().any(|a| a.status.is_active()) {
                next.closed_at = Some(now);
                out.event(None, EventKind::RequestClosed, None);
            }
        }
        Action::SendBackForRework { unit, reason } => {
            let reason = text(kind, "reason", reason, MIN_REASON_CHARS)?;
            let a = &mut next.assignments[idx];
            a.status = AssignmentStatus::Rework;
            a.proposal = None;
            a.rework_count = a.rework_count.saturating_add(1);
            next.rework_count = next.rework_count.saturating_add(1);
            out.notify_executor(&unit, ExecutorNotice::Rework);
            out.event(
                Some(unit),
                EventKind::SentBackForRework {
                    rework_count: next.rework_count,
                },
                Some(reason),
            );
        }
        Action::ReturnAfterSurvey { outcome, note } => {
            let note = text(kind, "note", note, MIN_RESULT_CHARS)?;
            let completed: Vec<usize> = (0..next.assignments.len())
                .filter(|&i| {
                    let a = &next.assignments[i];
                    a.status == AssignmentStatus::Completed
                        && next.current_index(&a.unit) == Some(i)
                })
                .collect();
            let mut units = Vec::new();
            for i in completed {
                let a = &mut next.assignments[i];
                a.status = AssignmentStatus::Rework;
                a.result = None;
                a.rework_count = a.rework_count.saturating_add(1);
                out.notify_executor(&a.unit, ExecutorNotice::Rework);
                units.push(a.unit.clone());
            }
            if units.is_empty() {
                return Err(corrupt_request(
                    kind,
                    "the closed request has no completed assignment",
                ));
            }
            next.closed_at = None;
            next.rework_count = next.rework_count.saturating_add(1);
            out.event(
                None,
                EventKind::SurveyReturnedForRework { outcome, units },
                Some(note),
            );
        }
    }

    next.status = next.derived_status();
    next.version = version;
    let actor_ref = ActorRef {
        login: actor.login.clone(),
        role: actor.role,
    };
    let events = out
        .events
        .into_iter()
        .map(|(unit, kind_, comment)| DomainEvent {
            at: now,
            actor: actor_ref.clone(),
            action: kind,
            before: Snapshot::of(request, unit.as_ref()),
            after: Snapshot::of(&next, unit.as_ref()),
            unit,
            kind: kind_,
            comment,
        })
        .collect();
    Ok(Transition {
        state: next,
        events,
        notifications: out.notifications,
    })
}

/// Events and notifications collected while applying an action.
#[derive(Default)]
struct Out {
    events: Vec<(Option<ExecutorCode>, EventKind, Option<String>)>,
    notifications: Vec<Notification>,
}

impl Out {
    fn event(&mut self, unit: Option<ExecutorCode>, kind: EventKind, comment: Option<String>) {
        self.events.push((unit, kind, comment));
    }

    fn notify_executor(&mut self, unit: &ExecutorCode, kind: ExecutorNotice) {
        self.notifications.push(Notification::NotifyExecutor {
            unit: unit.clone(),
            kind,
        });
    }
}

/// Puts a proposal on the assignment and queues it for the operators; returns its
/// `(visible_from, review_due)`.
fn propose(
    a: &mut Assignment,
    kind: ProposalKind,
    review: &ReviewWindow,
    now: DateTime<Utc>,
    action: ActionKind,
    out: &mut Out,
) -> Result<(DateTime<Utc>, DateTime<Utc>), WorkflowError> {
    if review.next_working_day_start <= now
        || review.next_working_day_end <= review.next_working_day_start
    {
        return Err(invalid(
            action,
            "review",
            "must give the start and end of the first working day after now (start after now, end after start)",
        ));
    }
    let visible_from = if review.within_working_hours {
        now
    } else {
        review.next_working_day_start
    };
    let review_due = review.next_working_day_end;
    let status = kind.assignment_status();
    let notice = match status {
        AssignmentStatus::ExecutorChangeRequested => OperatorNotice::ExecutorChangeRequested,
        AssignmentStatus::ExtensionProposed => OperatorNotice::ExtensionProposed,
        AssignmentStatus::DeferralProposed => OperatorNotice::DeferralProposed,
        _ => OperatorNotice::ClosingProposed,
    };
    a.proposal = Some(Proposal {
        kind,
        submitted_at: now,
        visible_from,
        review_due,
        resume_status: a.status,
    });
    a.status = status;
    out.notifications.push(Notification::NotifyOperators {
        kind: notice,
        unit: Some(a.unit.clone()),
        visible_from,
        review_due: Some(review_due),
    });
    Ok((visible_from, review_due))
}

/// Drops the pending proposal and puts the assignment back where it was.
fn resume(a: &mut Assignment) {
    if let Some(p) = a.proposal.take() {
        a.status = p.resume_status;
    }
}

/// Trims a required free text and checks its length.
fn text(
    action: ActionKind,
    field: &'static str,
    value: String,
    min_chars: usize,
) -> Result<String, WorkflowError> {
    let trimmed = value.trim();
    let n = trimmed.chars().count();
    if n == 0 {
        return Err(invalid(action, field, "is required; write it"));
    }
    if n < min_chars {
        return Err(invalid(
            action,
            field,
            format!("is too short ({n} characters); write at least {min_chars} characters that explain it"),
        ));
    }
    if n > MAX_TEXT_CHARS {
        return Err(invalid(
            action,
            field,
            format!("is too long ({n} characters); shorten it to {MAX_TEXT_CHARS}"),
        ));
    }
    Ok(trimmed.to_owned())
}

fn future(
    action: ActionKind,
    field: &'static str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), WorkflowError> {
    if at <= now {
        return Err(invalid(
            action,
            field,
            format!(
                "{} is not in the future; give a later time",
                at.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

/// The daemon's local date must be `now`'s UTC date or the day after or before (Kyiv is UTC+2/+3).
fn local_date(
    action: ActionKind,
    local_today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(), WorkflowError> {
    let utc = now.date_naive();
    if (local_today - utc).num_days().abs() > 1 {
        return Err(invalid(
            action,
            "local_today",
            format!(
                "{local_today} is not today's local date for {}; pass the contact center's date",
                now.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

fn invalid(action: ActionKind, field: &'static str, problem: impl Into<String>) -> WorkflowError {
    WorkflowError::Invalid {
        action,
        field,
        problem: problem.into(),
    }
}

fn corrupt(action: ActionKind, unit: &ExecutorCode) -> WorkflowError {
    corrupt_request(
        action,
        &format!("the assignment of {unit} has no matching proposal"),
    )
}

fn corrupt_request(action: ActionKind, what: &str) -> WorkflowError {
    WorkflowError::Precondition {
        action,
        problem: format!("{what}; the stored request is inconsistent, reload it"),
    }
}
