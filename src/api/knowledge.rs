//! Knowledge entries (02 §3.1–3.5): list with filters and keyset pagination, get, add, the
//! curation routes (dismiss/undismiss, refresh, supersede, promote, confidence, bulk-promote,
//! dismiss-stale) and backlinks. Service keys reach them with `knowledge:read` / `knowledge:write` inside
//! their project boundary; entry ids are integers (anything else is 422).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::extract::{Json, QueryPairs};
use crate::auth::Principal;
use crate::auth::{KnowledgeRead, KnowledgeWrite, ProjectEditor, ProjectReader, UserOnly};
use crate::db::knowledge::{
    AuthorClass, Backlink, ClaimClass, Entry, EntryType, Filter, Freshness, LinkNode, LinkType,
    Sort,
};
use crate::domain::knowledge::{
    self as rules, AddRequest, BulkPromote, BulkPromoted, Contributor, Curator, ListRequest,
    SkipCounts,
};
use crate::domain::knowledge_index as index;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(add))
        .routes(routes!(get_entry, dismiss))
        .routes(routes!(refresh))
        .routes(routes!(supersede))
        .routes(routes!(promote))
        .routes(routes!(set_confidence))
        .routes(routes!(bulk_promote))
        .routes(routes!(dismiss_stale))
        .routes(routes!(backlinks))
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
    let mut touched = added.upserted_from.clone();
    touched.push(added.entry.id);
    index::touched(
        &state.db,
        &state.knowledge,
        &added.entry.project_id,
        Some(touched),
    )
    .await;
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
    index::touched(
        &state.db,
        &state.knowledge,
        &entry.project_id,
        Some(vec![id]),
    )
    .await;
    Ok(Json(EntryBody::from(entry)))
}

fn curator(principal: &Principal) -> Curator {
    Curator {
        user_id: principal.user.id.clone(),
        service_key: principal.service_key_ref(),
    }
}

/// The answer to a refresh.
#[derive(Serialize, ToSchema)]
pub struct RefreshResponse {
    pub id: i64,
    pub freshness_class: Freshness,
    pub last_relevant_at: String,
}

#[utoipa::path(
    put, path = "/api/v1/projects/{project_id}/entries/{entry_id}/refresh", tag = "knowledge",
    operation_id = "refresh_entry", summary = "Mark an entry still valid",
    description = "Sets `last_relevant_at` to now and `freshness_class` to `current`. No body.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("entry_id" = i64, Path, description = "Entry id"),
    ),
    responses(
        (status = 200, description = "The new freshness", body = RefreshResponse),
        (status = 403, description = "Readers may not curate (`project_edit_forbidden`)"),
        (status = 404, description = "Project or entry not found"),
        (status = 422, description = "Non-integer entry id"),
    ),
)]
async fn refresh(
    State(state): State<AppState>,
    access: ProjectEditor<KnowledgeWrite>,
    Path((_, raw_id)): Path<(String, String)>,
) -> ApiResult<Json<RefreshResponse>> {
    let id = entry_id(&raw_id)?;
    let done = rules::refresh(
        &state.db,
        &state.clock,
        access.project.id,
        id,
        curator(&access.principal),
    )
    .await?;
    Ok(Json(RefreshResponse {
        id: done.id,
        freshness_class: done.freshness_class,
        last_relevant_at: done.last_relevant_at,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct SupersedeRequest {
    /// The entry that replaces this one (same project).
    pub superseding_id: i64,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct SupersedeResponse {
    pub superseded_entry_id: i64,
    pub superseding_entry_id: i64,
    pub reason: String,
}

#[utoipa::path(
    put, path = "/api/v1/projects/{project_id}/entries/{entry_id}/supersede", tag = "knowledge",
    operation_id = "supersede_entry", summary = "Mark an entry superseded by another",
    description = "Sets `superseded_by`, `supersession_reason` and freshness `superseded`, and \
        links the superseding entry to this one (`supersedes`). A repeat between the same two \
        entries is 409 `duplicate_resource` and changes nothing.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("entry_id" = i64, Path, description = "Entry id"),
    ),
    request_body = SupersedeRequest,
    responses(
        (status = 200, description = "Superseded", body = SupersedeResponse),
        (status = 403, description = "Readers may not curate (`project_edit_forbidden`)"),
        (status = 404, description = "Project, entry or superseding entry not found"),
        (status = 409, description = "These entries are already linked (`duplicate_resource`)"),
        (status = 422, description = "Non-integer id, an entry superseding itself"),
    ),
)]
async fn supersede(
    State(state): State<AppState>,
    access: ProjectEditor<KnowledgeWrite>,
    Path((_, raw_id)): Path<(String, String)>,
    Json(body): Json<SupersedeRequest>,
) -> ApiResult<Json<SupersedeResponse>> {
    let id = entry_id(&raw_id)?;
    let project_id = access.project.id.clone();
    rules::supersede(
        &state.db,
        &state.clock,
        access.project.id,
        id,
        body.superseding_id,
        body.reason.clone(),
        curator(&access.principal),
    )
    .await?;
    index::touched(&state.db, &state.knowledge, &project_id, Some(vec![id])).await;
    Ok(Json(SupersedeResponse {
        superseded_entry_id: id,
        superseding_entry_id: body.superseding_id,
        reason: body.reason,
    }))
}

#[utoipa::path(
    put, path = "/api/v1/projects/{project_id}/entries/{entry_id}/promote", tag = "knowledge",
    operation_id = "promote_entry", summary = "Promote a note to a claim",
    description = "Gates: confidence ≥ 0.8, content ≥ 50 characters, not a near-duplicate of \
        the 50 newest active claims. No body.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("entry_id" = i64, Path, description = "Entry id"),
    ),
    responses(
        (status = 200, description = "The promoted entry", body = EntryBody),
        (status = 403, description = "Readers may not curate (`project_edit_forbidden`)"),
        (status = 404, description = "Project or entry not found"),
        (status = 409, description = "Entry is already a claim"),
        (status = 422, description = "Non-integer id; `Cannot promote: …` with the failed gates"),
    ),
)]
async fn promote(
    State(state): State<AppState>,
    access: ProjectEditor<KnowledgeWrite>,
    Path((_, raw_id)): Path<(String, String)>,
) -> ApiResult<Json<EntryBody>> {
    let id = entry_id(&raw_id)?;
    let entry = rules::promote(
        &state.db,
        &state.clock,
        access.project.id,
        id,
        curator(&access.principal),
    )
    .await?;
    index::touched(
        &state.db,
        &state.knowledge,
        &entry.project_id,
        Some(vec![id]),
    )
    .await;
    Ok(Json(EntryBody::from(entry)))
}

