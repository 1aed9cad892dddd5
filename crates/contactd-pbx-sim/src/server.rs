//! The HTTP side: ARI routes, Asterisk-style authentication and errors, the events WebSocket,
//! and a listener that can close its port for a while (an Asterisk that is down).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::sim::{lock, ClientInfo, ClientSignals, Shared};

type Params = Query<Vec<(String, String)>>;

/// The authenticated ARI user of a request.
#[derive(Debug, Clone)]
struct AriUser(String);

pub(crate) fn spawn(shared: Arc<Shared>, listener: TcpListener, addr: SocketAddr) {
    let app = router(shared.clone());
    let listener = SimListener {
        inner: Some(listener),
        addr,
        shared: shared.clone(),
    };
    let shutdown = shared.shutdown.clone();
    shared.tracker.spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
        {
            tracing::error!(error = %e, "pbx-sim: HTTP server failed");
        }
        tracing::info!("pbx-sim: stopped");
    });
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/ari/events", get(events))
        .route("/ari/asterisk/info", get(asterisk_info))
        .route("/ari/channels", get(list_channels).post(originate))
        .route("/ari/channels/{id}", get(get_channel))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

fn json(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn message(status: StatusCode, text: &str) -> Response {
    let mut body = String::from("{\"message\":");
    crate::json::push_json_string(&mut body, text);
    body.push('}');
    json(status, body)
}

/// Asterisk's `ast_http_error` page, used outside ARI (404) and while booting (503).
fn html_error(status: StatusCode, title: &str, text: &str) -> Response {
    let code = status.as_u16();
    let body = format!(
        "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n<title>{code} {title}</title>\r\n</head><body>\r\n<h1>{title}</h1>\r\n<p>{text}</p>\r\n<hr />\r\n<address>Asterisk Server</address>\r\n</body></html>\r\n"
    );
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r
}

/// Checks credentials like `res_ari`: `api_key=user:pass` in the query wins over HTTP Basic.
fn authenticate(shared: &Shared, headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let cfg = &shared.config;
    let creds = query
        .and_then(|q| {
            Query::<Vec<(String, String)>>::try_from_uri(&format!("/?{q}").parse().ok()?).ok()
        })
        .and_then(|Query(params)| {
            params
                .into_iter()
                .find(|(k, _)| k == "api_key")
                .map(|(_, v)| v)
        })
        .or_else(|| {
            let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
            let b64 = value.strip_prefix("Basic ")?;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()?;
            String::from_utf8(raw).ok()
        })?;
    let (user, pass) = creds.split_once(':')?;
    (user == cfg.username && pass == cfg.password).then(|| user.to_owned())
}

/// Outage (503), authentication (401) and the headers Asterisk sends on every response.
async fn gate(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let unavailable = lock(&shared.outage)
        .unavailable_until
        .is_some_and(|t| t > Instant::now());
    let mut resp = if unavailable {
        html_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "Asterisk is starting up; try again later.",
        )
    } else if req.uri().path().starts_with("/ari") {
        match authenticate(&shared, req.headers(), req.uri().query()) {
            Some(user) => {
                req.extensions_mut().insert(AriUser(user));
                next.run(req).await
            }
            None => {
                // Never log what was presented: it may be a real password with a typo.
                tracing::info!(path = %req.uri().path(), "pbx-sim: rejected ARI request without valid credentials");
                let mut r = message(StatusCode::UNAUTHORIZED, "Authentication required");
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Asterisk REST Interface\""),
                );
                r
            }
        }
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(header::SERVER, HeaderValue::from_static("Asterisk/22.10.1"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
    resp
}

async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/ari") {
        message(StatusCode::NOT_FOUND, "Resource not found")
    } else {
        html_error(
            StatusCode::NOT_FOUND,
            "Not Found",
            "The requested URL was not found on this server.",
        )
    }
}

async fn method_not_allowed() -> Response {
    message(StatusCode::METHOD_NOT_ALLOWED, "Invalid method")
}

