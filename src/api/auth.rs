//! Accounts and user keys: signup, email verification, `/auth/me`, and both key families
//! (`/auth/keys` from the API document, `/auth/me/api-keys` that `sfs auth keys` uses).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::extract::{Json, OptionalJson, Query};
use crate::auth::principal::ClientIp;
use crate::auth::Principal;
use crate::db::api_keys::{self, ApiKey};
use crate::domain::accounts::{self, VerifyError};
use crate::error::{ApiError, ApiResult};
use crate::mail;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(verify_by_query))
        .routes(routes!(verify_by_path))
        .routes(routes!(me))
        .routes(routes!(create_key, list_keys))
        .routes(routes!(delete_key))
        .routes(routes!(list_my_keys, create_my_key))
        .routes(routes!(revoke_my_key))
}

#[derive(Deserialize, ToSchema)]
pub struct SignupRequest {
    /// Trimmed and lowercased.
    #[schema(example = "you@example.com")]
    pub email: String,
}

#[utoipa::path(
    post, path = "/api/v1/auth/signup", tag = "auth", operation_id = "signup",
    summary = "Create an account",
    description = "Creates an account and its first key, returned once as `raw_key`. Subject to \
`--signup-policy` and a per-address rate limit. With mail configured, the account must verify its \
email before it pushes.",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Account created", body = Signup),
        (status = 403, description = "Signup is closed, or this email domain is not allowed"),
        (status = 409, description = "Email already registered"),
        (status = 422, description = "Missing or invalid email"),
        (status = 429, description = "Too many signups from this address"),
    ),
    security(),
)]
async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<SignupRequest>,
) -> ApiResult<Response> {
    state.limits.check_signup(ip)?;
    let email = accounts::normalize_email(&body.email).map_err(|msg| {
        ApiError::invalid_value(&["body", "email"], &msg, Value::from(body.email.clone()))
    })?;
    accounts::signup_allowed(&state.config, &email)?;
    let created = accounts::create_account(&state.db, &state.clock, &state.config, email).await?;
    if let Some(token) = &created.verification_token {
        let (subject, body) = mail::verification_message(&state.config.public_url, token);
        state.mailer.send(&created.email, &subject, &body);
    }
    let message = if created.verified {
        "Account created and verified."
    } else {
        "Account created. Verify your email to enable cloud sync."
    };
    tracing::info!(user = %created.user_id, email = %created.email, "account created");
    let body = Signup {
        user_id: created.user_id,
        email: created.email,
        raw_key: created.raw_key,
        key_id: created.key_id,
        message,
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[derive(Deserialize)]
struct VerifyQuery {
    token: String,
}

#[utoipa::path(
    get, path = "/api/v1/auth/verify", tag = "auth", operation_id = "verify_email",
    summary = "Verify an email address (link from the mail)",
    description = "The link mailed at signup. Answers an HTML page.",
    params(("token" = String, Query, description = "The verification token from the mail")),
    responses(
        (status = 200, description = "Verified (again, if it already was)", content_type = "text/html", body = String),
        (status = 400, description = "Invalid or expired link", content_type = "text/html", body = String),
        (status = 404, description = "The account no longer exists", content_type = "text/html", body = String),
        (status = 422, description = "No `token`"),
    ),
    security(),
)]
async fn verify_by_query(
    State(state): State<AppState>,
    Query(q): Query<VerifyQuery>,
) -> ApiResult<Response> {
    verify(&state, q.token).await
}

#[utoipa::path(
    get, path = "/api/v1/auth/verify/{token}", tag = "auth", operation_id = "verify_email_path",
    summary = "Verify an email address (token in the path)",
    description = "Same as `GET /api/v1/auth/verify?token=…`.",
    params(("token" = String, Path, description = "The verification token from the mail")),
    responses(
        (status = 200, description = "Verified (again, if it already was)", content_type = "text/html", body = String),
        (status = 400, description = "Invalid or expired link", content_type = "text/html", body = String),
        (status = 404, description = "The account no longer exists", content_type = "text/html", body = String),
    ),
    security(),
)]
async fn verify_by_path(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    verify(&state, token).await
}

fn page(status: StatusCode, heading: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{heading}</title></head>\
         <body><h1>{heading}</h1><p>{text}</p></body></html>"
    );
    (status, Html(html)).into_response()
}

async fn verify(state: &AppState, token: String) -> ApiResult<Response> {
    Ok(
        match accounts::verify_email(&state.db, &state.clock, token).await? {
            Ok(()) => page(
                StatusCode::OK,
                "Email Verified!",
                "Your email is verified. You can now sync sessions.",
            ),
            Err(VerifyError::Invalid) => page(
                StatusCode::BAD_REQUEST,
                "Verification Failed",
                "Invalid verification link.",
            ),
            Err(VerifyError::Expired) => page(
                StatusCode::BAD_REQUEST,
                "Verification Failed",
                "This verification link has expired. Sign in and ask for a new one.",
            ),
            Err(VerifyError::UnknownUser) => page(
                StatusCode::NOT_FOUND,
                "Verification Failed",
                "This account no longer exists.",
            ),
        },
    )
}