#[derive(Deserialize, ToSchema)]
pub struct ConfidenceRequest {
    /// 0 to 1.
    pub confidence: f64,
}

#[utoipa::path(
    put, path = "/api/v1/projects/{project_id}/entries/{entry_id}/confidence", tag = "knowledge",
    operation_id = "set_entry_confidence", summary = "Set an entry's confidence",
    description = "Never promotes: call `/promote` afterwards. User keys only.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("entry_id" = i64, Path, description = "Entry id"),
    ),
    request_body = ConfidenceRequest,
    responses(
        (status = 200, description = "The entry", body = EntryBody),
        (status = 403, description = "Readers may not curate (`project_edit_forbidden`)"),
        (status = 404, description = "Project or entry not found"),
        (status = 422, description = "Non-integer id, confidence outside 0..1"),
    ),
)]
async fn set_confidence(
    State(state): State<AppState>,
    access: ProjectEditor<UserOnly>,
    Path((_, raw_id)): Path<(String, String)>,
    Json(body): Json<ConfidenceRequest>,
) -> ApiResult<Json<EntryBody>> {
    let id = entry_id(&raw_id)?;
    let entry = rules::set_confidence(&state.db, access.project.id, id, body.confidence).await?;
    Ok(Json(EntryBody::from(entry)))
}

fn default_min_length() -> i64 {
    50
}
fn default_min_confidence() -> f64 {
    0.8
}

#[derive(Deserialize, ToSchema)]
pub struct BulkPromoteRequest {
    /// 1..10000, default 50.
    #[serde(default = "default_min_length")]
    pub min_length: i64,
    /// 0..1, default 0.8; ignored when `set_confidence` is given.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f64,
    /// 0..1: raises each promoted note's confidence to this.
    pub set_confidence: Option<f64>,
    /// Only notes of this type (≤ 64 characters).
    pub entry_type: Option<String>,
    /// Default `true`: answer what would happen, write nothing.
    #[serde(default = "yes")]
    pub dry_run: bool,
    #[serde(default)]
    pub include_reader_notes: bool,
}

/// Skipped notes per reason.
#[derive(Serialize, ToSchema)]
pub struct SkipReasons {
    pub already_claim: i64,
    pub dismissed: i64,
    pub superseded: i64,
    pub wrong_type: i64,
    pub too_short: i64,
    pub low_confidence: i64,
    pub duplicate: i64,
}

