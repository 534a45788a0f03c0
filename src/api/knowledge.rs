//! Knowledge entries (02 §3.1–3.5): list with filters and keyset pagination, get, add, and
//! dismiss/undismiss. Service keys reach them with `knowledge:read` / `knowledge:write` inside
//! their project boundary; entry ids are integers (anything else is 422).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::extract::{Json, QueryPairs};
use crate::auth::{KnowledgeRead, KnowledgeWrite, ProjectEditor, ProjectReader};
use crate::db::knowledge::{AuthorClass, ClaimClass, Entry, EntryType, Filter, Freshness, Sort};
use crate::domain::knowledge::{self as rules, AddRequest, Contributor, ListRequest};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(add))
        .routes(routes!(get_entry, dismiss))
}

/// An entry id from the path: an integer, else the contract's 422.
fn entry_id(raw: &str) -> ApiResult<i64> {
    raw.parse().map_err(|_| {
        ApiError::validation(
            "int_parsing",
            &["path", "entry_id"],
            "Input should be a valid integer, unable to parse string as an integer",
            Value::from(raw),
        )
    })
}

fn text_param(q: &QueryPairs, name: &str, max: usize) -> ApiResult<Option<String>> {
    match q.last(name) {
        Some(v) if v.chars().count() > max => Err(ApiError::validation(
            "string_too_long",
            &["query", name],
            format!("String should have at most {max} characters"),
            Value::from(v),
        )),
        other => Ok(other.map(str::to_string)),
    }
}

fn enum_param<T>(
    q: &QueryPairs,
    name: &str,
    parse: fn(&str) -> Option<T>,
    listing: String,
) -> ApiResult<Option<T>> {
    match q.last(name) {
        None => Ok(None),
        Some(v) => parse(v).map(Some).ok_or_else(|| {
            ApiError::validation(
                "enum",
                &["query", name],
                format!("Input should be one of: {listing}"),
                Value::from(v),
            )
        }),
    }
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/entries", tag = "knowledge", operation_id = "list_entries",
    summary = "Knowledge entries of a project",
    description = "Filters `type`, `pending`, `search` (≥3 chars, substring), `claim_class`, \
        `freshness_class`, `dismissed`, `session_id`, `persona_name`, `author_class`, \
        `source_filter`; `sort` (`created_at_desc`, `last_relevant_at_desc`, `confidence_desc`); \
        `page` or `cursor` (keyset, default sort only); `limit` 1–200. `X-Next-Cursor` is set \
        when the default-sorted page is full. A search records retrieval on the returned entries.",
    params(("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The page", body = Vec<EntryBody>),
        (status = 404, description = "Project not found"),
        (status = 422, description = "A bad filter, sort, cursor or limit"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    access: ProjectReader<KnowledgeRead>,
    q: QueryPairs,
) -> ApiResult<Response> {
    let search = match q.last("search").map(str::trim) {
        Some(s) if s.chars().count() < 3 => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`search` must be at least 3 characters",
            ))
        }
        other => other.map(str::to_string),
    };
    let sort =
        match q.last("sort").unwrap_or("created_at_desc") {
            "created_at_desc" => Sort::CreatedAtDesc,
            "last_relevant_at_desc" => Sort::LastRelevantAtDesc,
            "confidence_desc" => Sort::ConfidenceDesc,
            other => return Err(ApiError::validation(
                "enum",
                &["query", "sort"],
                "Input should be 'created_at_desc', 'last_relevant_at_desc' or 'confidence_desc'",
                Value::from(other),
            )),
        };
    let cursor = match q.last("cursor") {
        None => None,
        Some(_) => Some(q.int("cursor", 1, 1, i64::MAX)?),
    };
    if cursor.is_some() && sort != Sort::CreatedAtDesc {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`cursor` is only supported with the default sort (created_at_desc)",
        ));
    }
    let filter = Filter {
        entry_type: q.last("type").map(str::to_string),
        pending: q
            .last("pending")
            .map(|_| q.bool("pending", false))
            .transpose()?,
        search,
        claim_class: enum_param(&q, "claim_class", ClaimClass::parse, ClaimClass::listing())?,
        freshness_class: enum_param(
            &q,
            "freshness_class",
            Freshness::parse,
            Freshness::listing(),
        )?,
        dismissed: q
            .last("dismissed")
            .map(|_| q.bool("dismissed", false))
            .transpose()?,
        session_id: q.last("session_id").map(str::to_string),
        persona_name: text_param(&q, "persona_name", 64)?,
        author_class: enum_param(
            &q,
            "author_class",
            AuthorClass::parse,
            AuthorClass::listing(),
        )?,
        source_filter: text_param(&q, "source_filter", 200)?,
    };
    let principal = &access.principal;
    let record = !principal.is_service_key()
        || principal
            .key
            .scope_list()
            .iter()
            .any(|s| s == "knowledge:write");
    let (entries, next) = rules::list(
        &state.db,
        &state.clock,
        access.project.id.clone(),
        ListRequest {
            filter,
            sort,
            cursor,
            page: q.int("page", 1, 1, i64::MAX / 1000)?,
            limit: q.int("limit", 50, 1, 200)?,
            used_in_answer: q.bool("used_in_answer", false)?,
            record,
        },
    )
    .await?;
    let body: Vec<EntryBody> = entries.into_iter().map(EntryBody::from).collect();
    let mut response = axum::Json(body).into_response();
    if let Some(next) = next {
        response
            .headers_mut()
            .insert("x-next-cursor", HeaderValue::from(next));
    }
    Ok(response)
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/entries/{entry_id}", tag = "knowledge",
    operation_id = "get_entry", summary = "One knowledge entry",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("entry_id" = i64, Path, description = "Entry id"),
    ),
    responses(
        (status = 200, description = "The entry", body = EntryBody),
        (status = 404, description = "Project or entry not found"),
        (status = 422, description = "Non-integer entry id"),
    ),
)]
async fn get_entry(
    State(state): State<AppState>,
    access: ProjectReader<KnowledgeRead>,
    Path((_, raw_id)): Path<(String, String)>,
) -> ApiResult<Json<EntryBody>> {
    let id = entry_id(&raw_id)?;
    let entry = rules::get(&state.db, access.project.id, id).await?;
    Ok(Json(EntryBody::from(entry)))
}

