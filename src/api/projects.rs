//! Projects (02 §2): list, create, get by git remote or id, replace the context document,
//! rename, delete. Who may do what is decided in [`crate::domain::projects`]; a project the
//! caller cannot read answers 404.
//!
//! Routing precedence (02 §0.7): a one-segment value (`proj_…`, `repo`, `acme%2Fapp`) is the
//! `{project_id}` route; a remote with slashes reaches [`remote_fallback`], which the router
//! calls only when no concrete route matched. So `acme/entries` is the entries route of a
//! project `acme` (404 "Project not found"). matchit cannot hold a catch-all beside a parameter
//! at the same segment, hence the fallback.

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::extract::Json;
use crate::auth::Principal;
use crate::db::projects::Repo;
use crate::domain::projects::{self as rules, NewProject, ProjectView};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_by_remote, rename, delete))
        .routes(routes!(put_context))
}

/// The multi-segment remotes (`GET /projects/acme/app`, `PUT /projects/acme/app/context`): the
/// router's fallback sends every path no route matched here, so they are matched after every
/// concrete route, in this one place. Anything else is the plain 404 envelope.
pub async fn remote_fallback(state: &AppState, request: Request) -> Option<Response> {
    let path = request.uri().path().strip_prefix("/api/v1/projects/")?;
    let value = percent_decode_str(path).decode_utf8().ok()?.into_owned();
    if !value.contains('/') {
        return None;
    }
    let (mut parts, body) = request.into_parts();
    let answer = async {
        let principal = Principal::from_request_parts(&mut parts, state).await?;
        match parts.method {
            Method::GET => get_by_remote(State(state.clone()), principal, Path(value))
                .await
                .map(IntoResponse::into_response),
            Method::PUT => {
                let Some(remote) = value.strip_suffix("/context") else {
                    return Err(ApiError::new(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "Method Not Allowed",
                    ));
                };
                let request = Request::from_parts(parts, body);
                let Json(body) = Json::<ContextRequest>::from_request(request, state).await?;
                put_context(
                    State(state.clone()),
                    principal,
                    Path(remote.to_string()),
                    Json(body),
                )
                .await
                .map(IntoResponse::into_response)
            }
            _ => Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
            )),
        }
    };
    Some(answer.await.unwrap_or_else(IntoResponse::into_response))
}

