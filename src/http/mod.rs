//! The HTTP server: `app(state)` builds the router (health, metrics, API), so handlers can be
//! driven with `oneshot` in tests and served over a real listener by the daemon.

mod error;
mod health;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::metrics::{HttpLabels, MetricsRegistry};
use crate::pbx::LinkState;
use crate::storage::Storage;

/// What every handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub storage: Storage,
    pub metrics: MetricsRegistry,
    pub clock: SharedClock,
    pub pbx_link: watch::Receiver<LinkState>,
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let body_limit = state.config.http.body_limit_bytes;
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(CatchPanicLayer::new())
        .with_state(state)
}

async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no such endpoint: {} {} (see /api/v1/openapi.json for the API)",
        request.method(),
        request.uri().path()
    ))
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let response = next.run(request).await;
    state
        .metrics
        .metrics
        .http_requests
        .get_or_create(&HttpLabels {
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
