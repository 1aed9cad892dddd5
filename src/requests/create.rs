//! Request registration with **group commit**.
//!
//! Every registration is validated and filed (classifier, calendar, applicant phone) by its own
//! HTTP handler, then queued here. Whoever finds no batch running starts one: a task that takes
//! everything queued (up to [`MAX_BATCH`]) and writes it in **one transaction** — one statement
//! per table for the whole batch (applicants, phones, request numbers, requests, executors, audit,
//! notices) — then answers each waiting handler and takes the next batch. So a busy contact
//! center pays one commit (one fsync) and a handful of round trips per batch instead of per
//! request, while a lone request is written at once, alone. A handler is answered only after the
//! commit: an acknowledged request survives a crash.
//!
//! If a batch fails (a unique key raced by another instance, a lost connection), it is rolled
//! back whole and its requests are written again one by one, so one bad request never fails the
//! others; an `Idempotency-Key` retried concurrently is answered with the request that won.
//!
//! One batch runs at a time per daemon. SQLite has one writer anyway; on PostgreSQL, measured,
//! concurrent batches of one daemon were no faster (smaller batches, the same two cores) and
//! raced each other on new applicants' phones. Daemons sharing a PostgreSQL database still race
//! now and then: a unique-key race, a deadlock or a serialization failure rolls the batch back
//! and its requests are written again one by one.
//!
//! Row ids are taken before the insert (SQLite: after the largest id, inside the write
//! transaction that holds the database's write lock; PostgreSQL: from the identity sequences), so
//! rows of a multi-row insert are matched to their requests without relying on `RETURNING` order.
//! SQLite writes a batch as one multi-row statement per table inside one transaction;
//! PostgreSQL as one statement of data-modifying CTEs (one round trip, atomic on its own).
//!
//! On PostgreSQL a batch costs **two** round trips: one reads the phones' applicants and takes the
//! ids and numbers, one writes. Executor units are checked against the codes seen before (a new
//! code costs one more read), and a pooled connection in steady use is not pinged first. Each
//! round trip under load costs far more than the server's work for it (measured: ~0.25 ms on
//! the server, 0.7–1.5 ms seen by the batch, which waits for a core like everything else).

use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use contactd_domain::{ExecutorCode, PhoneNumber, RequestNumber};
use contactd_workflow::{self as workflow, Action, RequestState};
use futures_util::FutureExt;
use sqlx::AnyConnection;
use tokio::sync::oneshot;

use super::query::Row;
use super::rows::{self, AuditInsert, ExecutorInsert, NoticeInsert, Statement};
use super::{actor_of, state_json, transition_rows, Channel};
use crate::auth::AuthUser;
use crate::config::Backend;
use crate::http::ApiError;
use crate::metrics::MetricsRegistry;
use crate::storage::{to_db_time, Storage};

/// Most registrations written in one transaction.
pub const MAX_BATCH: usize = 64;

/// A registration checked and filed by its handler, ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub user: AuthUser,
    pub channel: Channel,
    pub applicant: Option<ApplicantPlan>,
    pub address: String,
    pub description: String,
    pub classifier_code: String,
    pub classifier_revision: i64,
    pub classifier_title: String,
    pub section: String,
    pub area: String,
    pub request_type: &'static str,
    pub term: String,
    pub units: Vec<ExecutorCode>,
    pub deadline: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub year: i64,
    pub call_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// The `request.create` audit details.
    pub created_details: serde_json::Value,
}

/// The applicant as the request names them (trimmed).
#[derive(Debug, Clone)]
pub(crate) struct ApplicantPlan {
    pub phone: Option<PhoneNumber>,
    pub name: String,
    pub address: String,
    pub no_survey: bool,
}

/// What a registration came to.
pub(crate) enum Created {
    /// Written now.
    New(Box<Row>),
    /// The `Idempotency-Key` was used before: the request it created.
    Existing(String),
}

type Reply = Result<Created, ApiError>;

struct Job {
    prepared: Prepared,
    reply: oneshot::Sender<Reply>,
}

/// The queue of registrations waiting for their batch. Cheap to clone; one per daemon.
#[derive(Clone)]
pub struct CreateQueue {
    inner: Arc<Mutex<QueueState>>,
    ctx: Arc<BatchContext>,
}

/// What every batch of a daemon shares.
struct BatchContext {
    metrics: MetricsRegistry,
    /// Executor unit codes seen in the database. Units are never deleted or renamed (requests
    /// and users refer to them, and the foreign keys would refuse it), so a code seen once stays
    /// valid and a batch whose units are all known here skips that query. A code not seen yet
    /// is always looked up: a unit added by an admin, on this instance or another, works at once.
    known_units: Mutex<std::collections::HashSet<String>>,
}

#[derive(Default)]
struct QueueState {
    pending: Vec<Job>,
    /// A batch task is running (it takes what is pending before it stops).
    leading: bool,
}

impl std::fmt::Debug for CreateQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateQueue").finish_non_exhaustive()
    }
}

impl CreateQueue {
    /// An empty queue counting its batches in `metrics`.
    pub fn new(metrics: MetricsRegistry) -> Self {
        Self {
            inner: Arc::default(),
            ctx: Arc::new(BatchContext {
                metrics,
                known_units: Mutex::default(),
            }),
        }
    }

