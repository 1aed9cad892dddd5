//! The stratified draw: exclusions, one applicant once, per-executor sample sizes, uniform
//! selection within each executor's stratum, and the audit record (`Draw`) that `replay` checks.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::inputs::{ClosedRequest, DrawInputs, Fingerprint, Period, ResultKind};
use crate::params::{ParamsError, SurveyParams};
use crate::sample::{below, choose, stream};

/// Why a request was sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectionReason {
    /// Drawn at random within its executor's stratum.
    Random,
    /// Always included: closed after a rework (`always_include_after_rework`).
    AlwaysAfterRework,
    /// Always included: closed after a term extension (`always_include_after_extension`).
    AlwaysAfterExtension,
}

/// One request to survey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampledRequest {
    pub request_id: i64,
    pub request_number: String,
    pub executor_code: String,
    pub applicant_id: i64,
    pub reason: SelectionReason,
}

/// Requests left out, counted by the first rule that excluded them (in this field order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusions {
    /// Closed outside the draw's period (the daemon passed too much).
    pub outside_period: usize,
    /// The applicant opted out of surveys.
    pub opted_out: usize,
    /// No phone number to call.
    pub no_phone: usize,
    /// The applicant was surveyed within `exclude_surveyed_within_days`.
    pub recently_surveyed: usize,
    /// Closed as "explained" while `exclude_explained` is on.
    pub explained: usize,
    /// The applicant has another eligible request in this draw, which was kept instead.
    pub same_applicant: usize,
}

impl Exclusions {
    /// All excluded requests.
    pub fn total(&self) -> usize {
        self.outside_period
            + self.opted_out
            + self.no_phone
            + self.recently_surveyed
            + self.explained
            + self.same_applicant
    }

    fn add(&mut self, other: &Exclusions) {
        self.outside_period += other.outside_period;
        self.opted_out += other.opted_out;
        self.no_phone += other.no_phone;
        self.recently_surveyed += other.recently_surveyed;
        self.explained += other.explained;
        self.same_applicant += other.same_applicant;
    }
}

/// The eligible requests of one executor that share a sampling rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateGroup {
    /// The rate, in percent, that applies to these requests.
    pub rate_percent: u32,
    /// Eligible requests at this rate (always-included ones too).
    pub eligible: usize,
    /// `ceil(rate × eligible / 100)`.
    pub quota: usize,
    /// Always-included requests in this group.
    pub always_included: usize,
    /// Requests drawn at random from this group (before any top-up to the minimum).
    pub random: usize,
}

/// The audit figures of one executor's stratum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorStats {
    pub executor_code: String,
    /// Its requests in the population.
    pub population: usize,
    /// Left after the exclusions.
    pub eligible: usize,
    pub excluded: Exclusions,
    /// Its recent results were poor, so `poor_result_rate_percent` applied.
    pub poor_results: bool,
    /// The executor-wide rate (base or poor-results); section rates show in `groups`.
    pub rate_percent: u32,
    /// Eligible requests by applicable rate, highest rate first.
    pub groups: Vec<RateGroup>,
    /// Sample size: sum of group quotas, clamped to `[min, max]`, at most `eligible`.
    pub target: usize,
    pub always_included: usize,
    pub random: usize,
    /// `always_included + random`; equals `target` unless always-included requests exceed it.
    pub sampled: usize,
}

/// The result of a draw, with everything needed to audit it. Stored by the daemon next to the
/// [`DrawInputs`] it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draw {
    /// The sampling algorithm version ([`crate::ALGORITHM`]).
    pub algorithm: String,
    /// Fingerprint of the inputs ([`DrawInputs::fingerprint`]).
    pub inputs_fingerprint: Fingerprint,
    pub seed: u64,
    pub period: Period,
    pub draw_at: DateTime<Utc>,
    pub params: SurveyParams,
    /// Requests in the population.
    pub population: usize,
    /// Requests left after the exclusions.
    pub eligible: usize,
    pub excluded: Exclusions,
    /// One entry per executor present in the population, sorted by executor code.
    pub executors: Vec<ExecutorStats>,
    /// The requests to survey, sorted by executor code then request id.
    pub sample: Vec<SampledRequest>,
}

