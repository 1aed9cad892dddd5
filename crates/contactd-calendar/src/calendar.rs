//! The working-time calendar: which local days are worked and when, and the deadline arithmetic
//! built on it (working days, calendar days, hours).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::error::CalendarError;
use crate::holidays::{Holiday, Holidays};
use crate::settings::{CalendarSettings, ScheduleSettings};
use crate::time::{kyiv_instant, local_date, TimeOfDay, TimeRange};

/// A search for the next working day gives up after this many consecutive days without one.
/// Validated settings always have a working weekday, so only a holiday file that declares years
/// of holidays in a row could reach it.
const MAX_DAYS_WITHOUT_WORK: u32 = 3660;

/// Whose working time a [`WorkCalendar`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// `[calendar.contact_center]`: operators, closing proposals, the contact center's own terms.
    ContactCenter,
    /// `[calendar.executors]` (or the contact center's schedule when absent): executors' deadlines.
    Executors,
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ContactCenter => "contact center",
            Self::Executors => "executors",
        })
    }
}

/// What kind of day a local date is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// An ordinary working day of the schedule. Under martial law a holiday on a working weekday
    /// is such a day ([`DayInfo::holiday`] names it).
    Working,
    /// A working day one hour shorter because the next day is a holiday (peacetime only, Labour
    /// Code art. 53); [`DayInfo::holiday`] names the holiday.
    Shortened,
    /// A day off of the weekly schedule (e.g. Saturday, Sunday). Under martial law a holiday that
    /// falls on it keeps this kind, with [`DayInfo::holiday`] set.
    Weekend,
    /// A holiday that is a day off (peacetime only).
    Holiday,
    /// A working day given off: either the day off of a holiday that fell on a day off, moved to
    /// the next working day (Labour Code art. 67 part 3; [`DayInfo::holiday`] names the holiday,
    /// [`DayInfo::related`] its date), or the `off` date of a declared transfer
    /// ([`DayInfo::related`] is the `work` date). Peacetime only.
    TransferredDayOff,
    /// The `work` date of a declared transfer: a day off worked with the hours of the `off` date
    /// ([`DayInfo::related`]). Peacetime only. May also be shortened ([`DayInfo::shortened`]).
    TransferredWorkingDay,
}

impl DayKind {
    /// `true` for the kinds that have working hours.
    pub fn is_working(self) -> bool {
        matches!(
            self,
            Self::Working | Self::Shortened | Self::TransferredWorkingDay
        )
    }

    /// A short English label, e.g. `transferred day off`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Working => "working",
            Self::Shortened => "shortened",
            Self::Weekend => "weekend",
            Self::Holiday => "holiday",
            Self::TransferredDayOff => "transferred day off",
            Self::TransferredWorkingDay => "transferred working day",
        }
    }
}

/// The working hours of one day: open..close minus the lunch break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WorkingHours {
    /// Opening time (local).
    pub open: TimeOfDay,
    /// Closing time (local), already one hour earlier on a shortened day. This is "the end of the
    /// working day" that deadlines fall on.
    pub close: TimeOfDay,
    /// The part of the lunch break that falls inside open..close, if any.
    pub lunch: Option<TimeRange>,
}

impl WorkingHours {
    fn new(hours: TimeRange, lunch: Option<TimeRange>) -> Self {
        let lunch = lunch
            .and_then(|l| TimeRange::new(l.start().max(hours.start()), l.end().min(hours.end())));
        Self {
            open: hours.start(),
            close: hours.end(),
            lunch,
        }
    }

    /// One hour shorter at the end (art. 53); lunch clipped again. `None` if nothing would be
    /// left, which validated settings rule out.
    fn shortened(self) -> Option<Self> {
        let close = self.close.minus_hour()?;
        let hours = TimeRange::new(self.open, close)?;
        let s = Self::new(hours, self.lunch);
        (!s.intervals().is_empty()).then_some(s)
    }

    /// The working intervals of the day in local time: one, or two around the lunch break.
    pub fn intervals(&self) -> Vec<TimeRange> {
        match self.lunch {
            None => TimeRange::new(self.open, self.close).into_iter().collect(),
            Some(l) => [
                TimeRange::new(self.open, l.start()),
                TimeRange::new(l.end(), self.close),
            ]
            .into_iter()
            .flatten()
            .collect(),
        }
    }

