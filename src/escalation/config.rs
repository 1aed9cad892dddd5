//! `[escalation]`: the officials (deputy mayors with their areas, the head of affairs, the head of
//! the contact-center department), thresholds and the schedule of the escalation job (9.2, 9.7).
//!
//! Example (also in `config/contactd.example.toml`):
//! ```toml
//! [escalation]
//! enabled = true
//! scan_interval_s = 60
//! approaching_working_days = 1
//! rework_limit = 2
//! digest_time = "09:00"
//! default_deputy = "zhkg"
//! executor_emails = { "KP-VODA" = "voda@example.gov.ua" }
//! head_of_affairs = { name = "Олена Коваль", email = "affairs@example.gov.ua" }
//! department_head = { name = "Ігор Сидоренко", email = "cc-head@example.gov.ua" }
//! [[escalation.deputies]]
//! id = "zhkg"
//! name = "Іван Петренко"
//! email = "petrenko@example.gov.ua"
//! area = "житлово-комунальне господарство"
//! units = ["KP-VODA", "DZHKG"]
//! sections = ["22"]
//! ```

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

/// A configuration problem of `[escalation]`, naming the key and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscalationConfigError {
    #[error("config key `escalation.{key}`: {message}")]
    Key { key: String, message: String },
    #[error(
        "executor unit `{unit}` belongs to no deputy mayor's area: add it to `units` of one \
         `[[escalation.deputies]]` entry or set `escalation.default_deputy`"
    )]
    UnitWithoutArea { unit: String },
}

fn key_error(key: impl Into<String>, message: impl Into<String>) -> EscalationConfigError {
    EscalationConfigError::Key {
        key: key.into(),
        message: message.into(),
    }
}

/// An official who receives escalations: name and email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Official {
    /// Full name as used in the salutation, e.g. `Олена Коваль`.
    pub name: String,
    /// `name@example.gov.ua`.
    pub email: String,
}

/// A deputy mayor and the area they curate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deputy {
    /// Stable short id used in the history and `default_deputy`, e.g. `zhkg`.
    pub id: String,
    pub name: String,
    pub email: String,
    /// The area's name in Ukrainian, shown in the digests, e.g. `житлово-комунальне господарство`.
    pub area: String,
    /// Executor units in this area (a unit belongs to exactly one deputy).
    #[serde(default)]
    pub units: Vec<String>,
    /// Classifier sections (top-level codes such as `22`) in this area: a request's violation goes
    /// to the deputy of its unit, else of its section, else `default_deputy`.
    #[serde(default)]
    pub sections: Vec<String>,
}

