//! The PBX-neutral boundary: `PbxEvent` (what the call tracker consumes, whatever the PBX) and
//! `translate`, which maps an ARI event to zero or more of them. Another PBX adds its own
//! translation to these types without touching the tracker.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::events::AriEvent;
use crate::models::Channel;

/// A channel's call state, as far as call tracking cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegState {
    /// Not yet signalling (`Down`, `Rsrved`, `OffHook`, `Dialing`…).
    Down,
    /// An incoming call offered to the PBX and not yet answered (Asterisk `Ring`).
    Ring,
    /// The far end (a phone) is ringing (Asterisk `Ringing`, `Pre-ring`).
    Ringing,
    /// Answered (Asterisk `Up`).
    Up,
    /// The far end is busy.
    Busy,
    /// Anything else, verbatim.
    Other(String),
}

impl LegState {
    /// Maps Asterisk's channel state text.
    pub fn from_asterisk(state: &str) -> Self {
        match state {
            "Down" | "Rsrved" | "OffHook" | "Dialing" | "Dialing Offhook" => LegState::Down,
            "Ring" => LegState::Ring,
            "Ringing" | "Pre-ring" => LegState::Ringing,
            "Up" => LegState::Up,
            "Busy" => LegState::Busy,
            other => LegState::Other(other.to_owned()),
        }
    }
}

/// What is known about one channel (call leg) at a point in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSnapshot {
    /// The PBX's unique id of the channel.
    pub channel_id: String,
    /// Technology name, e.g. `PJSIP/1001-0000002a`.
    pub name: String,
    /// The operator extension when the channel is an operator phone's leg (see
    /// [`operator_extension`]); `None` for trunks and anything else.
    pub extension: Option<String>,
    pub state: LegState,
    /// Caller id number as the PBX gives it (the resident on an inbound trunk leg; the dialled
    /// service number on an operator leg).
    pub caller_number: String,
    pub caller_name: String,
    /// Connected line (the resident on an operator leg).
    pub connected_number: String,
    pub connected_name: String,
    /// The dialplan extension the channel is at (`1580` for an inbound trunk leg).
    pub dialed_exten: String,
    /// The dialplan application running (`Dial`, `Queue`, `AppDial`…).
    pub dialplan_app: String,
    /// The call's linked id when the PBX exposes it.
    pub linked_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl ChannelSnapshot {
    /// The snapshot of an ARI channel.
    pub fn from_ari(c: &Channel) -> Self {
        ChannelSnapshot {
            channel_id: c.id.clone(),
            name: c.name.clone(),
            extension: operator_extension(&c.name).map(str::to_owned),
            state: LegState::from_asterisk(&c.state),
            caller_number: c.caller.number.clone(),
            caller_name: c.caller.name.clone(),
            connected_number: c.connected.number.clone(),
            connected_name: c.connected.name.clone(),
            dialed_exten: c.dialplan.exten.clone(),
            dialplan_app: c.dialplan.app_name.clone(),
            linked_id: c.linked_id().map(str::to_owned),
            created_at: c.creationtime,
        }
    }

    /// The id of the call this channel belongs to when it is the caller's leg: its linked id
    /// when known, else its own id (which is the linked id of the first leg).
    pub fn call_id(&self) -> &str {
        self.linked_id.as_deref().unwrap_or(&self.channel_id)
    }
}

/// The result of one dial attempt, as reported by the PBX (`DIALSTATUS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialStatus {
    /// Dialling started (Asterisk sends an empty status first).
    Started,
    Ringing,
    Progress,
    Answer,
    Busy,
    NoAnswer,
    /// The caller gave up (or a queue cancelled the leg because another answered).
    Cancel,
    Congestion,
    ChanUnavail,
    DontCall,
    Torture,
    InvalidArgs,
    Other(String),
}

