//! Service keys: org-scoped, scope-restricted, expirable keys for CI runners and agents.
//! Any member of the org may list them (key prefix only); org admins on a Team+ plan create,
//! revoke and rotate them. The raw key is returned once, on create and on rotate.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::access::{OwnOrgMember, TeamAdmin};
use crate::api::extract::{Json, OptionalJson};
use crate::auth::Principal;
use crate::db::api_keys::ApiKey;
use crate::domain::keys::MintedKey;
use crate::domain::service_keys::{self, KeyRequest, Minter};
use crate::error::ApiResult;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(revoke))
        .routes(routes!(rotate))
}

impl From<&ApiKey> for ServiceKey {
    fn from(k: &ApiKey) -> Self {
        ServiceKey {
            id: k.id.clone(),
            name: k.name.clone(),
            org_id: k.org_id.clone(),
            service_key_name: k.service_key_name.clone(),
            scopes: k.scope_list(),
            project_ids: k
                .project_ids
                .as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok()),
            key_prefix: k.key_prefix.clone(),
            created_at: k.created_at.clone(),
            created_by_user_id: k.created_by_user_id.clone(),
            expires_at: k.expires_at.clone(),
            revoked_at: k.revoked_at.clone(),
            revoke_reason: k.revoke_reason.clone(),
            last_used_at: k.last_used_at.clone(),
            last_used_ip: k.last_used_ip.clone(),
            is_active: k.is_active && k.revoked_at.is_none(),
        }
    }
}

impl ServiceKeyCreated {
    fn new(minted: MintedKey) -> Self {
        ServiceKeyCreated {
            service_key: ServiceKey::from(&minted.key),
            key: minted.raw,
        }
    }
}

