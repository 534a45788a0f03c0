//! Autosync: sync settings, the watchlist, watch status updates, the status overview, and the
//! daemon's capture-health report. All scoped to the caller.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::extract::Json;
use crate::auth::Principal;
use crate::db::sync;
use crate::domain::autosync;
use crate::error::ApiResult;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(watchlist))
        .routes(routes!(watch, unwatch))
        .routes(routes!(set_status))
        .routes(routes!(status))
        .routes(routes!(get_health, put_health))
}

fn settings_json(
    state: &AppState,
    principal: &Principal,
    mode: &str,
    debounce: i64,
) -> SyncSettings {
    SyncSettings {
        mode: mode.to_string(),
        debounce_seconds: debounce,
        max_member_bytes: state.config.member_cap(principal.tier()),
    }
}

#[utoipa::path(
    get, path = "/api/v1/sync/settings", tag = "autosync", operation_id = "get_sync_settings",
    summary = "The caller's sync settings",
    description = "`max_member_bytes` is the tier's per-file cap, which `sfs push` checks before uploading.",
    responses((status = 200, description = "The settings", body = SyncSettings)),
)]
async fn get_settings(State(state): State<AppState>, principal: Principal) -> Json<SyncSettings> {
    let u = &principal.user;
    Json(settings_json(
        &state,
        &principal,
        &u.sync_mode,
        u.sync_debounce,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct SyncSettingsRequest {
    /// `off`, `all` or `selective`.
    pub mode: String,
    /// Clamped to 5–300.
    pub debounce_seconds: Option<i64>,
}

#[utoipa::path(
    put, path = "/api/v1/sync/settings", tag = "autosync", operation_id = "set_sync_settings",
    summary = "Set the caller's sync settings",
    description = "A mode other than `off` needs a tier with autosync.",
    request_body = SyncSettingsRequest,
    responses(
        (status = 200, description = "The settings", body = SyncSettings),
        (status = 400, description = "Unknown mode"),
        (status = 403, description = "The tier has no autosync (`upgrade_required`)"),
        (status = 422, description = "Missing or invalid body"),
    ),
)]
async fn put_settings(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<SyncSettingsRequest>,
) -> ApiResult<Json<SyncSettings>> {
    let shown = autosync::set_settings(
        &state.db,
        &principal.user,
        principal.tier(),
        &body.mode,
        body.debounce_seconds,
    )
    .await?;
    Ok(Json(settings_json(&state, &principal, &body.mode, shown)))
}

#[utoipa::path(
    get, path = "/api/v1/sync/watchlist", tag = "autosync", operation_id = "get_watchlist",
    summary = "The caller's watched sessions",
    responses((status = 200, description = "The watchlist", body = Watchlist)),
)]
async fn watchlist(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Watchlist>> {
    let user_id = principal.user.id.clone();
    let list = state
        .db
        .read(move |conn| sync::watchlist(conn, &user_id))
        .await?;
    let sessions = list
        .into_iter()
        .map(|w| WatchedSession {
            session_id: w.session_id,
            title: w.title,
            source_tool: w.source_tool,
            message_count: Some(w.message_count),
            status: w.status,
            last_synced_at: w.last_synced_at,
        })
        .collect();
    Ok(Json(Watchlist { sessions }))
}

#[utoipa::path(
    post, path = "/api/v1/sync/watch/{id}", tag = "autosync", operation_id = "watch_session",
    summary = "Watch a session",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "Watching (`status` = `watching`)", body = WatchResult),
        (status = 404, description = "No such live session of the caller"),
    ),
)]
async fn watch(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<WatchResult>> {
    autosync::watch(&state.db, &state.clock, &principal.user.id, &id).await?;
    Ok(Json(WatchResult {
        status: "watching".into(),
        session_id: id,
    }))
}

#[utoipa::path(
    delete, path = "/api/v1/sync/watch/{id}", tag = "autosync", operation_id = "unwatch_session",
    summary = "Stop watching a session",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "Not watched (`status` = `unwatched`)", body = WatchResult)),
)]
async fn unwatch(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<WatchResult>> {
    autosync::unwatch(&state.db, &principal.user.id, &id).await?;
    Ok(Json(WatchResult {
        status: "unwatched".into(),
        session_id: id,
    }))
}

#[utoipa::path(
    put, path = "/api/v1/sync/watch/{id}/{status}", tag = "autosync", operation_id = "set_watch_status",
    summary = "Record a watched session's sync status",
    params(
        ("id" = String, Path, description = "Session id"),
        ("status" = String, Path, description = "`failed`, `pending`, `queued` or `synced`"),
    ),
    responses(
        (status = 200, description = "The new status, or `not_watched`", body = WatchResult),
        (status = 400, description = "Unknown status"),
    ),
)]
async fn set_status(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, status)): Path<(String, String)>,
) -> ApiResult<Json<WatchResult>> {
    let watched =
        autosync::set_status(&state.db, &state.clock, &principal.user.id, &id, &status).await?;
    let shown = if watched {
        status
    } else {
        "not_watched".to_string()
    };
    Ok(Json(WatchResult {
        status: shown,
        session_id: id,
    }))
}

