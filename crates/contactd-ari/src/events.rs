//! ARI WebSocket events: serde types for the events a contact center needs, the `AriEvent` enum
//! (with an explicit `Unknown` variant that keeps the raw JSON) and `parse_frame`, which turns one
//! WebSocket text frame into an event or a `FrameError` the caller logs and counts.
//!
//! Parsing is two cheap passes rather than serde's buffered internally-tagged enum: a peek that
//! finds the `type` field without allocating (every other value is skipped), then a direct
//! deserialization of the whole frame into the one struct that type names (see
//! `benches/parse.rs` for the figures). A known type whose body does not match its model is an
//! error, never `Unknown`.

use chrono::{DateTime, Utc};
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

pub use crate::models::{Bridge, CallerID, Channel, DeviceState, DialplanCEP, JsonObject};

/// A sensible default for `parse_frame`'s `max_len`: real frames are 0.5–2 KiB; a channel with
/// many `channelvars` stays far below this.
pub const DEFAULT_MAX_FRAME_LEN: usize = 256 * 1024;

/// Why a WebSocket text frame did not become an [`AriEvent`].
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The frame is larger than the configured limit.
    #[error(
        "ARI frame of {len} bytes exceeds the limit of {max} bytes; if Asterisk legitimately \
         sends such frames (huge channelvars?), raise the frame size limit"
    )]
    Oversized { len: usize, max: usize },
    /// The frame is not JSON at all.
    #[error("ARI frame is not valid JSON ({source}); is the URL really Asterisk's /ari/events?")]
    InvalidJson {
        #[source]
        source: serde_json::Error,
    },
    /// The frame is JSON but not an object with a string `type`.
    #[error("ARI frame is not a JSON object with a string `type` field ({detail})")]
    MissingType { detail: String },
    /// A known event type whose body does not match Asterisk's model.
    #[error(
        "ARI {event_type} event does not match Asterisk's model: {message}; the event was \
         dropped (check the Asterisk version against the api-docs this build was made for)"
    )]
    Malformed { event_type: String, message: String },
}

macro_rules! ari_events {
    ($(
        $(#[$meta:meta])*
        $name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)? }
    )*) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
            pub struct $name {
                $( $(#[$fmeta])* pub $field: $ty, )*
                /// Name of the Stasis application receiving the event (`Event.application`).
                pub application: String,
                /// When Asterisk created the event (`Event.timestamp`).
                #[serde(with = "crate::ari_time")]
                pub timestamp: DateTime<Utc>,
                /// Which Asterisk raised it (`Message.asterisk_id`).
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub asterisk_id: Option<String>,
            }
        )*

        /// One ARI event. Serializes back to the wire format (with `type`); `Unknown` serializes
        /// as the raw JSON it was parsed from.
        #[derive(Debug, Clone, PartialEq)]
        pub enum AriEvent {
            $( $name(Box<$name>), )*
            /// An event type this crate does not model, with its raw JSON.
            Unknown { event_type: String, raw: serde_json::Value },
        }

        impl AriEvent {
            /// The event's `type` as on the wire.
            pub fn event_type(&self) -> &str {
                match self {
                    $( AriEvent::$name(_) => stringify!($name), )*
                    AriEvent::Unknown { event_type, .. } => event_type,
                }
            }

            /// The event's timestamp (`None` only for `Unknown` frames without a readable one).
            pub fn timestamp(&self) -> Option<DateTime<Utc>> {
                match self {
                    $( AriEvent::$name(e) => Some(e.timestamp), )*
                    AriEvent::Unknown { raw, .. } => raw
                        .get("timestamp")
                        .and_then(serde_json::Value::as_str)
                        .and_then(crate::ari_time::parse_ari_time),
                }
            }

            /// Every event type modelled by [`AriEvent`] (not `Unknown`).
            pub const KNOWN_TYPES: &'static [&'static str] = &[ $( stringify!($name), )* ];
        }

        fn parse_known(event_type: &str, text: &str) -> Option<Result<AriEvent, serde_json::Error>> {
            match event_type {
                $( stringify!($name) => Some(
                    serde_json::from_str::<$name>(text).map(|e| AriEvent::$name(Box::new(e)))
                ), )*
                _ => None,
            }
        }

        impl Serialize for AriEvent {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                #[derive(Serialize)]
                #[serde(tag = "type")]
                enum Tagged<'a> { $( $name(&'a $name), )* }
                match self {
                    $( AriEvent::$name(e) => Tagged::$name(e).serialize(s), )*
                    AriEvent::Unknown { raw, .. } => raw.serialize(s),
                }
            }
        }
    };
}

