//! Users, roles and sessions: argon2id password hashes, opaque session tokens stored as SHA-256
//! hashes (expiring, revocable), the `AuthUser` extractor (session cookie or `Authorization:
//! Bearer`), and a login rate limiter.

mod limiter;
mod users;

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use limiter::LoginLimiter;
pub use users::{add_user, NewUser, UserError};

use crate::http::{ApiError, AppState};
use crate::storage::{from_db_time, to_db_time, Storage};

/// Name of the session cookie the console uses.
pub const SESSION_COOKIE: &str = "contactd_session";
/// How long a session lives.
pub const SESSION_TTL: Duration = Duration::hours(12);

/// What a user may do (see the authorization matrix in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Contact-center worker: takes calls, registers and routes requests.
    Operator,
    /// Member of one or more executor units: sees and works on their requests only.
    Executor,
    /// Head of the contact-center department: everything operators do, plus reports.
    Supervisor,
    /// Manages users, executor units and the classifier.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Executor => "executor",
            Self::Supervisor => "supervisor",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "operator" => Some(Self::Operator),
            "executor" => Some(Self::Executor),
            "supervisor" => Some(Self::Supervisor),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// The authenticated user of a request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuthUser {
    pub id: i64,
    pub login: String,
    pub role: Role,
    /// The operator's PBX extension, if any.
    pub extension: Option<String>,
    /// Executor units the user belongs to (executors only).
    pub executors: Vec<String>,
}

impl AuthUser {
    /// 403 unless the user has one of `roles`.
    pub fn require(&self, roles: &[Role], what: &str) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::Forbidden(format!(
                "{what} is allowed to the roles {}; you are signed in as {} ({})",
                allowed.join(", "),
                self.login,
                self.role.as_str()
            )))
        }
    }
}

/// Hash a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, UserError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// Check a password against a stored PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A password hash to verify against when the login does not exist, so that the answer takes
/// as long as for a wrong password (no user enumeration by timing).
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

/// Check a login and password; on success create a session and return its token.
pub async fn login(
    storage: &Storage,
    login: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, ApiError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE login = $1 AND active = 1")
            .bind(login)
            .fetch_optional(storage.reader())
            .await?;
    let password_owned = password.to_owned();
    let (user_id, ok) = match row {
        Some((id, hash)) => {
            let ok = tokio::task::spawn_blocking(move || verify_password(&password_owned, &hash))
                .await
                .map_err(|e| ApiError::Internal(e.into()))?;
            (id, ok)
        }
        None => {
            let _ =
                tokio::task::spawn_blocking(move || verify_password(&password_owned, dummy_hash()))
                    .await;
            (0, false)
        }
    };
    if !ok {
        return Ok(None);
    }
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash(&token))
        .bind(user_id)
        .bind(to_db_time(now))
        .bind(to_db_time(now + SESSION_TTL))
        .execute(storage.writer())
        .await?;
    Ok(Some(token))
}

/// Revoke a session.
pub async fn logout(storage: &Storage, token: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
        .bind(to_db_time(now))
        .bind(token_hash(token))
        .execute(storage.writer())
        .await?;
    Ok(())
}

/// The user behind a session token, if the session is valid at `now`.
pub async fn user_for_token(
    storage: &Storage,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<AuthUser>, ApiError> {
    Ok(session_user(storage, &token_hash(token), now)
        .await?
        .map(|(user, _)| user))
}

/// The user of the session with this token hash, and when the session expires.
async fn session_user(
    storage: &Storage,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<(AuthUser, DateTime<Utc>)>, ApiError> {
    let row: Option<(i64, String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT u.id, u.login, u.role, u.extension, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND u.active = 1",
    )
    .bind(hash)
    .fetch_optional(storage.reader())
    .await?;
    let Some((id, login, role, extension, expires_at)) = row else {
        return Ok(None);
    };
    let expires_at = from_db_time(expires_at);
    if expires_at <= now {
        return Ok(None);
    }
    let role = Role::parse(&role)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("user {id} has unknown role {role}")))?;
    let executors: Vec<String> = sqlx::query_scalar(
        "SELECT executor_code FROM user_executors WHERE user_id = $1 ORDER BY executor_code",
    )
    .bind(id)
    .fetch_all(storage.reader())
    .await?;
    Ok(Some((
        AuthUser {
            id,
            login,
            role,
            extension,
            executors,
        },
        expires_at,
    )))
}

/// The session token a request carries: `Authorization: Bearer …`, else the session cookie.
pub fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = token_from_headers(&parts.headers).ok_or_else(|| {
            ApiError::Unauthorized("sign in first: POST /api/v1/session, then send the cookie or `Authorization: Bearer <token>`".into())
        })?;
        cached_user_for_token(&state.storage, &state.sessions, &token, state.clock.now())
            .await?
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "the session is unknown, expired or signed out; sign in again".into(),
                )
            })
    }
}

/// How long a checked session is trusted without asking the database again. A session revoked
/// on another daemon instance (or a user deactivated) stops working within this time; on this
/// instance sign-out takes effect at once.
pub const SESSION_CACHE_TTL: Duration = Duration::seconds(5);

/// Cached sessions: token hash → (user, trusted until).
type SessionMap = std::collections::HashMap<String, (AuthUser, DateTime<Utc>)>;

/// Recently checked sessions, by token hash.
#[derive(Debug, Clone, Default)]
pub struct SessionCache {
    inner: Arc<std::sync::Mutex<SessionMap>>,
}

impl SessionCache {
    fn get(&self, hash: &str, now: DateTime<Utc>) -> Option<AuthUser> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(hash)
            .filter(|(_, until)| *until > now)
            .map(|(user, _)| user.clone())
    }

    fn put(&self, hash: String, user: AuthUser, until: DateTime<Utc>, now: DateTime<Utc>) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (_, u)| *u > now);
        }
        map.insert(hash, (user, until));
    }

    fn forget(&self, hash: &str) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(hash);
    }
}

/// The user behind `token`, through the cache.
pub async fn cached_user_for_token(
    storage: &Storage,
    cache: &SessionCache,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<AuthUser>, ApiError> {
    let hash = token_hash(token);
    if let Some(user) = cache.get(&hash, now) {
        return Ok(Some(user));
    }
    let Some((user, expires_at)) = session_user(storage, &hash, now).await? else {
        return Ok(None);
    };
    let until = (now + SESSION_CACHE_TTL).min(expires_at);
    cache.put(hash, user.clone(), until, now);
    Ok(Some(user))
}

/// Sign out through the cache: the session is revoked in the database and forgotten here.
pub async fn cached_logout(
    storage: &Storage,
    cache: &SessionCache,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    cache.forget(&token_hash(token));
    logout(storage, token, now).await
}

/// Shared rate limiter handle.
pub type SharedLimiter = Arc<LoginLimiter>;
