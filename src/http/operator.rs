//! `GET /ws/operator`: the operator console's push socket (contract in CONTRACTS.md).
//!
//! Authenticated like the API (session cookie or `Authorization: Bearer`); operators and
//! supervisors with a PBX extension only. JSON text frames: `snapshot` on connect (and again
//! after the socket fell behind), then `call.ringing`, `call.answered` and `call.ended` for the
//! calls at this extension. Every `call.ringing` sent is followed by a `call.ended` for the same
//! call, also across a resynchronisation. A socket that does not take a frame within
//! [`WRITE_TIMEOUT`] is closed; it never slows anyone else. On shutdown the socket gets a close
//! frame (1001, going away).
//!
//! A pop-up waits at most [`HISTORY_WAIT`] for the caller's history (normally looked up before
//! the phone rings, in well under a millisecond). A database that is slow or down does not hold
//! the pop-up back: it goes out with `"history": "pending"` and empty history members, and a
//! `call.history` frame brings the history once it is there (before the call's `call.ended`, or
//! never if the call ended first).

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::{ApiError, AppState};
use crate::auth::{AuthUser, Role};
use crate::hub::{ActiveCall, CallerHistory, EndInfo, Hub, PopupHistory, Push};
use crate::pbx::records::outcome_str;
use crate::storage::StorageError;

/// How long one frame may take to reach a client before the socket is closed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a pop-up waits for the caller's history before it goes out without it (the history
/// follows as `call.history`). The phone is ringing: the operator should see the call at once,
/// even when the database is slow or restarting.
pub const HISTORY_WAIT: Duration = Duration::from_millis(250);

/// A caller history still being looked up after its pop-up went out: (call id, the lookup).
type LateHistory =
    Pin<Box<dyn Future<Output = (String, Result<Arc<PopupHistory>, StorageError>)> + Send>>;

/// The history members of a pop-up sent without a history.
static NO_HISTORY: LazyLock<PopupHistory> =
    LazyLock::new(|| PopupHistory::new(CallerHistory::default()));

/// Opens the operator socket.
pub async fn operator_socket(
    State(state): State<AppState>,
    user: AuthUser,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    user.require(&[Role::Operator, Role::Supervisor], "the operator socket")?;
    let Some(extension) = user.extension.clone().filter(|e| !e.is_empty()) else {
        return Err(ApiError::Forbidden(format!(
            "user {} has no PBX extension, so no calls can be shown; give the user one (e.g. \
             `contactd user add … --extension 1001`)",
            user.login
        )));
    };
    Ok(upgrade.on_upgrade(move |socket| serve(socket, state, user, extension)))
}

/// Decrements the open-socket gauge however the socket ends.
struct SocketGauge(AppState);

impl Drop for SocketGauge {
    fn drop(&mut self) {
        self.0.metrics.metrics.operator_sockets.dec();
    }
}

/// Why a socket stopped.
enum Stop {
    /// The client went away or a write failed: nothing more to send.
    Gone,
    /// The daemon is shutting down: send a close frame.
    Shutdown,
}

struct Session {
    state: AppState,
    hub: Hub,
    extension: String,
    /// Calls this socket showed (ringing or in a snapshot) and has not yet ended.
    open: HashSet<String>,
}

