//! Working-time calendar of the contact center: Europe/Kyiv time, Ukrainian holidays as data,
//! the martial-law switch, and deadline arithmetic (working days, calendar days, hours).
//!
//! Build a [`WorkCalendar`] from the `[calendar]` settings ([`CalendarSettings`]) for one
//! schedule ([`ScheduleKind::ContactCenter`] or [`ScheduleKind::Executors`]), then ask it:
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use contactd_calendar::{CalendarSettings, ScheduleKind, WorkCalendar};
//!
//! let settings = CalendarSettings { martial_law: false, ..CalendarSettings::default() };
//! let cal = WorkCalendar::from_settings(&settings, ScheduleKind::Executors)?;
//! // Registered on Friday 2026-04-10 at 17:30 Kyiv (14:30 UTC), 10 working days:
//! let from = Utc.with_ymd_and_hms(2026, 4, 10, 14, 30, 0).unwrap();
//! let due = cal.add_working_days(from, 10)?;
//! // Easter Monday 2026-04-13 is off in peacetime: due at the end of Monday 2026-04-27.
//! assert_eq!(due.to_rfc3339(), "2026-04-27T14:00:00+00:00");
//! # Ok::<(), contactd_calendar::CalendarError>(())
//! ```
//!
//! No function reads the wall clock: time is always a parameter.

mod calendar;
mod error;
mod holidays;
mod render;
mod settings;
mod time;

pub use calendar::{DayInfo, DayKind, ScheduleKind, Term, WorkCalendar, WorkingHours};
pub use error::CalendarError;
pub use holidays::{Holiday, Holidays};
pub use render::render_month;
pub use settings::{CalendarSettings, ScheduleSettings, Transfer};
pub use time::{local_date, TimeOfDay, TimeRange, KYIV};