    /// Working minutes in the day.
    pub fn minutes(&self) -> u32 {
        self.intervals()
            .iter()
            .map(|r| u32::from(r.minutes()))
            .sum()
    }
}

impl fmt::Display for WorkingHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.open, self.close)?;
        if let Some(l) = self.lunch {
            write!(f, " (lunch {l})")?;
        }
        Ok(())
    }
}

/// Everything known about one local date, as printed by `contactd calendar show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DayInfo {
    /// The local (Kyiv) date.
    pub date: NaiveDate,
    /// The kind of day.
    pub kind: DayKind,
    /// Working hours; `Some` exactly when `kind.is_working()`.
    pub hours: Option<WorkingHours>,
    /// `true` when the day closes one hour earlier before a holiday (art. 53). Always `true` for
    /// [`DayKind::Shortened`]; may be `true` for [`DayKind::TransferredWorkingDay`].
    pub shortened: bool,
    /// The holiday this day is about: the holiday on this date (of any kind, including a worked
    /// one under martial law), the holiday whose day off was moved here
    /// ([`DayKind::TransferredDayOff`]), or the next day's holiday ([`DayKind::Shortened`]).
    pub holiday: Option<Holiday>,
    /// The other date of a transfer: the holiday's date for a moved day off, the next day for a
    /// shortened day, the paired date of a declared transfer.
    pub related: Option<NaiveDate>,
}

impl DayInfo {
    /// `true` when the day has working hours.
    pub fn is_working(&self) -> bool {
        self.kind.is_working()
    }
}

/// What the calendar knows about a date beyond its weekly schedule (cheap to copy).
#[derive(Debug, Clone, Copy)]
struct DayPlan {
    kind: DayKind,
    hours: Option<WorkingHours>,
    shortened: bool,
    holiday: Option<NaiveDate>,
    related: Option<NaiveDate>,
}

/// A term to add to a moment, as the classifier and the `calendar deadline` command express it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Term {
    /// [`WorkCalendar::add_working_days`].
    WorkingDays(u32),
    /// [`WorkCalendar::add_calendar_days`].
    CalendarDays(u32),
    /// [`WorkCalendar::add_hours`].
    Hours(u32),
}

/// The working-time calendar of one schedule (contact center or executors), in Europe/Kyiv.
///
/// All instants are `DateTime<Utc>`; the rules are applied to Kyiv local dates and times, so DST
/// changes (last Sunday of March and of October) are handled.
///
/// Definitions used by every operation:
/// - **Working day**: a local date whose [`DayKind`] is working (ordinary, shortened or a
///   transferred working day).
/// - **End of a working day**: its closing time ([`WorkingHours::close`]), one hour earlier on a
///   shortened day. A deadline is that instant: work done before it is on time.
/// - **Working time**: the half-open intervals open..lunch and lunch..close of working days.
#[derive(Debug, Clone)]
pub struct WorkCalendar {
    kind: ScheduleKind,
    martial_law: bool,
    schedule: ScheduleSettings,
    holidays: Holidays,
    plans: BTreeMap<NaiveDate, DayPlan>,
}

impl WorkCalendar {
    /// Builds the calendar of one schedule from the settings, reading `holidays_file` if set on
    /// top of the built-in list.
    pub fn from_settings(
        settings: &CalendarSettings,
        kind: ScheduleKind,
    ) -> Result<Self, CalendarError> {
        let mut holidays = Holidays::builtin()?;
        if let Some(path) = &settings.holidays_file {
            holidays.extend_from_file(path)?;
        }
        Self::new(settings, kind, holidays)
    }

    /// Builds the calendar of one schedule with the given holidays (no file is read).
    pub fn new(
        settings: &CalendarSettings,
        kind: ScheduleKind,
        holidays: Holidays,
    ) -> Result<Self, CalendarError> {
        settings.validate()?;
        let schedule = match kind {
            ScheduleKind::ContactCenter => settings.contact_center.clone(),
            ScheduleKind::Executors => settings.executors_schedule().clone(),
        };
        let mut cal = Self {
            kind,
            martial_law: settings.martial_law,
            schedule,
            holidays,
            plans: BTreeMap::new(),
        };
        if cal.martial_law {
            cal.plan_martial_law();
        } else {
            cal.plan_peacetime(settings)?;
        }
        Ok(cal)
    }