    /// Queue `prepared` and wait until its batch is committed (or failed).
    pub(crate) async fn submit(&self, storage: &Storage, prepared: Prepared) -> Reply {
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            state.pending.push(Job { prepared, reply });
            !std::mem::replace(&mut state.leading, true)
        };
        if lead {
            // A task of its own: a handler dropped by its client must not abort a batch that
            // carries other handlers' requests.
            let queue = self.clone();
            let storage = storage.clone();
            tokio::spawn(async move { queue.drain(&storage).await });
        }
        answer.await.unwrap_or_else(|_| {
            Err(ApiError::Unavailable(
                "the registration was interrupted before it was written; nothing was saved — send it again"
                    .into(),
            ))
        })
    }

    /// Write batches until the queue is empty.
    async fn drain(&self, storage: &Storage) {
        loop {
            let batch: Vec<Job> = {
                let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
                if state.pending.is_empty() {
                    state.leading = false;
                    return;
                }
                let n = state.pending.len().min(MAX_BATCH);
                state.pending.drain(..n).collect()
            };
            // A panic answers this batch's handlers (their senders drop) and keeps the queue going.
            if AssertUnwindSafe(run_batch(storage, &self.ctx, batch))
                .catch_unwind()
                .await
                .is_err()
            {
                tracing::error!("a request registration batch panicked; its requests were not saved and their clients were told to retry");
            }
        }
    }
}

/// Write `jobs` in one transaction; if that fails, each alone.
async fn run_batch(storage: &Storage, ctx: &BatchContext, jobs: Vec<Job>) {
    // A client retrying with the same Idempotency-Key before its first answer: the repeats wait
    // for the batch (which writes the first) and are then answered with its request, instead of
    // failing the whole batch on the unique key.
    let mut keys = std::collections::HashSet::new();
    let (jobs, repeats): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| {
        j.prepared
            .idempotency_key
            .as_ref()
            .is_none_or(|key| keys.insert((j.prepared.user.id, key.clone())))
    });
    write_batch(storage, ctx, jobs).await;
    for job in repeats {
        let result = write_one(storage, ctx, &job.prepared).await;
        let _ = job.reply.send(result);
    }
}

async fn write_batch(storage: &Storage, ctx: &BatchContext, jobs: Vec<Job>) {
    let prepared: Vec<&Prepared> = jobs.iter().map(|j| &j.prepared).collect();
    match write(storage, ctx, &prepared).await {
        Ok(results) => {
            for (job, result) in jobs.into_iter().zip(results) {
                let _ = job.reply.send(result);
            }
        }
        Err(err) if jobs.len() > 1 => {
            tracing::debug!(error = %err, requests = jobs.len(), "registration batch rolled back; writing its requests one by one");
            for job in jobs {
                let result = write_one(storage, ctx, &job.prepared).await;
                let _ = job.reply.send(result);
            }
        }
        Err(err) => {
            if let Some(job) = jobs.into_iter().next() {
                let result = match settle(storage, &job.prepared, err, true).await {
                    Some(reply) => reply,
                    None => write_one(storage, ctx, &job.prepared).await,
                };
                let _ = job.reply.send(result);
            }
        }
    }
}

/// Times a registration alone is written again after losing a unique-key race.
const UNIQUE_RACE_RETRIES: usize = 3;

/// Write one registration in its own transaction. A unique key raced by a concurrent writer
/// (PostgreSQL: another batch or instance registering the same new phone, or the same
/// `Idempotency-Key`) is settled: the key's request if it exists, else written again — the
/// retry sees the winner's committed rows.
async fn write_one(storage: &Storage, ctx: &BatchContext, prepared: &Prepared) -> Reply {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let err = match write(storage, ctx, &[prepared]).await {
            Ok(mut results) => {
                return results
                    .pop()
                    .unwrap_or_else(|| Err(ApiError::Internal(anyhow::anyhow!("no result"))))
            }
            Err(err) => err,
        };
        if let Some(reply) = settle(storage, prepared, err, attempt < UNIQUE_RACE_RETRIES).await {
            return reply;
        }
    }
}

