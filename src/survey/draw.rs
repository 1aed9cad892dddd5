//! Survey draws: load the requests closed since the previous draw, draw the sample with the pure
//! core, store inputs + draw + tasks in one transaction (so a crash leaves no half-draw), and
//! replay a stored draw from its inputs.
//!
//! Idempotence: each draw starts where the previous one ended, and `survey_draws` has both
//! `period_start` and `period_end` unique, so a second draw for a period already drawn finds the
//! earlier one and samples nothing — also when two instances race on PostgreSQL (the loser's
//! insert fails on the constraint and its transaction is rolled back).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use contactd_calendar::{local_date, ScheduleKind, KYIV};
use contactd_survey::{
    draw, replay, ClosedRequest, Draw, DrawInputs, ExecutorStats, Period, ResultKind,
    SelectionReason, TaskOutcome,
};
use contactd_workflow::{AssignmentStatus, RequestState};
use serde::Serialize;
use sqlx::Any;
use utoipa::ToSchema;

use super::{parse_outcome, SurveyError};
use crate::calendar::Calendars;
use crate::config::SurveyConfig;
use crate::storage::{from_db_time, to_db_time, Storage};

/// Survey results of the last this many days decide whether an executor's results are poor.
pub const RECENT_RESULTS_DAYS: i64 = 90;

/// Who asked for the draw (stored with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Scheduler,
    Cli,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Scheduler => "scheduler",
            Self::Cli => "cli",
        }
    }
}

/// What to draw.
#[derive(Debug, Clone, Copy)]
pub struct DrawRequest {
    /// The period ends here (exclusive); it starts where the previous draw ended.
    pub period_end: DateTime<Utc>,
    /// `None`: a random seed, stored with the draw.
    pub seed: Option<u64>,
    pub trigger: Trigger,
}

/// A stored draw, summarised.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DrawSummary {
    pub id: i64,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// Decimal: a u64 does not fit every JSON reader's integers.
    pub seed: String,
    pub algorithm: String,
    pub fingerprint: String,
    pub population: i64,
    pub sampled: i64,
    pub triggered_by: String,
    pub created_at: DateTime<Utc>,
}

/// What [`run_draw`] did.
#[derive(Debug, Clone)]
pub enum DrawOutcome {
    /// A new draw was stored with its tasks.
    Drawn {
        summary: DrawSummary,
        draw: Box<Draw>,
    },
    /// The period up to `period_end` is already covered by this draw: nothing was sampled.
    AlreadyDrawn(DrawSummary),
}

/// A stored draw with its per-executor figures and sample (`GET /api/v1/survey/draws/{id}`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DrawView {
    #[serde(flatten)]
    pub summary: DrawSummary,
    pub eligible: usize,
    #[schema(value_type = Object)]
    pub excluded: contactd_survey::Exclusions,
    #[schema(value_type = Vec<Object>)]
    pub executors: Vec<ExecutorStats>,
    #[schema(value_type = Vec<Object>)]
    pub sample: Vec<contactd_survey::SampledRequest>,
}

/// The result of a successful replay.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub id: i64,
    pub fingerprint: String,
    pub population: usize,
    pub sampled: usize,
    pub request_numbers: Vec<String>,
}

type SummaryRow = (i64, i64, i64, String, String, String, i64, i64, String, i64);

const SUMMARY_COLUMNS: &str = "id, period_start, period_end, seed, algorithm, fingerprint, population, sampled, triggered_by, created_at";

fn summary(row: SummaryRow) -> DrawSummary {
    let (id, start, end, seed, algorithm, fingerprint, population, sampled, triggered_by, created) =
        row;
    DrawSummary {
        id,
        period_start: from_db_time(start),
        period_end: from_db_time(end),
        seed,
        algorithm,
        fingerprint,
        population,
        sampled,
        triggered_by,
        created_at: from_db_time(created),
    }
}

fn stored<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> SurveyError + '_ {
    move |e| SurveyError::Stored(format!("{what}: {e}"))
}

