//! Personas (02 §6): project personas under `/api/v1/projects/{project_id}/personas` (read
//! standing to read, edit standing to write; service keys with `personas:read` /
//! `personas:write` inside their project boundary) and org personas under
//! `/api/v1/orgs/{org_id}/personas` (members read; admins and owners write; the member a
//! persona represents may edit it). Names are matched in any case; delete is a soft delete
//! answered with 204.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::access::OrgMember;
use crate::api::extract::{Json, QueryPairs};
use crate::auth::{PersonasRead, PersonasWrite, Principal, ProjectEditor, ProjectReader};
use crate::db::personas::Persona;
use crate::domain::personas::{self as rules, Author, NewPersona, OrgCaller, PersonaPatch};
use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_persona, update, delete))
        .routes(routes!(org_list, org_create))
        .routes(routes!(org_get, org_update, org_delete))
}

/// A persona as answered.
#[derive(Serialize, ToSchema)]
pub struct PersonaBody {
    /// `per_` + 16 hex.
    pub id: String,
    pub project_id: Option<String>,
    pub org_id: Option<String>,
    /// `project` or `org`.
    pub scope: String,
    pub name: String,
    pub role: String,
    pub content: String,
    pub specializations: Vec<String>,
    pub is_active: bool,
    /// Starts at 1; moves by one on every change that changed something.
    pub version: i64,
    /// User id of the creator.
    pub created_by: String,
    pub represented_user_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Persona> for PersonaBody {
    fn from(p: Persona) -> Self {
        PersonaBody {
            scope: p.scope().to_string(),
            id: p.id,
            project_id: p.project_id,
            org_id: p.org_id,
            name: p.name,
            role: p.role,
            content: p.content,
            specializations: p.specializations,
            is_active: p.is_active,
            version: p.version,
            created_by: p.created_by,
            represented_user_id: p.represented_user_id,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

fn bodies(list: Vec<Persona>) -> Vec<PersonaBody> {
    list.into_iter().map(PersonaBody::from).collect()
}

#[derive(Deserialize, ToSchema)]
pub struct CreatePersonaRequest {
    /// `^[A-Za-z0-9_-]{1,50}$` after trimming; unique in the project or org in any case.
    pub name: String,
    /// 1–100 characters after trimming.
    pub role: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub specializations: Vec<String>,
    /// Org personas only (an email or user id of an org member); 422 on a project persona.
    pub represented_user: Option<String>,
}

impl From<CreatePersonaRequest> for NewPersona {
    fn from(b: CreatePersonaRequest) -> Self {
        NewPersona {
            name: b.name,
            role: b.role,
            content: b.content,
            specializations: b.specializations,
            represented_user: b.represented_user,
        }
    }
}

/// `null` kept apart from absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
pub struct UpdatePersonaRequest {
    pub role: Option<String>,
    pub content: Option<String>,
    pub specializations: Option<Vec<String>>,
    /// `false` deactivates (the stranding guard applies), `true` reactivates.
    pub is_active: Option<bool>,
    /// Org personas only: an email or user id, or `null` to clear.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub represented_user: Option<Option<String>>,
}

impl From<UpdatePersonaRequest> for PersonaPatch {
    fn from(b: UpdatePersonaRequest) -> Self {
        PersonaPatch {
            role: b.role,
            content: b.content,
            specializations: b.specializations,
            is_active: b.is_active,
            represented_user: b.represented_user,
        }
    }
}

fn author(principal: &Principal) -> Author {
    Author {
        actor: principal.actor(),
        service_key: principal.service_key_ref(),
    }
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/personas", tag = "personas",
    operation_id = "list_personas", summary = "Personas usable in a project",
    description = "The project's personas sorted by name, then (with `include_org`, default \
        true) its org's personas a project persona of the same name does not shadow, for the \
        org's members and service keys. `include_inactive` (default false) adds soft-deleted \
        ones.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("include_inactive" = Option<bool>, Query, description = "Also soft-deleted personas"),
        ("include_org" = Option<bool>, Query, description = "Also the org's personas (default true)"),
    ),
    responses(
        (status = 200, description = "The personas", body = Vec<PersonaBody>),
        (status = 403, description = "The project's plan lacks personas (`upgrade_required`), or a service key outside its boundary"),
        (status = 404, description = "Project not found"),
        (status = 422, description = "A query flag that is not a boolean"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    access: ProjectReader<PersonasRead>,
    q: QueryPairs,
) -> ApiResult<Json<Vec<PersonaBody>>> {
    let found = rules::list(
        &state.db,
        access.principal.actor(),
        access.project,
        q.bool("include_inactive", false)?,
        q.bool("include_org", true)?,
    )
    .await?;
    Ok(Json(bodies(found)))
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/personas/{name}", tag = "personas",
    operation_id = "get_persona", summary = "One active persona of a project",
    description = "Any case; the project's persona first, then its org's.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("name" = String, Path, description = "Persona name (any case)"),
    ),
    responses(
        (status = 200, description = "The persona", body = PersonaBody),
        (status = 403, description = "The project's plan lacks personas (`upgrade_required`)"),
        (status = 404, description = "Project or persona not found"),
    ),
)]
async fn get_persona(
    State(state): State<AppState>,
    access: ProjectReader<PersonasRead>,
    Path((_, name)): Path<(String, String)>,
) -> ApiResult<Json<PersonaBody>> {
    let p = rules::get(&state.db, access.principal.actor(), access.project, name).await?;
    Ok(Json(p.into()))
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/personas", tag = "personas",
    operation_id = "create_persona", summary = "Create a project persona",
    params(("project_id" = String, Path, description = "Project id")),
    request_body = CreatePersonaRequest,
    responses(
        (status = 201, description = "Created (version 1)", body = PersonaBody),
        (status = 403, description = "No edit standing (`project_edit_forbidden`), or the plan lacks personas"),
        (status = 404, description = "Project not found"),
        (status = 409, description = "The name is taken in any case, by an active or a soft-deleted persona"),
        (status = 413, description = "Content too long"),
        (status = 422, description = "Bad name or role, or `represented_user` on a project persona"),
    ),
)]
async fn create(
    State(state): State<AppState>,
    access: ProjectEditor<PersonasWrite>,
    Json(body): Json<CreatePersonaRequest>,
) -> ApiResult<Response> {
    let p = rules::create(
        &state.db,
        &state.clock,
        author(&access.principal),
        access.project,
        body.into(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(PersonaBody::from(p))).into_response())
}

#[utoipa::path(
    put, path = "/api/v1/projects/{project_id}/personas/{name}", tag = "personas",
    operation_id = "update_persona", summary = "Update a project persona",
    description = "Finds the project's persona in any case, soft-deleted ones included \
        (`{\"is_active\": true}` reactivates). The version moves only when something changed. \
        Deactivating a persona that open tickets or queued/running agent runs still name is \
        refused (409) unless `force=true`.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("name" = String, Path, description = "Persona name (any case)"),
        ("force" = Option<bool>, Query, description = "Deactivate even if work still names it"),
    ),
    request_body = UpdatePersonaRequest,
    responses(
        (status = 200, description = "The persona", body = PersonaBody),
        (status = 403, description = "No edit standing (`project_edit_forbidden`), or the plan lacks personas"),
        (status = 404, description = "No such project persona (the message names the org route when the name is an org persona)"),
        (status = 409, description = "Deactivation would strand open work"),
        (status = 413, description = "Content too long"),
        (status = 422, description = "Bad role, or `represented_user` on a project persona"),
    ),
)]
async fn update(
    State(state): State<AppState>,
    access: ProjectEditor<PersonasWrite>,
    Path((_, name)): Path<(String, String)>,
    q: QueryPairs,
    Json(body): Json<UpdatePersonaRequest>,
) -> ApiResult<Json<PersonaBody>> {
    let p = rules::update(
        &state.db,
        &state.clock,
        author(&access.principal),
        access.project,
        name,
        body.into(),
        q.bool("force", false)?,
    )
    .await?;
    Ok(Json(p.into()))
}

