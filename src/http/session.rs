//! `POST /api/v1/session` (sign in) and `DELETE /api/v1/session` (sign out), `GET /api/v1/me`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::header::SET_COOKIE;
use axum::http::StatusCode;
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ApiJson, AppState};
use crate::auth::{self, AuthUser, SESSION_COOKIE, SESSION_TTL};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub login: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionToken {
    /// Opaque session token: send it as `Authorization: Bearer <token>` (the browser uses the cookie).
    pub token: String,
}

/// Sign in.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginBody,
    responses((status = 200, body = SessionToken, description = "signed in; also sets the HttpOnly session cookie"),
              (status = 401, description = "wrong login or password"),
              (status = 429, description = "too many failed attempts")))]
pub async fn create(
    State(state): State<AppState>,
    extensions: Extensions,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    if body.login.len() > 64 || body.password.len() > 1024 {
        return Err(ApiError::Unprocessable(
            "login (≤ 64) or password (≤ 1024 bytes) is too long".into(),
        ));
    }
    let now = state.clock.now();
    let mut keys = vec![format!("login:{}", body.login)];
    if let Some(ConnectInfo(addr)) = extensions.get::<ConnectInfo<SocketAddr>>() {
        keys.push(format!("ip:{}", addr.ip()));
    }
    if let Some(wait) = state.login_limiter.blocked_for(&keys, now) {
        return Err(ApiError::TooManyRequests(format!(
            "too many failed sign-in attempts; try again in {wait} s"
        )));
    }
    match auth::login(&state.storage, &body.login, &body.password, now).await? {
        Some(token) => {
            state.login_limiter.record_success(&keys[..1]);
            let cookie = format!(
                "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
                SESSION_TTL.num_seconds()
            );
            Ok(([(SET_COOKIE, cookie)], Json(SessionToken { token })).into_response())
        }
        None => {
            state.login_limiter.record_failure(&keys, now);
            tracing::info!(login = %body.login, "failed sign-in");
            Err(ApiError::Unauthorized("wrong login or password".into()))
        }
    }
}

/// Sign out: the session is revoked and the cookie cleared.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "signed out"), (status = 401, description = "not signed in")))]
pub async fn delete(
    State(state): State<AppState>,
    _user: AuthUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = auth::token_from_headers(&headers) {
        auth::cached_logout(&state.storage, &state.sessions, &token, state.clock.now()).await?;
    }
    let clear = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, clear)]).into_response())
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "session", responses((status = 200, body = AuthUser)))]
pub async fn me(user: AuthUser) -> Json<AuthUser> {
    Json(user)
}
