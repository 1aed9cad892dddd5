//! What a draw is made from (`DrawInputs`): the closed requests of the period, the parameters,
//! the seed; stored with the draw and fingerprinted so that a replay can prove it used the same.

use std::collections::BTreeMap;
use std::io;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::params::SurveyParams;

/// Version tag mixed into the fingerprint; bump it when the canonical form changes.
const INPUTS_FORMAT: &str = "contactd-survey/inputs/v1";

/// How a request was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultKind {
    /// The request was executed.
    Done,
    /// The applicant was given an explanation (nothing to execute).
    Explained,
}

/// One request closed in the draw's period, with what the sample needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosedRequest {
    /// Database id; unique within a draw, and the canonical order of the population.
    pub request_id: i64,
    /// The request number shown to people (for the work list and the audit).
    pub request_number: String,
    /// Code of the executor unit; one stratum per executor.
    pub executor_code: String,
    /// Classifier section, e.g. `"22"`; looked up in `section_rates`.
    pub section: String,
    /// The applicant; never surveyed twice in one draw.
    pub applicant_id: i64,
    /// The applicant left a phone number that can be called.
    pub has_phone: bool,
    /// The applicant asked not to be surveyed.
    pub opted_out: bool,
    /// When the applicant was last surveyed (about any request), if ever.
    pub last_surveyed_at: Option<DateTime<Utc>>,
    /// When the request was closed; must fall within the draw's period.
    pub closed_at: DateTime<Utc>,
    /// How it was closed.
    pub result: ResultKind,
    /// Closed after its term was extended.
    pub after_extension: bool,
    /// Closed after it had been sent back for rework.
    pub after_rework: bool,
}

/// The half-open period `[from, to)` whose closed requests form the population.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    /// Whether `at` falls within `[from, to)`.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.to
    }
}

/// An executor's recent survey results, passed in by the daemon to apply the poor-results rate.
///
/// Integers rather than a rate, so that the stored inputs are exact. The daemon gets them from
/// [`crate::SurveyStats::recent_results`] over its look-back window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecentResults {
    /// Survey calls in which the applicant answered the question (confirmed or not).
    pub answered: u32,
    /// Of those, the ones confirming execution with acceptable quality.
    pub confirmed: u32,
}

impl RecentResults {
    /// Whether these results are poor under `params` (enough answers, rate below the threshold).
    pub fn is_poor(&self, params: &SurveyParams) -> bool {
        self.answered > 0
            && self.answered >= params.poor_result_min_answered
            && u64::from(self.confirmed) * 100
                < u64::from(params.poor_result_threshold_percent) * u64::from(self.answered)
    }
}

/// Everything a draw depends on. The daemon stores this with the [`crate::Draw`];
/// [`crate::replay`] re-runs it and checks the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrawInputs {
    /// Seeds the random selection. Pick it at random when drawing (or from a published value
    /// for public verifiability) and store it: the same inputs and seed give the same sample.
    pub seed: u64,
    /// The period whose closed requests form the population.
    pub period: Period,
    /// When the draw is made; the "surveyed recently" window ends here. Time is a parameter.
    pub draw_at: DateTime<Utc>,
    /// The `[survey]` parameters in force at the draw.
    pub params: SurveyParams,
    /// Recent results per executor code; executors missing here are not judged poor.
    #[serde(default)]
    pub recent_results: BTreeMap<String, RecentResults>,
    /// The requests closed in the period, in any order.
    pub population: Vec<ClosedRequest>,
}

/// SHA-256 (lowercase hex) of the canonical serialization of [`DrawInputs`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The canonical form: a version tag, then the inputs with the population sorted by request id.
/// Maps are `BTreeMap`s and nothing is a float, so the JSON is byte-for-byte reproducible.
#[derive(Serialize)]
struct Canonical<'a> {
    format: &'static str,
    seed: u64,
    period: &'a Period,
    draw_at: &'a DateTime<Utc>,
    params: &'a SurveyParams,
    recent_results: &'a BTreeMap<String, RecentResults>,
    population: Vec<&'a ClosedRequest>,
}

/// Feeds serialized bytes straight into the hash, so a 100,000-request population is not
/// buffered.
struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl DrawInputs {
    /// SHA-256 of the canonical serialization: independent of the population's input order,
    /// different as soon as any request, parameter, the period, the draw time or the seed differ.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut population: Vec<&ClosedRequest> = self.population.iter().collect();
        population.sort_by(|a, b| {
            (a.request_id, &a.request_number).cmp(&(b.request_id, &b.request_number))
        });
        let canonical = Canonical {
            format: INPUTS_FORMAT,
            seed: self.seed,
            period: &self.period,
            draw_at: &self.draw_at,
            params: &self.params,
            recent_results: &self.recent_results,
            population,
        };
        let mut hasher = Sha256::new();
        // Serializing plain structs of strings, integers, booleans and dates into a writer that
        // never fails cannot fail; should it ever, the error text still changes the fingerprint.
        if let Err(err) = serde_json::to_writer(HashWriter(&mut hasher), &canonical) {
            hasher.update(b"\0serialization error: ");
            hasher.update(err.to_string().as_bytes());
        }
        Fingerprint(hex(&hasher.finalize()))
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}
