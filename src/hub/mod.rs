//! The operator push hub: call events from the PBX link go out on a broadcast channel per
//! extension, and a snapshot of the calls now ringing at or talking to each extension is kept
//! beside them.
//!
//! Publishing never waits: the broadcast ring buffer is each socket's bounded queue, so a slow
//! socket only falls behind itself. An event goes only to the channels of the extensions it
//! concerns, so it wakes only their sockets, and one extension's traffic never fills another's
//! queue. A socket that lags (its queue overflowed) resubscribes and gets a fresh snapshot
//! instead of silence. Subscribing takes the snapshot and the receiver under the same lock as
//! publishing, so a socket sees every event after its snapshot exactly once.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use contactd_ari::tracker::CallDirection;
use contactd_ari::{CallEvent, Outcome};
use contactd_domain::CallerNumber;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;

use crate::storage::{Storage, StorageError};

/// Events of its extension buffered per socket before it counts as lagging and gets a fresh
/// snapshot.
pub const SOCKET_QUEUE: usize = 1024;
/// How many recent call ends are remembered, to tell a lagging socket how its calls ended.
const RECENT_ENDS: usize = 4096;

/// Where an operator's phone is in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LegStatus {
    Ringing,
    Talking,
}

/// One call at one extension, as the snapshot shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveCall {
    pub call_id: String,
    pub direction: CallDirection,
    /// E.164 when the caller id is a valid number, else as received (e.g. `anonymous`).
    pub caller_number: CallerNumber,
    pub caller_name: String,
    pub dialed_number: String,
    pub operator_extension: String,
    pub state: LegStatus,
    /// The extension that answered the call, when someone did (possibly a colleague).
    pub answered_by: Option<String>,
    /// When this phone started ringing.
    pub since: DateTime<Utc>,
}

/// How a call ended for one extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndInfo {
    pub outcome: Outcome,
    pub duration_s: Option<u32>,
    pub reconciled: bool,
}

/// One event on the broadcast channel, with the extensions it concerns.
#[derive(Debug, Clone)]
pub enum Push {
    /// `call.operator_extension`'s phone rings.
    Ringing(ActiveCall),
    /// The call was answered; `targets` are the extensions that had a leg in it then.
    Answered {
        call_id: String,
        answered_by: String,
        targets: Vec<String>,
    },
    /// The call is over for `operator_extension`.
    Ended {
        call_id: String,
        operator_extension: String,
        end: EndInfo,
    },
}

impl Push {
    /// Whether the operator at `extension` should hear of this event.
    pub fn concerns(&self, extension: &str) -> bool {
        match self {
            Push::Ringing(call) => call.operator_extension == extension,
            Push::Answered { targets, .. } => targets.iter().any(|t| t == extension),
            Push::Ended {
                operator_extension, ..
            } => operator_extension == extension,
        }
    }
}

/// A socket's view: the snapshot at subscription time and the events after it.
#[derive(Debug)]
pub struct Subscription {
    pub snapshot: Vec<ActiveCall>,
    pub events: broadcast::Receiver<Arc<Push>>,
}

#[derive(Debug, Default)]
struct HubState {
    /// (call_id, extension) → the call at that extension.
    active: BTreeMap<(String, String), ActiveCall>,
    recent_ends: HashMap<(String, String), EndInfo>,
    recent_order: VecDeque<(String, String)>,
    /// Extension → the channel of its sockets (created by the first subscriber, dropped once
    /// no socket listens).
    channels: HashMap<String, broadcast::Sender<Arc<Push>>>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<HubState>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// Where caller histories are looked up ahead of the ringing (none: on demand only).
    storage: std::sync::OnceLock<Storage>,
    /// Caller histories looked up when a call arrived, by E.164 number, with their start.
    prefetched: Mutex<HashMap<String, (std::time::Instant, Prefetched)>>,
    /// Caller ids already read (`CallerNumber::from_pbx` runs libphonenumber, tens of µs): the
    /// call's arrival reads it once, its pop-up and log lines reuse it.
    parsed: Mutex<HashMap<String, CallerNumber>>,
}

/// A caller history being looked up (`None` until it is there).
type Prefetched = tokio::sync::watch::Receiver<Option<Arc<PopupHistory>>>;

/// How long a history looked up at a call's arrival is used for its pop-ups (a call queued
/// longer gets a fresh lookup when it rings).
const PREFETCH_FRESH: std::time::Duration = std::time::Duration::from_secs(10);
/// Caller ids remembered before the parse cache starts over.
const PARSED_MAX: usize = 4096;

