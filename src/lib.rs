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

/// The allocator of every binary built on this crate: the daemon, and its tests and benches, so
/// that they measure what runs. jemalloc, measured against glibc's malloc in interleaved bench
/// runs (issue 4 note): registrations on PostgreSQL +5 %, pop-up p99 lower; mimalloc was as fast
/// on registrations but worse in the pop-up tail.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
