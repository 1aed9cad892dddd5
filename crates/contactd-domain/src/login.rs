//! `Login`: the login name of a contactd user (operator, executor, supervisor, admin).

use std::fmt;

use crate::string_newtype;

/// A user login such as `o.petrenko` or `housing_ivanova`.
///
/// Rules: 3 to 32 characters; ASCII letters, digits, `.`, `_` and `-`; starts with a letter; no
/// two separators (`.`, `_`, `-`) in a row and none at the end. Logins are case-insensitive: they
/// are stored lower-cased, so `O.Petrenko` and `o.petrenko` are the same user.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Login(String);

/// Why a string is not a login.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("login has {0} characters; expected 3 to 32 Latin letters, digits, '.', '_' or '-', e.g. o.petrenko")]
    BadLength(usize),
    #[error("login must start with a Latin letter, e.g. o.petrenko")]
    BadStart,
    #[error(
        "login contains {0:?}; use Latin letters, digits, '.', '_' and '-' only, e.g. o.petrenko"
    )]
    BadCharacter(char),
    #[error(
        "login has a separator ('.', '_' or '-') at the end or two in a row; write e.g. o.petrenko"
    )]
    BadSeparator,
}

impl Login {
    /// Shortest accepted login.
    pub const MIN_LEN: usize = 3;
    /// Longest accepted login.
    pub const MAX_LEN: usize = 32;

    /// Parses a login; surrounding whitespace is ignored and letters are lower-cased.
    pub fn parse(input: &str) -> Result<Self, LoginError> {
        let s = input.trim();
        let len = s.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(LoginError::BadLength(len));
        }
        let is_sep = |c: char| matches!(c, '.' | '_' | '-');
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || is_sep(*c)))
        {
            return Err(LoginError::BadCharacter(c));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(LoginError::BadStart);
        }
        let doubled = s
            .as_bytes()
            .windows(2)
            .any(|w| is_sep(char::from(w[0])) && is_sep(char::from(w[1])));
        if doubled || s.ends_with(is_sep) {
            return Err(LoginError::BadSeparator);
        }
        Ok(Self(s.to_ascii_lowercase()))
    }

    /// The login, lower-cased.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Login({})", self.0)
    }
}

string_newtype!(Login, LoginError);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_and_lowercases() {
        assert_eq!(Login::parse(" O.Petrenko ").unwrap().as_str(), "o.petrenko");
        assert_eq!(
            Login::parse("housing_ivanova2").unwrap().as_str(),
            "housing_ivanova2"
        );
        assert_eq!(
            Login::parse("O.PETRENKO").unwrap(),
            Login::parse("o.petrenko").unwrap()
        );
    }

    #[test]
    fn rejects_with_reason() {
        assert_eq!(Login::parse("ab"), Err(LoginError::BadLength(2)));
        assert_eq!(Login::parse("1abc"), Err(LoginError::BadStart));
        assert_eq!(Login::parse(".abc"), Err(LoginError::BadStart));
        assert_eq!(
            Login::parse("o petrenko"),
            Err(LoginError::BadCharacter(' '))
        );
        assert_eq!(Login::parse("петренко"), Err(LoginError::BadCharacter('п')));
        assert_eq!(Login::parse("o..petrenko"), Err(LoginError::BadSeparator));
        assert_eq!(Login::parse("petrenko-"), Err(LoginError::BadSeparator));
    }

    proptest! {
        #[test]
        fn round_trip(s in "[a-z]{2}([a-z0-9]{1,5}[._-]){0,4}[a-z0-9]{1,5}") {
            let l = Login::parse(&s).unwrap();
            prop_assert_eq!(Login::parse(&l.to_string()).unwrap(), l.clone());
            let json = serde_json::to_string(&l).unwrap();
            prop_assert_eq!(serde_json::from_str::<Login>(&json).unwrap(), l);
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = Login::parse(&s);
        }
    }
}
