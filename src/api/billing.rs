//! Billing on a self-hosted server (ruling 9): the status reports the caller's tier and storage
//! use; checkout and portal answer that billing does not apply here.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api;
use crate::api::extract::Json;
use crate::auth::Principal;
use crate::db::sync;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(unavailable))
        .routes(api::alias(
            "/api/v1/billing/portal",
            routes!(unavailable),
            "Same answer as `POST /api/v1/billing/checkout`.",
        ))
}

#[utoipa::path(
    get, path = "/api/v1/billing/status", tag = "billing", operation_id = "billing_status",
    summary = "The caller's plan and storage use",
    responses((status = 200, description = "The status", body = BillingStatus)),
)]
async fn status(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<BillingStatus>> {
    let user_id = principal.user.id.clone();
    let used = state
        .db
        .read(move |conn| sync::overview(conn, &user_id))
        .await?
        .storage_used_bytes;
    let tier = principal.tier();
    Ok(Json(BillingStatus {
        tier: tier.to_string(),
        storage_used_bytes: used,
        storage_limit_bytes: tier.storage_limit_bytes(),
        stripe_customer_id: None,
        has_subscription: false,
        has_personal_subscription: false,
        is_org_member: principal.org.is_some(),
        org_role: principal.org.as_ref().map(|m| m.role.to_string()),
        is_beta: false,
    }))
}

#[utoipa::path(
    post, path = "/api/v1/billing/checkout", tag = "billing", operation_id = "billing_checkout",
    summary = "Checkout (not on a self-hosted server)",
    description = "Always 400 `billing_unavailable`: plans are set by the server's operator.",
    responses((status = 400, description = "Billing does not apply here")),
)]
async fn unavailable(_principal: Principal) -> ApiError {
    ApiError::structured(
        StatusCode::BAD_REQUEST,
        "billing_unavailable",
        "Billing does not apply to a self-hosted server: plans are set by its operator.",
    )
}

#[derive(Serialize, ToSchema)]
pub struct BillingStatus {
    pub tier: String,
    pub storage_used_bytes: i64,
    /// 0 means unlimited.
    pub storage_limit_bytes: u64,
    /// Always null here.
    pub stripe_customer_id: Option<String>,
    pub has_subscription: bool,
    pub has_personal_subscription: bool,
    pub is_org_member: bool,
    pub org_role: Option<String>,
    pub is_beta: bool,
}
