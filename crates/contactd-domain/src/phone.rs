//! `PhoneNumber` (E.164, default region Ukraine) and `CallerNumber` (a PBX caller id that may not
//! be a phone number at all). Phone numbers are personal data: `Debug` masks them.

use std::fmt;

use phonenumber::country::Id as Region;

use crate::string_newtype;

/// A valid phone number in E.164 form, e.g. `+380671234567`.
///
/// Parsing uses Google's libphonenumber metadata (the `phonenumber` crate) with Ukraine as the
/// default region, so `067 123 45 67`, `0671234567`, `380671234567`, `(067) 123-45-67` and
/// `+380671234567` are the same number. Numbers of other countries are accepted in international
/// form (`+48 22 123 45 67`).
///
/// `Display` and serde give the E.164 form (for storage and the API); `Debug` and [`masked`]
/// hide the middle digits, so that a `{:?}` in a log line does not leak the number.
///
/// [`masked`]: PhoneNumber::masked
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhoneNumber(String);

/// What was wrong with a phone number. Messages do not repeat the number (they end up in logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("phone number is empty; expected a number such as +380671234567 or 067 123 45 67")]
    Empty,
    #[error("phone number contains {0:?}; use digits, spaces, '+', '-', '.', '(' and ')' only, e.g. +380671234567 or 067 123 45 67")]
    BadCharacter(char),
    #[error("phone number could not be read ({0}); expected a number such as +380671234567 or 067 123 45 67")]
    Unreadable(String),
    #[error("phone number has a wrong length or an unassigned prefix for its country; expected e.g. +380671234567 (Ukraine: +380 and 9 digits)")]
    NotValid,
}

impl PhoneNumber {
    /// Parses a phone number, reading numbers without a country code as Ukrainian.
    pub fn parse(input: &str) -> Result<Self, PhoneNumberError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(PhoneNumberError::Empty);
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '.' | '(' | ')')))
        {
            return Err(PhoneNumberError::BadCharacter(c));
        }
        if !s.chars().any(|c| c.is_ascii_digit()) {
            return Err(PhoneNumberError::Unreadable("no digits".to_owned()));
        }
        // `380…` without the plus is how many PBXes and spreadsheets write Ukrainian numbers;
        // libphonenumber would read it as a national number of region UA and reject it.
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        let candidate = if !s.starts_with('+') && digits.starts_with("380") && digits.len() == 12 {
            format!("+{digits}")
        } else {
            s.to_owned()
        };
        let number = phonenumber::parse(Some(Region::UA), &candidate)
            .map_err(|e| PhoneNumberError::Unreadable(e.to_string()))?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneNumberError::NotValid);
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// The number in E.164 form, e.g. `+380671234567`.
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// Same as [`as_e164`](Self::as_e164); used by the shared string conversions.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with its middle digits hidden, for logs: `+38067*****67`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Keeps the first six and last two characters of an E.164 number (country code, operator code)
/// and hides the rest; shorter strings keep less.
fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let (head, tail) = match n {
        0..=4 => return "*".repeat(n),
        5..=8 => (2, 1),
        _ => (6.min(n - 4), 2),
    };
    let mut out: String = chars[..head].iter().collect();
    out.extend(std::iter::repeat_n('*', n - head - tail));
    out.extend(&chars[n - tail..]);
    out
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

string_newtype!(PhoneNumber, PhoneNumberError);

/// The caller id a PBX reports: a valid phone number, or whatever the PBX sent (`anonymous`,
/// empty, a short internal number such as `101`, a malformed string).
///
/// Serialized as a plain string: the E.164 form when valid, else the raw value as received (the
/// operator socket's `caller_number`). Deserializing re-reads the string with [`from_pbx`], so a
/// stored raw value that has become parseable comes back as `Valid`.
///
/// [`from_pbx`]: CallerNumber::from_pbx
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum CallerNumber {
    /// A valid phone number.
    Valid(PhoneNumber),
    /// Anything else, as received (trimmed).
    Raw(String),
}

impl CallerNumber {
    /// Reads a PBX caller id. Never fails: what is not a valid phone number is kept as `Raw`.
    /// Internal extensions (up to 8 digits without a `+`) stay `Raw`, even where a national
    /// numbering plan would accept them.
    pub fn from_pbx(raw: &str) -> Self {
        let s = raw.trim();
        let short_internal =
            !s.starts_with('+') && s.len() <= 8 && s.bytes().all(|b| b.is_ascii_digit());
        if short_internal {
            return Self::Raw(s.to_owned());
        }
        match PhoneNumber::parse(s) {
            Ok(n) => Self::Valid(n),
            Err(_) => Self::Raw(s.to_owned()),
        }
    }

    /// The phone number, when the caller id is one.
    pub fn phone(&self) -> Option<&PhoneNumber> {
        match self {
            Self::Valid(n) => Some(n),
            Self::Raw(_) => None,
        }
    }