#[utoipa::path(
    delete, path = "/api/v1/projects/{project_id}/personas/{name}", tag = "personas",
    operation_id = "delete_persona", summary = "Soft-delete a project persona",
    description = "Sets `is_active` false and moves the version; the name stays reserved. \
        Refused (409) while open tickets or queued/running agent runs name it, unless \
        `force=true`.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("name" = String, Path, description = "Persona name (any case)"),
        ("force" = Option<bool>, Query, description = "Delete even if work still names it"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "No edit standing (`project_edit_forbidden`), or the plan lacks personas"),
        (status = 404, description = "No active project persona of that name"),
        (status = 409, description = "Deleting would strand open work"),
    ),
)]
async fn delete(
    State(state): State<AppState>,
    access: ProjectEditor<PersonasWrite>,
    Path((_, name)): Path<(String, String)>,
    q: QueryPairs,
) -> ApiResult<StatusCode> {
    rules::delete(
        &state.db,
        &state.clock,
        author(&access.principal),
        access.project,
        name,
        q.bool("force", false)?,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn org_caller(m: OrgMember) -> OrgCaller {
    OrgCaller {
        user_id: m.principal.user.id,
        org: m.org,
        role: m.role,
    }
}

#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/personas", tag = "personas",
    operation_id = "list_org_personas", summary = "An org's personas",
    params(
        ("org_id" = String, Path, description = "Org id"),
        ("include_inactive" = Option<bool>, Query, description = "Also soft-deleted personas"),
    ),
    responses(
        (status = 200, description = "The personas, by name", body = Vec<PersonaBody>),
        (status = 403, description = "Not a member, or the org's plan lacks personas"),
        (status = 404, description = "Org not found"),
    ),
)]
async fn org_list(
    State(state): State<AppState>,
    member: OrgMember,
    q: QueryPairs,
) -> ApiResult<Json<Vec<PersonaBody>>> {
    let include_inactive = q.bool("include_inactive", false)?;
    let found = rules::org_list(&state.db, org_caller(member), include_inactive).await?;
    Ok(Json(bodies(found)))
}

