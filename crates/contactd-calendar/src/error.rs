//! The one error type of the calendar crate: bad settings, bad holiday files, dates out of range.

use std::path::PathBuf;

/// Everything that can go wrong while building or asking a [`crate::WorkCalendar`].
///
/// Each message says what was wrong and what to do about it, so that `contactd check-config` can
/// print it as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalendarError {
    /// A `[calendar]` setting has a value that cannot work. `key` is the full TOML key, e.g.
    /// `calendar.contact_center.friday`.
    #[error("setting `{key}`: {problem}")]
    InvalidSetting {
        /// Full TOML key, e.g. `calendar.transfers[0]`.
        key: String,
        /// What is wrong and what to write instead.
        problem: String,
    },

    /// The holiday file named by `calendar.holidays_file` cannot be read.
    #[error(
        "cannot read the holiday file {path} (setting `calendar.holidays_file`): {source}; \
         check the path and the file's permissions, or remove the setting to use the built-in list"
    )]
    HolidayFileRead {
        /// The path as configured.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A row of a holiday file is malformed. `line` is 1-based and counts the header line.
    #[error("{file}, line {line}: {problem}")]
    HolidayFile {
        /// The file name (`built-in holidays-ua-2025-2027.csv` for the embedded list).
        file: String,
        /// 1-based line number in the file (the header is line 1).
        line: u64,
        /// What is wrong with the row and how to fix it.
        problem: String,
    },

    /// The question leads outside the dates the calendar can represent (far beyond year 200000),
    /// or no working time was found within ten years (which validated settings rule out).
    #[error("{what}: the result is outside the supported range of dates; check the input")]
    OutOfRange {
        /// What was being computed.
        what: String,
    },

    /// A month number outside 1..=12, or a year outside chrono's range.
    #[error(
        "there is no month {year}-{month:02}; give the month as YYYY-MM with MM from 01 to 12"
    )]
    NoSuchMonth {
        /// The year asked for.
        year: i32,
        /// The month asked for.
        month: u32,
    },
}

impl CalendarError {
    pub(crate) fn setting(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::InvalidSetting {
            key: key.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn out_of_range(what: impl Into<String>) -> Self {
        Self::OutOfRange { what: what.into() }
    }
}
