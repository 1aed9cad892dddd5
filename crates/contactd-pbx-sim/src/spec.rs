//! What to play: one call (`CallSpec`), a scenario file of timed calls, a replay, random traffic.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::SimError;

/// How a call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// `Dial(PJSIP/EXT,30)`: ringing, the operator answers, talk, the caller hangs up.
    Answered,
    /// The caller hangs up while the operator's phone rings (Dial `CANCEL`, cause 127).
    Abandoned,
    /// `Queue(operators)` ring-all with two members: one answers, the other is cancelled
    /// ("Answered elsewhere", cause 26).
    Queue,
    /// The operator's phone answers 486 Busy Here (Dial `BUSY`, cause 17).
    Busy,
    /// Nobody answers before the Dial timeout (Dial `NOANSWER`, cause 19).
    NoAnswer,
}

fn default_caller() -> String {
    "0671234567".into()
}
fn default_caller_name() -> String {
    "Resident".into()
}
fn default_dialed() -> String {
    "1580".into()
}
fn default_operators() -> Vec<String> {
    vec!["1001".into()]
}
fn default_dial_timeout() -> u32 {
    30
}

/// One inbound call, as a resident would place it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallSpec {
    pub kind: CallKind,
    /// The resident's number (caller id of the trunk leg).
    #[serde(default = "default_caller")]
    pub caller: String,
    /// The resident's display name; empty for none.
    #[serde(default = "default_caller_name")]
    pub caller_name: String,
    /// The contact-centre number that was dialled (1580; 1581 for the queue in the captures).
    #[serde(default = "default_dialed")]
    pub dialed: String,
    /// Operator extensions. `queue` needs exactly two members; others use the first.
    #[serde(default = "default_operators")]
    pub operators: Vec<String>,
    /// `queue` only: the member who answers (default: the first).
    #[serde(default)]
    pub answered_by: Option<String>,
    /// Ringing time before answer / give-up / busy / timeout. Defaults: answered 2 s, abandoned
    /// 5 s, queue 2 s, busy 0.5 s, no_answer = `dial_timeout_s`.
    #[serde(default)]
    pub ring_ms: Option<u64>,
    /// Talk time of answered and queue calls (defaults 4 s and 3 s, as captured).
    #[serde(default)]
    pub talk_ms: Option<u64>,
    /// The timeout in `Dial(PJSIP/EXT,30)`.
    #[serde(default = "default_dial_timeout")]
    pub dial_timeout_s: u32,
}

impl CallSpec {
    /// A call of `kind` with the captured numbers and durations.
    pub fn new(kind: CallKind) -> CallSpec {
        let operators = if kind == CallKind::Queue {
            vec!["1001".into(), "1002".into()]
        } else {
            default_operators()
        };
        CallSpec {
            kind,
            caller: default_caller(),
            caller_name: default_caller_name(),
            dialed: if kind == CallKind::Queue {
                "1581".into()
            } else {
                default_dialed()
            },
            operators,
            answered_by: if kind == CallKind::Queue {
                Some("1002".into())
            } else {
                None
            },
            ring_ms: None,
            talk_ms: None,
            dial_timeout_s: default_dial_timeout(),
        }
    }

    /// Sets the caller number and name.
    pub fn caller(mut self, number: &str, name: &str) -> Self {
        self.caller = number.into();
        self.caller_name = name.into();
        self
    }

    /// Sets the operator extensions.
    pub fn operators(mut self, exts: &[&str]) -> Self {
        self.operators = exts.iter().map(|e| (*e).to_owned()).collect();
        self
    }

    /// Sets ringing and talk durations.
    pub fn durations(mut self, ring: Duration, talk: Duration) -> Self {
        self.ring_ms = Some(ring.as_millis() as u64);
        self.talk_ms = Some(talk.as_millis() as u64);
        self
    }

    /// Checks what the templates need.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::InvalidCall(m));
        if self.operators.is_empty() {
            return bad(
                "`operators` is empty: give at least one extension, e.g. [\"1001\"]".into(),
            );
        }
        if self.kind == CallKind::Queue && self.operators.len() != 2 {
            return bad(format!(
                "a `queue` call needs exactly two members (the captured ring-all), got {}",
                self.operators.len()
            ));
        }
        if let Some(a) = &self.answered_by {
            if self.kind == CallKind::Queue && !self.operators.contains(a) {
                return bad(format!("`answered_by` {a} is not one of `operators`"));
            }
        }
        for (what, v) in [("caller", &self.caller), ("dialed", &self.dialed)] {
            if v.is_empty() {
                return bad(format!("`{what}` is empty"));
            }
        }
        Ok(())
    }

    /// Ring and talk gaps in milliseconds, in template order.
    pub(crate) fn gaps_ms(&self) -> Vec<i64> {
        let ring = |d: u64| self.ring_ms.unwrap_or(d) as i64;
        let talk = |d: u64| self.talk_ms.unwrap_or(d) as i64;
        match self.kind {
            CallKind::Answered => vec![ring(2000), talk(4000)],
            CallKind::Abandoned => vec![ring(5000)],
            CallKind::Queue => vec![ring(2000), talk(3000)],
            CallKind::Busy => vec![ring(500)],
            CallKind::NoAnswer => vec![ring(u64::from(self.dial_timeout_s) * 1000)],
        }
    }

    /// Operators in template order (the queue's answering member first).
    pub(crate) fn template_operators(&self) -> Vec<String> {
        if self.kind != CallKind::Queue {
            return self.operators.iter().take(1).cloned().collect();
        }
        let answerer = self
            .answered_by
            .clone()
            .unwrap_or_else(|| self.operators[0].clone());
        let mut ops = vec![answerer.clone()];
        ops.extend(self.operators.iter().filter(|o| **o != answerer).cloned());
        ops
    }
}

