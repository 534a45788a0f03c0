//! Session routes other than push/pull: list, detail, upload, rename, alias, delete, restore,
//! messages. Every lookup is scoped to the caller's own sessions.

mod types;
pub use types::*;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Multipart, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::api::access::OwnedSession;
use crate::api::extract::{Json, QueryPairs};
use crate::api::sync::ArchiveUploadRequest;
use crate::api::sync::{receive_archive, TooLarge};
use crate::archive::messages::{MessagePage, PageRequest};
use crate::auth::Principal;
use crate::db::sessions::{self as rows, Edit, ListFilter, SessionRow, Visibility};
use crate::domain::search;
use crate::domain::sessions::{self, is_alias};
use crate::domain::summaries;
use crate::domain::summary::Summary;
use crate::domain::tiers::Feature;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        // Uploads count their own bytes against the tier's cap.
        .routes(routes!(upload).layer(DefaultBodyLimit::disable()))
        .routes(routes!(detail, patch, soft_delete))
        .routes(routes!(restore))
        .routes(routes!(set_alias, clear_alias))
        .routes(routes!(messages))
        .routes(routes!(get_summary, rebuild_summary))
}

fn tags_of(row: &SessionRow) -> Value {
    serde_json::from_str::<Value>(&row.tags).unwrap_or_else(|_| Value::Array(vec![]))
}

/// The list item shape (`SessionSummary`).
impl From<&SessionRow> for SessionSummary {
    fn from(row: &SessionRow) -> Self {
        SessionSummary {
            id: row.id.clone(),
            title: row.title.clone(),
            alias: row.alias.clone(),
            tags: tags_of(row),
            source_tool: row.source_tool.clone(),
            model_id: row.model_id.clone(),
            message_count: row.message_count,
            turn_count: row.turn_count,
            tool_use_count: row.tool_use_count,
            total_input_tokens: row.total_input_tokens,
            total_output_tokens: row.total_output_tokens,
            blob_size_bytes: row.blob_size_bytes,
            etag: row.blob_hash.clone(),
            parent_session_id: row.parent_session_id.clone(),
            created_at: row.created_at.clone(),
            updated_at: row.updated_at.clone(),
            is_deleted: row.is_deleted(),
            deleted_at: row.deleted_at.clone(),
            deleted_by: row.deleted_by.clone(),
            delete_scope: row.delete_scope.clone(),
            purge_after: row.purge_after.clone(),
        }
    }
}

impl From<&SessionRow> for SessionDetail {
    fn from(row: &SessionRow) -> Self {
        SessionDetail {
            summary: SessionSummary::from(row),
            original_session_id: row.original_session_id.clone(),
            source_tool_version: row.source_tool_version.clone(),
            model_provider: row.model_provider.clone(),
            duration_ms: row.duration_ms,
            uploaded_at: row.uploaded_at.clone(),
            dlp_scan_results: row.dlp_scan_results.clone(),
            retrieval_audit_id: row.retrieval_audit_id.clone(),
        }
    }
}

/// The tool names a filter value stands for (`gemini` and `gemini-cli` are one family).
pub fn tool_family(tool: &str) -> Vec<String> {
    let base = tool.strip_suffix("-cli").unwrap_or(tool);
    if matches!(base, "gemini" | "copilot") {
        vec![base.to_string(), format!("{base}-cli")]
    } else {
        vec![tool.to_string()]
    }
}

fn bad_query(name: &str, msg: &str, input: &str) -> ApiError {
    ApiError::validation("value_error", &["query", name], msg, Value::from(input))
}

