//! Whole-sim tests over real loopback sockets: a tokio-tungstenite client and raw HTTP/1.1.

// Integration-test helpers may panic: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use contactd_pbx_sim::{
    CallKind, CallSpec, Outage, Replay, Scenario, Sim, SimConfig, SimHandle, TrafficConfig,
};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const ANSWERED: &str = include_str!("../data/answered_by_1001.jsonl");
const ORIGINATED: &str = include_str!("../data/originate_survey_call.jsonl");
const RINGING_CHANNELS: &str = include_str!("../data/channels_while_ringing.json");
const ORIGINATE_EXCHANGE: &str = include_str!("../data/originate.json");
const INFO: &str = include_str!("../data/asterisk_info.json");

/// The sim needs a wall clock; these tests run on real sockets and real timers, so the real
/// clock is the honest one (timestamps are compared for format, not value).
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> Arc<dyn Fn() -> DateTime<Utc> + Send + Sync> {
    Arc::new(Utc::now)
}

struct TestSim {
    sim: SimHandle,
    shutdown: CancellationToken,
}

impl Drop for TestSim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start_with(tweak: impl FnOnce(&mut SimConfig)) -> TestSim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = SimConfig::new(wall_clock());
    config.app = "cc".into();
    tweak(&mut config);
    let shutdown = CancellationToken::new();
    let sim = Sim::bind(listener, config, shutdown.clone()).unwrap();
    TestSim { sim, shutdown }
}

async fn start() -> TestSim {
    start_with(|_| {}).await
}

fn ws_url(addr: SocketAddr, creds: &str) -> String {
    format!("ws://{addr}/ari/events?app=cc&subscribeAll=true&api_key={creds}")
}

async fn connect(addr: SocketAddr) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(ws_url(addr, "cc:ccpass"))
        .await
        .unwrap();
    ws
}

async fn wait_for_clients(sim: &SimHandle, n: usize) {
    for _ in 0..200 {
        if sim.connected_clients().len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} clients, have {:?}", sim.connected_clients());
}

async fn next_frame(ws: &mut Ws) -> Value {
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("no frame within 10 s")
        .expect("socket ended")
        .expect("socket error");
    match msg {
        Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
        other => panic!("unexpected message {other:?}"),
    }
}

async fn frames(ws: &mut Ws, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(next_frame(ws).await);
    }
    out
}

/// Minimal HTTP/1.1 client: (status, raw headers, body).
async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    auth: Option<&str>,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = auth
        .map(|a| {
            use base64::Engine;
            format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(a)
            )
        })
        .unwrap_or_default();
    let req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

/// The structure of a JSON value: keys and leaf types, not values.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => Value::Null,
    }
}

fn capture(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn types(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["type"].as_str().unwrap().to_owned())
        .collect()
}

