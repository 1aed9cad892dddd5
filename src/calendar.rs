//! The daemon's working-time calendars (contact center and executors), built once from
//! `[calendar]`; the rules live in the `contactd-calendar` crate.

use std::sync::Arc;

pub use contactd_calendar::{CalendarError, CalendarSettings, ScheduleKind, Term, WorkCalendar};

/// Both schedules' calendars.
#[derive(Debug, Clone)]
pub struct Calendars {
    pub contact_center: Arc<WorkCalendar>,
    pub executors: Arc<WorkCalendar>,
}

impl Calendars {
    pub fn from_settings(settings: &CalendarSettings) -> Result<Self, CalendarError> {
        Ok(Self {
            contact_center: Arc::new(WorkCalendar::from_settings(
                settings,
                ScheduleKind::ContactCenter,
            )?),
            executors: Arc::new(WorkCalendar::from_settings(
                settings,
                ScheduleKind::Executors,
            )?),
        })
    }

    pub fn get(&self, kind: ScheduleKind) -> &WorkCalendar {
        match kind {
            ScheduleKind::ContactCenter => &self.contact_center,
            ScheduleKind::Executors => &self.executors,
        }
    }
}