/// The answer to a registration whose own transaction failed, or `None` to write it again.
async fn settle(
    storage: &Storage,
    prepared: &Prepared,
    err: BatchError,
    may_retry: bool,
) -> Option<Reply> {
    match err {
        BatchError::Db(sqlx::Error::Database(db)) if is_race(db.as_ref()) => {
            if let Some(key) = &prepared.idempotency_key {
                match by_idempotency_key(storage, prepared.user.id, key).await {
                    Ok(Some(number)) => return Some(Ok(Created::Existing(number))),
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
            }
            if may_retry {
                return None;
            }
            Some(Err(ApiError::Conflict(
                "the request collided with another registration of the same applicant or Idempotency-Key; send it again".into(),
            )))
        }
        err => Some(Err(err.into())),
    }
}

/// A failure another writer caused, which writing again resolves: a unique key taken by a
/// concurrent registration, or (PostgreSQL) a deadlock or serialization failure.
fn is_race(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.is_unique_violation() || matches!(db.code().as_deref(), Some("40P01" | "40001"))
}

/// The request an `Idempotency-Key` of this user created, if any.
pub(crate) async fn by_idempotency_key(
    storage: &Storage,
    user_id: i64,
    key: &str,
) -> Result<Option<String>, ApiError> {
    // The reader sees every committed registration (WAL), and keeps the SQLite writer free.
    Ok(sqlx::query_scalar(
        "SELECT number FROM requests WHERE created_by = $1 AND idempotency_key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(storage.reader())
    .await?)
}

#[derive(Debug, thiserror::Error)]
enum BatchError {
    #[error("{0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Api(#[from] ApiError),
}

impl From<BatchError> for ApiError {
    fn from(err: BatchError) -> Self {
        match err {
            BatchError::Db(e) => e.into(),
            BatchError::Api(e) => e,
        }
    }
}

/// What the batch knows of a phone's applicant.
struct Known {
    /// Stored before this batch: `Ok(id)`; new in this batch: `Err(index in fresh)`.
    at: Result<i64, usize>,
    name: String,
    address: String,
    no_survey: bool,
    changed: bool,
}

/// A new applicant of this batch (its id is allocated later).
struct NewApplicant {
    name: String,
    address: String,
    no_survey: bool,
    phone: Option<String>,
}

/// The batch's reads, done before anything is written: which units exist, who the phones
/// belong to.
struct Plan {
    /// Registrations that go on (the others have their answer already).
    live: Vec<usize>,
    fresh: Vec<NewApplicant>,
    /// Stored applicants whose name, address or consent this batch changes.
    updates: Vec<(i64, String, String, bool)>,
    /// Per registration: the applicant, stored (`Ok(id)`) or new (`Err(index in fresh)`).
    applicant_of: HashMap<usize, Result<i64, usize>>,
}

/// `column` is one of the strings of the JSON array parameter `$1`: the statement text stays the
/// same whatever the batch holds, so it is prepared once per connection. On PostgreSQL the list
/// becomes an array (`= ANY`), which the planner looks up in the column's index; `IN (SELECT …)`
/// over a set-returning function would be a hash join over the whole table.
fn in_json_list(backend: Backend, column: &str) -> String {
    match backend {
        Backend::Sqlite => format!("{column} IN (SELECT value FROM json_each($1))"),
        Backend::Postgres => {
            format!("{column} = ANY (ARRAY(SELECT json_array_elements_text($1::json)))")
        }
    }
}

/// The registrations of the batch whose executor units all exist (by index); each of the others
/// gets its 422 in `results`. Only codes not seen before are looked up.
async fn check_units(
    backend: Backend,
    conn: &mut AnyConnection,
    ctx: &BatchContext,
    batch: &[&Prepared],
    results: &mut [Option<Reply>],
) -> Result<Vec<usize>, BatchError> {
    let unseen: Vec<&str> = {
        let known = ctx
            .known_units
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        batch
            .iter()
            .flat_map(|p| p.units.iter().map(ExecutorCode::as_str))
            .filter(|u| !known.contains(*u))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let found: Vec<String> = if unseen.is_empty() {
        Vec::new()
    } else {
        sqlx::query_scalar(&format!(
            "SELECT code FROM executors WHERE {}",
            in_json_list(backend, "code")
        ))
        .bind(json_param(&unseen)?)
        .fetch_all(&mut *conn)
        .await?
    };
    let mut known = ctx
        .known_units
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    known.extend(found);
    for (i, p) in batch.iter().enumerate() {
        if let Some(unknown) = p.units.iter().find(|u| !known.contains(u.as_str())) {
            results[i] = Some(Err(ApiError::Unprocessable(format!(
                "unknown executor unit `{unknown}`: name a unit from the executors list (GET /api/v1/classifier/items/{{code}} shows an item's units)"
            ))));
        }
    }
    Ok((0..batch.len()).filter(|i| results[*i].is_none()).collect())
}

/// The distinct phones (E.164) of the registrations that go on.
fn batch_phones<'a>(batch: &[&'a Prepared], live: &[usize]) -> Vec<&'a str> {
    live.iter()
        .filter_map(|i| batch[*i].applicant.as_ref()?.phone.as_ref())
        .map(PhoneNumber::as_e164)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A stored applicant found by one of the batch's phones.
struct KnownPhone {
    e164: String,
    applicant_id: i64,
    name: String,
    address: String,
    no_survey: bool,
}

/// SQLite: the stored applicants of `phones`.
async fn known_phones(
    backend: Backend,
    conn: &mut AnyConnection,
    phones: &[&str],
) -> Result<Vec<KnownPhone>, sqlx::Error> {
    let rows: Vec<(String, i64, String, String, i64)> = sqlx::query_as(&format!(
        "SELECT p.e164, a.id, a.name, a.address, a.no_survey FROM applicant_phones p \
         JOIN applicants a ON a.id = p.applicant_id WHERE {}",
        in_json_list(backend, "p.e164")
    ))
    .bind(json_param(phones)?)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(e164, applicant_id, name, address, no_survey)| KnownPhone {
                e164,
                applicant_id,
                name,
                address,
                no_survey: no_survey != 0,
            },
        )
        .collect())
}

