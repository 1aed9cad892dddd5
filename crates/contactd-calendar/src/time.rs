//! Local wall-clock times (`08:00`, `24:00`), time ranges (`08:00-17:00`) and the one place that
//! turns a Kyiv local date and time into a UTC instant, DST included.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The time zone every local rule of the calendar is reasoned in.
pub const KYIV: Tz = chrono_tz::Europe::Kyiv;

const MINUTES_PER_DAY: u16 = 24 * 60;

/// A local wall-clock time with minute precision, from `00:00` to `24:00` inclusive.
///
/// `24:00` exists so that a round-the-clock schedule (`00:00-24:00`) can be written; it means the
/// midnight that ends the day.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, serde::Serialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    /// Midnight at the start of the day.
    pub const MIDNIGHT: Self = Self(0);
    /// Midnight at the end of the day (`24:00`).
    pub const END_OF_DAY: Self = Self(MINUTES_PER_DAY);

    /// `hour:minute`; `None` unless it is between `00:00` and `24:00`.
    pub fn from_hm(hour: u16, minute: u16) -> Option<Self> {
        if minute >= 60 {
            return None;
        }
        let m = hour.checked_mul(60)?.checked_add(minute)?;
        (m <= MINUTES_PER_DAY).then_some(Self(m))
    }

    /// Minutes since the start of the day (0..=1440).
    pub fn minutes(self) -> u16 {
        self.0
    }

    /// The hour (0..=24).
    pub fn hour(self) -> u16 {
        self.0 / 60
    }

    /// The minute within the hour.
    pub fn minute(self) -> u16 {
        self.0 % 60
    }

    /// One hour earlier, or `None` before `01:00`.
    pub(crate) fn minus_hour(self) -> Option<Self> {
        self.0.checked_sub(60).map(Self)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

impl FromStr for TimeOfDay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a time; write it as HH:MM, e.g. 08:00 or 17:45");
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        Self::from_hm(h, m).ok_or_else(|| format!("`{s}` is not a time of day; use 00:00 to 24:00"))
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> Self {
        t.to_string()
    }
}

/// A half-open local time range `start..end` within one day, written `HH:MM-HH:MM`; `start` is
/// strictly before `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeRange {
    start: TimeOfDay,
    end: TimeOfDay,
}

impl TimeRange {
    /// `start..end`; `None` unless `start < end`.
    pub fn new(start: TimeOfDay, end: TimeOfDay) -> Option<Self> {
        (start < end).then_some(Self { start, end })
    }

    /// Inclusive start.
    pub fn start(self) -> TimeOfDay {
        self.start
    }

    /// Exclusive end.
    pub fn end(self) -> TimeOfDay {
        self.end
    }

    /// Length in minutes.
    pub fn minutes(self) -> u16 {
        self.end.0 - self.start.0
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

impl FromStr for TimeRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s.split_once('-').ok_or_else(|| {
            format!("`{s}` is not a time range; write it as HH:MM-HH:MM, e.g. 08:00-17:00")
        })?;
        let start: TimeOfDay = a.parse()?;
        let end: TimeOfDay = b.parse()?;
        Self::new(start, end).ok_or_else(|| {
            format!(
                "`{s}` ends before it starts; the end must be later than the start on the same \
                 day (ranges across midnight are not supported, 24:00 is allowed)"
            )
        })
    }
}

impl TryFrom<String> for TimeRange {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<TimeRange> for String {
    fn from(r: TimeRange) -> Self {
        r.to_string()
    }
}

/// The Kyiv local date of an instant (the day a term is counted from).
pub fn local_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&KYIV).date_naive()
}

/// The UTC instant of a Kyiv local date and time.
///
/// DST is resolved so that the result never goes backwards as the local time moves forward:
/// a local time skipped by the spring change (03:00–03:59 on the last Sunday of March) means the
/// instant of the change; a local time that happens twice in autumn (03:00–03:59 on the last
/// Sunday of October) means its first occurrence. `24:00` is midnight of the next day. `None` only
/// at the end of chrono's date range.
pub(crate) fn kyiv_instant(date: NaiveDate, time: TimeOfDay) -> Option<DateTime<Utc>> {
    let (date, minutes) = if time == TimeOfDay::END_OF_DAY {
        (date.succ_opt()?, 0)
    } else {
        (date, time.minutes())
    };
    let naive = NaiveDateTime::new(
        date,
        NaiveTime::from_hms_opt(u32::from(minutes / 60), u32::from(minutes % 60), 0)?,
    );
    // Step forward through a DST gap minute by minute; Kyiv's gap is one hour, any real zone's is
    // at most a few hours.
    for step in 0..=(4 * 60) {
        let candidate = naive + chrono::Duration::minutes(step);
        match KYIV.from_local_datetime(&candidate) {
            LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => return Some(a.min(b).with_timezone(&Utc)),
            LocalResult::None => continue,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times_and_ranges() {
        let r: TimeRange = "08:00-17:00".parse().unwrap();
        assert_eq!(r.start().minutes(), 480);
        assert_eq!(r.end().minutes(), 1020);
        assert_eq!(r.to_string(), "08:00-17:00");
        let r: TimeRange = "8:00 - 15:45".parse().unwrap();
        assert_eq!(r.to_string(), "08:00-15:45");
        assert!("00:00-24:00".parse::<TimeRange>().is_ok());
        assert!("17:00-08:00".parse::<TimeRange>().is_err());
        assert!("08:00".parse::<TimeRange>().is_err());
        assert!("08:60-09:00".parse::<TimeRange>().is_err());
        assert!("24:01-24:00".parse::<TimeRange>().is_err());
        assert!("8-17".parse::<TimeRange>().is_err());
    }

    #[test]
    fn dst_gap_and_overlap_resolve_forward() {
        // Spring 2026: 03:00 EET becomes 04:00 EEST on 29 March at 01:00 UTC.
        let d = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let gap = kyiv_instant(d, TimeOfDay::from_hm(3, 30).unwrap()).unwrap();
        assert_eq!(gap.to_rfc3339(), "2026-03-29T01:00:00+00:00");
        // Autumn 2026: 04:00 EEST becomes 03:00 EET on 25 October at 01:00 UTC.
        let d = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap();
        let twice = kyiv_instant(d, TimeOfDay::from_hm(3, 30).unwrap()).unwrap();
        assert_eq!(twice.to_rfc3339(), "2026-10-25T00:30:00+00:00");
        let end = kyiv_instant(d, TimeOfDay::END_OF_DAY).unwrap();
        assert_eq!(end.to_rfc3339(), "2026-10-25T22:00:00+00:00");
    }
}