/// `[escalation]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    /// Run the periodic job (scan, notices, emails, digests). Default `true`; the job does
    /// nothing visible until `deputies` are configured, except executor notices.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Seconds between scans (one tick); each tick reads only what crossed a threshold since the
    /// previous one.
    #[serde(default = "default_scan_interval_s")]
    pub scan_interval_s: u64,
    /// Working days before the deadline's day at which the executor gets `deadline_approaching`
    /// (on the executors' calendar). `0` turns the notice off.
    #[serde(default = "default_approaching")]
    pub approaching_working_days: u32,
    /// Sending a request back for rework more than this many times is a violation.
    #[serde(default = "default_rework_limit")]
    pub rework_limit: u32,
    /// Local (Kyiv) time of the daily digests, on working days of the contact center's calendar.
    #[serde(default = "default_digest_time")]
    pub digest_time: String,
    /// Email the deputy at once when an emergency request becomes overdue (not only in the digest).
    #[serde(default = "default_true")]
    pub emergency_immediate: bool,
    /// Email an executor unit at once about a new emergency request.
    #[serde(default = "default_true")]
    pub executor_emergency_email: bool,
    /// Send each executor unit with an address a daily digest of new, approaching and overdue
    /// requests.
    #[serde(default = "default_true")]
    pub executor_digest: bool,
    /// The deputy (`id`) for executor units listed in no deputy's `units`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_deputy: Option<String>,
    /// Executor units' email addresses (used when the `executors` table has none).
    #[serde(default)]
    pub executor_emails: BTreeMap<String, String>,
    /// Gets the city-wide summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_of_affairs: Option<Official>,
    /// Head of the contact-center department: the signatory of the digests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_head: Option<Official>,
    #[serde(default)]
    pub deputies: Vec<Deputy>,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            scan_interval_s: default_scan_interval_s(),
            approaching_working_days: default_approaching(),
            rework_limit: default_rework_limit(),
            digest_time: default_digest_time(),
            emergency_immediate: true,
            executor_emergency_email: true,
            executor_digest: true,
            default_deputy: None,
            executor_emails: BTreeMap::new(),
            head_of_affairs: None,
            department_head: None,
            deputies: Vec::new(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_scan_interval_s() -> u64 {
    60
}
fn default_approaching() -> u32 {
    1
}
fn default_rework_limit() -> u32 {
    2
}
fn default_digest_time() -> String {
    "09:00".to_owned()
}

fn check_email(key: &str, email: &str) -> Result<(), EscalationConfigError> {
    contactd_domain::EmailAddress::parse(email)
        .map(|_| ())
        .map_err(|err| key_error(key, format!("`{email}`: {err}")))
}

impl EscalationConfig {
    /// The digest time as a local time of day.
    pub fn digest_time(&self) -> Result<NaiveTime, EscalationConfigError> {
        NaiveTime::parse_from_str(&self.digest_time, "%H:%M").map_err(|_| {
            key_error(
                "digest_time",
                format!(
                    "`{}` is not a time of day; write HH:MM, e.g. \"09:00\"",
                    self.digest_time
                ),
            )
        })
    }

    /// Checks that need no database: formats, unique ids, a unit or section in at most one area.
    pub fn validate(&self) -> Result<(), EscalationConfigError> {
        if self.scan_interval_s == 0 {
            return Err(key_error("scan_interval_s", "must be at least 1 second"));
        }
        self.digest_time()?;
        let mut ids = HashMap::new();
        let mut units: HashMap<&str, &str> = HashMap::new();
        let mut sections: HashMap<&str, &str> = HashMap::new();
        for (i, d) in self.deputies.iter().enumerate() {
            let key = |k: &str| format!("deputies[{i}].{k}");
            if d.id.trim().is_empty() {
                return Err(key_error(
                    key("id"),
                    "must not be empty (a short id such as `zhkg`)",
                ));
            }
            if ids.insert(d.id.as_str(), i).is_some() {
                return Err(key_error(
                    key("id"),
                    format!("`{}` is used by two deputies; ids must be unique", d.id),
                ));
            }
            if d.name.trim().is_empty() {
                return Err(key_error(key("name"), "must not be empty"));
            }
            if d.area.trim().is_empty() {
                return Err(key_error(
                    key("area"),
                    "must not be empty (the area's name shown in digests)",
                ));
            }
            check_email(&key("email"), &d.email)?;
            for unit in &d.units {
                if let Some(other) = units.insert(unit.as_str(), d.id.as_str()) {
                    return Err(key_error(
                        key("units"),
                        format!("unit `{unit}` is already in deputy `{other}`'s area; a unit belongs to exactly one deputy"),
                    ));
                }
            }
            for section in &d.sections {
                if let Some(other) = sections.insert(section.as_str(), d.id.as_str()) {
                    return Err(key_error(
                        key("sections"),
                        format!("section `{section}` is already in deputy `{other}`'s area; a section belongs to exactly one deputy"),
                    ));
                }
            }
        }
        if let Some(default) = &self.default_deputy {
            if !ids.contains_key(default.as_str()) {
                return Err(key_error(
                    "default_deputy",
                    format!("`{default}` is not the id of any [[escalation.deputies]] entry"),
                ));
            }
        }
        for (unit, email) in &self.executor_emails {
            check_email(&format!("executor_emails.{unit}"), email)?;
        }
        if let Some(head) = &self.head_of_affairs {
            check_email("head_of_affairs.email", &head.email)?;
        } else if !self.deputies.is_empty() {
            return Err(key_error(
                "head_of_affairs",
                "missing: with deputies configured, the head of affairs must get the city-wide summary (9.7); add `head_of_affairs = { name = \"…\", email = \"…\" }`",
            ));
        }
        if let Some(head) = &self.department_head {
            check_email("department_head.email", &head.email)?;
        }
        Ok(())
    }

    /// Every executor unit must belong to exactly one deputy's area or to the default one.
    /// `units` are the executor codes known to the database.
    pub fn check_units<'a>(
        &self,
        units: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), EscalationConfigError> {
        if self.default_deputy.is_some() {
            return Ok(());
        }
        for unit in units {
            if !self
                .deputies
                .iter()
                .any(|d| d.units.iter().any(|u| u == unit))
            {
                return Err(EscalationConfigError::UnitWithoutArea {
                    unit: unit.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The deputy responsible for a violation of `unit` on a request of classifier `section`.
    pub fn deputy_for(&self, unit: &str, section: &str) -> Option<&Deputy> {
        self.deputies
            .iter()
            .find(|d| d.units.iter().any(|u| u == unit))
            .or_else(|| {
                self.deputies
                    .iter()
                    .find(|d| d.sections.iter().any(|s| s == section))
            })
            .or_else(|| {
                let default = self.default_deputy.as_deref()?;
                self.deputies.iter().find(|d| d.id == default)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deputy(id: &str, units: &[&str], sections: &[&str]) -> Deputy {
        Deputy {
            id: id.into(),
            name: format!("Заступник {id}"),
            email: format!("{id}@example.gov.ua"),
            area: format!("напрям {id}"),
            units: units.iter().map(|u| (*u).to_owned()).collect(),
            sections: sections.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn config() -> EscalationConfig {
        EscalationConfig {
            deputies: vec![
                deputy("a", &["KP-VODA"], &[]),
                deputy("b", &[], &["22"]),
                deputy("c", &[], &[]),
            ],
            default_deputy: Some("c".into()),
            head_of_affairs: Some(Official {
                name: "Г".into(),
                email: "h@example.gov.ua".into(),
            }),
            ..EscalationConfig::default()
        }
    }

    #[test]
    fn unit_before_section_before_default() {
        let c = config();
        assert!(c.validate().is_ok());
        assert_eq!(
            c.deputy_for("KP-VODA", "22").map(|d| d.id.as_str()),
            Some("a")
        );
        assert_eq!(
            c.deputy_for("DZHKG", "22").map(|d| d.id.as_str()),
            Some("b")
        );
        assert_eq!(c.deputy_for("DZHKG", "5").map(|d| d.id.as_str()), Some("c"));
        let mut none = c.clone();
        none.default_deputy = None;
        assert!(none.deputy_for("DZHKG", "5").is_none());
    }

    #[test]
    fn bad_keys_are_named() {
        let mut c = config();
        c.deputies[1].email = "not an address".into();
        let err = c.validate().unwrap_err();
        assert!(
            err.to_string().contains("escalation.deputies[1].email"),
            "{err}"
        );
        let mut c = config();
        c.head_of_affairs = None;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("head_of_affairs"));
        let mut c = config();
        c.deputies[2].id = "a".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("deputies[2].id"));
        let mut c = config();
        c.scan_interval_s = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("scan_interval_s"));
    }
}
