//! `GET /ws/executor`: the executors' online feed (Regulation 9.2).
//!
//! Authenticated like the API and the operator socket (session cookie or `Authorization: Bearer`);
//! executor users only, and they see only their own units. JSON text frames:
//! - on connect: `{"type":"snapshot","units":[…],"requests":[{"number","unit","status","deadline",
//!   "overdue"}…]}`: the open requests of the user's units;
//! - then, for every executor notice of those units (`new_assignment`, `rework`,
//!   `extension_accepted`, `extension_rejected`, `deadline_approaching`, `overdue`, …):
//!   `{"type":"notice","id":…,"kind":…,"unit":…,"at":…,"request":{"number","status","deadline"}}`.
//!
//! The socket polls `notices` once a second (a cursor on the notice id, read from a reader
//! connection): notices are written by the workflow and by the escalation job, possibly in another
//! daemon on the same database, so polling sees them all without a cross-process bus. A socket
//! that does not take a frame within [`WRITE_TIMEOUT`] is closed; on shutdown it gets a close
//! frame (1001, going away).

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use sqlx::Row;

use super::{ApiError, AppState};
use crate::auth::{AuthUser, Role};
use crate::escalation::OPEN_STATUSES;
use crate::storage::from_db_time;

/// How long one frame may take to reach a client before the socket is closed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the socket looks for new notices.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Most notices read per poll (the rest come in the next poll).
const BATCH: i64 = 500;

/// Opens the executor feed.
pub async fn executor_socket(
    State(state): State<AppState>,
    user: AuthUser,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    user.require(&[Role::Executor], "the executor feed")?;
    if user.executors.is_empty() {
        return Err(ApiError::Forbidden(format!(
            "user {} belongs to no executor unit, so there is nothing to show; add the user to a unit",
            user.login
        )));
    }
    Ok(upgrade.on_upgrade(move |socket| serve(socket, state, user)))
}

type Sink = SplitSink<WebSocket, Message>;

async fn send(sink: &mut Sink, frame: serde_json::Value) -> bool {
    matches!(
        tokio::time::timeout(
            WRITE_TIMEOUT,
            sink.send(Message::Text(frame.to_string().into()))
        )
        .await,
        Ok(Ok(()))
    )
}

async fn serve(socket: WebSocket, state: AppState, user: AuthUser) {
    let units: HashSet<String> = user.executors.iter().cloned().collect();
    tracing::info!(login = %user.login, units = ?units, "executor feed open");
    let (mut sink, mut stream) = socket.split();
    let shutdown = state.hub.shutdown().clone();
    // The cursor is taken before the snapshot, so nothing written meanwhile is missed.
    let mut cursor = match last_notice_id(&state).await {
        Ok(id) => id,
        Err(err) => {
            tracing::error!(error = %err, "executor feed: cannot read notices");
            return;
        }
    };
    match snapshot(&state, &units).await {
        Ok(frame) => {
            if !send(&mut sink, frame).await {
                return;
            }
        }
        Err(err) => {
            tracing::error!(error = %err, "executor feed: cannot build the snapshot");
            return;
        }
    }
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                let close = Message::Close(Some(CloseFrame {
                    code: axum::extract::ws::close_code::AWAY,
                    reason: "contactd is shutting down; reconnect shortly".into(),
                }));
                let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(close)).await;
                break;
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = poll.tick() => {
                match new_notices(&state, cursor).await {
                    Ok(notices) => {
                        let mut gone = false;
                        for (id, unit, frame) in notices {
                            cursor = id;
                            if unit.as_deref().is_some_and(|u| units.contains(u)) && !send(&mut sink, frame).await {
                                gone = true;
                                break;
                            }
                        }
                        if gone {
                            break;
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "executor feed: cannot read notices; retrying"),
                }
            }
        }
    }
    tracing::info!(login = %user.login, "executor feed closed");
}

async fn last_notice_id(state: &AppState) -> Result<i64, sqlx::Error> {
    let max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM notices")
        .fetch_one(state.storage.reader())
        .await?;
    Ok(max.unwrap_or(0))
}

async fn snapshot(
    state: &AppState,
    units: &HashSet<String>,
) -> Result<serde_json::Value, sqlx::Error> {
    let now = state.clock.now();
    let sql = format!(
        "SELECT e.executor_code, r.number, r.status, r.deadline FROM request_executors e \
         JOIN requests r ON r.id = e.request_id WHERE r.status IN {OPEN_STATUSES} \
         AND e.executor_code = $1 ORDER BY r.deadline LIMIT 5000"
    );
    let mut requests = Vec::new();
    let mut sorted: Vec<&String> = units.iter().collect();
    sorted.sort();
    for unit in &sorted {
        for row in sqlx::query(&sql)
            .bind(unit.as_str())
            .fetch_all(state.storage.reader())
            .await?
        {
            let deadline = from_db_time(row.try_get(3)?);
            requests.push(json!({
                "unit": row.try_get::<String, _>(0)?,
                "number": row.try_get::<String, _>(1)?,
                "status": row.try_get::<String, _>(2)?,
                "deadline": deadline,
                "overdue": deadline <= now,
            }));
        }
    }
    Ok(json!({"type": "snapshot", "units": sorted, "requests": requests}))
}

/// Executor notices after `after`, oldest first: (id, unit, frame).
async fn new_notices(
    state: &AppState,
    after: i64,
) -> Result<Vec<(i64, Option<String>, serde_json::Value)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT n.id, n.unit, n.kind, n.created_at, r.number, r.status, r.deadline FROM notices n \
         JOIN requests r ON r.id = n.request_id WHERE n.id > $1 AND n.audience = 'executor' \
         ORDER BY n.id LIMIT $2",
    )
    .bind(after)
    .bind(BATCH)
    .fetch_all(state.storage.reader())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get(0)?;
        let unit: Option<String> = row.try_get(1)?;
        let frame = json!({
            "type": "notice",
            "id": id,
            "kind": row.try_get::<String, _>(2)?,
            "unit": unit,
            "at": from_db_time(row.try_get(3)?),
            "request": {
                "number": row.try_get::<String, _>(4)?,
                "status": row.try_get::<String, _>(5)?,
                "deadline": from_db_time(row.try_get(6)?),
            },
        });
        out.push((id, unit, frame));
    }
    Ok(out)
}