    /// Which schedule this calendar follows.
    pub fn schedule_kind(&self) -> ScheduleKind {
        self.kind
    }

    /// Whether the martial-law rules are in force in this calendar.
    pub fn martial_law(&self) -> bool {
        self.martial_law
    }

    /// The holidays the calendar knows (built-in plus file).
    pub fn holidays(&self) -> &Holidays {
        &self.holidays
    }

    fn base_plan(&self, date: NaiveDate) -> DayPlan {
        let hours = self
            .schedule
            .day(date.weekday())
            .map(|h| WorkingHours::new(h, self.schedule.lunch));
        DayPlan {
            kind: if hours.is_some() {
                DayKind::Working
            } else {
                DayKind::Weekend
            },
            hours,
            shortened: false,
            holiday: None,
            related: None,
        }
    }

    fn plan(&self, date: NaiveDate) -> DayPlan {
        self.plans
            .get(&date)
            .copied()
            .unwrap_or_else(|| self.base_plan(date))
    }

    /// Martial law: holidays change nothing but are named.
    fn plan_martial_law(&mut self) {
        let dates: Vec<NaiveDate> = self.holidays.iter().map(|h| h.date).collect();
        for date in dates {
            let mut plan = self.base_plan(date);
            plan.holiday = Some(date);
            self.plans.insert(date, plan);
        }
    }

    /// Peacetime: declared transfers, then holidays (with art. 67 part 3 moves), then art. 53
    /// shortening. Order matters: a holiday wins over a declared worked day, and a moved day off
    /// lands on the first day that is still working after the earlier steps.
    fn plan_peacetime(&mut self, settings: &CalendarSettings) -> Result<(), CalendarError> {
        for t in &settings.transfers {
            let off = self.base_plan(t.off);
            let work = self.base_plan(t.work);
            let (Some(hours), None) = (off.hours, work.hours) else {
                continue; // not a swap in this schedule: documented on `transfers`.
            };
            self.plans.insert(
                t.off,
                DayPlan {
                    kind: DayKind::TransferredDayOff,
                    hours: None,
                    shortened: false,
                    holiday: None,
                    related: Some(t.work),
                },
            );
            self.plans.insert(
                t.work,
                DayPlan {
                    kind: DayKind::TransferredWorkingDay,
                    hours: Some(hours),
                    shortened: false,
                    holiday: None,
                    related: Some(t.off),
                },
            );
        }

        let dates: Vec<NaiveDate> = self.holidays.iter().map(|h| h.date).collect();
        for &date in &dates {
            let was_working = self.plan(date).kind.is_working();
            self.plans.insert(
                date,
                DayPlan {
                    kind: DayKind::Holiday,
                    hours: None,
                    shortened: false,
                    holiday: Some(date),
                    related: None,
                },
            );
            if was_working {
                continue;
            }
            // The holiday fell on a day off: the day off moves to the next working day that is
            // not itself a holiday (art. 67 part 3). Processing holidays in date order makes
            // 1 May (Sat) → Mon 3 May and Easter 2 May (Sun) → Tue 4 May, as in 2021 and 2027.
            let mut next = date;
            let mut searched = 0;
            let target = loop {
                next = next.succ_opt().ok_or_else(|| {
                    CalendarError::out_of_range(format!("moving the day off of {date}"))
                })?;
                searched += 1;
                if searched > MAX_DAYS_WITHOUT_WORK {
                    return Err(CalendarError::out_of_range(format!(
                        "moving the day off of {date}"
                    )));
                }
                if self.holidays.get(next).is_none() && self.plan(next).kind.is_working() {
                    break next;
                }
            };
            self.plans.insert(
                target,
                DayPlan {
                    kind: DayKind::TransferredDayOff,
                    hours: None,
                    shortened: false,
                    holiday: Some(date),
                    related: Some(date),
                },
            );
        }

        for &date in &dates {
            let Some(before) = date.pred_opt() else {
                continue;
            };
            let mut plan = self.plan(before);
            let Some(hours) = plan.hours else {
                continue;
            };
            plan.hours = Some(hours.shortened().ok_or_else(|| {
                CalendarError::setting(
                    format!("calendar.{}", schedule_section(self.kind, settings)),
                    format!(
                        "{before} is a pre-holiday day but its hours {hours} leave nothing when \
                         one hour shorter; make the day longer"
                    ),
                )
            })?);
            plan.shortened = true;
            if plan.kind == DayKind::Working {
                plan.kind = DayKind::Shortened;
            }
            if plan.holiday.is_none() {
                plan.holiday = Some(date);
                if plan.related.is_none() {
                    plan.related = Some(date);
                }
            }
            self.plans.insert(before, plan);
        }
        Ok(())
    }