/// Decide each registration's applicant, as if the requests were written one after another: a
/// phone in any format is one applicant; what a request tells about them (name, address, "do not
/// call") fills in; an empty field keeps what we had.
fn plan(batch: &[&Prepared], live: Vec<usize>, known: Vec<KnownPhone>) -> Plan {
    let mut by_phone: HashMap<String, Known> = known
        .into_iter()
        .map(|k| {
            let known = Known {
                at: Ok(k.applicant_id),
                name: k.name,
                address: k.address,
                no_survey: k.no_survey,
                changed: false,
            };
            (k.e164, known)
        })
        .collect();

    let mut fresh: Vec<NewApplicant> = Vec::new();
    let mut applicant_of = HashMap::new();
    for &i in &live {
        let Some(a) = &batch[i].applicant else {
            continue;
        };
        let phone = a.phone.as_ref().map(PhoneNumber::as_e164);
        let known = phone.and_then(|e164| by_phone.get_mut(e164));
        let at = match known {
            Some(known) => {
                if !a.name.is_empty() && a.name != known.name {
                    known.name.clone_from(&a.name);
                    known.changed = true;
                }
                if !a.address.is_empty() && a.address != known.address {
                    known.address.clone_from(&a.address);
                    known.changed = true;
                }
                if a.no_survey && !known.no_survey {
                    known.no_survey = true;
                    known.changed = true;
                }
                if let Err(k) = known.at {
                    if let Some(new) = fresh.get_mut(k) {
                        new.name.clone_from(&known.name);
                        new.address.clone_from(&known.address);
                        new.no_survey = known.no_survey;
                    }
                }
                known.at
            }
            None => {
                fresh.push(NewApplicant {
                    name: a.name.clone(),
                    address: a.address.clone(),
                    no_survey: a.no_survey,
                    phone: phone.map(str::to_owned),
                });
                let at = Err(fresh.len() - 1);
                if let Some(e164) = phone {
                    by_phone.insert(
                        e164.to_owned(),
                        Known {
                            at,
                            name: a.name.clone(),
                            address: a.address.clone(),
                            no_survey: a.no_survey,
                            changed: false,
                        },
                    );
                }
                at
            }
        };
        applicant_of.insert(i, at);
    }
    let updates = by_phone
        .into_values()
        .filter(|k| k.changed)
        .filter_map(|k| Some((k.at.ok()?, k.name, k.address, k.no_survey)))
        .collect();
    Plan {
        live,
        fresh,
        updates,
        applicant_of,
    }
}

/// Ids and numbers for `n` registrations and `applicants` new applicants.
struct Allocation {
    applicant_ids: Vec<i64>,
    request_ids: Vec<i64>,
    /// Request sequence numbers per year, in registration order.
    numbers: HashMap<i64, std::vec::IntoIter<i64>>,
}

/// SQLite: ids continue after both the largest id and AUTOINCREMENT's high-water mark (never
/// reused); numbers from the year's counter row. Inside the write transaction, which holds the
/// database's write lock from its first write.
async fn allocate_sqlite(
    tx: &mut AnyConnection,
    applicants: usize,
    per_year: &[(i64, usize)],
) -> Result<Allocation, sqlx::Error> {
    let (last_applicant, last_request): (i64, i64) = sqlx::query_as(
        "SELECT MAX(COALESCE((SELECT MAX(id) FROM applicants), 0), \
         COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'applicants'), 0)), \
         MAX(COALESCE((SELECT MAX(id) FROM requests), 0), \
         COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'requests'), 0))",
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut numbers = HashMap::new();
    let mut total = 0;
    for &(year, n) in per_year {
        let n64 = i64::try_from(n).unwrap_or(i64::MAX);
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO request_numbers (year, last) VALUES ($1, $2) \
             ON CONFLICT (year) DO UPDATE SET last = request_numbers.last + $3 RETURNING last",
        )
        .bind(year)
        .bind(n64)
        .bind(n64)
        .fetch_one(&mut *tx)
        .await?;
        numbers.insert(
            year,
            (last - n64 + 1..=last).collect::<Vec<_>>().into_iter(),
        );
        total += n64;
    }
    let a = i64::try_from(applicants).unwrap_or(i64::MAX);
    Ok(Allocation {
        applicant_ids: (last_applicant + 1..=last_applicant + a).collect(),
        request_ids: (last_request + 1..=last_request + total).collect(),
        numbers,
    })
}

