//! `GET /api/v1/sessions/search`: BM25-ranked full-text search over the caller's live sessions
//! (titles, aliases, tags, message text), with highlighted snippets. The index answers which
//! sessions match; the database supplies what is shown, so a session deleted a moment ago
//! never appears even if the index has not caught up yet.

use axum::extract::State;
use chrono::Duration;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::extract::{Json, QueryPairs};
use crate::api::sessions::tool_family;
use crate::auth::Principal;
use crate::db::sessions::{self as rows, Visibility};
use crate::domain::tiers::Feature;
use crate::error::{ApiError, ApiResult};
use crate::search::SearchQuery;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

#[utoipa::path(
    get, path = "/api/v1/sessions/search", tag = "search", operation_id = "search_sessions",
    summary = "Search the caller's sessions",
    description = "BM25-ranked full text over titles, aliases, tags and messages, with highlighted snippets. Needs a tier with cloud sync.",
    params(
        ("q" = String, Query, description = "1–500 characters"),
        ("page" = Option<i64>, Query, description = "1–10000", minimum = 1, maximum = 10000),
        ("page_size" = Option<i64>, Query, description = "1–50, default 20", minimum = 1, maximum = 50),
        ("tool" = Option<String>, Query, description = "Only this tool"),
        ("days" = Option<i64>, Query, description = "Only sessions updated in the last 1–365 days", minimum = 1, maximum = 365),
    ),
    responses(
        (status = 200, description = "Results, best first", body = SearchResults),
        (status = 403, description = "The tier has no cloud sync (`upgrade_required`)"),
        (status = 422, description = "No `q`, or a parameter out of range"),
    ),
)]
async fn search(
    State(state): State<AppState>,
    principal: Principal,
    q: QueryPairs,
) -> ApiResult<Json<SearchResults>> {
    principal.tier().require(Feature::CloudSync)?;
    let Some(text) = q.last("q").map(str::to_string) else {
        return Err(ApiError::missing(&["query", "q"]));
    };
    let n = text.chars().count();
    if n == 0 || n > 500 {
        return Err(ApiError::validation(
            "string_too_long",
            &["query", "q"],
            "q must be 1 to 500 characters",
            Value::from(text),
        ));
    }
    let page = q.int("page", 1, 1, 10_000)? as usize;
    let page_size = q.int("page_size", 20, 1, 50)? as usize;
    let days = match q.last("days") {
        Some(_) => Some(q.int("days", 0, 1, 365)?),
        None => None,
    };
    let query = SearchQuery {
        user_id: principal.user.id.clone(),
        q: text.clone(),
        tools: q
            .last("tool")
            .filter(|t| !t.is_empty())
            .map(tool_family)
            .unwrap_or_default(),
        updated_since_micros: days
            .map(|d| (state.clock.now() - Duration::days(d)).timestamp_micros()),
        offset: (page - 1) * page_size,
        limit: page_size,
    };
    let (results, total) = run(&state, &principal.user.id, query).await?;
    Ok(Json(SearchResults {
        results,
        total: total as i64,
        page: page as i64,
        page_size: page_size as i64,
        query: text,
    }))
}

/// Runs a search of the caller's sessions: the index says which match, the database what is
/// shown (a session deleted a moment ago never appears). Also the dashboard's search.
pub(crate) async fn run(
    state: &AppState,
    user_id: &str,
    query: SearchQuery,
) -> ApiResult<(Vec<SearchHit>, usize)> {
    let index = state.search.clone();
    let found = tokio::task::spawn_blocking(move || index.search(&query))
        .await?
        .map_err(|e| ApiError::internal(format!("search: {e}")))?;
    let user_id = user_id.to_string();
    let ids: Vec<String> = found.hits.iter().map(|h| h.session_id.clone()).collect();
    let sessions = state
        .db
        .read(move |conn| {
            ids.iter()
                .map(|id| rows::find_owned(conn, &user_id, id, Visibility::Live))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let results: Vec<SearchHit> = found
        .hits
        .iter()
        .zip(sessions)
        .filter_map(|(hit, row)| {
            let row = row.filter(|r| r.id == hit.session_id)?;
            let matches = if hit.snippet.is_empty() {
                vec![]
            } else {
                vec![SearchMatch {
                    snippet: hit.snippet.clone(),
                }]
            };
            Some(SearchHit {
                session_id: row.id,
                title: row.title,
                alias: row.alias,
                source_tool: row.source_tool,
                model_id: row.model_id,
                message_count: row.message_count,
                updated_at: row.updated_at,
                matches,
            })
        })
        .collect();
    Ok((results, found.total))
}

/// One page of search results, best first.
#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    pub results: Vec<SearchHit>,
    /// Matching sessions in all.
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
    pub query: String,
}

#[derive(Serialize, ToSchema)]
pub struct SearchHit {
    pub session_id: String,
    pub title: Option<String>,
    pub alias: Option<String>,
    pub source_tool: String,
    pub model_id: Option<String>,
    pub message_count: i64,
    pub updated_at: String,
    /// At most one, with the matched words in `<mark>`.
    pub matches: Vec<SearchMatch>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchMatch {
    pub snippet: String,
}
