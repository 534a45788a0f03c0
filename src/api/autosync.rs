//! Autosync: sync settings, the watchlist, watch status updates, the status overview, and the
//! daemon's capture-health report. All scoped to the caller.

use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::docs;
use crate::api::extract::Json;
use crate::auth::Principal;
use crate::db::{sessions as rows, sync};
use crate::domain::tiers::Feature;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sync/settings", get(get_settings).put(put_settings))
        .route("/api/v1/sync/watchlist", get(watchlist))
        .route("/api/v1/sync/watch/{id}", post(watch).delete(unwatch))
        .route("/api/v1/sync/watch/{id}/{status}", put(set_status))
        .route("/api/v1/sync/status", get(status))
        .route("/api/v1/sync/health", get(get_health).put(put_health))
}

const MODES: [&str; 3] = ["off", "all", "selective"];
const WATCH_STATUSES: [&str; 4] = ["failed", "pending", "queued", "synced"];

fn settings_json(state: &AppState, principal: &Principal, mode: &str, debounce: i64) -> Value {
    json!({
        "mode": mode,
        "debounce_seconds": debounce,
        "max_member_bytes": state.config.member_cap(principal.tier()),
    })
}

#[utoipa::path(
    get, path = "/api/v1/sync/settings", tag = "autosync", operation_id = "get_sync_settings",
    summary = "The caller's sync settings",
    description = "`max_member_bytes` is the tier's per-file cap, which `sfs push` checks before uploading.",
    responses((status = 200, description = "The settings", body = docs::SyncSettings)),
)]
async fn get_settings(State(state): State<AppState>, principal: Principal) -> Json<Value> {
    let u = &principal.user;
    Json(settings_json(
        &state,
        &principal,
        &u.sync_mode,
        u.sync_debounce,
    ))
}

#[derive(Deserialize)]
struct SettingsBody {
    mode: String,
    debounce_seconds: Option<i64>,
}

#[utoipa::path(
    put, path = "/api/v1/sync/settings", tag = "autosync", operation_id = "set_sync_settings",
    summary = "Set the caller's sync settings",
    description = "A mode other than `off` needs a tier with autosync.",
    request_body = docs::SyncSettingsRequest,
    responses(
        (status = 200, description = "The settings", body = docs::SyncSettings),
        (status = 400, description = "Unknown mode", body = docs::ErrorEnvelope),
        (status = 403, description = "The tier has no autosync (`upgrade_required`)", body = docs::ErrorEnvelope),
        (status = 422, description = "Missing or invalid body", body = docs::ErrorEnvelope),
    ),
)]
async fn put_settings(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<SettingsBody>,
) -> ApiResult<Json<Value>> {
    if body.mode != "off" {
        principal.tier().require(Feature::Autosync)?;
    }
    if !MODES.contains(&body.mode.as_str()) {
        return Err(ApiError::bad_request(
            "Mode must be 'off', 'all', or 'selective'",
        ));
    }
    let debounce = body.debounce_seconds.map(|d| d.clamp(5, 300));
    let user_id = principal.user.id.clone();
    let mode = body.mode.clone();
    state
        .db
        .write(move |tx| sync::set_settings(tx, &user_id, &mode, debounce))
        .await?;
    let shown = debounce.unwrap_or(principal.user.sync_debounce);
    Ok(Json(settings_json(&state, &principal, &body.mode, shown)))
}

#[utoipa::path(
    get, path = "/api/v1/sync/watchlist", tag = "autosync", operation_id = "get_watchlist",
    summary = "The caller's watched sessions",
    responses((status = 200, description = "The watchlist", body = docs::Watchlist)),
)]
async fn watchlist(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    let user_id = principal.user.id.clone();
    let list = state
        .db
        .read(move |conn| sync::watchlist(conn, &user_id))
        .await?;
    let sessions: Vec<Value> = list
        .into_iter()
        .map(|w| {
            json!({"session_id": w.session_id, "title": w.title, "source_tool": w.source_tool,
                   "message_count": w.message_count, "status": w.status, "last_synced_at": w.last_synced_at})
        })
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

#[utoipa::path(
    post, path = "/api/v1/sync/watch/{id}", tag = "autosync", operation_id = "watch_session",
    summary = "Watch a session",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "Watching (`status` = `watching`)", body = docs::WatchResult),
        (status = 404, description = "No such live session of the caller", body = docs::ErrorEnvelope),
    ),
)]
async fn watch(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user_id = principal.user.id.clone();
    let (session_id, clock) = (id.clone(), state.clock.clone());
    state
        .db
        .write(move |tx| {
            // Only the caller's live sessions can be watched (by exact id).
            match rows::get(tx, &session_id)? {
                Some(row) if row.user_id == user_id && !row.is_deleted() => {}
                _ => return Err(ApiError::not_found("Session not found")),
            }
            Ok(sync::watch(tx, &user_id, &session_id, &clock.now_string())?)
        })
        .await?;
    Ok(Json(json!({"status": "watching", "session_id": id})))
}

