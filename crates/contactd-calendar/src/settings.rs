//! The `[calendar]` section of the daemon's configuration: martial law, holiday file, declared
//! transfers and the two weekly schedules, with validation that names the key at fault.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{NaiveDate, Weekday};

use crate::error::CalendarError;
use crate::time::{TimeOfDay, TimeRange};

/// The `[calendar]` section.
///
/// ```toml
/// [calendar]
/// martial_law = true
/// # holidays_file = "/etc/contactd/holidays-2028.csv"
/// # transfers = [{ work = "2026-01-10", off = "2026-01-02" }]
///
/// [calendar.contact_center]
/// monday = "08:00-17:00"
/// tuesday = "08:00-17:00"
/// wednesday = "08:00-17:00"
/// thursday = "08:00-17:00"
/// friday = "08:00-15:45"
/// lunch = "12:00-12:45"
///
/// # [calendar.executors] — same keys; when absent, executors follow the contact center.
/// ```
///
/// Missing keys take their defaults ([`CalendarSettings::default`]); unknown keys are an error so
/// that a typo does not silently change deadlines. Call [`CalendarSettings::validate`] after
/// loading (building a [`crate::WorkCalendar`] does it too).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarSettings {
    /// `martial_law` (bool, default `true`, the situation in force since 24.02.2022). While
    /// `true`, holidays are ordinary working days: no day off, no moving of a day off that falls
    /// on a weekend, no shortened pre-holiday day, and `transfers` are not applied (Law 2136-IX
    /// art. 6 part 6). Set it to `false` the day martial law ends to restore the peacetime rules.
    pub martial_law: bool,

    /// `holidays_file` (path, optional). A CSV file in the format of the built-in list
    /// (`date,name_uk,name_en,notes`, dates `YYYY-MM-DD`). Its rows are added to the built-in
    /// Ukrainian list of 2025–2027; a row with the same date replaces the built-in one. Use it
    /// to add next year's holidays (Easter and Trinity move every year) or to follow a change in
    /// law. Without it, only the built-in list is used.
    pub holidays_file: Option<PathBuf>,

    /// `transfers` (list, default empty): days off moved by a Cabinet recommendation or a city
    /// decision, each `{ work = "YYYY-MM-DD", off = "YYYY-MM-DD" }`: the `work` date (usually a
    /// Saturday) is worked, with the hours the `off` date would have had, in exchange for the
    /// `off` date (usually a bridge day between a holiday and a weekend). Applied only in
    /// peacetime (`martial_law = false`), since under martial law no such transfers are made.
    /// A transfer applies to a schedule only when `off` is a working day and `work` is a day off
    /// in that schedule; otherwise that schedule ignores it.
    pub transfers: Vec<Transfer>,

    /// `[calendar.contact_center]`: the weekly schedule of the contact center (operators).
    /// Default: Monday–Thursday 08:00–17:00, Friday 08:00–15:45, lunch 12:00–12:45.
    pub contact_center: ScheduleSettings,

    /// `[calendar.executors]` (optional): the weekly schedule of the executors, used for their
    /// deadlines. When absent, executors follow `[calendar.contact_center]`. When present, it is
    /// a complete schedule: a day it does not list is a day off.
    pub executors: Option<ScheduleSettings>,
}

impl Default for CalendarSettings {
    fn default() -> Self {
        Self {
            martial_law: true,
            holidays_file: None,
            transfers: Vec::new(),
            contact_center: ScheduleSettings::default(),
            executors: None,
        }
    }
}

/// One declared transfer of a day off: `{ work = "YYYY-MM-DD", off = "YYYY-MM-DD" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// `work`: the day off that becomes a working day (usually a Saturday).
    pub work: NaiveDate,
    /// `off`: the working day that becomes a day off in exchange.
    pub off: NaiveDate,
}

/// A weekly schedule: `monday` … `sunday` = `"HH:MM-HH:MM"` opening hours (a missing day is a day
/// off), `lunch` = `"HH:MM-HH:MM"` break taken out of every working day it falls in.
///
/// Times are local Kyiv time; `24:00` is allowed as a closing time, ranges across midnight are
/// not. The [`Default`] is the contact center's: Monday–Thursday `08:00-17:00`, Friday
/// `08:00-15:45`, lunch `12:00-12:45`, weekend Saturday and Sunday.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSettings {
    /// `monday`: opening hours on Mondays, e.g. `"08:00-17:00"`; absent = day off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monday: Option<TimeRange>,
    /// `tuesday`: opening hours on Tuesdays; absent = day off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuesday: Option<TimeRange>,
    /// `wednesday`: opening hours on Wednesdays; absent = day off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wednesday: Option<TimeRange>,
    /// `thursday`: opening hours on Thursdays; absent = day off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thursday: Option<TimeRange>,
    /// `friday`: opening hours on Fridays, e.g. `"08:00-15:45"`; absent = day off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friday: Option<TimeRange>,
    /// `saturday`: opening hours on Saturdays; absent = day off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturday: Option<TimeRange>,
    /// `sunday`: opening hours on Sundays; absent = day off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunday: Option<TimeRange>,
    /// `lunch`: the lunch break, e.g. `"12:00-12:45"`, not working time on any day; absent = no
    /// break. On a day whose hours do not cover it (fully or partly) only the overlap is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lunch: Option<TimeRange>,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        let range = |a: (u16, u16), b: (u16, u16)| {
            TimeOfDay::from_hm(a.0, a.1)
                .zip(TimeOfDay::from_hm(b.0, b.1))
                .and_then(|(s, e)| TimeRange::new(s, e))
        };
        let full = range((8, 0), (17, 0));
        Self {
            monday: full,
            tuesday: full,
            wednesday: full,
            thursday: full,
            friday: range((8, 0), (15, 45)),
            saturday: None,
            sunday: None,
            lunch: range((12, 0), (12, 45)),
        }
    }
}

