//! Behaviour of the draw: sizes, exclusions, always-include rules, determinism, replay.

// Test helpers: a panic there is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use chrono::Duration;
use common::*;
use contactd_survey::{
    draw, replay, Draw, DrawError, DrawInputs, RecentResults, ReplayError, ResultKind,
    SelectionReason, SurveyParams,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn stats<'a>(d: &'a Draw, code: &str) -> &'a contactd_survey::ExecutorStats {
    d.executors
        .iter()
        .find(|e| e.executor_code == code)
        .unwrap()
}

fn sampled_ids(d: &Draw) -> Vec<i64> {
    d.sample.iter().map(|s| s.request_id).collect()
}

#[test]
fn size_is_rate_clamped_to_min_and_max() {
    // A: 5 eligible → ceil(0.5)=1 (the min); B: 95 → ceil(9.5)=10; C: 400 → 40 → max 20;
    // D: 0 eligible (all opted out) → 0.
    let mut pop = reqs(1, 5, "A");
    pop.extend(reqs(100, 95, "B"));
    pop.extend(reqs(1000, 400, "C"));
    pop.extend(reqs(5000, 3, "D").into_iter().map(|mut r| {
        r.opted_out = true;
        r
    }));
    let d = draw(&inputs(pop, plain_params(), 1)).unwrap();
    let sizes: Vec<(&str, usize, usize)> = d
        .executors
        .iter()
        .map(|e| (e.executor_code.as_str(), e.eligible, e.sampled))
        .collect();
    assert_eq!(
        sizes,
        vec![("A", 5, 1), ("B", 95, 10), ("C", 400, 20), ("D", 0, 0)]
    );
    assert_eq!(d.sample.len(), 31);
    assert_eq!(
        (d.population, d.eligible, d.excluded.opted_out),
        (503, 500, 3)
    );
}

#[test]
fn min_larger_than_eligible_takes_all() {
    let params = SurveyParams {
        min_per_executor: 3,
        ..plain_params()
    };
    let mut pop = reqs(1, 2, "A");
    pop.extend(reqs(10, 10, "B"));
    let d = draw(&inputs(pop, params, 5)).unwrap();
    assert_eq!(stats(&d, "A").sampled, 2);
    assert_eq!(stats(&d, "B").sampled, 3);
}

#[test]
fn every_exclusion_is_applied_and_counted() {
    let params = SurveyParams {
        exclude_explained: true,
        min_per_executor: 20,
        max_per_executor: 100,
        ..plain_params()
    };
    let mut pop = reqs(1, 20, "A");
    pop[0].opted_out = true;
    pop[1].has_phone = false;
    pop[2].last_surveyed_at = Some(draw_at() - Duration::days(10));
    pop[3].last_surveyed_at = Some(draw_at() - Duration::days(200)); // long ago: eligible
    pop[4].result = ResultKind::Explained;
    pop[5].closed_at = period().to; // half-open period: outside
    pop[6].applicant_id = pop[7].applicant_id; // same applicant: one of the two goes
    let excluded_ids: HashSet<i64> = [1, 2, 3, 5, 6].into();
    let d = draw(&inputs(pop, params, 9)).unwrap();
    let e = d.excluded;
    assert_eq!(
        (
            e.opted_out,
            e.no_phone,
            e.recently_surveyed,
            e.explained,
            e.outside_period,
            e.same_applicant
        ),
        (1, 1, 1, 1, 1, 1)
    );
    assert_eq!(d.eligible, 14);
    assert_eq!(d.sample.len(), 14, "min 20 takes every eligible request");
    let ids: HashSet<i64> = sampled_ids(&d).into_iter().collect();
    assert!(ids.is_disjoint(&excluded_ids));
    assert!(ids.contains(&4));
    assert_eq!(ids.contains(&7) as u8 + ids.contains(&8) as u8, 1);
}