async fn serve(socket: WebSocket, state: AppState, user: AuthUser, extension: String) {
    let hub = state.hub.clone();
    let _token = hub.socket_token();
    state.metrics.metrics.operator_sockets.inc();
    let _gauge = SocketGauge(state.clone());
    tracing::info!(login = %user.login, %extension, "operator socket open");
    let (mut sink, mut stream) = socket.split();
    let mut session = Session {
        state,
        hub: hub.clone(),
        extension,
        open: HashSet::new(),
    };
    // Histories of pop-ups that went out without them ([`HISTORY_WAIT`]). Beside the session,
    // not in it: the lookups are `Send` but not `Sync`.
    let mut late = FuturesUnordered::<LateHistory>::new();
    let mut sub = hub.subscribe(&session.extension);
    let mut stop = session.send_snapshot(&mut sink, &sub.snapshot).await.err();
    while stop.is_none() {
        tokio::select! {
            () = hub.shutdown().cancelled() => stop = Some(Stop::Shutdown),
            incoming = stream.next() => match incoming {
                // Pings are answered by the WebSocket layer; the console sends nothing else
                // we act on.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => stop = Some(Stop::Gone),
                Some(Ok(_)) => {}
            },
            received = sub.events.recv() => match received {
                Ok(push) => {
                    if let Err(s) = session.deliver(&mut sink, &push, &mut late).await {
                        stop = Some(s);
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    session.state.metrics.metrics.operator_resyncs.inc();
                    tracing::warn!(extension = %session.extension, missed,
                        "operator socket fell behind; sending a fresh snapshot");
                    sub = hub.subscribe(&session.extension);
                    if let Err(s) = session.resync(&mut sink, &sub.snapshot).await {
                        stop = Some(s);
                    }
                }
                Err(RecvError::Closed) => stop = Some(Stop::Shutdown),
            },
            Some((call_id, history)) = late.next(), if !late.is_empty() => {
                if let Err(s) = session.late_history(&mut sink, &call_id, history).await {
                    stop = Some(s);
                }
            }
        }
    }
    if let Some(Stop::Shutdown) = stop {
        let close = Message::Close(Some(CloseFrame {
            code: axum::extract::ws::close_code::AWAY,
            reason: "contactd is shutting down; reconnect shortly".into(),
        }));
        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(close)).await;
    }
    tracing::info!(login = %user.login, extension = %session.extension, "operator socket closed");
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

impl Session {
    async fn send(&self, sink: &mut Sink, frame: serde_json::Value) -> Result<(), Stop> {
        self.send_text(sink, frame.to_string()).await
    }

    async fn send_text(&self, sink: &mut Sink, text: String) -> Result<(), Stop> {
        match tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Text(text.into()))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::Gone),
            Err(_) => {
                tracing::warn!(extension = %self.extension,
                    "operator socket does not take frames; closing it");
                Err(Stop::Gone)
            }
        }
    }

    async fn send_snapshot(&mut self, sink: &mut Sink, calls: &[ActiveCall]) -> Result<(), Stop> {
        self.open = calls.iter().map(|c| c.call_id.clone()).collect();
        self.send(
            sink,
            json!({
                "type": "snapshot",
                "operator_extension": self.extension,
                "calls": calls,
            }),
        )
        .await
    }

    /// After falling behind: end the calls that ended meanwhile, then a fresh snapshot.
    async fn resync(&mut self, sink: &mut Sink, calls: &[ActiveCall]) -> Result<(), Stop> {
        let still: HashSet<&str> = calls.iter().map(|c| c.call_id.as_str()).collect();
        let mut gone: Vec<String> = self
            .open
            .iter()
            .filter(|id| !still.contains(id.as_str()))
            .cloned()
            .collect();
        gone.sort();
        for call_id in gone {
            // Remembered ends give the real outcome; a call that ended too long ago to be
            // remembered is reported as failed, flagged as inferred.
            let end = self
                .hub
                .recent_end(&call_id, &self.extension)
                .unwrap_or(EndInfo {
                    outcome: contactd_ari::Outcome::Failed,
                    duration_s: None,
                    reconciled: true,
                });
            self.send(sink, ended_frame(&call_id, &end)).await?;
        }
        self.send_snapshot(sink, calls).await
    }

    async fn deliver(
        &mut self,
        sink: &mut Sink,
        push: &Arc<Push>,
        late: &mut FuturesUnordered<LateHistory>,
    ) -> Result<(), Stop> {
        if !push.concerns(&self.extension) {
            return Ok(());
        }
        match push.as_ref() {
            Push::Ringing(call) => {
                if !self.open.insert(call.call_id.clone()) {
                    return Ok(()); // already shown (in the snapshot)
                }
                // The one storage lookup on the call path; it delays this socket only, and by
                // at most HISTORY_WAIT. Usually already looked up when the call arrived
                // (`Hub::prefetch`).
                let (hub, storage) = (self.hub.clone(), self.state.storage.clone());
                let (call_id, caller) = (call.call_id.clone(), call.caller_number.clone());
                // One future for both cases: awaited here for HISTORY_WAIT, else left to finish
                // beside the socket.
                let mut lookup: LateHistory =
                    Box::pin(async move { (call_id, hub.history(&storage, &caller).await) });
                match tokio::time::timeout(HISTORY_WAIT, &mut lookup).await {
                    Ok((_, Ok(history))) => {
                        self.send_text(sink, ringing_frame(call, HistoryState::Ready, &history))
                            .await
                    }
                    Ok((_, Err(err))) => {
                        tracing::warn!(call_id = %call.call_id, error = %err,
                            "caller history unavailable; the pop-up shows the number only");
                        let frame = ringing_frame(call, HistoryState::Unavailable, &NO_HISTORY);
                        self.send_text(sink, frame).await
                    }
                    Err(_) => {
                        self.state.metrics.metrics.popup_history_late.inc();
                        tracing::warn!(call_id = %call.call_id, wait_ms = HISTORY_WAIT.as_millis(),
                            "caller history is slow; the pop-up goes out first, the history follows");
                        late.push(lookup);
                        let frame = ringing_frame(call, HistoryState::Pending, &NO_HISTORY);
                        self.send_text(sink, frame).await
                    }
                }
            }
            Push::Answered {
                call_id,
                answered_by,
                ..
            } => {
                if !self.open.contains(call_id) {
                    return Ok(());
                }
                self.send(
                    sink,
                    json!({
                        "type": "call.answered",
                        "call_id": call_id,
                        "answered_by": answered_by,
                    }),
                )
                .await
            }
            Push::Ended { call_id, end, .. } => {
                if !self.open.remove(call_id) {
                    return Ok(());
                }
                self.send(sink, ended_frame(call_id, end)).await
            }
        }
    }

    /// A history that came after its pop-up: `call.history`, if the call is still shown.
    async fn late_history(
        &mut self,
        sink: &mut Sink,
        call_id: &str,
        history: Result<Arc<PopupHistory>, StorageError>,
    ) -> Result<(), Stop> {
        if !self.open.contains(call_id) {
            return Ok(()); // ended meanwhile: the console has closed the pop-up
        }
        let frame = match history {
            Ok(history) => history_frame(call_id, HistoryState::Ready, &history),
            Err(err) => {
                tracing::warn!(%call_id, error = %err,
                    "caller history unavailable; the pop-up keeps the number only");
                history_frame(call_id, HistoryState::Unavailable, &NO_HISTORY)
            }
        };
        self.send_text(sink, frame).await
    }
}

