//! The call tracker: a pure fold of `PbxEvent`s into calls that emits `CallEvent`s for operator
//! pop-ups and call records. No I/O and no clock: time comes from the events (and from the
//! caller of `reconcile`).
//!
//! Model: a call is keyed by its caller leg (`call_id` = that channel's linked id, or its id).
//! Each operator leg dialled for it (one for `Dial()`, several for a ring-all queue) is a `Leg`
//! with the operator extension to notify. Every leg ends exactly once, in one of two ways:
//! a leg whose phone rang emits `Ringing` and later exactly one `Ended` for the same call and
//! extension; a leg that ends without ever ringing (the phone answered 486 Busy Here, was
//! unavailable or congested, or the caller gave up before the 180) emits one `Unreached` and
//! nothing else, since there was nothing to pop up. `Answered` is once per call. `Finished` is
//! once per call, when the caller's leg and every operator leg are gone: that is when the call
//! record is complete (a busy first operator does not end a call the dialplan then puts through
//! to a colleague). For a call an operator places (ARI originate, then `Dial()` out through a
//! trunk) the leg is the far party's channel and the extension is the originating operator's.
//! Replayed or duplicated events emit nothing new: channels that are gone are remembered
//! (bounded) and ignored.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pbx_event::{ChannelSnapshot, DialStatus, LegState, PbxEvent};

/// How many destroyed channel ids are remembered to ignore replays.
const TOMBSTONES: usize = 4096;

/// Who placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    /// A resident called the contact center.
    Inbound,
    /// An operator (usually through ARI originate, e.g. a survey call) called out.
    Outbound,
}

/// How a call ended for one operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// This operator talked, then the call was hung up.
    Answered,
    /// The caller hung up before anyone answered.
    Abandoned,
    /// This operator's phone rang, a colleague answered (queue ring-all).
    AnsweredElsewhere,
    /// The far end was busy or rejected the call.
    Busy,
    /// Nobody answered before the ring timeout.
    NoAnswer,
    /// The call could not be put through (congestion, unavailable, other errors).
    Failed,
}

/// What the operator pop-ups and call records are told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallEvent {
    /// `operator_extension`'s phone rings for `call_id` (inbound), or the party that operator
    /// called is ringing (outbound).
    Ringing {
        call_id: String,
        direction: CallDirection,
        /// The resident's number exactly as the PBX gave it (the caller when inbound, the
        /// called party when outbound); normalise it before looking anything up.
        caller_number_raw: String,
        caller_name: String,
        /// The service number the resident dialled (`1580`), or the number dialled out.
        dialed_number: String,
        operator_extension: String,
        at: DateTime<Utc>,
    },
    /// The call was answered (once per call); `answered_by` is the operator extension.
    Answered {
        call_id: String,
        answered_by: String,
        at: DateTime<Utc>,
    },
    /// The call is over for `operator_extension`, whose phone rang (follows its `Ringing`).
    Ended {
        call_id: String,
        operator_extension: String,
        outcome: Outcome,
        /// Talk time in whole seconds (rounded) when this operator talked.
        duration_s: Option<u32>,
        /// True when the end was inferred by `reconcile` (the PBX link was down), so the
        /// outcome is a best guess and `at` is when we noticed.
        reconciled: bool,
        at: DateTime<Utc>,
    },
    /// `operator_extension` was dialled for the call, but its phone never rang: busy, no
    /// answer without a 180, unavailable, congestion, or the caller hung up first. No pop-up
    /// ever showed it, so operators are not told; the call record is. Carries the call's
    /// details because it may be the first (or only) thing recorded about the call.
    Unreached {
        call_id: String,
        direction: CallDirection,
        /// As in `Ringing`.
        caller_number_raw: String,
        caller_name: String,
        dialed_number: String,
        operator_extension: String,
        outcome: Outcome,
        /// As in `Ended`.
        reconciled: bool,
        at: DateTime<Utc>,
    },
    /// The whole call is over: the caller's leg and every operator leg are gone. Once per call,
    /// after every leg's `Ended` or `Unreached`. `outcome` is `Answered` when any operator
    /// answered, else the outcome of the last operator leg to end.
    Finished {
        call_id: String,
        outcome: Outcome,
        /// True when the end was inferred by `reconcile`.
        reconciled: bool,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone)]