#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/personas/{name}", tag = "personas",
    operation_id = "get_org_persona", summary = "One active org persona",
    params(
        ("org_id" = String, Path, description = "Org id"),
        ("name" = String, Path, description = "Persona name (any case)"),
    ),
    responses(
        (status = 200, description = "The persona", body = PersonaBody),
        (status = 403, description = "Not a member, or the org's plan lacks personas"),
        (status = 404, description = "Org or persona not found"),
    ),
)]
async fn org_get(
    State(state): State<AppState>,
    member: OrgMember,
    Path((_, name)): Path<(String, String)>,
) -> ApiResult<Json<PersonaBody>> {
    let p = rules::org_get(&state.db, org_caller(member), name).await?;
    Ok(Json(p.into()))
}

#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/personas", tag = "personas",
    operation_id = "create_org_persona", summary = "Create an org persona (admins and owners)",
    params(("org_id" = String, Path, description = "Org id")),
    request_body = CreatePersonaRequest,
    responses(
        (status = 201, description = "Created", body = PersonaBody),
        (status = 403, description = "Not an admin or owner, or the org's plan lacks personas"),
        (status = 404, description = "Org not found"),
        (status = 409, description = "The name is taken in the org"),
        (status = 422, description = "Bad name or role, or `represented_user` names no member"),
    ),
)]
async fn org_create(
    State(state): State<AppState>,
    member: OrgMember,
    Json(body): Json<CreatePersonaRequest>,
) -> ApiResult<Response> {
    let p = rules::org_create(&state.db, &state.clock, org_caller(member), body.into()).await?;
    Ok((StatusCode::CREATED, Json(PersonaBody::from(p))).into_response())
}

#[utoipa::path(
    put, path = "/api/v1/orgs/{org_id}/personas/{name}", tag = "personas",
    operation_id = "update_org_persona", summary = "Update an org persona",
    description = "Admins and owners change anything; the member the persona represents may \
        change its role, content and specializations.",
    params(
        ("org_id" = String, Path, description = "Org id"),
        ("name" = String, Path, description = "Persona name (any case)"),
    ),
    request_body = UpdatePersonaRequest,
    responses(
        (status = 200, description = "The persona", body = PersonaBody),
        (status = 403, description = "Neither an admin nor the represented member"),
        (status = 404, description = "Org or persona not found"),
        (status = 422, description = "Bad role, or `represented_user` names no member"),
    ),
)]
async fn org_update(
    State(state): State<AppState>,
    member: OrgMember,
    Path((_, name)): Path<(String, String)>,
    Json(body): Json<UpdatePersonaRequest>,
) -> ApiResult<Json<PersonaBody>> {
    let p = rules::org_update(
        &state.db,
        &state.clock,
        org_caller(member),
        name,
        body.into(),
    )
    .await?;
    Ok(Json(p.into()))
}

#[utoipa::path(
    delete, path = "/api/v1/orgs/{org_id}/personas/{name}", tag = "personas",
    operation_id = "delete_org_persona", summary = "Soft-delete an org persona (admins and owners)",
    params(
        ("org_id" = String, Path, description = "Org id"),
        ("name" = String, Path, description = "Persona name (any case)"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin or owner"),
        (status = 404, description = "Org or active persona not found"),
    ),
)]
async fn org_delete(
    State(state): State<AppState>,
    member: OrgMember,
    Path((_, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    rules::org_delete(&state.db, &state.clock, org_caller(member), name).await?;
    Ok(StatusCode::NO_CONTENT)
}
