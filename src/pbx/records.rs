//! Call records: the call tracker's events written to `calls` and `call_legs` by a task of its
//! own, behind a bounded queue, so the PBX event path never waits on the database. The writer
//! takes the events of each moment together (one transaction, one fsync) and keeps them while the
//! database is unreachable, writing them once it is back.
//!
//! A call's row in `calls` is made by its first leg event: `Ringing`, or `Unreached` when the
//! first phone dialled never rang (busy, unavailable, …: `ringing_at` stays empty until a phone
//! does ring). Each operator leg gets a `call_legs` row (`rang_at` empty when it never rang).
//! `Finished` completes the call row (end time and outcome) once the caller's leg is gone too,
//! so a busy first operator does not close a call the dialplan then puts through to a colleague.
//!
//! Every write is an idempotent upsert (`ON CONFLICT … DO NOTHING / DO UPDATE … WHERE`), the same
//! SQL on SQLite and PostgreSQL: a replayed or duplicated event, or a call seen again after a
//! reconnect, never makes a second record or moves a first time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use contactd_ari::tracker::CallDirection;
use contactd_ari::{CallEvent, Outcome};
use contactd_domain::CallerNumber;
use sqlx::AnyConnection;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::clock::SharedClock;
use crate::metrics::MetricsRegistry;
use crate::storage::{is_transient, to_db_time, Storage};

/// Call events waiting to be written; beyond this the link drops records (and counts them)
/// rather than slow down.
pub const RECORD_QUEUE: usize = 4096;

/// The wire name of an outcome (`answered`, `abandoned`, …), as stored and as sent to consoles.
pub fn outcome_str(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Answered => "answered",
        Outcome::Abandoned => "abandoned",
        Outcome::AnsweredElsewhere => "answered_elsewhere",
        Outcome::Busy => "busy",
        Outcome::NoAnswer => "no_answer",
        Outcome::Failed => "failed",
    }
}

fn direction_str(direction: CallDirection) -> &'static str {
    match direction {
        CallDirection::Inbound => "inbound",
        CallDirection::Outbound => "outbound",
    }
}

/// Writes one call event in a transaction of its own. Safe to repeat.
pub async fn record(
    storage: &Storage,
    event: &CallEvent,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write_all(storage, std::slice::from_ref(event), now).await
}

/// What a call's row is made from.
struct NewCall<'a> {
    call_id: &'a str,
    direction: CallDirection,
    caller_number_raw: &'a str,
    caller_name: &'a str,
    dialed_number: &'a str,
}

