//! Property tests of the deadline arithmetic over 2025–2027 (holidays, both legal regimes, DST
//! changes) and over random weekly schedules, including round-the-clock ones.

// Helpers outside #[test] functions: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use contactd_calendar::{
    CalendarSettings, Holidays, ScheduleKind, ScheduleSettings, TimeOfDay, TimeRange, WorkCalendar,
    KYIV,
};
use proptest::prelude::*;

fn settings(martial_law: bool) -> CalendarSettings {
    CalendarSettings {
        martial_law,
        ..CalendarSettings::default()
    }
}

/// Peacetime, martial law, and a calendar without any holidays.
fn calendars() -> &'static [WorkCalendar; 3] {
    static CALS: OnceLock<[WorkCalendar; 3]> = OnceLock::new();
    CALS.get_or_init(|| {
        let build = |m| WorkCalendar::from_settings(&settings(m), ScheduleKind::Executors).unwrap();
        let bare = WorkCalendar::new(&settings(false), ScheduleKind::Executors, Holidays::empty())
            .unwrap();
        [build(false), build(true), bare]
    })
}

fn cal(martial_law: bool) -> &'static WorkCalendar {
    &calendars()[usize::from(martial_law)]
}

fn local_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&KYIV).date_naive()
}

/// Any instant from December 2024 to January 2028.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let lo = Utc
        .with_ymd_and_hms(2024, 12, 1, 0, 0, 0)
        .unwrap()
        .timestamp();
    let hi = Utc
        .with_ymd_and_hms(2028, 2, 1, 0, 0, 0)
        .unwrap()
        .timestamp();
    (lo..hi).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

/// An instant within four days of a DST change of 2025–2027 (all at 01:00 UTC).
fn near_dst() -> impl Strategy<Value = DateTime<Utc>> {
    let changes = [
        (2025, 3, 30),
        (2025, 10, 26),
        (2026, 3, 29),
        (2026, 10, 25),
        (2027, 3, 28),
        (2027, 10, 31),
    ];
    (0..changes.len(), -4 * 86_400i64..4 * 86_400).prop_map(move |(i, offset)| {
        let (y, m, d) = changes[i];
        Utc.with_ymd_and_hms(y, m, d, 1, 0, 0).unwrap() + Duration::seconds(offset)
    })
}

fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![instant(), near_dst()]
}

