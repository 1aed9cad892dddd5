//! Draw benchmark: 100,000 closed requests over 130 executors; target ≤ 1 s per draw. Also
//! reports the ratio against a baseline measured in the same run (cloning and sorting the
//! population), so the figure means something on a loaded shared machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use contactd_survey::{
    draw, ClosedRequest, DrawError, DrawInputs, Period, RecentResults, ResultKind, SurveyParams,
};
use rand::{Rng, SeedableRng};

const REQUESTS: i64 = 100_000;
const EXECUTORS: u32 = 130;
const RUNS: usize = 7;

fn population(period: Period) -> Vec<ClosedRequest> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2025);
    let span = (period.to - period.from).num_seconds();
    let mut pop: Vec<ClosedRequest> = (0..REQUESTS)
        .map(|i| {
            // Executors of very different sizes, as in the city: a few large utilities, many
            // small units.
            let skew: f64 = rng.gen::<f64>().powi(3);
            let executor = (skew * f64::from(EXECUTORS)) as u32;
            let id = 10_000_000 + i * 7;
            ClosedRequest {
                request_id: id,
                request_number: format!("KR-{id}"),
                executor_code: format!("E{executor:03}"),
                section: format!("{}", rng.gen_range(10..40)),
                applicant_id: rng.gen_range(0..80_000),
                has_phone: rng.gen_bool(0.93),
                opted_out: rng.gen_bool(0.02),
                last_surveyed_at: rng
                    .gen_bool(0.05)
                    .then(|| period.from - chrono::Duration::days(rng.gen_range(0..200))),
                closed_at: period.from + chrono::Duration::seconds(rng.gen_range(0..span)),
                result: if rng.gen_bool(0.2) {
                    ResultKind::Explained
                } else {
                    ResultKind::Done
                },
                after_extension: rng.gen_bool(0.03),
                after_rework: rng.gen_bool(0.02),
            }
        })
        .collect();
    // Arrive in no particular order, as from a database without ORDER BY.
    for i in (1..pop.len()).rev() {
        let j = rng.gen_range(0..=i);
        pop.swap(i, j);
    }
    pop
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn main() -> Result<(), DrawError> {
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap_or_default();
    let period = Period {
        from: at("2025-02-01T00:00:00Z"),
        to: at("2025-03-01T00:00:00Z"),
    };
    let mut inputs = DrawInputs {
        seed: 0x5eed,
        period,
        draw_at: at("2025-03-03T07:30:00Z"),
        params: SurveyParams {
            section_rates: [("22".to_owned(), 25), ("31".to_owned(), 40)].into(),
            ..SurveyParams::default()
        },
        recent_results: (0..EXECUTORS)
            .step_by(9)
            .map(|e| {
                (
                    format!("E{e:03}"),
                    RecentResults {
                        answered: 40,
                        confirmed: 28,
                    },
                )
            })
            .collect(),
        population: population(period),
    };

    let mut baseline = Vec::with_capacity(RUNS);
    let mut fingerprint = Vec::with_capacity(RUNS);
    let mut draws = Vec::with_capacity(RUNS);
    let mut sampled = 0;
    for run in 0..RUNS {
        let t = Instant::now();
        let mut copy = black_box(&inputs.population).clone();
        copy.sort_unstable_by_key(|r| r.request_id);
        black_box(&copy);
        baseline.push(t.elapsed());

        let t = Instant::now();
        black_box(black_box(&inputs).fingerprint());
        fingerprint.push(t.elapsed());

        inputs.seed = 0x5eed + run as u64;
        let t = Instant::now();
        let d = draw(black_box(&inputs))?;
        draws.push(t.elapsed());
        sampled = d.sample.len();
        black_box(d);
    }
    let (base, fp, dr) = (median(baseline), median(fingerprint), median(draws));
    println!(
        "draw: {REQUESTS} requests, {EXECUTORS} executors, {sampled} sampled, median of {RUNS} runs"
    );
    println!("  baseline (clone + sort by id): {base:>10.2?}");
    println!("  fingerprint (SHA-256 of JSON):  {fp:>10.2?}");
    println!(
        "  draw (incl. fingerprint):       {dr:>10.2?}  = {:.1} × baseline, target ≤ 1 s: {}",
        dr.as_secs_f64() / base.as_secs_f64().max(1e-9),
        if dr <= Duration::from_secs(1) {
            "met"
        } else {
            "MISSED"
        }
    );
    Ok(())
}