    /// Everything about a local date: kind, hours, holiday.
    pub fn day_info(&self, date: NaiveDate) -> DayInfo {
        let plan = self.plan(date);
        DayInfo {
            date,
            kind: plan.kind,
            hours: plan.hours,
            shortened: plan.shortened,
            holiday: plan.holiday.and_then(|d| self.holidays.get(d)).cloned(),
            related: plan.related,
        }
    }

    /// Every day of a month, in order.
    pub fn month(&self, year: i32, month: u32) -> Result<Vec<DayInfo>, CalendarError> {
        let first = NaiveDate::from_ymd_opt(year, month, 1)
            .ok_or(CalendarError::NoSuchMonth { year, month })?;
        Ok(first
            .iter_days()
            .take_while(|d| d.month() == month)
            .map(|d| self.day_info(d))
            .collect())
    }

    /// `true` if `date` is a working day.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.plan(date).kind.is_working()
    }

    /// The end of a working day: its closing instant; `None` on a day off.
    pub fn end_of_working_day(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let hours = self.plan(date).hours?;
        kyiv_instant(date, hours.close)
    }

    /// The working intervals of a local date as UTC instants (half-open).
    fn intervals_utc(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let Some(hours) = self.plan(date).hours else {
            return Vec::new();
        };
        hours
            .intervals()
            .into_iter()
            .filter_map(|r| Some((kyiv_instant(date, r.start())?, kyiv_instant(date, r.end())?)))
            // An interval that lies entirely in the hour skipped by the spring DST change is empty.
            .filter(|(s, e)| s < e)
            .collect()
    }

    /// `true` if `t` is inside a working interval (opening time inclusive, closing time and the
    /// start of lunch exclusive).
    pub fn is_working_time(&self, t: DateTime<Utc>) -> bool {
        self.intervals_utc(local_date(t))
            .iter()
            .any(|&(s, e)| s <= t && t < e)
    }

    /// `t` itself if it is working time, otherwise the start of the next working interval (after
    /// lunch, or the next working day's opening). Used e.g. for "closing proposals that arrive
    /// outside working hours are considered on the next working day" (decision 459, item 9.5).
    pub fn next_working_moment(&self, t: DateTime<Utc>) -> Result<DateTime<Utc>, CalendarError> {
        let mut date = local_date(t);
        for _ in 0..=MAX_DAYS_WITHOUT_WORK {
            if let Some(&(s, _)) = self.intervals_utc(date).iter().find(|&&(_, e)| e > t) {
                return Ok(s.max(t));
            }
            date = date
                .succ_opt()
                .ok_or_else(|| CalendarError::out_of_range("the next working moment"))?;
        }
        Err(CalendarError::out_of_range("the next working moment"))
    }

    /// The opening instant of a working day; `None` on a day off.
    pub fn start_of_working_day(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let hours = self.plan(date).hours?;
        kyiv_instant(date, hours.open)
    }

    /// The first working day that opens strictly after `t`: the local day of `t` if it is a
    /// working day not yet open, otherwise the next working day. With [`Self::start_of_working_day`]
    /// and [`Self::end_of_working_day`] this gives "considered on the next working day" windows.
    pub fn first_working_day_opening_after(
        &self,
        t: DateTime<Utc>,
    ) -> Result<NaiveDate, CalendarError> {
        let today = local_date(t);
        if self
            .start_of_working_day(today)
            .is_some_and(|open| open > t)
        {
            return Ok(today);
        }
        self.next_working_day(today)
    }

    /// The first working day strictly after `date`.
    pub fn next_working_day(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        let mut d = date;
        for _ in 0..MAX_DAYS_WITHOUT_WORK {
            d = d
                .succ_opt()
                .ok_or_else(|| CalendarError::out_of_range("the next working day"))?;
            if self.is_working_day(d) {
                return Ok(d);
            }
        }
        Err(CalendarError::out_of_range("the next working day"))
    }

    fn close_of(&self, date: NaiveDate, what: &str) -> Result<DateTime<Utc>, CalendarError> {
        self.end_of_working_day(date)
            .ok_or_else(|| CalendarError::out_of_range(what))
    }

    /// The deadline `n` working days after `from`: the END of the `n`-th working day after the
    /// local (Kyiv) day of `from`.
    ///
    /// A term runs from the day after the event (Civil Code art. 253), so the day of `from` is
    /// never counted, whatever the time of day or whether it is a working day: registered on
    /// Friday at 17:30 or on Saturday, day 1 is the next working day (usually Monday). Non-working
    /// days (weekends, holidays and moved days off in peacetime) are skipped.
    ///
    /// `n = 0` returns `from` unchanged, so that adding nothing is the identity.
    pub fn add_working_days(
        &self,
        from: DateTime<Utc>,
        n: u32,
    ) -> Result<DateTime<Utc>, CalendarError> {
        if n == 0 {
            return Ok(from);
        }
        let mut date = local_date(from);
        for _ in 0..n {
            date = self.next_working_day(date)?;
        }
        self.close_of(date, "adding working days")
    }

    /// The deadline `n` calendar days after `from`: the end of the `n`-th calendar day after the
    /// local day of `from`; when that day is not a working day, the term ends on the next working
    /// day (Civil Code art. 254 part 5). Either way the deadline is the closing time of that
    /// working day, not midnight: a term for an act in an institution ends when its working day
    /// ends (Civil Code art. 255 part 1).
    ///
    /// `n = 0` returns `from` unchanged.
    pub fn add_calendar_days(
        &self,
        from: DateTime<Utc>,
        n: u32,
    ) -> Result<DateTime<Utc>, CalendarError> {
        if n == 0 {
            return Ok(from);
        }
        let last = local_date(from)
            .checked_add_days(chrono::Days::new(u64::from(n)))
            .ok_or_else(|| CalendarError::out_of_range("adding calendar days"))?;
        let day = if self.is_working_day(last) {
            last
        } else {
            self.next_working_day(last)?
        };
        self.close_of(day, "adding calendar days")
    }

    /// `from` plus `h` hours, round the clock (emergency requests): no schedule, no holidays.
    pub fn add_hours(&self, from: DateTime<Utc>, h: u32) -> Result<DateTime<Utc>, CalendarError> {
        from.checked_add_signed(Duration::hours(i64::from(h)))
            .ok_or_else(|| CalendarError::out_of_range("adding hours"))
    }

    /// Applies a [`Term`].
    pub fn deadline(
        &self,
        from: DateTime<Utc>,
        term: Term,
    ) -> Result<DateTime<Utc>, CalendarError> {
        match term {
            Term::WorkingDays(n) => self.add_working_days(from, n),
            Term::CalendarDays(n) => self.add_calendar_days(from, n),
            Term::Hours(h) => self.add_hours(from, h),
        }
    }

    /// The number of working days that have fully elapsed from `a` to `b`, counted like
    /// [`Self::add_working_days`]: working days after the local day of `a` whose end is at or
    /// before `b`. So `working_days_between(t, add_working_days(t, n)?) == n`, a request
    /// closed before the end of its first working day took 0 days, and `b <= a` gives 0.
    pub fn working_days_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> u32 {
        if b <= a {
            return 0;
        }
        let last = local_date(b);
        let mut count: u32 = 0;
        let mut date = local_date(a);
        while date < last {
            let Some(next) = date.succ_opt() else {
                break;
            };
            date = next;
            if self.end_of_working_day(date).is_some_and(|end| end <= b) {
                count = count.saturating_add(1);
            }
        }
        count
    }
}

fn schedule_section(kind: ScheduleKind, settings: &CalendarSettings) -> &'static str {
    match kind {
        ScheduleKind::Executors if settings.executors.is_some() => "executors",
        _ => "contact_center",
    }
}
