//! `ExecutorCode`: the code of an executor unit (a department, district administration or city
//! enterprise), e.g. `DEPT-HOUSING`.

use std::fmt;

use crate::string_newtype;

/// The code of an executor unit, e.g. `DEPT-HOUSING`, `KRYVBASVODA`, `DISTRICT_7`.
///
/// Rules: 2 to 32 characters; uppercase ASCII letters `A`–`Z`, digits, `-` and `_`; the first
/// character is a letter. Lowercase is rejected rather than upper-cased, so that a code in a
/// configuration file, an import and the database is spelled one way only.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExecutorCode(String);

/// Why a string is not an executor code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutorCodeError {
    #[error("executor code has {0} characters; expected 2 to 32 uppercase letters, digits, '-' or '_', e.g. DEPT-HOUSING")]
    BadLength(usize),
    #[error("executor code must start with an uppercase letter A-Z, e.g. DEPT-HOUSING")]
    BadStart,
    #[error("executor code contains {0:?}; use uppercase letters A-Z, digits, '-' and '_' only, e.g. DEPT-HOUSING")]
    BadCharacter(char),
}

impl ExecutorCode {
    /// Shortest accepted code.
    pub const MIN_LEN: usize = 2;
    /// Longest accepted code.
    pub const MAX_LEN: usize = 32;

    /// Parses an executor code; surrounding whitespace is ignored.
    pub fn parse(input: &str) -> Result<Self, ExecutorCodeError> {
        let s = input.trim();
        let len = s.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(ExecutorCodeError::BadLength(len));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Err(ExecutorCodeError::BadCharacter(c));
        }
        if !s.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Err(ExecutorCodeError::BadStart);
        }
        Ok(Self(s.to_owned()))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExecutorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ExecutorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExecutorCode({})", self.0)
    }
}

string_newtype!(ExecutorCode, ExecutorCodeError);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_codes() {
        for ok in ["DEPT-HOUSING", "KRYVBASVODA", "DISTRICT_7", "A1"] {
            assert_eq!(ExecutorCode::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(
            ExecutorCode::parse(" DEPT-ROADS\n").unwrap().as_str(),
            "DEPT-ROADS"
        );
    }

    #[test]
    fn rejects_with_reason() {
        assert_eq!(
            ExecutorCode::parse("A"),
            Err(ExecutorCodeError::BadLength(1))
        );
        assert_eq!(
            ExecutorCode::parse(&"A".repeat(33)),
            Err(ExecutorCodeError::BadLength(33))
        );
        assert_eq!(
            ExecutorCode::parse("dept-housing"),
            Err(ExecutorCodeError::BadCharacter('d'))
        );
        assert_eq!(
            ExecutorCode::parse("DEPT HOUSING"),
            Err(ExecutorCodeError::BadCharacter(' '))
        );
        assert_eq!(
            ExecutorCode::parse("7DEPT"),
            Err(ExecutorCodeError::BadStart)
        );
        assert_eq!(
            ExecutorCode::parse("-DEPT"),
            Err(ExecutorCodeError::BadStart)
        );
        assert_eq!(
            ExecutorCode::parse("ДЕПТ"),
            Err(ExecutorCodeError::BadCharacter('Д'))
        );
    }

    proptest! {
        #[test]
        fn round_trip(s in "[A-Z][A-Z0-9_-]{1,31}") {
            let c = ExecutorCode::parse(&s).unwrap();
            prop_assert_eq!(c.to_string(), s);
            let json = serde_json::to_string(&c).unwrap();
            prop_assert_eq!(serde_json::from_str::<ExecutorCode>(&json).unwrap(), c);
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = ExecutorCode::parse(&s);
        }
    }
}
