//! Builders shared by the integration tests: a period, a draw time and closed requests.
// Test helpers: a panic here is the failure report.
#![allow(dead_code, clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use contactd_survey::{ClosedRequest, DrawInputs, Period, ResultKind, SurveyParams};

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub fn period() -> Period {
    Period {
        from: at("2025-03-03T00:00:00Z"),
        to: at("2025-03-10T00:00:00Z"),
    }
}

pub fn draw_at() -> DateTime<Utc> {
    at("2025-03-10T07:30:00Z")
}

/// A plain eligible request: own applicant, phone, done, closed inside the period.
pub fn req(id: i64, executor: &str) -> ClosedRequest {
    ClosedRequest {
        request_id: id,
        request_number: format!("KR-{id:06}"),
        executor_code: executor.to_owned(),
        section: "10".to_owned(),
        applicant_id: 1_000_000 + id,
        has_phone: true,
        opted_out: false,
        last_surveyed_at: None,
        closed_at: period().from + Duration::minutes(id.rem_euclid(10_000)),
        result: ResultKind::Done,
        after_extension: false,
        after_rework: false,
    }
}

/// `n` plain requests for `executor`, ids starting at `first`.
pub fn reqs(first: i64, n: i64, executor: &str) -> Vec<ClosedRequest> {
    (first..first + n).map(|id| req(id, executor)).collect()
}

pub fn inputs(population: Vec<ClosedRequest>, params: SurveyParams, seed: u64) -> DrawInputs {
    DrawInputs {
        seed,
        period: period(),
        draw_at: draw_at(),
        params,
        recent_results: Default::default(),
        population,
    }
}

/// Parameters with no always-include rules and no recent-survey window, for exact counts.
pub fn plain_params() -> SurveyParams {
    SurveyParams {
        always_include_after_extension: false,
        always_include_after_rework: false,
        ..SurveyParams::default()
    }
}
