//! Platform-admin routes (`users.tier == "admin"`; unrelated to org roles). Every mutation
//! writes an `admin_actions` row in the same transaction as the change.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::api::extract::Json;
use crate::auth::Principal;
use crate::domain::admin;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(mint_for_user))
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