/// A draw that cannot be made from these inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrawError {
    #[error("invalid survey parameters: {0}")]
    Params(#[from] ParamsError),
    #[error("the draw period starts at {from} but ends at {to}: pass a period whose start is before its end")]
    EmptyPeriod {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    #[error("request id {request_id} appears more than once in the population: pass each closed request once")]
    DuplicateRequest { request_id: i64 },
}

/// A stored draw that its stored inputs do not reproduce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("the stored inputs cannot be drawn again: {0}")]
    Draw(#[from] DrawError),
    #[error("the stored draw used sampling algorithm {stored:?} but this build has {current:?}: replay it with a build of that version")]
    Algorithm { stored: String, current: String },
    #[error("the stored inputs have fingerprint {replayed} but the draw was made from {stored}: these are not the inputs of that draw")]
    Fingerprint {
        stored: Fingerprint,
        replayed: Fingerprint,
    },
    #[error("replaying the stored inputs gives a different draw ({what}): the stored draw was altered or made by a different build")]
    Different { what: String },
}

/// Draws the survey sample from `inputs`. Pure and deterministic: the same inputs (in any
/// population order) give the same [`Draw`].
pub fn draw(inputs: &DrawInputs) -> Result<Draw, DrawError> {
    let params = &inputs.params;
    params.validate()?;
    if inputs.period.from >= inputs.period.to {
        return Err(DrawError::EmptyPeriod {
            from: inputs.period.from,
            to: inputs.period.to,
        });
    }

    // Canonical order: by request id. Everything after depends only on this order.
    let mut population: Vec<&ClosedRequest> = inputs.population.iter().collect();
    population.sort_unstable_by_key(|r| r.request_id);
    if let Some(w) = population
        .windows(2)
        .find(|w| w[0].request_id == w[1].request_id)
    {
        return Err(DrawError::DuplicateRequest {
            request_id: w[0].request_id,
        });
    }

    let mut strata: BTreeMap<&str, Stratum<'_>> = BTreeMap::new();
    let mut candidates: Vec<&ClosedRequest> = Vec::with_capacity(population.len());
    for r in &population {
        let stratum = strata.entry(r.executor_code.as_str()).or_default();
        stratum.population += 1;
        let e = &mut stratum.excluded;
        if !inputs.period.contains(r.closed_at) {
            e.outside_period += 1;
        } else if r.opted_out {
            e.opted_out += 1;
        } else if !r.has_phone {
            e.no_phone += 1;
        } else if params.surveyed_recently(r.last_surveyed_at, inputs.draw_at) {
            e.recently_surveyed += 1;
        } else if params.exclude_explained && r.result == ResultKind::Explained {
            e.explained += 1;
        } else {
            candidates.push(r);
        }
    }

    // One request per applicant, so that nobody is called twice in one draw. Chosen before the
    // strata are sampled, uniformly among the applicant's always-included requests if there are
    // any, otherwise among all of them; this keeps selection uniform within every stratum.
    candidates.sort_by_key(|r| (r.applicant_id, r.request_id));
    for run in candidates.chunk_by(|a, b| a.applicant_id == b.applicant_id) {
        let kept = if run.len() == 1 {
            0
        } else {
            let always: Vec<usize> = (0..run.len())
                .filter(|&i| always_reason(params, run[i]).is_some())
                .collect();
            let mut rng = stream(inputs.seed, "applicant", &run[0].applicant_id.to_le_bytes());
            if always.is_empty() {
                below(&mut rng, run.len())
            } else {
                always[below(&mut rng, always.len())]
            }
        };
        for (i, r) in run.iter().enumerate() {
            let stratum = strata.entry(r.executor_code.as_str()).or_default();
            if i == kept {
                stratum.eligible.push(r);
            } else {
                stratum.excluded.same_applicant += 1;
            }
        }
    }

    let mut draw = Draw {
        algorithm: crate::ALGORITHM.to_owned(),
        inputs_fingerprint: inputs.fingerprint(),
        seed: inputs.seed,
        period: inputs.period,
        draw_at: inputs.draw_at,
        params: params.clone(),
        population: population.len(),
        eligible: 0,
        excluded: Exclusions::default(),
        executors: Vec::with_capacity(strata.len()),
        sample: Vec::new(),
    };
    for (code, mut stratum) in strata {
        stratum.eligible.sort_unstable_by_key(|r| r.request_id);
        let stats = sample_stratum(inputs, code, stratum, &mut draw.sample);
        draw.eligible += stats.eligible;
        draw.excluded.add(&stats.excluded);
        draw.executors.push(stats);
    }
    Ok(draw)
}

/// Draws again from stored inputs and checks that the stored draw is exactly what they give.
/// Returns the fresh draw.
pub fn replay(inputs: &DrawInputs, stored: &Draw) -> Result<Draw, ReplayError> {
    if stored.algorithm != crate::ALGORITHM {
        return Err(ReplayError::Algorithm {
            stored: stored.algorithm.clone(),
            current: crate::ALGORITHM.to_owned(),
        });
    }
    let fresh = draw(inputs)?;
    if fresh.inputs_fingerprint != stored.inputs_fingerprint {
        return Err(ReplayError::Fingerprint {
            stored: stored.inputs_fingerprint.clone(),
            replayed: fresh.inputs_fingerprint,
        });
    }
    if fresh != *stored {
        let what = if fresh.sample != stored.sample {
            let first = fresh
                .sample
                .iter()
                .zip(&stored.sample)
                .find(|(a, b)| a != b)
                .map(|(a, b)| {
                    format!(
                        "first difference: request {} replayed, {} stored",
                        a.request_id, b.request_id
                    )
                })
                .unwrap_or_else(|| {
                    format!(
                        "{} requests replayed, {} stored",
                        fresh.sample.len(),
                        stored.sample.len()
                    )
                });
            format!("sample differs, {first}")
        } else {
            "sample is the same but the figures differ".to_owned()
        };
        return Err(ReplayError::Different { what });
    }
    Ok(fresh)
}

#[derive(Default)]
struct Stratum<'a> {
    population: usize,
    excluded: Exclusions,
    eligible: Vec<&'a ClosedRequest>,
}