/// PostgreSQL, in **one** round trip: the stored applicants of `phones`, and ids from the
/// identity sequences and numbers from each year's sequence (applicant ids are taken one per
/// request; unused ones are gaps). The two reads are independent, so they share a statement.
async fn look_up_and_allocate_postgres(
    storage: &Storage,
    conn: &mut AnyConnection,
    phones: &[&str],
    per_year: &[(i64, usize)],
) -> Result<(Vec<KnownPhone>, Allocation), BatchError> {
    // Phone rows carry `e164`; allocation rows carry NULL there and their year. `year` is our
    // own integer, never client text; the statement is the same for every batch of a year.
    let mut sql = format!(
        "SELECT p.e164, 0::bigint, a.id, a.no_survey, 0::bigint, a.name, a.address \
         FROM applicant_phones p JOIN applicants a ON a.id = p.applicant_id WHERE {}",
        in_json_list(Backend::Postgres, "p.e164")
    );
    for (k, (year, _)) in per_year.iter().enumerate() {
        sql.push_str(&format!(
            " UNION ALL SELECT NULL::text, {year}::bigint, \
             nextval((SELECT pg_get_serial_sequence('applicants', 'id'))), \
             nextval((SELECT pg_get_serial_sequence('requests', 'id'))), \
             nextval('request_number_{year}'), '', '' FROM generate_series(1, ${})",
            k + 2
        ));
    }
    type AllocRow = (Option<String>, i64, i64, i64, i64, String, String);
    let phones = json_param(phones)?;
    let mut created = false;
    let rows = loop {
        let mut query = sqlx::query_as::<_, AllocRow>(&sql).bind(phones.clone());
        for &(_, n) in per_year {
            query = query.bind(i64::try_from(n).unwrap_or(i64::MAX));
        }
        match query.fetch_all(&mut *conn).await {
            Ok(rows) => break rows,
            // The first registration of a year: its number sequence does not exist yet.
            Err(sqlx::Error::Database(db)) if !created && db.code().as_deref() == Some("42P01") => {
                for &(year, _) in per_year {
                    super::create_number_sequence(storage, year).await?;
                }
                created = true;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let mut known = Vec::new();
    let mut allocation = Allocation {
        applicant_ids: Vec::new(),
        request_ids: Vec::new(),
        numbers: HashMap::new(),
    };
    let mut numbers: HashMap<i64, Vec<i64>> = HashMap::new();
    for (e164, year, a, b, c, name, address) in rows {
        match e164 {
            Some(e164) => known.push(KnownPhone {
                e164,
                applicant_id: a,
                name,
                address,
                no_survey: b != 0,
            }),
            None => {
                allocation.applicant_ids.push(a);
                allocation.request_ids.push(b);
                numbers.entry(year).or_default().push(c);
            }
        }
    }
    // Registration order follows the sequences' order.
    allocation.applicant_ids.sort_unstable();
    allocation.request_ids.sort_unstable();
    for (year, mut list) in numbers {
        list.sort_unstable();
        allocation.numbers.insert(year, list.into_iter());
    }
    Ok((known, allocation))
}

/// One request row ready to insert, with what its insert needs besides the row.
struct RequestInsert<'a> {
    index: usize,
    prepared: &'a Prepared,
    row: Row,
}

const REQUEST_WIDTH: usize = 22;

fn requests_sql(st: &mut Statement, rows: &[RequestInsert<'_>]) -> String {
    let values: Vec<String> = rows
        .iter()
        .map(|w| {
            let (p, r) = (w.prepared, &w.row);
            st.row([
                r.id.into(),
                r.number.as_str().into(),
                r.channel.as_str().into(),
                r.applicant_id.into(),
                r.address.as_str().into(),
                r.description.as_str().into(),
                r.classifier_code.as_str().into(),
                r.classifier_revision.into(),
                r.classifier_title.as_str().into(),
                p.section.as_str().into(),
                p.area.as_str().into(),
                r.request_type.as_str().into(),
                r.term.as_str().into(),
                r.call_id.as_deref().into(),
                r.status.as_str().into(),
                r.version.into(),
                r.registered_at.into(),
                r.deadline.into(),
                p.user.id.into(),
                p.idempotency_key.as_deref().into(),
                r.state_json.as_str().into(),
                to_db_time(p.now).into(),
            ])
        })
        .collect();
    format!(
        "INSERT INTO requests (id, number, channel, applicant_id, address, description, classifier_code, \
         classifier_revision, classifier_title, section, area, request_type, term, call_id, status, version, \
         registered_at, deadline, created_by, idempotency_key, state_json, updated_at) VALUES {}",
        values.join(", ")
    )
}

/// A new applicant with its id.
struct ApplicantInsert<'a> {
    id: i64,
    new: &'a NewApplicant,
    at: i64,
}

const APPLICANT_WIDTH: usize = 6;

fn applicants_sql(st: &mut Statement, rows: &[ApplicantInsert<'_>]) -> String {
    let values: Vec<String> = rows
        .iter()
        .map(|a| {
            st.row([
                a.id.into(),
                a.new.name.as_str().into(),
                a.new.address.as_str().into(),
                i64::from(a.new.no_survey).into(),
                a.at.into(),
                a.at.into(),
            ])
        })
        .collect();
    format!(
        "INSERT INTO applicants (id, name, address, no_survey, created_at, updated_at) VALUES {}",
        values.join(", ")
    )
}

fn phones_sql(st: &mut Statement, rows: &[(&str, i64)]) -> String {
    let values: Vec<String> = rows
        .iter()
        .map(|(e164, id)| st.row([(*e164).into(), (*id).into()]))
        .collect();
    format!(
        "INSERT INTO applicant_phones (e164, applicant_id) VALUES {}",
        values.join(", ")
    )
}

fn update_sql(
    st: &mut Statement,
    (id, name, address, no_survey): &(i64, String, String, bool),
    at: i64,
) -> String {
    format!(
        "UPDATE applicants SET name = {}, address = {}, no_survey = {}, updated_at = {} WHERE id = {}",
        st.param(name.as_str()),
        st.param(address.as_str()),
        st.param(i64::from(*no_survey)),
        st.param(at),
        st.param(*id)
    )
}

/// Everything a batch writes.
struct BatchRows<'a> {
    applicants: Vec<ApplicantInsert<'a>>,
    phones: Vec<(&'a str, i64)>,
    updates: &'a [(i64, String, String, bool)],
    updated_at: i64,
    requests: Vec<RequestInsert<'a>>,
    audit: Vec<AuditInsert>,
    executors: Vec<ExecutorInsert>,
    notices: Vec<NoticeInsert>,
}

/// SQLite: one multi-row statement per table (and chunk) inside the write transaction.
async fn persist_sqlite(tx: &mut AnyConnection, rows: &BatchRows<'_>) -> Result<(), sqlx::Error> {
    rows::insert_chunked(tx, &rows.applicants, APPLICANT_WIDTH, applicants_sql).await?;
    rows::insert_chunked(tx, &rows.phones, 2, phones_sql).await?;
    for update in rows.updates {
        let mut st = Statement::default();
        let sql = update_sql(&mut st, update, rows.updated_at);
        st.execute(&sql, tx).await?;
    }
    rows::insert_chunked(tx, &rows.requests, REQUEST_WIDTH, requests_sql).await?;
    rows::insert_chunked(tx, &rows.audit, rows::AUDIT_WIDTH, rows::audit_sql).await?;
    rows::insert_chunked(
        tx,
        &rows.executors,
        rows::EXECUTOR_WIDTH,
        rows::executors_sql,
    )
    .await?;
    rows::insert_chunked(tx, &rows.notices, rows::NOTICE_WIDTH, rows::notices_sql).await
}

/// PostgreSQL: every insert and update of the batch as a data-modifying CTE of **one**
/// statement — one round trip, atomic on its own (foreign keys are checked at its end, when all
/// rows are in). Each table's rows travel as one JSON parameter that `json_to_recordset` unpacks,
/// so the statement text never changes: it is parsed and planned once per connection instead of
/// once per batch shape, and binds 7 parameters instead of ~50 per registration.
const PERSIST_POSTGRES: &str = "WITH \
    a AS (INSERT INTO applicants (id, name, address, no_survey, created_at, updated_at) \
        SELECT id, name, address, no_survey, at, at FROM json_to_recordset($1::json) \
        AS x(id bigint, name text, address text, no_survey bigint, at bigint)), \
    p AS (INSERT INTO applicant_phones (e164, applicant_id) \
        SELECT e164, applicant_id FROM json_to_recordset($2::json) \
        AS x(e164 text, applicant_id bigint)), \
    u AS (UPDATE applicants t SET name = x.name, address = x.address, \
        no_survey = x.no_survey, updated_at = x.at FROM json_to_recordset($3::json) \
        AS x(id bigint, name text, address text, no_survey bigint, at bigint) WHERE t.id = x.id), \
    r AS (INSERT INTO requests (id, number, channel, applicant_id, address, description, \
        classifier_code, classifier_revision, classifier_title, section, area, request_type, term, \
        call_id, status, version, registered_at, deadline, created_by, idempotency_key, \
        state_json, updated_at) \
        SELECT id, number, channel, applicant_id, address, description, classifier_code, \
        classifier_revision, classifier_title, section, area, request_type, term, call_id, status, \
        version, registered_at, deadline, created_by, idempotency_key, state_json, updated_at \
        FROM json_to_recordset($4::json) AS x(id bigint, number text, channel text, \
        applicant_id bigint, address text, description text, classifier_code text, \
        classifier_revision bigint, classifier_title text, section text, area text, \
        request_type text, term text, call_id text, status text, version bigint, \
        registered_at bigint, deadline bigint, created_by bigint, idempotency_key text, \
        state_json text, updated_at bigint)), \
    l AS (INSERT INTO audit_log (at, actor_id, actor, action, entity, entity_id, before_json, \
        after_json, comment) \
        SELECT at, actor_id, actor, action, 'request', entity_id, before, after, comment \
        FROM json_to_recordset($5::json) AS x(at bigint, actor_id bigint, actor text, \
        action text, entity_id text, before text, after text, comment text)), \
    e AS (INSERT INTO request_executors (request_id, executor_code, status) \
        SELECT request_id, unit, status FROM json_to_recordset($6::json) \
        AS x(request_id bigint, unit text, status text)), \
    n AS (INSERT INTO notices (request_id, audience, unit, kind, visible_from, review_due, \
        created_at) \
        SELECT request_id, audience, unit, kind, visible_from, review_due, created_at \
        FROM json_to_recordset($7::json) AS x(request_id bigint, audience text, unit text, \
        kind text, visible_from bigint, review_due bigint, created_at bigint)) \
    SELECT 1";

/// A new applicant as [`PERSIST_POSTGRES`] reads it.
#[derive(serde::Serialize)]
struct ApplicantJson<'a> {
    id: i64,
    name: &'a str,
    address: &'a str,
    no_survey: i64,
    at: i64,
}

/// A phone of a new applicant as [`PERSIST_POSTGRES`] reads it.
#[derive(serde::Serialize)]
struct PhoneJson<'a> {
    e164: &'a str,
    applicant_id: i64,
}

/// A request row as [`PERSIST_POSTGRES`] reads it.
#[derive(serde::Serialize)]
struct RequestJson<'a> {
    id: i64,
    number: &'a str,
    channel: &'a str,
    applicant_id: Option<i64>,
    address: &'a str,
    description: &'a str,
    classifier_code: &'a str,
    classifier_revision: i64,
    classifier_title: &'a str,
    section: &'a str,
    area: &'a str,
    request_type: &'a str,
    term: &'a str,
    call_id: Option<&'a str>,
    status: &'a str,
    version: i64,
    registered_at: i64,
    deadline: i64,
    created_by: i64,
    idempotency_key: Option<&'a str>,
    state_json: &'a str,
    updated_at: i64,
}

