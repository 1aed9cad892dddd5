//! Classifier search for operators while the caller talks, and item lookup.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, AppState};
use crate::auth::AuthUser;
use contactd_classifier::{ClassifierCode, Item, RequestType};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Words or a code prefix, e.g. `вода` or `22.5`.
    pub q: String,
    /// At most this many hits (default 20, at most 100).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TermView {
    pub request_type: String,
    /// e.g. `10 working days`, `24 hours`.
    pub term: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    pub code: String,
    pub title: String,
    pub executors: Vec<String>,
    pub area: Option<String>,
    pub terms: Vec<TermView>,
    /// The revision (0 = base decision, then one per amendment) this wording belongs to.
    pub revision: u32,
}

fn view(item: &Item, revision: u32) -> ItemView {
    ItemView {
        code: item.code.to_string(),
        title: item.title.clone(),
        executors: item
            .executors
            .iter()
            .map(|e| e.as_str().to_owned())
            .collect(),
        area: item.area.clone(),
        terms: [
            RequestType::Emergency,
            RequestType::Ordinary,
            RequestType::Medium,
            RequestType::Long,
        ]
        .into_iter()
        .filter_map(|t| {
            item.terms.get(t).map(|term| TermView {
                request_type: t.key().to_owned(),
                term: term.to_string(),
            })
        })
        .collect(),
        revision,
    }
}

fn not_loaded() -> ApiError {
    ApiError::Unavailable("no classifier is imported yet: an administrator runs `contactd classifier import FILE --decision N --date D`".into())
}

/// Ranked search over the latest revision's items.
#[utoipa::path(get, path = "/api/v1/classifier/search", tag = "classifier", params(SearchQuery),
    responses((status = 200, body = [ItemView]), (status = 503, description = "no classifier imported")))]
pub async fn search(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Vec<ItemView>>, ApiError> {
    if q.q.chars().count() > 200 {
        return Err(ApiError::BadRequest(
            "the query is longer than 200 characters".into(),
        ));
    }
    let loaded = state
        .classifier
        .get_or_load(&state.storage)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .ok_or_else(not_loaded)?;
    let limit = q.limit.unwrap_or(20).min(100);
    let hits = loaded.index.search(&q.q, limit);
    Ok(Json(
        hits.iter()
            .filter_map(|hit| loaded.indexed.get(hit.index))
            .map(|item| view(item, loaded.latest.0))
            .collect(),
    ))
}

/// One item as worded in the latest revision, or in `revision` when given.
#[utoipa::path(get, path = "/api/v1/classifier/items/{code}", tag = "classifier",
    params(("code" = String, Path, description = "e.g. 22.5.27")),
    responses((status = 200, body = ItemView), (status = 404, description = "no such item")))]
pub async fn item(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(code): Path<String>,
) -> Result<Json<ItemView>, ApiError> {
    let code = ClassifierCode::parse(&code).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let loaded = state
        .classifier
        .get_or_load(&state.storage)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .ok_or_else(not_loaded)?;
    let item = loaded.classifier.item(code, loaded.latest).ok_or_else(|| {
        ApiError::NotFound(format!(
            "classifier item {code} does not exist in the latest revision"
        ))
    })?;
    Ok(Json(view(item, loaded.latest.0)))
}