#[utoipa::path(
    get, path = "/api/v1/sessions", tag = "sessions", operation_id = "list_sessions",
    summary = "List the caller's sessions",
    description = "Newest first (`updated_at`), or by model. `deleted=true` lists the trash instead.",
    params(
        ("page" = Option<i64>, Query, description = "From 1", minimum = 1),
        ("page_size" = Option<i64>, Query, description = "1–100, default 20", minimum = 1, maximum = 100),
        ("source_tool" = Option<String>, Query, description = "Only this tool (`gemini` also matches `gemini-cli`, `copilot` `copilot-cli`)"),
        ("model" = Option<Vec<String>>, Query, description = "Only these models (repeatable; `unknown` matches sessions without one)", explode),
        ("tag" = Option<String>, Query, description = "Only sessions with this tag"),
        ("sort" = Option<String>, Query, description = "`updated_at` (default) or `model`"),
        ("order" = Option<String>, Query, description = "`desc` (default) or `asc`"),
        ("deleted" = Option<bool>, Query, description = "List the trash (soft-deleted sessions)"),
    ),
    responses(
        (status = 200, description = "A page of sessions", body = SessionList),
        (status = 422, description = "A parameter out of range"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    q: QueryPairs,
) -> ApiResult<Json<SessionList>> {
    let page = q.int("page", 1, 1, i64::from(u32::MAX))?;
    let page_size = q.int("page_size", 20, 1, 100)?;
    let models = q.all("model");
    if models.len() > 50 || models.iter().any(|m| m.chars().count() > 200) {
        return Err(bad_query(
            "model",
            "At most 50 model values of at most 200 characters",
            "",
        ));
    }
    let sort_by_model = match q.last("sort") {
        None | Some("updated_at") => false,
        Some("model") => true,
        Some(other) => {
            return Err(bad_query(
                "sort",
                "sort must be 'updated_at' or 'model'",
                other,
            ))
        }
    };
    let ascending = match q.last("order") {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => return Err(bad_query("order", "order must be 'asc' or 'desc'", other)),
    };
    let filter = ListFilter {
        source_tools: q
            .last("source_tool")
            .filter(|t| !t.is_empty())
            .map(tool_family)
            .unwrap_or_default(),
        tag: q.last("tag").filter(|t| !t.is_empty()).map(str::to_string),
        deleted: q.bool("deleted", false)?,
        models,
        sort_by_model,
        ascending,
    };
    let user_id = principal.user.id.clone();
    let (found, total) = state
        .db
        .read(move |conn| rows::list(conn, &user_id, &filter, page_size, (page - 1) * page_size))
        .await?;
    Ok(Json(SessionList {
        sessions: found.iter().map(SessionSummary::from).collect(),
        total,
        page,
        page_size,
        has_more: page * page_size < total,
    }))
}

#[utoipa::path(
    get, path = "/api/v1/sessions/{id}", tag = "sessions", operation_id = "get_session",
    summary = "A session",
    params(("id" = String, Path, description = "Session id (`ses_…`) or alias")),
    responses(
        (status = 200, description = "The session", body = SessionDetail),
        (status = 400, description = "Malformed id"),
        (status = 404, description = "No such live session of the caller"),
    ),
)]
async fn detail(OwnedSession { session: row, .. }: OwnedSession) -> ApiResult<Json<SessionDetail>> {
    Ok(Json(SessionDetail::from(&row)))
}

static HTML_TAG: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"<[^>]*>").expect("regex compiles"));

/// A title as stored: HTML tags removed, trimmed; NUL bytes refused.
pub(crate) fn clean_title(raw: &str, place: &str) -> ApiResult<String> {
    if raw.contains('\0') {
        return Err(ApiError::bad_request("Title must not contain NUL bytes"));
    }
    if raw.chars().count() > 500 {
        return Err(ApiError::validation(
            "string_too_long",
            &[place, "title"],
            "String should have at most 500 characters",
            Value::from(raw),
        ));
    }
    Ok(HTML_TAG.replace_all(raw, "").trim().to_string())
}

pub(crate) fn check_tags(tags: &[String]) -> Result<(), String> {
    if tags.len() > 20 {
        return Err("At most 20 tags are allowed".into());
    }
    if tags
        .iter()
        .any(|t| t.chars().count() > 50 || t.contains('\0'))
    {
        return Err("Each tag must be at most 50 characters".into());
    }
    Ok(())
}

pub(crate) fn check_alias(alias: &str) -> ApiResult<()> {
    let loc = ["body", "alias"];
    let n = alias.chars().count();
    if !(3..=100).contains(&n) {
        return Err(ApiError::invalid_value(
            &loc,
            "Alias must be 3-100 characters",
            Value::from(alias),
        ));
    }
    if !is_alias(alias) {
        return Err(ApiError::invalid_value(
            &loc,
            "Alias must be alphanumeric, hyphens, and underscores only (no spaces), starting with alphanumeric",
            Value::from(alias),
        ));
    }
    Ok(())
}

