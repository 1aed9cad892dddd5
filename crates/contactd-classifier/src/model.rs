//! Items of the classifier: request types, regulated terms, executor units, revisions by decision.

use std::fmt;

use chrono::NaiveDate;

use crate::code::ClassifierCode;

/// The law's outer bound on any term in days (Law "On citizens' appeals", art. 20: 45 days at most).
pub const MAX_TERM_DAYS: u32 = 45;
/// The largest emergency term in hours we accept (the same 45 days, round the clock).
pub const MAX_TERM_HOURS: u32 = MAX_TERM_DAYS * 24;

/// Type of a request, which selects the regulated term of the item.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RequestType {
    /// Аварійна: term in hours, counted round the clock.
    Emergency,
    /// Звичайна (usually up to 15 days).
    Ordinary,
    /// Середньострокова (usually up to 30 days).
    Medium,
    /// Довгострокова (up to 45 days).
    Long,
}

impl RequestType {
    /// All types, in the order files list their columns.
    pub const ALL: [RequestType; 4] = [
        RequestType::Emergency,
        RequestType::Ordinary,
        RequestType::Medium,
        RequestType::Long,
    ];

    /// The key used in files (`emergency`, `ordinary`, `medium`, `long`).
    pub fn key(self) -> &'static str {
        match self {
            RequestType::Emergency => "emergency",
            RequestType::Ordinary => "ordinary",
            RequestType::Medium => "medium",
            RequestType::Long => "long",
        }
    }

    /// Parses the file key.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.key() == key)
    }

    /// Ukrainian name shown to operators.
    pub fn title_uk(self) -> &'static str {
        match self {
            RequestType::Emergency => "аварійна",
            RequestType::Ordinary => "звичайна",
            RequestType::Medium => "середньострокова",
            RequestType::Long => "довгострокова",
        }
    }
}

impl fmt::Display for RequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A regulated term. Files write it as `24h`, `10wd` (working days) or `30cd` (calendar days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Term {
    /// Hours counted round the clock (emergency requests).
    Hours(u32),
    /// Working days of the city calendar.
    WorkingDays(u32),
    /// Calendar days.
    CalendarDays(u32),
}

/// Why a term text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermError {
    /// No unit or an unknown unit.
    #[error("term `{0}` has no known unit: write hours as `24h`, working days as `10wd`, calendar days as `30cd`")]
    Unit(String),
    /// The number part is missing or not a whole number.
    #[error("term `{0}` does not start with a whole number: write e.g. `24h`, `10wd`, `30cd`")]
    Number(String),
    /// Zero.
    #[error("term `{0}` is zero: a regulated term must be at least 1; leave the cell empty if this request type is not allowed for the item")]
    Zero(String),
    /// More than the law allows.
    #[error("term `{0}` exceeds the law's maximum of {MAX_TERM_DAYS} days (Law \"On citizens' appeals\", art. 20): shorten it")]
    TooLong(String),
}

impl Term {
    /// Parses `24h`, `10wd`, `30cd` (spaces between number and unit are allowed).
    pub fn parse(text: &str) -> Result<Self, TermError> {
        let t = text.trim();
        let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = t.split_at(digits_end);
        let unit = unit.trim();
        if number.is_empty() {
            return Err(TermError::Number(t.to_owned()));
        }
        let n: u32 = number
            .parse()
            .map_err(|_| TermError::TooLong(t.to_owned()))?;
        let term = match unit {
            "h" => Term::Hours(n),
            "wd" => Term::WorkingDays(n),
            "cd" => Term::CalendarDays(n),
            _ => return Err(TermError::Unit(t.to_owned())),
        };
        if n == 0 {
            return Err(TermError::Zero(t.to_owned()));
        }
        let too_long = match term {
            Term::Hours(h) => h > MAX_TERM_HOURS,
            Term::WorkingDays(d) | Term::CalendarDays(d) => d > MAX_TERM_DAYS,
        };
        if too_long {
            return Err(TermError::TooLong(t.to_owned()));
        }
        Ok(term)
    }

    /// True for [`Term::Hours`].
    pub fn is_hours(&self) -> bool {
        matches!(self, Term::Hours(_))
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Hours(n) => write!(f, "{n}h"),
            Term::WorkingDays(n) => write!(f, "{n}wd"),
            Term::CalendarDays(n) => write!(f, "{n}cd"),
        }
    }
}

/// The regulated term for each request type; a missing term means the type is not allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Terms {
    /// In hours.
    pub emergency: Option<Term>,
    /// In days.
    pub ordinary: Option<Term>,
    /// In days.
    pub medium: Option<Term>,
    /// In days.
    pub long: Option<Term>,
}

impl Terms {
    /// The term for a request type, `None` if that type is not allowed for the item.
    pub fn get(&self, request_type: RequestType) -> Option<Term> {
        match request_type {
            RequestType::Emergency => self.emergency,
            RequestType::Ordinary => self.ordinary,
            RequestType::Medium => self.medium,
            RequestType::Long => self.long,
        }
    }