fn default_entry_type() -> String {
    "discovery".into()
}
fn default_session() -> String {
    "manual".into()
}

#[derive(Deserialize, ToSchema)]
pub struct AddEntryRequest {
    pub content: String,
    /// One of the six entry types (default `discovery`).
    #[serde(default = "default_entry_type")]
    pub entry_type: String,
    #[serde(default = "default_session")]
    pub session_id: String,
    pub confidence: Option<f64>,
    pub source_context: Option<String>,
    pub entity_ref: Option<String>,
    pub entity_type: Option<String>,
    pub persona_name: Option<String>,
    #[serde(default)]
    pub upsert: bool,
    pub author_class: Option<AuthorClass>,
    #[serde(default)]
    pub force_claim: bool,
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/entries/add", tag = "knowledge",
    operation_id = "add_entry", summary = "Add a knowledge entry",
    params(("project_id" = String, Path, description = "Project id")),
    request_body = AddEntryRequest,
    responses(
        (status = 201, description = "Added, with its classification", body = AddEntryResponse),
        (status = 403, description = "Upsert by a reader (`project_edit_forbidden`)"),
        (status = 404, description = "Project not found"),
        (status = 409, description = "Similar entry already exists"),
        (status = 413, description = "Content longer than 50,000 characters"),
        (status = 422, description = "Bad entry type, content too short, upsert without entity_ref"),
        (status = 429, description = "Hourly entry limit reached (`Retry-After: 60`)"),
    ),
)]
async fn add(
    State(state): State<AppState>,
    access: ProjectReader<KnowledgeWrite>,
    Json(body): Json<AddEntryRequest>,
) -> ApiResult<Response> {
    let who = Contributor {
        actor: access.principal.actor(),
        standing: access.standing,
        tier: access.principal.tier(),
        service_key: access.principal.service_key_ref(),
    };
    let request = AddRequest {
        content: body.content,
        entry_type: body.entry_type,
        session_id: body.session_id,
        confidence: body.confidence,
        source_context: body.source_context,
        entity_ref: body.entity_ref,
        entity_type: body.entity_type,
        persona_name: body.persona_name,
        upsert: body.upsert,
        author_class: body.author_class,
        force_claim: body.force_claim,
    };
    let added = rules::add(&state.db, &state.clock, access.project.id, who, request).await?;
    let e = added.entry;
    let body = AddEntryResponse {
        id: e.id,
        project_id: e.project_id,
        session_id: e.session_id,
        user_id: e.user_id,
        entry_type: e.entry_type,
        content: e.content,
        confidence: e.confidence,
        source_context: e.source_context,
        persona_name: e.persona_name,
        author_class: e.author_class,
        created_at: e.created_at,
        compiled_at: e.compiled_at,
        dismissed: e.dismissed,
        claim_class: e.claim_class,
        entity_ref: e.entity_ref,
        entity_type: e.entity_type,
        freshness_class: e.freshness_class,
        classification_reason: added.classification_reason,
        tip: added.tip,
        upserted_from: added.upserted_from,
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct DismissRequest {
    /// Default `true`: `{}` dismisses.
    #[serde(default = "yes")]
    pub dismissed: bool,
    /// At most 500 characters; blank means none.
    pub reason: Option<String>,
}

fn yes() -> bool {
    true
}

#[utoipa::path(
    put, path = "/api/v1/projects/{project_id}/entries/{entry_id}", tag = "knowledge",
    operation_id = "dismiss_entry", summary = "Dismiss or undismiss an entry",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("entry_id" = i64, Path, description = "Entry id"),
    ),
    request_body = DismissRequest,
    responses(
        (status = 200, description = "The entry", body = EntryBody),
        (status = 403, description = "Readers may not curate (`project_edit_forbidden`)"),
        (status = 404, description = "Project or entry not found"),
        (status = 422, description = "Non-integer id, reason over 500 characters"),
    ),
)]
async fn dismiss(
    State(state): State<AppState>,
    access: ProjectEditor<KnowledgeWrite>,
    Path((_, raw_id)): Path<(String, String)>,
    Json(body): Json<DismissRequest>,
) -> ApiResult<Json<EntryBody>> {
    let id = entry_id(&raw_id)?;
    let reason = body
        .reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if let Some(r) = reason.as_ref().filter(|r| r.chars().count() > 500) {
        return Err(ApiError::validation(
            "string_too_long",
            &["body", "reason"],
            "String should have at most 500 characters",
            Value::from(r.as_str()),
        ));
    }
    let entry = rules::set_dismissed(
        &state.db,
        &state.clock,
        access.project.id,
        id,
        access.principal.user.id.clone(),
        body.dismissed,
        reason,
    )
    .await?;
    Ok(Json(EntryBody::from(entry)))
}

