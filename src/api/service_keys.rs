//! Service keys: org-scoped, scope-restricted, expirable keys for CI runners and agents.
//! Any member of the org may list them (key prefix only); org admins on a Team+ plan create,
//! revoke and rotate them. The raw key is returned once, on create and on rotate.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::api::extract::{Json, OptionalJson};
use crate::auth::keys::{self, new_id};
use crate::auth::scopes;
use crate::auth::Principal;
use crate::clock;
use crate::db::api_keys::{self, ApiKey, NewServiceKey};
use crate::db::orgs::Membership;
use crate::domain::orgs::{insufficient_role, is_admin_role};
use crate::domain::tiers::Feature;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(revoke))
        .routes(routes!(rotate))
}

/// The caller's membership in the path org (their primary org; others read as not found).
fn membership<'a>(principal: &'a Principal, org_id: &str) -> ApiResult<&'a Membership> {
    principal
        .org
        .as_ref()
        .filter(|m| m.org.id == org_id)
        .ok_or_else(|| ApiError::not_found("Organization not found"))
}

/// Mutations need the Team+ feature, then the admin role, then the org to be the caller's.
fn require_admin<'a>(principal: &'a Principal, org_id: &str) -> ApiResult<&'a Membership> {
    principal.tier().require(Feature::TeamManagement)?;
    match &principal.org {
        Some(m) if !is_admin_role(&m.role) => return Err(insufficient_role(Some(&m.role)).into()),
        None => return Err(insufficient_role(None).into()),
        _ => {}
    }
    membership(principal, org_id)
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
    fn new((key, raw): (ApiKey, String)) -> Self {
        ServiceKeyCreated {
            service_key: ServiceKey::from(&key),
            key: raw,
        }
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

fn invalid(field: &str, msg: &str, input: Value) -> ApiError {
    ApiError::invalid_value(&["body", field], msg, input)
}

/// Validated scopes: known, no `*`, duplicates dropped in order; platform-only ones need a
/// platform admin.
fn checked_scopes(principal: &Principal, raw: &[String]) -> ApiResult<Vec<String>> {
    if raw.is_empty() {
        return Err(invalid(
            "scopes",
            "At least one scope is required",
            json!(raw),
        ));
    }
    if raw.iter().any(|s| s == "*") {
        return Err(invalid(
            "scopes",
            "The '*' scope is reserved for user keys",
            json!(raw),
        ));
    }
    let unknown: Vec<&String> = raw.iter().filter(|s| !scopes::is_known(s)).collect();
    if !unknown.is_empty() {
        return Err(invalid(
            "scopes",
            &format!("Unknown scopes: {unknown:?}"),
            json!(raw),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for s in raw {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    if !principal.is_platform_admin()
        && out
            .iter()
            .any(|s| scopes::PLATFORM_ONLY.contains(&s.as_str()))
    {
        return Err(ApiError::structured(
            StatusCode::FORBIDDEN,
            "platform_admin_scope",
            "Only a platform admin may grant platform scopes",
        ));
    }
    Ok(out)
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
    principal: Principal,
    Path(org_id): Path<String>,
    Json(body): Json<ServiceKeyRequest>,
) -> ApiResult<Response> {
    require_admin(&principal, &org_id)?;
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(invalid(
            "name",
            "name must be 1 to 100 characters",
            Value::from(body.name),
        ));
    }
    let scope_list = checked_scopes(&principal, &body.scopes)?;
    let now = state.clock.now();
    let expires_at = match (body.expires_in_days, body.expires_at.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "expires_at",
                "Give expires_at or expires_in_days, not both",
                Value::Null,
            ))
        }
        (Some(days), None) if !(1..=730).contains(&days) => {
            return Err(invalid(
                "expires_in_days",
                "expires_in_days must be between 1 and 730",
                Value::from(days),
            ))
        }
        (Some(days), None) => Some(clock::format(now + Duration::days(days))),
        (None, Some(at)) => match clock::parse(at) {
            Some(t) if t > now => Some(clock::format(t)),
            Some(_) => {
                return Err(invalid(
                    "expires_at",
                    "expires_at must be in the future",
                    Value::from(at),
                ))
            }
            None => {
                return Err(invalid(
                    "expires_at",
                    "expires_at must be an RFC 3339 timestamp",
                    Value::from(at),
                ))
            }
        },
        (None, None) => None,
    };
    let mut projects: Vec<String> = Vec::new();
    for p in body
        .project_ids
        .unwrap_or_default()
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
    {
        if !projects.iter().any(|q| q == p) {
            projects.push(p.to_string());
        }
    }
    let spec = KeySpec {
        org_id: org_id.clone(),
        name,
        scopes: scope_list,
        project_ids_json: (!projects.is_empty()).then(|| json!(projects).to_string()),
        expires_at,
    };
    let minted = mint(&state, &principal, spec, None).await?;
    tracing::info!(org = %org_id, key = %minted.0.id, by = %principal.user.id, "service key created");
    let out = ServiceKeyCreated::new(minted);
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

/// What a new service key carries.
struct KeySpec {
    org_id: String,
    name: String,
    scopes: Vec<String>,
    project_ids_json: Option<String>,
    expires_at: Option<String>,
}

/// The key a rotation replaces: revoked in the same transaction; its minter is kept, because a
/// service key runs as the user who minted it.
struct Replacing {
    old_id: String,
    minter_id: String,
    reason: String,
}

/// Inserts a service key minted by `principal` (or replacing a key) and returns it with its raw
/// secret, shown once.
async fn mint(
    state: &AppState,
    principal: &Principal,
    spec: KeySpec,
    replacing: Option<Replacing>,
) -> ApiResult<(ApiKey, String)> {
    let raw = keys::generate();
    let id = new_id();
    let creator = principal.user.id.clone();
    let scopes_json = json!(spec.scopes).to_string();
    let (secret, clock) = (raw.raw.clone(), state.clock.clone());
    let key = state
        .db
        .write(move |tx| {
            let now = clock.now_string();
            let minter = replacing
                .as_ref()
                .map(|r| r.minter_id.clone())
                .unwrap_or_else(|| creator.clone());
            api_keys::insert_service(
                tx,
                &NewServiceKey {
                    id: &id,
                    minter_id: &minter,
                    created_by: &creator,
                    org_id: &spec.org_id,
                    name: &spec.name,
                    key_hash: &raw.hash,
                    key_prefix: &raw.display_prefix(),
                    scopes_json: &scopes_json,
                    project_ids_json: spec.project_ids_json.as_deref(),
                    created_at: &now,
                    expires_at: spec.expires_at.as_deref(),
                },
            )?;
            if let Some(r) = &replacing {
                api_keys::revoke_by_id(tx, &r.old_id, Some(&r.reason), &now)?;
            }
            api_keys::get(tx, &id)?.ok_or_else(|| ApiError::internal("new service key vanished"))
        })
        .await?;
    Ok((key, secret))
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
    principal: Principal,
    Path(org_id): Path<String>,
) -> ApiResult<Json<Vec<ServiceKey>>> {
    membership(&principal, &org_id)?;
    let keys = state
        .db
        .read(move |conn| api_keys::list_service(conn, &org_id))
        .await?;
    Ok(Json(keys.iter().map(ServiceKey::from).collect()))
}

async fn find(state: &AppState, org_id: &str, key_id: &str) -> ApiResult<ApiKey> {
    let (org_id, key_id) = (org_id.to_string(), key_id.to_string());
    state
        .db
        .read(move |conn| api_keys::get_service(conn, &org_id, &key_id))
        .await?
        .ok_or_else(|| ApiError::not_found("Service key not found"))
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
    principal: Principal,
    Path((org_id, key_id)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<ServiceKeyRevokeRequest>,
) -> ApiResult<StatusCode> {
    require_admin(&principal, &org_id)?;
    let reason = body
        .reason
        .or(body.revoke_reason)
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(invalid(
            "reason",
            "reason must be at most 500 characters",
            Value::Null,
        ));
    }
    let key = find(&state, &org_id, &key_id).await?;
    let now = state.clock.now_string();
    state
        .db
        .write(move |tx| api_keys::revoke_by_id(tx, &key.id, reason.as_deref(), &now))
        .await?;
    tracing::info!(org = %org_id, key = %key_id, by = %principal.user.id, "service key revoked");
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
    principal: Principal,
    Path((org_id, key_id)): Path<(String, String)>,
) -> ApiResult<Json<ServiceKeyCreated>> {
    require_admin(&principal, &org_id)?;
    let old = find(&state, &org_id, &key_id).await?;
    if old.revoked_at.is_some() || !old.is_active {
        return Err(ApiError::structured(
            StatusCode::CONFLICT,
            "key_already_revoked",
            "The key is already revoked",
        ));
    }
    let scope_list = checked_scopes(&principal, &old.scope_list())?;
    // Keep the key's lifetime: a key that expired 90 days after creation gets 90 more days.
    let expires_at = match (
        old.expires_at.as_deref().and_then(clock::parse),
        clock::parse(&old.created_at),
    ) {
        (Some(end), Some(start)) => Some(clock::format(state.clock.now() + (end - start))),
        _ => None,
    };
    let reason = format!("rotated by {}", principal.user.email);
    let name = old
        .service_key_name
        .clone()
        .or(old.name.clone())
        .unwrap_or_default();
    let spec = KeySpec {
        org_id: org_id.clone(),
        name,
        scopes: scope_list,
        project_ids_json: old.project_ids.clone(),
        expires_at,
    };
    let replacing = Replacing {
        old_id: old.id.clone(),
        minter_id: old.user_id.clone(),
        reason,
    };
    let minted = mint(&state, &principal, spec, Some(replacing)).await?;
    tracing::info!(org = %org_id, old = %old.id, new = %minted.0.id, "service key rotated");
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
