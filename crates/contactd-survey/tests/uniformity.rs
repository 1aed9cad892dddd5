//! Statistical tests: selection is uniform within an executor's stratum.
//!
//! Each test runs a fixed family of seeds (0..2000), so it is deterministic: it either always
//! passes or always fails for a given build. The threshold is the chi-square critical value at
//! p = 0.001: a correct sampler fails such a test for one seed family in a thousand, and once
//! this family passes it keeps passing. A biased sampler (e.g. modulo bias, an off-by-one in
//! Fisher–Yates that never picks the last item, a stratum order effect) fails by a wide margin.

// Test helpers below the tests: a panic there is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use contactd_survey::{draw, SurveyParams};

const DRAWS: u64 = 2_000;

/// Pearson's chi-square statistic of `counts` against equal expected counts.
fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

/// Upper critical value of chi-square with `df` degrees of freedom at p = 0.001, by the
/// Wilson–Hilferty approximation (within 0.2% of the tables for df ≥ 10; e.g. df = 49 gives
/// 85.43 against the tabulated 85.35).
fn critical_p001(df: usize) -> f64 {
    let z = 3.090_232; // standard normal quantile at 0.999
    let k = df as f64;
    let a = 2.0 / (9.0 * k);
    k * (1.0 - a + z * a.sqrt()).powi(3)
}

/// Counts how often each request of the stratum `executor` was sampled over the seed family.
fn pick_counts(
    population: &[contactd_survey::ClosedRequest],
    params: &SurveyParams,
    executor: &str,
    ids: &[i64],
) -> Vec<u64> {
    let mut counts = vec![0u64; ids.len()];
    for seed in 0..DRAWS {
        let d = draw(&inputs(population.to_vec(), params.clone(), seed)).unwrap();
        for s in d.sample.iter().filter(|s| s.executor_code == executor) {
            let i = ids.binary_search(&s.request_id).unwrap();
            counts[i] += 1;
        }
    }
    counts
}

#[test]
fn random_selection_is_uniform_within_a_stratum() {
    // Executor "M": 50 eligible requests at 10% → 5 per draw, 10,000 picks, 200 expected each.
    // Other strata around it, so order and stream separation are exercised too.
    let mut pop = reqs(1, 37, "A");
    pop.extend(reqs(100, 50, "M"));
    pop.extend(reqs(1000, 120, "Z"));
    let ids: Vec<i64> = (100..150).collect();
    let counts = pick_counts(&pop, &plain_params(), "M", &ids);
    assert_eq!(counts.iter().sum::<u64>(), 5 * DRAWS);
    let (stat, crit) = (chi_square(&counts), critical_p001(ids.len() - 1));
    eprintln!("stratum of 50: chi-square {stat:.1}, limit {crit:.1} (df 49, p = 0.001)");
    assert!(stat < crit, "chi-square {stat:.1} ≥ {crit:.1}: {counts:?}");
}

#[test]
fn top_up_to_the_minimum_is_uniform_too() {
    // 12 eligible, 2 always-included (after rework), min 6: the 4 random picks are spread over
    // the other 10 evenly (4 × 2000 / 10 = 800 each).
    let mut pop = reqs(1, 12, "A");
    pop[0].after_rework = true;
    pop[5].after_rework = true;
    let params = SurveyParams {
        min_per_executor: 6,
        ..SurveyParams::default()
    };
    let ids: Vec<i64> = (1..=12).collect();
    let counts = pick_counts(&pop, &params, "A", &ids);
    assert_eq!((counts[0], counts[5]), (DRAWS, DRAWS));
    let random: Vec<u64> = counts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 0 && *i != 5)
        .map(|(_, &c)| c)
        .collect();
    assert_eq!(random.iter().sum::<u64>(), 4 * DRAWS);
    // df = 9: the approximation is a little off for small df; the table value is 27.88.
    let stat = chi_square(&random);
    eprintln!("top-up: chi-square {stat:.1}, limit 27.88 (df 9, p = 0.001)");
    assert!(stat < 27.88, "chi-square {stat:.1} ≥ 27.88: {random:?}");
}

#[test]
fn the_request_kept_for_an_applicant_is_chosen_uniformly() {
    // One applicant with 4 requests at 4 executors; min 1 means whichever is kept is sampled.
    let mut pop = Vec::new();
    for (i, exec) in ["A", "B", "C", "D"].iter().enumerate() {
        let mut r = req(i as i64 + 1, exec);
        r.applicant_id = 42;
        pop.push(r);
    }
    let ids: Vec<i64> = (1..=4).collect();
    let mut counts = vec![0u64; 4];
    for exec in ["A", "B", "C", "D"] {
        for (c, n) in counts
            .iter_mut()
            .zip(pick_counts(&pop, &plain_params(), exec, &ids))
        {
            *c += n;
        }
    }
    assert_eq!(counts.iter().sum::<u64>(), DRAWS);
    // df = 3: table value 16.27.
    let stat = chi_square(&counts);
    eprintln!("applicant choice: chi-square {stat:.1}, limit 16.27 (df 3, p = 0.001)");
    assert!(stat < 16.27, "chi-square {stat:.1} ≥ 16.27: {counts:?}");
}

#[test]
fn critical_values_match_the_tables() {
    assert!((critical_p001(49) - 85.35).abs() < 0.2);
    assert!((critical_p001(99) - 148.23).abs() < 0.3);
}