/// A knowledge entry (02 §3.2).
#[derive(Serialize, ToSchema)]
pub struct EntryBody {
    pub id: i64,
    pub project_id: String,
    pub session_id: String,
    pub user_id: String,
    pub entry_type: EntryType,
    pub content: String,
    pub confidence: f64,
    pub source_context: Option<String>,
    pub persona_name: Option<String>,
    pub author_class: AuthorClass,
    pub created_at: String,
    pub compiled_at: Option<String>,
    pub dismissed: bool,
    pub claim_class: ClaimClass,
    pub entity_ref: Option<String>,
    pub entity_type: Option<String>,
    pub freshness_class: Freshness,
    pub superseded_by: Option<i64>,
    pub supersession_reason: Option<String>,
    pub promoted_at: Option<String>,
    pub promoted_by: Option<String>,
    pub retrieved_count: i64,
    pub used_in_answer_count: i64,
    pub compiled_count: i64,
    pub last_relevant_at: Option<String>,
    pub dismissed_at: Option<String>,
    pub dismissed_by: Option<String>,
    pub dismissed_reason: Option<String>,
}

impl From<Entry> for EntryBody {
    fn from(e: Entry) -> Self {
        EntryBody {
            id: e.id,
            project_id: e.project_id,
            session_id: e.session_id,
            user_id: e.user_id,
            entry_type: e.entry_type,
            content: e.content,
            confidence: e.confidence,
            source_context: e.source_context,
            persona_name: e.persona_name,
            author_class: e.author_class,
            created_at: e.created_at,
            compiled_at: e.compiled_at,
            dismissed: e.dismissed,
            claim_class: e.claim_class,
            entity_ref: e.entity_ref,
            entity_type: e.entity_type,
            freshness_class: e.freshness_class,
            superseded_by: e.superseded_by,
            supersession_reason: e.supersession_reason,
            promoted_at: e.promoted_at,
            promoted_by: e.promoted_by,
            retrieved_count: e.retrieved_count,
            used_in_answer_count: e.used_in_answer_count,
            compiled_count: e.compiled_count,
            last_relevant_at: e.last_relevant_at,
            dismissed_at: e.dismissed_at,
            dismissed_by: e.dismissed_by,
            dismissed_reason: e.dismissed_reason,
        }
    }
}

/// The answer to an add (02 §3.4).
#[derive(Serialize, ToSchema)]
pub struct AddEntryResponse {
    pub id: i64,
    pub project_id: String,
    pub session_id: String,
    pub user_id: String,
    pub entry_type: EntryType,
    pub content: String,
    pub confidence: f64,
    pub source_context: Option<String>,
    pub persona_name: Option<String>,
    pub author_class: AuthorClass,
    pub created_at: String,
    pub compiled_at: Option<String>,
    pub dismissed: bool,
    pub claim_class: ClaimClass,
    pub entity_ref: Option<String>,
    pub entity_type: Option<String>,
    pub freshness_class: Freshness,
    pub classification_reason: String,
    pub tip: Option<String>,
    pub upserted_from: Vec<i64>,
}