/// Applies an edit and re-indexes the session (its title, alias and tags are searchable).
pub(crate) async fn edit(
    state: &AppState,
    principal: &Principal,
    id: &str,
    change: Edit,
) -> ApiResult<SessionRow> {
    let row = sessions::edit(&state.db, &state.clock, &principal.user.id, id, change).await?;
    search::refresh(&state.db, &state.blobs, &state.search, &row.id).await?;
    Ok(row)
}

#[utoipa::path(
    patch, path = "/api/v1/sessions/{id}", tag = "sessions", operation_id = "update_session",
    summary = "Rename, re-tag or alias a session",
    description = "At least one of `title`, `alias`, `tags`. Setting an alias needs a tier with cloud aliases.",
    params(("id" = String, Path, description = "Session id (`ses_…`) or alias")),
    request_body = SessionPatchRequest,
    responses(
        (status = 200, description = "The updated session", body = SessionDetail),
        (status = 400, description = "Nothing to update"),
        (status = 403, description = "The tier has no cloud aliases (`upgrade_required`)"),
        (status = 404, description = "No such session of the caller"),
        (status = 409, description = "The alias is taken"),
        (status = 422, description = "Invalid title, alias or tags"),
    ),
)]
async fn patch(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<SessionPatchRequest>,
) -> ApiResult<Json<SessionDetail>> {
    if body.title.is_none() && body.alias.is_none() && body.tags.is_none() {
        return Err(ApiError::bad_request(
            "Nothing to update: give title, alias or tags",
        ));
    }
    let title = match &body.title {
        Some(raw) => {
            let title = clean_title(raw, "body")?;
            if title.is_empty() {
                return Err(ApiError::invalid_value(
                    &["body", "title"],
                    "Title must not be empty",
                    Value::from(raw.clone()),
                ));
            }
            Some(title)
        }
        None => None,
    };
    if let Some(tags) = &body.tags {
        check_tags(tags)
            .map_err(|m| ApiError::invalid_value(&["body", "tags"], &m, json!(tags)))?;
    }
    if let Some(alias) = &body.alias {
        principal.tier().require(Feature::AliasesCloud)?;
        check_alias(alias)?;
    }
    let change = Edit {
        title,
        tags: body.tags,
        alias: body.alias.map(Some),
    };
    let row = edit(&state, &principal, &id, change).await?;
    Ok(Json(SessionDetail::from(&row)))
}

#[utoipa::path(
    put, path = "/api/v1/sessions/{id}/alias", tag = "sessions", operation_id = "set_session_alias",
    summary = "Set a session's alias",
    description = "Needs a tier with cloud aliases. An alias works wherever a session id does.",
    params(("id" = String, Path, description = "Session id (`ses_…`) or alias")),
    request_body = AliasRequest,
    responses(
        (status = 200, description = "The session", body = SessionDetail),
        (status = 403, description = "The tier has no cloud aliases (`upgrade_required`)"),
        (status = 404, description = "No such session of the caller"),
        (status = 409, description = "The alias is taken"),
        (status = 422, description = "Invalid alias"),
    ),
)]
async fn set_alias(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<AliasRequest>,
) -> ApiResult<Json<SessionDetail>> {
    principal.tier().require(Feature::AliasesCloud)?;
    check_alias(&body.alias)?;
    let change = Edit {
        alias: Some(Some(body.alias)),
        ..Edit::default()
    };
    let row = edit(&state, &principal, &id, change).await?;
    Ok(Json(SessionDetail::from(&row)))
}