/// The deadline is the closing instant of a working day after the local day of `from`.
fn check_lands_on_close(
    c: &WorkCalendar,
    from: DateTime<Utc>,
    due: DateTime<Utc>,
) -> Result<(), TestCaseError> {
    // With a 24:00 close the instant is the next local midnight: look at the day before it.
    let mut day = local_date(due);
    if c.end_of_working_day(day) != Some(due) {
        day = day.pred_opt().unwrap();
    }
    let info = c.day_info(day);
    prop_assert!(info.is_working(), "{day} is {:?}", info.kind);
    prop_assert_eq!(c.end_of_working_day(day), Some(due));
    prop_assert!(day > local_date(from));
    let close = info.hours.unwrap().close;
    let local = due.with_timezone(&KYIV);
    if close != TimeOfDay::END_OF_DAY {
        prop_assert_eq!(
            local.format("%H:%M").to_string(),
            close.to_string(),
            "DST must not shift the closing time"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn monotonic_in_n(t in any_instant(), n in 0u32..60, martial in any::<bool>()) {
        let c = cal(martial);
        prop_assert!(c.add_working_days(t, n).unwrap() < c.add_working_days(t, n + 1).unwrap());
    }

    #[test]
    fn monotonic_in_from(
        a in any_instant(),
        b in any_instant(),
        n in 0u32..40,
        martial in any::<bool>(),
    ) {
        let c = cal(martial);
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(c.add_working_days(a, n).unwrap() <= c.add_working_days(b, n).unwrap());
    }

    #[test]
    fn lands_on_a_working_day_at_its_closing_time(
        t in any_instant(),
        n in 1u32..60,
        martial in any::<bool>(),
    ) {
        let c = cal(martial);
        check_lands_on_close(c, t, c.add_working_days(t, n).unwrap())?;
        check_lands_on_close(c, t, c.add_calendar_days(t, n).unwrap())?;
    }

    #[test]
    fn peacetime_skips_holidays(t in instant(), n in 1u32..60) {
        let c = cal(false);
        let due = c.add_working_days(t, n).unwrap();
        let last = local_date(due);
        prop_assert!(c.holidays().get(last).is_none());
        let counted: Vec<NaiveDate> = local_date(t)
            .iter_days()
            .skip(1)
            .take_while(|d| *d <= last)
            .filter(|d| c.is_working_day(*d))
            .collect();
        prop_assert_eq!(counted.len(), n as usize);
        for d in counted {
            prop_assert!(c.holidays().get(d).is_none(), "counted holiday {}", d);
        }
        // Never on an earlier day than under martial law, where holidays are worked. (The same
        // day may close earlier in peacetime: a pre-holiday day is one hour shorter.)
        prop_assert!(last >= local_date(cal(true).add_working_days(t, n).unwrap()));
    }

    #[test]
    fn martial_law_ignores_holidays(t in any_instant(), n in 0u32..60) {
        let bare = &calendars()[2];
        prop_assert_eq!(
            cal(true).add_working_days(t, n).unwrap(),
            bare.add_working_days(t, n).unwrap()
        );
        prop_assert_eq!(
            cal(true).add_calendar_days(t, n).unwrap(),
            bare.add_calendar_days(t, n).unwrap()
        );
    }

    #[test]
    fn between_inverts_add(t in any_instant(), n in 0u32..60, martial in any::<bool>()) {
        let c = cal(martial);
        let due = c.add_working_days(t, n).unwrap();
        prop_assert_eq!(c.working_days_between(t, due), n);
        if n > 0 {
            prop_assert_eq!(c.working_days_between(t, due - Duration::seconds(1)), n - 1);
        }
    }

    #[test]
    fn next_working_moment_is_the_first_working_instant(
        t in any_instant(),
        martial in any::<bool>(),
    ) {
        let c = cal(martial);
        let next = c.next_working_moment(t).unwrap();
        prop_assert!(next >= t);
        prop_assert!(c.is_working_time(next));
        // Nothing in between is working time (sampled every minute up to a day, then hourly).
        let mut probe = t;
        while probe < next {
            prop_assert!(!c.is_working_time(probe), "{} is working time", probe);
            let step = if next - probe > Duration::days(1) { 60 } else { 1 };
            probe += Duration::minutes(step);
        }
    }

    #[test]
    fn add_hours_is_real_time(t in any_instant(), h in 0u32..500) {
        let due = cal(false).add_hours(t, h).unwrap();
        prop_assert_eq!(due - t, Duration::hours(i64::from(h)));
    }
}

/// A random day: start at a quarter hour from 00:00 to 20:00, at least two hours long, possibly
/// up to 24:00.
fn day_hours() -> impl Strategy<Value = Option<TimeRange>> {
    proptest::option::weighted(
        0.6,
        (0u16..=80).prop_flat_map(|start| {
            (Just(start), 8u16..=(96 - start)).prop_map(|(s, len)| {
                let t = |q: u16| TimeOfDay::from_hm(q * 15 / 60, q * 15 % 60).unwrap();
                TimeRange::new(t(s), t(s + len)).unwrap()
            })
        }),
    )
}

fn schedule() -> impl Strategy<Value = ScheduleSettings> {
    let full_day = TimeRange::new(TimeOfDay::MIDNIGHT, TimeOfDay::END_OF_DAY).unwrap();
    let lunch = proptest::option::of(Just("12:00-12:45".parse::<TimeRange>().unwrap()));
    (
        prop::array::uniform7(prop_oneof![4 => day_hours(), 1 => Just(Some(full_day))]),
        lunch,
    )
        .prop_map(|(d, lunch)| ScheduleSettings {
            monday: d[0],
            tuesday: d[1],
            wednesday: d[2],
            thursday: d[3],
            friday: d[4],
            saturday: d[5],
            sunday: d[6],
            lunch,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    #[test]
    fn random_schedules_keep_the_invariants(
        schedule in schedule(),
        martial in any::<bool>(),
        t in any_instant(),
        n in 0u32..25,
    ) {
        let s = CalendarSettings {
            martial_law: martial,
            contact_center: schedule,
            ..CalendarSettings::default()
        };
        prop_assume!(s.validate().is_ok());
        let c = WorkCalendar::from_settings(&s, ScheduleKind::ContactCenter).unwrap();
        let due = c.add_working_days(t, n).unwrap();
        prop_assert_eq!(c.working_days_between(t, due), n);
        prop_assert!(due < c.add_working_days(t, n + 1).unwrap());
        if n > 0 {
            check_lands_on_close(&c, t, due)?;
        }
        let next = c.next_working_moment(t).unwrap();
        prop_assert!(next >= t && c.is_working_time(next));
    }
}