impl ScheduleSettings {
    /// The opening hours configured for a weekday.
    pub fn day(&self, weekday: Weekday) -> Option<TimeRange> {
        match weekday {
            Weekday::Mon => self.monday,
            Weekday::Tue => self.tuesday,
            Weekday::Wed => self.wednesday,
            Weekday::Thu => self.thursday,
            Weekday::Fri => self.friday,
            Weekday::Sat => self.saturday,
            Weekday::Sun => self.sunday,
        }
    }

    fn validate(&self, section: &str) -> Result<(), CalendarError> {
        let mut any = false;
        for weekday in WEEK {
            let Some(hours) = self.day(weekday) else {
                continue;
            };
            any = true;
            let key = format!("{section}.{}", weekday_key(weekday));
            if working_minutes(hours, self.lunch) == 0 {
                return Err(CalendarError::setting(
                    key,
                    format!(
                        "the hours {hours} lie entirely inside the lunch break; \
                         widen them or remove the day to make it a day off"
                    ),
                ));
            }
            // A pre-holiday day closes one hour earlier (Labour Code art. 53): that must leave
            // some working time, otherwise "end of the working day" would be before its start.
            let shortened = hours
                .end()
                .minus_hour()
                .and_then(|end| TimeRange::new(hours.start(), end));
            if shortened.is_none_or(|s| working_minutes(s, self.lunch) == 0) {
                return Err(CalendarError::setting(
                    key,
                    format!(
                        "the hours {hours} leave no working time when a pre-holiday day is one \
                         hour shorter; make the day longer than one hour plus lunch"
                    ),
                ));
            }
        }
        if !any {
            return Err(CalendarError::setting(
                section,
                "no working day is configured, so no deadline could ever be reached; \
                 give opening hours for at least one day, e.g. monday = \"08:00-17:00\"",
            ));
        }
        Ok(())
    }
}

/// Minutes of `hours` not covered by `lunch`.
pub(crate) fn working_minutes(hours: TimeRange, lunch: Option<TimeRange>) -> u16 {
    let total = hours.minutes();
    let Some(lunch) = lunch else {
        return total;
    };
    let start = hours.start().max(lunch.start());
    let end = hours.end().min(lunch.end());
    let overlap = end.minutes().saturating_sub(start.minutes());
    total - overlap
}

pub(crate) const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

pub(crate) fn weekday_key(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

impl CalendarSettings {
    /// The schedule of the executors: `[calendar.executors]`, or the contact center's when that
    /// section is absent.
    pub fn executors_schedule(&self) -> &ScheduleSettings {
        self.executors.as_ref().unwrap_or(&self.contact_center)
    }

    /// Checks the cross-field rules; the error names the key and says what to change.
    ///
    /// Does not read `holidays_file` (building the calendar does, and names the file on error).
    pub fn validate(&self) -> Result<(), CalendarError> {
        self.contact_center.validate("calendar.contact_center")?;
        if let Some(executors) = &self.executors {
            executors.validate("calendar.executors")?;
        }
        if let Some(path) = &self.holidays_file {
            if path.as_os_str().is_empty() {
                return Err(CalendarError::setting(
                    "calendar.holidays_file",
                    "the path is empty; give the path of a CSV file or remove the key",
                ));
            }
        }
        let mut seen: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        for (i, t) in self.transfers.iter().enumerate() {
            let key = format!("calendar.transfers[{i}]");
            if t.work == t.off {
                return Err(CalendarError::setting(
                    key,
                    format!(
                        "work and off are the same date {}; `work` is the day off that is worked, \
                         `off` the working day given off in exchange",
                        t.work
                    ),
                ));
            }
            for date in [t.work, t.off] {
                if let Some(first) = seen.insert(date, i) {
                    return Err(CalendarError::setting(
                        key,
                        format!(
                            "{date} already appears in calendar.transfers[{first}]; \
                             a date can take part in only one transfer"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_contact_center_week() {
        let s = CalendarSettings::default();
        assert!(s.martial_law);
        assert_eq!(s.contact_center.monday.unwrap().to_string(), "08:00-17:00");
        assert_eq!(s.contact_center.friday.unwrap().to_string(), "08:00-15:45");
        assert_eq!(s.contact_center.lunch.unwrap().to_string(), "12:00-12:45");
        assert!(s.contact_center.saturday.is_none());
        assert_eq!(s.executors_schedule(), &s.contact_center);
        s.validate().unwrap();
    }

    #[test]
    fn working_minutes_removes_lunch_overlap() {
        let r = |s: &str| s.parse::<TimeRange>().unwrap();
        assert_eq!(
            working_minutes(r("08:00-17:00"), Some(r("12:00-12:45"))),
            495
        );
        assert_eq!(
            working_minutes(r("08:00-12:30"), Some(r("12:00-12:45"))),
            240
        );
        assert_eq!(
            working_minutes(r("13:00-14:00"), Some(r("12:00-12:45"))),
            60
        );
        assert_eq!(working_minutes(r("12:00-12:45"), Some(r("12:00-12:45"))), 0);
    }
}