ari_events! {
    /// A channel was created.
    ChannelCreated { channel: Channel }

    /// A channel's state changed (e.g. `Ringing`, `Up`).
    ChannelStateChange { channel: Channel }

    /// A channel moved through the dialplan.
    ChannelDialplan {
        channel: Channel,
        dialplan_app: String,
        dialplan_app_data: String,
    }

    /// Dialing state of a peer; `caller` is absent for originated channels.
    Dial {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caller: Option<Channel>,
        peer: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forward: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forwarded: Option<Channel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dialstring: Option<String>,
        /// `""` at the start, then `RINGING`, `ANSWER`, `BUSY`, `NOANSWER`, `CANCEL`,
        /// `CONGESTION`, `CHANUNAVAIL`, `PROGRESS`…
        dialstatus: String,
    }

    /// A channel's caller id changed.
    ChannelCallerId {
        caller_presentation: i64,
        caller_presentation_txt: String,
        channel: Channel,
    }

    /// A channel's connected line changed.
    ChannelConnectedLine { channel: Channel }

    /// A channel entered a bridge.
    ChannelEnteredBridge {
        bridge: Bridge,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
    }

    /// A channel left a bridge.
    ChannelLeftBridge { bridge: Bridge, channel: Channel }

    /// A hangup was requested. With `soft: true` the `cause` is Asterisk's soft-hangup flag
    /// (16 = application returned, 4 = shutdown), not a Q.850 cause.
    ChannelHangupRequest {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tech_cause: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        soft: Option<bool>,
        channel: Channel,
    }

    /// A channel was destroyed; `cause` is Q.850.
    ChannelDestroyed {
        cause: i64,
        cause_txt: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tech_cause: Option<i64>,
        channel: Channel,
    }

    /// A channel entered our Stasis application.
    StasisStart {
        args: Vec<String>,
        channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replace_channel: Option<Channel>,
    }

    /// A channel left our Stasis application.
    StasisEnd { channel: Channel }

    /// A channel (or global, without `channel`) variable was set.
    ChannelVarset {
        variable: String,
        value: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
    }

    /// A bridge was created.
    BridgeCreated { bridge: Bridge }

    /// A bridge was destroyed.
    BridgeDestroyed { bridge: Bridge }

    /// A device (endpoint, queue…) changed state.
    DeviceStateChanged { device_state: DeviceState }
}

/// Parses one WebSocket text frame.
///
/// Errors are for the caller to log (without the frame: it carries phone numbers) and count;
/// an unmodelled event type is `Ok(AriEvent::Unknown)`.
pub fn parse_frame(text: &str, max_len: usize) -> Result<AriEvent, FrameError> {
    if text.len() > max_len {
        return Err(FrameError::Oversized {
            len: text.len(),
            max: max_len,
        });
    }
    let event_type = peek_type(text)?;
    match parse_known(&event_type, text) {
        Some(Ok(ev)) => Ok(ev),
        Some(Err(e)) => Err(FrameError::Malformed {
            event_type,
            message: e.to_string(),
        }),
        None => {
            let raw =
                serde_json::from_str(text).map_err(|source| FrameError::InvalidJson { source })?;
            Ok(AriEvent::Unknown { event_type, raw })
        }
    }
}

/// Finds the top-level `type` string, skipping every other value without allocating.
fn peek_type(text: &str) -> Result<String, FrameError> {
    let peek: TypePeek = serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => FrameError::MissingType {
            detail: e.to_string(),
        },
        _ => FrameError::InvalidJson { source: e },
    })?;
    match peek.0 {
        Some(serde_json::Value::String(t)) => Ok(t),
        Some(other) => Err(FrameError::MissingType {
            detail: format!("`type` is {other}, not a string"),
        }),
        None => Err(FrameError::MissingType {
            detail: "no `type` field".to_owned(),
        }),
    }
}

/// The `type` field of a frame, if any (its value is kept as JSON to report a wrong kind).
struct TypePeek(Option<serde_json::Value>);

