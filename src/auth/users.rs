//! Creating users (`contactd user add`).

use chrono::{DateTime, Utc};

use super::{hash_password, Role};
use crate::storage::{to_db_time, Storage};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("login `{0}` is invalid: use 2–64 letters, digits, '.', '-' or '_'")]
    BadLogin(String),
    #[error("the password is too short: use at least 10 characters")]
    WeakPassword,
    #[error("role {0} needs --executor UNIT (the unit the user works for)")]
    ExecutorMissing(&'static str),
    #[error("--executor is only for the executor role")]
    ExecutorNotAllowed,
    #[error("unknown executor unit `{0}`: import the classifier that declares it first (contactd classifier import)")]
    UnknownExecutor(String),
    #[error("extension `{0}` is invalid: use 2–8 digits, as the PBX numbers operator phones")]
    BadExtension(String),
    #[error("a user with login `{0}` already exists")]
    Exists(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub login: String,
    pub password: String,
    pub role: Role,
    pub executors: Vec<String>,
    pub extension: Option<String>,
}

/// Validate and insert a user; returns its id.
pub async fn add_user(
    storage: &Storage,
    user: &NewUser,
    now: DateTime<Utc>,
) -> Result<i64, UserError> {
    let login_ok = (2..=64).contains(&user.login.chars().count())
        && user
            .login
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !login_ok {
        return Err(UserError::BadLogin(user.login.clone()));
    }
    if user.password.chars().count() < 10 {
        return Err(UserError::WeakPassword);
    }
    match (user.role, user.executors.is_empty()) {
        (Role::Executor, true) => return Err(UserError::ExecutorMissing("executor")),
        (Role::Executor, false) => {}
        (_, false) => return Err(UserError::ExecutorNotAllowed),
        _ => {}
    }
    if let Some(ext) = &user.extension {
        if !(2..=8).contains(&ext.len()) || !ext.chars().all(|c| c.is_ascii_digit()) {
            return Err(UserError::BadExtension(ext.clone()));
        }
    }
    let password = user.password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| UserError::Hash(e.to_string()))??;
    let mut tx = storage.writer().begin().await?;
    for unit in &user.executors {
        let known: Option<String> =
            sqlx::query_scalar("SELECT code FROM executors WHERE code = $1")
                .bind(unit)
                .fetch_optional(&mut *tx)
                .await?;
        if known.is_none() {
            return Err(UserError::UnknownExecutor(unit.clone()));
        }
    }
    let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(
        "INSERT INTO users (login, password_hash, role, extension, active, created_at) VALUES ($1, $2, $3, $4, 1, $5) RETURNING id",
    )
    .bind(&user.login)
    .bind(&hash)
    .bind(user.role.as_str())
    .bind(user.extension.as_deref())
    .bind(to_db_time(now))
    .fetch_one(&mut *tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            return Err(UserError::Exists(user.login.clone()))
        }
        Err(e) => return Err(e.into()),
    };
    for unit in &user.executors {
        sqlx::query("INSERT INTO user_executors (user_id, executor_code) VALUES ($1, $2)")
            .bind(id)
            .bind(unit)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor, action, entity, entity_id, after_json) VALUES ($1, NULL, 'cli', 'user.add', 'user', $2, $3)",
    )
    .bind(to_db_time(now))
    .bind(id.to_string())
    .bind(serde_json::json!({"login": user.login, "role": user.role.as_str(), "executors": user.executors, "extension": user.extension}).to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}