#[utoipa::path(
    get, path = "/api/v1/projects/", tag = "projects", operation_id = "list_projects",
    summary = "Projects the caller may read",
    description = "Owned, of the caller's orgs, or reached through the caller's sessions; newest change first.",
    responses((status = 200, description = "The projects", body = Vec<ProjectBody>)),
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<ProjectBody>>> {
    let views = rules::list(&state.db, principal.actor()).await?;
    Ok(Json(views.into_iter().map(ProjectBody::from).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateProjectRequest {
    pub name: String,
    /// Any form of the remote; it is normalized (02 §2.2).
    pub git_remote_normalized: String,
    pub org_id: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/projects/", tag = "projects", operation_id = "create_project",
    summary = "Create a project for a repository",
    request_body = CreateProjectRequest,
    responses(
        (status = 201, description = "Created", body = ProjectBody),
        (status = 403, description = "Not a member of `org_id`, or the plan lacks `project_context`"),
        (status = 409, description = "Project already exists for this repository"),
        (status = 422, description = "Blank or `reclaimed:` remote, bad name"),
    ),
)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateProjectRequest>,
) -> ApiResult<Response> {
    let view = rules::create(
        &state.db,
        &state.clock,
        principal.actor(),
        principal.tier(),
        NewProject {
            name: body.name,
            git_remote: body.git_remote_normalized,
            org_id: body.org_id,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(ProjectBody::from(view))).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}", tag = "projects", operation_id = "get_project",
    summary = "A project by git remote (slashes included) or `proj_…` id",
    description = "`project_id` may be a remote with slashes (`/api/v1/projects/acme/app`), matched \
        after every concrete `/projects/{project_id}/<sub>` route.",
    params(("project_id" = String, Path, description = "Normalized remote, raw remote URL, or project id")),
    responses(
        (status = 200, description = "The project with its repositories", body = ProjectBody),
        (status = 404, description = "No project context found (or not the caller's to read)"),
    ),
)]
async fn get_by_remote(
    State(state): State<AppState>,
    principal: Principal,
    Path(remote): Path<String>,
) -> ApiResult<Json<ProjectBody>> {
    let view = rules::find(&state.db, principal.actor(), remote).await?;
    Ok(Json(ProjectBody::from(view)))
}

#[derive(Deserialize, ToSchema)]
pub struct ContextRequest {
    pub context_document: String,
}

#[derive(Serialize, ToSchema)]
pub struct ContextUpdated {
    /// `updated`.
    pub status: &'static str,
    /// Length of the document in characters.
    pub size: usize,
}

#[utoipa::path(
    put, path = "/api/v1/projects/{remote}/context", tag = "projects", operation_id = "put_project_context",
    summary = "Replace a project's context document",
    description = "The path is `/api/v1/projects/{remote}/context`: everything before the final \
        `/context` is the remote (resolved by remote only, never by id).",
    params(("remote" = String, Path, description = "The remote (slashes included)")),
    request_body = ContextRequest,
    responses(
        (status = 200, description = "Replaced", body = ContextUpdated),
        (status = 403, description = "Readers may not edit (`project_edit_forbidden`)"),
        (status = 404, description = "Project not found"),
        (status = 413, description = "Document larger than 1 MiB"),
    ),
)]
async fn put_context(
    State(state): State<AppState>,
    principal: Principal,
    Path(remote): Path<String>,
    Json(body): Json<ContextRequest>,
) -> ApiResult<Json<ContextUpdated>> {
    let size = rules::set_context(
        &state.db,
        &state.clock,
        principal.actor(),
        remote,
        body.context_document,
    )
    .await?;
    Ok(Json(ContextUpdated {
        status: "updated",
        size,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct RenameRequest {
    pub name: String,
}

#[utoipa::path(
    patch, path = "/api/v1/projects/{project_id}", tag = "projects", operation_id = "rename_project",
    summary = "Rename a project (owner or org admin)",
    params(("project_id" = String, Path, description = "Project id")),
    request_body = RenameRequest,
    responses(
        (status = 200, description = "Renamed", body = ProjectBody),
        (status = 403, description = "Not the owner or an org admin"),
        (status = 404, description = "Project not found"),
        (status = 422, description = "Empty, too long or NUL name"),
    ),
)]
async fn rename(
    State(state): State<AppState>,
    principal: Principal,
    Path(project_id): Path<String>,
    Json(body): Json<RenameRequest>,
) -> ApiResult<Json<ProjectBody>> {
    let view = rules::rename(
        &state.db,
        &state.clock,
        principal.actor(),
        project_id,
        body.name,
    )
    .await?;
    Ok(Json(ProjectBody::from(view)))
}

#[derive(Serialize, ToSchema)]
pub struct ProjectDeleted {
    /// `deleted`.
    pub status: &'static str,
    pub id: String,
}

#[utoipa::path(
    delete, path = "/api/v1/projects/{project_id}", tag = "projects", operation_id = "delete_project",
    summary = "Delete a project and everything it owns (owner or platform admin)",
    params(("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "Deleted", body = ProjectDeleted),
        (status = 403, description = "Only the project owner or an admin can delete this project"),
        (status = 404, description = "Project not found"),
    ),
)]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(project_id): Path<String>,
) -> ApiResult<Json<ProjectDeleted>> {
    let id = rules::delete(&state.db, principal.actor(), project_id).await?;
    crate::domain::knowledge_index::forget_project(&state.knowledge, &id);
    Ok(Json(ProjectDeleted {
        status: "deleted",
        id,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct RepoBody {
    pub id: String,
    pub project_id: String,
    pub git_remote_normalized: String,
    pub provider: Option<String>,
    pub provider_repo_id: Option<String>,
    pub is_primary: bool,
    pub verified: bool,
    pub verification_method: Option<String>,
    pub added_by_user_id: Option<String>,
    pub created_at: String,
}

impl From<Repo> for RepoBody {
    fn from(r: Repo) -> Self {
        RepoBody {
            id: r.id,
            project_id: r.project_id,
            git_remote_normalized: r.git_remote_normalized,
            provider: r.provider,
            provider_repo_id: r.provider_repo_id,
            is_primary: r.is_primary,
            verified: r.verified,
            verification_method: r.verification_method,
            added_by_user_id: r.added_by_user_id,
            created_at: r.created_at,
        }
    }
}

/// A project as the client reads it (02 §2.3).
#[derive(Serialize, ToSchema)]
pub struct ProjectBody {
    pub id: String,
    pub name: String,
    pub git_remote_normalized: String,
    pub context_document: String,
    pub owner_id: String,
    pub org_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The caller's sessions on the project's remotes (list only; 0 elsewhere).
    pub session_count: i64,
    pub auto_narrative: bool,
    pub kb_retention_days: i64,
    pub kb_max_context_words: i64,
    pub kb_section_page_limit: i64,
    /// `off`, `nightly` or `weekly`.
    pub compile_schedule: String,
    pub compile_after_claims: Option<i64>,
    pub last_scheduled_compile_at: Option<String>,
    /// On GET one and PATCH only.
    pub repos: Option<Vec<RepoBody>>,
    pub repo_reclaimed: bool,
    pub effective_tier: Option<String>,
    pub can_edit: bool,
    pub can_admin: bool,
    pub can_delete: bool,
    pub can_transfer: bool,
    /// Project groups (none on this server).
    pub groups: Option<Vec<String>>,
}

impl From<ProjectView> for ProjectBody {
    fn from(v: ProjectView) -> Self {
        let p = v.project;
        let detailed = v.repos.is_some();
        ProjectBody {
            id: p.id,
            name: p.name,
            git_remote_normalized: p.git_remote_normalized,
            context_document: p.context_document,
            owner_id: p.owner_id,
            org_id: p.org_id,
            created_at: p.created_at,
            updated_at: p.updated_at,
            session_count: v.session_count,
            auto_narrative: p.auto_narrative,
            kb_retention_days: p.kb_retention_days,
            kb_max_context_words: p.kb_max_context_words,
            kb_section_page_limit: p.kb_section_page_limit,
            compile_schedule: p.compile_schedule,
            compile_after_claims: p.compile_after_claims,
            last_scheduled_compile_at: p.last_scheduled_compile_at,
            repos: v.repos.map(|r| r.into_iter().map(RepoBody::from).collect()),
            repo_reclaimed: false,
            effective_tier: None,
            can_edit: v.standing.edit,
            can_admin: v.standing.admin,
            can_delete: v.standing.delete,
            can_transfer: v.standing.transfer,
            groups: detailed.then(Vec::new),
        }
    }
}
