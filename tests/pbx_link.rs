//! The PBX link end to end over real loopback sockets: the simulator (`contactd-pbx-sim`) as
//! Asterisk, the daemon in-process, tokio-tungstenite as the operator console. Pop-ups per
//! extension, outcomes, reconnects with reconciliation, bad frames, bad credentials, the socket's
//! authentication, call records (one per call) and `/readyz`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use contactd::auth::{add_user, NewUser, Role};
use contactd::config::Config;
use contactd::storage::Storage;
use contactd_pbx_sim::{CallKind, CallSpec, Outage, Sim, SimConfig, SimHandle};
use futures_util::StreamExt;
use serde_json::Value;
use support::{engines, spawn_app, Engine, TestApp, TestDb};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct TestSim {
    sim: SimHandle,
    shutdown: CancellationToken,
}

impl Drop for TestSim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start_sim() -> TestSim {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let config = SimConfig::new(contactd_pbx_sim::system_clock());
    let sim = Sim::bind(listener, config, shutdown.clone()).unwrap();
    TestSim { sim, shutdown }
}

fn pbx_config(db: &TestDb, sim: &SimHandle, password: &str) -> Config {
    db.config_with(&format!(
        "[pbx]\nari_url = \"{}\"\nusername = \"cc\"\npassword = \"{password}\"\n",
        sim.base_url()
    ))
}

/// The daemon with a PBX link that is up, plus a storage handle for checks.
struct Rig {
    app: TestApp,
    storage: Storage,
    sim: TestSim,
    db: TestDb,
}

async fn rig(engine: Engine) -> Rig {
    let sim = start_sim().await;
    let db = TestDb::new(engine).await;
    let config = pbx_config(&db, &sim.sim, "ccpass");
    let app = spawn_app(config.clone()).await;
    let storage = Storage::connect(&config.database).await.unwrap();
    wait_link(&app, "up").await;
    Rig {
        app,
        storage,
        sim,
        db,
    }
}

async fn readyz(app: &TestApp) -> Value {
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until `/readyz` shows the PBX link in `state`; returns the `pbx` object.
async fn wait_link(app: &TestApp, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body = readyz(app).await;
        if body["pbx"]["state"] == state {
            return body["pbx"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "PBX link never became {state}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Adds a user and signs in; returns the session token.
async fn user_token(rig: &Rig, login: &str, role: Role, extension: Option<&str>) -> String {
    let user = NewUser {
        login: login.into(),
        password: "correct horse battery".into(),
        role,
        executors: Vec::new(),
        extension: extension.map(str::to_owned),
    };
    add_user(&rig.storage, &user, chrono::DateTime::UNIX_EPOCH)
        .await
        .unwrap();
    rig.app.sign_in(login, "correct horse battery").await
}

async fn connect_operator(app: &TestApp, token: Option<&str>) -> Result<Ws, u16> {
    let mut request = format!("ws://{}/ws/operator", app.addr)
        .into_client_request()
        .unwrap();
    if let Some(t) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("unexpected connect error: {e}"),
    }
}

/// An operator console: signed in, connected, snapshot read.
async fn operator(rig: &Rig, login: &str, extension: &str) -> Ws {
    let token = user_token(rig, login, Role::Operator, Some(extension)).await;
    let mut ws = connect_operator(&rig.app, Some(&token)).await.unwrap();
    let snapshot = next_json(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["calls"], serde_json::json!([]), "{snapshot}");
    ws
}

/// The next JSON text frame, or `None` when nothing comes within `wait`.
async fn next_json(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        match msg.unwrap() {
            Message::Text(t) => return Some(serde_json::from_str(&t).unwrap()),
            Message::Close(frame) => panic!("socket closed: {frame:?}"),
            _ => {}
        }
    }
}

async fn expect_json(ws: &mut Ws) -> Value {
    next_json(ws, Duration::from_secs(10))
        .await
        .expect("a frame within 10 s")
}

/// Reads ringing … ended for one call; returns the frames.
async fn call_frames(ws: &mut Ws) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let f = expect_json(ws).await;
        let done = f["type"] == "call.ended";
        frames.push(f);
        if done {
            return frames;
        }
    }
}

fn types(frames: &[Value]) -> Vec<&str> {
    frames.iter().map(|f| f["type"].as_str().unwrap()).collect()
}

fn quick(kind: CallKind) -> CallSpec {
    CallSpec::new(kind).durations(Duration::from_millis(300), Duration::from_millis(1200))
}