struct Chan {
    snap: ChannelSnapshot,
    /// The first dialplan extension seen (the number dialled, before the dialplan moves on).
    first_exten: String,
    ringing: bool,
    up_at: Option<DateTime<Utc>>,
    hangup_requested: bool,
}

#[derive(Debug, Clone)]
struct Leg {
    channel_id: String,
    extension: String,
    rang: bool,
    answered_at: Option<DateTime<Utc>>,
    ended: bool,
    dial_status: DialStatus,
}

#[derive(Debug, Clone)]
struct Call {
    id: String,
    direction: CallDirection,
    caller_channel: Option<String>,
    caller_number: String,
    caller_name: String,
    dialed_number: String,
    legs: Vec<Leg>,
    answered_by: Option<String>,
    caller_gone: bool,
    /// The outcome of the operator leg that ended last.
    last_outcome: Option<Outcome>,
}

/// Folds PBX events into calls; see the module documentation.
#[derive(Debug, Default)]
pub struct CallTracker {
    chans: HashMap<String, Chan>,
    calls: BTreeMap<String, Call>,
    /// Channel id → call id, for the caller leg and each operator/far leg.
    chan_call: HashMap<String, String>,
    gone: HashSet<String>,
    gone_order: VecDeque<String>,
}

impl CallTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of calls in progress (for metrics and tests).
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Applies one event; returns the call events it causes (often none).
    pub fn apply(&mut self, ev: &PbxEvent) -> Vec<CallEvent> {
        let mut out = Vec::new();
        match ev {
            PbxEvent::ChannelCreated { channel, .. } => {
                self.upsert_chan(channel);
            }
            PbxEvent::Ringing { channel_id, .. } => {
                if let Some(c) = self.chans.get_mut(channel_id) {
                    c.ringing = true;
                    c.snap.state = LegState::Ringing;
                }
                self.progress_chan(channel_id, ev.at(), &mut out);
            }
            PbxEvent::Answered { channel_id, at } => {
                if let Some(c) = self.chans.get_mut(channel_id) {
                    c.up_at.get_or_insert(*at);
                    c.snap.state = LegState::Up;
                }
                self.progress_chan(channel_id, *at, &mut out);
            }
            PbxEvent::Dial {
                caller,
                peer,
                dialstring,
                status,
                at,
            } => self.dial(
                caller.as_deref(),
                peer,
                dialstring.as_deref(),
                status,
                *at,
                &mut out,
            ),
            PbxEvent::Bridged { .. } | PbxEvent::Unbridged { .. } => {}
            PbxEvent::HangupRequested { channel_id, .. } => {
                if let Some(c) = self.chans.get_mut(channel_id) {
                    c.hangup_requested = true;
                }
            }
            PbxEvent::Hangup {
                channel_id,
                cause,
                at,
                ..
            } => self.hangup(channel_id, *cause, *at, false, &mut out),
        }
        out
    }

    /// After a reconnect: compares what the tracker believes with the PBX's current channels
    /// (`GET /ari/channels`, as snapshots) and emits what was missed: `Ringing` (and `Answered`)
    /// for operator phones ringing (or answered) now that the tracker did not know about;
    /// `Ended { reconciled: true }` for tracked legs whose channels are gone (`Unreached` for
    /// those that never rang, e.g. a busy phone whose 486 came while the link was down), and
    /// `Finished { reconciled: true }` for the calls that are over. A call that began and ended
    /// entirely while the link was down cannot be seen: Asterisk does not replay it.
    pub fn reconcile(&mut self, channels: &[ChannelSnapshot], at: DateTime<Utc>) -> Vec<CallEvent> {
        let mut out = Vec::new();
        let present: HashMap<&str, &ChannelSnapshot> = channels
            .iter()
            .map(|c| (c.channel_id.as_str(), c))
            .collect();

        // 1. Channels we track that are gone: end them as if destroyed (cause unknown).
        let mut vanished: Vec<String> = self
            .chans
            .keys()
            .filter(|id| !present.contains_key(id.as_str()))
            .cloned()
            .collect();
        vanished.sort();
        for id in vanished {
            self.hangup(&id, None, at, true, &mut out);
        }
        // Legs of calls created by reconcile are in `chans` too; any left without a channel:
        let orphans: Vec<String> = self
            .chan_call
            .keys()
            .filter(|id| !present.contains_key(id.as_str()))
            .cloned()
            .collect();
        for id in orphans {
            self.hangup(&id, None, at, true, &mut out);
        }

        // 2. Refresh what we know of present channels; known legs may have progressed.
        let mut ordered: Vec<&ChannelSnapshot> = channels.iter().collect();
        ordered.sort_by(|a, b| (a.created_at, &a.channel_id).cmp(&(b.created_at, &b.channel_id)));
        for snap in &ordered {
            if self.gone.contains(&snap.channel_id) {
                continue;
            }
            self.upsert_chan(snap);
            if let Some(c) = self.chans.get_mut(&snap.channel_id) {
                match snap.state {
                    LegState::Ringing => c.ringing = true,
                    LegState::Up => {
                        c.up_at.get_or_insert(at);
                    }
                    _ => {}
                }
            }
            if self.chan_call.contains_key(&snap.channel_id) {
                self.progress_chan(&snap.channel_id, at, &mut out);
            }
        }

        // 3. Operator phones ringing now that belong to no tracked call.
        for snap in &ordered {
            let Some(ext) = snap.extension.clone() else {
                continue;
            };
            if snap.state != LegState::Ringing
                || self.chan_call.contains_key(&snap.channel_id)
                || self.gone.contains(&snap.channel_id)
            {
                continue;
            }
            let partner = find_caller_leg(snap, &ordered);
            let (call_id, caller_channel, number, name, dialed) = match partner {
                Some(p) => (
                    p.call_id().to_owned(),
                    Some(p.channel_id.clone()),
                    p.caller_number.clone(),
                    p.caller_name.clone(),
                    self.chans
                        .get(&p.channel_id)
                        .map_or_else(|| p.dialed_exten.clone(), |c| c.first_exten.clone()),
                ),
                None => (
                    snap.call_id().to_owned(),
                    None,
                    snap.connected_number.clone(),
                    snap.connected_name.clone(),
                    snap.caller_number.clone(),
                ),
            };
            let call = self.calls.entry(call_id.clone()).or_insert_with(|| Call {
                id: call_id.clone(),
                direction: CallDirection::Inbound,
                caller_channel: caller_channel.clone(),
                caller_number: number,
                caller_name: name,
                dialed_number: dialed,
                legs: Vec::new(),
                answered_by: None,
                caller_gone: false,
                last_outcome: None,
            });
            call.legs.push(Leg {
                channel_id: snap.channel_id.clone(),
                extension: ext,
                rang: false,
                answered_at: None,
                ended: false,
                dial_status: DialStatus::Ringing,
            });
            if let Some(cc) = caller_channel {
                self.chan_call.insert(cc, call_id.clone());
            }
            self.chan_call.insert(snap.channel_id.clone(), call_id);
            self.progress_chan(&snap.channel_id, at, &mut out);
        }
        out
    }

    fn upsert_chan(&mut self, snap: &ChannelSnapshot) {
        if self.gone.contains(&snap.channel_id) {
            return;
        }
        match self.chans.get_mut(&snap.channel_id) {
            Some(c) => {
                if c.first_exten.is_empty() || c.first_exten == "s" {
                    c.first_exten.clone_from(&snap.dialed_exten);
                }
                c.snap = snap.clone();
            }
            None => {
                let ringing = snap.state == LegState::Ringing;
                self.chans.insert(
                    snap.channel_id.clone(),
                    Chan {
                        snap: snap.clone(),
                        first_exten: snap.dialed_exten.clone(),
                        ringing,
                        up_at: None,
                        hangup_requested: false,
                    },
                );
            }
        }
    }

    fn dial(
        &mut self,
        caller: Option<&ChannelSnapshot>,
        peer: &ChannelSnapshot,
        dialstring: Option<&str>,
        status: &DialStatus,
        at: DateTime<Utc>,
        out: &mut Vec<CallEvent>,
    ) {
        if self.gone.contains(&peer.channel_id) {
            return;
        }
        self.upsert_chan(peer);
        // An originated channel (no caller): the operator's own phone rings for a call they
        // asked for; that is not a pop-up. The far leg dialled from it later is.
        let Some(caller) = caller else {
            return;
        };
        if self.gone.contains(&caller.channel_id) {
            return;
        }
        self.upsert_chan(caller);

        let (direction, extension) = match (&peer.extension, &caller.extension) {
            (Some(ext), _) => (CallDirection::Inbound, ext.clone()),
            (None, Some(ext)) => (CallDirection::Outbound, ext.clone()),
            (None, None) => return, // trunk to trunk: not ours to track
        };
        let call_id = match self.chan_call.get(&caller.channel_id) {
            Some(id) => id.clone(),
            None => caller.call_id().to_owned(),
        };
        let caller_chan = self.chans.get(&caller.channel_id);
        let first_exten =
            caller_chan.map_or_else(|| caller.dialed_exten.clone(), |c| c.first_exten.clone());
        let call = self
            .calls
            .entry(call_id.clone())
            .or_insert_with(|| match direction {
                CallDirection::Inbound => Call {
                    id: call_id.clone(),
                    direction,
                    caller_channel: Some(caller.channel_id.clone()),
                    caller_number: caller.caller_number.clone(),
                    caller_name: caller.caller_name.clone(),
                    dialed_number: first_exten,
                    legs: Vec::new(),
                    answered_by: None,
                    caller_gone: false,
                    last_outcome: None,
                },
                CallDirection::Outbound => {
                    let dialed = dialstring
                        .map(|d| {
                            let d = d.rsplit_once('/').map_or(d, |(_, n)| n);
                            d.split_once('@').map_or(d, |(n, _)| n).to_owned()
                        })
                        .filter(|d| !d.is_empty())
                        .unwrap_or_else(|| peer.caller_number.clone());
                    Call {
                        id: call_id.clone(),
                        direction,
                        caller_channel: Some(caller.channel_id.clone()),
                        caller_number: peer.caller_number.clone(),
                        caller_name: peer.caller_name.clone(),
                        dialed_number: dialed,
                        legs: Vec::new(),
                        answered_by: None,
                        caller_gone: false,
                        last_outcome: None,
                    }
                }
            });
        self.chan_call
            .insert(caller.channel_id.clone(), call_id.clone());
        self.chan_call
            .insert(peer.channel_id.clone(), call_id.clone());
        let leg = match call
            .legs
            .iter_mut()
            .position(|l| l.channel_id == peer.channel_id)
        {
            Some(i) => &mut call.legs[i],
            None => {
                call.legs.push(Leg {
                    channel_id: peer.channel_id.clone(),
                    extension,
                    rang: false,
                    answered_at: None,
                    ended: false,
                    dial_status: DialStatus::Started,
                });
                let last = call.legs.len() - 1;
                &mut call.legs[last]
            }
        };
        if !leg.dial_status.is_final() {
            leg.dial_status = status.clone();
        }
        if let Some(c) = self.chans.get_mut(&peer.channel_id) {
            match status {
                DialStatus::Ringing => c.ringing = true,
                DialStatus::Answer => {
                    c.up_at.get_or_insert(at);
                }
                _ => {}
            }
        }
        self.progress_chan(&peer.channel_id, at, out);
    }

    /// Emits `Ringing` / `Answered` for the leg on `channel_id` if its channel state warrants.
    fn progress_chan(&mut self, channel_id: &str, at: DateTime<Utc>, out: &mut Vec<CallEvent>) {
        let Some(call_id) = self.chan_call.get(channel_id) else {
            return;
        };
        let Some(call) = self.calls.get_mut(call_id) else {
            return;
        };
        let Some(chan) = self.chans.get(channel_id) else {
            return;
        };
        let Some(leg) = call.legs.iter_mut().find(|l| l.channel_id == channel_id) else {
            return; // the caller leg: its own state changes emit nothing
        };
        if leg.ended {
            return;
        }
        let up_at = chan.up_at;
        if !leg.rang && (chan.ringing || up_at.is_some()) {
            leg.rang = true;
            out.push(CallEvent::Ringing {
                call_id: call.id.clone(),
                direction: call.direction,
                caller_number_raw: call.caller_number.clone(),
                caller_name: call.caller_name.clone(),
                dialed_number: call.dialed_number.clone(),
                operator_extension: leg.extension.clone(),
                at,
            });
        }
        if let Some(up) = up_at {
            if leg.answered_at.is_none() {
                leg.answered_at = Some(up);
                if call.answered_by.is_none() {
                    call.answered_by = Some(leg.extension.clone());
                    out.push(CallEvent::Answered {
                        call_id: call.id.clone(),
                        answered_by: leg.extension.clone(),
                        at: up,
                    });
                }
            }
        }
    }

    fn hangup(
        &mut self,
        channel_id: &str,
        cause: Option<u32>,
        at: DateTime<Utc>,
        reconciled: bool,
        out: &mut Vec<CallEvent>,
    ) {
        if self.gone.contains(channel_id) {
            return;
        }
        self.chans.remove(channel_id);
        self.bury(channel_id);
        let Some(call_id) = self.chan_call.remove(channel_id) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.caller_channel.as_deref() == Some(channel_id) {
            call.caller_gone = true;
            for i in 0..call.legs.len() {
                end_leg(call, i, None, true, at, reconciled, out);
            }
        } else if let Some(i) = call.legs.iter().position(|l| l.channel_id == channel_id) {
            // Did the caller hang up first (the leg is destroyed before the caller's leg)?
            let caller_hung_up = call
                .caller_channel
                .as_ref()
                .and_then(|cc| self.chans.get(cc))
                .is_some_and(|c| c.hangup_requested);
            end_leg(call, i, cause, caller_hung_up, at, reconciled, out);
        }
        let finished = call.legs.iter().all(|l| l.ended)
            && (call.caller_gone || call.caller_channel.is_none());
        if finished {
            let call = self.calls.remove(&call_id);
            if let Some(call) = call {
                let outcome = match (&call.answered_by, call.last_outcome) {
                    (Some(_), _) => Outcome::Answered,
                    (None, Some(last)) => last,
                    // Every tracked call has a leg, and it ended above; kept total anyway.
                    (None, None) => Outcome::Failed,
                };
                out.push(CallEvent::Finished {
                    call_id: call.id.clone(),
                    outcome,
                    reconciled,
                    at,
                });
                for leg in call.legs {
                    self.chan_call.remove(&leg.channel_id);
                }
                if let Some(cc) = call.caller_channel {
                    self.chan_call.remove(&cc);
                }
            }
        }
    }

    fn bury(&mut self, channel_id: &str) {
        if self.gone.insert(channel_id.to_owned()) {
            self.gone_order.push_back(channel_id.to_owned());
            if self.gone_order.len() > TOMBSTONES {
                if let Some(old) = self.gone_order.pop_front() {
                    self.gone.remove(&old);
                }
            }
        }
    }
}