/// Makes the call's row if it is not there yet. `ringing_at` is set by the first phone that
/// rings (`Some`), also when a leg that never rang (a busy operator) made the row before; a
/// leg that never rang (`None`) changes nothing on an existing row.
async fn upsert_call(
    conn: &mut AnyConnection,
    call: &NewCall<'_>,
    now: DateTime<Utc>,
    ringing_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let caller = CallerNumber::from_pbx(call.caller_number_raw);
    sqlx::query(
        "INSERT INTO calls (call_id, direction, caller_number, caller_number_raw, \
         caller_name, dialed_number, created_at, ringing_at, reconciled) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0) ON CONFLICT (call_id) DO UPDATE \
         SET ringing_at = excluded.ringing_at \
         WHERE calls.ringing_at IS NULL AND excluded.ringing_at IS NOT NULL",
    )
    .bind(call.call_id)
    .bind(direction_str(call.direction))
    .bind(caller.as_str())
    .bind(call.caller_number_raw)
    .bind(call.caller_name)
    .bind(call.dialed_number)
    .bind(to_db_time(now))
    .bind(ringing_at.map(to_db_time))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes one call event on `conn` (the writer's batch transaction).
#[instrument(skip_all, fields(call_id))]
async fn record_on(
    conn: &mut AnyConnection,
    event: &CallEvent,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    match event {
        CallEvent::Ringing {
            call_id,
            direction,
            caller_number_raw,
            caller_name,
            dialed_number,
            operator_extension,
            at,
        } => {
            tracing::Span::current().record("call_id", call_id.as_str());
            let call = NewCall {
                call_id,
                direction: *direction,
                caller_number_raw,
                caller_name,
                dialed_number,
            };
            upsert_call(conn, &call, now, Some(*at)).await?;
            sqlx::query(
                "INSERT INTO call_legs (call_id, operator_extension, rang_at, reconciled) \
                 VALUES ($1, $2, $3, 0) ON CONFLICT (call_id, operator_extension) DO NOTHING",
            )
            .bind(call_id)
            .bind(operator_extension)
            .bind(to_db_time(*at))
            .execute(&mut *conn)
            .await?;
        }
        CallEvent::Answered {
            call_id,
            answered_by,
            at,
        } => {
            tracing::Span::current().record("call_id", call_id.as_str());
            sqlx::query(
                "UPDATE calls SET answered_at = $1, answered_by = $2 \
                 WHERE call_id = $3 AND answered_at IS NULL",
            )
            .bind(to_db_time(*at))
            .bind(answered_by)
            .bind(call_id)
            .execute(&mut *conn)
            .await?;
        }
        CallEvent::Ended {
            call_id,
            operator_extension,
            outcome,
            duration_s,
            reconciled,
            at,
        } => {
            tracing::Span::current().record("call_id", call_id.as_str());
            // The call row itself is completed by `Finished`.
            sqlx::query(
                "INSERT INTO call_legs (call_id, operator_extension, rang_at, ended_at, outcome, \
                 duration_s, reconciled) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (call_id, operator_extension) DO UPDATE SET \
                 ended_at = excluded.ended_at, outcome = excluded.outcome, \
                 duration_s = excluded.duration_s, reconciled = excluded.reconciled \
                 WHERE call_legs.ended_at IS NULL",
            )
            .bind(call_id)
            .bind(operator_extension)
            .bind(to_db_time(*at))
            .bind(to_db_time(*at))
            .bind(outcome_str(*outcome))
            .bind(duration_s.map(i64::from))
            .bind(i64::from(*reconciled))
            .execute(&mut *conn)
            .await?;
        }
        CallEvent::Unreached {
            call_id,
            direction,
            caller_number_raw,
            caller_name,
            dialed_number,
            operator_extension,
            outcome,
            reconciled,
            at,
        } => {
            tracing::Span::current().record("call_id", call_id.as_str());
            let call = NewCall {
                call_id,
                direction: *direction,
                caller_number_raw,
                caller_name,
                dialed_number,
            };
            upsert_call(conn, &call, now, None).await?;
            // An existing row for this operator means its phone was reached earlier in the
            // call: that leg keeps its own record.
            sqlx::query(
                "INSERT INTO call_legs (call_id, operator_extension, rang_at, ended_at, outcome, \
                 duration_s, reconciled) VALUES ($1, $2, NULL, $3, $4, NULL, $5) \
                 ON CONFLICT (call_id, operator_extension) DO NOTHING",
            )
            .bind(call_id)
            .bind(operator_extension)
            .bind(to_db_time(*at))
            .bind(outcome_str(*outcome))
            .bind(i64::from(*reconciled))
            .execute(&mut *conn)
            .await?;
        }
        CallEvent::Finished {
            call_id,
            outcome,
            reconciled,
            at,
        } => {
            tracing::Span::current().record("call_id", call_id.as_str());
            sqlx::query(
                "UPDATE calls SET ended_at = $1, outcome = $2, reconciled = $3 \
                 WHERE call_id = $4 AND ended_at IS NULL",
            )
            .bind(to_db_time(*at))
            .bind(outcome_str(*outcome))
            .bind(i64::from(*reconciled))
            .bind(call_id)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Most events one transaction writes.
const BATCH: usize = 256;
/// How long the writer lets events gather after the first one: one transaction (one fsync)
/// for all the events of that moment instead of one per event, and the event path does not
/// wake the writer for each event.
const LINGER: Duration = Duration::from_millis(20);
/// Pause before writing again when the database cannot be reached.
const RETRY: Duration = Duration::from_secs(1);

/// The record writer task: takes what the queue holds (after [`LINGER`]) and writes it in one
/// transaction, until the queue closes or the daemon stops (then it writes what is queued).
///
/// While the database cannot be reached (restart, network) the batch is kept and written again
/// every [`RETRY`]; meanwhile events wait in the queue (the link counts what overflows it). A
/// batch the database refuses (a bad row) is written again event by event, so only the event at
/// fault is dropped, logged and counted.
pub async fn run_writer(
    storage: Storage,
    clock: SharedClock,
    metrics: MetricsRegistry,
    mut queue: mpsc::Receiver<CallEvent>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let open = tokio::select! {
            biased;
            n = queue.recv_many(&mut batch, BATCH) => n > 0,
            () = shutdown.cancelled() => false,
        };
        if !open {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(LINGER) => {}
            () = shutdown.cancelled() => {}
        }
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        write_batch(&storage, &clock, &metrics, &mut batch, &shutdown).await;
    }
    // Shutting down: what is already queued is written before the writer stops.
    queue.close();
    while let Some(event) = queue.recv().await {
        batch.push(event);
        if batch.len() == BATCH {
            write_batch(&storage, &clock, &metrics, &mut batch, &shutdown).await;
        }
    }
    write_batch(&storage, &clock, &metrics, &mut batch, &shutdown).await;
}

/// Writes `batch` (and empties it); see [`run_writer`] for what happens on errors.
async fn write_batch(
    storage: &Storage,
    clock: &SharedClock,
    metrics: &MetricsRegistry,
    batch: &mut Vec<CallEvent>,
    shutdown: &CancellationToken,
) {
    if batch.is_empty() {
        return;
    }
    loop {
        let err = match write_all(storage, batch, clock.now()).await {
            Ok(()) => {
                batch.clear();
                return;
            }
            Err(err) => err,
        };
        if !is_transient(&err) {
            break;
        }
        tracing::warn!(error = %err, events = batch.len(),
            "cannot write call records now; retrying (check the database)");
        if shutdown.is_cancelled() {
            // The last attempt at shutdown: one more try below, event by event.
            break;
        }
        tokio::time::sleep(RETRY).await;
    }
    for event in batch.drain(..) {
        if let Err(err) = record(storage, &event, clock.now()).await {
            metrics.metrics.call_records_failed.inc();
            tracing::error!(
                error = %err,
                "cannot write a call record; the call is still shown to operators (check the database)"
            );
        }
    }
}

async fn write_all(
    storage: &Storage,
    events: &[CallEvent],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut tx = storage.writer().begin().await?;
    for event in events {
        record_on(&mut tx, event, now).await?;
    }
    tx.commit().await
}
