//! Health checks (`/healthz`, `/readyz`) and the Prometheus endpoint (`/metrics`).

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::{ApiError, AppState};
use crate::pbx::LinkState;

/// The process is alive and serving HTTP.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    database: DatabaseStatus,
    pbx: LinkState,
}

#[derive(Serialize)]
struct DatabaseStatus {
    ok: bool,
    backend: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Ready when the database answers. The PBX link is reported but does not make the daemon
/// unready: the API and console keep working while the PBX is away.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let db = tokio::time::timeout(Duration::from_secs(2), state.storage.ping()).await;
    let error = match db {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(err.to_string()),
        Err(_) => Some("the database did not answer within 2 s".to_owned()),
    };
    state.metrics.metrics.db_up.set(i64::from(error.is_none()));
    let pbx = state.pbx_link.borrow().clone();
    let ready = error.is_none();
    let body = Readiness {
        ready,
        database: DatabaseStatus {
            ok: ready,
            backend: match state.storage.backend() {
                crate::config::Backend::Sqlite => "sqlite",
                crate::config::Backend::Postgres => "postgres",
            },
            error,
        },
        pbx,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus text format. With `http.metrics_token` set, the token is required as a bearer
/// token; without it, only loopback clients are answered.
pub async fn metrics(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    match &state.config.http.metrics_token {
        Some(token) => {
            let given = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            let ok =
                given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.expose().as_bytes()));
            if !ok {
                return Err(ApiError::Unauthorized(
                    "metrics need `Authorization: Bearer <http.metrics_token>`".into(),
                ));
            }
        }
        None => {
            let peer = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0);
            if peer.is_some_and(|p| !p.ip().is_loopback()) {
                return Err(ApiError::Forbidden(
                    "metrics are served to loopback clients only; set http.metrics_token to allow remote scraping".into(),
                ));
            }
        }
    }
    state
        .metrics
        .metrics
        .pbx_link_state
        .set(state.pbx_link.borrow().gauge());
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