/// Ends leg `i` of `call` (if not yet ended) with the best-known outcome: talked → answered;
/// Q.850 26 or a colleague answered → answered elsewhere; then the dial status or Q.850 cause
/// (busy 17/21, no answer 18/19, congestion/unavailable → failed); else abandoned when the
/// caller hung up first (or the end was only reconciled), failed otherwise. A leg that rang
/// emits `Ended`; one that never rang emits `Unreached`.
fn end_leg(
    call: &mut Call,
    i: usize,
    cause: Option<u32>,
    caller_hung_up: bool,
    at: DateTime<Utc>,
    reconciled: bool,
    out: &mut Vec<CallEvent>,
) {
    let answered_elsewhere = call.answered_by.is_some();
    let leg = &mut call.legs[i];
    if leg.ended {
        return;
    }
    leg.ended = true;
    let (outcome, duration_s) = match leg.answered_at {
        // A reconciled end happened at some unknown time before `at`: no talk time then.
        Some(up) => (Outcome::Answered, (!reconciled).then(|| seconds(up, at))),
        None => {
            let outcome = if cause == Some(26) || answered_elsewhere {
                Outcome::AnsweredElsewhere
            } else {
                match (&leg.dial_status, cause) {
                    (DialStatus::Busy, _) | (_, Some(17 | 21)) => Outcome::Busy,
                    (DialStatus::NoAnswer, _) | (_, Some(18 | 19)) => Outcome::NoAnswer,
                    (DialStatus::Congestion | DialStatus::ChanUnavail, _) => Outcome::Failed,
                    (DialStatus::Cancel, _) => Outcome::Abandoned,
                    _ if caller_hung_up || reconciled => Outcome::Abandoned,
                    _ => Outcome::Failed,
                }
            };
            (outcome, None)
        }
    };
    let event = if leg.rang {
        CallEvent::Ended {
            call_id: call.id.clone(),
            operator_extension: leg.extension.clone(),
            outcome,
            duration_s,
            reconciled,
            at,
        }
    } else {
        CallEvent::Unreached {
            call_id: call.id.clone(),
            direction: call.direction,
            caller_number_raw: call.caller_number.clone(),
            caller_name: call.caller_name.clone(),
            dialed_number: call.dialed_number.clone(),
            operator_extension: leg.extension.clone(),
            outcome,
            reconciled,
            at,
        }
    };
    out.push(event);
    call.last_outcome = Some(outcome);
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> u32 {
    let ms = (to - from).num_milliseconds().max(0);
    u32::try_from((ms + 500) / 1000).unwrap_or(u32::MAX)
}

/// For an operator leg found ringing at reconcile time, the caller leg it was dialled from:
/// the channel named by its linked id, else the most recent non-operator channel created no
/// later than it whose caller number is the operator leg's connected number.
fn find_caller_leg<'a>(
    op: &ChannelSnapshot,
    all: &[&'a ChannelSnapshot],
) -> Option<&'a ChannelSnapshot> {
    if let Some(linked) = op.linked_id.as_deref().filter(|l| *l != op.channel_id) {
        if let Some(p) = all.iter().find(|c| c.channel_id == linked) {
            return Some(p);
        }
    }
    all.iter()
        .filter(|c| {
            c.channel_id != op.channel_id
                && c.extension.is_none()
                && !op.connected_number.is_empty()
                && c.caller_number == op.connected_number
                && c.created_at <= op.created_at
        })
        .max_by_key(|c| c.created_at)
        .copied()
}