async fn asterisk_info(State(shared): State<Arc<Shared>>) -> Response {
    rest_delay(&shared).await;
    json(StatusCode::OK, shared.info_body())
}

async fn list_channels(State(shared): State<Arc<Shared>>) -> Response {
    rest_delay(&shared).await;
    json(StatusCode::OK, shared.channels_body())
}

/// Waits as long as [`crate::SimHandle::set_rest_delay`] asked.
async fn rest_delay(shared: &Shared) {
    let delay = *lock(&shared.rest_delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

async fn get_channel(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.channel_body(&id) {
        Some(body) => json(StatusCode::OK, body),
        None => message(StatusCode::NOT_FOUND, "Channel not found"),
    }
}

async fn originate(
    State(shared): State<Arc<Shared>>,
    axum::Extension(AriUser(user)): axum::Extension<AriUser>,
    Query(query): Params,
    body: String,
) -> Response {
    let body = (!body.trim().is_empty()).then_some(body);
    match shared.originate(query, body, user) {
        Ok(channel) => json(StatusCode::OK, channel),
        Err(msg) => message(StatusCode::BAD_REQUEST, msg),
    }
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "1" | "on")
}

async fn events(
    State(shared): State<Arc<Shared>>,
    axum::Extension(AriUser(user)): axum::Extension<AriUser>,
    Query(query): Params,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let param = |n: &str| query.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let Some(app) = param("app").filter(|a| !a.is_empty()) else {
        return message(StatusCode::BAD_REQUEST, "Missing param 'app'");
    };
    let subscribe_all = param("subscribeAll").is_some_and(truthy);
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let info = ClientInfo {
        id: shared
            .client_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        app: app.split(',').next().unwrap_or(app).to_owned(),
        subscribe_all,
        user,
    };
    ws.on_upgrade(move |socket| client_loop(shared, socket, info))
}

async fn client_loop(shared: Arc<Shared>, socket: WebSocket, info: ClientInfo) {
    let id = info.id;
    let ClientSignals {
        mut rx,
        kill,
        drain,
    } = shared.register_client(info);
    let write_timeout = shared.config.websocket_write_timeout;
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            // Queued frames go out before a drain cut, never before a kill.
            biased;
            // Cut without a close frame: what a client sees when Asterisk dies.
            () = kill.cancelled() => break,
            frame = rx.recv() => {
                let Some(text) = frame else { break };
                if let Some(hook) = &shared.config.frame_hook {
                    hook(crate::FrameOut { client: id, text: text.as_str() });
                }
                match tokio::time::timeout(write_timeout, sink.send(Message::Text(text))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(client = id, error = %e, "pbx-sim: client write failed");
                        break;
                    }
                    Err(_) => {
                        tracing::warn!(client = id, ?write_timeout, "pbx-sim: client write timed out; disconnecting it");
                        break;
                    }
                }
            }
            () = drain.cancelled() => break,
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    shared.unregister_client(id);
    tracing::info!(client = id, "pbx-sim: ARI WebSocket client gone");
}

/// A listener that closes its port while an outage says "refuse" and binds it again after.
struct SimListener {
    inner: Option<TcpListener>,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl axum::serve::Listener for SimListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let changed = self.shared.outage_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let refuse_until = lock(&self.shared.outage)
                .refuse_until
                .filter(|t| *t > Instant::now());
            if let Some(until) = refuse_until {
                if self.inner.take().is_some() {
                    tracing::info!(addr = %self.addr, "pbx-sim: port closed (PBX down)");
                }
                tokio::time::sleep_until(until).await;
                continue;
            }
            let listener = match &self.inner {
                Some(l) => l,
                None => match TcpListener::bind(self.addr).await {
                    Ok(l) => {
                        tracing::info!(addr = %self.addr, "pbx-sim: port open again");
                        self.inner.insert(l)
                    }
                    Err(e) => {
                        tracing::warn!(addr = %self.addr, error = %e, "pbx-sim: cannot bind the port again; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        return (stream, peer);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "pbx-sim: accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                },
                () = &mut changed => {}
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}