#[utoipa::path(
    delete, path = "/api/v1/sessions/{id}/alias", tag = "sessions", operation_id = "clear_session_alias",
    summary = "Remove a session's alias",
    params(("id" = String, Path, description = "Session id (`ses_…`) or alias")),
    responses(
        (status = 200, description = "The session", body = SessionDetail),
        (status = 404, description = "No such session of the caller"),
    ),
)]
async fn clear_alias(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionDetail>> {
    let change = Edit {
        alias: Some(None),
        ..Edit::default()
    };
    let row = edit(&state, &principal, &id, change).await?;
    Ok(Json(SessionDetail::from(&row)))
}

#[utoipa::path(
    delete, path = "/api/v1/sessions/{id}", tag = "sessions", operation_id = "delete_session",
    summary = "Move a session to the trash",
    description = "A soft delete: the session leaves lists, search, pull and share links, and can be \
restored until `purge_after` (30 days). Without `scope` the answer carries an `X-Deprecation-Warning` header.",
    params(
        ("id" = String, Path, description = "Session id (`ses_…`) or alias"),
        ("scope" = Option<String>, Query, description = "`cloud` (default) or `everywhere` (the client deletes its local copy too; `delete_scope` becomes `both`)"),
    ),
    responses(
        (status = 200, description = "The deleted session", body = SessionDetail,
            headers(("X-Deprecation-Warning" = String, description = "When `scope` was not given"))),
        (status = 400, description = "Bad `scope` or malformed id"),
        (status = 404, description = "No such session of the caller"),
        (status = 410, description = "Already deleted"),
    ),
)]
async fn soft_delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    q: QueryPairs,
) -> ApiResult<Response> {
    let scope_given = q.last("scope");
    let scope = sessions::delete_scope(scope_given)?;
    let row =
        sessions::soft_delete(&state.db, &state.clock, &principal.user.id, &id, scope).await?;
    state.search.remove(&row.id);
    tracing::info!(session = %row.id, user = %principal.user.id, scope, "session soft-deleted");
    let mut response = Json(SessionDetail::from(&row)).into_response();
    if scope_given.is_none() {
        response.headers_mut().insert(
            HeaderName::from_static("x-deprecation-warning"),
            HeaderValue::from_static(
                "scope query parameter will be required in v1.0. Please update your CLI to specify --cloud or --everywhere.",
            ),
        );
    }
    Ok(response)
}

#[utoipa::path(
    post, path = "/api/v1/sessions/{id}/restore", tag = "sessions", operation_id = "restore_session",
    summary = "Restore a session from the trash",
    params(("id" = String, Path, description = "Session id (`ses_…`) or alias")),
    responses(
        (status = 200, description = "The restored session", body = RestoredSession),
        (status = 404, description = "No such session of the caller"),
        (status = 409, description = "The session is not deleted"),
    ),
)]
async fn restore(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<RestoredSession>> {
    let (row, scope) = sessions::restore(&state.db, &principal.user.id, &id).await?;
    search::refresh(&state.db, &state.blobs, &state.search, &row.id).await?;
    tracing::info!(session = %row.id, user = %principal.user.id, "session restored");
    Ok(Json(RestoredSession {
        session: SessionDetail::from(&row),
        local_copy_may_be_missing: scope == "both",
        restored_from_scope: scope,
    }))
}

#[utoipa::path(
    get, path = "/api/v1/sessions/{id}/messages", tag = "sessions", operation_id = "list_session_messages",
    summary = "A page of a session's messages",
    description = "Read from the stored archive. Sidechain messages and empty non-tool messages are hidden.",
    params(
        ("id" = String, Path, description = "Session id (`ses_…`) or alias"),
        ("page" = Option<i64>, Query, description = "From 1", minimum = 1),
        ("page_size" = Option<i64>, Query, description = "1–100, default 50", minimum = 1, maximum = 100),
        ("order" = Option<String>, Query, description = "`oldest` (default) or `newest`"),
        ("around" = Option<i64>, Query, description = "A 0-based line of `messages.jsonl`: return the page holding the nearest visible message (`page` is ignored)", minimum = 0, maximum = 10000000),
    ),
    responses(
        (status = 200, description = "A page of messages", body = MessagesPage),
        (status = 404, description = "No such live session of the caller, or its archive is missing"),
        (status = 422, description = "A parameter out of range"),
    ),
)]
async fn messages(SessionPage { req, found }: SessionPage) -> ApiResult<Json<MessagesPage>> {
    let PageRequest {
        page,
        page_size,
        around,
        ..
    } = req;
    let Some(p) = found else {
        return Ok(Json(MessagesPage {
            messages: vec![],
            message_indexes: vec![],
            total: 0,
            page,
            page_size,
            has_more: false,
            target: around.map(|index| MessageTarget {
                index,
                status: "missing",
                anchor_index: None,
            }),
        }));
    };
    Ok(Json(MessagesPage {
        messages: p.messages,
        message_indexes: p.message_indexes,
        total: p.total,
        page: p.page,
        page_size,
        has_more: p.page * page_size < p.total,
        target: p.target.map(|t| MessageTarget {
            index: t.index,
            status: t.status,
            anchor_index: t.anchor_index,
        }),
    }))
}

