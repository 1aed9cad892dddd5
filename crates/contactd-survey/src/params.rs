//! `SurveyParams`: the `[survey]` section of the daemon configuration, with defaults and validation.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How the survey sample is drawn and how the survey calls are made.
///
/// The daemon embeds this as its `[survey]` TOML section; every key is optional and falls back
/// to the default shown. Unknown keys are rejected so that a typo does not silently keep a
/// default. Call [`SurveyParams::validate`] after loading (the draw validates again).
///
/// ```toml
/// [survey]
/// rate_percent = 10
/// min_per_executor = 1
/// max_per_executor = 20
/// section_rates = { "22" = 25 }
/// poor_result_threshold_percent = 80
/// poor_result_rate_percent = 25
/// poor_result_min_answered = 10
/// always_include_after_extension = true
/// always_include_after_rework = true
/// exclude_surveyed_within_days = 90
/// exclude_explained = false
/// max_attempts = 3
/// retry_after_minutes = 120
/// draw_at = "09:30"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SurveyParams {
    /// `rate_percent` (0–100, default 10): share of each executor's eligible requests that is
    /// surveyed; the per-executor sample size is `ceil(rate × eligible / 100)` before the bounds.
    pub rate_percent: u32,
    /// `min_per_executor` (default 1): every executor with at least this many eligible requests
    /// gets at least this many surveyed (all of them when it has fewer). This is what makes
    /// every executor with eligible requests checked.
    pub min_per_executor: u32,
    /// `max_per_executor` (≥ 1, default 20): cap on the per-executor sample size, to keep the
    /// survey workers' day bounded. Always-included requests count toward it but are never
    /// dropped because of it (see `always_include_*`).
    pub max_per_executor: u32,
    /// `section_rates` (default empty): a higher rate, in percent, for requests of a classifier
    /// section, e.g. `{ "22" = 25 }`. A request is sampled at the highest rate that applies to it
    /// (executor rate, poor-results rate, section rate).
    pub section_rates: BTreeMap<String, u32>,
    /// `poor_result_threshold_percent` (0–100, default 80): an executor whose recent confirmation
    /// rate is below this is sampled at `poor_result_rate_percent`. 0 disables the rule.
    pub poor_result_threshold_percent: u32,
    /// `poor_result_rate_percent` (0–100, default 25): the rate for executors with poor results.
    pub poor_result_rate_percent: u32,
    /// `poor_result_min_answered` (default 10): an executor is judged only when at least this
    /// many of its recent survey calls were answered, so one bad call does not flag it.
    pub poor_result_min_answered: u32,
    /// `always_include_after_extension` (default true): requests closed after their term was
    /// extended are always surveyed (unless an exclusion applies).
    pub always_include_after_extension: bool,
    /// `always_include_after_rework` (default true): requests closed after a rework are always
    /// surveyed (unless an exclusion applies).
    pub always_include_after_rework: bool,
    /// `exclude_surveyed_within_days` (default 90): applicants surveyed within this many days
    /// before the draw are not called again. 0 disables the rule.
    pub exclude_surveyed_within_days: u32,
    /// `exclude_explained` (default false): when true, requests closed as "explained" (the
    /// applicant got an explanation, nothing was executed) are not surveyed.
    pub exclude_explained: bool,
    /// `max_attempts` (≥ 1, default 3): survey calls to an unreachable applicant before the task
    /// is closed as unreachable. Used by the daemon's call scheduling, see [`crate::after_attempt`].
    pub max_attempts: u32,
    /// `retry_after_minutes` (≥ 1, default 120): earliest time after an unanswered call before
    /// the next attempt; the daemon's calendar moves it into working time and to another part
    /// of the day.
    pub retry_after_minutes: u32,
    /// `draw_at` (`"HH:MM"`, default `"09:30"`): local time (Europe/Kyiv) at which the daemon's
    /// scheduler draws the sample, on working days only.
    pub draw_at: TimeOfDay,
}

impl Default for SurveyParams {
    fn default() -> Self {
        Self {
            rate_percent: 10,
            min_per_executor: 1,
            max_per_executor: 20,
            section_rates: BTreeMap::new(),
            poor_result_threshold_percent: 80,
            poor_result_rate_percent: 25,
            poor_result_min_answered: 10,
            always_include_after_extension: true,
            always_include_after_rework: true,
            exclude_surveyed_within_days: 90,
            exclude_explained: false,
            max_attempts: 3,
            retry_after_minutes: 120,
            draw_at: TimeOfDay(NaiveTime::MIN + Duration::minutes(9 * 60 + 30)),
        }
    }
}

/// A configuration value that cannot be used; the message names the key and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("survey.{key} is {value}, but it is a percentage: set it between 0 and 100")]
    PercentOutOfRange { key: &'static str, value: u32 },
    #[error("survey.section_rates.\"{section}\" is {value}, but it is a percentage: set it between 0 and 100")]
    SectionRateOutOfRange { section: String, value: u32 },
    #[error(
        "survey.section_rates has an empty section code: write the classifier section, e.g. \"22\""
    )]
    EmptySection,
    #[error("survey.min_per_executor ({min}) is greater than survey.max_per_executor ({max}): lower the minimum or raise the maximum")]
    MinAboveMax { min: u32, max: u32 },
    #[error("survey.{key} is 0: set it to at least 1")]
    Zero { key: &'static str },
}