/// Polls until the call record for `call_id` is complete; returns (calls row, legs).
async fn call_record(
    storage: &Storage,
    call_id: &str,
) -> (
    (String, String, Option<String>, Option<String>),
    Vec<(String, Option<String>)>,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row: Option<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT caller_number, dialed_number, answered_by, outcome FROM calls WHERE call_id = $1",
        )
        .bind(call_id)
        .fetch_optional(storage.reader())
        .await
        .unwrap();
        if let Some(row) = row.filter(|r| r.3.is_some()) {
            let legs: Vec<(String, Option<String>)> = sqlx::query_as(
                "SELECT operator_extension, outcome FROM call_legs WHERE call_id = $1 \
                 ORDER BY operator_extension",
            )
            .bind(call_id)
            .fetch_all(storage.reader())
            .await
            .unwrap();
            return (row, legs);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no finished record for {call_id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every column of a call record that a check may need (times in the storage's integer form).
#[derive(Debug, PartialEq)]
struct FullRecord {
    caller_number: String,
    caller_number_raw: String,
    dialed_number: String,
    created_at: i64,
    ringing_at: Option<i64>,
    answered_at: Option<i64>,
    answered_by: Option<String>,
    ended_at: Option<i64>,
    outcome: Option<String>,
    reconciled: i64,
    /// (extension, rang_at, ended_at, outcome, duration_s, reconciled), by extension.
    legs: Vec<LegRow>,
}

type LegRow = (
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    i64,
);

/// Polls until the call record for `call_id` is complete (the call is over); returns it all.
async fn full_record(storage: &Storage, call_id: &str) -> FullRecord {
    type Row = (
        String,
        String,
        String,
        i64,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<String>,
        i64,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row: Option<Row> = sqlx::query_as(
            "SELECT caller_number, caller_number_raw, dialed_number, created_at, ringing_at, \
             answered_at, answered_by, ended_at, outcome, reconciled FROM calls WHERE call_id = $1",
        )
        .bind(call_id)
        .fetch_optional(storage.reader())
        .await
        .unwrap();
        if let Some(r) = row.filter(|r| r.7.is_some()) {
            let legs: Vec<LegRow> = sqlx::query_as(
                "SELECT operator_extension, rang_at, ended_at, outcome, duration_s, reconciled \
                 FROM call_legs WHERE call_id = $1 ORDER BY operator_extension",
            )
            .bind(call_id)
            .fetch_all(storage.reader())
            .await
            .unwrap();
            return FullRecord {
                caller_number: r.0,
                caller_number_raw: r.1,
                dialed_number: r.2,
                created_at: r.3,
                ringing_at: r.4,
                answered_at: r.5,
                answered_by: r.6,
                ended_at: r.7,
                outcome: r.8,
                reconciled: r.9,
                legs,
            };
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no finished record for {call_id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn count_calls(storage: &Storage) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM calls")
        .fetch_one(storage.reader())
        .await
        .unwrap()
}

fn metric(text: &str, name_and_labels: &str) -> u64 {
    support::metric_value(text, name_and_labels).map_or(0, |v| v as u64)
}

#[tokio::test]
async fn answered_call_pops_up_at_the_ringing_operator_only_and_is_recorded_once() {
    for engine in engines().await {
        let rig = rig(engine).await;
        let pbx = wait_link(&rig.app, "up").await;
        assert!(pbx["since"].is_string(), "{pbx}");
        let mut op1 = operator(&rig, "olena", "1001").await;
        let mut op2 = operator(&rig, "petro", "1002").await;

        rig.sim.sim.play(&quick(CallKind::Answered)).unwrap();
        let frames = call_frames(&mut op1).await;
        assert_eq!(
            types(&frames),
            ["call.ringing", "call.answered", "call.ended"],
            "{engine:?}: {frames:?}"
        );
        let ringing = &frames[0];
        let call_id = ringing["call_id"].as_str().unwrap().to_owned();
        assert_eq!(ringing["caller_number"], "+380671234567", "{ringing}");
        assert_eq!(ringing["caller_name"], "Resident");
        assert_eq!(ringing["dialed_number"], "1580");
        assert_eq!(ringing["operator_extension"], "1001");
        assert_eq!(ringing["applicant"], Value::Null);
        assert_eq!(ringing["open_requests"], serde_json::json!([]));
        assert_eq!(ringing["recent_requests"], serde_json::json!([]));
        assert_eq!(frames[1]["call_id"], call_id.as_str());
        assert_eq!(frames[1]["answered_by"], "1001");
        assert_eq!(frames[2]["call_id"], call_id.as_str());
        assert_eq!(frames[2]["outcome"], "answered");
        assert!(frames[2]["duration_s"].as_u64().is_some(), "{}", frames[2]);

        assert_eq!(
            next_json(&mut op2, Duration::from_millis(500)).await,
            None,
            "1002 must not hear of a call to 1001"
        );

        let (row, legs) = call_record(&rig.storage, &call_id).await;
        assert_eq!(
            row,
            (
                "+380671234567".to_owned(),
                "1580".to_owned(),
                Some("1001".to_owned()),
                Some("answered".to_owned())
            )
        );
        assert_eq!(legs, vec![("1001".to_owned(), Some("answered".to_owned()))]);
        assert_eq!(count_calls(&rig.storage).await, 1);

        // Shutdown closes the socket with a close frame.
        let Rig { app, storage, .. } = rig;
        storage.close().await;
        app.shutdown.cancel();
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match op1.next().await {
                    Some(Ok(Message::Close(frame))) => return frame,
                    Some(Ok(_)) => {}
                    other => panic!("no close frame: {other:?}"),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(u16::from(closed.unwrap().code), 1001);
        app.handle.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn abandoned_unanswered_and_busy_calls_are_recorded_with_their_outcome_and_busy_never_pops_up(
) {
    use contactd::storage::to_db_time;
    let now = contactd_pbx_sim::system_clock(); // the clock the daemon and the sim run on
    for engine in engines().await {
        let rig = rig(engine).await;
        let mut op = operator(&rig, "olena", "1001").await;
        for (kind, outcome) in [
            (CallKind::Abandoned, "abandoned"),
            (CallKind::NoAnswer, "no_answer"),
        ] {
            rig.sim.sim.play(&quick(kind)).unwrap();
            let frames = call_frames(&mut op).await;
            assert_eq!(
                types(&frames),
                ["call.ringing", "call.ended"],
                "{engine:?} {kind:?}: {frames:?}"
            );
            assert_eq!(frames[1]["outcome"], outcome, "{kind:?}: {frames:?}");
            assert!(frames[1].get("duration_s").is_none(), "{frames:?}");
            let call_id = frames[0]["call_id"].as_str().unwrap();
            let (row, legs) = call_record(&rig.storage, call_id).await;
            assert_eq!(row.3.as_deref(), Some(outcome));
            assert_eq!(row.2, None);
            assert_eq!(legs, vec![("1001".to_owned(), Some(outcome.to_owned()))]);
            let full = full_record(&rig.storage, call_id).await;
            assert!(full.ringing_at.is_some(), "{engine:?} {kind:?}: {full:?}");
            assert!(full.legs[0].1.is_some(), "{engine:?} {kind:?}: rang_at");
        }

        // A busy phone answers 486 without ever ringing (no 180): nothing pops up, and no
        // console hears a call.ended for a call it never saw ringing. The call is recorded.
        let before = to_db_time(now());
        let ids = rig.sim.sim.play(&quick(CallKind::Busy)).unwrap();
        let call_id = ids.channel_ids[0].clone(); // the caller's leg names the call
        tokio::time::timeout(Duration::from_secs(5), rig.sim.sim.wait_idle())
            .await
            .unwrap();
        let busy = full_record(&rig.storage, &call_id).await;
        let after = to_db_time(now());
        assert_eq!(next_json(&mut op, Duration::from_millis(300)).await, None);
        assert_eq!(busy.caller_number, "+380671234567", "{engine:?}: {busy:?}");
        assert_eq!(busy.caller_number_raw, "0671234567");
        assert_eq!(busy.dialed_number, "1580");
        assert_eq!(
            busy.outcome.as_deref(),
            Some("busy"),
            "{engine:?}: {busy:?}"
        );
        assert_eq!(
            (busy.ringing_at, busy.answered_at, &busy.answered_by),
            (None, None, &None),
            "{engine:?}: a busy phone never rang: {busy:?}"
        );
        assert_eq!(busy.reconciled, 0);
        let ended_at = busy.ended_at.unwrap();
        assert!((before..=after).contains(&busy.created_at), "{busy:?}");
        assert!((before..=after).contains(&ended_at), "{busy:?}");
        assert_eq!(busy.legs.len(), 1, "{engine:?}: {busy:?}");
        let (ext, rang_at, leg_ended_at, leg_outcome, duration_s, leg_reconciled) = &busy.legs[0];
        assert_eq!(ext, "1001");
        assert_eq!(*rang_at, None, "{busy:?}");
        assert_eq!(leg_outcome.as_deref(), Some("busy"));
        assert_eq!(*duration_s, None);
        assert_eq!(*leg_reconciled, 0);
        let leg_ended_at = leg_ended_at.unwrap();
        // The phone's 486 ends its leg; the call ends when the caller's leg is gone, just after.
        assert!(
            leg_ended_at <= ended_at && ended_at - leg_ended_at < 1_000_000,
            "{busy:?}"
        );
        assert_eq!(count_calls(&rig.storage).await, 3, "{engine:?}");

        // The API shows the record, with no ringing time.
        let token = user_token(&rig, "head", Role::Supervisor, None).await;
        let call: Value = rig
            .app
            .client
            .get(rig.app.url(&format!("/api/v1/calls/{call_id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(call["outcome"], "busy", "{call}");
        assert_eq!(call["ringing_at"], Value::Null, "{call}");
        assert_eq!(call["answered_by"], Value::Null, "{call}");
        assert!(call["ended_at"].is_string(), "{call}");

        // One leg never rang; all three calls are over.
        let text = rig.app.metrics().await;
        assert_eq!(
            metric(&text, "contactd_call_events_total{kind=\"unreached\"}"),
            1,
            "{text}"
        );
        assert_eq!(
            metric(&text, "contactd_call_events_total{kind=\"finished\"}"),
            3,
            "{text}"
        );
    }
}

/// The operator's 486 and the end of the call happen while the link is down: reconciliation
/// after the reconnect records the call once (its outcome a flagged guess), and pops up nothing.
#[tokio::test]
async fn a_busy_call_that_ends_while_the_link_is_down_is_recorded_once_after_the_reconnect() {
    let rig = rig(Engine::Sqlite).await;
    let mut op = operator(&rig, "olena", "1001").await;
    let frames_seen = |text: &str| {
        metric(text, "contactd_ari_frames_total{result=\"ok\"}")
            + metric(text, "contactd_ari_frames_total{result=\"unknown\"}")
    };
    let seen_before = frames_seen(&rig.app.metrics().await);
    let spec = CallSpec::new(CallKind::Busy).durations(Duration::from_millis(1500), Duration::ZERO);
    let ids = rig.sim.sim.play(&spec).unwrap();
    let call_id = ids.channel_ids[0].clone();
    // The call's first frames (up to the Dial to 1001) leave at once; wait until the daemon has
    // read them, then cut the link for longer than the 486 takes to come.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while frames_seen(&rig.app.metrics().await) < seen_before + 23 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the call's start never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rig.sim.sim.drop_clients(Outage {
        refuse_for: Duration::from_millis(2500),
        unavailable_for: Duration::ZERO,
    });
    tokio::time::timeout(Duration::from_secs(5), rig.sim.sim.wait_idle())
        .await
        .unwrap();
    assert_eq!(
        count_calls(&rig.storage).await,
        0,
        "nothing known before the reconnect"
    );
    wait_link(&rig.app, "down").await;
    wait_link(&rig.app, "up").await;

    let rec = full_record(&rig.storage, &call_id).await;
    assert_eq!(rec.reconciled, 1, "{rec:?}");
    assert_eq!(rec.ringing_at, None, "{rec:?}");
    assert_eq!(rec.answered_by, None, "{rec:?}");
    assert!(rec.outcome.is_some(), "{rec:?}");
    assert_eq!(rec.legs.len(), 1, "{rec:?}");
    assert_eq!(rec.legs[0].0, "1001");
    assert_eq!(rec.legs[0].1, None, "never rang: {rec:?}");
    assert_eq!(rec.legs[0].3, rec.outcome, "{rec:?}");
    assert_eq!(rec.legs[0].5, 1, "{rec:?}");
    assert_eq!(next_json(&mut op, Duration::from_millis(300)).await, None);

    // Another reconnect reconciles again: still one record, unchanged.
    let connects = |text: &str| metric(text, "contactd_pbx_connects_total");
    let connects_before = connects(&rig.app.metrics().await);
    rig.sim.sim.drop_clients(Outage::none());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while connects(&rig.app.metrics().await) <= connects_before {
        assert!(tokio::time::Instant::now() < deadline, "no reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_link(&rig.app, "up").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count_calls(&rig.storage).await, 1);
    assert_eq!(full_record(&rig.storage, &call_id).await, rec);
}

#[tokio::test]
async fn queue_ring_all_ends_answered_elsewhere_for_the_colleague() {
    for engine in engines().await {
        let rig = rig(engine).await;
        let mut op1 = operator(&rig, "olena", "1001").await;
        let mut op2 = operator(&rig, "petro", "1002").await;
        rig.sim.sim.play(&quick(CallKind::Queue)).unwrap();
        let f1 = call_frames(&mut op1).await;
        let f2 = call_frames(&mut op2).await;
        assert_eq!(
            types(&f1),
            ["call.ringing", "call.answered", "call.ended"],
            "{f1:?}"
        );
        assert_eq!(f1[1]["answered_by"], "1002");
        assert_eq!(f1[2]["outcome"], "answered_elsewhere");
        assert_eq!(
            types(&f2),
            ["call.ringing", "call.answered", "call.ended"],
            "{f2:?}"
        );
        assert_eq!(f2[1]["answered_by"], "1002");
        assert_eq!(f2[2]["outcome"], "answered");
        assert_eq!(f1[0]["call_id"], f2[0]["call_id"]);
        assert_eq!(f1[0]["dialed_number"], "1581");
        let (row, legs) = call_record(&rig.storage, f1[0]["call_id"].as_str().unwrap()).await;
        assert_eq!(row.2.as_deref(), Some("1002"));
        assert_eq!(row.3.as_deref(), Some("answered"));
        assert_eq!(
            legs,
            vec![
                ("1001".to_owned(), Some("answered_elsewhere".to_owned())),
                ("1002".to_owned(), Some("answered".to_owned()))
            ]
        );
    }
}

#[tokio::test]
async fn a_reconnect_while_ringing_still_pops_up_and_records_the_call_once() {
    let rig = rig(Engine::Sqlite).await;
    let mut op = operator(&rig, "olena", "1001").await;

    // 1. The link drops after the pop-up: the call still ends at the console.
    let spec = CallSpec::new(CallKind::Answered)
        .durations(Duration::from_millis(2500), Duration::from_millis(500));
    rig.sim.sim.play(&spec).unwrap();
    let ringing = expect_json(&mut op).await;
    assert_eq!(ringing["type"], "call.ringing", "{ringing}");
    rig.sim.sim.drop_clients(Outage::none());
    let rest = call_frames(&mut op).await;
    assert_eq!(types(&rest), ["call.answered", "call.ended"], "{rest:?}");
    assert_eq!(rest[1]["call_id"], ringing["call_id"]);
    wait_link(&rig.app, "up").await;

    // 2. The call starts ringing while the link is down: reconciliation pops it up.
    rig.sim.sim.drop_clients(Outage {
        refuse_for: Duration::from_millis(400),
        unavailable_for: Duration::ZERO,
    });
    rig.sim.sim.play(&spec).unwrap();
    let frames = call_frames(&mut op).await;
    assert_eq!(
        types(&frames),
        ["call.ringing", "call.answered", "call.ended"],
        "{frames:?}"
    );
    assert_eq!(frames[0]["caller_number"], "+380671234567");
    assert_eq!(frames[0]["operator_extension"], "1001");
    assert_ne!(frames[0]["call_id"], ringing["call_id"]);

    for f in [&ringing, &frames[0]] {
        let (row, legs) = call_record(&rig.storage, f["call_id"].as_str().unwrap()).await;
        assert_eq!(row.3.as_deref(), Some("answered"));
        assert_eq!(legs.len(), 1);
    }
    assert_eq!(
        count_calls(&rig.storage).await,
        2,
        "exactly one record per call"
    );
    let text = rig.app.metrics().await;
    assert!(metric(&text, "contactd_pbx_connects_total") >= 3, "{text}");
}

#[tokio::test]
async fn malformed_unknown_and_oversized_frames_are_counted_and_the_link_keeps_working() {
    let rig = rig(Engine::Sqlite).await;
    let mut op = operator(&rig, "olena", "1001").await;
    let sim = &rig.sim.sim;
    sim.inject_raw_frame("this is not JSON");
    sim.inject_raw_frame(r#"{"type":"ChannelCreated","timestamp":"soon","channel":42}"#);
    sim.inject_raw_frame(
        r#"{"type":"FancyFutureEvent","timestamp":"2026-11-28T09:58:19.327+0000","application":"contactd"}"#,
    );
    sim.inject_raw_frame("x".repeat(300 * 1024));
    sim.play(&quick(CallKind::Answered)).unwrap();
    let frames = call_frames(&mut op).await;
    assert_eq!(
        types(&frames),
        ["call.ringing", "call.answered", "call.ended"]
    );
    // The client's own counters are copied into the metrics every half second.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let text = rig.app.metrics().await;
    assert_eq!(
        metric(&text, "contactd_ari_frames_total{result=\"malformed\"}"),
        2,
        "{text}"
    );
    assert!(metric(&text, "contactd_ari_frames_total{result=\"unknown\"}") >= 1);
    assert_eq!(
        metric(&text, "contactd_ari_frames_total{result=\"oversized\"}"),
        1
    );
    assert!(metric(&text, "contactd_ari_frames_total{result=\"ok\"}") > 10);
    assert_eq!(
        metric(&text, "contactd_call_events_total{kind=\"ringing\"}"),
        1
    );
    assert_eq!(metric(&text, "contactd_pbx_link_state"), 2);
    assert_eq!(wait_link(&rig.app, "up").await["state"], "up");
}

#[tokio::test]
async fn wrong_ari_credentials_leave_the_link_down_with_a_reason_and_retrying() {
    let sim = start_sim().await;
    let db = TestDb::new(Engine::Sqlite).await;
    let app = spawn_app(pbx_config(&db, &sim.sim, "not-the-password")).await;
    let pbx = wait_link(&app, "down").await;
    let reason = pbx["reason"].as_str().unwrap();
    assert!(reason.contains("credentials"), "{reason}");
    assert!(!reason.contains("not-the-password"), "{reason}");
    assert!(pbx["since"].is_string());
    // It keeps trying (backoff 0.25 s, 0.5 s, 1 s …).
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let text = app.metrics().await;
    assert!(
        metric(&text, "contactd_pbx_connect_failures_total") >= 2,
        "{text}"
    );
    assert_eq!(metric(&text, "contactd_pbx_link_state"), 3);
    assert!(!text.contains("not-the-password"));
    assert_eq!(readyz(&app).await["ready"], true, "the API stays ready");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_operator_socket_needs_a_session_an_operator_role_and_an_extension() {
    let rig = rig(Engine::Sqlite).await;
    assert_eq!(connect_operator(&rig.app, None).await.err(), Some(401));
    assert_eq!(
        connect_operator(&rig.app, Some("not-a-session"))
            .await
            .err(),
        Some(401)
    );
    let admin = user_token(&rig, "admin1", Role::Admin, None).await;
    assert_eq!(
        connect_operator(&rig.app, Some(&admin)).await.err(),
        Some(403)
    );
    let no_ext = user_token(&rig, "olena", Role::Operator, None).await;
    assert_eq!(
        connect_operator(&rig.app, Some(&no_ext)).await.err(),
        Some(403)
    );
    let supervisor = user_token(&rig, "head", Role::Supervisor, Some("1002")).await;
    let mut ws = connect_operator(&rig.app, Some(&supervisor)).await.unwrap();
    assert_eq!(expect_json(&mut ws).await["type"], "snapshot");

    // A console that connects while its phone rings gets the call in the snapshot, then the end.
    let spec = CallSpec::new(CallKind::Answered)
        .operators(&["1003"])
        .durations(Duration::from_millis(1500), Duration::from_millis(300));
    rig.sim.sim.play(&spec).unwrap();
    let late = user_token(&rig, "late", Role::Operator, Some("1003")).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut ws = connect_operator(&rig.app, Some(&late)).await.unwrap();
    let snapshot = expect_json(&mut ws).await;
    assert_eq!(snapshot["type"], "snapshot");
    let calls = snapshot["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{snapshot}");
    assert_eq!(calls[0]["state"], "ringing");
    assert_eq!(calls[0]["caller_number"], "+380671234567");
    let rest = call_frames(&mut ws).await;
    assert_eq!(types(&rest), ["call.answered", "call.ended"]);
    assert_eq!(rest[1]["call_id"], calls[0]["call_id"]);
}

#[tokio::test]
async fn an_asterisk_restart_ends_the_ringing_call_and_the_link_comes_back() {
    let rig = rig(Engine::Sqlite).await;
    let mut op = operator(&rig, "olena", "1001").await;
    let spec = CallSpec::new(CallKind::Answered)
        .durations(Duration::from_millis(5000), Duration::from_millis(500));
    rig.sim.sim.play(&spec).unwrap();
    let ringing = expect_json(&mut op).await;
    assert_eq!(ringing["type"], "call.ringing");
    rig.sim.sim.restart(Outage {
        refuse_for: Duration::from_millis(200),
        unavailable_for: Duration::from_millis(200),
    });
    let ended = expect_json(&mut op).await;
    assert_eq!(ended["type"], "call.ended", "{ended}");
    assert_eq!(ended["call_id"], ringing["call_id"]);
    assert_ne!(ended["outcome"], "answered", "{ended}");
    wait_link(&rig.app, "up").await;
    // Nothing more about that call after the reconnect.
    assert_eq!(next_json(&mut op, Duration::from_millis(500)).await, None);
    let (row, _) = call_record(&rig.storage, ringing["call_id"].as_str().unwrap()).await;
    assert_eq!(row.2, None, "never answered");
    assert_eq!(count_calls(&rig.storage).await, 1);
}

#[tokio::test]
async fn call_records_are_idempotent_on_both_engines() {
    use contactd::pbx::records::record;
    use contactd_ari::tracker::CallDirection;
    use contactd_ari::{CallEvent, Outcome};
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let storage = Storage::connect(&db.config().database).await.unwrap();
        storage.migrate().await.unwrap();
        let t = |s: i64| chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let ringing = |ext: &str| CallEvent::Ringing {
            call_id: "c1".into(),
            direction: CallDirection::Inbound,
            caller_number_raw: "anonymous".into(),
            caller_name: String::new(),
            dialed_number: "1581".into(),
            operator_extension: ext.into(),
            at: t(0),
        };
        let events = [
            ringing("1001"),
            ringing("1002"),
            CallEvent::Answered {
                call_id: "c1".into(),
                answered_by: "1002".into(),
                at: t(2),
            },
            CallEvent::Ended {
                call_id: "c1".into(),
                operator_extension: "1001".into(),
                outcome: Outcome::AnsweredElsewhere,
                duration_s: None,
                reconciled: false,
                at: t(2),
            },
            CallEvent::Ended {
                call_id: "c1".into(),
                operator_extension: "1002".into(),
                outcome: Outcome::Answered,
                duration_s: Some(3),
                reconciled: false,
                at: t(5),
            },
            CallEvent::Finished {
                call_id: "c1".into(),
                outcome: Outcome::Answered,
                reconciled: false,
                at: t(5),
            },
        ];
        // Everything twice, and the call replayed after it ended.
        for e in events.iter().chain(events.iter()) {
            record(&storage, e, t(0)).await.unwrap();
        }
        let late_answer = CallEvent::Answered {
            call_id: "c1".into(),
            answered_by: "1001".into(),
            at: t(9),
        };
        record(&storage, &late_answer, t(9)).await.unwrap();
        let row: (
            String,
            String,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<String>,
        ) = sqlx::query_as(
            "SELECT caller_number, caller_number_raw, answered_at, answered_by, ended_at, \
                 outcome FROM calls",
        )
        .fetch_one(storage.reader())
        .await
        .unwrap();
        assert_eq!(
            row,
            (
                "anonymous".to_owned(),
                "anonymous".to_owned(),
                Some(contactd::storage::to_db_time(t(2))),
                Some("1002".to_owned()),
                Some(contactd::storage::to_db_time(t(5))),
                Some("answered".to_owned())
            ),
            "{engine:?}"
        );
        let legs: Vec<(String, Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT operator_extension, outcome, duration_s FROM call_legs ORDER BY operator_extension",
        )
        .fetch_all(storage.reader())
        .await
        .unwrap();
        assert_eq!(
            legs,
            vec![
                (
                    "1001".to_owned(),
                    Some("answered_elsewhere".to_owned()),
                    None
                ),
                ("1002".to_owned(), Some("answered".to_owned()), Some(3)),
            ]
        );

        // c2: 1001 is busy (its phone never rings) and the caller hangs up. c3: 1001 is busy,
        // the dialplan puts the call through to 1002, who answers. Each twice, then replayed.
        let unreached = |call: &str, outcome: Outcome, at: i64| CallEvent::Unreached {
            call_id: call.into(),
            direction: CallDirection::Inbound,
            caller_number_raw: "0671234567".into(),
            caller_name: "Resident".into(),
            dialed_number: "1580".into(),
            operator_extension: "1001".into(),
            outcome,
            reconciled: false,
            at: t(at),
        };
        let finished = |call: &str, outcome: Outcome, at: i64| CallEvent::Finished {
            call_id: call.into(),
            outcome,
            reconciled: false,
            at: t(at),
        };
        let c2 = [
            unreached("c2", Outcome::Busy, 20),
            finished("c2", Outcome::Busy, 21),
        ];
        let c3 = [
            unreached("c3", Outcome::Busy, 30),
            CallEvent::Ringing {
                call_id: "c3".into(),
                direction: CallDirection::Inbound,
                caller_number_raw: "0671234567".into(),
                caller_name: "Resident".into(),
                dialed_number: "1580".into(),
                operator_extension: "1002".into(),
                at: t(31),
            },
            CallEvent::Answered {
                call_id: "c3".into(),
                answered_by: "1002".into(),
                at: t(33),
            },
            CallEvent::Ended {
                call_id: "c3".into(),
                operator_extension: "1002".into(),
                outcome: Outcome::Answered,
                duration_s: Some(7),
                reconciled: false,
                at: t(40),
            },
            finished("c3", Outcome::Answered, 40),
        ];
        for e in c2.iter().flat_map(|e| [e, e]).chain(&c2) {
            record(&storage, e, t(20)).await.unwrap();
        }
        for e in c3.iter().flat_map(|e| [e, e]).chain(&c3) {
            record(&storage, e, t(30)).await.unwrap();
        }
        type CallRow = (
            String,
            i64,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let calls: Vec<CallRow> = sqlx::query_as(
            "SELECT call_id, created_at, ringing_at, answered_by, ended_at, outcome FROM calls \
             WHERE call_id <> 'c1' ORDER BY call_id",
        )
        .fetch_all(storage.reader())
        .await
        .unwrap();
        let db = contactd::storage::to_db_time;
        assert_eq!(
            calls,
            vec![
                (
                    "c2".to_owned(),
                    db(t(20)),
                    None,
                    None,
                    Some(db(t(21))),
                    Some("busy".to_owned())
                ),
                (
                    "c3".to_owned(),
                    db(t(30)),
                    Some(db(t(31))),
                    Some("1002".to_owned()),
                    Some(db(t(40))),
                    Some("answered".to_owned())
                ),
            ],
            "{engine:?}"
        );
        type CallLegRow = (String, String, Option<i64>, Option<i64>, Option<String>);
        let legs: Vec<CallLegRow> = sqlx::query_as(
            "SELECT call_id, operator_extension, rang_at, ended_at, outcome FROM call_legs \
             WHERE call_id <> 'c1' ORDER BY call_id, operator_extension",
        )
        .fetch_all(storage.reader())
        .await
        .unwrap();
        assert_eq!(
            legs,
            vec![
                (
                    "c2".into(),
                    "1001".into(),
                    None,
                    Some(db(t(20))),
                    Some("busy".into())
                ),
                (
                    "c3".into(),
                    "1001".into(),
                    None,
                    Some(db(t(30))),
                    Some("busy".into())
                ),
                (
                    "c3".into(),
                    "1002".into(),
                    Some(db(t(31))),
                    Some(db(t(40))),
                    Some("answered".into())
                ),
            ],
            "{engine:?}"
        );
        storage.close().await;
    }
}

#[tokio::test]
async fn the_pbx_sim_subcommand_plays_a_scenario_to_the_daemon_and_stops_on_sigterm() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    use tokio::io::AsyncBufReadExt;

    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("calls.toml");
    std::fs::write(
        &scenario,
        "[[call]]\nat_ms = 4000\nkind = \"answered\"\ncaller = \"0501234567\"\noperators = [\"1001\"]\nring_ms = 300\ntalk_ms = 1200\n",
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_contactd"))
        .args(["pbx-sim", "--listen", "127.0.0.1:0", "--scenario"])
        .arg(&scenario)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let ari_url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();

    let db = TestDb::new(Engine::Sqlite).await;
    let config = db.config_with(&format!(
        "[pbx]\nari_url = \"{ari_url}\"\nusername = \"cc\"\npassword = \"ccpass\"\n"
    ));
    let app = spawn_app(config.clone()).await;
    wait_link(&app, "up").await;
    let storage = Storage::connect(&config.database).await.unwrap();
    let user = NewUser {
        login: "olena".into(),
        password: "correct horse battery".into(),
        role: Role::Operator,
        executors: Vec::new(),
        extension: Some("1001".into()),
    };
    add_user(&storage, &user, chrono::DateTime::UNIX_EPOCH)
        .await
        .unwrap();
    let body: Value = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"login": "olena", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ws = connect_operator(&app, body["token"].as_str())
        .await
        .unwrap();
    assert_eq!(expect_json(&mut ws).await["type"], "snapshot");
    let frames = call_frames(&mut ws).await;
    assert_eq!(
        types(&frames),
        ["call.ringing", "call.answered", "call.ended"]
    );
    assert_eq!(frames[0]["caller_number"], "+380501234567");

    let pid = Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    wait_link(&app, "down").await;
    storage.close().await;
    app.stop().await.unwrap();
}

/// The pop-up carries the caller's applicant record and open requests (found by the number in any
/// format), and a request registered with the call's `call_id` is listed on the call record.
#[tokio::test]
async fn the_pop_up_shows_the_callers_history_and_the_call_lists_its_requests() {
    for engine in engines().await {
        let rig = rig(engine).await;
        let (token, earlier_number) = resident_with_a_request(&rig).await;
        let mut ws = connect_operator(&rig.app, Some(&token)).await.unwrap();
        let snapshot = expect_json(&mut ws).await;
        assert_eq!(snapshot["type"], "snapshot");
        rig.sim.sim.play(&quick(CallKind::Answered)).unwrap();
        let frames = call_frames(&mut ws).await;
        let ringing = &frames[0];
        assert_eq!(ringing["type"], "call.ringing");
        assert_eq!(ringing["history"], "ready", "{ringing}");
        assert_eq!(ringing["applicant"]["name"], "Резидент", "{ringing}");
        assert_eq!(ringing["applicant"]["phone"], "+380671234567");
        let open = ringing["open_requests"].as_array().unwrap();
        assert_eq!(open.len(), 1, "{ringing}");
        assert_eq!(open[0]["number"], earlier_number.as_str());
        assert_eq!(open[0]["classifier_code"], "22.5.27");
        assert_eq!(open[0]["executors"], serde_json::json!(["KP-VODA"]));
        assert!(open[0]["deadline"].is_string());

        // A request opened during the call is linked to it.
        let call_id = ringing["call_id"].as_str().unwrap().to_owned();
        let during: Value = rig
            .app
            .client
            .post(rig.app.url("/api/v1/requests"))
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "channel": "phone",
                "applicant": {"phone": "+380671234567"},
                "description": "Не вивезено сміття",
                "classifier_code": "22.5.27",
                "request_type": "ordinary",
                "call_id": call_id
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        call_record(&rig.storage, &call_id).await;
        let call: Value = rig
            .app
            .client
            .get(rig.app.url(&format!("/api/v1/calls/{call_id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            call["requests"],
            serde_json::json!([during["number"]]),
            "{call}"
        );
        assert_eq!(call["answered_by"], "1001");
        assert_eq!(call["caller_number"], "+380671234567");
    }
}

/// A database that is slow to answer (here another session holds a lock on the phone table, as
/// a long migration or a restart would) does not hold the pop-up back: it goes out after
/// `HISTORY_WAIT` with `"history": "pending"` and empty history members, and the history follows
/// as `call.history` once the database answers, before the call's other frames. A lookup that
/// fails gives a pop-up with the number only (`"history": "unavailable"`). PostgreSQL only: on
/// SQLite (WAL) no other connection can hold a reader back.
#[tokio::test]
async fn a_slow_database_does_not_hold_the_pop_up_back_and_the_history_follows() {
    use sqlx::Connection;
    if !engines().await.contains(&Engine::Postgres) {
        return; // reported by engines(); CI requires PostgreSQL
    }
    let rig = rig(Engine::Postgres).await;
    let (token, number) = resident_with_a_request(&rig).await;
    let mut ws = connect_operator(&rig.app, Some(&token)).await.unwrap();
    assert_eq!(expect_json(&mut ws).await["type"], "snapshot");

    let mut blocker = sqlx::PgConnection::connect(&rig.db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query("LOCK TABLE applicant_phones IN ACCESS EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let call = CallSpec::new(CallKind::Answered)
        .durations(Duration::from_millis(4000), Duration::from_millis(300));
    rig.sim.sim.play(&call).unwrap();
    let ringing = expect_json(&mut ws).await;
    assert_eq!(ringing["type"], "call.ringing", "{ringing}");
    assert_eq!(ringing["history"], "pending", "{ringing}");
    assert_eq!(ringing["caller_number"], "+380671234567", "{ringing}");
    assert_eq!(ringing["applicant"], Value::Null, "{ringing}");
    assert_eq!(ringing["open_requests"], serde_json::json!([]), "{ringing}");
    // Nothing more while the database does not answer (the phone rings for 4 s).
    assert_eq!(next_json(&mut ws, Duration::from_millis(600)).await, None);
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();

    let frames = call_frames(&mut ws).await;
    assert_eq!(
        types(&frames),
        ["call.history", "call.answered", "call.ended"],
        "{frames:?}"
    );
    let history = &frames[0];
    assert_eq!(history["call_id"], ringing["call_id"], "{history}");
    assert_eq!(history["history"], "ready", "{history}");
    assert_eq!(history["applicant"]["name"], "Резидент", "{history}");
    let open = history["open_requests"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{history}");
    assert_eq!(open[0]["number"], number.as_str(), "{history}");
    assert_eq!(
        metric(
            &rig.app.metrics().await,
            "contactd_popup_history_late_total"
        ),
        1
    );

    // With the database answering again, the next pop-up carries its history at once.
    rig.sim.sim.play(&quick(CallKind::Answered)).unwrap();
    let frames = call_frames(&mut ws).await;
    assert_eq!(
        types(&frames),
        ["call.ringing", "call.answered", "call.ended"]
    );
    assert_eq!(frames[0]["history"], "ready", "{frames:?}");
    assert_eq!(frames[0]["open_requests"].as_array().unwrap().len(), 1);

    // A lookup that fails (the phone table is gone for a moment): the pop-up still goes out,
    // with the number only and "history": "unavailable", and no call.history follows.
    sqlx::query("ALTER TABLE applicant_phones RENAME TO applicant_phones_away")
        .execute(&mut blocker)
        .await
        .unwrap();
    rig.sim.sim.play(&quick(CallKind::Answered)).unwrap();
    let frames = call_frames(&mut ws).await;
    sqlx::query("ALTER TABLE applicant_phones_away RENAME TO applicant_phones")
        .execute(&mut blocker)
        .await
        .unwrap();
    assert_eq!(
        types(&frames),
        ["call.ringing", "call.answered", "call.ended"],
        "{frames:?}"
    );
    assert_eq!(frames[0]["history"], "unavailable", "{frames:?}");
    assert_eq!(frames[0]["caller_number"], "+380671234567");
    assert_eq!(frames[0]["applicant"], Value::Null);
}

/// The example classifier, operator `olena` at extension 1001 (her session token is returned)
/// and one open request from the simulator's default caller, registered with the number in
/// another format (its number is returned).
async fn resident_with_a_request(rig: &Rig) -> (String, String) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    contactd::classifier::import(
        &rig.storage,
        &root.join("classifier.example.toml"),
        contactd_classifier::Revision::new(
            339,
            chrono::NaiveDate::from_ymd_opt(2020, 7, 22).unwrap(),
        ),
        chrono::DateTime::UNIX_EPOCH,
    )
    .await
    .unwrap();
    let token = user_token(rig, "olena", Role::Operator, Some("1001")).await;
    let earlier: Value = rig
        .app
        .client
        .post(rig.app.url("/api/v1/requests"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "channel": "phone",
            "applicant": {"phone": "067 123 45 67", "name": "Резидент"},
            "description": "Витік води біля будинку",
            "classifier_code": "22.5.27",
            "request_type": "ordinary"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let number = earlier["number"].as_str().unwrap().to_owned();
    (token, number)
}

/// The pop-up history straight from storage: the open requests (newest first), then the five most
/// recent closed ones, each with its executors; an applicant without requests; a number nobody
/// registered; a caller id that is not a number.
#[tokio::test]
async fn caller_history_shows_every_open_request_and_the_five_latest_closed() {
    use contactd::hub::caller_history;
    use contactd_domain::CallerNumber;
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let storage = contactd::app::open_storage(&db.config()).await.unwrap();
        let w = storage.writer();
        let user: i64 = sqlx::query_scalar(
            "INSERT INTO users (login, password_hash, role, created_at) \
             VALUES ('olena', 'x', 'operator', 0) RETURNING id",
        )
        .fetch_one(w)
        .await
        .unwrap();
        for unit in ["A", "B"] {
            sqlx::query("INSERT INTO executors (code, name, created_at) VALUES ($1, $1, 0)")
                .bind(unit)
                .execute(w)
                .await
                .unwrap();
        }
        let mut applicants = Vec::new();
        for (name, phone) in [("Frequent", "+380671112233"), ("Quiet", "+380501112233")] {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO applicants (name, address, created_at, updated_at) \
                 VALUES ($1, 'вул. Миру, 1', 0, 0) RETURNING id",
            )
            .bind(name)
            .fetch_one(w)
            .await
            .unwrap();
            sqlx::query("INSERT INTO applicant_phones (e164, applicant_id) VALUES ($1, $2)")
                .bind(phone)
                .bind(id)
                .execute(w)
                .await
                .unwrap();
            applicants.push(id);
        }
        // Registered at t = 1 … 10: open at 1 and 9, closed otherwise.
        for t in 1..=10_i64 {
            let status = match t {
                1 => "in_progress",
                9 => "sent",
                _ => "closed",
            };
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO requests (number, channel, applicant_id, description, classifier_code, \
                 classifier_revision, classifier_title, section, request_type, term, status, version, \
                 registered_at, deadline, created_by, state_json, updated_at) \
                 VALUES ($1, 'phone', $2, 'd', '22.5.27', 0, 'Title', '22', 'ordinary', '10wd', $3, 1, \
                 $4, $5, $6, '{}', 0) RETURNING id",
            )
            .bind(format!("2026-{t:06}"))
            .bind(applicants[0])
            .bind(status)
            .bind(t)
            .bind(t + 1_000)
            .bind(user)
            .fetch_one(w)
            .await
            .unwrap();
            let units: &[&str] = if t == 9 { &["B", "A"] } else { &["A"] };
            for unit in units {
                sqlx::query(
                    "INSERT INTO request_executors (request_id, executor_code, status) \
                     VALUES ($1, $2, 'sent')",
                )
                .bind(id)
                .bind(*unit)
                .execute(w)
                .await
                .unwrap();
            }
        }

        let history = caller_history(&storage, &CallerNumber::from_pbx("0671112233"))
            .await
            .unwrap();
        assert_eq!(history.applicant.as_ref().unwrap()["name"], "Frequent");
        assert_eq!(
            history.applicant.as_ref().unwrap()["phone"],
            "+380671112233"
        );
        let numbers = |items: &[Value]| -> Vec<String> {
            items
                .iter()
                .map(|i| i["number"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            numbers(&history.open_requests),
            ["2026-000009", "2026-000001"],
            "{engine:?}"
        );
        assert_eq!(
            numbers(&history.recent_requests),
            [
                "2026-000010",
                "2026-000008",
                "2026-000007",
                "2026-000006",
                "2026-000005"
            ],
            "{engine:?}"
        );
        assert_eq!(
            history.open_requests[0]["executors"],
            serde_json::json!(["A", "B"])
        );
        assert_eq!(
            history.recent_requests[0]["executors"],
            serde_json::json!(["A"])
        );
        assert_eq!(history.open_requests[0]["classifier_title"], "Title");

        let quiet = caller_history(&storage, &CallerNumber::from_pbx("+380501112233"))
            .await
            .unwrap();
        assert_eq!(quiet.applicant.as_ref().unwrap()["name"], "Quiet");
        assert!(quiet.open_requests.is_empty() && quiet.recent_requests.is_empty());

        for unknown in ["0991234567", "anonymous"] {
            let none = caller_history(&storage, &CallerNumber::from_pbx(unknown))
                .await
                .unwrap();
            assert!(none.applicant.is_none(), "{unknown}");
            assert!(none.open_requests.is_empty() && none.recent_requests.is_empty());
        }

        // The hub looks the history up when the call arrives (`Hub::prefetch` runs
        // `look_up_ahead` in a task of its own); the pop-up then uses that
        // lookup (here: from before a rename), while a caller not prefetched is looked up now.
        let hub = contactd::hub::Hub::new(
            tokio_util::sync::CancellationToken::new(),
            tokio_util::task::TaskTracker::new(),
        );
        hub.set_storage(storage.clone());
        // The PBX's caller id in national form; the pop-up's number in E.164.
        hub.look_up_ahead("067 111 22 33").await;
        let frequent = hub.caller("067 111 22 33");
        assert_eq!(frequent, CallerNumber::from_pbx("+380671112233"));
        let first = hub.history(&storage, &frequent).await.unwrap();
        assert_eq!(
            first.history.applicant.as_ref().unwrap()["name"],
            "Frequent"
        );
        // The pop-up's members, rendered once with the lookup.
        let fields: serde_json::Value =
            serde_json::from_str(&format!("{{{}}}", first.fields)).unwrap();
        assert_eq!(fields["applicant"]["name"], "Frequent");
        assert_eq!(
            fields["open_requests"].as_array().map(Vec::len),
            Some(first.history.open_requests.len())
        );
        sqlx::query("UPDATE applicants SET name = 'Renamed' WHERE name IN ('Frequent', 'Quiet')")
            .execute(w)
            .await
            .unwrap();
        let again = hub.history(&storage, &frequent).await.unwrap();
        assert_eq!(
            again.history.applicant.as_ref().unwrap()["name"],
            "Frequent",
            "prefetched"
        );
        let quiet = hub
            .history(&storage, &CallerNumber::from_pbx("+380501112233"))
            .await
            .unwrap();
        assert_eq!(
            quiet.history.applicant.as_ref().unwrap()["name"],
            "Renamed",
            "looked up now"
        );
        storage.close().await;
    }
}

/// The database is out of reach for longer than its busy timeout (a maintenance job holds
/// SQLite's write lock): the pop-ups go on, and the call's records, refused meanwhile, are kept
/// and written once the database takes writes again — none dropped.
#[tokio::test]
async fn call_records_wait_out_a_database_that_refuses_writes_and_are_not_lost() {
    use sqlx::Connection;
    let rig = rig(Engine::Sqlite).await;
    let mut op = operator(&rig, "olena", "1001").await;
    // Another process's transaction holding the write lock past the 5 s busy timeout.
    let mut blocker = sqlx::SqliteConnection::connect(&rig.db.url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let held_since = tokio::time::Instant::now();

    rig.sim.sim.play(&quick(CallKind::Answered)).unwrap();
    let frames = call_frames(&mut op).await;
    assert_eq!(
        types(&frames),
        ["call.ringing", "call.answered", "call.ended"],
        "{frames:?}"
    );
    let call_id = frames[0]["call_id"].as_str().unwrap().to_owned();
    tokio::time::sleep_until(held_since + Duration::from_millis(7_000)).await;
    assert_eq!(
        count_calls(&rig.storage).await,
        0,
        "written under the lock?"
    );
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();

    let (row, legs) = call_record(&rig.storage, &call_id).await;
    assert_eq!(row.2.as_deref(), Some("1001"), "{row:?}");
    assert_eq!(row.3.as_deref(), Some("answered"), "{row:?}");
    assert_eq!(legs, vec![("1001".to_owned(), Some("answered".to_owned()))]);
    assert_eq!(
        metric(
            &rig.app.metrics().await,
            "contactd_call_records_failed_total"
        ),
        0
    );
}

/// A reconnect whose reconciliation is slow (Asterisk answers REST after 1 s): the read loop keeps
/// reading (Asterisk does not drop it as a slow client), the call that rings meanwhile is held
/// and applied after the reconciliation, in order: one pop-up, one record.
#[tokio::test]
async fn frames_that_arrive_during_a_slow_reconciliation_are_applied_after_it_in_order() {
    let rig = rig(Engine::Sqlite).await;
    let mut op = operator(&rig, "olena", "1001").await;
    rig.sim.sim.set_rest_delay(Duration::from_millis(1000));
    rig.sim.sim.drop_clients(Outage::none());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rig.sim.sim.connected_clients().len() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "no reconnect");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The link is back; its reconciliation waits for GET /ari/asterisk/info and /channels.
    let played = tokio::time::Instant::now();
    rig.sim.sim.play(&quick(CallKind::Answered)).unwrap();
    let frames = call_frames(&mut op).await;
    assert_eq!(
        types(&frames),
        ["call.ringing", "call.answered", "call.ended"],
        "{frames:?}"
    );
    assert!(
        played.elapsed() >= Duration::from_millis(1500),
        "the call's frames were applied before the reconciliation finished ({:?})",
        played.elapsed()
    );
    let call_id = frames[0]["call_id"].as_str().unwrap();
    let (row, legs) = call_record(&rig.storage, call_id).await;
    assert_eq!(row.3.as_deref(), Some("answered"), "{row:?}");
    assert_eq!(legs, vec![("1001".to_owned(), Some("answered".to_owned()))]);
    assert_eq!(count_calls(&rig.storage).await, 1);
    assert_eq!(rig.sim.sim.stats().clients_dropped_slow, 0);
    let text = rig.app.metrics().await;
    assert_eq!(metric(&text, "contactd_pbx_connects_total"), 2, "{text}");
    assert_eq!(
        metric(&text, "contactd_ari_frames_total{result=\"dropped\"}"),
        0
    );
}