#[utoipa::path(
    get, path = "/api/v1/sync/status", tag = "autosync", operation_id = "get_sync_status",
    summary = "The caller's sync status and storage use",
    responses((status = 200, description = "The status", body = SyncStatus)),
)]
async fn status(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<SyncStatus>> {
    let user_id = principal.user.id.clone();
    let o = state
        .db
        .read(move |conn| sync::overview(conn, &user_id))
        .await?;
    let tier = principal.tier();
    let limit = if tier.is_paid() {
        tier.storage_limit_bytes()
    } else {
        state.config.sync_cap(tier)
    };
    Ok(Json(SyncStatus {
        mode: principal.user.sync_mode.clone(),
        total_sessions: o.total_sessions,
        synced_sessions: o.total_sessions,
        watched_sessions: o.watched,
        queued: o.queued,
        failed: o.failed,
        storage_used_bytes: o.storage_used_bytes,
        storage_limit_bytes: limit,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct CaptureHealthRequest {
    /// At most 100 objects, 64 KiB in all.
    #[schema(value_type = Vec<Map<String, Value>>)]
    pub watchers: Vec<Value>,
}

#[utoipa::path(
    put, path = "/api/v1/sync/health", tag = "autosync", operation_id = "report_capture_health",
    summary = "Report capture health",
    description = "The daemon's watchers, stored as sent and shown in `/api/v1/auth/me`.",
    request_body = CaptureHealthRequest,
    responses(
        (status = 200, description = "Stored", body = CaptureHealthStored),
        (status = 400, description = "Report too large"),
        (status = 422, description = "Not a list of at most 100 objects"),
    ),
)]
async fn put_health(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CaptureHealthRequest>,
) -> ApiResult<Json<CaptureHealthStored>> {
    let count =
        autosync::store_capture_health(&state.db, &principal.user.id, body.watchers).await?;
    Ok(Json(CaptureHealthStored {
        status: "ok",
        watchers: count as u64,
    }))
}

#[utoipa::path(
    get, path = "/api/v1/sync/health", tag = "autosync", operation_id = "get_capture_health",
    summary = "The daemon's last capture-health report",
    responses((status = 200, description = "The report (`[]` before the first)", body = CaptureHealth)),
)]
async fn get_health(principal: Principal) -> Json<CaptureHealth> {
    let watchers = principal
        .user
        .capture_health
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .unwrap_or_else(|| Value::Array(vec![]));
    Json(CaptureHealth { watchers })
}

#[derive(Serialize, ToSchema)]
pub struct SyncSettings {
    /// `off`, `all` or `selective`.
    pub mode: String,
    pub debounce_seconds: i64,
    /// The largest file an archive may hold for the caller's tier.
    pub max_member_bytes: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Watchlist {
    pub sessions: Vec<WatchedSession>,
}

#[derive(Serialize, ToSchema)]
pub struct WatchedSession {
    pub session_id: String,
    pub title: Option<String>,
    pub source_tool: Option<String>,
    pub message_count: Option<i64>,
    pub status: String,
    pub last_synced_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WatchResult {
    /// `watching`, `unwatched`, the new status, or `not_watched`.
    pub status: String,
    pub session_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct SyncStatus {
    pub mode: String,
    pub total_sessions: i64,
    pub synced_sessions: i64,
    pub watched_sessions: i64,
    pub queued: i64,
    pub failed: i64,
    pub storage_used_bytes: i64,
    /// 0 means unlimited.
    pub storage_limit_bytes: u64,
}

#[derive(Serialize, ToSchema)]
pub struct CaptureHealth {
    /// The last report, as sent.
    #[schema(value_type = Vec<Value>)]
    pub watchers: Value,
}

#[derive(Serialize, ToSchema)]
pub struct CaptureHealthStored {
    pub status: &'static str,
    pub watchers: u64,
}