fn minter(principal: &Principal) -> Minter<'_> {
    Minter {
        user: &principal.user,
        platform_admin: principal.is_platform_admin(),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ServiceKeyRequest {
    /// 1–100 characters.
    pub name: String,
    /// At least one known scope, not `*` (e.g. `handoffs:write`).
    pub scopes: Vec<String>,
    /// 1–730; give this or `expires_at`, or neither for a key that does not expire.
    pub expires_in_days: Option<i64>,
    /// RFC 3339, in the future.
    pub expires_at: Option<String>,
    /// Projects the key is limited to; none means every project of the org.
    pub project_ids: Option<Vec<String>>,
}

#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/service-keys", tag = "service-keys", operation_id = "create_service_key",
    summary = "Create a service key",
    description = "Org admins on a Team+ plan, for the caller's primary org. The raw key is returned once, as `key`.",
    params(("org_id" = String, Path, description = "The organization's id")),
    request_body = ServiceKeyRequest,
    responses(
        (status = 201, description = "Created", body = ServiceKeyCreated),
        (status = 403, description = "No team management (`upgrade_required`), not an admin (`insufficient_role`), or a platform scope (`platform_admin_scope`)"),
        (status = 404, description = "Not the caller's org"),
        (status = 422, description = "Invalid name, scopes or expiry"),
    ),
)]
async fn create(
    State(state): State<AppState>,
    TeamAdmin(admin): TeamAdmin,
    Path(org_id): Path<String>,
    Json(body): Json<ServiceKeyRequest>,
) -> ApiResult<Response> {
    let principal = &admin.principal;
    let request = KeyRequest {
        name: body.name,
        scopes: body.scopes,
        expires_in_days: body.expires_in_days,
        expires_at: body.expires_at,
        project_ids: body.project_ids,
    };
    let minted =
        service_keys::create(&state.db, &state.clock, minter(principal), &org_id, request).await?;
    tracing::info!(org = %org_id, key = %minted.key.id, by = %principal.user.id, "service key created");
    let out = ServiceKeyCreated::new(minted);
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/service-keys", tag = "service-keys", operation_id = "list_service_keys",
    summary = "An organization's service keys",
    description = "Any member of the org; revoked keys included, secrets never.",
    params(("org_id" = String, Path, description = "The organization's id")),
    responses(
        (status = 200, description = "The keys", body = Vec<ServiceKey>),
        (status = 404, description = "Not the caller's org"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _member: OwnOrgMember,
    Path(org_id): Path<String>,
) -> ApiResult<Json<Vec<ServiceKey>>> {
    let keys = service_keys::list(&state.db, &org_id).await?;
    Ok(Json(keys.iter().map(ServiceKey::from).collect()))
}

#[derive(Deserialize, Default, ToSchema)]
pub struct ServiceKeyRevokeRequest {
    /// At most 500 characters.
    pub reason: Option<String>,
    /// Another name for `reason`.
    pub revoke_reason: Option<String>,
}

#[utoipa::path(
    delete, path = "/api/v1/orgs/{org_id}/service-keys/{key_id}", tag = "service-keys", operation_id = "revoke_service_key",
    summary = "Revoke a service key",
    description = "The key then answers 401 `api_key_revoked`. The body may be empty.",
    params(("org_id" = String, Path, description = "The organization's id"), ("key_id" = String, Path, description = "The service key's id")),
    request_body(content = Option<ServiceKeyRevokeRequest>, description = "Optional"),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "No team management, or not an admin"),
        (status = 404, description = "No such key in the caller's org"),
        (status = 422, description = "`reason` longer than 500 characters"),
    ),
)]
async fn revoke(
    State(state): State<AppState>,
    TeamAdmin(admin): TeamAdmin,
    Path((org_id, key_id)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<ServiceKeyRevokeRequest>,
) -> ApiResult<StatusCode> {
    let reason = body.reason.or(body.revoke_reason);
    service_keys::revoke(&state.db, &state.clock, &org_id, &key_id, reason).await?;
    tracing::info!(org = %org_id, key = %key_id, by = %admin.principal.user.id, "service key revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/service-keys/{key_id}/rotate", tag = "service-keys", operation_id = "rotate_service_key",
    summary = "Rotate a service key",
    description = "A new key with the same name, scopes, projects and lifetime; the old one is revoked in the same transaction.",
    params(("org_id" = String, Path, description = "The organization's id"), ("key_id" = String, Path, description = "The service key's id")),
    responses(
        (status = 200, description = "The new key", body = ServiceKeyCreated),
        (status = 403, description = "No team management, or not an admin"),
        (status = 404, description = "No such key in the caller's org"),
        (status = 409, description = "Already revoked (`key_already_revoked`)"),
    ),
)]
async fn rotate(
    State(state): State<AppState>,
    TeamAdmin(admin): TeamAdmin,
    Path((org_id, key_id)): Path<(String, String)>,
) -> ApiResult<Json<ServiceKeyCreated>> {
    let minted = service_keys::rotate(
        &state.db,
        &state.clock,
        minter(&admin.principal),
        &org_id,
        &key_id,
    )
    .await?;
    tracing::info!(org = %org_id, old = %key_id, new = %minted.key.id, "service key rotated");
    Ok(Json(ServiceKeyCreated::new(minted)))
}

/// A service key (never its secret).
#[derive(Serialize, ToSchema)]
pub struct ServiceKey {
    pub id: String,
    pub name: Option<String>,
    pub org_id: Option<String>,
    pub service_key_name: Option<String>,
    pub scopes: Vec<String>,
    #[schema(value_type = Option<Vec<String>>)]
    pub project_ids: Option<Value>,
    pub key_prefix: Option<String>,
    pub created_at: String,
    pub created_by_user_id: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub revoke_reason: Option<String>,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    pub is_active: bool,
}

/// A new (or rotated) service key, with its secret, shown once.
#[derive(Serialize, ToSchema)]
pub struct ServiceKeyCreated {
    #[serde(flatten)]
    pub service_key: ServiceKey,
    /// The raw key: `sk_sfs_` + 32 hex.
    pub key: String,
}