#[test]
fn explained_requests_are_kept_unless_excluded() {
    let mut pop = reqs(1, 3, "A");
    pop[0].result = ResultKind::Explained;
    let params = SurveyParams {
        min_per_executor: 3,
        ..plain_params()
    };
    let d = draw(&inputs(pop, params, 2)).unwrap();
    assert_eq!(d.sample.len(), 3);
}

#[test]
fn an_applicant_is_never_sampled_twice() {
    // 300 requests from 30 applicants across 3 executors; take everything that is allowed.
    let mut pop = Vec::new();
    for (i, exec) in ["A", "B", "C"].iter().enumerate() {
        pop.extend(reqs(i as i64 * 1000, 100, exec));
    }
    for r in &mut pop {
        r.applicant_id = r.request_id % 30;
    }
    let params = SurveyParams {
        min_per_executor: 100,
        max_per_executor: 100,
        ..plain_params()
    };
    let d = draw(&inputs(pop, params, 4)).unwrap();
    let applicants: HashSet<i64> = d.sample.iter().map(|s| s.applicant_id).collect();
    assert_eq!(applicants.len(), d.sample.len());
    assert_eq!(d.sample.len(), 30);
    assert_eq!(d.excluded.same_applicant, 270);
}

#[test]
fn always_included_requests_count_toward_the_target() {
    // 50 eligible at 10% → target 5; 2 after rework + 1 after extension → 2 random.
    let mut pop = reqs(1, 50, "A");
    pop[10].after_rework = true;
    pop[20].after_rework = true;
    pop[20].after_extension = true;
    pop[30].after_extension = true;
    let d = draw(&inputs(pop, SurveyParams::default(), 11)).unwrap();
    let a = stats(&d, "A");
    assert_eq!(
        (a.target, a.always_included, a.random, a.sampled),
        (5, 3, 2, 5)
    );
    let reason = |id| d.sample.iter().find(|s| s.request_id == id).unwrap().reason;
    assert_eq!(reason(11), SelectionReason::AlwaysAfterRework);
    assert_eq!(reason(21), SelectionReason::AlwaysAfterRework);
    assert_eq!(reason(31), SelectionReason::AlwaysAfterExtension);
}

#[test]
fn always_included_requests_are_not_cut_by_the_max() {
    let mut pop = reqs(1, 100, "A");
    for r in pop.iter_mut().take(30) {
        r.after_extension = true;
    }
    let mut opted_out_extension = req(500, "A");
    opted_out_extension.after_extension = true;
    opted_out_extension.opted_out = true; // exclusions win over always-include
    pop.push(opted_out_extension);
    let d = draw(&inputs(pop, SurveyParams::default(), 12)).unwrap();
    let a = stats(&d, "A");
    assert_eq!(
        (a.target, a.always_included, a.random, a.sampled),
        (10, 30, 0, 30)
    );
    assert!(d
        .sample
        .iter()
        .all(|s| s.reason == SelectionReason::AlwaysAfterExtension));
    // With the rules off, the same requests are capped as usual.
    let d = draw(&inputs(reqs(1, 100, "A"), plain_params(), 12)).unwrap();
    assert_eq!(d.sample.len(), 10);
}

#[test]
fn applicant_with_an_always_included_request_keeps_that_one() {
    for seed in 0..20 {
        let mut pop = reqs(1, 40, "A");
        pop[5].applicant_id = 7;
        pop[6].applicant_id = 7;
        pop[6].after_rework = true;
        let d = draw(&inputs(pop, SurveyParams::default(), seed)).unwrap();
        let ids = sampled_ids(&d);
        assert!(
            ids.contains(&7) && !ids.contains(&6),
            "seed {seed}: {ids:?}"
        );
    }
}