fn keys_in_order(line: &str) -> Vec<String> {
    // Top-level key order of a frame as sent (serde_json::Value would sort them).
    let mut out = Vec::new();
    let (mut depth, mut in_str, mut esc, mut start) = (0, false, false, 0);
    let b = line.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
                if depth == 1 && b.get(i + 1) == Some(&b':') {
                    out.push(line[start..i].to_owned());
                }
            }
            continue;
        }
        match c {
            b'"' => {
                in_str = true;
                start = i + 1;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn wrong_credentials_are_rejected_like_asterisk() {
    let t = start().await;
    let addr = t.sim.local_addr();
    match tokio_tungstenite::connect_async(ws_url(addr, "cc:wrong")).await {
        Err(tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 401);
            let body = String::from_utf8(resp.body().clone().unwrap_or_default()).unwrap();
            assert_eq!(body, r#"{"message":"Authentication required"}"#);
        }
        other => panic!("expected 401, got {other:?}"),
    }
    let (status, head, body) = http(addr, "GET", "/ari/channels", Some("cc:nope")).await;
    assert_eq!(status, 401);
    assert_eq!(body, r#"{"message":"Authentication required"}"#);
    assert!(head
        .to_ascii_lowercase()
        .contains("www-authenticate: basic realm=\"asterisk rest interface\""));
    let (status, _, _) = http(addr, "GET", "/ari/channels", None).await;
    assert_eq!(status, 401);
    let (status, head, body) = http(addr, "GET", "/ari/channels", Some("cc:ccpass")).await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    assert!(head.contains("Asterisk/22.10.1"));
    let (status, _, body) = http(addr, "GET", "/ari/channels?api_key=cc:ccpass", None).await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    assert!(t.sim.connected_clients().is_empty());
}

#[tokio::test]
async fn unknown_paths_answer_404_like_asterisk() {
    let t = start().await;
    let addr = t.sim.local_addr();
    let (status, _, body) = http(addr, "GET", "/ari/nothing/here", Some("cc:ccpass")).await;
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"message":"Resource not found"}"#)
    );
    let (status, _, body) = http(addr, "GET", "/ari/channels/1.2", Some("cc:ccpass")).await;
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"message":"Channel not found"}"#)
    );
    let (status, _, body) = http(addr, "GET", "/favicon.ico", None).await;
    assert_eq!(status, 404);
    assert!(body.contains("Not Found"));
    let (status, _, body) = http(addr, "DELETE", "/ari/asterisk/info", Some("cc:ccpass")).await;
    assert_eq!(
        (status, body.as_str()),
        (405, r#"{"message":"Invalid method"}"#)
    );
}

#[tokio::test]
async fn asterisk_info_has_the_captured_shape_and_our_startup_time() {
    let t = start().await;
    let (status, _, body) = http(
        t.sim.local_addr(),
        "GET",
        "/ari/asterisk/info",
        Some("cc:ccpass"),
    )
    .await;
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(shape(&info), shape(&serde_json::from_str(INFO).unwrap()));
    assert_eq!(
        info["status"]["startup_time"].as_str().unwrap(),
        contactd_pbx_sim::ari_time(t.sim.startup_time())
    );
}

#[tokio::test]
async fn an_answered_call_has_the_captured_events_and_fields() {
    let t = start().await;
    let mut ws = connect(t.sim.local_addr()).await;
    wait_for_clients(&t.sim, 1).await;
    let spec = CallSpec::new(CallKind::Answered)
        .caller("0509876543", "Петренко")
        .durations(Duration::from_millis(150), Duration::from_millis(200));
    let ids = t.sim.play(&spec).unwrap();
    let want = capture(ANSWERED);
    assert_eq!(ids.frames, want.len());
    let got = frames(&mut ws, want.len()).await;
    assert_eq!(types(&got), types(&want));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(shape(g), shape(w), "frame {} ({})", i + 1, w["type"]);
    }
    // Ids, names and numbers are the call's, not the capture's.
    assert_eq!(got[0]["channel"]["id"], ids.channel_ids[0].as_str());
    assert!(ids.channel_names[0].starts_with("PJSIP/trunk-"));
    assert!(ids.channel_names[1].starts_with("PJSIP/1001-"));
    assert_eq!(got[0]["channel"]["caller"]["number"], "0509876543");
    assert_eq!(got[0]["channel"]["caller"]["name"], "Петренко");
    assert_eq!(got[0]["application"], "cc");
    assert_eq!(got[0]["asterisk_id"], "02:fc:00:00:00:01");
    let ts = got[0]["timestamp"].as_str().unwrap();
    assert!(
        DateTime::parse_from_str(ts, contactd_pbx_sim::ARI_TIME_FORMAT).is_ok(),
        "{ts}"
    );
    assert!(ts.ends_with("+0000") && ts.len() == 28, "{ts}");
    let (epoch, seq) = ids.channel_ids[0].split_once('.').unwrap();
    assert!(epoch.parse::<i64>().unwrap() > 1_700_000_000 && seq.parse::<u64>().is_ok());
    let dial = got.iter().find(|f| f["type"] == "Dial").unwrap();
    assert_eq!(dial["dialstring"], "1001");
    assert_eq!(dial["peer"]["id"], ids.channel_ids[1].as_str());
    t.sim.wait_idle().await;
    assert!(t.sim.active_channels().is_empty());
}

