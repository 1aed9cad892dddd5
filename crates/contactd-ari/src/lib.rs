//! Asterisk ARI for contactd: the wire format (`events`, `models`, `ari_time`), a Swagger 1.1
//! model validator (`schema`), the PBX-neutral boundary (`pbx_event`), the pure call tracker
//! (`tracker`) and the ARI REST (`rest`) and WebSocket (`ws`) clients.

pub mod ari_time;
pub mod events;
pub mod models;
pub mod pbx_event;
pub mod rest;
pub mod schema;
pub mod secret;
pub mod tracker;
pub mod ws;

pub use events::{parse_frame, AriEvent, FrameError, DEFAULT_MAX_FRAME_LEN};
pub use pbx_event::{translate, ChannelSnapshot, PbxEvent};
pub use rest::{AriRest, OriginateParams, RestError};
pub use secret::{Credentials, Secret};
pub use tracker::{CallEvent, CallTracker, Outcome};
pub use ws::{FrameSink, LinkState, WsConfig, WsMessage, WsStats};