#[test]
fn section_rates_raise_the_sample_for_that_section() {
    // 100 requests: 80 in section "10" at 10% → 8, 20 in section "22" at 50% → 10; total 18.
    let mut pop = reqs(1, 100, "A");
    for r in pop.iter_mut().skip(80) {
        r.section = "22".to_owned();
    }
    let params = SurveyParams {
        section_rates: [("22".to_owned(), 50)].into(),
        ..plain_params()
    };
    let d = draw(&inputs(pop.clone(), params.clone(), 3)).unwrap();
    let a = stats(&d, "A");
    assert_eq!(a.groups.len(), 2);
    assert_eq!(
        (
            a.groups[0].rate_percent,
            a.groups[0].quota,
            a.groups[0].random
        ),
        (50, 10, 10)
    );
    assert_eq!(
        (
            a.groups[1].rate_percent,
            a.groups[1].quota,
            a.groups[1].random
        ),
        (10, 8, 8)
    );
    assert_eq!(a.sampled, 18);
    assert_eq!(d.sample.iter().filter(|s| s.request_id > 80).count(), 10);

    // With a max of 9 the 18 are scaled down in proportion: 5 and 4.
    let capped = SurveyParams {
        max_per_executor: 9,
        ..params
    };
    let d = draw(&inputs(pop, capped, 3)).unwrap();
    let a = stats(&d, "A");
    assert_eq!(
        (a.groups[0].random, a.groups[1].random, a.sampled),
        (5, 4, 9)
    );
}

#[test]
fn poor_recent_results_raise_the_rate() {
    let mut pop = reqs(1, 100, "A");
    pop.extend(reqs(1000, 100, "B"));
    let mut inp = inputs(pop, plain_params(), 8);
    inp.recent_results.insert(
        "A".to_owned(),
        RecentResults {
            answered: 20,
            confirmed: 12, // 60% < 80%
        },
    );
    inp.recent_results.insert(
        "B".to_owned(),
        RecentResults {
            answered: 5, // too few answers to judge (min 10)
            confirmed: 0,
        },
    );
    let d = draw(&inp).unwrap();
    let (a, b) = (stats(&d, "A"), stats(&d, "B"));
    assert!(a.poor_results && !b.poor_results);
    assert_eq!((a.rate_percent, a.sampled), (25, 20));
    assert_eq!((b.rate_percent, b.sampled), (10, 10));
}

fn mixed_population() -> Vec<contactd_survey::ClosedRequest> {
    let mut pop = Vec::new();
    for (i, exec) in ["B", "A", "C", "D"].iter().enumerate() {
        pop.extend(reqs(i as i64 * 500 + 1, 150 + 60 * i as i64, exec));
    }
    for r in &mut pop {
        r.applicant_id = r.request_id % 400;
        r.after_rework = r.request_id % 97 == 0;
        r.opted_out = r.request_id % 31 == 0;
    }
    pop
}

#[test]
fn same_seed_same_draw_in_any_input_order() {
    let pop = mixed_population();
    let first = draw(&inputs(pop.clone(), SurveyParams::default(), 42)).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    for _ in 0..5 {
        let mut shuffled = pop.clone();
        shuffled.shuffle(&mut rng);
        let again = draw(&inputs(shuffled, SurveyParams::default(), 42)).unwrap();
        assert_eq!(again, first);
    }
}

#[test]
fn different_seeds_give_different_samples() {
    let pop = mixed_population();
    let samples: HashSet<Vec<i64>> = (0..20)
        .map(|seed| {
            sampled_ids(&draw(&inputs(pop.clone(), SurveyParams::default(), seed)).unwrap())
        })
        .collect();
    assert_eq!(samples.len(), 20);
}

#[test]
fn a_change_in_one_stratum_leaves_the_others_alone() {
    // Every executor has a random stream of its own, so dropping requests of A (applicants
    // not shared with other executors) does not reshuffle B, C or D.
    let mut pop = Vec::new();
    for (i, exec) in ["A", "B", "C", "D"].iter().enumerate() {
        pop.extend(reqs(i as i64 * 1000 + 1, 300, exec));
    }
    let before = draw(&inputs(pop.clone(), plain_params(), 6)).unwrap();
    pop.retain(|r| !(r.executor_code == "A" && r.request_id % 2 == 0));
    let after = draw(&inputs(pop, plain_params(), 6)).unwrap();
    let of = |d: &Draw, code: &str| -> Vec<i64> {
        d.sample
            .iter()
            .filter(|s| s.executor_code == code)
            .map(|s| s.request_id)
            .collect()
    };
    assert_ne!(of(&before, "A"), of(&after, "A"));
    for code in ["B", "C", "D"] {
        assert_eq!(of(&before, code), of(&after, code), "executor {code}");
    }
}

