//! The call tracker on every real capture: the exact `CallEvent` sequence each call emits,
//! replays and duplicates, and reconciliation after a reconnect. (Legs that never ring — busy,
//! unavailable — were not captured; the tracker's unit tests build them.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod common;

use chrono::{DateTime, Utc};
use contactd_ari::events::DEFAULT_MAX_FRAME_LEN;
use contactd_ari::models::Channel;
use contactd_ari::pbx_event::{translate, ChannelSnapshot, PbxEvent};
use contactd_ari::tracker::{CallDirection, CallEvent, CallTracker, Outcome};

fn t(s: &str) -> DateTime<Utc> {
    contactd_ari::ari_time::parse_ari_time(s).unwrap()
}

fn pbx_events(frames: &[String]) -> Vec<PbxEvent> {
    frames
        .iter()
        .map(|f| contactd_ari::parse_frame(f, DEFAULT_MAX_FRAME_LEN).unwrap())
        .flat_map(|e| translate(&e))
        .collect()
}

fn run(tracker: &mut CallTracker, events: &[PbxEvent]) -> Vec<CallEvent> {
    events.iter().flat_map(|e| tracker.apply(e)).collect()
}

fn run_capture(name: &str) -> Vec<CallEvent> {
    let mut tracker = CallTracker::new();
    let out = run(&mut tracker, &pbx_events(&common::capture(name)));
    assert_eq!(tracker.active_calls(), 0, "{name}: calls left open");
    out
}

fn ringing(call: &str, ext: &str, dialed: &str, at: &str) -> CallEvent {
    CallEvent::Ringing {
        call_id: call.into(),
        direction: CallDirection::Inbound,
        caller_number_raw: "0671234567".into(),
        caller_name: "Resident".into(),
        dialed_number: dialed.into(),
        operator_extension: ext.into(),
        at: t(at),
    }
}

fn answered(call: &str, by: &str, at: &str) -> CallEvent {
    CallEvent::Answered {
        call_id: call.into(),
        answered_by: by.into(),
        at: t(at),
    }
}

fn ended(call: &str, ext: &str, outcome: Outcome, dur: Option<u32>, at: &str) -> CallEvent {
    CallEvent::Ended {
        call_id: call.into(),
        operator_extension: ext.into(),
        outcome,
        duration_s: dur,
        reconciled: false,
        at: t(at),
    }
}

fn finished(call: &str, outcome: Outcome, at: &str) -> CallEvent {
    CallEvent::Finished {
        call_id: call.into(),
        outcome,
        reconciled: false,
        at: t(at),
    }
}

#[test]
fn answered_by_1001() {
    let c = "1795859899.0";
    assert_eq!(
        run_capture("answered_by_1001.jsonl"),
        vec![
            ringing(c, "1001", "1580", "2026-11-28T09:58:19.331+0000"),
            answered(c, "1001", "2026-11-28T09:58:21.334+0000"),
            ended(
                c,
                "1001",
                Outcome::Answered,
                Some(4),
                "2026-11-28T09:58:25.343+0000"
            ),
            finished(c, Outcome::Answered, "2026-11-28T09:58:25.343+0000"),
        ]
    );
}

#[test]
fn answered_with_linkedid_channelvars_uses_the_linkedid() {
    let c = "1795859777.4";
    assert_eq!(
        run_capture("answered_with_linkedid_channelvars.jsonl"),
        vec![
            ringing(c, "1001", "1580", "2026-11-28T09:56:17.396+0000"),
            answered(c, "1001", "2026-11-28T09:56:19.402+0000"),
            ended(
                c,
                "1001",
                Outcome::Answered,
                Some(4),
                "2026-11-28T09:56:23.409+0000"
            ),
            finished(c, Outcome::Answered, "2026-11-28T09:56:23.409+0000"),
        ]
    );
}

