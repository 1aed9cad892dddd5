//! contactd: the citizen contact-center daemon. See `docs/ARCHITECTURE.md` for the map.

pub mod app;
pub mod auth;
pub mod calendar;
pub mod classifier;
pub mod clock;
pub mod config;
pub mod escalation;
pub mod http;
pub mod hub;
pub mod mail;
pub mod metrics;
pub mod pbx;
pub mod requests;
pub mod scheduler;
pub mod storage;
pub mod survey;
pub mod telemetry;