/// The scheduler's step: on a working day of the contact center, at or after `draw_at` (local
/// time), draw the period that ends at today's `draw_at`. Returns `None` when no draw is due;
/// calling it again the same day finds the draw already made (idempotent).
pub async fn run_due_draw(
    storage: &Storage,
    calendars: &Calendars,
    config: &SurveyConfig,
    now: DateTime<Utc>,
) -> Result<Option<DrawOutcome>, SurveyError> {
    let cc = calendars.get(ScheduleKind::ContactCenter);
    let today = local_date(now);
    if !cc.is_working_day(today) {
        return Ok(None);
    }
    let Some(due) = KYIV
        .from_local_datetime(&today.and_time(config.params.draw_at.0))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
    else {
        return Ok(None);
    };
    if now < due {
        return Ok(None);
    }
    let request = DrawRequest {
        period_end: due,
        seed: None,
        trigger: Trigger::Scheduler,
    };
    run_draw(storage, config, request, now).await.map(Some)
}

/// Draws the sample of the requests closed since the previous draw up to `period_end`, storing
/// inputs, draw and tasks in one transaction. A period already drawn gives
/// [`DrawOutcome::AlreadyDrawn`].
pub async fn run_draw(
    storage: &Storage,
    config: &SurveyConfig,
    request: DrawRequest,
    now: DateTime<Utc>,
) -> Result<DrawOutcome, SurveyError> {
    let mut tx = storage.writer().begin().await?;
    if let Some(existing) = covering_draw(&mut tx, request.period_end).await? {
        return Ok(DrawOutcome::AlreadyDrawn(existing));
    }
    let last_end: Option<i64> = sqlx::query_scalar("SELECT MAX(period_end) FROM survey_draws")
        .fetch_one(&mut *tx)
        .await?;
    let period_start = match last_end {
        Some(end) => from_db_time(end),
        None => request.period_end - Duration::days(i64::from(config.first_draw_lookback_days)),
    };
    let period = Period {
        from: period_start,
        to: request.period_end,
    };
    let population = load_population(&mut tx, period).await?;
    let recent_results = load_recent_results(&mut tx, now).await?;
    let seed = request.seed.unwrap_or_else(rand::random::<u64>);
    let inputs = DrawInputs {
        seed,
        period,
        draw_at: now,
        params: config.params.clone(),
        recent_results,
        population,
    };
    let result = draw(&inputs)?;
    let inputs_json = serde_json::to_string(&inputs).map_err(stored("draw inputs"))?;
    let draw_json = serde_json::to_string(&result).map_err(stored("draw"))?;
    let population_size = i64::try_from(result.population).unwrap_or(i64::MAX);
    let sampled = i64::try_from(result.sample.len()).unwrap_or(i64::MAX);
    let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(
        "INSERT INTO survey_draws (period_start, period_end, seed, algorithm, fingerprint, inputs_json, \
         draw_json, population, sampled, triggered_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(to_db_time(period.from))
    .bind(to_db_time(period.to))
    .bind(seed.to_string())
    .bind(&result.algorithm)
    .bind(&result.inputs_fingerprint.0)
    .bind(&inputs_json)
    .bind(&draw_json)
    .bind(population_size)
    .bind(sampled)
    .bind(request.trigger.as_str())
    .bind(to_db_time(now))
    .fetch_one(&mut *tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            // Another instance drew this period at the same moment: its draw stands.
            drop(tx);
            let mut tx = storage.writer().begin().await?;
            return match covering_draw(&mut tx, request.period_end).await? {
                Some(existing) => Ok(DrawOutcome::AlreadyDrawn(existing)),
                None => Err(SurveyError::Stored(
                    "a concurrent draw claimed this period but is not visible; run the draw again"
                        .into(),
                )),
            };
        }
        Err(e) => return Err(e.into()),
    };
    for s in &result.sample {
        sqlx::query(
            "INSERT INTO survey_tasks (draw_id, request_id, request_number, applicant_id, executor_code, reason, \
             status, attempts, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $9)",
        )
        .bind(id)
        .bind(s.request_id)
        .bind(&s.request_number)
        .bind(s.applicant_id)
        .bind(&s.executor_code)
        .bind(reason_str(s.reason))
        .bind(to_db_time(now))
        .bind(to_db_time(now))
        .bind(to_db_time(now))
        .execute(&mut *tx)
        .await?;
    }
    let after = serde_json::json!({
        "period_start": period.from, "period_end": period.to, "seed": seed.to_string(),
        "fingerprint": result.inputs_fingerprint.0, "population": result.population, "sampled": sampled,
        "triggered_by": request.trigger.as_str(),
    });
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor, action, entity, entity_id, before_json, after_json, comment) \
         VALUES ($1, NULL, $2, 'survey.draw', 'survey_draw', $3, NULL, $4, NULL)",
    )
    .bind(to_db_time(now))
    .bind(request.trigger.as_str())
    .bind(id.to_string())
    .bind(after.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(
        draw_id = id,
        population = result.population,
        sampled,
        seed,
        "survey: sample drawn"
    );
    let summary = DrawSummary {
        id,
        period_start: period.from,
        period_end: period.to,
        seed: seed.to_string(),
        algorithm: result.algorithm.clone(),
        fingerprint: result.inputs_fingerprint.0.clone(),
        population: population_size,
        sampled,
        triggered_by: request.trigger.as_str().to_owned(),
        created_at: now,
    };
    Ok(DrawOutcome::Drawn {
        summary,
        draw: Box::new(result),
    })
}

