//! Platform-admin routes (`users.tier == "admin"`; unrelated to org roles). Every mutation
//! writes an `admin_actions` row in the same transaction as the change.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::api::extract::{Json, QueryPairs};
use crate::auth::Principal;
use crate::db::users::UserFilter;
use crate::domain::admin;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mint_for_user))
        .routes(routes!(list_users))
        .routes(routes!(get_user))
        .routes(routes!(change_tier))
        .routes(routes!(set_active))
}

fn require_platform_admin(principal: &Principal) -> ApiResult<()> {
    if principal.is_platform_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden("Admin access required"))
    }
}

#[derive(Deserialize, ToSchema)]
pub struct AdminKeyRequest {
    /// Default `admin-minted`.
    pub name: Option<String>,
}

/// A key minted for a user (shown once).
#[derive(Serialize, ToSchema)]
pub struct AdminMintedKey {
    pub key_id: String,
    pub raw_key: String,
    pub name: Option<String>,
    pub created_at: String,
    pub user_id: String,
    pub user_email: String,
}

/// Lost-key recovery: a user-kind key for an active user, shown once.
#[utoipa::path(
    post, path = "/api/v1/admin/users/{user_id}/api-keys", tag = "admin", operation_id = "admin_mint_user_key",
    summary = "Mint a key for a user (lost-key recovery)",
    description = "Platform admins only. The raw key is returned once; the action is written to the admin audit log.",
    params(("user_id" = String, Path, description = "The user's id")),
    request_body = AdminKeyRequest,
    responses(
        (status = 201, description = "Minted", body = AdminMintedKey),
        (status = 403, description = "Not a platform admin, or the user is inactive"),
        (status = 404, description = "No such user"),
        (status = 422, description = "Missing body, or `name` too long"),
    ),
)]
async fn mint_for_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
    Json(body): Json<AdminKeyRequest>,
) -> ApiResult<Response> {
    require_platform_admin(&principal)?;
    let (minted, email) = admin::mint_for_user(
        &state.db,
        &state.clock,
        &principal.user.id,
        &user_id,
        body.name,
    )
    .await?;
    let key = minted.key;
    let raw = minted.raw;
    tracing::info!(admin = %principal.user.id, user = %key.user_id, key = %key.id, "admin minted a key for a user");
    let body = AdminMintedKey {
        key_id: key.id,
        raw_key: raw,
        name: key.name,
        created_at: key.created_at,
        user_id: key.user_id,
        user_email: email,
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// One user in the admin list.
#[derive(Serialize, ToSchema)]
pub struct AdminUserRow {
    pub id: String,
    pub email: String,
    pub tier: String,
    pub email_verified: bool,
    pub is_active: bool,
    pub created_at: String,
    /// Live (not deleted) sessions.
    pub session_count: i64,
}

/// A page of users, newest first.
#[derive(Serialize, ToSchema)]
pub struct AdminUserPage {
    /// Matching users in all.
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
    pub users: Vec<AdminUserRow>,
}

#[utoipa::path(
    get, path = "/api/v1/admin/users", tag = "admin", operation_id = "admin_list_users",
    summary = "Users, newest first (paged)",
    description = "Platform admins only. Active users unless `include_inactive=true` (an addition of \
        this server: disabled users can be found to enable them again). `search` matches part of \
        the email.",
    params(
        ("page" = Option<i64>, Query, description = "From 1, default 1", minimum = 1),
        ("page_size" = Option<i64>, Query, description = "1–200, default 50", minimum = 1, maximum = 200),
        ("tier_filter" = Option<String>, Query, description = "Only this tier"),
        ("search" = Option<String>, Query, description = "Part of the email"),
        ("include_inactive" = Option<bool>, Query, description = "Disabled users too (default false)"),
    ),
    responses(
        (status = 200, body = AdminUserPage),
        (status = 403, description = "Not a platform admin"),
        (status = 422, description = "A bad page or page_size"),
    ),
)]
async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
    q: QueryPairs,
) -> ApiResult<axum::Json<AdminUserPage>> {
    require_platform_admin(&principal)?;
    let page = q.int("page", 1, 1, i64::MAX / 1024)?;
    let page_size = q.int("page_size", 50, 1, admin::MAX_USERS_PAGE)?;
    let filter = UserFilter {
        tier: q
            .last("tier_filter")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        search: q
            .last("search")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        include_inactive: q.bool("include_inactive", false)?,
    };
    let (total, rows) = admin::users_page(&state.db, filter, page, page_size).await?;
    Ok(axum::Json(AdminUserPage {
        total,
        page,
        page_size,
        users: rows
            .into_iter()
            .map(|r| AdminUserRow {
                id: r.user.id,
                email: r.user.email,
                tier: r.user.tier,
                email_verified: r.user.email_verified,
                is_active: r.user.is_active,
                created_at: r.user.created_at,
                session_count: r.session_count,
            })
            .collect(),
    }))
}

