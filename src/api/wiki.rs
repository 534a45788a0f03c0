//! Wiki pages and project settings (02 §4). Slugs may hold slashes (`guides/setup`), so the
//! page routes are one catch-all, `/pages/{*slug}`: `GET …/{slug}/history` and
//! `POST …/{slug}/regenerate` are told apart by their suffix (the suffix routes win over a
//! page of that name, as 02 §0.7 says), everything else is the page itself. Writes need edit
//! standing and `project_context` on the project's plan; user keys only.

use axum::extract::FromRequest;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::api::compile::CompileRequest;
use crate::api::extract::{Json, OptionalJson, QueryPairs};
use crate::api::knowledge::BacklinkBody;
use crate::auth::{ProjectEditor, ProjectReader, UserOnly};
use crate::db::compile::ProjectSettings;
use crate::db::wiki::{Page, PageType};
use crate::domain::knowledge_index as index;
use crate::domain::wiki::{self as rules, PutPage, SettingsChange, Writer};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_pages))
        .routes(routes!(
            get_page,
            put_page,
            patch_page,
            delete_page,
            post_page
        ))
        .routes(routes!(put_settings))
}

/// A page in the list.
#[derive(Serialize, ToSchema)]
pub struct PageSummary {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub page_type: PageType,
    pub word_count: i64,
    pub entry_count: i64,
    pub auto_generated: bool,
    pub updated_at: String,
    pub publish: bool,
}

impl From<Page> for PageSummary {
    fn from(p: Page) -> Self {
        PageSummary {
            id: p.id,
            slug: p.slug,
            title: p.title,
            page_type: p.page_type,
            word_count: p.word_count,
            entry_count: p.entry_count,
            auto_generated: p.auto_generated,
            updated_at: p.updated_at,
            publish: p.publish,
        }
    }
}

/// A page with its content and the links pointing at it.
#[derive(Serialize, ToSchema)]
pub struct PageDetail {
    pub id: String,
    pub project_id: String,
    pub slug: String,
    pub title: String,
    pub page_type: PageType,
    pub content: String,
    pub word_count: i64,
    pub entry_count: i64,
    pub auto_generated: bool,
    pub publish: bool,
    pub parent_slug: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub backlinks: Vec<BacklinkBody>,
}

fn detail(p: Page, backlinks: Vec<BacklinkBody>) -> PageDetail {
    PageDetail {
        id: p.id,
        project_id: p.project_id,
        slug: p.slug,
        title: p.title,
        page_type: p.page_type,
        content: p.content,
        word_count: p.word_count,
        entry_count: p.entry_count,
        auto_generated: p.auto_generated,
        publish: p.publish,
        parent_slug: p.parent_slug,
        created_at: p.created_at,
        updated_at: p.updated_at,
        backlinks,
    }
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/pages", tag = "knowledge",
    operation_id = "list_pages", summary = "Wiki pages of a project, last changed first",
    params(("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The pages", body = Vec<PageSummary>),
        (status = 404, description = "Project not found"),
    ),
)]
async fn list_pages(
    State(state): State<AppState>,
    access: ProjectReader<UserOnly>,
) -> ApiResult<Json<Vec<PageSummary>>> {
    let pages = rules::list(&state.db, access.project.id).await?;
    Ok(Json(pages.into_iter().map(PageSummary::from).collect()))
}