/// The hub; cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl Hub {
    /// A hub whose sockets close when `shutdown` is cancelled and are tracked by `tasks` (so the
    /// daemon waits for their close frames before it exits).
    pub fn new(shutdown: CancellationToken, tasks: TaskTracker) -> Self {
        Hub {
            inner: Arc::new(Inner {
                state: Mutex::new(HubState::default()),
                shutdown,
                tasks,
                storage: std::sync::OnceLock::new(),
                prefetched: Mutex::new(HashMap::new()),
                parsed: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Look caller histories up in `storage` as soon as a call arrives ([`Hub::prefetch`]).
    pub fn set_storage(&self, storage: Storage) {
        let _ = self.inner.storage.set(storage);
    }

    /// The caller id `raw` as a [`CallerNumber`], read once per distinct id.
    pub fn caller(&self, raw: &str) -> CallerNumber {
        let parsed = || {
            self.inner
                .parsed
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if let Some(caller) = parsed().get(raw) {
            return caller.clone();
        }
        // Read outside the lock: others use the cache meanwhile.
        let caller = CallerNumber::from_pbx(raw);
        let mut cache = parsed();
        if cache.len() >= PARSED_MAX {
            cache.clear();
        }
        cache.insert(raw.to_owned(), caller.clone());
        caller
    }

    /// A call from caller id `raw` arrived at the PBX: start looking up its history now, so
    /// that the pop-up, a few milliseconds to seconds later when a phone rings, does not wait
    /// for the database. Never waits, and does nothing slow on the caller's task: reading the
    /// number (libphonenumber, ~30 µs) and the lookup run in a task of their own. Repeated calls
    /// within a second reuse the lookup.
    pub fn prefetch(&self, raw: &str) {
        if self.inner.storage.get().is_none() {
            return;
        }
        let hub = self.clone();
        let raw = raw.to_owned();
        tokio::spawn(async move { hub.look_up_ahead(&raw).await });
    }

    /// What [`Hub::prefetch`] runs in its task: reads the caller id and looks its history up
    /// (unless that was done less than a second ago), for the pop-ups to come.
    pub async fn look_up_ahead(&self, raw: &str) {
        let caller = self.caller(raw);
        let (CallerNumber::Valid(phone), Some(storage)) = (&caller, self.inner.storage.get())
        else {
            return;
        };
        let now = std::time::Instant::now();
        let key = phone.as_e164().to_owned();
        let tx = {
            let mut map = self
                .inner
                .prefetched
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if map.len() > 4096 {
                map.retain(|_, (at, _)| now.duration_since(*at) < PREFETCH_FRESH);
            }
            if map
                .get(&key)
                .is_some_and(|(at, _)| now.duration_since(*at) < std::time::Duration::from_secs(1))
            {
                return;
            }
            let (tx, rx) = tokio::sync::watch::channel(None);
            map.insert(key, (now, rx));
            tx
        };
        match caller_history(storage, &caller).await {
            Ok(history) => {
                let _ = tx.send(Some(Arc::new(PopupHistory::new(history))));
            }
            // Dropping `tx` makes the pop-up look the history up itself.
            Err(err) => tracing::debug!(error = %err, "caller history prefetch failed"),
        }
    }

    /// The caller's history for a pop-up: the one prefetched at the call's arrival if it is
    /// fresh, else looked up now.
    pub async fn history(
        &self,
        storage: &Storage,
        caller: &CallerNumber,
    ) -> Result<Arc<PopupHistory>, StorageError> {
        let cell = match caller {
            CallerNumber::Valid(phone) => self
                .inner
                .prefetched
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get(phone.as_e164())
                .filter(|(at, _)| at.elapsed() < PREFETCH_FRESH)
                .map(|(_, cell)| cell.clone()),
            CallerNumber::Raw(_) => None,
        };
        if let Some(mut cell) = cell {
            if let Ok(history) = cell.wait_for(Option::is_some).await {
                if let Some(history) = history.as_ref() {
                    return Ok(history.clone());
                }
            }
        }
        Ok(Arc::new(PopupHistory::new(
            caller_history(storage, caller).await?,
        )))
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // The state is updated in single steps that cannot panic half-way; a poisoned lock
        // still holds a consistent state.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies a call event to the snapshot and sends it to the sockets of the extensions it
    /// concerns. Never waits.
    ///
    /// A leg that never rang (`Unreached`: busy, unavailable…) and the end of the whole call
    /// (`Finished`) are for the call record only: no console showed a pop-up for them, so none
    /// gets a frame (every `call.ended` an operator sees closes a `call.ringing` it saw).
    pub fn publish(&self, event: &CallEvent) {
        // Read before taking the state lock (a caller id not seen yet takes tens of µs).
        let caller = match event {
            CallEvent::Ringing {
                caller_number_raw, ..
            } => Some(self.caller(caller_number_raw)),
            _ => None,
        };
        let mut state = self.lock();
        let push = match event {
            CallEvent::Ringing {
                call_id,
                direction,
                caller_number_raw,
                caller_name,
                dialed_number,
                operator_extension,
                at,
            } => {
                let call = ActiveCall {
                    call_id: call_id.clone(),
                    direction: *direction,
                    caller_number: caller.unwrap_or_else(|| self.caller(caller_number_raw)),
                    caller_name: caller_name.clone(),
                    dialed_number: dialed_number.clone(),
                    operator_extension: operator_extension.clone(),
                    state: LegStatus::Ringing,
                    answered_by: None,
                    since: *at,
                };
                state
                    .active
                    .insert((call_id.clone(), operator_extension.clone()), call.clone());
                Push::Ringing(call)
            }
            CallEvent::Answered {
                call_id,
                answered_by,
                ..
            } => {
                let mut targets = Vec::new();
                let range = (call_id.clone(), String::new())..;
                for ((id, ext), call) in state.active.range_mut(range) {
                    if id != call_id {
                        break;
                    }
                    call.answered_by = Some(answered_by.clone());
                    if ext == answered_by {
                        call.state = LegStatus::Talking;
                    }
                    targets.push(ext.clone());
                }
                Push::Answered {
                    call_id: call_id.clone(),
                    answered_by: answered_by.clone(),
                    targets,
                }
            }
            CallEvent::Ended {
                call_id,
                operator_extension,
                outcome,
                duration_s,
                reconciled,
                ..
            } => {
                let key = (call_id.clone(), operator_extension.clone());
                state.active.remove(&key);
                let end = EndInfo {
                    outcome: *outcome,
                    duration_s: *duration_s,
                    reconciled: *reconciled,
                };
                if state.recent_ends.insert(key.clone(), end).is_none() {
                    state.recent_order.push_back(key);
                    if state.recent_order.len() > RECENT_ENDS {
                        if let Some(old) = state.recent_order.pop_front() {
                            state.recent_ends.remove(&old);
                        }
                    }
                }
                Push::Ended {
                    call_id: call_id.clone(),
                    operator_extension: operator_extension.clone(),
                    end,
                }
            }
            CallEvent::Unreached { .. } | CallEvent::Finished { .. } => return,
        };
        let push = Arc::new(push);
        let send = |extension: &str| {
            if let Some(tx) = state.channels.get(extension) {
                // No receivers is fine: the socket has just gone.
                let _ = tx.send(push.clone());
            }
        };
        match push.as_ref() {
            Push::Ringing(call) => send(&call.operator_extension),
            Push::Answered { targets, .. } => {
                for target in targets {
                    send(target);
                }
            }
            Push::Ended {
                operator_extension, ..
            } => send(operator_extension),
        }
    }

    /// The calls ringing at or talking to `extension` now, oldest first.
    pub fn snapshot(&self, extension: &str) -> Vec<ActiveCall> {
        snapshot_of(&self.lock(), extension)
    }

    /// A snapshot for `extension` and the events after it (call again after lagging).
    pub fn subscribe(&self, extension: &str) -> Subscription {
        let mut state = self.lock();
        state
            .channels
            .retain(|ext, tx| ext == extension || tx.receiver_count() > 0);
        let events = state
            .channels
            .entry(extension.to_owned())
            .or_insert_with(|| broadcast::channel(SOCKET_QUEUE).0)
            .subscribe();
        Subscription {
            snapshot: snapshot_of(&state, extension),
            events,
        }
    }

    /// How the call ended at `extension`, if it ended recently.
    pub fn recent_end(&self, call_id: &str, extension: &str) -> Option<EndInfo> {
        self.lock()
            .recent_ends
            .get(&(call_id.to_owned(), extension.to_owned()))
            .copied()
    }

    /// Cancelled when the daemon shuts down: sockets send a close frame and finish.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Held by each socket task so that the daemon waits for it at shutdown.
    pub fn socket_token(&self) -> TaskTrackerToken {
        self.inner.tasks.token()
    }
}

fn snapshot_of(state: &HubState, extension: &str) -> Vec<ActiveCall> {
    let mut calls: Vec<ActiveCall> = state
        .active
        .values()
        .filter(|c| c.operator_extension == extension)
        .cloned()
        .collect();
    calls.sort_by(|a, b| (a.since, &a.call_id).cmp(&(b.since, &b.call_id)));
    calls
}

/// What the pop-up shows about the caller beside the number.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CallerHistory {
    /// The applicant registered with this number (object or null).
    pub applicant: Option<serde_json::Value>,
    /// The caller's requests still open.
    pub open_requests: Vec<serde_json::Value>,
    /// The caller's most recent closed requests.
    pub recent_requests: Vec<serde_json::Value>,
}

/// A caller's history with its pop-up fields rendered once (when it is looked up, not when the
/// phone rings).
#[derive(Debug)]
pub struct PopupHistory {
    pub history: CallerHistory,
    /// `"applicant":…,"open_requests":[…],"recent_requests":[…]`: the JSON members the
    /// `call.ringing` frame carries, without braces.
    pub fields: String,
}

impl PopupHistory {
    pub fn new(history: CallerHistory) -> Self {
        let object = serde_json::to_string(&history).unwrap_or_else(|_| {
            r#"{"applicant":null,"open_requests":[],"recent_requests":[]}"#.to_owned()
        });
        // `{…}` → `…`: the members, to be spliced into the frame's object.
        let fields = object
            .strip_prefix('{')
            .and_then(|o| o.strip_suffix('}'))
            .unwrap_or_default()
            .to_owned();
        PopupHistory { history, fields }
    }
}

/// The caller's applicant record and request history for the pop-up: the storage lookup on the
/// call path (indexed by the caller's E.164 number; a `Raw` caller id such as `anonymous` has no
/// history). Open requests come first (all of them), then the 5 most recent closed ones; each with
/// number, status, classifier code and title, deadline and executors, so the operator can spot a
/// duplicate before opening a new request.
///
/// Two queries: the applicant with their 100 most recent requests (one join), then the executors
/// of the requests shown. Each query is a round trip to a pooled connection, which on a loaded
/// machine is most of the pop-up's latency, so there are no more of them than that.
pub async fn caller_history(
    storage: &Storage,
    caller: &CallerNumber,
) -> Result<CallerHistory, StorageError> {
    let CallerNumber::Valid(phone) = caller else {
        return Ok(CallerHistory::default());
    };
    // An applicant without requests is one row whose request columns are NULL.
    type Row = (
        i64,
        String,
        String,
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT a.id, a.name, a.address, a.no_survey, r.id, r.number, r.status, \
         r.classifier_code, r.classifier_title, r.deadline FROM applicant_phones p \
         JOIN applicants a ON a.id = p.applicant_id \
         LEFT JOIN requests r ON r.applicant_id = a.id \
         WHERE p.e164 = $1 ORDER BY r.registered_at DESC, r.id DESC LIMIT 100",
    )
    .bind(phone.as_e164())
    .fetch_all(storage.reader())
    .await?;
    let Some((id, name, address, no_survey, ..)) = rows.first() else {
        return Ok(CallerHistory::default());
    };
    let mut history = CallerHistory {
        applicant: Some(serde_json::json!({
            "id": id,
            "name": name,
            "address": address,
            "phone": phone.as_e164(),
            "no_survey": *no_survey != 0,
        })),
        ..CallerHistory::default()
    };
    // The requests shown: every open one and the 5 most recent closed ones.
    let mut closed = 0;
    let shown: Vec<(i64, String, String, String, String, i64)> = rows
        .into_iter()
        .filter_map(|(.., rid, number, status, code, title, deadline)| {
            Some((rid?, number?, status?, code?, title?, deadline?))
        })
        .filter(|(_, _, status, ..)| {
            if status == "closed" {
                closed += 1;
                closed <= 5
            } else {
                true
            }
        })
        .collect();
    let mut executors =
        crate::requests::executors_of(storage, &shown.iter().map(|r| r.0).collect::<Vec<_>>())
            .await?;
    for (request_id, number, status, code, title, deadline) in shown {
        let item = serde_json::json!({
            "number": number,
            "status": status,
            "classifier_code": code,
            "classifier_title": title,
            "deadline": crate::storage::from_db_time(deadline),
            "executors": executors.remove(&request_id).unwrap_or_default(),
        });
        if status == "closed" {
            history.recent_requests.push(item);
        } else {
            history.open_requests.push(item);
        }
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn ringing(call: &str, ext: &str) -> CallEvent {
        CallEvent::Ringing {
            call_id: call.into(),
            direction: CallDirection::Inbound,
            caller_number_raw: "0671234567".into(),
            caller_name: "Resident".into(),
            dialed_number: "1580".into(),
            operator_extension: ext.into(),
            at: at(0),
        }
    }

    fn ended(call: &str, ext: &str, outcome: Outcome) -> CallEvent {
        CallEvent::Ended {
            call_id: call.into(),
            operator_extension: ext.into(),
            outcome,
            duration_s: None,
            reconciled: false,
            at: at(5),
        }
    }

    #[tokio::test]
    async fn snapshot_and_targets_follow_the_call() {
        let hub = Hub::new(CancellationToken::new(), TaskTracker::new());
        let mut sub = hub.subscribe("1001");
        assert!(sub.snapshot.is_empty());
        hub.publish(&ringing("c1", "1001"));
        hub.publish(&ringing("c1", "1002"));
        hub.publish(&CallEvent::Answered {
            call_id: "c1".into(),
            answered_by: "1002".into(),
            at: at(2),
        });
        let snap = hub.snapshot("1002");
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].state, LegStatus::Talking);
        assert_eq!(hub.snapshot("1001")[0].state, LegStatus::Ringing);
        assert_eq!(
            hub.snapshot("1001")[0].caller_number.as_str(),
            "+380671234567"
        );
        hub.publish(&ended("c1", "1001", Outcome::AnsweredElsewhere));
        assert!(hub.snapshot("1001").is_empty());
        assert_eq!(
            hub.recent_end("c1", "1001").map(|e| e.outcome),
            Some(Outcome::AnsweredElsewhere)
        );
        let mut seen = Vec::new();
        while let Ok(p) = sub.events.try_recv() {
            assert!(p.concerns("1001"), "{p:?}");
            seen.push(match p.as_ref() {
                Push::Ringing(_) => "ringing",
                Push::Answered { .. } => "answered",
                Push::Ended { .. } => "ended",
            });
        }
        // Not the ringing at 1002: only what concerns 1001 reaches its socket.
        assert_eq!(seen, vec!["ringing", "answered", "ended"]);
    }

    #[tokio::test]
    async fn another_extensions_traffic_never_fills_this_sockets_queue() {
        let hub = Hub::new(CancellationToken::new(), TaskTracker::new());
        let mut sub = hub.subscribe("1001");
        let _other = hub.subscribe("1002");
        for i in 0..(SOCKET_QUEUE + 10) {
            hub.publish(&ringing(&format!("c{i}"), "1002"));
        }
        hub.publish(&ringing("mine", "1001"));
        match sub.events.try_recv().map(|p| (*p).clone()) {
            Ok(Push::Ringing(call)) => assert_eq!(call.call_id, "mine"),
            other => panic!("expected the ringing at 1001, got {other:?}"),
        }
        assert!(sub.events.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_phone_that_never_rang_and_the_calls_end_reach_no_console() {
        let hub = Hub::new(CancellationToken::new(), TaskTracker::new());
        let mut sub = hub.subscribe("1001");
        hub.publish(&CallEvent::Unreached {
            call_id: "c1".into(),
            direction: CallDirection::Inbound,
            caller_number_raw: "0671234567".into(),
            caller_name: "Resident".into(),
            dialed_number: "1580".into(),
            operator_extension: "1001".into(),
            outcome: Outcome::Busy,
            reconciled: false,
            at: at(1),
        });
        hub.publish(&CallEvent::Finished {
            call_id: "c1".into(),
            outcome: Outcome::Busy,
            reconciled: false,
            at: at(1),
        });
        assert!(matches!(
            sub.events.try_recv(),
            Err(broadcast::error::TryRecvError::Empty)
        ));
        assert!(hub.snapshot("1001").is_empty());
        assert_eq!(hub.recent_end("c1", "1001"), None);
    }

    #[tokio::test]
    async fn a_lagging_receiver_is_told_so() {
        let hub = Hub::new(CancellationToken::new(), TaskTracker::new());
        let mut sub = hub.subscribe("1001");
        for i in 0..(SOCKET_QUEUE + 10) {
            hub.publish(&ringing(&format!("c{i}"), "1001"));
        }
        assert!(matches!(
            sub.events.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
        let fresh = hub.subscribe("1001");
        assert_eq!(fresh.snapshot.len(), SOCKET_QUEUE + 10);
    }
}
