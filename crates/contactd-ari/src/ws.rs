//! The ARI WebSocket client: connects to `{ari}/events?app=…&subscribeAll=true` with basic
//! auth (never `api_key` in the URL), keeps the link alive with pings, reconnects with capped
//! exponential backoff and jitter, publishes the link state on a `watch` channel and hands every
//! text frame to a [`FrameSink`] that never waits (Asterisk drops clients that do not read
//! promptly). The sink is either a bounded queue to a consumer task (`mpsc::Sender`: a full queue
//! drops the frame and counts it) or the consumer itself, run in the read loop when its work per
//! frame is short and never waits (the daemon's link: one task hop less per event).
//!
//! After every (re)connect a [`WsMessage::Connected`] goes to the sink, before that connection's
//! frames, so the daemon can reconcile via `GET /ari/channels`: Asterisk does not replay events
//! missed while disconnected.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header::AUTHORIZATION, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::secret::Credentials;

/// The state of the link to Asterisk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Trying to connect.
    Connecting,
    /// Connected and reading events.
    Up { since: DateTime<Utc> },
    /// Not connected; `reason` says why (no secrets in it).
    Down {
        since: DateTime<Utc>,
        reason: String,
    },
}

/// What the client hands to the daemon, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A (re)connection succeeded: reconcile now (`GET /ari/channels`).
    Connected { at: DateTime<Utc> },
    /// One text frame, to be parsed with `parse_frame`.
    Frame(String),
}

/// Where the read loop hands what it reads, in order. Called from the read loop: it must never
/// wait (on a lock held across I/O, a database, a socket), or Asterisk drops the client.
pub trait FrameSink: Send {
    /// Takes one message; `false` when the consumer has gone away (the link then stops).
    /// A sink that has to drop a message counts it in `stats.dropped`.
    fn deliver(&mut self, msg: WsMessage, stats: &WsStats) -> bool;

    /// Whether the message just delivered made work that another task waits to do (an
    /// operator's pop-up): the read loop then yields once, so that task runs before the rest of
    /// a burst of frames is read, and calls [`FrameSink::resume`] after.
    fn take_urgent(&mut self) -> bool {
        false
    }

    /// After the yield that [`FrameSink::take_urgent`] asked for: finish what `deliver` left.
    fn resume(&mut self) {}

    /// Whether the consumer has gone away (checked before each connection attempt).
    fn is_closed(&self) -> bool {
        false
    }
}

/// A bounded queue to a consumer task: a full queue drops the frame and counts it.
impl FrameSink for mpsc::Sender<WsMessage> {
    fn deliver(&mut self, msg: WsMessage, stats: &WsStats) -> bool {
        match self.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                count_dropped(stats);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn is_closed(&self) -> bool {
        mpsc::Sender::is_closed(self)
    }
}

/// Counts a frame a sink could not take (logged at powers of two, not per frame).
pub fn count_dropped(stats: &WsStats) {
    let n = stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        tracing::error!(dropped_total = n, "ARI frame queue full: frame dropped");
    }
}

/// Counters for metrics; shared with the daemon.
#[derive(Debug, Default)]
pub struct WsStats {
    pub frames: AtomicU64,
    /// Frames dropped because the consumer could not take them (its queue was full).
    pub dropped: AtomicU64,
    /// Binary frames received (ARI sends none; counted and ignored).
    pub binary: AtomicU64,
    /// Text frames over `max_frame_len` (counted and ignored).
    pub oversized: AtomicU64,
    pub connects: AtomicU64,
    pub connect_failures: AtomicU64,
}

/// Configuration of the WebSocket link.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// ARI root, e.g. `http://127.0.0.1:8088/ari` (`https` → `wss`).
    pub ari_url: String,
    /// Stasis application name (`app=`).
    pub app: String,
    pub credentials: Credentials,
    pub connect_timeout: Duration,
    /// How often to ping; the link is declared dead after two intervals without any frame.
    pub ping_interval: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Text frames longer than this are counted and skipped.
    pub max_frame_len: usize,
}

impl WsConfig {
    /// Defaults: 5 s connect timeout, 10 s pings, backoff 0.5 s … 30 s.
    pub fn new(ari_url: &str, app: &str, credentials: Credentials) -> Self {
        WsConfig {
            ari_url: ari_url.to_owned(),
            app: app.to_owned(),
            credentials,
            connect_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_frame_len: crate::events::DEFAULT_MAX_FRAME_LEN,
        }
    }
}