/// Whether a frame's history members hold the caller's history (`history` member).
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum HistoryState {
    /// Looked up: the members are the caller's history.
    Ready,
    /// Not there yet: the members are empty and a `call.history` frame follows.
    Pending,
    /// The lookup failed: the members are empty; the operator has the number only.
    Unavailable,
}

/// The `call.ringing` frame's own members, before the caller's history.
#[derive(serde::Serialize)]
struct RingingHead<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    call_id: &'a str,
    direction: contactd_ari::tracker::CallDirection,
    caller_number: &'a contactd_domain::CallerNumber,
    caller_name: &'a str,
    dialed_number: &'a str,
    operator_extension: &'a str,
    history: HistoryState,
}

/// `{"type":"call.history","call_id":…,"history":…,"applicant":…,"open_requests":[…],…}`.
#[derive(serde::Serialize)]
struct HistoryHead<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    call_id: &'a str,
    history: HistoryState,
}

/// `head`'s JSON object with the rendered history members spliced in before its closing brace.
fn with_history<T: serde::Serialize>(head: &T, history: &PopupHistory) -> String {
    // Serializing a struct of strings cannot fail.
    let mut text = serde_json::to_string(head).unwrap_or_default();
    if text.ends_with('}') && !history.fields.is_empty() {
        text.pop();
        text.push(',');
        text.push_str(&history.fields);
        text.push('}');
    }
    text
}