impl DialStatus {
    /// Maps Asterisk's `dialstatus` text.
    pub fn from_asterisk(s: &str) -> Self {
        match s {
            "" => DialStatus::Started,
            "RINGING" => DialStatus::Ringing,
            "PROGRESS" => DialStatus::Progress,
            "ANSWER" => DialStatus::Answer,
            "BUSY" => DialStatus::Busy,
            "NOANSWER" => DialStatus::NoAnswer,
            "CANCEL" => DialStatus::Cancel,
            "CONGESTION" => DialStatus::Congestion,
            "CHANUNAVAIL" => DialStatus::ChanUnavail,
            "DONTCALL" => DialStatus::DontCall,
            "TORTURE" => DialStatus::Torture,
            "INVALIDARGS" => DialStatus::InvalidArgs,
            other => DialStatus::Other(other.to_owned()),
        }
    }

    /// Whether the attempt is over (no further status will follow).
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            DialStatus::Started | DialStatus::Ringing | DialStatus::Progress
        )
    }
}

/// A PBX-neutral call event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PbxEvent {
    /// A channel appeared.
    ChannelCreated {
        channel: ChannelSnapshot,
        at: DateTime<Utc>,
    },
    /// A channel's far end is ringing.
    Ringing {
        channel_id: String,
        at: DateTime<Utc>,
    },
    /// A channel was answered.
    Answered {
        channel_id: String,
        at: DateTime<Utc>,
    },
    /// A dial attempt from `caller` (absent for originated channels) to `peer` progressed.
    Dial {
        caller: Option<Box<ChannelSnapshot>>,
        peer: ChannelSnapshot,
        /// What was dialled (`1001`, `PJSIP/1002` from a queue, `0501234567@trunk`).
        dialstring: Option<String>,
        status: DialStatus,
        at: DateTime<Utc>,
    },
    /// A channel joined a bridge (is talking to someone).
    Bridged {
        channel_id: String,
        bridge_id: String,
        at: DateTime<Utc>,
    },
    /// A channel left a bridge.
    Unbridged {
        channel_id: String,
        bridge_id: String,
        at: DateTime<Utc>,
    },
    /// Someone asked to hang a channel up. `cause` is a Q.850 cause and is `None` for soft
    /// hangups (whose Asterisk `cause` is an internal flag) and when the PBX gave none.
    HangupRequested {
        channel_id: String,
        cause: Option<u32>,
        soft: bool,
        /// Technology cause (SIP status such as 486, 487) when given.
        tech_cause: Option<u32>,
        at: DateTime<Utc>,
    },
    /// A channel is gone; `cause` is Q.850 (16 normal clearing, 17 busy, 19 no answer, 26
    /// answered elsewhere, 127 interworking…).
    Hangup {
        channel_id: String,
        cause: Option<u32>,
        cause_txt: String,
        at: DateTime<Utc>,
    },
}

impl PbxEvent {
    /// When the PBX says it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            PbxEvent::ChannelCreated { at, .. }
            | PbxEvent::Ringing { at, .. }
            | PbxEvent::Answered { at, .. }
            | PbxEvent::Dial { at, .. }
            | PbxEvent::Bridged { at, .. }
            | PbxEvent::Unbridged { at, .. }
            | PbxEvent::HangupRequested { at, .. }
            | PbxEvent::Hangup { at, .. } => *at,
        }
    }
}

/// The operator extension of an endpoint-style channel name: `PJSIP/1001-0000002a` → `1001`.
///
/// Only SIP-like technologies (`PJSIP`, `SIP`, `IAX2`) with an all-digit endpoint name of at
/// most 10 digits count as operator phones; `PJSIP/trunk-…` (inbound and outbound trunk legs),
/// `Local/…` and other helper channels do not.
pub fn operator_extension(channel_name: &str) -> Option<&str> {
    let (tech, rest) = channel_name.split_once('/')?;
    if !matches!(tech, "PJSIP" | "SIP" | "IAX2") {
        return None;
    }
    let endpoint = rest.rsplit_once('-').map_or(rest, |(e, _)| e);
    let is_ext = !endpoint.is_empty()
        && endpoint.len() <= 10
        && endpoint.bytes().all(|b| b.is_ascii_digit());
    is_ext.then_some(endpoint)
}

