//! `ClassifierCode`: a parsed section (`22`), item (`22.5`) or sub-item (`22.5.27`) code.

use std::fmt;
use std::str::FromStr;

/// The largest number one segment of a code may carry.
pub const MAX_SEGMENT: u16 = 999;

/// Why a text is not a classifier code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Nothing was given.
    #[error("the classifier code is empty: write a section (`22`), an item (`22.5`) or a sub-item (`22.5.27`)")]
    Empty,
    /// More than three segments.
    #[error("the classifier code `{0}` has more than three parts: the classifier only has sections, items and sub-items (e.g. `22.5.27`)")]
    TooDeep(String),
    /// `22..5`, `.5`, `22.`.
    #[error("the classifier code `{0}` has an empty part: write numbers separated by single dots, e.g. `22.5.27`")]
    EmptySegment(String),
    /// A segment that is not made of ASCII digits.
    #[error("the classifier code `{0}` contains `{1}`, which is not a number: use only digits and dots, e.g. `22.5.27`")]
    NotANumber(String, String),
    /// A zero segment.
    #[error("the classifier code `{0}` has a zero part: numbering starts at 1")]
    Zero(String),
    /// `22.05`: would make two spellings of one code.
    #[error("the classifier code `{0}` has a leading zero in `{1}`: write `{2}`")]
    LeadingZero(String, String, String),
    /// A segment above [`MAX_SEGMENT`].
    #[error("the classifier code `{0}` has the part `{1}`, larger than {max}: check the code", max = MAX_SEGMENT)]
    TooLarge(String, String),
}

/// Level of a code in the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `22`
    Section,
    /// `22.5`
    Item,
    /// `22.5.27`
    SubItem,
}

/// A classifier code such as `22`, `22.5` or `22.5.27`.
///
/// Codes order numerically segment by segment, a parent before its children
/// (`2 < 2.1 < 2.1.9 < 2.1.10 < 2.2 < 10`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClassifierCode {
    // Missing segments are 0, so a parent sorts before its children.
    parts: [u16; 3],
}

impl ClassifierCode {
    /// Parses `22`, `22.5` or `22.5.27` (surrounding whitespace is ignored).
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CodeError::Empty);
        }
        let mut parts = [0u16; 3];
        for (count, segment) in text.split('.').enumerate() {
            if count == 3 {
                return Err(CodeError::TooDeep(text.to_owned()));
            }
            if segment.is_empty() {
                return Err(CodeError::EmptySegment(text.to_owned()));
            }
            if !segment.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CodeError::NotANumber(text.to_owned(), segment.to_owned()));
            }
            if segment.len() > 1 && segment.starts_with('0') {
                let trimmed = segment.trim_start_matches('0');
                if trimmed.is_empty() {
                    return Err(CodeError::Zero(text.to_owned()));
                }
                return Err(CodeError::LeadingZero(
                    text.to_owned(),
                    segment.to_owned(),
                    trimmed.to_owned(),
                ));
            }
            let value: u32 = if segment.len() > 4 {
                u32::MAX
            } else {
                segment
                    .parse()
                    .map_err(|_| CodeError::NotANumber(text.to_owned(), segment.to_owned()))?
            };
            if value == 0 {
                return Err(CodeError::Zero(text.to_owned()));
            }
            let value = u16::try_from(value)
                .ok()
                .filter(|v| *v <= MAX_SEGMENT)
                .ok_or_else(|| CodeError::TooLarge(text.to_owned(), segment.to_owned()))?;
            parts[count] = value;
        }
        Ok(Self { parts })
    }

    /// Builds a code from its segments (1 to 3 numbers, each 1..=999).
    pub fn from_segments(segments: &[u16]) -> Result<Self, CodeError> {
        let text = segments
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(".");
        Self::parse(&text)
    }

    /// The segments: one for a section, two for an item, three for a sub-item.
    pub fn segments(&self) -> &[u16] {
        &self.parts[..self.depth()]
    }

    fn depth(&self) -> usize {
        self.parts.iter().take_while(|p| **p != 0).count()
    }

    /// Section, item or sub-item.
    pub fn level(&self) -> Level {
        match self.depth() {
            1 => Level::Section,
            2 => Level::Item,
            _ => Level::SubItem,
        }
    }

    /// The code one level up (`22.5.27` → `22.5` → `22`), `None` for a section.
    pub fn parent(&self) -> Option<Self> {
        let depth = self.depth();
        if depth <= 1 {
            return None;
        }
        let mut parts = self.parts;
        parts[depth - 1] = 0;
        Some(Self { parts })
    }

    /// The section this code belongs to (itself for a section).
    pub fn section(&self) -> Self {
        Self {
            parts: [self.parts[0], 0, 0],
        }
    }

    /// True if `self` is `other` or one of its ancestors (`22` covers `22.5.27`).
    pub fn covers(&self, other: &Self) -> bool {
        let depth = self.depth();
        depth <= other.depth() && self.parts[..depth] == other.parts[..depth]
    }
}