#[tokio::test]
async fn frames_keep_asterisks_field_order() {
    let t = start().await;
    let mut ws = connect(t.sim.local_addr()).await;
    wait_for_clients(&t.sim, 1).await;
    t.sim
        .play(
            &CallSpec::new(CallKind::Abandoned)
                .durations(Duration::from_millis(50), Duration::ZERO),
        )
        .unwrap();
    let raw: Vec<&str> = include_str!("../data/abandoned_while_ringing.jsonl")
        .lines()
        .collect();
    for line in &raw {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let text = msg.into_text().unwrap();
        assert_eq!(keys_in_order(text.as_str()), keys_in_order(line));
    }
}

#[tokio::test]
async fn get_channels_while_ringing_has_the_captured_shape() {
    let t = start().await;
    let spec = CallSpec::new(CallKind::Answered)
        .durations(Duration::from_secs(30), Duration::from_secs(1));
    let ids = t.sim.play(&spec).unwrap();
    for _ in 0..200 {
        if t.sim.active_channels().iter().any(|c| c.state == "Ringing") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, _, body) = http(
        t.sim.local_addr(),
        "GET",
        "/ari/channels",
        Some("cc:ccpass"),
    )
    .await;
    assert_eq!(status, 200);
    let got: Value = serde_json::from_str(&body).unwrap();
    let want: Value = serde_json::from_str(RINGING_CHANNELS).unwrap();
    assert_eq!(shape(&got), shape(&want));
    // Newest first: the operator leg, ringing, then the caller's trunk leg.
    assert_eq!(got[0]["id"], ids.channel_ids[1].as_str());
    assert_eq!(got[1]["id"], ids.channel_ids[0].as_str());
    for i in 0..2 {
        assert_eq!(got[i]["state"], want[i]["state"]);
        assert_eq!(got[i]["dialplan"], want[i]["dialplan"]);
        assert_eq!(got[i]["caller"], want[i]["caller"]);
        assert_eq!(got[i]["connected"], want[i]["connected"]);
    }
    let (status, _, one) = http(
        t.sim.local_addr(),
        "GET",
        &format!("/ari/channels/{}", ids.channel_ids[1]),
        Some("cc:ccpass"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&one).unwrap(), got[0]);
    assert_eq!(t.sim.active_channels().len(), 2);

    // A restart hangs everything up and moves startup_time.
    let mut ws = connect(t.sim.local_addr()).await;
    wait_for_clients(&t.sim, 1).await;
    let before = t.sim.startup_time();
    t.sim.restart(Outage::none());
    assert!(t.sim.active_channels().is_empty());
    assert!(t.sim.startup_time() > before);
    let hangup = next_frame(&mut ws).await;
    assert_eq!(hangup["type"], "ChannelHangupRequest");
    assert_eq!(
        (hangup["cause"].as_u64(), hangup["soft"].as_bool()),
        (Some(4), Some(true))
    );
    let (_, _, body) = http(
        t.sim.local_addr(),
        "GET",
        "/ari/channels",
        Some("cc:ccpass"),
    )
    .await;
    assert_eq!(body, "[]");
    let (_, _, info) = http(
        t.sim.local_addr(),
        "GET",
        "/ari/asterisk/info",
        Some("cc:ccpass"),
    )
    .await;
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(
        info["status"]["startup_time"].as_str().unwrap(),
        contactd_pbx_sim::ari_time(t.sim.startup_time())
    );
    assert!(
        t.sim.calls_in_progress() == 0
            || tokio::time::timeout(Duration::from_secs(2), t.sim.wait_idle())
                .await
                .is_ok()
    );
}