#[utoipa::path(
    get, path = "/api/v1/auth/me", tag = "auth", operation_id = "me",
    summary = "The caller's account",
    responses((status = 200, description = "The account", body = Me)),
)]
async fn me(principal: Principal) -> Json<Me> {
    let effective = principal.tier().to_string();
    let org = principal.org.clone();
    let u = principal.user;
    let capture_health = u
        .capture_health
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok());
    Json(Me {
        user_id: u.id,
        email: u.email,
        display_name: u.display_name,
        email_verified: u.email_verified,
        tier: u.tier,
        effective_tier: effective,
        org_id: org.as_ref().map(|m| m.org.id.clone()),
        org_name: org.as_ref().map(|m| m.org.name.clone()),
        org_role: org.as_ref().map(|m| m.role.to_string()),
        created_at: u.created_at,
        last_client_version: u.last_client_version,
        last_client_platform: u.last_client_platform,
        last_client_device: u.last_client_device,
        last_sync_at: u.last_sync_at,
        latest_version: env!("CARGO_PKG_VERSION"),
        default_org_id: u.default_org_id,
        capture_health,
        represented_personas: vec![],
    })
}

#[derive(Deserialize, Default, ToSchema)]
pub struct LegacyKeyRequest {
    pub name: Option<String>,
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.chars().count() > 255 {
        return Err(ApiError::validation(
            "string_too_long",
            &["body", "name"],
            "String should have at most 255 characters",
            Value::from(name),
        ));
    }
    Ok(())
}

#[utoipa::path(
    post, path = "/api/v1/auth/keys", tag = "auth", operation_id = "create_key",
    summary = "Create a user key",
    description = "A new key for the caller, with no expiry. The raw key is returned once. The body may be empty.",
    request_body(content = Option<LegacyKeyRequest>, description = "Optional"),
    responses(
        (status = 201, description = "Key created", body = LegacyKeyCreated),
        (status = 422, description = "`name` longer than 255 characters"),
    ),
)]
async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    OptionalJson(body): OptionalJson<LegacyKeyRequest>,
) -> ApiResult<Response> {
    if let Some(name) = &body.name {
        check_name(name)?;
    }
    let minted = accounts::mint_user_key(
        &state.db,
        &state.clock,
        &principal.user.id,
        body.name,
        None,
        false,
        None,
    )
    .await?;
    let body = LegacyKeyCreated {
        key_id: minted.key.id,
        raw_key: minted.raw,
        name: minted.key.name,
        created_at: minted.key.created_at,
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/auth/keys", tag = "auth", operation_id = "list_keys",
    summary = "List the caller's active user keys",
    responses((status = 200, description = "Active keys, the calling one included", body = Vec<LegacyKey>)),
)]
async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<LegacyKey>>> {
    let user_id = principal.user.id.clone();
    let keys = state
        .db
        .read(move |conn| api_keys::list_active(conn, &user_id))
        .await?;
    let list = keys
        .into_iter()
        .map(|k| LegacyKey {
            key_id: k.id,
            name: k.name,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        })
        .collect();
    Ok(Json(list))
}