impl<'de> Deserialize<'de> for TypePeek {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IsType(bool);
        impl<'de> Deserialize<'de> for IsType {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct KeyV;
                impl Visitor<'_> for KeyV {
                    type Value = IsType;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("an object key")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<IsType, E> {
                        Ok(IsType(v == "type"))
                    }
                }
                d.deserialize_identifier(KeyV)
            }
        }

        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TypePeek;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an ARI event object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TypePeek, A::Error> {
                let mut found = None;
                while let Some(IsType(is_type)) = map.next_key::<IsType>()? {
                    if is_type && found.is_none() {
                        found = Some(map.next_value::<serde_json::Value>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(TypePeek(found))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: &str = r#"{"type":"ChannelCreated","timestamp":"2026-11-28T09:58:19.327+0000","channel":{"id":"1795859899.0","name":"PJSIP/trunk-00000000","state":"Ring","protocol_id":"","caller":{"name":"Resident","number":"0671234567"},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"from-trunk","exten":"1580","priority":1,"app_name":"","app_data":""},"creationtime":"2026-11-28T09:58:19.327+0000","language":"en"},"asterisk_id":"02:fc:00:00:00:01","application":"cc"}"#;

    #[test]
    fn parses_and_round_trips_a_known_event() {
        let ev = parse_frame(CREATED, DEFAULT_MAX_FRAME_LEN).unwrap();
        let AriEvent::ChannelCreated(c) = &ev else {
            panic!("not ChannelCreated: {ev:?}")
        };
        assert_eq!(c.channel.caller.number, "0671234567");
        assert_eq!(ev.event_type(), "ChannelCreated");
        let back = serde_json::to_value(&ev).unwrap();
        let orig: serde_json::Value = serde_json::from_str(CREATED).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn unknown_type_keeps_raw_json() {
        let text = r#"{"type":"PlaybackStarted","application":"cc","timestamp":"2026-11-28T09:58:19.327+0000","playback":{"id":"x"}}"#;
        let ev = parse_frame(text, DEFAULT_MAX_FRAME_LEN).unwrap();
        match &ev {
            AriEvent::Unknown { event_type, raw } => {
                assert_eq!(event_type, "PlaybackStarted");
                assert_eq!(raw["playback"]["id"], "x");
            }
            other => panic!("expected Unknown, got {other:?}"),
        }
        assert_eq!(serde_json::to_string(&ev).unwrap().len(), {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            serde_json::to_string(&v).unwrap().len()
        });
        assert!(ev.timestamp().is_some());
    }

    #[test]
    fn known_type_with_bad_body_is_an_error_not_unknown() {
        let text = CREATED.replace(r#""caller":{"name":"Resident","number":"0671234567"},"#, "");
        match parse_frame(&text, DEFAULT_MAX_FRAME_LEN) {
            Err(FrameError::Malformed {
                event_type,
                message,
            }) => {
                assert_eq!(event_type, "ChannelCreated");
                assert!(message.contains("caller"), "{message}");
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
        let bad_time = CREATED.replace("09:58:19.327+0000\",\"channel", "soon\",\"channel");
        assert!(matches!(
            parse_frame(&bad_time, DEFAULT_MAX_FRAME_LEN),
            Err(FrameError::Malformed { .. })
        ));
    }

    #[test]
    fn frame_errors() {
        assert!(matches!(
            parse_frame(CREATED, 10),
            Err(FrameError::Oversized { max: 10, .. })
        ));
        assert!(matches!(
            parse_frame("{\"type\":", 1000),
            Err(FrameError::InvalidJson { .. })
        ));
        assert!(matches!(
            parse_frame("{\"application\":\"cc\"}", 1000),
            Err(FrameError::MissingType { .. })
        ));
        assert!(matches!(
            parse_frame("{\"type\":5}", 1000),
            Err(FrameError::MissingType { .. })
        ));
        assert!(matches!(
            parse_frame("[1,2]", 1000),
            Err(FrameError::MissingType { .. })
        ));
        assert!(matches!(
            parse_frame("{\"type\":\"Dial\"} x", 1000),
            Err(FrameError::InvalidJson { .. })
        ));
    }

    #[test]
    fn type_key_inside_nested_objects_is_not_the_event_type() {
        let text = r#"{"x":{"type":"Dial"},"type":"Custom","application":"cc"}"#;
        let ev = parse_frame(text, 1000).unwrap();
        assert_eq!(ev.event_type(), "Custom");
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let e = parse_frame(CREATED, 10).unwrap_err().to_string();
        assert!(e.contains("raise the frame size limit"), "{e}");
    }
}
