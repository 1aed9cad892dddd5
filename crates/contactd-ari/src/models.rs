//! ARI data models shared by events and REST bodies (`Channel`, `CallerID`, `DialplanCEP`,
//! `Bridge`, `DeviceState`, `AsteriskInfo`), field for field as in Asterisk 22's api-docs.
//!
//! Required properties are plain fields (a frame without them fails to parse, loudly); optional
//! ones are `Option` and are left out again on serialization so a frame round-trips.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A JSON object with arbitrary keys (`channelvars`, `bridgevars`).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// Caller identification (`channels.json` `CallerID`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerID {
    pub name: String,
    pub number: String,
}

/// Dialplan location: context, extension, priority (`channels.json` `DialplanCEP`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialplanCEP {
    pub context: String,
    pub exten: String,
    pub priority: i64,
    pub app_name: String,
    pub app_data: String,
}

/// A channel snapshot (`channels.json` `Channel`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Unique id (Asterisk's uniqueid), e.g. `1795859899.0`.
    pub id: String,
    pub protocol_id: String,
    /// Channel name, e.g. `PJSIP/1001-00000001`.
    pub name: String,
    /// `Down`, `Rsrved`, `OffHook`, `Dialing`, `Ring`, `Ringing`, `Up`, `Busy`,
    /// `Dialing Offhook`, `Pre-ring` or `Unknown`; kept as text so a new value does not break
    /// parsing.
    pub state: String,
    pub caller: CallerID,
    pub connected: CallerID,
    pub accountcode: String,
    pub dialplan: DialplanCEP,
    #[serde(with = "crate::ari_time")]
    pub creationtime: DateTime<Utc>,
    pub language: String,
    /// Present only when `channelvars` is set in ari.conf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channelvars: Option<JsonObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_rdnis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenantid: Option<String>,
}

impl Channel {
    /// The call's linkedid when ari.conf exposes it (`channelvars = CHANNEL(linkedid)`).
    pub fn linked_id(&self) -> Option<&str> {
        let vars = self.channelvars.as_ref()?;
        ["CHANNEL(linkedid)", "linkedid", "LINKEDID"]
            .iter()
            .find_map(|k| vars.get(*k).and_then(serde_json::Value::as_str))
            .filter(|s| !s.is_empty())
    }
}

/// A bridge snapshot (`bridges.json` `Bridge`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bridge {
    pub id: String,
    pub technology: String,
    pub bridge_type: String,
    pub bridge_class: String,
    pub creator: String,
    pub name: String,
    /// Ids of the channels in the bridge.
    pub channels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_source_id: Option<String>,
    #[serde(with = "crate::ari_time")]
    pub creationtime: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridgevars: Option<JsonObject>,
}

/// The state of a device (`deviceStates.json` `DeviceState`): `PJSIP/1001`, `Queue:operators`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceState {
    pub name: String,
    /// `UNKNOWN`, `NOT_INUSE`, `INUSE`, `BUSY`, `INVALID`, `UNAVAILABLE`, `RINGING`,
    /// `RINGINUSE`, `ONHOLD`.
    pub state: String,
}

/// `GET /ari/asterisk/info` (`asterisk.json` `AsteriskInfo`); every part is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsteriskInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusInfo>,
}

impl AsteriskInfo {
    /// When Asterisk started; a change between two connections means Asterisk restarted (and
    /// hung up every call), as opposed to a network blip.
    pub fn startup_time(&self) -> Option<DateTime<Utc>> {
        self.status.as_ref().map(|s| s.startup_time)
    }
}

/// `asterisk.json` `BuildInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    pub os: String,
    pub kernel: String,
    pub options: String,
    pub machine: String,
    pub date: String,
    pub user: String,
}

/// `asterisk.json` `SystemInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    pub version: String,
    pub entity_id: String,
}

/// `asterisk.json` `SetId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetId {
    pub user: String,
    pub group: String,
}

/// `asterisk.json` `ConfigInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigInfo {
    pub name: String,
    pub default_language: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_channels: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open_files: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_load: Option<f64>,
    pub setid: SetId,
}

/// `asterisk.json` `StatusInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInfo {
    #[serde(with = "crate::ari_time")]
    pub startup_time: DateTime<Utc>,
    #[serde(with = "crate::ari_time")]
    pub last_reload_time: DateTime<Utc>,
}