/// A call of a scenario file and when it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledCall {
    /// Milliseconds after the scenario starts.
    #[serde(default)]
    pub at_ms: u64,
    #[serde(flatten)]
    pub call: CallSpec,
}

/// A scenario file: calls with start offsets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Scenario {
    /// Playback speed-up for the whole scenario (1.0 = real time).
    #[serde(default = "default_speed")]
    pub speed: f64,
    #[serde(default, rename = "call")]
    pub calls: Vec<ScheduledCall>,
}

fn default_speed() -> f64 {
    1.0
}

impl Scenario {
    /// Parses a scenario: TOML (`[[call]]` tables) or JSON (`{"call": [...]}` or a bare list).
    pub fn parse(text: &str, json: bool) -> Result<Scenario, SimError> {
        let scenario = if json {
            match serde_json::from_str::<Scenario>(text) {
                Ok(s) => s,
                Err(first) => match serde_json::from_str::<Vec<ScheduledCall>>(text) {
                    Ok(calls) => Scenario { speed: 1.0, calls },
                    Err(_) => return Err(SimError::Scenario(first.to_string())),
                },
            }
        } else {
            toml::from_str::<Scenario>(text).map_err(|e| SimError::Scenario(e.to_string()))?
        };
        if !(scenario.speed > 0.0 && scenario.speed.is_finite()) {
            return Err(SimError::Scenario(format!(
                "`speed` must be a positive number, got {}",
                scenario.speed
            )));
        }
        for (i, c) in scenario.calls.iter().enumerate() {
            c.call
                .validate()
                .map_err(|e| SimError::Scenario(format!("call #{}: {e}", i + 1)))?;
        }
        Ok(scenario)
    }

    /// Reads a scenario file; `.json` is JSON, anything else TOML.
    pub fn load(path: &Path) -> Result<Scenario, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        Scenario::parse(&text, json)
    }
}

/// Random inbound traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficConfig {
    /// Mean arrival rate (Poisson arrivals).
    pub calls_per_second: f64,
    /// Extensions that take calls; each call goes to one at random.
    pub operators: Vec<String>,
    /// Share of calls answered; `abandon_ratio` share abandoned; the rest busy or no answer.
    pub answer_ratio: f64,
    pub abandon_ratio: f64,
    /// Seed of the ChaCha RNG: the same seed gives the same calls.
    pub seed: u64,
    /// Stop after this many calls …
    pub max_calls: Option<u64>,
    /// … or after this long, whichever comes first. At least one must be set.
    pub duration: Option<Duration>,
    pub dialed: String,
    /// Ringing time range, milliseconds (uniform).
    pub ring_ms: (u64, u64),
    /// Talk time range, milliseconds (uniform).
    pub talk_ms: (u64, u64),
    /// Dial timeout: how long unanswered (`no_answer`) calls ring.
    pub dial_timeout_s: u32,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            calls_per_second: 1.0,
            operators: default_operators(),
            answer_ratio: 0.8,
            abandon_ratio: 0.15,
            seed: 1,
            max_calls: Some(100),
            duration: None,
            dialed: default_dialed(),
            ring_ms: (1000, 8000),
            talk_ms: (5000, 60000),
            dial_timeout_s: 30,
        }
    }
}

impl TrafficConfig {
    /// Checks ratios, rate and bounds.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::InvalidTraffic(m));
        if !(self.calls_per_second > 0.0 && self.calls_per_second.is_finite()) {
            return bad(format!(
                "`calls_per_second` must be positive, got {}",
                self.calls_per_second
            ));
        }
        if self.operators.is_empty() {
            return bad("`operators` is empty: pass e.g. --operators 1001,1002".into());
        }
        let ok = |r: f64| (0.0..=1.0).contains(&r);
        if !ok(self.answer_ratio)
            || !ok(self.abandon_ratio)
            || self.answer_ratio + self.abandon_ratio > 1.0
        {
            return bad(format!(
                "answer ratio {} and abandon ratio {} must be in 0..=1 and add up to at most 1",
                self.answer_ratio, self.abandon_ratio
            ));
        }
        if self.max_calls.is_none() && self.duration.is_none() {
            return bad("unbounded traffic: set a maximum number of calls or a duration".into());
        }
        if self.ring_ms.0 > self.ring_ms.1 || self.talk_ms.0 > self.talk_ms.1 {
            return bad("a duration range has min > max".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_toml_and_json_scenarios() {
        let toml = r#"
speed = 2.0
[[call]]
at_ms = 0
kind = "answered"
caller = "0501112233"
operators = ["1002"]
ring_ms = 1500
talk_ms = 10000

[[call]]
at_ms = 500
kind = "queue"
operators = ["1001", "1002"]
answered_by = "1001"
"#;
        let s = Scenario::parse(toml, false).unwrap();
        assert_eq!(s.speed, 2.0);
        assert_eq!(s.calls.len(), 2);
        assert_eq!(s.calls[0].call.caller, "0501112233");
        assert_eq!(s.calls[1].call.template_operators(), vec!["1001", "1002"]);
        let json = r#"[{"at_ms": 0, "kind": "busy"}, {"at_ms": 10, "kind": "no_answer", "dial_timeout_s": 5}]"#;
        let s = Scenario::parse(json, true).unwrap();
        assert_eq!(s.calls[1].call.gaps_ms(), vec![5000]);
    }

    #[test]
    fn rejects_a_queue_with_one_member() {
        let e = Scenario::parse(
            "[[call]]\nkind = \"queue\"\noperators = [\"1001\"]\n",
            false,
        );
        assert!(e.unwrap_err().to_string().contains("two members"));
    }
}