/// A messages request and its page, read in the blocking hop that reads the key and the session
/// row (a page is a seek and a read of the messages index: a second hop would be a good part of
/// its time). Errors in their order: auth, the id, 404, then the query's parameters. The read
/// holds a pooled connection meanwhile; only an archive stored before the messages index
/// existed makes it long (its index is rebuilt, once).
struct SessionPage {
    req: PageRequest,
    /// `None`: the archive has no messages.
    found: Option<MessagePage>,
}

impl FromRequestParts<AppState> for SessionPage {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<SessionPage> {
        let q = QueryPairs::from_request_parts(parts, state).await?;
        let req = page_request(&q);
        let blobs = state.blobs.clone();
        let (_, found) = OwnedSession::extract_and(parts, state, move |row| {
            let req = req?;
            let hash = &row.blob_hash;
            if !blobs.contains(hash) {
                return Err(ApiError::not_found("Session blob not found"));
            }
            let found =
                blobs
                    .message_index()
                    .read_page(hash, || blobs.open_blob_sync(hash), req)?;
            Ok(SessionPage { req, found })
        })
        .await?;
        found
    }
}

/// The page a messages request asks for (422 for a parameter out of range).
fn page_request(q: &QueryPairs) -> ApiResult<PageRequest> {
    let around = match q.last("around") {
        Some(_) => Some(q.int("around", 0, 0, 10_000_000)? as usize),
        None => None,
    };
    Ok(PageRequest {
        page: q.int("page", 1, 1, i64::from(u32::MAX))? as usize,
        page_size: q.int("page_size", 50, 1, 100)? as usize,
        newest_first: q.last("order") == Some("newest"),
        around,
    })
}