#[test]
fn bridges_while_talking_call() {
    let c = "1795860340.9";
    assert_eq!(
        run_capture("bridges_while_talking.events.jsonl"),
        vec![
            ringing(c, "1001", "1580", "2026-11-28T10:05:40.303+0000"),
            answered(c, "1001", "2026-11-28T10:05:42.311+0000"),
            ended(
                c,
                "1001",
                Outcome::Answered,
                Some(5),
                "2026-11-28T10:05:47.320+0000"
            ),
            finished(c, Outcome::Answered, "2026-11-28T10:05:47.320+0000"),
        ]
    );
}

#[test]
fn abandoned_while_ringing() {
    let c = "1795859908.2";
    assert_eq!(
        run_capture("abandoned_while_ringing.jsonl"),
        vec![
            ringing(c, "1001", "1580", "2026-11-28T09:58:28.706+0000"),
            ended(
                c,
                "1001",
                Outcome::Abandoned,
                None,
                "2026-11-28T09:58:33.711+0000"
            ),
            finished(c, Outcome::Abandoned, "2026-11-28T09:58:33.712+0000"),
        ]
    );
}

#[test]
fn channels_while_ringing_call_is_abandoned() {
    let c = "1795860332.7";
    assert_eq!(
        run_capture("channels_while_ringing.events.jsonl"),
        vec![
            ringing(c, "1001", "1580", "2026-11-28T10:05:32.929+0000"),
            ended(
                c,
                "1001",
                Outcome::Abandoned,
                None,
                "2026-11-28T10:05:36.936+0000"
            ),
            finished(c, Outcome::Abandoned, "2026-11-28T10:05:36.936+0000"),
        ]
    );
}

#[test]
fn queue_ring_all_answered_by_1002() {
    let c = "1795860308.4";
    assert_eq!(
        run_capture("queue_answered_by_1002.jsonl"),
        vec![
            ringing(c, "1002", "1581", "2026-11-28T10:05:08.644+0000"),
            ringing(c, "1001", "1581", "2026-11-28T10:05:08.644+0000"),
            answered(c, "1002", "2026-11-28T10:05:10.650+0000"),
            ended(
                c,
                "1001",
                Outcome::AnsweredElsewhere,
                None,
                "2026-11-28T10:05:10.652+0000"
            ),
            ended(
                c,
                "1002",
                Outcome::Answered,
                Some(3),
                "2026-11-28T10:05:13.661+0000"
            ),
            finished(c, Outcome::Answered, "2026-11-28T10:05:13.661+0000"),
        ]
    );
}

#[test]
fn originated_survey_call_is_outbound_from_1001() {
    let c = "1795860363.11";
    assert_eq!(
        run_capture("originate_survey_call.jsonl"),
        vec![
            CallEvent::Ringing {
                call_id: c.into(),
                direction: CallDirection::Outbound,
                caller_number_raw: "0501234567".into(),
                caller_name: String::new(),
                dialed_number: "0501234567".into(),
                operator_extension: "1001".into(),
                at: t("2026-11-28T10:06:05.824+0000"),
            },
            answered(c, "1001", "2026-11-28T10:06:07.830+0000"),
            ended(
                c,
                "1001",
                Outcome::Answered,
                Some(4),
                "2026-11-28T10:06:11.836+0000"
            ),
            finished(c, Outcome::Answered, "2026-11-28T10:06:11.837+0000"),
        ]
    );
}

