//! Asterisk ARI for contactd: the wire format (`events`, `models`), a Swagger 1.1 model validator
//! (`schema`), the PBX-neutral boundary (`pbx_event`), the call tracker (`tracker`) and the ARI
//! REST (`rest`) and WebSocket (`ws`) clients.

pub mod ari_time;
pub mod events;
pub mod models;
pub mod schema;

pub use events::{parse_frame, AriEvent, FrameError, DEFAULT_MAX_FRAME_LEN};
pub mod pbx_event;
pub mod tracker;

pub use pbx_event::{translate, ChannelSnapshot, PbxEvent};
pub use tracker::{CallEvent, CallTracker, Outcome};