/// `POST /sessions`: a new session from a multipart upload; the server assigns its id.
#[utoipa::path(
    post, path = "/api/v1/sessions", tag = "sessions", operation_id = "upload_session",
    summary = "Upload a new session",
    description = "The server assigns a new id on every call (to push a session under its own id, use \
`PUT /api/v1/sessions/{id}/sync`). Needs a verified email. At most 100 MiB; the archive is validated \
before anything is stored.",
    params(
        ("source_tool" = String, Query, description = "1–50 of `a-z`, `0-9`, `-`, `_`"),
        ("title" = Option<String>, Query, description = "Overrides the manifest's title; at most 500 characters"),
        ("tags" = Option<String>, Query, description = "A JSON array of strings, overriding the manifest's tags"),
    ),
    request_body(content = ArchiveUploadRequest, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = UploadResult),
        (status = 400, description = "Not a valid archive, or bad `title`/`tags`"),
        (status = 403, description = "Email not verified, or the tier has no cloud sync"),
        (status = 413, description = "Over 100 MiB, or a member over the tier's cap"),
        (status = 422, description = "No `source_tool` or no `file` part"),
    ),
)]
async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    q: QueryPairs,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    principal.require_verified()?;
    let tier = principal.tier();
    tier.require(Feature::CloudSync)?;
    let Some(source_tool) = q.last("source_tool") else {
        return Err(ApiError::missing(&["query", "source_tool"]));
    };
    let valid_tool = !source_tool.is_empty()
        && source_tool.len() <= 50
        && source_tool
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid_tool {
        return Err(bad_query(
            "source_tool",
            "source_tool must be 1-50 characters of a-z, 0-9, '-' or '_'",
            source_tool,
        ));
    }
    let title = q
        .last("title")
        .map(|t| clean_title(t, "query"))
        .transpose()?
        .filter(|t| !t.is_empty());
    let tags = match q.last("tags") {
        Some(raw) => {
            let parsed: Vec<String> = (raw.len() <= 5000)
                .then(|| serde_json::from_str(raw).ok())
                .flatten()
                .ok_or_else(|| ApiError::bad_request("tags must be a JSON array of strings"))?;
            check_tags(&parsed).map_err(ApiError::bad_request)?;
            Some(parsed)
        }
        None => None,
    };
    let mut archive = receive_archive(&state, multipart, tier, TooLarge::Upload).await?;
    archive.meta.source_tool = source_tool.to_string();
    if title.is_some() {
        archive.meta.title = title;
    }
    if let Some(tags) = tags {
        archive.meta.tags = tags;
    }
    let (etag, size) = (archive.hash.clone(), archive.size);
    let text = std::mem::take(&mut archive.meta.messages_text);
    let row =
        sessions::create_uploaded(&state.db, &state.clock, &principal.user.id, archive).await?;
    state.search.upsert(search::doc(&row, text));
    tracing::info!(session = %row.id, user = %principal.user.id, bytes = size, "session uploaded");
    let body = UploadResult {
        session_id: row.id,
        etag,
        blob_size_bytes: size,
        uploaded_at: row.uploaded_at,
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// The `SummaryResponse` shape: the deterministic summary, no narrative (no model is called).
fn summary_response(s: Summary, generated_at: String) -> SessionSummaryReport {
    SessionSummaryReport {
        session_id: s.session_id,
        title: s.title,
        tool: s.tool,
        model: s.model,
        duration_minutes: s.duration_minutes,
        message_count: s.message_count,
        tool_call_count: s.tool_call_count,
        branch: s.branch,
        commit: s.commit,
        files_modified: s.files_modified,
        files_read: s.files_read,
        commands_executed: s.commands_executed,
        tests_run: s.tests_run,
        tests_passed: s.tests_passed,
        tests_failed: s.tests_failed,
        packages_installed: s.packages_installed,
        errors_encountered: s.errors_encountered,
        personas_active: s.personas_active,
        what_happened: None,
        key_decisions: None,
        outcome: None,
        open_issues: None,
        narrative_model: None,
        narrative_error: None,
        generated_at,
    }
}

#[utoipa::path(
    get, path = "/api/v1/sessions/{id}/summary", tag = "sessions", operation_id = "get_session_summary",
    summary = "A session's summary",
    description = "Deterministic (files touched, commands, tests, packages, errors), cached until the session changes.",
    params(("id" = String, Path, description = "Session id (`ses_…`) or alias")),
    responses(
        (status = 200, description = "The summary", body = SessionSummaryReport),
        (status = 404, description = "No such session of the caller"),
        (status = 422, description = "The archive has no messages"),
    ),
)]
async fn get_summary(
    State(state): State<AppState>,
    OwnedSession { session: row, .. }: OwnedSession,
) -> ApiResult<Json<SessionSummaryReport>> {
    let (summary, at) =
        summaries::for_session(&state.db, &state.clock, &state.blobs, &row, false).await?;
    Ok(Json(summary_response(summary, at)))
}

#[utoipa::path(
    post, path = "/api/v1/sessions/{id}/summary", tag = "sessions", operation_id = "rebuild_session_summary",
    summary = "Rebuild a session's summary",
    params(("id" = String, Path, description = "Session id (`ses_…`) or alias")),
    responses(
        (status = 200, description = "The rebuilt summary", body = SessionSummaryReport),
        (status = 403, description = "The tier has no summaries (`upgrade_required`)"),
        (status = 404, description = "No such session of the caller"),
        (status = 422, description = "The archive has no messages"),
    ),
)]
async fn rebuild_summary(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionSummaryReport>> {
    principal.tier().require(Feature::SummaryDeterministic)?;
    let row = sessions::find_owned(&state.db, &principal.user.id, &id, Visibility::Live).await?;
    let (summary, at) =
        summaries::for_session(&state.db, &state.clock, &state.blobs, &row, true).await?;
    Ok(Json(summary_response(summary, at)))
}