/// A configuration problem that retrying cannot fix.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error(
        "invalid ARI URL {url:?}: {reason}; expected something like http://127.0.0.1:8088/ari"
    )]
    InvalidUrl { url: String, reason: String },
    #[error("the ARI user name or password contains characters not allowed in an HTTP header")]
    BadCredentials,
}

/// The events URL for an ARI root: `http://h:8088/ari` → `ws://h:8088/ari/events?app=cc&subscribeAll=true`.
pub fn events_url(ari_url: &str, app: &str) -> Result<Url, WsError> {
    let root = crate::rest::ari_root(ari_url).map_err(|e| WsError::InvalidUrl {
        url: if ari_url.contains('@') {
            "[URL with credentials, not shown]".into()
        } else {
            ari_url.to_owned()
        },
        reason: e.to_string(),
    })?;
    let mut url = root.join("events").map_err(|e| WsError::InvalidUrl {
        url: ari_url.to_owned(),
        reason: e.to_string(),
    })?;
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme).map_err(|()| WsError::InvalidUrl {
        url: ari_url.to_owned(),
        reason: "cannot switch to a WebSocket scheme".into(),
    })?;
    url.query_pairs_mut()
        .append_pair("app", app)
        .append_pair("subscribeAll", "true");
    Ok(url)
}

/// The delay before reconnect attempt `attempt` (0-based): `initial · 2^attempt`, capped at
/// `max`, then "equal jitter" (a uniformly random point in its upper half) so a fleet of
/// clients does not reconnect in lockstep after an Asterisk restart. `rand01` is in [0, 1).
pub fn backoff_delay(attempt: u32, initial: Duration, max: Duration, rand01: f64) -> Duration {
    let exp = initial.saturating_mul(2u32.saturating_pow(attempt.min(30)));
    let capped = exp.min(max);
    let half = capped / 2;
    half + half.mul_f64(rand01.clamp(0.0, 1.0))
}

/// Runs the link until `shutdown` is cancelled or the consumer behind `out` has gone away.
///
/// `now` is the time source for the `since`/`at` stamps (the wall clock is read only through
/// the daemon's clock).
pub async fn run<F, O>(
    config: WsConfig,
    mut out: O,
    state: watch::Sender<LinkState>,
    stats: Arc<WsStats>,
    now: F,
    shutdown: CancellationToken,
) -> Result<(), WsError>
where
    F: Fn() -> DateTime<Utc> + Send + Sync,
    O: FrameSink,
{
    let url = events_url(&config.ari_url, &config.app)?;
    let mut auth = HeaderValue::from_str(&config.credentials.basic_auth_header())
        .map_err(|_| WsError::BadCredentials)?;
    auth.set_sensitive(true);
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(config.max_frame_len.saturating_mul(4).max(1 << 20)))
        .max_frame_size(Some(config.max_frame_len.saturating_mul(4).max(1 << 20)));

    let mut attempt: u32 = 0;
    loop {
        if shutdown.is_cancelled() || out.is_closed() {
            break;
        }
        state.send_replace(LinkState::Connecting);
        tracing::info!(url = %url, "connecting to the ARI event WebSocket");
        let mut request = match url.as_str().into_client_request() {
            Ok(r) => r,
            Err(e) => {
                return Err(WsError::InvalidUrl {
                    url: url.to_string(),
                    reason: e.to_string(),
                })
            }
        };
        request.headers_mut().insert(AUTHORIZATION, auth.clone());

        let connect = tokio::time::timeout(
            config.connect_timeout,
            tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true),
        );
        let result = tokio::select! {
            () = shutdown.cancelled() => break,
            r = connect => r,
        };
        let reason = match result {
            Err(_) => format!(
                "no WebSocket handshake within {:?}; check that Asterisk is running and the \
                 host/port are right",
                config.connect_timeout
            ),
            Ok(Err(e)) => handshake_reason(&e),
            Ok(Ok((ws, _response))) => {
                attempt = 0;
                let since = now();
                stats.connects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(url = %url, "ARI event WebSocket up");
                state.send_replace(LinkState::Up { since });
                if !out.deliver(WsMessage::Connected { at: since }, &stats) {
                    break;
                }
                read_loop(ws, &config, &mut out, &stats, &shutdown).await
            }
        };
        if matches!(state.borrow().clone(), LinkState::Connecting) {
            stats.connect_failures.fetch_add(1, Ordering::Relaxed);
        }
        tracing::warn!(url = %url, %reason, "ARI event WebSocket down");
        state.send_replace(LinkState::Down {
            since: now(),
            reason,
        });
        if shutdown.is_cancelled() || out.is_closed() {
            break;
        }
        let delay = backoff_delay(
            attempt,
            config.backoff_initial,
            config.backoff_max,
            fastrand::f64(),
        );
        attempt = attempt.saturating_add(1);
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
    state.send_replace(LinkState::Down {
        since: now(),
        reason: "shut down".into(),
    });
    Ok(())
}