#[tokio::test]
async fn originate_is_recorded_answered_like_asterisk_and_its_events_flow() {
    let t = start_with(|c| {
        c.originate.operator_ring = Duration::from_millis(100);
        c.originate.applicant_ring = Duration::from_millis(100);
        c.originate.talk = Duration::from_millis(100);
    })
    .await;
    let mut ws = connect(t.sim.local_addr()).await;
    wait_for_clients(&t.sim, 1).await;
    let target = "/ari/channels?endpoint=PJSIP/1002&extension=0501112233&context=survey-out&priority=1&callerId=1580&timeout=30";
    let (status, _, body) = http(t.sim.local_addr(), "POST", target, Some("cc:ccpass")).await;
    assert_eq!(status, 200);
    let resp: Value = serde_json::from_str(&body).unwrap();
    let exchange: Value = serde_json::from_str(ORIGINATE_EXCHANGE).unwrap();
    assert_eq!(shape(&resp), shape(&exchange["response"]["body"]));
    assert_eq!(resp["state"], "Down");
    assert_eq!(resp["dialplan"]["app_name"], "AppDial2");
    assert!(resp["name"].as_str().unwrap().starts_with("PJSIP/1002-"));

    let reqs = t.sim.originate_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].param("endpoint"), Some("PJSIP/1002"));
    assert_eq!(reqs[0].param("extension"), Some("0501112233"));
    assert_eq!(reqs[0].param("context"), Some("survey-out"));
    assert_eq!(reqs[0].param("timeout"), Some("30"));
    assert_eq!(reqs[0].user, "cc");
    assert_eq!(reqs[0].channel_id, resp["id"].as_str().unwrap());

    let want = capture(ORIGINATED);
    let got = frames(&mut ws, want.len()).await;
    assert_eq!(types(&got), types(&want));
    assert_eq!(got[0]["channel"]["id"], resp["id"]);
    let trunk = got
        .iter()
        .filter(|f| f["type"] == "ChannelCreated")
        .nth(1)
        .unwrap();
    assert!(trunk["channel"]["name"]
        .as_str()
        .unwrap()
        .starts_with("PJSIP/trunk-"));
    assert!(got
        .iter()
        .any(|f| f["type"] == "Dial" && f["dialstring"] == "0501112233@trunk"));
    assert!(got.iter().all(|f| f["type"] != "Dial"
        || f["peer"]["id"] != resp["id"]
        || f.get("caller").is_none()));

    let (status, _, body) = http(
        t.sim.local_addr(),
        "POST",
        "/ari/channels?extension=1",
        Some("cc:ccpass"),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"message":"Endpoint must be specified"}"#)
    );
}

#[tokio::test]
async fn drop_clients_cuts_the_socket_without_a_close_frame_then_refuses_then_503() {
    let t = start().await;
    let addr = t.sim.local_addr();
    let mut ws = connect(addr).await;
    wait_for_clients(&t.sim, 1).await;
    t.sim.drop_clients(Outage {
        refuse_for: Duration::from_millis(600),
        unavailable_for: Duration::from_millis(900),
    });
    match tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
    {
        Some(Err(tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ))) => {}
        Some(Err(tungstenite::Error::Io(_))) => {}
        other => panic!("expected an abrupt close (1006), got {other:?}"),
    }
    assert!(t.sim.connected_clients().is_empty());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = TcpStream::connect(addr).await;
    assert!(
        refused.is_err(),
        "port must be closed while Asterisk is down"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    match tokio_tungstenite::connect_async(ws_url(addr, "cc:ccpass")).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("expected 503 while booting, got {:?}", other.map(|_| ())),
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let _ws = connect(addr).await;
    wait_for_clients(&t.sim, 1).await;
}

#[tokio::test]
async fn injected_raw_frames_reach_clients_verbatim() {
    let t = start().await;
    let mut ws = connect(t.sim.local_addr()).await;
    wait_for_clients(&t.sim, 1).await;
    t.sim
        .inject_raw_frame("{\"type\":\"ChannelTalkingStarted\",\"oops\"");
    t.sim
        .inject_raw_frame("{\"type\":\"BrandNewEvent\",\"x\":1}");
    for want in [
        "{\"type\":\"ChannelTalkingStarted\",\"oops\"",
        "{\"type\":\"BrandNewEvent\",\"x\":1}",
    ] {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(msg.into_text().unwrap().as_str(), want);
    }
}