fn cause_u32(c: i64) -> Option<u32> {
    u32::try_from(c).ok()
}

/// Maps one ARI event to PBX-neutral events (most ARI events map to none).
pub fn translate(ev: &AriEvent) -> Vec<PbxEvent> {
    match ev {
        AriEvent::ChannelCreated(e) => vec![PbxEvent::ChannelCreated {
            channel: ChannelSnapshot::from_ari(&e.channel),
            at: e.timestamp,
        }],
        AriEvent::ChannelStateChange(e) => {
            let channel_id = e.channel.id.clone();
            match LegState::from_asterisk(&e.channel.state) {
                LegState::Ringing => vec![PbxEvent::Ringing {
                    channel_id,
                    at: e.timestamp,
                }],
                LegState::Up => vec![PbxEvent::Answered {
                    channel_id,
                    at: e.timestamp,
                }],
                _ => Vec::new(),
            }
        }
        AriEvent::Dial(e) => vec![PbxEvent::Dial {
            caller: e
                .caller
                .as_ref()
                .map(|c| Box::new(ChannelSnapshot::from_ari(c))),
            peer: ChannelSnapshot::from_ari(&e.peer),
            dialstring: e.dialstring.clone().filter(|d| !d.is_empty()),
            status: DialStatus::from_asterisk(&e.dialstatus),
            at: e.timestamp,
        }],
        AriEvent::ChannelEnteredBridge(e) => e
            .channel
            .as_ref()
            .map(|c| PbxEvent::Bridged {
                channel_id: c.id.clone(),
                bridge_id: e.bridge.id.clone(),
                at: e.timestamp,
            })
            .into_iter()
            .collect(),
        AriEvent::ChannelLeftBridge(e) => vec![PbxEvent::Unbridged {
            channel_id: e.channel.id.clone(),
            bridge_id: e.bridge.id.clone(),
            at: e.timestamp,
        }],
        AriEvent::ChannelHangupRequest(e) => {
            let soft = e.soft.unwrap_or(false);
            vec![PbxEvent::HangupRequested {
                channel_id: e.channel.id.clone(),
                cause: if soft {
                    None
                } else {
                    e.cause.and_then(cause_u32)
                },
                soft,
                tech_cause: e.tech_cause.and_then(cause_u32),
                at: e.timestamp,
            }]
        }
        AriEvent::ChannelDestroyed(e) => vec![PbxEvent::Hangup {
            channel_id: e.channel.id.clone(),
            cause: cause_u32(e.cause),
            cause_txt: e.cause_txt.clone(),
            at: e.timestamp,
        }],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_from_channel_name() {
        assert_eq!(operator_extension("PJSIP/1001-0000002a"), Some("1001"));
        assert_eq!(operator_extension("PJSIP/1002"), Some("1002"));
        assert_eq!(operator_extension("SIP/205-00000001"), Some("205"));
        assert_eq!(operator_extension("PJSIP/trunk-00000000"), None);
        assert_eq!(operator_extension("Local/1001@operators-00000001;1"), None);
        assert_eq!(operator_extension("PJSIP/-0001"), None);
        assert_eq!(operator_extension("PJSIP/12345678901-0001"), None);
        assert_eq!(operator_extension("nonsense"), None);
    }

    #[test]
    fn dial_status_and_state_mapping() {
        assert_eq!(DialStatus::from_asterisk(""), DialStatus::Started);
        assert_eq!(DialStatus::from_asterisk("CANCEL"), DialStatus::Cancel);
        assert!(DialStatus::from_asterisk("NOANSWER").is_final());
        assert!(!DialStatus::from_asterisk("RINGING").is_final());
        assert_eq!(LegState::from_asterisk("Ring"), LegState::Ring);
        assert_eq!(LegState::from_asterisk("Ringing"), LegState::Ringing);
        assert_eq!(
            LegState::from_asterisk("Mystery"),
            LegState::Other("Mystery".into())
        );
    }
}