/// Every capture: each Ringing is followed by exactly one Ended for the same (call, operator).
#[test]
fn every_ringing_is_followed_by_one_ended() {
    for (name, frames) in common::all_captures() {
        let mut tracker = CallTracker::new();
        let out = run(&mut tracker, &pbx_events(&frames));
        let key = |e: &CallEvent| match e {
            CallEvent::Ringing {
                call_id,
                operator_extension,
                ..
            }
            | CallEvent::Ended {
                call_id,
                operator_extension,
                ..
            } => Some((call_id.clone(), operator_extension.clone())),
            _ => None,
        };
        let rings: Vec<_> = out
            .iter()
            .filter(|e| matches!(e, CallEvent::Ringing { .. }))
            .filter_map(key)
            .collect();
        let ends: Vec<_> = out
            .iter()
            .filter(|e| matches!(e, CallEvent::Ended { .. }))
            .filter_map(key)
            .collect();
        assert!(!rings.is_empty(), "{name}: no Ringing");
        let mut r = rings.clone();
        let mut e = ends.clone();
        r.sort();
        e.sort();
        assert_eq!(r, e, "{name}: Ringing/Ended mismatch");
        // Every captured phone rang, and each call finishes once, as its last event.
        assert!(
            !out.iter().any(|e| matches!(e, CallEvent::Unreached { .. })),
            "{name}"
        );
        let finished: Vec<&CallEvent> = out
            .iter()
            .filter(|e| matches!(e, CallEvent::Finished { .. }))
            .collect();
        assert_eq!(finished.len(), 1, "{name}: {out:?}");
        assert_eq!(out.last(), Some(finished[0]), "{name}");
    }
}

#[test]
fn duplicated_and_replayed_events_emit_nothing_new() {
    for (name, frames) in common::all_captures() {
        let events = pbx_events(&frames);
        let once = {
            let mut tr = CallTracker::new();
            run(&mut tr, &events)
        };
        let mut tr = CallTracker::new();
        let doubled: Vec<PbxEvent> = events.iter().flat_map(|e| [e.clone(), e.clone()]).collect();
        assert_eq!(
            run(&mut tr, &doubled),
            once,
            "{name}: duplicates changed the output"
        );
        assert_eq!(
            run(&mut tr, &events),
            vec![],
            "{name}: a replay emitted events"
        );
        assert_eq!(tr.active_calls(), 0);
    }
}

#[test]
fn order_between_legs_does_not_change_the_outcome() {
    // Swap the two ChannelDestroyed events (the order varies from run to run).
    for name in [
        "answered_by_1001.jsonl",
        "abandoned_while_ringing.jsonl",
        "queue_answered_by_1002.jsonl",
    ] {
        let mut events = pbx_events(&common::capture(name));
        let hangups: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, PbxEvent::Hangup { .. }))
            .map(|(i, _)| i)
            .collect();
        let (a, b) = (hangups[hangups.len() - 2], hangups[hangups.len() - 1]);
        let normal = {
            let mut tr = CallTracker::new();
            run(&mut tr, &events)
        };
        events.swap(a, b);
        let mut tr = CallTracker::new();
        let swapped = run(&mut tr, &events);
        let outcomes = |v: &[CallEvent]| {
            let mut o: Vec<(String, Outcome)> = v
                .iter()
                .filter_map(|e| match e {
                    CallEvent::Ended {
                        operator_extension,
                        outcome,
                        ..
                    } => Some((operator_extension.clone(), *outcome)),
                    _ => None,
                })
                .collect();
            o.sort_by(|x, y| x.0.cmp(&y.0));
            o
        };
        assert_eq!(outcomes(&normal), outcomes(&swapped), "{name}");
        assert_eq!(tr.active_calls(), 0, "{name}");
    }
}

fn ringing_channels() -> Vec<ChannelSnapshot> {
    let chans: Vec<Channel> =
        serde_json::from_value(common::capture_json("channels_while_ringing.json")).unwrap();
    chans.iter().map(ChannelSnapshot::from_ari).collect()
}

const GET_AT: &str = "2026-11-28T10:05:34.822+0000";

fn split_at_get(name: &str, get: &str) -> (Vec<PbxEvent>, Vec<PbxEvent>) {
    let get = t(get);
    pbx_events(&common::capture(name))
        .into_iter()
        .partition(|e| e.at() < get)
}

#[test]
fn reconcile_after_starting_during_ringing_emits_ringing_then_the_end() {
    let (_, after) = split_at_get("channels_while_ringing.events.jsonl", GET_AT);
    let mut tr = CallTracker::new();
    let c = "1795860332.7";
    assert_eq!(
        tr.reconcile(&ringing_channels(), t(GET_AT)),
        vec![ringing(c, "1001", "1580", GET_AT)]
    );
    // Reconciling again with the same picture changes nothing.
    assert_eq!(tr.reconcile(&ringing_channels(), t(GET_AT)), vec![]);
    assert_eq!(
        run(&mut tr, &after),
        vec![
            ended(
                c,
                "1001",
                Outcome::Abandoned,
                None,
                "2026-11-28T10:05:36.936+0000"
            ),
            finished(c, Outcome::Abandoned, "2026-11-28T10:05:36.936+0000"),
        ]
    );
    assert_eq!(tr.active_calls(), 0);
}

