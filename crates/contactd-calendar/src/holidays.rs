//! Holidays as data: the built-in Ukrainian list (embedded CSV) and extra CSV files in the same
//! format, whose rows override or extend it by date.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{Datelike, NaiveDate};

use crate::error::CalendarError;

/// The embedded list, a copy of `shared/data/holidays-ua-2025-2027.csv`.
const BUILTIN_CSV: &str = include_str!("../data/holidays-ua-2025-2027.csv");
/// How the embedded list is named in error messages.
const BUILTIN_NAME: &str = "built-in holidays-ua-2025-2027.csv";

/// One public holiday or religious non-working day (Labour Code art. 73).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Holiday {
    /// The date (a local date in Kyiv).
    pub date: NaiveDate,
    /// Ukrainian name, e.g. `Різдво Христове`; this is what users see.
    pub name_uk: String,
    /// English name, e.g. `Christmas Day`; may be empty in a city's file.
    pub name_en: String,
}

/// A set of holidays keyed by date. Build it with [`Holidays::builtin`], then
/// [`Holidays::extend_from_csv`] / [`Holidays::extend_from_file`] for a city's extra rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holidays {
    by_date: BTreeMap<NaiveDate, Holiday>,
}

#[derive(serde::Deserialize)]
struct Row {
    date: String,
    name_uk: String,
    #[serde(default)]
    name_en: String,
    // `notes` is documentation for people; read and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    notes: String,
}

impl Holidays {
    /// No holidays at all (tests, or a city that lists every holiday in its own file).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The Ukrainian holidays of 2025–2027 embedded in the binary.
    pub fn builtin() -> Result<Self, CalendarError> {
        let mut h = Self::empty();
        h.extend_from_csv(BUILTIN_NAME, BUILTIN_CSV)?;
        Ok(h)
    }

