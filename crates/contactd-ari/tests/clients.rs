//! The REST and WebSocket clients against tiny loopback servers written here: the exact
//! originate request, basic auth, errors without secrets, frame forwarding, counted binary and
//! oversized frames, reconnection and the link state.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report
#![allow(clippy::result_large_err)] // tungstenite's handshake callback signature

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use contactd_ari::rest::{AriRest, OriginateParams, RestError};
use contactd_ari::secret::Credentials;
use contactd_ari::ws::{self, LinkState, WsConfig, WsMessage, WsStats};

/// Serves one HTTP request with `status` and `body`; returns the request head it read.
async fn one_http(status: &str, body: String) -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let status = status.to_owned();
    let h = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(resp.as_bytes()).await.unwrap();
        s.shutdown().await.ok();
        String::from_utf8(buf).unwrap()
    });
    (format!("http://{addr}/ari"), h)
}

#[tokio::test]
async fn originate_sends_the_captured_request() {
    let capture = common::capture_json("originate.json");
    let body = capture["response"]["body_raw"].as_str().unwrap().to_owned();
    let (url, server) = one_http("200 OK", body).await;
    let rest = AriRest::new(&url, "cc", "ccpass").unwrap();
    let ch = rest
        .originate(&OriginateParams {
            endpoint: "PJSIP/1001".into(),
            extension: "0501234567".into(),
            context: "survey-out".into(),
            priority: 1,
            caller_id: Some("1580".into()),
            timeout_s: Some(30),
        })
        .await
        .unwrap();
    assert_eq!(ch.id, "1795860363.11");
    assert_eq!(ch.state, "Down");
    let head = server.await.unwrap();
    let request_line = head.lines().next().unwrap();
    assert_eq!(
        request_line,
        capture["request"]["request_line"].as_str().unwrap()
    );
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("authorization: basic y2m6y2nwyxnz"),
        "{head}"
    );
    assert!(lower.contains("content-length: 0"), "{head}");
}

#[tokio::test]
async fn info_and_channels_are_read() {
    let info = common::capture_json("asterisk_info.json").to_string();
    let (url, server) = one_http("200 OK", info).await;
    let rest = AriRest::new(&url, "cc", "ccpass").unwrap();
    let i = rest.asterisk_info().await.unwrap();
    assert_eq!(i.system.unwrap().version, "22.10.1");
    assert!(server
        .await
        .unwrap()
        .starts_with("GET /ari/asterisk/info HTTP/1.1"));

    let chans = common::capture_json("channels_while_ringing.json").to_string();
    let (url, server) = one_http("200 OK", chans).await;
    let rest = AriRest::new(&url, "cc", "ccpass").unwrap();
    assert_eq!(rest.channels().await.unwrap().len(), 2);
    assert!(server
        .await
        .unwrap()
        .starts_with("GET /ari/channels HTTP/1.1"));
}

#[tokio::test]
async fn errors_say_what_to_check_and_hide_the_password() {
    let (url, _s) = one_http(
        "401 Unauthorized",
        r#"{"message":"Authentication required"}"#.into(),
    )
    .await;
    let rest = AriRest::new(&url, "cc", "ccpass").unwrap();
    let e = rest.channels().await.unwrap_err();
    assert!(matches!(e, RestError::Unauthorized { .. }), "{e:?}");
    let text = format!("{e} {e:?}");
    assert!(
        text.contains("ari.conf") && !text.contains("ccpass"),
        "{text}"
    );

    let (url, _s) = one_http(
        "400 Bad Request",
        r#"{"message":"Endpoint parameter is required"}"#.into(),
    )
    .await;
    let rest = AriRest::new(&url, "cc", "ccpass").unwrap();
    let e = rest.channels().await.unwrap_err();
    assert!(
        e.to_string().contains("Endpoint parameter is required"),
        "{e}"
    );

    // Nothing listens on this port (bound, then dropped).
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rest = AriRest::new(&format!("http://127.0.0.1:{port}"), "cc", "ccpass").unwrap();
    let e = rest.asterisk_info().await.unwrap_err();
    assert!(matches!(e, RestError::Connect { .. }), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("ccpass"));
}

fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap()
}