/// A user with what they hold.
#[derive(Serialize, ToSchema)]
pub struct AdminUserDetail {
    pub id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub tier: String,
    pub email_verified: bool,
    pub is_active: bool,
    pub created_at: String,
    pub session_count: i64,
    /// Bytes of the user's live sessions.
    pub storage_used_bytes: i64,
    /// Active keys.
    pub api_key_count: i64,
}

#[utoipa::path(
    get, path = "/api/v1/admin/users/{user_id}", tag = "admin", operation_id = "admin_get_user",
    summary = "One user with sessions, storage and keys",
    params(("user_id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, body = AdminUserDetail),
        (status = 403, description = "Not a platform admin"),
        (status = 404, description = "No such user"),
    ),
)]
async fn get_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> ApiResult<axum::Json<AdminUserDetail>> {
    require_platform_admin(&principal)?;
    let d = admin::user_detail(&state.db, user_id).await?;
    Ok(axum::Json(AdminUserDetail {
        id: d.user.id,
        email: d.user.email,
        display_name: d.user.display_name,
        tier: d.user.tier,
        email_verified: d.user.email_verified,
        is_active: d.user.is_active,
        created_at: d.user.created_at,
        session_count: d.session_count,
        storage_used_bytes: d.storage_used_bytes,
        api_key_count: d.api_key_count,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct TierChangeRequest {
    /// One of admin, enterprise, free, pro, starter, team.
    pub tier: Option<String>,
    /// Why (at most 500 characters; kept in the admin audit log).
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TierChanged {
    pub user_id: String,
    pub old_tier: String,
    pub new_tier: String,
}

#[utoipa::path(
    put, path = "/api/v1/admin/users/{user_id}/tier", tag = "admin", operation_id = "admin_change_user_tier",
    summary = "Change a user's tier",
    description = "Platform admins only; audited as `tier_change` with the reason. An admin cannot \
        demote themselves.",
    params(("user_id" = String, Path, description = "The user's id")),
    request_body = TierChangeRequest,
    responses(
        (status = 200, body = TierChanged),
        (status = 400, description = "Unknown tier, or an admin demoting themselves"),
        (status = 403, description = "Not a platform admin"),
        (status = 404, description = "No such user"),
        (status = 422, description = "A bad body or a reason over 500 characters"),
    ),
)]
async fn change_tier(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
    Json(body): Json<TierChangeRequest>,
) -> ApiResult<axum::Json<TierChanged>> {
    require_platform_admin(&principal)?;
    let (old_tier, new_tier) = admin::change_tier(
        &state.db,
        &state.clock,
        &principal.user.id,
        &user_id,
        body.tier.as_deref().unwrap_or(""),
        body.reason,
        "api",
    )
    .await?;
    Ok(axum::Json(TierChanged {
        user_id,
        old_tier,
        new_tier,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ActiveRequest {
    pub is_active: bool,
    /// Why (at most 500 characters; kept in the admin audit log).
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ActiveChanged {
    pub user_id: String,
    pub is_active: bool,
}

#[utoipa::path(
    put, path = "/api/v1/admin/users/{user_id}/active", tag = "admin", operation_id = "admin_set_user_active",
    summary = "Enable or disable a user",
    description = "Platform admins only; an addition of this server (the operator's `admin \
        enable-user` / `disable-user` over HTTP). Disabling ends the user's browser sessions and \
        every key of theirs stops working; nothing is deleted. Audited as `enable_user` / \
        `disable_user`. An admin cannot disable themselves.",
    params(("user_id" = String, Path, description = "The user's id")),
    request_body = ActiveRequest,
    responses(
        (status = 200, body = ActiveChanged),
        (status = 400, description = "An admin disabling themselves"),
        (status = 403, description = "Not a platform admin"),
        (status = 404, description = "No such user"),
        (status = 422, description = "A bad body or a reason over 500 characters"),
    ),
)]
async fn set_active(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
    Json(body): Json<ActiveRequest>,
) -> ApiResult<axum::Json<ActiveChanged>> {
    require_platform_admin(&principal)?;
    let user = admin::set_active_by_id(
        &state.db,
        &state.clock,
        &principal.user.id,
        &user_id,
        body.is_active,
        body.reason,
        "api",
    )
    .await?;
    Ok(axum::Json(ActiveChanged {
        user_id: user.id,
        is_active: user.is_active,
    }))
}