fn history_frame(call_id: &str, state: HistoryState, history: &PopupHistory) -> String {
    let head = HistoryHead {
        kind: "call.history",
        call_id,
        history: state,
    };
    with_history(&head, history)
}

/// `{"type":"call.ringing",…,"history":…,"applicant":…,"open_requests":[…],"recent_requests":[…]}`:
/// the call's members, then the history's, rendered when it was looked up ([`PopupHistory`]).
fn ringing_frame(call: &ActiveCall, state: HistoryState, history: &PopupHistory) -> String {
    let head = RingingHead {
        kind: "call.ringing",
        call_id: &call.call_id,
        direction: call.direction,
        caller_number: &call.caller_number,
        caller_name: &call.caller_name,
        dialed_number: &call.dialed_number,
        operator_extension: &call.operator_extension,
        history: state,
    };
    with_history(&head, history)
}

fn ended_frame(call_id: &str, end: &EndInfo) -> serde_json::Value {
    let mut frame = json!({
        "type": "call.ended",
        "call_id": call_id,
        "outcome": outcome_str(end.outcome),
    });
    if let Some(d) = end.duration_s {
        frame["duration_s"] = json!(d);
    }
    if end.reconciled {
        frame["reconciled"] = json!(true);
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::LegStatus;

    #[test]
    fn the_ringing_frame_carries_the_call_and_the_rendered_history() {
        let call = ActiveCall {
            call_id: "1795859908.2".into(),
            direction: contactd_ari::tracker::CallDirection::Inbound,
            caller_number: contactd_domain::CallerNumber::from_pbx("067 123 45 67"),
            caller_name: "Resident \"Квартира 5\"".into(),
            dialed_number: "1580".into(),
            operator_extension: "1001".into(),
            state: LegStatus::Ringing,
            answered_by: None,
            since: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
        };
        let history = PopupHistory::new(CallerHistory {
            applicant: Some(json!({"id": 7, "name": "Олена"})),
            open_requests: vec![json!({"number": "2026-000001", "status": "sent"})],
            recent_requests: Vec::new(),
        });
        let frame: serde_json::Value =
            serde_json::from_str(&ringing_frame(&call, HistoryState::Ready, &history))
                .unwrap_or_default();
        assert_eq!(
            frame,
            json!({
                "type": "call.ringing",
                "call_id": "1795859908.2",
                "direction": "inbound",
                "caller_number": "+380671234567",
                "caller_name": "Resident \"Квартира 5\"",
                "dialed_number": "1580",
                "operator_extension": "1001",
                "history": "ready",
                "applicant": {"id": 7, "name": "Олена"},
                "open_requests": [{"number": "2026-000001", "status": "sent"}],
                "recent_requests": [],
            })
        );
        // No history yet: the members are still there, empty, and say why.
        let frame: serde_json::Value =
            serde_json::from_str(&ringing_frame(&call, HistoryState::Pending, &NO_HISTORY))
                .unwrap_or_default();
        assert_eq!(frame["history"], "pending");
        assert_eq!(frame["applicant"], serde_json::Value::Null);
        assert_eq!(frame["open_requests"], json!([]));
        assert_eq!(frame["recent_requests"], json!([]));
        // The history that follows carries the same members.
        let frame: serde_json::Value = serde_json::from_str(&history_frame(
            "1795859908.2",
            HistoryState::Ready,
            &history,
        ))
        .unwrap_or_default();
        assert_eq!(
            frame,
            json!({
                "type": "call.history",
                "call_id": "1795859908.2",
                "history": "ready",
                "applicant": {"id": 7, "name": "Олена"},
                "open_requests": [{"number": "2026-000001", "status": "sent"}],
                "recent_requests": [],
            })
        );
    }
}