impl fmt::Display for ClassifierCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for part in self.segments() {
            if !first {
                f.write_str(".")?;
            }
            write!(f, "{part}")?;
            first = false;
        }
        Ok(())
    }
}

impl FromStr for ClassifierCode {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for ClassifierCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ClassifierCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn table_of_codes() {
        let good = [
            ("22", Level::Section),
            ("22.5", Level::Item),
            ("22.5.27", Level::SubItem),
            (" 3.12 ", Level::Item),
            ("999.999.999", Level::SubItem),
        ];
        for (text, level) in good {
            let code = ClassifierCode::parse(text).unwrap();
            assert_eq!(code.level(), level, "{text}");
            assert_eq!(code.to_string(), text.trim());
        }
        let bad: [(&str, CodeError); 9] = [
            ("", CodeError::Empty),
            ("  ", CodeError::Empty),
            ("1.2.3.4", CodeError::TooDeep("1.2.3.4".into())),
            ("22..5", CodeError::EmptySegment("22..5".into())),
            ("22.", CodeError::EmptySegment("22.".into())),
            ("2a", CodeError::NotANumber("2a".into(), "2a".into())),
            ("22.0", CodeError::Zero("22.0".into())),
            (
                "22.05",
                CodeError::LeadingZero("22.05".into(), "05".into(), "5".into()),
            ),
            ("1000", CodeError::TooLarge("1000".into(), "1000".into())),
        ];
        for (text, err) in bad {
            assert_eq!(ClassifierCode::parse(text), Err(err), "{text:?}");
        }
        assert!(ClassifierCode::parse("22,5").is_err());
        assert!(ClassifierCode::parse("-1").is_err());
        assert!(ClassifierCode::parse("１").is_err(), "full-width digits");
    }

    #[test]
    fn hierarchy_and_order() {
        let c = |s| ClassifierCode::parse(s).unwrap();
        assert_eq!(c("22.5.27").parent(), Some(c("22.5")));
        assert_eq!(c("22.5").parent(), Some(c("22")));
        assert_eq!(c("22").parent(), None);
        assert_eq!(c("22.5.27").section(), c("22"));
        assert!(c("22").covers(&c("22.5.27")));
        assert!(c("22.5").covers(&c("22.5")));
        assert!(!c("22.5").covers(&c("22.50")));
        let mut codes = [c("10"), c("2.1.10"), c("2.2"), c("2"), c("2.1.9"), c("2.1")];
        codes.sort();
        let shown: Vec<String> = codes.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["2", "2.1", "2.1.9", "2.1.10", "2.2", "10"]);
    }

    proptest! {
        #[test]
        fn display_round_trips(segs in proptest::collection::vec(1u16..=999, 1..=3)) {
            let code = ClassifierCode::from_segments(&segs).unwrap();
            prop_assert_eq!(code.segments(), &segs[..]);
            let again = ClassifierCode::parse(&code.to_string()).unwrap();
            prop_assert_eq!(again, code);
        }

        #[test]
        fn never_panics(text in "\\PC{0,16}") {
            let _ = ClassifierCode::parse(&text);
        }

        #[test]
        fn accepted_text_is_canonical(text in "[0-9.]{1,12}") {
            if let Ok(code) = ClassifierCode::parse(&text) {
                prop_assert_eq!(code.to_string(), text);
            }
        }
    }
}