#[utoipa::path(
    delete, path = "/api/v1/auth/keys/{key_id}", tag = "auth", operation_id = "delete_key",
    summary = "Deactivate a user key",
    description = "The key stops working (401 `Invalid API key`). The caller may deactivate the key it calls with.",
    params(("key_id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Deactivated"),
        (status = 404, description = "Not one of the caller's keys"),
    ),
)]
async fn delete_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(key_id): Path<String>,
) -> ApiResult<StatusCode> {
    accounts::deactivate_key(&state.db, &principal.user.id, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<&ApiKey> for PersonalKey {
    fn from(k: &ApiKey) -> Self {
        PersonalKey {
            id: k.id.clone(),
            name: k.name.clone(),
            key_prefix: k
                .key_prefix
                .clone()
                .unwrap_or_else(|| "sk_sfs_legacy".to_string()),
            created_at: k.created_at.clone(),
            expires_at: k.expires_at.clone(),
            last_used_at: k.last_used_at.clone(),
            last_used_ip: k.last_used_ip.clone(),
            is_active: k.is_active && k.revoked_at.is_none(),
        }
    }
}

#[utoipa::path(
    get, path = "/api/v1/auth/me/api-keys", tag = "auth", operation_id = "list_personal_keys",
    summary = "List the caller's personal keys",
    description = "Every user key of the caller, inactive ones included, newest first (`sfs auth keys list`).",
    responses((status = 200, description = "The keys", body = Vec<PersonalKey>)),
)]
async fn list_my_keys(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<PersonalKey>>> {
    let user_id = principal.user.id.clone();
    let keys = state
        .db
        .read(move |conn| api_keys::list_user_kind(conn, &user_id))
        .await?;
    Ok(Json(keys.iter().map(PersonalKey::from).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct PersonalKeyRequest {
    /// 1–255 characters.
    pub name: String,
    /// 1–730; none means the key does not expire.
    pub expires_in_days: Option<i64>,
}

#[utoipa::path(
    post, path = "/api/v1/auth/me/api-keys", tag = "auth", operation_id = "create_personal_key",
    summary = "Create a personal key",
    description = "A named key, optionally expiring; the raw key is returned once as `key` (`sfs auth keys create`).",
    request_body = PersonalKeyRequest,
    responses(
        (status = 201, description = "Key created", body = PersonalKeyCreated),
        (status = 422, description = "Blank or too long `name`, or `expires_in_days` outside 1–730"),
    ),
)]
async fn create_my_key(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<PersonalKeyRequest>,
) -> ApiResult<Response> {
    let name = personal_key_request(&body.name, body.expires_in_days)?;
    let minted = accounts::mint_user_key(
        &state.db,
        &state.clock,
        &principal.user.id,
        Some(name),
        body.expires_in_days,
        true,
        None,
    )
    .await?;
    let out = PersonalKeyCreated {
        key: PersonalKey::from(&minted.key),
        raw: minted.raw,
    };
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

/// The rules of a personal key request (also the dashboard's): a name that is not blank and
/// at most 255 characters, an expiry of 1–730 days. Returns the trimmed name.
pub(crate) fn personal_key_request(name: &str, expires_in_days: Option<i64>) -> ApiResult<String> {
    let trimmed = name.trim().to_string();
    if trimmed.is_empty() {
        return Err(ApiError::invalid_value(
            &["body", "name"],
            "name must not be blank",
            Value::from(name),
        ));
    }
    check_name(&trimmed)?;
    if let Some(days) = expires_in_days {
        if !(1..=730).contains(&days) {
            return Err(ApiError::validation(
                "less_than_equal",
                &["body", "expires_in_days"],
                "Input should be between 1 and 730",
                Value::from(days),
            ));
        }
    }
    Ok(trimmed)
}

#[derive(Deserialize, ToSchema)]
pub struct RevokeKeyRequest {
    /// 1–500 characters.
    pub reason: String,
}

#[utoipa::path(
    delete, path = "/api/v1/auth/me/api-keys/{key_id}", tag = "auth", operation_id = "revoke_personal_key",
    summary = "Revoke a personal key",
    description = "The key then answers 401 `api_key_revoked`. Revoking a revoked key is a no-op.",
    params(("key_id" = String, Path, description = "The key's id")),
    request_body = RevokeKeyRequest,
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "Not one of the caller's keys"),
        (status = 422, description = "No body, or `reason` not 1–500 characters"),
    ),
)]
async fn revoke_my_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(key_id): Path<String>,
    Json(body): Json<RevokeKeyRequest>,
) -> ApiResult<StatusCode> {
    accounts::revoke_key(
        &state.db,
        &state.clock,
        &principal.user.id,
        &key_id,
        body.reason,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new account and its first key (shown once).
#[derive(Serialize, ToSchema)]
pub struct Signup {
    pub user_id: String,
    pub email: String,
    #[schema(example = "sk_sfs_0123456789abcdef0123456789abcdef")]
    pub raw_key: String,
    pub key_id: String,
    pub message: &'static str,
}

/// The caller's account.
#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user_id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub email_verified: bool,
    /// The account's own tier.
    pub tier: String,
    /// The tier in force (the organization's, for members).
    pub effective_tier: String,
    pub org_id: Option<String>,
    pub org_name: Option<String>,
    pub org_role: Option<String>,
    pub created_at: String,
    pub last_client_version: Option<String>,
    pub last_client_platform: Option<String>,
    pub last_client_device: Option<String>,
    pub last_sync_at: Option<String>,
    /// This server's version.
    pub latest_version: &'static str,
    pub default_org_id: Option<String>,
    /// The last report sent to `PUT /api/v1/sync/health`.
    #[schema(value_type = Option<Vec<Value>>)]
    pub capture_health: Option<Value>,
    pub represented_personas: Vec<Value>,
}

/// A new user key (shown once).
#[derive(Serialize, ToSchema)]
pub struct LegacyKeyCreated {
    pub key_id: String,
    pub raw_key: String,
    pub name: Option<String>,
    pub created_at: String,
}

/// An active user key.
#[derive(Serialize, ToSchema)]
pub struct LegacyKey {
    pub key_id: String,
    pub name: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// A personal user key (inactive ones included), newest first.
#[derive(Serialize, ToSchema)]
pub struct PersonalKey {
    pub id: String,
    pub name: Option<String>,
    /// The key's first 12 characters (`sk_sfs_legacy` for keys made elsewhere).
    pub key_prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    pub is_active: bool,
}

/// A new personal key, with the raw key (shown once).
#[derive(Serialize, ToSchema)]
pub struct PersonalKeyCreated {
    #[serde(flatten)]
    pub key: PersonalKey,
    /// The raw key: `sk_sfs_` + 32 hex.
    #[serde(rename = "key")]
    pub raw: String,
}