#[utoipa::path(
    delete, path = "/api/v1/sync/watch/{id}", tag = "autosync", operation_id = "unwatch_session",
    summary = "Stop watching a session",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "Not watched (`status` = `unwatched`)", body = docs::WatchResult)),
)]
async fn unwatch(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user_id = principal.user.id.clone();
    let session_id = id.clone();
    state
        .db
        .write(move |tx| sync::unwatch(tx, &user_id, &session_id))
        .await?;
    Ok(Json(json!({"status": "unwatched", "session_id": id})))
}

#[utoipa::path(
    put, path = "/api/v1/sync/watch/{id}/{status}", tag = "autosync", operation_id = "set_watch_status",
    summary = "Record a watched session's sync status",
    params(
        ("id" = String, Path, description = "Session id"),
        ("status" = String, Path, description = "`failed`, `pending`, `queued` or `synced`"),
    ),
    responses(
        (status = 200, description = "The new status, or `not_watched`", body = docs::WatchResult),
        (status = 400, description = "Unknown status", body = docs::ErrorEnvelope),
    ),
)]
async fn set_status(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, status)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    if !WATCH_STATUSES.contains(&status.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Status must be one of: {}",
            WATCH_STATUSES.join(", ")
        )));
    }
    let (user_id, session_id, new_status) = (principal.user.id.clone(), id.clone(), status.clone());
    let clock = state.clock.clone();
    let watched = state
        .db
        .write(move |tx| {
            sync::set_status(tx, &user_id, &session_id, &new_status, &clock.now_string())
        })
        .await?;
    let shown = if watched {
        status
    } else {
        "not_watched".to_string()
    };
    Ok(Json(json!({"status": shown, "session_id": id})))
}

#[utoipa::path(
    get, path = "/api/v1/sync/status", tag = "autosync", operation_id = "get_sync_status",
    summary = "The caller's sync status and storage use",
    responses((status = 200, description = "The status", body = docs::SyncStatus)),
)]
async fn status(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({
        "mode": principal.user.sync_mode,
        "total_sessions": o.total_sessions,
        "synced_sessions": o.total_sessions,
        "watched_sessions": o.watched,
        "queued": o.queued,
        "failed": o.failed,
        "storage_used_bytes": o.storage_used_bytes,
        "storage_limit_bytes": limit,
    })))
}

#[derive(Deserialize)]
struct HealthBody {
    watchers: Vec<Value>,
}

#[utoipa::path(
    put, path = "/api/v1/sync/health", tag = "autosync", operation_id = "report_capture_health",
    summary = "Report capture health",
    description = "The daemon's watchers, stored as sent and shown in `/api/v1/auth/me`.",
    request_body = docs::CaptureHealthRequest,
    responses(
        (status = 200, description = "Stored", body = docs::CaptureHealthStored),
        (status = 400, description = "Report too large", body = docs::ErrorEnvelope),
        (status = 422, description = "Not a list of at most 100 objects", body = docs::ErrorEnvelope),
    ),
)]
async fn put_health(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<HealthBody>,
) -> ApiResult<Json<Value>> {
    if body.watchers.len() > 100 || body.watchers.iter().any(|w| !w.is_object()) {
        return Err(ApiError::invalid_value(
            &["body", "watchers"],
            "At most 100 watcher objects",
            Value::Null,
        ));
    }
    let count = body.watchers.len();
    let text = Value::Array(body.watchers).to_string();
    if text.len() > 64 * 1024 {
        return Err(ApiError::bad_request("Capture health report is too large"));
    }
    let user_id = principal.user.id.clone();
    state
        .db
        .write(move |tx| sync::set_capture_health(tx, &user_id, &text))
        .await?;
    Ok(Json(json!({"status": "ok", "watchers": count})))
}

#[utoipa::path(
    get, path = "/api/v1/sync/health", tag = "autosync", operation_id = "get_capture_health",
    summary = "The daemon's last capture-health report",
    responses((status = 200, description = "The report (`[]` before the first)", body = docs::CaptureHealth)),
)]
async fn get_health(principal: Principal) -> Json<Value> {
    let watchers = principal
        .user
        .capture_health
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .unwrap_or_else(|| json!([]));
    Json(json!({ "watchers": watchers }))
}