#[tokio::test]
async fn the_frame_hook_sees_every_frame_before_the_client_does_in_write_order() {
    let seen: Arc<std::sync::Mutex<Vec<(u64, String)>>> = Arc::default();
    let sink = seen.clone();
    let t = start_with(move |c| {
        c.frame_hook = Some(Arc::new(move |f: contactd_pbx_sim::FrameOut<'_>| {
            sink.lock().unwrap().push((f.client, f.text.to_owned()));
        }));
    })
    .await;
    let mut ws = connect(t.sim.local_addr()).await;
    wait_for_clients(&t.sim, 1).await;
    let client = t.sim.connected_clients()[0].id;
    let ids = t
        .sim
        .play(
            &CallSpec::new(CallKind::Abandoned)
                .durations(Duration::from_millis(50), Duration::from_millis(50)),
        )
        .unwrap();
    let mut received = Vec::new();
    for _ in 0..ids.frames {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let text = msg.into_text().unwrap().as_str().to_owned();
        // Shown to the hook before it was written, so already there.
        assert!(seen.lock().unwrap().len() > received.len());
        received.push(text);
    }
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|(c, _)| *c == client));
    let texts: Vec<String> = seen.into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, received);
}

async fn play_and_collect(t: &TestSim, spec: &CallSpec) -> Vec<Value> {
    let mut ws = connect(t.sim.local_addr()).await;
    wait_for_clients(&t.sim, 1).await;
    let ids = t.sim.play(spec).unwrap();
    let got = frames(&mut ws, ids.frames).await;
    t.sim.wait_idle().await;
    assert!(
        t.sim.active_channels().is_empty(),
        "{:?}",
        t.sim.active_channels()
    );
    got
}

