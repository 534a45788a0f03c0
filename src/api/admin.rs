//! Platform-admin routes (`users.tier == "admin"`; unrelated to org roles). Every mutation
//! writes an `admin_actions` row in the same transaction as the change.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::extract::Json;
use crate::auth::keys::{self, new_id};
use crate::auth::Principal;
use crate::db::{admin, api_keys, users};
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
    let name = body
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "admin-minted".into());
    if name.chars().count() > 255 {
        return Err(ApiError::invalid_value(
            &["body", "name"],
            "name must be at most 255 characters",
            name.into(),
        ));
    }
    let (admin_id, clock) = (principal.user.id.clone(), state.clock.clone());
    let (key, raw, email) = state
        .db
        .write(move |tx| {
            let now = clock.now_string();
            let user =
                users::get(tx, &user_id)?.ok_or_else(|| ApiError::not_found("User not found"))?;
            if !user.is_active {
                return Err(ApiError::forbidden("Cannot mint key for inactive user"));
            }
            let raw = keys::generate();
            let id = new_id();
            api_keys::insert(
                tx,
                &api_keys::NewKey {
                    id: &id,
                    user_id: &user.id,
                    key_hash: &raw.hash,
                    key_prefix: Some(&raw.display_prefix()),
                    name: Some(&name),
                    created_at: &now,
                    expires_at: None,
                    created_by_user_id: Some(&admin_id),
                },
            )?;
            admin::record(
                tx,
                Some(&admin_id),
                "mint_api_key_on_behalf",
                "user",
                &user.id,
                &json!({"key_id": id, "name": name}),
                "api",
                &now,
            )?;
            let key =
                api_keys::get(tx, &id)?.ok_or_else(|| ApiError::internal("new key vanished"))?;
            Ok((key, raw.raw, user.email))
        })
        .await?;
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