/// Why a handshake failed, with the thing to check.
fn handshake_reason(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Http(resp) => match resp.status().as_u16() {
            401 | 403 => "Asterisk rejected the ARI credentials (401); check user and password \
                          against ari.conf"
                .into(),
            404 => "no ARI events endpoint (404); check the URL ends in /ari and res_ari is \
                    loaded"
                .into(),
            503 => "Asterisk is not ready (503), probably starting up".into(),
            s => format!("Asterisk refused the WebSocket upgrade with HTTP {s}"),
        },
        tungstenite::Error::Io(io) => format!("cannot connect: {io}; is Asterisk running?"),
        other => format!("WebSocket handshake failed: {other}"),
    }
}

async fn read_loop<S, O>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    config: &WsConfig,
    out: &mut O,
    stats: &WsStats,
    shutdown: &CancellationToken,
) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    O: FrameSink,
{
    let (mut sink, mut stream) = ws.split();
    let mut ping = tokio::time::interval(config.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ping.tick().await;
    let mut last_seen = tokio::time::Instant::now();
    let write_timeout = Duration::from_secs(2);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                let _ = tokio::time::timeout(write_timeout, sink.send(Message::Close(None))).await;
                return "shut down".into();
            }
            _ = ping.tick() => {
                if last_seen.elapsed() > config.ping_interval * 2 {
                    return format!(
                        "nothing received for {:?} (not even a pong); the link is dead",
                        last_seen.elapsed()
                    );
                }
                match tokio::time::timeout(write_timeout, sink.send(Message::Ping(Default::default()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return format!("ping failed: {e}"),
                    Err(_) => return "ping could not be written in time".into(),
                }
            }
            msg = stream.next() => {
                last_seen = tokio::time::Instant::now();
                match msg {
                    None => return "connection closed without a close frame (Asterisk restart?)".into(),
                    Some(Err(tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ))) => return "connection closed without a close frame (Asterisk restart?)".into(),
                    Some(Err(e)) => return format!("read error: {e}"),
                    Some(Ok(Message::Text(text))) => {
                        if text.len() > config.max_frame_len {
                            stats.oversized.fetch_add(1, Ordering::Relaxed);
                            tracing::error!(len = text.len(), max = config.max_frame_len,
                                "oversized ARI frame skipped");
                            continue;
                        }
                        stats.frames.fetch_add(1, Ordering::Relaxed);
                        if !out.deliver(WsMessage::Frame(text.as_str().to_owned()), stats) {
                            return "consumer gone".into();
                        }
                        if out.take_urgent() {
                            tokio::task::yield_now().await;
                            out.resume();
                        }
                    }
                    Some(Ok(Message::Binary(b))) => {
                        stats.binary.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(len = b.len(), "unexpected binary ARI frame skipped");
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return match frame {
                            Some(f) => format!("closed by Asterisk ({}: {})", f.code, f.reason),
                            None => "closed by Asterisk".into(),
                        };
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_url_from_ari_root() {
        assert_eq!(
            events_url("http://127.0.0.1:8088/ari", "cc")
                .unwrap()
                .as_str(),
            "ws://127.0.0.1:8088/ari/events?app=cc&subscribeAll=true"
        );
        assert_eq!(
            events_url("https://pbx.example:8089", "contact center")
                .unwrap()
                .as_str(),
            "wss://pbx.example:8089/ari/events?app=contact+center&subscribeAll=true"
        );
        let e = events_url("http://cc:ccpass@h/ari", "cc")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("ccpass"), "{e}");
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let i = Duration::from_millis(500);
        let m = Duration::from_secs(30);
        assert_eq!(backoff_delay(0, i, m, 0.0), Duration::from_millis(250));
        assert_eq!(backoff_delay(0, i, m, 0.999_999).as_millis(), 499);
        assert_eq!(backoff_delay(3, i, m, 0.0), Duration::from_secs(2));
        assert_eq!(backoff_delay(10, i, m, 0.0), Duration::from_secs(15));
        assert_eq!(
            backoff_delay(u32::MAX, i, m, 0.5),
            Duration::from_millis(22_500)
        );
    }
}