#[test]
fn stored_inputs_replay_exactly_and_tampering_is_detected() {
    let inp = inputs(mixed_population(), SurveyParams::default(), 77);
    let stored = draw(&inp).unwrap();
    // The daemon stores both as JSON; replay from what it reads back.
    let inp_json = serde_json::to_string(&inp).unwrap();
    let draw_json = serde_json::to_string(&stored).unwrap();
    let inp_back: DrawInputs = serde_json::from_str(&inp_json).unwrap();
    let draw_back: Draw = serde_json::from_str(&draw_json).unwrap();
    assert_eq!(inp_back.fingerprint(), inp.fingerprint());
    assert_eq!(replay(&inp_back, &draw_back).unwrap(), stored);

    let mut other_seed = inp_back.clone();
    other_seed.seed = 78;
    assert!(matches!(
        replay(&other_seed, &draw_back),
        Err(ReplayError::Fingerprint { .. })
    ));
    let mut tampered = draw_back.clone();
    tampered.sample[0].request_id = -1;
    let err = replay(&inp_back, &tampered).unwrap_err();
    assert!(matches!(err, ReplayError::Different { .. }), "{err}");
    let mut old = draw_back;
    old.algorithm = "contactd-survey/v0".to_owned();
    assert!(matches!(
        replay(&inp_back, &old),
        Err(ReplayError::Algorithm { .. })
    ));
}

#[test]
fn fingerprint_ignores_order_but_sees_every_change() {
    let inp = inputs(mixed_population(), SurveyParams::default(), 1);
    let fp = inp.fingerprint();
    assert_eq!(fp.0.len(), 64);
    let mut reversed = inp.clone();
    reversed.population.reverse();
    assert_eq!(reversed.fingerprint(), fp);
    let mut changes: Vec<DrawInputs> = Vec::new();
    let mut c = inp.clone();
    c.population[3].has_phone = false;
    changes.push(c);
    let mut c = inp.clone();
    c.params.rate_percent = 11;
    changes.push(c);
    let mut c = inp.clone();
    c.draw_at += Duration::seconds(1);
    changes.push(c);
    let mut c = inp.clone();
    c.recent_results
        .insert("A".into(), RecentResults::default());
    changes.push(c);
    let mut c = inp.clone();
    c.population.pop();
    changes.push(c);
    for c in changes {
        assert_ne!(c.fingerprint(), fp);
    }
}

#[test]
fn bad_inputs_are_rejected_with_a_reason() {
    let mut pop = reqs(1, 3, "A");
    pop.push(req(2, "B"));
    let err = draw(&inputs(pop, SurveyParams::default(), 1)).unwrap_err();
    assert_eq!(err, DrawError::DuplicateRequest { request_id: 2 });
    assert!(err.to_string().contains("more than once"));

    let mut inp = inputs(reqs(1, 3, "A"), SurveyParams::default(), 1);
    inp.period.to = inp.period.from;
    assert!(matches!(draw(&inp), Err(DrawError::EmptyPeriod { .. })));

    inp = inputs(reqs(1, 3, "A"), SurveyParams::default(), 1);
    inp.params.min_per_executor = 50;
    let err = draw(&inp).unwrap_err();
    assert!(err.to_string().contains("min_per_executor"), "{err}");
}

#[test]
fn empty_population_gives_an_empty_draw() {
    let d = draw(&inputs(Vec::new(), SurveyParams::default(), 1)).unwrap();
    assert_eq!((d.population, d.eligible, d.sample.len()), (0, 0, 0));
    assert!(d.executors.is_empty());
}