/// One revision in a page's history.
#[derive(Serialize, ToSchema)]
pub struct RevisionBody {
    pub id: i64,
    pub revision_number: i64,
    pub revised_at: String,
    pub title: String,
    pub word_count: i64,
    pub user_id: String,
    pub persona_name: Option<String>,
    pub ticket_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryBody {
    pub slug: String,
    pub revisions: Vec<RevisionBody>,
    pub count: i64,
    pub next_cursor: Option<i64>,
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/pages/{*slug}", tag = "knowledge",
    operation_id = "get_page", summary = "A wiki page with its backlinks, or its history",
    description = "The slug may hold slashes. A path ending in `/history` answers the page's \
        revisions instead (a `HistoryBody`: `limit` 1–200, default 50; `cursor` = a revision id, \
        older rows follow), newest first. User keys only.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("*slug" = String, Path, description = "Page slug (slashes allowed), optionally + `/history`", example = "guides/setup"),
        ("limit" = Option<i64>, Query, description = "History only: 1–200, default 50"),
        ("cursor" = Option<i64>, Query, description = "History only: a revision id"),
    ),
    responses(
        (status = 200, description = "The page (or its history)", body = PageDetail),
        (status = 404, description = "Project or page not found"),
    ),
)]
async fn get_page(
    State(state): State<AppState>,
    access: ProjectReader<UserOnly>,
    Path((_, slug)): Path<(String, String)>,
    q: QueryPairs,
) -> ApiResult<Response> {
    if let Some(page) = slug.strip_suffix("/history") {
        let limit = match q.last("limit") {
            None => 50,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map_err(|_| {
                    ApiError::validation(
                        "int_parsing",
                        &["query", "limit"],
                        "Input should be a valid integer, unable to parse string as an integer",
                        v.into(),
                    )
                })?
                .clamp(1, 200),
        };
        let cursor = match q.last("cursor") {
            None => None,
            Some(_) => Some(q.int("cursor", 1, 1, i64::MAX)?),
        };
        let (revisions, next_cursor) = rules::history(
            &state.db,
            access.project.id,
            page.to_string(),
            cursor,
            limit,
        )
        .await?;
        let body = HistoryBody {
            slug: page.to_string(),
            count: revisions.len() as i64,
            revisions: revisions
                .into_iter()
                .map(|r| RevisionBody {
                    id: r.id,
                    revision_number: r.revision_number,
                    revised_at: r.revised_at,
                    title: r.title,
                    word_count: r.word_count,
                    user_id: r.user_id,
                    persona_name: r.persona_name,
                    ticket_id: r.ticket_id,
                })
                .collect(),
            next_cursor,
        };
        return Ok(Json(body).into_response());
    }
    let (page, links) = rules::get(&state.db, access.project.id, slug).await?;
    let links = links.into_iter().map(BacklinkBody::from).collect();
    Ok(Json(detail(page, links)).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct PutPageRequest {
    pub content: String,
    pub title: Option<String>,
    /// Provenance: a persona of the project or its org.
    pub persona_name: Option<String>,
    /// Provenance: a ticket of the project the caller created, resolved or is working on.
    pub ticket_id: Option<String>,
    pub publish: Option<bool>,
}

#[utoipa::path(
    put, path = "/api/v1/projects/{project_id}/pages/{*slug}", tag = "knowledge",
    operation_id = "put_page", summary = "Create or update a wiki page",
    description = "Creates the page (type `section`, not auto-generated, title from the slug by \
        default) or replaces its content (title and publish only when given), and appends a \
        revision. 200 either way. Needs `project_context` on the project's plan. User keys only.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("*slug" = String, Path, description = "Page slug (slashes allowed)", example = "guides/setup"),
    ),
    request_body = PutPageRequest,
    responses(
        (status = 200, description = "The page", body = PageDetail),
        (status = 403, description = "Readers may not write (`project_edit_forbidden`); the plan lacks `project_context`"),
        (status = 404, description = "Project not found"),
        (status = 409, description = "A concurrent revision took the number: retry"),
        (status = 413, description = "Content over 200,000 characters"),
        (status = 422, description = "Bad slug or title; unknown persona or ticket"),
    ),
)]
async fn put_page(
    State(state): State<AppState>,
    access: ProjectEditor<UserOnly>,
    Path((_, slug)): Path<(String, String)>,
    Json(body): Json<PutPageRequest>,
) -> ApiResult<Json<PageDetail>> {
    let who = Writer {
        user_id: access.principal.user.id.clone(),
        service_key: access.principal.service_key_ref(),
    };
    let project_id = access.project.id.clone();
    let page = rules::put(
        &state.db,
        &state.clock,
        access.project,
        slug,
        who,
        PutPage {
            content: body.content,
            title: body.title,
            persona_name: body.persona_name,
            ticket_id: body.ticket_id,
            publish: body.publish,
        },
    )
    .await?;
    index::pages_touched(&state.db, &state.knowledge, &project_id).await;
    Ok(Json(detail(page, Vec::new())))
}

