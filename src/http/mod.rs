//! The HTTP server: `app(state)` builds the router (health, metrics, API), so handlers can be
//! driven with `oneshot` in tests and served over a real listener by the daemon.

mod calendar;
mod classifier;
mod error;
mod escalation;
mod executor_feed;
mod health;
mod operator;
mod requests;
mod session;
mod survey;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use calendar::parse_term;
pub use error::ApiError;

use utoipa::OpenApi;

use crate::auth::{AuthUser, SharedLimiter};
use crate::calendar::Calendars;
use crate::classifier::ClassifierHandle;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::{HttpLabels, MetricsRegistry};
use crate::pbx::LinkState;
use crate::storage::Storage;

/// What every handler may use. Cheap to clone: one reference count (axum clones the state for
/// each extractor of each request), the parts are reached through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppParts {
    pub config: Arc<Config>,
    pub storage: Storage,
    pub metrics: MetricsRegistry,
    pub clock: SharedClock,
    pub pbx_link: watch::Receiver<LinkState>,
    pub calendars: Calendars,
    pub classifier: ClassifierHandle,
    pub login_limiter: SharedLimiter,
    /// Recently checked sessions (see `auth::SESSION_CACHE_TTL`).
    pub sessions: crate::auth::SessionCache,
    /// Call events for the operator sockets.
    pub hub: Hub,
    /// Registrations waiting for their group commit.
    pub creates: crate::requests::CreateQueue,
}

impl AppParts {
    /// The request service over this state's storage, calendars and classifier.
    pub fn requests(&self) -> crate::requests::RequestService {
        crate::requests::RequestService {
            storage: self.storage.clone(),
            calendars: self.calendars.clone(),
            classifier: self.classifier.clone(),
            creates: self.creates.clone(),
        }
    }
}

/// A JSON body whose rejections are problem documents that say what was wrong.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                ApiError::Unprocessable(format!("the JSON body does not fit: {}", e.body_text()))
            }
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::BadRequest(format!("the body is not valid JSON: {}", e.body_text()))
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::BadRequest(
                "send the body as JSON with `Content-Type: application/json`".into(),
            ),
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

/// The OpenAPI 3 document, generated from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "contactd API",
        description = "Citizen contact-center daemon. Every endpoint but /healthz and /readyz needs a session: POST /api/v1/session, then the cookie or `Authorization: Bearer <token>`. Errors are RFC 9457 problem details."
    ),
    paths(
        session::create,
        session::delete,
        session::me,
        calendar::deadline,
        classifier::search,
        classifier::item,
        survey::tasks,
        survey::call,
        survey::outcome,
        survey::draw,
        survey::stats,
        escalation::sent,
        requests::create,
        requests::get,
        requests::list,
        requests::act,
        requests::audit,
        requests::applicant,
        requests::queue,
        requests::executor_report,
        requests::call,
        openapi_json
    ),
    components(schemas(
        session::LoginBody,
        session::SessionToken,
        AuthUser,
        crate::auth::Role,
        calendar::DeadlineAnswer,
        classifier::ItemView,
        classifier::TermView,
        crate::escalation::SentEntry,
        crate::requests::NewRequest,
        crate::requests::ApplicantInput,
        crate::requests::Channel,
        crate::requests::ActionBody,
        crate::requests::ApiAction,
        crate::requests::RequestView,
        crate::requests::RequestSummary,
        crate::requests::Page,
        crate::requests::AuditEntry,
        crate::requests::ApplicantView,
        crate::requests::QueueItem,
        crate::requests::ExecutorReportRow,
        requests::CallView
    ))
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3 document")))]
async fn openapi_json(_user: AuthUser) -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let body_limit = state.config.http.body_limit_bytes;
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/ws/operator", get(operator::operator_socket))
        .route("/ws/executor", get(executor_feed::executor_socket))
        .route("/api/v1/escalations/sent", get(escalation::sent))
        .route("/api/v1/openapi.json", get(openapi_json))
        .route(
            "/api/v1/session",
            axum::routing::post(session::create).delete(session::delete),
        )
        .route("/api/v1/me", get(session::me))
        .route("/api/v1/calendar/deadline", get(calendar::deadline))
        .route("/api/v1/classifier/search", get(classifier::search))
        .route("/api/v1/classifier/items/{code}", get(classifier::item))
        .route(
            "/api/v1/requests",
            get(requests::list).post(requests::create),
        )
        .route("/api/v1/requests/{number}", get(requests::get))
        .route(
            "/api/v1/requests/{number}/actions",
            axum::routing::post(requests::act),
        )
        .route("/api/v1/requests/{number}/audit", get(requests::audit))
        .route("/api/v1/applicants", get(requests::applicant))
        .route("/api/v1/queue", get(requests::queue))
        .route("/api/v1/reports/executors", get(requests::executor_report))
        .route("/api/v1/calls/{call_id}", get(requests::call))
        .route("/api/v1/survey/tasks", get(survey::tasks))
        .route(
            "/api/v1/survey/tasks/{id}/call",
            axum::routing::post(survey::call),
        )
        .route(
            "/api/v1/survey/tasks/{id}/outcome",
            axum::routing::post(survey::outcome),
        )
        .route("/api/v1/survey/draws/{id}", get(survey::draw))
        .route("/api/v1/survey/stats", get(survey::stats))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
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