fn always_reason(params: &SurveyParams, r: &ClosedRequest) -> Option<SelectionReason> {
    if params.always_include_after_rework && r.after_rework {
        Some(SelectionReason::AlwaysAfterRework)
    } else if params.always_include_after_extension && r.after_extension {
        Some(SelectionReason::AlwaysAfterExtension)
    } else {
        None
    }
}

/// Requests of one rate group, split into always-included ones and random candidates.
struct Group<'a> {
    rate_percent: u32,
    eligible: usize,
    always: Vec<(&'a ClosedRequest, SelectionReason)>,
    candidates: Vec<&'a ClosedRequest>,
}

fn ceil_percent(rate_percent: u32, n: usize) -> usize {
    (u64::from(rate_percent) * n as u64).div_ceil(100) as usize
}

fn sample_stratum(
    inputs: &DrawInputs,
    code: &str,
    stratum: Stratum<'_>,
    out: &mut Vec<SampledRequest>,
) -> ExecutorStats {
    let params = &inputs.params;
    let poor_results = inputs
        .recent_results
        .get(code)
        .is_some_and(|recent| recent.is_poor(params));
    let base_rate = if poor_results {
        params.rate_percent.max(params.poor_result_rate_percent)
    } else {
        params.rate_percent
    };

    // Group by applicable rate, highest first; each group keeps request-id order.
    let mut by_rate: BTreeMap<Reverse<u32>, Group<'_>> = BTreeMap::new();
    for &r in &stratum.eligible {
        let section_rate = params.section_rates.get(&r.section).copied().unwrap_or(0);
        let rate = base_rate.max(section_rate);
        let group = by_rate.entry(Reverse(rate)).or_insert_with(|| Group {
            rate_percent: rate,
            eligible: 0,
            always: Vec::new(),
            candidates: Vec::new(),
        });
        group.eligible += 1;
        match always_reason(params, r) {
            Some(reason) => group.always.push((r, reason)),
            None => group.candidates.push(r),
        }
    }
    let groups: Vec<Group<'_>> = by_rate.into_values().collect();

    let eligible = stratum.eligible.len();
    let quotas: Vec<usize> = groups
        .iter()
        .map(|g| ceil_percent(g.rate_percent, g.eligible))
        .collect();
    let min = params.min_per_executor as usize;
    let max = params.max_per_executor as usize;
    let target = quotas.iter().sum::<usize>().clamp(min, max).min(eligible);
    let always_included: usize = groups.iter().map(|g| g.always.len()).sum();
    // Always-included requests count toward the target; random picks fill the rest.
    let random_needed = target.saturating_sub(always_included);
    // What each group would draw on its own: its quota less its always-included requests.
    let wanted: Vec<usize> = groups
        .iter()
        .zip(&quotas)
        .map(|(g, &q)| q.saturating_sub(g.always.len()).min(g.candidates.len()))
        .collect();
    let allotted = if wanted.iter().sum::<usize>() > random_needed {
        largest_remainder(random_needed, &wanted)
    } else {
        wanted
    };

    let mut rng = stream(inputs.seed, "stratum", code.as_bytes());
    let mut picked: Vec<(&ClosedRequest, SelectionReason)> = Vec::with_capacity(target);
    let mut leftover: Vec<&ClosedRequest> = Vec::new();
    let mut group_stats = Vec::with_capacity(groups.len());
    for ((group, quota), k) in groups.into_iter().zip(quotas).zip(allotted) {
        group_stats.push(RateGroup {
            rate_percent: group.rate_percent,
            eligible: group.eligible,
            quota,
            always_included: group.always.len(),
            random: k,
        });
        picked.extend(group.always);
        let (chosen, rest) = choose(&mut rng, group.candidates, k);
        picked.extend(chosen.into_iter().map(|r| (r, SelectionReason::Random)));
        leftover.extend(rest);
    }
    // Top-up to the minimum, uniformly among the executor's remaining candidates.
    let random_so_far = picked.len() - always_included;
    if random_needed > random_so_far {
        leftover.sort_unstable_by_key(|r| r.request_id);
        let (chosen, _) = choose(&mut rng, leftover, random_needed - random_so_far);
        picked.extend(chosen.into_iter().map(|r| (r, SelectionReason::Random)));
    }

    picked.sort_unstable_by_key(|(r, _)| r.request_id);
    let sampled = picked.len();
    out.extend(picked.into_iter().map(|(r, reason)| SampledRequest {
        request_id: r.request_id,
        request_number: r.request_number.clone(),
        executor_code: r.executor_code.clone(),
        applicant_id: r.applicant_id,
        reason,
    }));
    ExecutorStats {
        executor_code: code.to_owned(),
        population: stratum.population,
        eligible,
        excluded: stratum.excluded,
        poor_results,
        rate_percent: base_rate,
        groups: group_stats,
        target,
        always_included,
        random: sampled - always_included,
        sampled,
    }
}

