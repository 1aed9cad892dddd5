//! The `[calendar]` TOML section: defaults, every key, validation messages that name the key,
//! declared transfers, a separate executors' schedule and a city's extra holiday file.

// Helpers outside #[test] functions: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use contactd_calendar::{
    CalendarError, CalendarSettings, DayKind, ScheduleKind, WorkCalendar, KYIV,
};

#[derive(Debug, serde::Deserialize)]
struct Config {
    #[serde(default)]
    calendar: CalendarSettings,
}

fn parse(text: &str) -> Result<CalendarSettings, toml::de::Error> {
    toml::from_str::<Config>(text).map(|c| c.calendar)
}

fn kyiv(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    KYIV.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn missing_section_gives_defaults() {
    let s = parse("").unwrap();
    assert_eq!(s, CalendarSettings::default());
    assert!(s.martial_law);
    let s = parse("[calendar]\n").unwrap();
    assert_eq!(s, CalendarSettings::default());
}

#[test]
fn full_example_parses() {
    let s = parse(
        r#"
[calendar]
martial_law = false
holidays_file = "/etc/contactd/holidays-2028.csv"
transfers = [{ work = "2026-01-10", off = "2026-01-02" }]

[calendar.contact_center]
monday = "08:00-17:00"
tuesday = "08:00-17:00"
wednesday = "08:00-17:00"
thursday = "08:00-17:00"
friday = "08:00-15:45"
lunch = "12:00-12:45"

[calendar.executors]
monday = "09:00-18:00"
tuesday = "09:00-18:00"
wednesday = "09:00-18:00"
thursday = "09:00-18:00"
friday = "09:00-18:00"
lunch = "13:00-14:00"
"#,
    )
    .unwrap();
    assert!(!s.martial_law);
    assert_eq!(s.transfers.len(), 1);
    assert_eq!(s.transfers[0].work, date(2026, 1, 10));
    assert_eq!(s.contact_center, CalendarSettings::default().contact_center);
    let ex = s.executors.as_ref().unwrap();
    assert_eq!(ex.friday.unwrap().to_string(), "09:00-18:00");
    assert!(ex.saturday.is_none());
    s.validate().unwrap();
}

#[test]
fn the_readme_example_parses_and_validates() {
    let readme = include_str!("../README.md");
    let start = readme.find("```toml").unwrap() + "```toml".len();
    let end = start + readme[start..].find("```").unwrap();
    let s = parse(&readme[start..end]).unwrap();
    s.validate().unwrap();
}

#[test]
fn unknown_keys_and_bad_values_are_rejected() {
    let e = parse("[calendar]\nmartial_lav = true\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("martial_lav"), "{e}");
    let e = parse("[calendar.contact_center]\nmonday = \"08:00-17:00\"\nmondy = \"08:00-17:00\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("mondy"), "{e}");
    let e = parse("[calendar.contact_center]\nmonday = \"17:00-08:00\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("monday") && e.contains("ends before it starts"),
        "{e}"
    );
    let e = parse("[calendar.contact_center]\nfriday = \"8-15\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("HH:MM"), "{e}");
    let e = parse("[calendar]\ntransfers = [{ work = \"2026-01-10\", of = \"2026-01-02\" }]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("of"), "{e}");
}

fn invalid(s: &CalendarSettings) -> (String, String) {
    match s.validate() {
        Err(CalendarError::InvalidSetting { key, problem }) => (key, problem),
        other => panic!("expected an invalid setting, got {other:?}"),
    }
}

#[test]
fn validation_names_the_key() {
    let s = parse("[calendar.executors]\nlunch = \"12:00-13:00\"\n").unwrap();
    let (key, problem) = invalid(&s);
    assert_eq!(key, "calendar.executors");
    assert!(problem.contains("no working day"), "{problem}");

    let s = parse("[calendar.contact_center]\nmonday = \"12:00-12:45\"\nlunch = \"12:00-12:45\"\n")
        .unwrap();
    let (key, _) = invalid(&s);
    assert_eq!(key, "calendar.contact_center.monday");

    let s = parse("[calendar.contact_center]\nmonday = \"08:00-09:00\"\n").unwrap();
    let (key, problem) = invalid(&s);
    assert_eq!(key, "calendar.contact_center.monday");
    assert!(problem.contains("one hour shorter"), "{problem}");

    let s = parse(
        "[calendar]\ntransfers = [{ work = \"2026-01-10\", off = \"2026-01-02\" }, \
         { work = \"2026-01-17\", off = \"2026-01-02\" }]\n",
    )
    .unwrap();
    let (key, problem) = invalid(&s);
    assert_eq!(key, "calendar.transfers[1]");
    assert!(problem.contains("calendar.transfers[0]"), "{problem}");

    let s = parse("[calendar]\ntransfers = [{ work = \"2026-01-10\", off = \"2026-01-10\" }]\n")
        .unwrap();
    assert_eq!(invalid(&s).0, "calendar.transfers[0]");

    let e = WorkCalendar::from_settings(&s, ScheduleKind::ContactCenter)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("setting `calendar.transfers[0]`"), "{e}");
}

#[test]
fn declared_transfer_applies_in_peacetime_only() {
    let text = "[calendar]\nmartial_law = false\n\
                transfers = [{ work = \"2026-01-10\", off = \"2026-01-02\" }]\n";
    let s = parse(text).unwrap();
    let cal = WorkCalendar::from_settings(&s, ScheduleKind::ContactCenter).unwrap();

    let off = cal.day_info(date(2026, 1, 2));
    assert_eq!(off.kind, DayKind::TransferredDayOff);
    assert_eq!(off.related, Some(date(2026, 1, 10)));
    let work = cal.day_info(date(2026, 1, 10));
    assert_eq!(work.kind, DayKind::TransferredWorkingDay);
    assert_eq!(work.related, Some(date(2026, 1, 2)));
    assert_eq!(
        work.hours.unwrap().close.to_string(),
        "15:45",
        "Friday's hours"
    );

    let from = kyiv(2025, 12, 31, 10, 0);
    assert_eq!(
        cal.add_working_days(from, 1).unwrap(),
        kyiv(2026, 1, 5, 17, 0)
    );
    assert_eq!(
        cal.add_working_days(from, 5).unwrap(),
        kyiv(2026, 1, 9, 15, 45)
    );
    assert_eq!(
        cal.add_working_days(from, 6).unwrap(),
        kyiv(2026, 1, 10, 15, 45)
    );
    assert!(cal.is_working_time(kyiv(2026, 1, 10, 9, 0)));
    assert!(!cal.is_working_time(kyiv(2026, 1, 2, 9, 0)));

    let martial = CalendarSettings {
        martial_law: true,
        ..s
    };
    let cal = WorkCalendar::from_settings(&martial, ScheduleKind::ContactCenter).unwrap();
    assert_eq!(cal.day_info(date(2026, 1, 2)).kind, DayKind::Working);
    assert_eq!(cal.day_info(date(2026, 1, 10)).kind, DayKind::Weekend);
    assert_eq!(
        cal.add_working_days(from, 1).unwrap(),
        kyiv(2026, 1, 1, 17, 0)
    );
}

#[test]
fn executors_follow_their_own_schedule_or_the_contact_centers() {
    let s = parse(
        "[calendar]\nmartial_law = false\n[calendar.executors]\n\
         monday = \"09:00-18:00\"\ntuesday = \"09:00-18:00\"\nwednesday = \"09:00-18:00\"\n\
         thursday = \"09:00-18:00\"\nfriday = \"09:00-18:00\"\nsaturday = \"09:00-13:00\"\n",
    )
    .unwrap();
    let cc = WorkCalendar::from_settings(&s, ScheduleKind::ContactCenter).unwrap();
    let ex = WorkCalendar::from_settings(&s, ScheduleKind::Executors).unwrap();
    let from = kyiv(2026, 4, 9, 10, 0); // Thursday
    assert_eq!(
        cc.add_working_days(from, 1).unwrap(),
        kyiv(2026, 4, 10, 15, 45)
    );
    assert_eq!(
        ex.add_working_days(from, 1).unwrap(),
        kyiv(2026, 4, 10, 18, 0)
    );
    // Saturday 11 April is a working day for these executors, Easter Monday is not.
    // Saturday 11 April is the day before Easter and a working day for them: one hour shorter.
    assert_eq!(
        ex.add_working_days(from, 2).unwrap(),
        kyiv(2026, 4, 11, 12, 0)
    );
    assert_eq!(ex.day_info(date(2026, 4, 11)).kind, DayKind::Shortened);
    assert_eq!(
        ex.add_working_days(from, 3).unwrap(),
        kyiv(2026, 4, 14, 18, 0)
    );
    assert!(
        ex.is_working_time(kyiv(2026, 4, 10, 13, 0)),
        "no lunch break configured"
    );

    let defaults = CalendarSettings::default();
    let cc = WorkCalendar::from_settings(&defaults, ScheduleKind::ContactCenter).unwrap();
    let ex = WorkCalendar::from_settings(&defaults, ScheduleKind::Executors).unwrap();
    assert_eq!(
        cc.add_working_days(from, 7).unwrap(),
        ex.add_working_days(from, 7).unwrap()
    );
}

#[test]
fn holiday_file_extends_the_builtin_list() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("contactd-calendar-holidays-2028.csv");
    std::fs::write(
        &path,
        "date,name_uk,name_en,notes\n\
         2028-01-01,Новий рік,New Year's Day,Сб\n\
         2028-03-08,Міжнародний жіночий день,International Women's Day,Ср\n",
    )
    .unwrap();
    let s = CalendarSettings {
        martial_law: false,
        holidays_file: Some(path.clone()),
        ..CalendarSettings::default()
    };
    let cal = WorkCalendar::from_settings(&s, ScheduleKind::ContactCenter).unwrap();
    assert!(cal.holidays().years().contains(&2028));
    assert!(
        cal.holidays().get(date(2027, 12, 25)).is_some(),
        "built-in kept"
    );
    // 1 Jan 2028 is a Saturday: Friday 31 Dec 2027 is shortened, Monday 3 Jan is off.
    assert_eq!(cal.day_info(date(2027, 12, 31)).kind, DayKind::Shortened);
    assert_eq!(
        cal.day_info(date(2028, 1, 3)).kind,
        DayKind::TransferredDayOff
    );
    assert_eq!(
        cal.add_working_days(kyiv(2027, 12, 30, 10, 0), 2).unwrap(),
        kyiv(2028, 1, 4, 17, 0)
    );

    std::fs::write(
        &path,
        "date,name_uk,name_en,notes\n2028-01-01,Новий рік,,\n2028-13-01,X,,\n",
    )
    .unwrap();
    let e = WorkCalendar::from_settings(&s, ScheduleKind::ContactCenter)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&path.display().to_string()) && e.contains("line 3"),
        "{e}"
    );
}