fn destroyed_causes(frames: &[Value]) -> Vec<(u64, String)> {
    frames
        .iter()
        .filter(|f| f["type"] == "ChannelDestroyed")
        .map(|f| {
            (
                f["cause"].as_u64().unwrap(),
                f["cause_txt"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn dial_statuses(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "Dial")
        .map(|f| f["dialstatus"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn busy_no_answer_abandoned_and_queue_calls_end_as_asterisk_ends_them() {
    let t = start().await;
    let short = Duration::from_millis(60);

    let busy = play_and_collect(&t, &CallSpec::new(CallKind::Busy).durations(short, short)).await;
    assert_eq!(dial_statuses(&busy), ["", "BUSY"]);
    assert_eq!(
        destroyed_causes(&busy),
        [(17, "User busy".into()), (17, "User busy".into())]
    );
    let hr = busy
        .iter()
        .find(|f| f["type"] == "ChannelHangupRequest")
        .unwrap();
    assert_eq!(
        (hr["cause"].as_u64(), hr["tech_cause"].as_u64()),
        (Some(17), Some(486))
    );

    let na = play_and_collect(
        &t,
        &CallSpec::new(CallKind::NoAnswer).durations(short, short),
    )
    .await;
    assert_eq!(dial_statuses(&na), ["", "RINGING", "NOANSWER"]);
    assert!(destroyed_causes(&na).iter().all(|(c, _)| *c == 19));

    let ab = play_and_collect(
        &t,
        &CallSpec::new(CallKind::Abandoned).durations(short, short),
    )
    .await;
    assert_eq!(dial_statuses(&ab), ["", "RINGING", "CANCEL"]);
    assert!(destroyed_causes(&ab).iter().all(|(c, _)| *c == 127));

    let mut q = CallSpec::new(CallKind::Queue).durations(short, short);
    q.operators = vec!["2001".into(), "2002".into()];
    q.answered_by = Some("2001".into());
    let queue = play_and_collect(&t, &q).await;
    let want = capture(include_str!("../data/queue_answered_by_1002.jsonl"));
    assert_eq!(types(&queue), types(&want));
    let elsewhere = queue
        .iter()
        .find(|f| f["type"] == "ChannelDestroyed" && f["cause"] == 26)
        .unwrap();
    assert_eq!(elsewhere["cause_txt"], "Answered elsewhere");
    assert!(elsewhere["channel"]["name"]
        .as_str()
        .unwrap()
        .starts_with("PJSIP/2002-"));
    let answer = queue
        .iter()
        .find(|f| f["type"] == "Dial" && f["dialstatus"] == "ANSWER")
        .unwrap();
    assert_eq!(answer["dialstring"], "PJSIP/2001");
}

#[tokio::test]
async fn replays_get_fresh_ids_each_time_and_keep_the_order() {
    let t = start().await;
    let mut ws = connect(t.sim.local_addr()).await;
    wait_for_clients(&t.sim, 1).await;
    let replay = Replay::parse("answered", ANSWERED).unwrap();
    let a = t.sim.play_replay(&replay, 50.0).unwrap();
    let fa = frames(&mut ws, replay.frame_count()).await;
    let b = t.sim.play_replay(&replay, 50.0).unwrap();
    let fb = frames(&mut ws, replay.frame_count()).await;
    assert_ne!(a.channel_ids, b.channel_ids);
    assert_eq!(types(&fa), types(&capture(ANSWERED)));
    assert_eq!(types(&fa), types(&fb));
    assert_eq!(fa[0]["channel"]["caller"]["number"], "0671234567");
    assert_ne!(fa[0]["channel"]["id"], "1795859899.0");
}

#[tokio::test]
async fn a_scenario_file_plays_its_calls_in_order() {
    let t = start().await;
    let mut ws = connect(t.sim.local_addr()).await;
    wait_for_clients(&t.sim, 1).await;
    let scenario = Scenario::parse(
        r#"
speed = 10.0
[[call]]
at_ms = 0
kind = "abandoned"
caller = "0501111111"
ring_ms = 500
[[call]]
at_ms = 2000
kind = "busy"
caller = "0502222222"
operators = ["1002"]
"#,
        false,
    )
    .unwrap();
    let ids = t.sim.play_scenario(&scenario).await.unwrap();
    assert_eq!(ids.len(), 2);
    let total = ids.iter().map(|c| c.frames).sum();
    let got = frames(&mut ws, total).await;
    let creators: Vec<_> = got
        .iter()
        .filter(|f| {
            f["type"] == "ChannelCreated"
                && f["channel"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("PJSIP/trunk")
        })
        .map(|f| {
            f["channel"]["caller"]["number"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(creators, ["0501111111", "0502222222"]);
}

#[tokio::test]
async fn a_client_that_does_not_read_is_dropped() {
    let t = start_with(|c| c.client_queue_frames = 16).await;
    let _silent = connect(t.sim.local_addr()).await;
    wait_for_clients(&t.sim, 1).await;
    let big = format!(
        "{{\"type\":\"Filler\",\"x\":\"{}\"}}",
        "x".repeat(64 * 1024)
    );
    for _ in 0..2000 {
        t.sim.inject_raw_frame(big.clone());
        if t.sim.connected_clients().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    wait_for_clients(&t.sim, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustains_200_calls_per_second_to_a_reading_client() {
    let t = start().await;
    let mut ws = connect(t.sim.local_addr()).await;
    wait_for_clients(&t.sim, 1).await;
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = received.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(_)) = ws.next().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let traffic = TrafficConfig {
        calls_per_second: 200.0,
        operators: vec!["1001".into(), "1002".into(), "1003".into()],
        max_calls: Some(400),
        duration: Some(Duration::from_secs(5)),
        ring_ms: (100, 300),
        talk_ms: (100, 300),
        dial_timeout_s: 1,
        seed: 42,
        ..TrafficConfig::default()
    };
    let started = tokio::time::Instant::now();
    let report = t.sim.run_traffic(&traffic).await.unwrap();
    let elapsed = started.elapsed();
    t.sim.wait_idle().await;
    let stats = t.sim.stats();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while received.load(std::sync::atomic::Ordering::Relaxed) < report.frames
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = received.load(std::sync::atomic::Ordering::Relaxed);
    reader.abort();
    assert_eq!(report.calls, 400);
    assert!(
        elapsed < Duration::from_secs(4),
        "400 calls at 200/s took {elapsed:?}"
    );
    assert_eq!(stats.clients_dropped_slow, 0);
    assert_eq!(
        received, report.frames,
        "every frame reached the reading client"
    );
    assert!(report.frames > 400 * 30);
}
