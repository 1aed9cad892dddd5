//! `RequestNumber`: the human-readable number of a request, `YYYY-NNNNNN` (year and sequence).

use std::fmt;

/// A request number such as `2026-000123`: the year of registration, a hyphen, and the sequence
/// number within that year, zero-padded to at least six digits.
///
/// The canonical form is the only one accepted, so that a number read back from a printout, an
/// email or the database is always the same string: `2026-000123` parses, `2026-123` does not.
/// A sequence beyond 999 999 is written with as many digits as it needs and no leading zero
/// (`2026-1000000`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestNumber {
    year: u16,
    sequence: u32,
}

/// Why a string or a pair of numbers is not a request number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestNumberError {
    #[error("request number {0:?} is not in the form YYYY-NNNNNN; expected e.g. 2026-000123")]
    Format(String),
    #[error("request number year {0} is out of range; expected a year from 2000 to 9999")]
    Year(u32),
    #[error("request number sequence must start at 1; expected e.g. 2026-000001")]
    ZeroSequence,
    #[error("request number sequence {0:?} has extra leading zeros; write it with six digits, e.g. 2026-000123")]
    NotCanonical(String),
}

impl RequestNumber {
    /// Earliest accepted year.
    pub const MIN_YEAR: u16 = 2000;
    /// Latest accepted year.
    pub const MAX_YEAR: u16 = 9999;

    /// Builds a request number from its parts (e.g. from the database sequence).
    pub fn new(year: u16, sequence: u32) -> Result<Self, RequestNumberError> {
        if !(Self::MIN_YEAR..=Self::MAX_YEAR).contains(&year) {
            return Err(RequestNumberError::Year(u32::from(year)));
        }
        if sequence == 0 {
            return Err(RequestNumberError::ZeroSequence);
        }
        Ok(Self { year, sequence })
    }

    /// Parses the canonical `YYYY-NNNNNN` form; surrounding whitespace is ignored.
    pub fn parse(input: &str) -> Result<Self, RequestNumberError> {
        let s = input.trim();
        let format_err = || RequestNumberError::Format(s.chars().take(40).collect());
        let (year, seq) = s.split_once('-').ok_or_else(format_err)?;
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if year.len() != 4
            || !all_digits(year)
            || seq.len() < 6
            || seq.len() > 9
            || !all_digits(seq)
        {
            return Err(format_err());
        }
        let year: u16 = year.parse().map_err(|_| format_err())?;
        let sequence: u32 = seq.parse().map_err(|_| format_err())?;
        if seq.len() > 6 && seq.starts_with('0') {
            return Err(RequestNumberError::NotCanonical(seq.to_owned()));
        }
        Self::new(year, sequence)
    }

    /// The year of registration.
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The sequence number within the year (from 1).
    pub fn sequence(&self) -> u32 {
        self.sequence
    }
}

impl fmt::Display for RequestNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:06}", self.year, self.sequence)
    }
}

impl fmt::Debug for RequestNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestNumber({self})")
    }
}

impl std::str::FromStr for RequestNumber {
    type Err = RequestNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for RequestNumber {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RequestNumber {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_and_formats() {
        let n = RequestNumber::parse("2026-000123").unwrap();
        assert_eq!((n.year(), n.sequence()), (2026, 123));
        assert_eq!(n.to_string(), "2026-000123");
        assert_eq!(
            RequestNumber::new(2026, 1_000_000).unwrap().to_string(),
            "2026-1000000"
        );
        assert_eq!(
            RequestNumber::parse("2026-1000000").unwrap(),
            RequestNumber::new(2026, 1_000_000).unwrap()
        );
    }

    #[test]
    fn rejects_with_reason() {
        for bad in [
            "",
            "2026",
            "2026-123",
            "26-000123",
            "2026-00012a",
            "2026/000123",
            "2026-000123-1",
        ] {
            let err = RequestNumber::parse(bad).unwrap_err();
            assert!(matches!(err, RequestNumberError::Format(_)), "{bad}: {err}");
            assert!(err.to_string().contains("2026-000123"), "{err}");
        }
        assert_eq!(
            RequestNumber::parse("2026-000000"),
            Err(RequestNumberError::ZeroSequence)
        );
        assert_eq!(
            RequestNumber::parse("1999-000001"),
            Err(RequestNumberError::Year(1999))
        );
        assert!(matches!(
            RequestNumber::parse("2026-0000123"),
            Err(RequestNumberError::NotCanonical(_))
        ));
    }

    #[test]
    fn orders_by_year_then_sequence() {
        let a = RequestNumber::parse("2025-999999").unwrap();
        let b = RequestNumber::parse("2026-000001").unwrap();
        assert!(a < b);
    }

    proptest! {
        #[test]
        fn round_trip(year in 2000u16..=9999, seq in 1u32..=999_999_999) {
            let n = RequestNumber::new(year, seq).unwrap();
            prop_assert_eq!(RequestNumber::parse(&n.to_string()).unwrap(), n);
            let json = serde_json::to_string(&n).unwrap();
            prop_assert_eq!(serde_json::from_str::<RequestNumber>(&json).unwrap(), n);
        }

        #[test]
        fn never_panics(s in "\\PC{0,16}") {
            let _ = RequestNumber::parse(&s);
        }
    }
}