/// Splits `total` (< sum of `weights`) in proportion to `weights` (Hamilton's method): floors
/// first, then one more to the largest remainders, ties to the earlier (higher-rate) group.
/// No share exceeds its weight.
fn largest_remainder(total: usize, weights: &[usize]) -> Vec<usize> {
    let sum: u64 = weights.iter().map(|&w| w as u64).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut shares: Vec<usize> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(Reverse<u64>, usize)> = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let exact = total as u64 * w as u64;
        shares.push((exact / sum) as usize);
        remainders.push((Reverse(exact % sum), i));
    }
    remainders.sort_unstable();
    let left = total - shares.iter().sum::<usize>();
    for &(_, i) in remainders.iter().take(left) {
        shares[i] += 1;
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_remainder_is_proportional_and_exact() {
        assert_eq!(largest_remainder(5, &[10, 10]), vec![3, 2]);
        // 0.4, 1.2, 2.4: floors 0, 1, 2; the one left goes to the tie at .4 in the earlier group.
        assert_eq!(largest_remainder(4, &[1, 3, 6]), vec![1, 1, 2]);
        assert_eq!(largest_remainder(0, &[2, 2]), vec![0, 0]);
        let shares = largest_remainder(7, &[3, 3, 3]);
        assert_eq!(shares.iter().sum::<usize>(), 7);
        assert!(shares.iter().all(|&s| s <= 3));
    }

    #[test]
    fn ceil_percent_rounds_up() {
        assert_eq!(ceil_percent(10, 0), 0);
        assert_eq!(ceil_percent(10, 1), 1);
        assert_eq!(ceil_percent(10, 10), 1);
        assert_eq!(ceil_percent(10, 11), 2);
        assert_eq!(ceil_percent(0, 50), 0);
    }
}