/// The earliest stored draw whose period reaches `period_end`, if any.
async fn covering_draw(
    tx: &mut sqlx::Transaction<'_, Any>,
    period_end: DateTime<Utc>,
) -> Result<Option<DrawSummary>, SurveyError> {
    let row: Option<SummaryRow> = sqlx::query_as(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM survey_draws WHERE period_end >= $1 ORDER BY period_end LIMIT 1"
    ))
    .bind(to_db_time(period_end))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(summary))
}

pub(crate) fn reason_str(reason: SelectionReason) -> &'static str {
    match reason {
        SelectionReason::Random => "random",
        SelectionReason::AlwaysAfterRework => "always_after_rework",
        SelectionReason::AlwaysAfterExtension => "always_after_extension",
    }
}

type PopulationRow = (
    i64,
    String,
    String,
    Option<i64>,
    i64,
    i64,
    i64,
    String,
    Option<i64>,
    Option<i64>,
    i64,
    Option<String>,
);

/// The requests closed in `period`, with what the draw needs about their applicant and result.
async fn load_population(
    tx: &mut sqlx::Transaction<'_, Any>,
    period: Period,
) -> Result<Vec<ClosedRequest>, SurveyError> {
    let rows: Vec<PopulationRow> = sqlx::query_as(
        "SELECT r.id, r.number, r.section, r.applicant_id, r.closed_at, r.rework_count, r.extension_count, \
         r.state_json, a.no_survey, a.last_surveyed_at, \
         (SELECT COUNT(*) FROM applicant_phones p WHERE p.applicant_id = r.applicant_id), \
         (SELECT MIN(e.executor_code) FROM request_executors e WHERE e.request_id = r.id) \
         FROM requests r LEFT JOIN applicants a ON a.id = r.applicant_id \
         WHERE r.status = 'closed' AND r.closed_at >= $1 AND r.closed_at < $2 ORDER BY r.id",
    )
    .bind(to_db_time(period.from))
    .bind(to_db_time(period.to))
    .fetch_all(&mut **tx)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let (
            id,
            number,
            section,
            applicant,
            closed_at,
            rework_count,
            extension_count,
            state_json,
            no_survey,
            last_surveyed,
            phones,
            any_executor,
        ) = row;
        let state: RequestState = serde_json::from_str(&state_json)
            .map_err(stored(&format!("request {number}: workflow state")))?;
        // The executor surveyed about is the one whose completed result closed the request.
        let completed = state
            .current_assignments()
            .find(|a| a.status == AssignmentStatus::Completed);
        let executor_code = completed
            .map(|a| a.unit.to_string())
            .or(any_executor)
            .unwrap_or_default();
        let result = match completed.and_then(|a| a.result.as_ref()).map(|r| r.kind) {
            Some(contactd_workflow::ResultKind::Explained) => ResultKind::Explained,
            _ => ResultKind::Done,
        };
        out.push(ClosedRequest {
            request_id: id,
            request_number: number,
            executor_code,
            section,
            // A request without an applicant cannot be called; a negative id keeps it apart.
            applicant_id: applicant.unwrap_or(-id),
            has_phone: applicant.is_some() && phones > 0,
            opted_out: no_survey.unwrap_or(0) != 0,
            last_surveyed_at: last_surveyed.map(from_db_time),
            closed_at: from_db_time(closed_at),
            result,
            after_extension: extension_count > 0,
            after_rework: rework_count > 0,
        });
    }
    Ok(out)
}