    /// Sets the term of one request type.
    pub fn set(&mut self, request_type: RequestType, term: Option<Term>) {
        let slot = match request_type {
            RequestType::Emergency => &mut self.emergency,
            RequestType::Ordinary => &mut self.ordinary,
            RequestType::Medium => &mut self.medium,
            RequestType::Long => &mut self.long,
        };
        *slot = term;
    }

    /// True when no request type has a term.
    pub fn is_empty(&self) -> bool {
        RequestType::ALL.iter().all(|t| self.get(*t).is_none())
    }

    /// The request types allowed for the item, in [`RequestType::ALL`] order.
    pub fn allowed(&self) -> impl Iterator<Item = (RequestType, Term)> + '_ {
        RequestType::ALL
            .into_iter()
            .filter_map(|t| self.get(t).map(|term| (t, term)))
    }
}

/// Code of an executor unit (a department, district administration or city enterprise), e.g. `DZHKG`.
///
/// ASCII letters, digits, `-` and `_`, 1 to 32 characters, so that it is safe in URLs and files.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct ExecutorCode(String);

/// Why a text is not an executor code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutorCodeError {
    /// Empty or too long.
    #[error("executor code `{0}` must be 1 to 32 characters long")]
    Length(String),
    /// A character outside `A-Z a-z 0-9 - _`.
    #[error("executor code `{0}` may contain only Latin letters, digits, `-` and `_` (e.g. `DZHKG`, `KP-VODOKANAL`)")]
    Chars(String),
}

impl ExecutorCode {
    /// Parses an executor code.
    pub fn parse(text: &str) -> Result<Self, ExecutorCodeError> {
        let t = text.trim();
        if t.is_empty() || t.len() > 32 {
            return Err(ExecutorCodeError::Length(t.to_owned()));
        }
        if !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ExecutorCodeError::Chars(t.to_owned()));
        }
        Ok(Self(t.to_owned()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ExecutorCode {
    type Error = ExecutorCodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ExecutorCode> for String {
    fn from(value: ExecutorCode) -> Self {
        value.0
    }
}

impl fmt::Display for ExecutorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An executor unit declared by a classifier file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecutorUnit {
    /// Unit code referenced by items.
    pub code: ExecutorCode,
    /// Ukrainian name of the unit.
    pub name: String,
}

/// One row of the classifier: a section, an item or a sub-item, in one wording.
///
/// Sections and items that have sub-items only group (title, optional area); leaves carry the
/// executors and at least one term.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    /// `22`, `22.5`, `22.5.27`.
    pub code: ClassifierCode,
    /// Ukrainian title.
    pub title: String,
    /// Default executor units, main one first (leaves only).
    pub executors: Vec<ExecutorCode>,
    /// Area of responsibility used to find the deputy mayor; a leaf without one inherits its
    /// item's or section's.
    pub area: Option<String>,
    /// Regulated terms per request type (leaves only).
    pub terms: Terms,
}

/// A decision of the executive committee that approved or amended the classifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Revision {
    /// Decision number, e.g. 339.
    pub decision_no: u32,
    /// Date the decision was adopted.
    pub decision_date: NaiveDate,
    /// Date from which new requests are filed under this revision.
    pub effective_date: NaiveDate,
}

impl Revision {
    /// A revision that takes effect on the day of the decision.
    pub fn new(decision_no: u32, decision_date: NaiveDate) -> Self {
        Self {
            decision_no,
            decision_date,
            effective_date: decision_date,
        }
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "decision No. {} of {} (effective {})",
            self.decision_no,
            self.decision_date.format("%d.%m.%Y"),
            self.effective_date.format("%d.%m.%Y")
        )
    }
}

/// Position of a revision in a [`crate::Classifier`]: 0 is the base, each amendment adds one.
/// Revisions are append-only, so the id a request stores stays valid.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct RevisionId(pub u32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_parse() {
        assert_eq!(Term::parse("24h"), Ok(Term::Hours(24)));
        assert_eq!(Term::parse(" 10 wd "), Ok(Term::WorkingDays(10)));
        assert_eq!(Term::parse("45cd"), Ok(Term::CalendarDays(45)));
        assert!(matches!(Term::parse("46cd"), Err(TermError::TooLong(_))));
        assert!(matches!(Term::parse("0h"), Err(TermError::Zero(_))));
        assert!(matches!(Term::parse("10"), Err(TermError::Unit(_))));
        assert!(matches!(Term::parse("10 days"), Err(TermError::Unit(_))));
        assert!(matches!(Term::parse("wd"), Err(TermError::Number(_))));
        assert!(matches!(Term::parse("-3wd"), Err(TermError::Number(_))));
        assert!(matches!(
            Term::parse("99999999999h"),
            Err(TermError::TooLong(_))
        ));
        assert_eq!(
            Term::parse("10wd").map(|t| t.to_string()),
            Ok("10wd".into())
        );
    }

    #[test]
    fn executor_codes() {
        assert!(ExecutorCode::parse("KP-VODOKANAL_1").is_ok());
        assert!(ExecutorCode::parse("ДЖКГ").is_err());
        assert!(ExecutorCode::parse("").is_err());
    }
}
