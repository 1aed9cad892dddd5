//! `EmailAddress`: an email address for notifications (light validation with `email_address`).

use std::fmt;

use crate::string_newtype;

/// An email address such as `housing@kr.gov.ua`.
///
/// Validation is light on purpose: RFC 5322 syntax as checked by the `email_address` crate, plus
/// a domain with at least two labels (`user@localhost` is refused), no display name
/// (`Name <a@b.ua>` is refused: store the address only) and no IP-literal domain. The domain is
/// lower-cased (domains are case-insensitive); the local part is kept as given. Whether the
/// mailbox exists is for the mail server to say.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmailAddress(String);

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailAddressError {
    #[error("email address is empty; expected e.g. housing@kr.gov.ua")]
    Empty,
    #[error("email address is longer than 254 characters; expected e.g. housing@kr.gov.ua")]
    TooLong,
    #[error("email address is malformed ({0}); expected e.g. housing@kr.gov.ua")]
    Malformed(String),
}

impl EmailAddress {
    /// Longest accepted address (RFC 5321 path limit less the angle brackets).
    pub const MAX_LEN: usize = 254;

    /// Parses an email address; surrounding whitespace is ignored.
    pub fn parse(input: &str) -> Result<Self, EmailAddressError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EmailAddressError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(EmailAddressError::TooLong);
        }
        let options = email_address::Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        let parsed = email_address::EmailAddress::parse_with_options(s, options)
            .map_err(|e| EmailAddressError::Malformed(e.to_string()))?;
        Ok(Self(format!(
            "{}@{}",
            parsed.local_part(),
            parsed.domain().to_ascii_lowercase()
        )))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part, lower-cased.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.0)
    }
}

string_newtype!(EmailAddress, EmailAddressError);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_and_normalizes_domain() {
        let e = EmailAddress::parse(" Housing.Dept@KR.Gov.UA ").unwrap();
        assert_eq!(e.as_str(), "Housing.Dept@kr.gov.ua");
        assert_eq!(e.domain(), "kr.gov.ua");
    }

    #[test]
    fn rejects_with_reason() {
        assert_eq!(EmailAddress::parse("  "), Err(EmailAddressError::Empty));
        for bad in [
            "housing",
            "housing@",
            "@kr.gov.ua",
            "a@localhost",
            "Name <a@kr.gov.ua>",
            "a@[127.0.0.1]",
            "a b@kr.ua",
        ] {
            let err = EmailAddress::parse(bad).unwrap_err();
            assert!(err.to_string().contains("expected e.g."), "{bad}: {err}");
        }
        let long = format!("{}@kr.gov.ua", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&long), Err(EmailAddressError::TooLong));
    }

    proptest! {
        #[test]
        fn round_trip(local in "[a-z0-9]{1,10}(\\.[a-z0-9]{1,8}){0,2}", domain in "[a-z0-9]{1,10}\\.(ua|com|org)") {
            let e = EmailAddress::parse(&format!("{local}@{domain}")).unwrap();
            prop_assert_eq!(EmailAddress::parse(e.as_str()).unwrap(), e.clone());
            let json = serde_json::to_string(&e).unwrap();
            prop_assert_eq!(serde_json::from_str::<EmailAddress>(&json).unwrap(), e);
        }

        #[test]
        fn never_panics(s in "\\PC{0,60}") {
            let _ = EmailAddress::parse(&s);
        }
    }
}