#[derive(Deserialize, ToSchema)]
pub struct PublishRequest {
    pub publish: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PublishBody {
    pub slug: String,
    pub publish: bool,
}

#[utoipa::path(
    patch, path = "/api/v1/projects/{project_id}/pages/{*slug}", tag = "knowledge",
    operation_id = "publish_page", summary = "Set a page's publish flag",
    description = "Flips only the flag: no revision, `updated_at` unchanged. User keys only.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("*slug" = String, Path, description = "Page slug (slashes allowed)", example = "guides/setup"),
    ),
    request_body = PublishRequest,
    responses(
        (status = 200, description = "The flag", body = PublishBody),
        (status = 403, description = "Readers may not write (`project_edit_forbidden`); the plan lacks `project_context`"),
        (status = 404, description = "Project or page not found"),
    ),
)]
async fn patch_page(
    State(state): State<AppState>,
    access: ProjectEditor<UserOnly>,
    Path((_, slug)): Path<(String, String)>,
    Json(body): Json<PublishRequest>,
) -> ApiResult<Json<PublishBody>> {
    rules::set_publish(&state.db, access.project, slug.clone(), body.publish).await?;
    Ok(Json(PublishBody {
        slug,
        publish: body.publish,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct PageStatusBody {
    /// `deleted`.
    pub status: String,
    pub slug: String,
}

#[utoipa::path(
    delete, path = "/api/v1/projects/{project_id}/pages/{*slug}", tag = "knowledge",
    operation_id = "delete_page", summary = "Delete a wiki page",
    description = "Its revisions and links stay. User keys only.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("*slug" = String, Path, description = "Page slug (slashes allowed)", example = "guides/setup"),
    ),
    responses(
        (status = 200, description = "Deleted", body = PageStatusBody),
        (status = 403, description = "Readers may not write (`project_edit_forbidden`); the plan lacks `project_context`"),
        (status = 404, description = "Project or page not found"),
    ),
)]
async fn delete_page(
    State(state): State<AppState>,
    access: ProjectEditor<UserOnly>,
    Path((_, slug)): Path<(String, String)>,
) -> ApiResult<Json<PageStatusBody>> {
    let project_id = access.project.id.clone();
    rules::delete(&state.db, access.project, slug.clone()).await?;
    index::pages_touched(&state.db, &state.knowledge, &project_id).await;
    Ok(Json(PageStatusBody {
        status: "deleted".into(),
        slug,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct RegeneratedBody {
    /// `regenerated`.
    pub status: String,
    pub slug: String,
    pub word_count: i64,
    pub entries_used: i64,
    /// Extra: why an LLM that was asked for was not used.
    pub merge_note: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/pages/{*slug}", tag = "knowledge",
    operation_id = "regenerate_page", summary = "Regenerate an auto-generated page (`…/{slug}/regenerate`)",
    description = "Only `POST …/pages/{slug}/regenerate` exists. Rebuilds an auto-generated \
        page from its linked entries (else active entries naming a word of its title) and \
        records a compilation row (02 §9.5). Body as compile (optional): with `llm_api_key` \
        the model writes the article; if it fails, the entries are listed and `merge_note` \
        says why. User keys only.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("*slug" = String, Path, description = "Page slug + `/regenerate`", example = "key-decisions/regenerate"),
    ),
    request_body(content = Option<CompileRequest>, description = "Optional LLM settings"),
    responses(
        (status = 200, description = "Regenerated", body = RegeneratedBody),
        (status = 400, description = "Only auto-generated pages can be regenerated"),
        (status = 403, description = "Readers may not write (`project_edit_forbidden`); the plan lacks `project_context`"),
        (status = 404, description = "Project or page not found"),
        (status = 405, description = "A POST not ending in `/regenerate`"),
    ),
)]
async fn post_page(
    State(state): State<AppState>,
    Path((_, slug)): Path<(String, String)>,
    access: ProjectEditor<UserOnly>,
    request: Request,
) -> ApiResult<Json<RegeneratedBody>> {
    let Some(page) = slug.strip_suffix("/regenerate") else {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
        ));
    };
    let OptionalJson(body) =
        OptionalJson::<Option<CompileRequest>>::from_request(request, &state).await?;
    let who = Writer {
        user_id: access.principal.user.id.clone(),
        service_key: access.principal.service_key_ref(),
    };
    let project_id = access.project.id.clone();
    let done = rules::regenerate(
        &state.db,
        &state.clock,
        &state.llm,
        access.project,
        page.to_string(),
        who,
        CompileRequest::llm(body),
    )
    .await?;
    index::pages_touched(&state.db, &state.knowledge, &project_id).await;
    Ok(Json(RegeneratedBody {
        status: "regenerated".into(),
        slug: page.to_string(),
        word_count: done.word_count,
        entries_used: done.entries_used,
        merge_note: done.merge_note,
    }))
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn explicit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// How often compile runs by itself.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum CompileSchedule {
    Off,
    Nightly,
    Weekly,
}

impl CompileSchedule {
    fn as_str(self) -> &'static str {
        match self {
            CompileSchedule::Off => "off",
            CompileSchedule::Nightly => "nightly",
            CompileSchedule::Weekly => "weekly",
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct SettingsRequest {
    /// Required.
    pub auto_narrative: bool,
    pub kb_retention_days: Option<i64>,
    pub kb_max_context_words: Option<i64>,
    pub kb_section_page_limit: Option<i64>,
    pub compile_schedule: Option<CompileSchedule>,
    /// Absent: unchanged; `null`: cleared; else ≥ 1.
    #[serde(default, deserialize_with = "explicit")]
    #[schema(value_type = Option<i64>)]
    pub compile_after_claims: Option<Option<i64>>,
}

#[derive(Serialize, ToSchema)]
pub struct SettingsBody {
    /// `updated`.
    pub status: String,
    pub auto_narrative: bool,
    pub kb_retention_days: i64,
    pub kb_max_context_words: i64,
    pub kb_section_page_limit: i64,
    pub compile_schedule: String,
    pub compile_after_claims: Option<i64>,
}

impl From<ProjectSettings> for SettingsBody {
    fn from(s: ProjectSettings) -> Self {
        SettingsBody {
            status: "updated".into(),
            auto_narrative: s.auto_narrative,
            kb_retention_days: s.kb_retention_days,
            kb_max_context_words: s.kb_max_context_words,
            kb_section_page_limit: s.kb_section_page_limit,
            compile_schedule: s.compile_schedule,
            compile_after_claims: s.compile_after_claims,
        }
    }
}

#[utoipa::path(
    put, path = "/api/v1/projects/{project_id}/settings", tag = "projects",
    operation_id = "put_project_settings", summary = "Project settings",
    description = "`auto_narrative` is required; other fields absent = unchanged \
        (`compile_after_claims: null` clears it). Every change needs `project_context` on the \
        project's plan, except turning the compile schedule off (optionally clearing \
        `compile_after_claims`). The kb_* values and `compile_after_claims` must be ≥ 1. \
        User keys only.",
    params(("project_id" = String, Path, description = "Project id")),
    request_body = SettingsRequest,
    responses(
        (status = 200, description = "The settings now", body = SettingsBody),
        (status = 403, description = "Readers may not change settings (`project_edit_forbidden`); the plan lacks `project_context`"),
        (status = 404, description = "Project not found"),
        (status = 422, description = "Missing `auto_narrative`, a value below 1, an unknown schedule"),
    ),
)]
async fn put_settings(
    State(state): State<AppState>,
    access: ProjectEditor<UserOnly>,
    Json(body): Json<SettingsRequest>,
) -> ApiResult<Json<SettingsBody>> {
    let settings = rules::update_settings(
        &state.db,
        &state.clock,
        access.project,
        SettingsChange {
            auto_narrative: body.auto_narrative,
            kb_retention_days: body.kb_retention_days,
            kb_max_context_words: body.kb_max_context_words,
            kb_section_page_limit: body.kb_section_page_limit,
            compile_schedule: body.compile_schedule.map(|s| s.as_str().to_string()),
            compile_after_claims: body.compile_after_claims,
        },
    )
    .await?;
    Ok(Json(settings.into()))
}