impl From<SkipCounts> for SkipReasons {
    fn from(c: SkipCounts) -> Self {
        SkipReasons {
            already_claim: c.already_claim,
            dismissed: c.dismissed,
            superseded: c.superseded,
            wrong_type: c.wrong_type,
            too_short: c.too_short,
            low_confidence: c.low_confidence,
            duplicate: c.duplicate,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BulkPromoteResponse {
    pub promoted: i64,
    pub skipped: i64,
    pub reasons: SkipReasons,
    pub promoted_ids: Vec<i64>,
    pub dry_run: bool,
    pub reader_notes_excluded: i64,
}

impl From<BulkPromoted> for BulkPromoteResponse {
    fn from(r: BulkPromoted) -> Self {
        BulkPromoteResponse {
            promoted: r.promoted,
            skipped: r.skipped,
            reasons: r.reasons.into(),
            promoted_ids: r.promoted_ids,
            dry_run: r.dry_run,
            reader_notes_excluded: r.reader_notes_excluded,
        }
    }
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/entries/bulk-promote", tag = "knowledge",
    operation_id = "bulk_promote_entries", summary = "Promote every eligible note",
    description = "Skip reasons in order: `already_claim`, `dismissed`, `superseded`, \
        `wrong_type`, `too_short`, `low_confidence` (without `set_confidence`), `duplicate`. \
        Readers' notes are left out unless `include_reader_notes`. Writes only with \
        `dry_run: false`. User keys only.",
    params(("project_id" = String, Path, description = "Project id")),
    request_body = BulkPromoteRequest,
    responses(
        (status = 200, description = "What was (or would be) promoted", body = BulkPromoteResponse),
        (status = 403, description = "Readers may not curate (`project_edit_forbidden`)"),
        (status = 404, description = "Project not found"),
        (status = 422, description = "An option out of range"),
    ),
)]
async fn bulk_promote(
    State(state): State<AppState>,
    access: ProjectEditor<UserOnly>,
    Json(body): Json<BulkPromoteRequest>,
) -> ApiResult<Json<BulkPromoteResponse>> {
    let who = curator(&access.principal);
    let opts = BulkPromote {
        min_length: body.min_length,
        min_confidence: body.min_confidence,
        set_confidence: body.set_confidence,
        entry_type: body.entry_type,
        dry_run: body.dry_run,
        include_reader_notes: body.include_reader_notes,
    };
    let project_id = access.project.id.clone();
    let result = rules::bulk_promote(&state.db, &state.clock, access.project, who, opts).await?;
    if !result.dry_run {
        let ids = result.promoted_ids.clone();
        index::touched(&state.db, &state.knowledge, &project_id, Some(ids)).await;
    }
    Ok(Json(result.into()))
}

#[derive(Serialize, ToSchema)]
pub struct DismissStaleResponse {
    pub dismissed_count: i64,
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/entries/dismiss-stale", tag = "knowledge",
    operation_id = "dismiss_stale_entries", summary = "Dismiss stale low-confidence entries",
    description = "Dismisses active entries with confidence < 0.5 that were never relevant and \
        are older than 90 days, or last relevant more than 90 days ago. No body. User keys only.",
    params(("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "How many were dismissed", body = DismissStaleResponse),
        (status = 403, description = "Readers may not curate (`project_edit_forbidden`)"),
        (status = 404, description = "Project not found"),
    ),
)]
async fn dismiss_stale(
    State(state): State<AppState>,
    access: ProjectEditor<UserOnly>,
) -> ApiResult<Json<DismissStaleResponse>> {
    let project_id = access.project.id.clone();
    let dismissed_count = rules::dismiss_stale(&state.db, &state.clock, access.project.id).await?;
    if dismissed_count > 0 {
        index::touched(&state.db, &state.knowledge, &project_id, None).await;
    }
    Ok(Json(DismissStaleResponse { dismissed_count }))
}

/// A link as its target sees it.
#[derive(Serialize, ToSchema)]
pub struct BacklinkBody {
    pub source_type: LinkNode,
    pub source_id: String,
    pub link_type: LinkType,
    pub confidence: f64,
}

impl From<Backlink> for BacklinkBody {
    fn from(l: Backlink) -> Self {
        BacklinkBody {
            source_type: l.source_type,
            source_id: l.source_id,
            link_type: l.link_type,
            confidence: l.confidence,
        }
    }
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/links/{target_type}/{target_id}", tag = "knowledge",
    operation_id = "list_backlinks", summary = "Links pointing at an entry or a page",
    description = "`target_type` is `entry` (id as a decimal string) or `page` (page id); any \
        other type has no links. User keys only.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("target_type" = String, Path, description = "`entry` or `page`"),
        ("target_id" = String, Path, description = "Entry id or page id"),
    ),
    responses(
        (status = 200, description = "The backlinks, oldest first", body = Vec<BacklinkBody>),
        (status = 404, description = "Project not found"),
    ),
)]
async fn backlinks(
    State(state): State<AppState>,
    access: ProjectReader<UserOnly>,
    Path((_, target_type, target_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Vec<BacklinkBody>>> {
    let links = rules::backlinks(&state.db, access.project.id, target_type, target_id).await?;
    Ok(Json(links.into_iter().map(BacklinkBody::from).collect()))
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
