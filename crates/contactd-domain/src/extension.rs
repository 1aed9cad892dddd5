//! `Extension`: an operator's PBX extension (internal number), 2 to 8 digits.

use std::fmt;

use crate::string_newtype;

/// A PBX extension such as `101` or `2045`: ASCII digits only, 2 to 8 of them.
///
/// Leading zeros are kept (`007` and `7` are different extensions on a PBX).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Extension(String);

/// Why a string is not a PBX extension.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    #[error("extension is empty; expected 2 to 8 digits, e.g. 101")]
    Empty,
    #[error("extension contains {0:?}; expected digits only (2 to 8 of them), e.g. 101")]
    NotDigit(char),
    #[error("extension has {0} digits; expected 2 to 8 digits, e.g. 101")]
    BadLength(usize),
}

impl Extension {
    /// Shortest accepted extension.
    pub const MIN_LEN: usize = 2;
    /// Longest accepted extension.
    pub const MAX_LEN: usize = 8;

    /// Parses an extension; surrounding whitespace is ignored.
    pub fn parse(input: &str) -> Result<Self, ExtensionError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ExtensionError::Empty);
        }
        if let Some(c) = s.chars().find(|c| !c.is_ascii_digit()) {
            return Err(ExtensionError::NotDigit(c));
        }
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len()) {
            return Err(ExtensionError::BadLength(s.len()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The extension's digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Extension({})", self.0)
    }
}

string_newtype!(Extension, ExtensionError);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_digits_and_trims() {
        assert_eq!(Extension::parse(" 101 ").unwrap().as_str(), "101");
        assert_eq!(Extension::parse("007").unwrap().as_str(), "007");
    }

    #[test]
    fn rejects_with_reason() {
        assert_eq!(Extension::parse(""), Err(ExtensionError::Empty));
        assert_eq!(Extension::parse("1"), Err(ExtensionError::BadLength(1)));
        assert_eq!(
            Extension::parse("123456789"),
            Err(ExtensionError::BadLength(9))
        );
        assert_eq!(Extension::parse("10a"), Err(ExtensionError::NotDigit('a')));
        let msg = Extension::parse("1").unwrap_err().to_string();
        assert!(msg.contains("2 to 8 digits"), "{msg}");
    }

    #[test]
    fn serde_goes_through_parse() {
        let e: Extension = serde_json::from_str("\"2045\"").unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"2045\"");
        assert!(serde_json::from_str::<Extension>("\"x1\"").is_err());
    }

    proptest! {
        #[test]
        fn round_trip(s in "[0-9]{2,8}") {
            let e = Extension::parse(&s).unwrap();
            prop_assert_eq!(Extension::parse(&e.to_string()).unwrap(), e.clone());
            let json = serde_json::to_string(&e).unwrap();
            prop_assert_eq!(serde_json::from_str::<Extension>(&json).unwrap(), e);
        }

        #[test]
        fn never_panics(s in "\\PC{0,12}") {
            let _ = Extension::parse(&s);
        }
    }
}