    /// The E.164 form when valid, else the raw value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Valid(n) => n.as_e164(),
            Self::Raw(s) => s,
        }
    }

    /// A rendering for logs: a valid number masked; a raw value kept only when it cannot be a
    /// phone number (no more than 4 digits, e.g. `anonymous`, `101`), else masked too.
    pub fn masked(&self) -> String {
        match self {
            Self::Valid(n) => n.masked(),
            Self::Raw(s) if s.chars().filter(char::is_ascii_digit).count() <= 4 => s.clone(),
            Self::Raw(s) => mask(s),
        }
    }
}

impl fmt::Display for CallerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CallerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Valid(n) => write!(f, "Valid({})", n.masked()),
            Self::Raw(_) => write!(f, "Raw({:?})", self.masked()),
        }
    }
}

impl serde::Serialize for CallerNumber {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for CallerNumber {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::from_pbx(&raw))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn ukrainian_forms_are_one_number() {
        for form in [
            "067 123 45 67",
            "+380671234567",
            "0671234567",
            "380671234567",
            "(067) 123-45-67",
            " +38 (067) 123-45-67 ",
        ] {
            let n = PhoneNumber::parse(form).unwrap_or_else(|e| panic!("{form}: {e}"));
            assert_eq!(n.as_e164(), "+380671234567", "{form}");
        }
    }

    #[test]
    fn landline_and_foreign_numbers() {
        // Kryvyi Rih landline (area code 56).
        assert_eq!(
            PhoneNumber::parse("056 401 23 45").unwrap().as_e164(),
            "+380564012345"
        );
        assert_eq!(
            PhoneNumber::parse("+48 22 123 45 67").unwrap().as_e164(),
            "+48221234567"
        );
    }

    #[test]
    fn errors_say_what_and_how() {
        assert_eq!(PhoneNumber::parse(""), Err(PhoneNumberError::Empty));
        assert_eq!(
            PhoneNumber::parse("067-ABC"),
            Err(PhoneNumberError::BadCharacter('A'))
        );
        assert_eq!(
            PhoneNumber::parse("067 123"),
            Err(PhoneNumberError::NotValid)
        );
        assert!(matches!(
            PhoneNumber::parse("+-"),
            Err(PhoneNumberError::Unreadable(_))
        ));
        let msg = PhoneNumber::parse("067 123").unwrap_err().to_string();
        assert!(
            msg.contains("+380671234567") && msg.contains("expected"),
            "{msg}"
        );
        // The message never echoes the input.
        let msg = PhoneNumber::parse("+380 99 999 99 99 99")
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("99999"), "{msg}");
    }

    #[test]
    fn masked_hides_middle_digits_and_debug_is_masked() {
        let n = PhoneNumber::parse("0671234567").unwrap();
        assert_eq!(n.masked(), "+38067*****67");
        assert_eq!(format!("{n:?}"), "PhoneNumber(+38067*****67)");
        assert_eq!(n.to_string(), "+380671234567");
    }

    #[test]
    fn caller_number_variants() {
        assert_eq!(
            CallerNumber::from_pbx("0671234567"),
            CallerNumber::Valid(PhoneNumber::parse("+380671234567").unwrap())
        );
        for raw in ["anonymous", "", "101", "2045", "12345678", "+1"] {
            assert_eq!(
                CallerNumber::from_pbx(raw),
                CallerNumber::Raw(raw.to_owned()),
                "{raw}"
            );
        }
        assert_eq!(CallerNumber::from_pbx("anonymous").masked(), "anonymous");
        assert_eq!(CallerNumber::from_pbx("101").to_string(), "101");
        let odd = CallerNumber::from_pbx("0671234567890123");
        assert!(matches!(odd, CallerNumber::Raw(_)));
        assert!(!format!("{odd:?}").contains("4567890"));
        let valid = CallerNumber::from_pbx("+380671234567");
        assert_eq!(format!("{valid:?}"), "Valid(+38067*****67)");
    }

    #[test]
    fn serde() {
        let n: PhoneNumber = serde_json::from_str("\"067 123 45 67\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"+380671234567\"");
        assert!(serde_json::from_str::<PhoneNumber>("\"12\"").is_err());
        let c: CallerNumber = serde_json::from_str("\"anonymous\"").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"anonymous\"");
        let c: CallerNumber = serde_json::from_str("\"0671234567\"").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"+380671234567\"");
    }

    proptest! {
        #[test]
        fn ukrainian_mobile_round_trip(op in prop::sample::select(vec!["50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99"]), rest in "[0-9]{7}") {
            let e164 = format!("+380{op}{rest}");
            let national = format!("0{op} {} {} {}", &rest[..3], &rest[3..5], &rest[5..]);
            let a = PhoneNumber::parse(&e164).unwrap();
            let b = PhoneNumber::parse(&national).unwrap();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.as_e164(), e164.as_str());
            prop_assert_eq!(PhoneNumber::parse(&a.to_string()).unwrap(), a.clone());
            let json = serde_json::to_string(&a).unwrap();
            prop_assert_eq!(serde_json::from_str::<PhoneNumber>(&json).unwrap(), a.clone());
            let masked = a.masked();
            prop_assert_eq!(masked.chars().count(), e164.len());
            prop_assert!(!masked.contains(&rest[..5]));
        }

        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = PhoneNumber::parse(&s);
            let c = CallerNumber::from_pbx(&s);
            let _ = c.masked();
        }
    }
}
