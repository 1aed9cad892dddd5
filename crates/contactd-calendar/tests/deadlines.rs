//! Hand-checked deadline tables from the 2025–2027 holiday list: peacetime against martial law,
//! pre-holiday shortened days, moved days off, and the DST changes of March and October.

// Helpers outside #[test] functions: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use contactd_calendar::{
    render_month, CalendarSettings, DayKind, ScheduleKind, Term, WorkCalendar, KYIV,
};

/// A Kyiv local time as UTC.
fn kyiv(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    KYIV.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn calendar(martial_law: bool) -> WorkCalendar {
    let settings = CalendarSettings {
        martial_law,
        ..CalendarSettings::default()
    };
    WorkCalendar::from_settings(&settings, ScheduleKind::ContactCenter).unwrap()
}

type Kyiv = (i32, u32, u32, u32, u32);

/// (from, term, peacetime deadline, martial-law deadline), all Kyiv local times.
const TABLE: &[(&str, Kyiv, Term, Kyiv, Kyiv)] = &[
    (
        "the issue's example: Friday 17:30 + 10 working days; Easter Monday is off in peacetime",
        (2026, 4, 10, 17, 30),
        Term::WorkingDays(10),
        (2026, 4, 27, 17, 0),
        (2026, 4, 24, 15, 45),
    ),
    (
        "the same Friday just after local midnight (Thursday in UTC) counts from Friday",
        (2026, 4, 10, 0, 30),
        Term::WorkingDays(10),
        (2026, 4, 27, 17, 0),
        (2026, 4, 24, 15, 45),
    ),
    (
        "registered on Saturday before Easter: day 1 is Tuesday in peacetime",
        (2026, 4, 11, 9, 0),
        Term::WorkingDays(1),
        (2026, 4, 14, 17, 0),
        (2026, 4, 13, 17, 0),
    ),
    (
        "24 Dec 2025 (Wed) is one hour shorter before Christmas, in peacetime only",
        (2025, 12, 23, 9, 0),
        Term::WorkingDays(1),
        (2025, 12, 24, 16, 0),
        (2025, 12, 24, 17, 0),
    ),
    (
        "Christmas 25 Dec 2025 (Thu) is a day off in peacetime, a working day under martial law",
        (2025, 12, 24, 10, 0),
        Term::WorkingDays(1),
        (2025, 12, 26, 15, 45),
        (2025, 12, 25, 17, 0),
    ),
    (
        "two working days over Christmas 2025",
        (2025, 12, 24, 10, 0),
        Term::WorkingDays(2),
        (2025, 12, 29, 17, 0),
        (2025, 12, 26, 15, 45),
    ),
    (
        "31 Dec 2025 is shortened before New Year",
        (2025, 12, 30, 11, 0),
        Term::WorkingDays(1),
        (2025, 12, 31, 16, 0),
        (2025, 12, 31, 17, 0),
    ),
    (
        "New Year 2026 (Thu)",
        (2025, 12, 31, 10, 0),
        Term::WorkingDays(1),
        (2026, 1, 2, 15, 45),
        (2026, 1, 1, 17, 0),
    ),
    (
        "8 March 2026 is a Sunday: Monday 9 March is off in peacetime",
        (2026, 3, 6, 10, 0),
        Term::WorkingDays(1),
        (2026, 3, 10, 17, 0),
        (2026, 3, 9, 17, 0),
    ),
    (
        "spring DST 2026 (Sun 29 Mar): Friday in EET, Monday in EEST",
        (2026, 3, 26, 10, 0),
        Term::WorkingDays(2),
        (2026, 3, 30, 17, 0),
        (2026, 3, 30, 17, 0),
    ),
    (
        "registered in the last hour of Saturday before the spring change",
        (2026, 3, 28, 23, 30),
        Term::WorkingDays(1),
        (2026, 3, 30, 17, 0),
        (2026, 3, 30, 17, 0),
    ),
    (
        "1 May 2026 (Fri) Labour Day; 30 Apr shortened",
        (2026, 4, 29, 10, 0),
        Term::WorkingDays(2),
        (2026, 5, 4, 17, 0),
        (2026, 5, 1, 15, 45),
    ),
    (
        "7 May 2026 (Thu) is shortened before 8 May (Fri)",
        (2026, 5, 6, 10, 0),
        Term::WorkingDays(1),
        (2026, 5, 7, 16, 0),
        (2026, 5, 7, 17, 0),
    ),
    (
        "Trinity 31 May 2026 (Sun): Monday 1 June is off in peacetime",
        (2026, 5, 29, 10, 0),
        Term::WorkingDays(1),
        (2026, 6, 2, 17, 0),
        (2026, 6, 1, 17, 0),
    ),
    (
        "Constitution Day 28 Jun 2026 (Sun): Monday 29 June is off in peacetime",
        (2026, 6, 26, 10, 0),
        Term::WorkingDays(1),
        (2026, 6, 30, 17, 0),
        (2026, 6, 29, 17, 0),
    ),
    (
        "Defenders Day 1 Oct 2026 (Thu); 30 Sep shortened",
        (2026, 9, 29, 10, 0),
        Term::WorkingDays(1),
        (2026, 9, 30, 16, 0),
        (2026, 9, 30, 17, 0),
    ),
    (
        "Defenders Day 1 Oct 2026 (Thu) is skipped in peacetime",
        (2026, 9, 30, 10, 0),
        Term::WorkingDays(1),
        (2026, 10, 2, 15, 45),
        (2026, 10, 1, 17, 0),
    ),
    (
        "autumn DST 2026 (Sun 25 Oct): Friday in EEST, Monday in EET",
        (2026, 10, 23, 10, 0),
        Term::WorkingDays(1),
        (2026, 10, 26, 17, 0),
        (2026, 10, 26, 17, 0),
    ),
    (
        "30 Apr 2027 (Fri) is shortened before 1 May (Sat)",
        (2027, 4, 29, 10, 0),
        Term::WorkingDays(1),
        (2027, 4, 30, 14, 45),
        (2027, 4, 30, 15, 45),
    ),
    (
        "1 May 2027 (Sat) and Easter 2 May (Sun): Monday 3 and Tuesday 4 May are off",
        (2027, 4, 30, 10, 0),
        Term::WorkingDays(1),
        (2027, 5, 5, 17, 0),
        (2027, 5, 3, 17, 0),
    ),
    (
        "after Easter 2027, Friday 7 May is shortened before 8 May (Sat)",
        (2027, 4, 30, 10, 0),
        Term::WorkingDays(3),
        (2027, 5, 7, 14, 45),
        (2027, 5, 5, 17, 0),
    ),
    (
        "8 May 2027 (Sat): Monday 10 May is off",
        (2027, 5, 7, 10, 0),
        Term::WorkingDays(1),
        (2027, 5, 11, 17, 0),
        (2027, 5, 10, 17, 0),
    ),
    (
        "Trinity 20 Jun 2027 (Sun) → Mon 21 off; Constitution Day 28 Jun (Mon) off",
        (2027, 6, 18, 10, 0),
        Term::WorkingDays(6),
        (2027, 6, 30, 17, 0),
        (2027, 6, 28, 17, 0),
    ),
    (
        "Christmas 25 Dec 2027 (Sat): Friday 24 shortened, Monday 27 off",
        (2027, 12, 23, 10, 0),
        Term::WorkingDays(2),
        (2027, 12, 28, 17, 0),
        (2027, 12, 27, 17, 0),
    ),
    (
        "15 calendar days ending on Saturday move to Monday",
        (2026, 4, 10, 17, 30),
        Term::CalendarDays(15),
        (2026, 4, 27, 17, 0),
        (2026, 4, 27, 17, 0),
    ),
    (
        "2 calendar days ending on Easter Sunday: next working day",
        (2026, 4, 10, 17, 30),
        Term::CalendarDays(2),
        (2026, 4, 14, 17, 0),
        (2026, 4, 13, 17, 0),
    ),
    (
        "1 calendar day ending on New Year",
        (2025, 12, 31, 10, 0),
        Term::CalendarDays(1),
        (2026, 1, 2, 15, 45),
        (2026, 1, 1, 17, 0),
    ),
    (
        "14 calendar days ending on a shortened day end at its shortened close",
        (2025, 12, 10, 10, 0),
        Term::CalendarDays(14),
        (2025, 12, 24, 16, 0),
        (2025, 12, 24, 17, 0),
    ),
    (
        "15 calendar days ending on Saturday before Trinity",
        (2026, 5, 15, 10, 0),
        Term::CalendarDays(15),
        (2026, 6, 2, 17, 0),
        (2026, 6, 1, 17, 0),
    ),
    (
        "30 calendar days over the autumn DST change",
        (2026, 10, 1, 12, 0),
        Term::CalendarDays(30),
        (2026, 11, 2, 17, 0),
        (2026, 11, 2, 17, 0),
    ),
    (
        "24 hours over the spring DST change: a 23-hour local day",
        (2026, 3, 28, 23, 0),
        Term::Hours(24),
        (2026, 3, 30, 0, 0),
        (2026, 3, 30, 0, 0),
    ),
    (
        "24 hours over the autumn DST change: a 25-hour local day",
        (2026, 10, 24, 12, 0),
        Term::Hours(24),
        (2026, 10, 25, 11, 0),
        (2026, 10, 25, 11, 0),
    ),
    (
        "hours ignore holidays and weekends",
        (2025, 12, 24, 18, 0),
        Term::Hours(3),
        (2025, 12, 24, 21, 0),
        (2025, 12, 24, 21, 0),
    ),
];

fn at(k: Kyiv) -> DateTime<Utc> {
    kyiv(k.0, k.1, k.2, k.3, k.4)
}

#[test]
fn deadline_table() {
    let peace = calendar(false);
    let martial = calendar(true);
    let mut failures = Vec::new();
    for &(what, from, term, want_peace, want_martial) in TABLE {
        let from = at(from);
        for (cal, want, mode) in [
            (&peace, at(want_peace), "peacetime"),
            (&martial, at(want_martial), "martial law"),
        ] {
            let got = cal.deadline(from, term).unwrap();
            if got != want {
                failures.push(format!(
                    "{what} ({mode}, {term:?}): got {}, want {}",
                    got.with_timezone(&KYIV),
                    want.with_timezone(&KYIV)
                ));
            }
            if let Term::WorkingDays(n) = term {
                assert_eq!(cal.working_days_between(from, got), n, "{what} ({mode})");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dst_deadlines_in_utc() {
    let cal = calendar(false);
    // Friday 26 Mar 2026 in EET (UTC+2), Monday 30 Mar in EEST (UTC+3).
    let fri = cal.add_working_days(kyiv(2026, 3, 26, 10, 0), 1).unwrap();
    assert_eq!(fri.to_rfc3339(), "2026-03-27T13:45:00+00:00");
    let mon = cal.add_working_days(kyiv(2026, 3, 27, 10, 0), 1).unwrap();
    assert_eq!(mon.to_rfc3339(), "2026-03-30T14:00:00+00:00");
    // Autumn: Friday 23 Oct in EEST, Monday 26 Oct in EET.
    let fri = cal.add_working_days(kyiv(2026, 10, 22, 10, 0), 1).unwrap();
    assert_eq!(fri.to_rfc3339(), "2026-10-23T12:45:00+00:00");
    let mon = cal.add_working_days(kyiv(2026, 10, 23, 10, 0), 1).unwrap();
    assert_eq!(mon.to_rfc3339(), "2026-10-26T15:00:00+00:00");
}

#[test]
fn zero_terms_are_the_identity() {
    let cal = calendar(false);
    let t = kyiv(2026, 4, 12, 3, 0);
    assert_eq!(cal.add_working_days(t, 0).unwrap(), t);
    assert_eq!(cal.add_calendar_days(t, 0).unwrap(), t);
    assert_eq!(cal.add_hours(t, 0).unwrap(), t);
    assert_eq!(cal.working_days_between(t, t), 0);
}

#[test]
fn working_days_between_counts_only_finished_days() {
    let cal = calendar(false);
    let from = kyiv(2026, 4, 10, 17, 30);
    // Tuesday 14 April is day 1; it is not finished at 16:59.
    assert_eq!(cal.working_days_between(from, kyiv(2026, 4, 14, 16, 59)), 0);
    assert_eq!(cal.working_days_between(from, kyiv(2026, 4, 14, 17, 0)), 1);
    assert_eq!(cal.working_days_between(from, kyiv(2026, 4, 27, 17, 0)), 10);
    assert_eq!(cal.working_days_between(kyiv(2026, 4, 27, 17, 0), from), 0);
    let martial = calendar(true);
    assert_eq!(
        martial.working_days_between(from, kyiv(2026, 4, 27, 17, 0)),
        11
    );
}

#[test]
fn working_time_and_next_working_moment() {
    let peace = calendar(false);
    let martial = calendar(true);
    let fri = |h, m| kyiv(2026, 4, 10, h, m);
    assert!(!peace.is_working_time(fri(7, 59)));
    assert!(peace.is_working_time(fri(8, 0)));
    assert!(peace.is_working_time(fri(11, 59)));
    assert!(!peace.is_working_time(fri(12, 0)), "lunch");
    assert!(!peace.is_working_time(fri(12, 44)), "lunch");
    assert!(peace.is_working_time(fri(12, 45)));
    assert!(peace.is_working_time(fri(15, 44)));
    assert!(
        !peace.is_working_time(fri(15, 45)),
        "Friday closes at 15:45"
    );
    assert_eq!(peace.next_working_moment(fri(9, 10)).unwrap(), fri(9, 10));
    assert_eq!(peace.next_working_moment(fri(12, 10)).unwrap(), fri(12, 45));
    assert_eq!(
        peace.next_working_moment(fri(17, 30)).unwrap(),
        kyiv(2026, 4, 14, 8, 0),
        "Easter Monday is off in peacetime"
    );
    assert_eq!(
        martial.next_working_moment(fri(17, 30)).unwrap(),
        kyiv(2026, 4, 13, 8, 0)
    );
    // Shortened pre-holiday day: 24 Dec 2025 closes at 16:00 in peacetime only.
    assert!(!peace.is_working_time(kyiv(2025, 12, 24, 16, 30)));
    assert!(martial.is_working_time(kyiv(2025, 12, 24, 16, 30)));
    assert!(!peace.is_working_time(kyiv(2025, 12, 25, 10, 0)));
    assert!(martial.is_working_time(kyiv(2025, 12, 25, 10, 0)));
}

#[test]
fn next_working_day_windows() {
    let peace = calendar(false);
    let martial = calendar(true);
    // Before opening on a working day: that day.
    let d = peace
        .first_working_day_opening_after(kyiv(2026, 4, 9, 7, 0))
        .unwrap();
    assert_eq!(d, date(2026, 4, 9));
    // During working hours: the next working day.
    let d = peace
        .first_working_day_opening_after(kyiv(2026, 4, 9, 8, 0))
        .unwrap();
    assert_eq!(d, date(2026, 4, 10));
    // Friday evening before Easter.
    let t = kyiv(2026, 4, 10, 18, 0);
    let d = peace.first_working_day_opening_after(t).unwrap();
    assert_eq!(d, date(2026, 4, 14));
    assert_eq!(
        peace.start_of_working_day(d).unwrap(),
        kyiv(2026, 4, 14, 8, 0)
    );
    assert_eq!(
        peace.end_of_working_day(d).unwrap(),
        kyiv(2026, 4, 14, 17, 0)
    );
    assert_eq!(
        martial.first_working_day_opening_after(t).unwrap(),
        date(2026, 4, 13)
    );
    assert!(peace.start_of_working_day(date(2026, 4, 13)).is_none());
    assert_eq!(
        peace.next_working_day(date(2026, 4, 10)).unwrap(),
        date(2026, 4, 14)
    );
}

#[test]
fn day_kinds_and_names() {
    let peace = calendar(false);
    let martial = calendar(true);

    let easter = peace.day_info(date(2026, 4, 12));
    assert_eq!(easter.kind, DayKind::Holiday);
    assert_eq!(easter.holiday.unwrap().name_uk, "Пасха (Великдень)");
    let monday = peace.day_info(date(2026, 4, 13));
    assert_eq!(monday.kind, DayKind::TransferredDayOff);
    assert_eq!(monday.related, Some(date(2026, 4, 12)));
    assert!(monday.hours.is_none());

    let m = martial.day_info(date(2026, 4, 13));
    assert_eq!(m.kind, DayKind::Working);
    assert!(m.holiday.is_none());
    let m = martial.day_info(date(2025, 12, 25));
    assert_eq!(
        m.kind,
        DayKind::Working,
        "holidays are worked under martial law"
    );
    assert_eq!(m.holiday.unwrap().name_en, "Christmas Day");
    assert_eq!(martial.day_info(date(2026, 4, 12)).kind, DayKind::Weekend);

    let eve = peace.day_info(date(2025, 12, 24));
    assert_eq!(eve.kind, DayKind::Shortened);
    assert!(eve.shortened);
    assert_eq!(eve.hours.unwrap().close.to_string(), "16:00");
    assert_eq!(eve.hours.unwrap().minutes(), 7 * 60 + 15);
    assert_eq!(eve.holiday.unwrap().name_en, "Christmas Day");
    assert_eq!(martial.day_info(date(2025, 12, 24)).kind, DayKind::Working);

    // 2027: 1 May (Sat) and Easter (Sun) move two days off to Monday and Tuesday.
    assert_eq!(
        peace.day_info(date(2027, 5, 3)).related,
        Some(date(2027, 5, 1))
    );
    assert_eq!(
        peace.day_info(date(2027, 5, 4)).related,
        Some(date(2027, 5, 2))
    );
    assert_eq!(peace.day_info(date(2027, 5, 5)).kind, DayKind::Working);
    assert_eq!(peace.day_info(date(2027, 4, 30)).kind, DayKind::Shortened);
    assert_eq!(
        peace
            .day_info(date(2027, 4, 30))
            .hours
            .unwrap()
            .close
            .to_string(),
        "14:45"
    );
}

#[test]
fn month_listing() {
    let peace = calendar(false);
    let martial = calendar(true);
    let may = peace.month(2026, 5).unwrap();
    assert_eq!(may.len(), 31);
    assert_eq!(may.iter().filter(|d| d.is_working()).count(), 19);
    assert_eq!(
        martial
            .month(2026, 5)
            .unwrap()
            .iter()
            .filter(|d| d.is_working())
            .count(),
        21
    );
    assert!(peace.month(2026, 13).is_err());

    let text = render_month(&peace, 2026, 5).unwrap();
    assert!(
        text.starts_with("2026-05, contact center schedule, peacetime"),
        "{text}"
    );
    assert!(text.contains("2026-05-01 Fri  holiday"), "{text}");
    assert!(text.contains("День праці"), "{text}");
    assert!(text.contains("2026-05-07 Thu  shortened"), "{text}");
    assert!(text.contains("08:00-16:00 (lunch 12:00-12:45)"), "{text}");
    assert!(text.contains("19 working days"), "{text}");
    assert_eq!(text.lines().count(), 33);

    let text = render_month(&martial, 2026, 5).unwrap();
    assert!(text.contains("not a day off under martial law"), "{text}");

    let text = render_month(&martial, 2028, 1).unwrap();
    assert!(
        text.contains("warning: no holidays are known for 2028"),
        "{text}"
    );
}