fn json_param<T: serde::Serialize>(rows: &[T]) -> Result<String, sqlx::Error> {
    serde_json::to_string(rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

async fn persist_postgres(
    conn: &mut AnyConnection,
    rows: &BatchRows<'_>,
) -> Result<(), sqlx::Error> {
    let applicants: Vec<ApplicantJson<'_>> = rows
        .applicants
        .iter()
        .map(|a| ApplicantJson {
            id: a.id,
            name: &a.new.name,
            address: &a.new.address,
            no_survey: i64::from(a.new.no_survey),
            at: a.at,
        })
        .collect();
    let phones: Vec<PhoneJson<'_>> = rows
        .phones
        .iter()
        .map(|(e164, applicant_id)| PhoneJson {
            e164,
            applicant_id: *applicant_id,
        })
        .collect();
    let updates: Vec<ApplicantJson<'_>> = rows
        .updates
        .iter()
        .map(|(id, name, address, no_survey)| ApplicantJson {
            id: *id,
            name,
            address,
            no_survey: i64::from(*no_survey),
            at: rows.updated_at,
        })
        .collect();
    let requests: Vec<RequestJson<'_>> = rows
        .requests
        .iter()
        .map(|w| {
            let (p, r) = (w.prepared, &w.row);
            RequestJson {
                id: r.id,
                number: &r.number,
                channel: &r.channel,
                applicant_id: r.applicant_id,
                address: &r.address,
                description: &r.description,
                classifier_code: &r.classifier_code,
                classifier_revision: r.classifier_revision,
                classifier_title: &r.classifier_title,
                section: &p.section,
                area: &p.area,
                request_type: &r.request_type,
                term: &r.term,
                call_id: r.call_id.as_deref(),
                status: &r.status,
                version: r.version,
                registered_at: r.registered_at,
                deadline: r.deadline,
                created_by: p.user.id,
                idempotency_key: p.idempotency_key.as_deref(),
                state_json: &r.state_json,
                updated_at: to_db_time(p.now),
            }
        })
        .collect();
    sqlx::query(PERSIST_POSTGRES)
        .bind(json_param(&applicants)?)
        .bind(json_param(&phones)?)
        .bind(json_param(&updates)?)
        .bind(json_param(&requests)?)
        .bind(json_param(&rows.audit)?)
        .bind(json_param(&rows.executors)?)
        .bind(json_param(&rows.notices)?)
        .execute(conn)
        .await?;
    Ok(())
}

/// Write one batch. The outer error means nothing was written; an inner error is one
/// registration's own (an unknown executor unit) and does not touch the others.
async fn write(
    storage: &Storage,
    ctx: &BatchContext,
    batch: &[&Prepared],
) -> Result<Vec<Reply>, BatchError> {
    let backend = storage.backend();
    let mut results: Vec<Option<Reply>> = batch.iter().map(|_| None).collect();
    match backend {
        Backend::Sqlite => {
            let mut tx = storage.writer().begin().await?;
            let live = check_units(backend, &mut tx, ctx, batch, &mut results).await?;
            let known = known_phones(backend, &mut tx, &batch_phones(batch, &live)).await?;
            let plan = plan(batch, live, known);
            let per_year = per_year(batch, &plan.live);
            let allocation = allocate_sqlite(&mut tx, plan.fresh.len(), &per_year).await?;
            let written = build(batch, &plan, allocation, &mut results)?;
            persist_sqlite(&mut tx, &written).await?;
            tx.commit().await?;
            finish(&ctx.metrics, written, results)
        }
        Backend::Postgres => {
            // Round trips: the phones and the ids in one, the write in another (plus the units
            // when one is new). No transaction: the write is one statement.
            let mut conn = storage.writer().acquire().await?;
            let live = check_units(backend, &mut conn, ctx, batch, &mut results).await?;
            let per_year = per_year(batch, &live);
            let phones = batch_phones(batch, &live);
            let (known, allocation) =
                look_up_and_allocate_postgres(storage, &mut conn, &phones, &per_year).await?;
            let plan = plan(batch, live, known);
            let written = build(batch, &plan, allocation, &mut results)?;
            persist_postgres(&mut conn, &written).await?;
            finish(&ctx.metrics, written, results)
        }
    }
}

/// Registrations per year (the number sequences are per year), in a stable order.
fn per_year(batch: &[&Prepared], live: &[usize]) -> Vec<(i64, usize)> {
    let mut counts: std::collections::BTreeMap<i64, usize> = std::collections::BTreeMap::new();
    for &i in live {
        *counts.entry(batch[i].year).or_default() += 1;
    }
    counts.into_iter().collect()
}

/// Apply the workflow to each registration and lay out every row the batch writes.
fn build<'a>(
    batch: &[&'a Prepared],
    plan: &'a Plan,
    mut allocation: Allocation,
    results: &mut [Option<Reply>],
) -> Result<BatchRows<'a>, BatchError> {
    let updated_at = plan
        .live
        .first()
        .map(|i| to_db_time(batch[*i].now))
        .unwrap_or_default();
    let applicants: Vec<ApplicantInsert<'a>> = plan
        .fresh
        .iter()
        .zip(allocation.applicant_ids.iter().copied())
        .map(|(new, id)| ApplicantInsert {
            id,
            new,
            at: updated_at,
        })
        .collect();
    if applicants.len() != plan.fresh.len() {
        return Err(ApiError::Internal(anyhow::anyhow!("too few applicant ids")).into());
    }
    let phones = applicants
        .iter()
        .filter_map(|a| Some((a.new.phone.as_deref()?, a.id)))
        .collect();
    let mut rows = BatchRows {
        applicants,
        phones,
        updates: &plan.updates,
        updated_at,
        requests: Vec::with_capacity(plan.live.len()),
        audit: Vec::new(),
        executors: Vec::new(),
        notices: Vec::new(),
    };
    let mut request_ids = allocation.request_ids.into_iter();
    for &i in &plan.live {
        let p = batch[i];
        let (id, seq) = match (
            request_ids.next(),
            allocation.numbers.get_mut(&p.year).and_then(Iterator::next),
        ) {
            (Some(id), Some(seq)) => (id, seq),
            _ => return Err(ApiError::Internal(anyhow::anyhow!("too few request ids")).into()),
        };
        let applicant_id = match plan.applicant_of.get(&i) {
            Some(Ok(id)) => Some(*id),
            Some(Err(k)) => Some(rows.applicants.get(*k).map(|a| a.id).ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("applicant {k} of the batch"))
            })?),
            None => None,
        };
        let number = RequestNumber::new(
            u16::try_from(p.year)
                .map_err(|_| ApiError::Internal(anyhow::anyhow!("year {} out of range", p.year)))?,
            u32::try_from(seq)
                .map_err(|_| ApiError::Internal(anyhow::anyhow!("sequence {seq} out of range")))?,
        )
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("request number: {e}")))?;
        // The workflow: registered → sent to the executors.
        let registered = RequestState::registered(number, p.now, p.deadline);
        let transition = match workflow::apply(
            &registered,
            Action::AssignExecutors {
                units: p.units.clone(),
                new_deadline: None,
            },
            &actor_of(&p.user),
            p.now,
        ) {
            Ok(t) => t,
            Err(e) => {
                results[i] = Some(Err(super::workflow_error(e)));
                continue;
            }
        };
        let state = &transition.state;
        let first = super::AuditRow {
            action: "request.create".into(),
            before: None,
            after: Some(p.created_details.clone()),
            comment: None,
            at: p.now,
        };
        let written = transition_rows(id, &number, &p.user, &transition, Some(first), p.now)?;
        rows.audit.extend(written.audit);
        rows.executors.extend(written.executors);
        rows.notices.extend(written.notices);
        rows.requests.push(RequestInsert {
            index: i,
            prepared: p,
            row: Row {
                id,
                number: number.to_string(),
                version: state.version,
                status: state.status.as_str().to_owned(),
                channel: p.channel.as_str().to_owned(),
                applicant_id,
                address: p.address.clone(),
                description: p.description.clone(),
                classifier_code: p.classifier_code.clone(),
                classifier_revision: p.classifier_revision,
                classifier_title: p.classifier_title.clone(),
                request_type: p.request_type.to_owned(),
                term: p.term.clone(),
                call_id: p.call_id.clone(),
                registered_at: to_db_time(state.registered_at),
                deadline: to_db_time(state.deadline),
                original_deadline: None,
                additional_control: 0,
                long_term_until: None,
                rework_count: 0,
                extension_count: 0,
                closed_at: None,
                state_json: state_json(state)?,
            },
        });
    }
    Ok(rows)
}

/// The answers, once the batch is committed; the commit is counted here, the one place every
/// committed registration passes (batches, their retries one by one, key repeats).
fn finish(
    metrics: &MetricsRegistry,
    rows: BatchRows<'_>,
    mut results: Vec<Option<Reply>>,
) -> Result<Vec<Reply>, BatchError> {
    let m = &metrics.metrics;
    m.request_batches.inc();
    m.requests_registered
        .inc_by(u64::try_from(rows.requests.len()).unwrap_or(u64::MAX));
    for r in rows.requests {
        results[r.index] = Some(Ok(Created::New(Box::new(r.row))));
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ApiError::Internal(anyhow::anyhow!("unanswered")))))
        .collect())
}