#[tokio::test]
async fn websocket_forwards_frames_counts_bad_ones_and_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let frames = common::capture("answered_by_1001.jsonl");
    let (first, second) = (frames[0].clone(), frames[1].clone());
    let server = tokio::spawn(async move {
        let mut seen_requests = Vec::new();
        for round in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut req_seen = String::new();
            let cb = |req: &tokio_tungstenite::tungstenite::handshake::server::Request, resp| {
                req_seen = format!(
                    "{} auth={}",
                    req.uri(),
                    req.headers()
                        .get("authorization")
                        .unwrap()
                        .to_str()
                        .unwrap()
                );
                Ok(resp)
            };
            let mut ws = tokio_tungstenite::accept_hdr_async(tcp, cb).await.unwrap();
            seen_requests.push(req_seen);
            if round == 0 {
                ws.send(Message::text(first.clone())).await.unwrap();
                ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
                ws.send(Message::text("x".repeat(5000))).await.unwrap();
                ws.send(Message::text(second.clone())).await.unwrap();
                // Drop the TCP connection without a close frame, like an Asterisk restart.
                drop(ws);
            } else {
                ws.send(Message::text(first.clone())).await.unwrap();
                // Keep it open until the client closes on shutdown.
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_close() {
                        break;
                    }
                }
            }
        }
        seen_requests
    });

    let mut config = WsConfig::new(
        &format!("http://{addr}/ari"),
        "cc",
        Credentials::new("cc", "ccpass"),
    );
    config.backoff_initial = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(50);
    config.max_frame_len = 4096;
    let (tx, mut rx) = mpsc::channel(1024);
    let (state_tx, mut state_rx) = watch::channel(LinkState::Connecting);
    let stats = Arc::new(WsStats::default());
    let shutdown = CancellationToken::new();
    let client = tokio::spawn(ws::run(
        config,
        tx,
        state_tx,
        stats.clone(),
        fixed_now,
        shutdown.clone(),
    ));

    let mut got = Vec::new();
    let mut states = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.len() < 5 {
        tokio::select! {
            m = rx.recv() => got.push(m.unwrap()),
            r = state_rx.changed() => { r.unwrap(); states.push(state_rx.borrow().clone()); }
            () = tokio::time::sleep_until(deadline) => panic!("timed out; got {got:?}"),
        }
    }
    let at = fixed_now();
    assert_eq!(
        got,
        vec![
            WsMessage::Connected { at },
            WsMessage::Frame(frames[0].clone()),
            WsMessage::Frame(frames[1].clone()),
            WsMessage::Connected { at },
            WsMessage::Frame(frames[0].clone()),
        ]
    );
    assert_eq!(stats.binary.load(Ordering::Relaxed), 1);
    assert_eq!(stats.oversized.load(Ordering::Relaxed), 1);
    assert_eq!(stats.frames.load(Ordering::Relaxed), 3);
    assert_eq!(stats.connects.load(Ordering::Relaxed), 2);
    assert!(states.iter().any(|s| matches!(s, LinkState::Down { reason, .. } if reason.contains("without a close frame"))), "{states:?}");
    assert!(matches!(*state_rx.borrow(), LinkState::Up { .. }));

    shutdown.cancel();
    client.await.unwrap().unwrap();
    assert!(matches!(&*state_rx.borrow(), LinkState::Down { reason, .. } if reason == "shut down"));
    let requests = server.await.unwrap();
    for r in &requests {
        assert_eq!(
            r,
            "/ari/events?app=cc&subscribeAll=true auth=Basic Y2M6Y2NwYXNz"
        );
    }
}

#[tokio::test]
async fn websocket_rejected_credentials_are_reported_and_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
        }
    });
    let mut config = WsConfig::new(
        &format!("http://{addr}/ari"),
        "cc",
        Credentials::new("cc", "wrong-secret"),
    );
    config.backoff_initial = Duration::from_millis(5);
    config.backoff_max = Duration::from_millis(20);
    let (tx, _rx) = mpsc::channel(16);
    let (state_tx, mut state_rx) = watch::channel(LinkState::Connecting);
    let stats = Arc::new(WsStats::default());
    let shutdown = CancellationToken::new();
    let client = tokio::spawn(ws::run(
        config,
        tx,
        state_tx,
        stats.clone(),
        fixed_now,
        shutdown.clone(),
    ));
    let reason = loop {
        state_rx.changed().await.unwrap();
        if let LinkState::Down { reason, .. } = &*state_rx.borrow() {
            break reason.clone();
        }
    };
    assert!(
        reason.contains("401") && reason.contains("ari.conf"),
        "{reason}"
    );
    assert!(!reason.contains("wrong-secret"));
    // It keeps retrying.
    while stats.connect_failures.load(Ordering::Relaxed) < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.cancel();
    client.await.unwrap().unwrap();
}