#[test]
fn reconcile_with_a_tracker_that_saw_everything_emits_nothing() {
    let (before, after) = split_at_get("channels_while_ringing.events.jsonl", GET_AT);
    let mut tr = CallTracker::new();
    assert_eq!(run(&mut tr, &before).len(), 1);
    assert_eq!(tr.reconcile(&ringing_channels(), t(GET_AT)), vec![]);
    assert_eq!(run(&mut tr, &after).len(), 2); // Ended, Finished
}

#[test]
fn reconcile_ends_calls_whose_channels_are_gone() {
    let (before, after) = split_at_get("channels_while_ringing.events.jsonl", GET_AT);
    let mut tr = CallTracker::new();
    run(&mut tr, &before);
    let later = t("2026-11-28T10:05:40.000+0000");
    assert_eq!(
        tr.reconcile(&[], later),
        vec![
            CallEvent::Ended {
                call_id: "1795860332.7".into(),
                operator_extension: "1001".into(),
                outcome: Outcome::Abandoned,
                duration_s: None,
                reconciled: true,
                at: later,
            },
            CallEvent::Finished {
                call_id: "1795860332.7".into(),
                outcome: Outcome::Abandoned,
                reconciled: true,
                at: later,
            }
        ]
    );
    assert_eq!(tr.active_calls(), 0);
    // Events delivered late for the vanished channels emit nothing.
    assert_eq!(run(&mut tr, &after), vec![]);
}

#[test]
fn reconcile_of_a_talking_call_then_gone() {
    let get = "2026-11-28T10:05:44.189+0000";
    let (before, _) = split_at_get("bridges_while_talking.events.jsonl", get);
    let talking = common::capture_json("bridges_while_talking.json");
    let chans: Vec<Channel> =
        serde_json::from_value(talking["GET /ari/channels"]["body"].clone()).unwrap();
    let snaps: Vec<ChannelSnapshot> = chans.iter().map(ChannelSnapshot::from_ari).collect();
    let mut tr = CallTracker::new();
    assert_eq!(run(&mut tr, &before).len(), 2); // Ringing, Answered
    assert_eq!(tr.reconcile(&snaps, t(get)), vec![]);
    let later = t("2026-11-28T10:06:00.000+0000");
    assert_eq!(
        tr.reconcile(&[], later),
        vec![
            CallEvent::Ended {
                call_id: "1795860340.9".into(),
                operator_extension: "1001".into(),
                outcome: Outcome::Answered,
                duration_s: None,
                reconciled: true,
                at: later,
            },
            CallEvent::Finished {
                call_id: "1795860340.9".into(),
                outcome: Outcome::Answered,
                reconciled: true,
                at: later,
            }
        ]
    );
    // A fresh tracker does not pop up a call that is already being talked.
    let mut fresh = CallTracker::new();
    assert_eq!(fresh.reconcile(&snaps, t(get)), vec![]);
}

#[test]
fn reconcile_notices_an_answer_missed_while_disconnected() {
    let (before, _) = split_at_get("channels_while_ringing.events.jsonl", GET_AT);
    let mut tr = CallTracker::new();
    run(&mut tr, &before);
    let mut snaps = ringing_channels();
    for s in &mut snaps {
        s.state = contactd_ari::pbx_event::LegState::Up;
    }
    let at = t("2026-11-28T10:05:35.000+0000");
    assert_eq!(
        tr.reconcile(&snaps, at),
        vec![answered(
            "1795860332.7",
            "1001",
            "2026-11-28T10:05:35.000+0000"
        )]
    );
}
