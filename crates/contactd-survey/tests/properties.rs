//! Property tests: for any population and parameters, the sample is a subset of the eligible
//! requests, sizes are within bounds, no applicant twice, and input order does not matter.

mod common;

use std::collections::{HashMap, HashSet};

use chrono::Duration;
use common::*;
use contactd_survey::{draw, ClosedRequest, ResultKind, SelectionReason, SurveyParams};
use proptest::prelude::*;

fn request() -> impl Strategy<Value = ClosedRequest> {
    (
        0i64..400,
        0u8..6,
        0i64..120,
        any::<[bool; 5]>(),
        prop::option::of(0i64..200),
        0i64..10,
        0u8..3,
    )
        .prop_map(
            |(id, exec, applicant, flags, surveyed_days_ago, outside, section)| {
                let mut r = req(id, &format!("E{exec}"));
                r.applicant_id = applicant;
                r.has_phone = !flags[0] || id % 3 != 0;
                r.opted_out = flags[1] && id % 5 == 0;
                r.result = if flags[2] {
                    ResultKind::Explained
                } else {
                    ResultKind::Done
                };
                r.after_extension = flags[3];
                r.after_rework = flags[4] && id % 2 == 0;
                r.last_surveyed_at = surveyed_days_ago.map(|d| draw_at() - Duration::days(d));
                if outside == 0 {
                    r.closed_at = period().to + Duration::hours(1);
                }
                r.section = format!("{}", 20 + section);
                r
            },
        )
}

fn population() -> impl Strategy<Value = Vec<ClosedRequest>> {
    prop::collection::vec(request(), 0..250).prop_map(|mut v| {
        let mut seen = HashSet::new();
        v.retain(|r| seen.insert(r.request_id));
        v
    })
}

fn params() -> impl Strategy<Value = SurveyParams> {
    (
        0u32..=100,
        0u32..5,
        1u32..30,
        any::<[bool; 3]>(),
        0u32..100,
        0u32..=100,
    )
        .prop_map(|(rate, min, max, flags, days, section_rate)| SurveyParams {
            rate_percent: rate,
            min_per_executor: min.min(max),
            max_per_executor: max,
            always_include_after_extension: flags[0],
            always_include_after_rework: flags[1],
            exclude_explained: flags[2],
            exclude_surveyed_within_days: days,
            section_rates: [("21".to_owned(), section_rate)].into(),
            ..SurveyParams::default()
        })
}

fn eligible_alone(r: &ClosedRequest, p: &SurveyParams) -> bool {
    period().contains(r.closed_at)
        && !r.opted_out
        && r.has_phone
        && !(p.exclude_explained && r.result == ResultKind::Explained)
        && !(p.exclude_surveyed_within_days > 0
            && r.last_surveyed_at.is_some_and(|at| {
                at > draw_at() - Duration::days(i64::from(p.exclude_surveyed_within_days))
            }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sample_invariants(pop in population(), p in params(), seed in any::<u64>()) {
        let d = draw(&inputs(pop.clone(), p.clone(), seed)).unwrap();
        let by_id: HashMap<i64, &ClosedRequest> = pop.iter().map(|r| (r.request_id, r)).collect();

        // Sample ⊆ eligible, each request once, each applicant once.
        let mut ids = HashSet::new();
        let mut applicants = HashSet::new();
        for s in &d.sample {
            let r = by_id[&s.request_id];
            prop_assert!(eligible_alone(r, &p), "excluded request {} sampled", r.request_id);
            prop_assert!(ids.insert(s.request_id));
            prop_assert!(applicants.insert(r.applicant_id));
            prop_assert_eq!(&s.executor_code, &r.executor_code);
            match s.reason {
                SelectionReason::AlwaysAfterRework => {
                    prop_assert!(p.always_include_after_rework && r.after_rework)
                }
                SelectionReason::AlwaysAfterExtension => {
                    prop_assert!(p.always_include_after_extension && r.after_extension)
                }
                SelectionReason::Random => {}
            }
        }

        // Figures add up, and per-executor sizes are within bounds.
        prop_assert_eq!(d.population, pop.len());
        prop_assert_eq!(d.eligible + d.excluded.total(), d.population);
        prop_assert_eq!(d.executors.iter().map(|e| e.sampled).sum::<usize>(), d.sample.len());
        let eligible_count = pop.iter().filter(|r| eligible_alone(r, &p)).count();
        prop_assert_eq!(d.eligible + d.excluded.same_applicant, eligible_count);
        for e in &d.executors {
            prop_assert_eq!(e.population, e.eligible + e.excluded.total());
            let in_sample = d.sample.iter().filter(|s| s.executor_code == e.executor_code).count();
            prop_assert_eq!(in_sample, e.sampled);
            prop_assert_eq!(e.sampled, e.always_included + e.random);
            prop_assert!(e.target <= e.eligible);
            prop_assert!(e.target <= p.max_per_executor as usize);
            prop_assert!(e.target >= (p.min_per_executor as usize).min(e.eligible));
            // Always-included requests are all taken and count toward the target.
            prop_assert_eq!(e.sampled, e.target.max(e.always_included));
            if e.eligible > 0 && (p.min_per_executor > 0 || p.rate_percent > 0) {
                prop_assert!(e.sampled > 0, "executor {} not checked", e.executor_code);
            }
        }
    }

    #[test]
    fn input_order_does_not_matter(pop in population(), p in params(), seed in any::<u64>()) {
        let d = draw(&inputs(pop.clone(), p.clone(), seed)).unwrap();
        let mut reversed = pop;
        reversed.reverse();
        prop_assert_eq!(draw(&inputs(reversed, p, seed)).unwrap(), d);
    }
}