impl SurveyParams {
    /// Checks the ranges and cross-field rules; the error names the offending key.
    pub fn validate(&self) -> Result<(), ParamsError> {
        for (key, value) in [
            ("rate_percent", self.rate_percent),
            (
                "poor_result_threshold_percent",
                self.poor_result_threshold_percent,
            ),
            ("poor_result_rate_percent", self.poor_result_rate_percent),
        ] {
            if value > 100 {
                return Err(ParamsError::PercentOutOfRange { key, value });
            }
        }
        for (section, &value) in &self.section_rates {
            if section.trim().is_empty() {
                return Err(ParamsError::EmptySection);
            }
            if value > 100 {
                return Err(ParamsError::SectionRateOutOfRange {
                    section: section.clone(),
                    value,
                });
            }
        }
        for (key, value) in [
            ("max_per_executor", self.max_per_executor),
            ("max_attempts", self.max_attempts),
            ("retry_after_minutes", self.retry_after_minutes),
        ] {
            if value == 0 {
                return Err(ParamsError::Zero { key });
            }
        }
        if self.min_per_executor > self.max_per_executor {
            return Err(ParamsError::MinAboveMax {
                min: self.min_per_executor,
                max: self.max_per_executor,
            });
        }
        Ok(())
    }

    /// The earliest moment for the next call after an unanswered one at `last_attempt_at`;
    /// the daemon's calendar then moves it into working time.
    pub fn earliest_retry(&self, last_attempt_at: DateTime<Utc>) -> DateTime<Utc> {
        last_attempt_at + Duration::minutes(i64::from(self.retry_after_minutes))
    }

    /// Whether applicants last surveyed at `last_surveyed_at` are still too recent at `draw_at`.
    pub(crate) fn surveyed_recently(
        &self,
        last_surveyed_at: Option<DateTime<Utc>>,
        draw_at: DateTime<Utc>,
    ) -> bool {
        match last_surveyed_at {
            Some(at) if self.exclude_surveyed_within_days > 0 => {
                at > draw_at - Duration::days(i64::from(self.exclude_surveyed_within_days))
            }
            _ => false,
        }
    }
}

/// A local time of day written `"HH:MM"` in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(pub NaiveTime);

/// A time of day that is not `"HH:MM"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("survey.draw_at is {0:?}: write a 24-hour local time as \"HH:MM\", e.g. \"09:30\"")]
pub struct TimeOfDayError(pub String);

impl FromStr for TimeOfDay {
    type Err = TimeOfDayError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NaiveTime::parse_from_str(s, "%H:%M")
            .map(TimeOfDay)
            .map_err(|_| TimeOfDayError(s.to_owned()))
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_documented_example() {
        let defaults = SurveyParams::default();
        defaults.validate().unwrap();
        assert_eq!(defaults.draw_at.to_string(), "09:30");
        let documented: SurveyParams = toml::from_str(
            r#"
            rate_percent = 10
            min_per_executor = 1
            max_per_executor = 20
            poor_result_threshold_percent = 80
            poor_result_rate_percent = 25
            poor_result_min_answered = 10
            always_include_after_extension = true
            always_include_after_rework = true
            exclude_surveyed_within_days = 90
            exclude_explained = false
            max_attempts = 3
            retry_after_minutes = 120
            draw_at = "09:30"
            "#,
        )
        .unwrap();
        assert_eq!(documented, defaults);
    }

    #[test]
    fn empty_section_gives_defaults_and_section_rates_parse() {
        let p: SurveyParams = toml::from_str("").unwrap();
        assert_eq!(p, SurveyParams::default());
        let p: SurveyParams = toml::from_str(r#"section_rates = { "22" = 25 }"#).unwrap();
        assert_eq!(p.section_rates.get("22"), Some(&25));
    }

    #[test]
    fn unknown_keys_and_bad_times_are_rejected() {
        let err = toml::from_str::<SurveyParams>("rate_precent = 10").unwrap_err();
        assert!(err.to_string().contains("rate_precent"), "{err}");
        let err = toml::from_str::<SurveyParams>(r#"draw_at = "9.30""#).unwrap_err();
        assert!(err.to_string().contains("HH:MM"), "{err}");
    }

    #[test]
    fn validation_names_the_key() {
        let p = SurveyParams {
            rate_percent: 150,
            ..SurveyParams::default()
        };
        assert!(p
            .validate()
            .unwrap_err()
            .to_string()
            .contains("rate_percent"));
        let p = SurveyParams {
            min_per_executor: 30,
            ..SurveyParams::default()
        };
        assert_eq!(
            p.validate().unwrap_err(),
            ParamsError::MinAboveMax { min: 30, max: 20 }
        );
        let p = SurveyParams {
            section_rates: [("22".to_owned(), 101)].into(),
            ..SurveyParams::default()
        };
        assert!(p.validate().unwrap_err().to_string().contains("\"22\""));
        let p = SurveyParams {
            max_attempts: 0,
            ..SurveyParams::default()
        };
        assert_eq!(
            p.validate().unwrap_err(),
            ParamsError::Zero {
                key: "max_attempts"
            }
        );
    }

    #[test]
    fn recently_surveyed_window() {
        let p = SurveyParams::default();
        let draw_at: DateTime<Utc> = "2025-03-10T07:30:00Z".parse().unwrap();
        assert!(p.surveyed_recently(Some(draw_at - Duration::days(89)), draw_at));
        assert!(!p.surveyed_recently(Some(draw_at - Duration::days(90)), draw_at));
        assert!(!p.surveyed_recently(None, draw_at));
        let off = SurveyParams {
            exclude_surveyed_within_days: 0,
            ..p
        };
        assert!(!off.surveyed_recently(Some(draw_at), draw_at));
    }
}