/// Each executor's survey results finished in the last [`RECENT_RESULTS_DAYS`] days.
async fn load_recent_results(
    tx: &mut sqlx::Transaction<'_, Any>,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, contactd_survey::RecentResults>, SurveyError> {
    let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT request_id, executor_code, outcome FROM survey_tasks \
         WHERE status <> 'pending' AND updated_at >= $1 AND updated_at < $2",
    )
    .bind(to_db_time(now - Duration::days(RECENT_RESULTS_DAYS)))
    .bind(to_db_time(now))
    .fetch_all(&mut **tx)
    .await?;
    let mut tasks = Vec::with_capacity(rows.len());
    for (request_id, executor_code, outcome) in rows {
        tasks.push(TaskOutcome {
            request_id,
            executor_code,
            outcome: outcome.as_deref().map(parse_outcome).transpose()?,
        });
    }
    let report = contactd_survey::survey_stats(&tasks);
    Ok(report
        .by_executor
        .into_iter()
        .map(|(code, s)| (code, s.recent_results()))
        .collect())
}

async fn load_stored(
    storage: &Storage,
    id: i64,
) -> Result<(DrawSummary, DrawInputs, Draw), SurveyError> {
    type StoredRow = (
        i64,
        i64,
        i64,
        String,
        String,
        String,
        i64,
        i64,
        String,
        i64,
        String,
        String,
    );
    let row: Option<StoredRow> = sqlx::query_as(&format!(
        "SELECT {SUMMARY_COLUMNS}, inputs_json, draw_json FROM survey_draws WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(storage.reader())
    .await?;
    let (a, b, c, d, e, f, g, h, i, j, inputs_json, draw_json) =
        row.ok_or(SurveyError::NoSuchDraw(id))?;
    let inputs: DrawInputs =
        serde_json::from_str(&inputs_json).map_err(stored(&format!("survey draw {id}: inputs")))?;
    let stored_draw: Draw =
        serde_json::from_str(&draw_json).map_err(stored(&format!("survey draw {id}: draw")))?;
    Ok((summary((a, b, c, d, e, f, g, h, i, j)), inputs, stored_draw))
}

/// A stored draw with its figures and sample.
pub async fn get_draw(storage: &Storage, id: i64) -> Result<DrawView, SurveyError> {
    let (summary, _, d) = load_stored(storage, id).await?;
    Ok(DrawView {
        summary,
        eligible: d.eligible,
        excluded: d.excluded,
        executors: d.executors,
        sample: d.sample,
    })
}

/// Recomputes draw `id` from its stored inputs and checks that it gives exactly the stored draw,
/// and that the stored tasks are exactly its sample.
pub async fn replay_draw(storage: &Storage, id: i64) -> Result<ReplayReport, SurveyError> {
    let (summary, inputs, stored_draw) = load_stored(storage, id).await?;
    let again =
        replay(&inputs, &stored_draw).map_err(|source| SurveyError::Replay { id, source })?;
    let task_ids: BTreeSet<i64> =
        sqlx::query_scalar::<_, i64>("SELECT request_id FROM survey_tasks WHERE draw_id = $1")
            .bind(id)
            .fetch_all(storage.reader())
            .await?
            .into_iter()
            .collect();
    let sample_ids: BTreeSet<i64> = again.sample.iter().map(|s| s.request_id).collect();
    if task_ids != sample_ids {
        let missing = sample_ids.difference(&task_ids).count();
        let extra = task_ids.difference(&sample_ids).count();
        return Err(SurveyError::TasksDiffer {
            id,
            what: format!(
                "{missing} sampled request(s) without a task, {extra} task(s) not in the sample"
            ),
        });
    }
    Ok(ReplayReport {
        id,
        fingerprint: summary.fingerprint,
        population: again.population,
        sampled: again.sample.len(),
        request_numbers: again
            .sample
            .iter()
            .map(|s| s.request_number.clone())
            .collect(),
    })
}
