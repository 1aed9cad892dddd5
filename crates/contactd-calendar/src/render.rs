//! Plain-text rendering of a month for `contactd calendar show YYYY-MM`.

use std::fmt::Write as _;

use chrono::Datelike;

use crate::calendar::{DayInfo, DayKind, WorkCalendar};
use crate::error::CalendarError;

/// Renders a month as plain text, one line per day, e.g.
///
/// ```text
/// 2026-04, contact center schedule, peacetime rules (martial_law = false)
/// 2026-04-10 Fri  working                  08:00-15:45 (lunch 12:00-12:45)
/// 2026-04-12 Sun  holiday                  -                                  Пасха (Великдень)
/// 2026-04-13 Mon  transferred day off      -                                  for Пасха (Великдень) on 2026-04-12
/// ```
///
/// followed by a summary line with the number of working days and hours.
pub fn render_month(cal: &WorkCalendar, year: i32, month: u32) -> Result<String, CalendarError> {
    let days = cal.month(year, month)?;
    let mut out = String::new();
    let rules = if cal.martial_law() {
        "martial-law rules: holidays are working days (martial_law = true)"
    } else {
        "peacetime rules (martial_law = false)"
    };
    // Writing to a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(
        out,
        "{year:04}-{month:02}, {} schedule, {rules}",
        cal.schedule_kind()
    );
    let mut working_days = 0u32;
    let mut minutes = 0u32;
    for day in &days {
        if let Some(h) = &day.hours {
            working_days += 1;
            minutes += h.minutes();
        }
        let hours = day.hours.map_or_else(|| "-".to_owned(), |h| h.to_string());
        let note = note(day);
        let line = format!(
            "{} {}  {:<23}  {:<33}  {}",
            day.date,
            day.date.weekday(),
            day.kind.label(),
            hours,
            note
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(
        out,
        "{working_days} working days, {}:{:02} working hours",
        minutes / 60,
        minutes % 60
    );
    if !cal.holidays().years().contains(&year) {
        let _ = writeln!(
            out,
            "warning: no holidays are known for {year}; add them with calendar.holidays_file"
        );
    }
    Ok(out)
}

fn note(day: &DayInfo) -> String {
    let name = day.holiday.as_ref().map(|h| h.name_uk.as_str());
    match (day.kind, name) {
        (DayKind::TransferredDayOff, Some(name)) => match day.related {
            Some(d) => format!("for {name} on {d}"),
            None => format!("for {name}"),
        },
        (DayKind::TransferredDayOff, None) => match day.related {
            Some(d) => format!("worked on {d} instead"),
            None => String::new(),
        },
        (DayKind::TransferredWorkingDay, name) => {
            let mut s = match day.related {
                Some(d) => format!("worked instead of {d}"),
                None => String::new(),
            };
            if let (true, Some(name)) = (day.shortened, name) {
                let _ = write!(s, "; one hour shorter before {name}");
            }
            s
        }
        (DayKind::Shortened, Some(name)) => format!("one hour shorter before {name}"),
        (DayKind::Working, Some(name)) => format!("{name} (not a day off under martial law)"),
        (DayKind::Weekend, Some(name)) => {
            format!("{name} (no day off is moved under martial law)")
        }
        (_, Some(name)) => name.to_owned(),
        (_, None) => String::new(),
    }
}