#[cfg(test)]
mod tests {
    //! Legs that never ring, built by hand in the shape of the captures (the simulator derives
    //! its `busy` call the same way): a trunk leg dials operator 1001, whose phone answers with
    //! a final failure instead of a 180. The captured calls are in `tests/tracker.rs`.

    use super::*;

    const CALL: &str = "1795859908.2";
    const PHONE: &str = "1795859908.3";

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_795_859_908_703 + ms).unwrap()
    }

    fn trunk() -> ChannelSnapshot {
        ChannelSnapshot {
            channel_id: CALL.into(),
            name: "PJSIP/trunk-00000002".into(),
            extension: None,
            state: LegState::Ring,
            caller_number: "0671234567".into(),
            caller_name: "Resident".into(),
            connected_number: String::new(),
            connected_name: String::new(),
            dialed_exten: "1580".into(),
            dialplan_app: "Dial".into(),
            linked_id: None,
            created_at: t(0),
        }
    }

    fn phone(id: &str, ext: &str, state: LegState) -> ChannelSnapshot {
        ChannelSnapshot {
            channel_id: id.into(),
            name: format!("PJSIP/{ext}-00000003"),
            extension: Some(ext.into()),
            state,
            caller_number: "1580".into(),
            caller_name: String::new(),
            connected_number: "0671234567".into(),
            connected_name: "Resident".into(),
            dialed_exten: "1580".into(),
            dialplan_app: "AppDial".into(),
            linked_id: None,
            created_at: t(2),
        }
    }

    fn created(channel: ChannelSnapshot, ms: i64) -> PbxEvent {
        PbxEvent::ChannelCreated { channel, at: t(ms) }
    }

    fn dial(peer: ChannelSnapshot, status: DialStatus, ms: i64) -> PbxEvent {
        PbxEvent::Dial {
            caller: Some(Box::new(trunk())),
            dialstring: peer.extension.clone(),
            peer,
            status,
            at: t(ms),
        }
    }

    fn hangup_request(id: &str, cause: Option<u32>, soft: bool, ms: i64) -> PbxEvent {
        PbxEvent::HangupRequested {
            channel_id: id.into(),
            cause,
            soft,
            tech_cause: None,
            at: t(ms),
        }
    }

    fn hangup(id: &str, cause: u32, ms: i64) -> PbxEvent {
        PbxEvent::Hangup {
            channel_id: id.into(),
            cause: Some(cause),
            cause_txt: String::new(),
            at: t(ms),
        }
    }

    /// `Dial(PJSIP/1001,30)` that fails without a 180: the phone's final answer comes after
    /// 500 ms, then the dialplan's `Hangup()` (soft request) ends the caller's leg.
    fn failed_dial(status: DialStatus, cause: u32) -> Vec<PbxEvent> {
        vec![
            created(trunk(), 0),
            created(phone(PHONE, "1001", LegState::Down), 2),
            dial(phone(PHONE, "1001", LegState::Down), DialStatus::Started, 3),
            hangup_request(PHONE, Some(cause), false, 500),
            dial(phone(PHONE, "1001", LegState::Down), status, 500),
            hangup(PHONE, cause, 501),
            hangup_request(CALL, None, true, 501),
            hangup(CALL, cause, 502),
        ]
    }

    fn run(tracker: &mut CallTracker, events: &[PbxEvent]) -> Vec<CallEvent> {
        events.iter().flat_map(|e| tracker.apply(e)).collect()
    }

    fn unreached(ext: &str, outcome: Outcome, reconciled: bool, at: DateTime<Utc>) -> CallEvent {
        CallEvent::Unreached {
            call_id: CALL.into(),
            direction: CallDirection::Inbound,
            caller_number_raw: "0671234567".into(),
            caller_name: "Resident".into(),
            dialed_number: "1580".into(),
            operator_extension: ext.into(),
            outcome,
            reconciled,
            at,
        }
    }

    fn finished(outcome: Outcome, reconciled: bool, at: DateTime<Utc>) -> CallEvent {
        CallEvent::Finished {
            call_id: CALL.into(),
            outcome,
            reconciled,
            at,
        }
    }

    #[test]
    fn a_phone_that_never_rings_is_unreached_with_the_dial_outcome_and_the_call_finishes() {
        for (status, cause, outcome) in [
            (DialStatus::Busy, 17, Outcome::Busy),
            (DialStatus::NoAnswer, 19, Outcome::NoAnswer),
            (DialStatus::ChanUnavail, 20, Outcome::Failed),
            (DialStatus::Congestion, 34, Outcome::Failed),
        ] {
            let events = failed_dial(status.clone(), cause);
            let mut tr = CallTracker::new();
            assert_eq!(
                run(&mut tr, &events),
                vec![
                    unreached("1001", outcome, false, t(501)),
                    finished(outcome, false, t(502)),
                ],
                "{status:?}"
            );
            assert_eq!(tr.active_calls(), 0, "{status:?}");
            // A replay of the whole call, and every event twice, add nothing.
            assert_eq!(run(&mut tr, &events), vec![], "{status:?}");
            let doubled: Vec<PbxEvent> =
                events.iter().flat_map(|e| [e.clone(), e.clone()]).collect();
            let mut fresh = CallTracker::new();
            assert_eq!(run(&mut fresh, &doubled).len(), 2, "{status:?}");
        }
    }

    #[test]
    fn the_busy_cause_alone_is_enough_when_the_dial_status_was_missed() {
        let mut events = failed_dial(DialStatus::Busy, 17);
        events.remove(4); // no Dial BUSY: only the hangup causes say busy
        let mut tr = CallTracker::new();
        assert_eq!(
            run(&mut tr, &events),
            vec![
                unreached("1001", Outcome::Busy, false, t(501)),
                finished(Outcome::Busy, false, t(502)),
            ]
        );
    }

    #[test]
    fn a_caller_who_hangs_up_before_the_phone_rings_abandoned_the_call() {
        let events = [
            created(trunk(), 0),
            created(phone(PHONE, "1001", LegState::Down), 2),
            dial(phone(PHONE, "1001", LegState::Down), DialStatus::Started, 3),
            hangup_request(CALL, None, false, 40),
            dial(phone(PHONE, "1001", LegState::Down), DialStatus::Cancel, 40),
            hangup(PHONE, 127, 41),
            hangup(CALL, 127, 42),
        ];
        let mut tr = CallTracker::new();
        assert_eq!(
            run(&mut tr, &events),
            vec![
                unreached("1001", Outcome::Abandoned, false, t(41)),
                finished(Outcome::Abandoned, false, t(42)),
            ]
        );
    }

    #[test]
    fn a_busy_operator_does_not_end_a_call_put_through_to_a_colleague() {
        let colleague = "1795859908.4";
        let mut events = failed_dial(DialStatus::Busy, 17);
        events.truncate(6); // the caller stays: the dialplan dials 1002 next
        events.extend([
            created(phone(colleague, "1002", LegState::Down), 510),
            dial(
                phone(colleague, "1002", LegState::Down),
                DialStatus::Started,
                511,
            ),
            PbxEvent::Ringing {
                channel_id: colleague.into(),
                at: t(512),
            },
            PbxEvent::Answered {
                channel_id: colleague.into(),
                at: t(2512),
            },
            hangup(colleague, 16, 6512),
            hangup(CALL, 16, 6513),
        ]);
        let mut tr = CallTracker::new();
        assert_eq!(
            run(&mut tr, &events),
            vec![
                unreached("1001", Outcome::Busy, false, t(501)),
                CallEvent::Ringing {
                    call_id: CALL.into(),
                    direction: CallDirection::Inbound,
                    caller_number_raw: "0671234567".into(),
                    caller_name: "Resident".into(),
                    dialed_number: "1580".into(),
                    operator_extension: "1002".into(),
                    at: t(512),
                },
                CallEvent::Answered {
                    call_id: CALL.into(),
                    answered_by: "1002".into(),
                    at: t(2512),
                },
                CallEvent::Ended {
                    call_id: CALL.into(),
                    operator_extension: "1002".into(),
                    outcome: Outcome::Answered,
                    duration_s: Some(4),
                    reconciled: false,
                    at: t(6512),
                },
                finished(Outcome::Answered, false, t(6513)),
            ]
        );
        assert_eq!(tr.active_calls(), 0);
    }

    #[test]
    fn a_busy_answer_missed_while_the_link_was_down_is_reconciled_once() {
        let events = failed_dial(DialStatus::Busy, 17);
        let later = t(5000);

        // The link dropped after the Dial BUSY: the outcome is known, the end is inferred.
        let mut tr = CallTracker::new();
        assert_eq!(run(&mut tr, &events[..5]), vec![]);
        assert_eq!(
            tr.reconcile(&[], later),
            vec![
                unreached("1001", Outcome::Busy, true, later),
                finished(Outcome::Busy, true, later),
            ]
        );
        assert_eq!(tr.active_calls(), 0);
        assert_eq!(tr.reconcile(&[], later), vec![]);
        assert_eq!(
            run(&mut tr, &events[5..]),
            vec![],
            "late events add nothing"
        );

        // It dropped right after the dial started: gone unseen is a best guess (abandoned).
        let mut tr = CallTracker::new();
        assert_eq!(run(&mut tr, &events[..3]), vec![]);
        assert_eq!(
            tr.reconcile(&[], later),
            vec![
                unreached("1001", Outcome::Abandoned, true, later),
                finished(Outcome::Abandoned, true, later),
            ]
        );
        assert_eq!(run(&mut tr, &events[3..]), vec![]);
        assert_eq!(tr.active_calls(), 0);
    }

    #[test]
    fn a_caller_still_present_after_the_reconnect_finishes_the_call_later() {
        let events = failed_dial(DialStatus::Busy, 17);
        let mut tr = CallTracker::new();
        run(&mut tr, &events[..5]);
        // The phone's leg is gone; the caller's is still there (hearing the busy tone).
        let present = [trunk()];
        assert_eq!(
            tr.reconcile(&present, t(1000)),
            vec![unreached("1001", Outcome::Busy, true, t(1000))]
        );
        assert_eq!(tr.active_calls(), 1);
        let caller_hangs_up = [
            hangup_request(CALL, None, false, 3000),
            hangup(CALL, 16, 3001),
        ];
        assert_eq!(
            run(&mut tr, &caller_hangs_up),
            vec![finished(Outcome::Busy, false, t(3001))]
        );
        assert_eq!(tr.active_calls(), 0);
    }
}