    /// Reads a CSV file (same columns as the built-in list) and adds its rows, replacing the
    /// existing holiday of the same date.
    pub fn extend_from_file(&mut self, path: &Path) -> Result<(), CalendarError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CalendarError::HolidayFileRead {
                path: path.to_path_buf(),
                source,
            })?;
        self.extend_from_csv(&path.display().to_string(), &text)
    }

    /// Parses CSV text and adds its rows, replacing the existing holiday of the same date.
    ///
    /// The header must name the columns `date`, `name_uk` and optionally `name_en` and `notes`
    /// (any order; other columns are rejected so that typos do not pass silently). `date` is
    /// `YYYY-MM-DD`. A date may appear only once per file. `file` names the source in errors.
    /// On error nothing is added.
    pub fn extend_from_csv(&mut self, file: &str, text: &str) -> Result<(), CalendarError> {
        let err = |line: u64, problem: String| CalendarError::HolidayFile {
            file: file.to_owned(),
            line,
            problem,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| err(1, format!("cannot read the header: {e}")))?
            .clone();
        for name in headers.iter() {
            if !matches!(name, "date" | "name_uk" | "name_en" | "notes") {
                return Err(err(
                    1,
                    format!(
                        "unknown column `{name}`; the header must be `date,name_uk,name_en,notes`"
                    ),
                ));
            }
        }
        for needed in ["date", "name_uk"] {
            if !headers.iter().any(|h| h == needed) {
                return Err(err(
                    1,
                    format!(
                        "the column `{needed}` is missing; the header must be \
                         `date,name_uk,name_en,notes`"
                    ),
                ));
            }
        }

        let mut rows: BTreeMap<NaiveDate, (u64, Holiday)> = BTreeMap::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, csv::Position::line);
                err(
                    line,
                    format!("malformed CSV row ({e}); check quotes and commas"),
                )
            })?;
            let line = record.position().map_or(0, csv::Position::line);
            let row: Row = record.deserialize(Some(&headers)).map_err(|e| {
                err(
                    line,
                    format!("cannot read the row ({e}); every row needs date and name_uk"),
                )
            })?;
            let date = NaiveDate::parse_from_str(&row.date, "%Y-%m-%d").map_err(|_| {
                err(
                    line,
                    format!("`{}` is not a date; write it as YYYY-MM-DD", row.date),
                )
            })?;
            if row.name_uk.is_empty() {
                return Err(err(
                    line,
                    format!("the holiday on {date} has no name_uk; give its Ukrainian name"),
                ));
            }
            let holiday = Holiday {
                date,
                name_uk: row.name_uk,
                name_en: row.name_en,
            };
            if let Some((first, _)) = rows.insert(date, (line, holiday)) {
                return Err(err(
                    line,
                    format!("{date} is listed twice (first on line {first}); keep one row"),
                ));
            }
        }
        self.by_date
            .extend(rows.into_iter().map(|(d, (_, h))| (d, h)));
        Ok(())
    }

    /// The holiday on `date`, if any.
    pub fn get(&self, date: NaiveDate) -> Option<&Holiday> {
        self.by_date.get(&date)
    }

    /// All holidays in date order.
    pub fn iter(&self) -> impl Iterator<Item = &Holiday> {
        self.by_date.values()
    }

    /// Number of holidays.
    pub fn len(&self) -> usize {
        self.by_date.len()
    }

    /// `true` when there are no holidays.
    pub fn is_empty(&self) -> bool {
        self.by_date.is_empty()
    }

    /// The years that have at least one holiday: the daemon can warn at start-up when the current
    /// or next year is missing, so that a city adds a `holidays_file` in time.
    pub fn years(&self) -> BTreeSet<i32> {
        self.by_date.keys().map(Datelike::year).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn builtin_list_has_the_known_dates() {
        let h = Holidays::builtin().unwrap();
        assert_eq!(h.len(), 33);
        assert_eq!(h.years(), BTreeSet::from([2025, 2026, 2027]));
        assert_eq!(
            h.get(d(2026, 4, 12)).unwrap().name_en.split(' ').next(),
            Some("Easter")
        );
        assert_eq!(h.get(d(2025, 12, 25)).unwrap().name_uk, "Різдво Христове");
        assert!(
            h.get(d(2026, 1, 7)).is_none(),
            "7 January is no longer a holiday"
        );
        assert!(
            h.get(d(2026, 5, 9)).is_none(),
            "9 May was replaced by 8 May"
        );
        assert!(h.get(d(2027, 6, 20)).is_some());
    }

    #[test]
    fn extra_rows_override_and_extend() {
        let mut h = Holidays::builtin().unwrap();
        h.extend_from_csv(
            "extra.csv",
            "date,name_uk,name_en,notes\n2028-01-01,Новий рік,New Year's Day,\n2027-12-25,Різдво,Christmas,змінено\n",
        )
        .unwrap();
        assert_eq!(h.get(d(2028, 1, 1)).unwrap().name_uk, "Новий рік");
        assert_eq!(h.get(d(2027, 12, 25)).unwrap().name_uk, "Різдво");
        assert!(h.years().contains(&2028));
    }

    #[test]
    fn errors_name_file_and_line() {
        let mut h = Holidays::empty();
        let e = h
            .extend_from_csv("x.csv", "date,name_uk\n2028-01-01,A\n2028-02-30,B\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.csv, line 3:"), "{e}");
        assert!(e.contains("YYYY-MM-DD"), "{e}");
        assert!(h.is_empty(), "nothing is added on error");

        let e = h
            .extend_from_csv("x.csv", "date,name_uk\n2028-01-01,A\n2028-01-01,B\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("line 2"), "{e}");

        let e = h
            .extend_from_csv("x.csv", "date,name,name_en\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x.csv, line 1:") && e.contains("`name`"),
            "{e}"
        );

        let e = h
            .extend_from_csv("x.csv", "date,name_uk\n2028-01-01,\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.csv, line 2:"), "{e}");

        let e = h
            .extend_from_csv("x.csv", "date,name_uk\n2028-01-01,A,extra\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.csv, line 2:"), "{e}");
    }

    #[test]
    fn missing_file_names_the_setting() {
        let mut h = Holidays::empty();
        let e = h
            .extend_from_file(Path::new("/nonexistent/holidays.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/holidays.csv"), "{e}");
        assert!(e.contains("calendar.holidays_file"), "{e}");
    }
}
