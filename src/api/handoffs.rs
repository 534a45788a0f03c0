//! Handoffs: create, inbox and sent (with and without the trailing slash the CLI uses), get,
//! claim, revoke, decline, comments, events, and the token-protected preview. A caller who is
//! not a party gets 404, never 403.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::docs;
use crate::api::extract::{Json, OptionalJson, QueryPairs};
use crate::api::pages;
use crate::auth::principal::{HandoffsWrite, Scoped};
use crate::auth::Principal;
use crate::clock::Timestamp;
use crate::db::handoffs::{self, Comment, Handoff};
use crate::db::sessions as session_rows;
use crate::domain::handoffs::{self as rules, CreateRequest};
use crate::domain::summaries;
use crate::domain::summary::Summary;
use crate::domain::tiers::Feature;
use crate::error::{ApiError, ApiResult};
use crate::mail;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/handoffs", post(create))
        .route("/api/v1/handoffs/inbox", get(inbox))
        .route("/api/v1/handoffs/inbox/", get(inbox))
        .route("/api/v1/handoffs/sent", get(sent))
        .route("/api/v1/handoffs/sent/", get(sent))
        .route("/api/v1/handoffs/{id}", get(detail))
        .route("/api/v1/handoffs/{id}/claim", post(claim))
        .route("/api/v1/handoffs/{id}/revoke", post(revoke))
        .route("/api/v1/handoffs/{id}/decline", post(decline))
        .route(
            "/api/v1/handoffs/{id}/comments",
            post(add_comment).get(list_comments),
        )
        .route("/api/v1/handoffs/{id}/events", get(list_events))
        .route("/api/v1/handoffs/{id}/preview", get(preview))
        .route("/api/v1/handoffs/{id}/summary", get(summary))
        .route("/h/{id}", get(summary_page))
}

/// The Handoff object of the contract (02 §1.2).
pub fn handoff_json(h: &Handoff, now: Timestamp) -> Value {
    json!({
        "id": h.id,
        "session_id": h.session_id,
        "recipient_session_id": h.recipient_session_id,
        "sender_email": h.sender_email.clone().unwrap_or_else(|| "unknown".into()),
        "recipient_email": h.recipient_email,
        "recipient_user_id": h.recipient_user_id,
        "recipient_team_id": null,
        "message": h.message,
        "status": rules::display_status(h, now),
        "session_title": h.session_title,
        "session_tool": h.session_tool,
        "session_model_id": h.session_model_id,
        "session_message_count": h.session_message_count,
        "session_total_tokens": h.session_total_tokens,
        "created_at": h.created_at,
        "expires_at": h.expires_at,
        "claimed_at": h.claimed_at,
        "revoked_at": h.revoked_at,
        "viewed_at": h.viewed_at,
        "ticket_id": null,
        "persona_name": null,
        "revoked_by_user_id": h.revoked_by_user_id,
        "revoke_reason": h.revoke_reason,
        "handoff_kind": "individual",
        "snapshot_persona_name": null,
        "snapshot_ticket_title": null,
        "sender_tier_snapshot": h.sender_tier_snapshot,
        "source_project_id": null,
        "attachments": [],
    })
}

fn comment_json(c: &Comment) -> Value {
    json!({"id": c.id, "handoff_id": c.handoff_id, "author_user_id": c.author_user_id,
           "content": c.content, "created_at": c.created_at})
}

fn event_json(e: &handoffs::Event) -> Value {
    let payload = e
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str::<Value>(p).ok());
    json!({"id": e.id, "handoff_id": e.handoff_id, "event_type": e.event_type,
           "actor_user_id": e.actor_user_id, "payload": payload, "created_at": e.created_at})
}

/// A text field: trimmed, blank → None, at most `max` characters (422 otherwise).
fn text_field(
    value: Option<String>,
    name: &str,
    max: usize,
    lower: bool,
) -> ApiResult<Option<String>> {
    let Some(raw) = value else { return Ok(None) };
    let trimmed = raw.trim();
    if trimmed.chars().count() > max {
        return Err(ApiError::validation(
            "string_too_long",
            &["body", name],
            format!("String should have at most {max} characters"),
            Value::from(raw.clone()),
        ));
    }
    Ok((!trimmed.is_empty()).then(|| {
        if lower {
            trimmed.to_lowercase()
        } else {
            trimmed.to_string()
        }
    }))
}

#[derive(Deserialize)]
struct CreateBody {
    session_id: String,
    recipient_email: Option<String>,
    recipient_user_id: Option<String>,
    recipient_team_id: Option<String>,
    message: Option<String>,
    ticket_id: Option<String>,
    persona_name: Option<String>,
    expires_in_hours: Option<i64>,
    #[serde(default)]
    attachments: Vec<Value>,
}

#[utoipa::path(
    post, path = "/api/v1/handoffs", tag = "handoffs", operation_id = "create_handoff",
    summary = "Hand a session to a teammate",
    description = "Exactly one recipient. The recipient claims their own copy; with mail configured they \
are mailed. A service key needs the `handoffs:write` scope and a session in a registered project.",
    request_body = docs::HandoffRequest,
    responses(
        (status = 201, description = "Created (`pending`)", body = docs::Handoff),
        (status = 403, description = "The tier has no handoffs, a service key outside its projects, or a scope missing (`insufficient_scope`)", body = docs::ErrorEnvelope),
        (status = 404, description = "No such session of the caller, or no such recipient", body = docs::ErrorEnvelope),
        (status = 422, description = "Not exactly one recipient, a field out of range, or provenance this server cannot resolve", body = docs::ErrorEnvelope),
    ),
    security(("bearer" = ["handoffs:write"])),
)]
async fn create(
    State(state): State<AppState>,
    Scoped(principal, ..): Scoped<HandoffsWrite>,
    Json(body): Json<CreateBody>,
) -> ApiResult<Response> {
    service_key_boundary(&state, &principal, Some(&body.session_id)).await?;
    let tier = principal.tier();
    tier.require(Feature::Handoff)?;
    let email = text_field(body.recipient_email, "recipient_email", 255, true)?;
    let user_id = text_field(body.recipient_user_id, "recipient_user_id", 36, false)?;
    let team_id = text_field(body.recipient_team_id, "recipient_team_id", 64, false)?;
    let recipients = [email.is_some(), user_id.is_some(), team_id.is_some()]
        .iter()
        .filter(|r| **r)
        .count();
    if recipients != 1 {
        return Err(ApiError::invalid_value(
            &["body"],
            "Exactly one of recipient_email, recipient_user_id or recipient_team_id is required",
            Value::Null,
        ));
    }
    let message = text_field(body.message, "message", 2000, false)?;
    if let Some(hours) = body.expires_in_hours {
        if !(1..=2160).contains(&hours) {
            return Err(ApiError::validation(
                "less_than_equal",
                &["body", "expires_in_hours"],
                "Input should be between 1 and 2160",
                Value::from(hours),
            ));
        }
    }
    if team_id.is_some() {
        return Err(ApiError::not_found("Team not found"));
    }
    // Tickets, personas and attachments live in a session's project; this server has no
    // registered projects for a session to belong to yet.
    if text_field(body.ticket_id, "ticket_id", 64, false)?.is_some()
        || text_field(body.persona_name, "persona_name", 50, false)?.is_some()
        || !body.attachments.is_empty()
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "ticket_id, persona_name and attachments need the session's project to be registered",
        ));
    }
    let request = CreateRequest {
        session_id: body.session_id,
        recipient_email: email,
        recipient_user_id: user_id,
        message,
        expires_in_hours: body.expires_in_hours,
    };
    // The preview token is for the recipient's notification mail; without a mail transport
    // the recipient finds the handoff in their inbox instead.
    let (handoff, _preview_token) = rules::create(
        &state.db,
        &state.clock,
        &state.blobs,
        &principal.user,
        tier,
        request,
    )
    .await?;
    if let Some(to) = &handoff.recipient_email {
        let (subject, body) = mail::handoff_message(
            &state.config.public_url,
            &principal.user.email,
            handoff.session_title.as_deref().unwrap_or(""),
            &handoff.id,
            handoff.message.as_deref(),
        );
        state.mailer.send(to, &subject, &body);
    }
    tracing::info!(handoff = %handoff.id, sender = %principal.user.id, "handoff created");
    Ok((
        StatusCode::CREATED,
        axum::Json(handoff_json(&handoff, state.clock.now())),
    )
        .into_response())
}

#[utoipa::path(
    get, path = "/api/v1/handoffs/inbox", tag = "handoffs", operation_id = "handoff_inbox",
    summary = "Handoffs to the caller",
    description = "Every status, newest first.",
    responses((status = 200, description = "The handoffs", body = docs::HandoffList)),
)]
async fn inbox(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    let (id, email) = (principal.user.id.clone(), principal.user.email.clone());
    let list = state
        .db
        .read(move |conn| handoffs::inbox(conn, &id, &email))
        .await?;
    Ok(Json(
        json!({"handoffs": list.iter().map(|h| handoff_json(h, state.clock.now())).collect::<Vec<_>>(), "total": list.len()}),
    ))
}

#[utoipa::path(
    get, path = "/api/v1/handoffs/sent", tag = "handoffs", operation_id = "handoffs_sent",
    summary = "Handoffs from the caller",
    description = "Every status, newest first.",
    responses((status = 200, description = "The handoffs", body = docs::HandoffList)),
)]
async fn sent(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    let id = principal.user.id.clone();
    let list = state.db.read(move |conn| handoffs::sent(conn, &id)).await?;
    Ok(Json(
        json!({"handoffs": list.iter().map(|h| handoff_json(h, state.clock.now())).collect::<Vec<_>>(), "total": list.len()}),
    ))
}

/// Service keys reach handoffs only inside a project of their org (03 §0.2 step 11). Sessions
/// on this server are not registered to projects, so a service key is refused with the code
/// that says which is missing: the source session, or its project.
async fn service_key_boundary(
    state: &AppState,
    principal: &Principal,
    session_id: Option<&str>,
) -> ApiResult<()> {
    if !principal.is_service_key() {
        return Ok(());
    }
    let exists = match session_id {
        Some(id) => {
            let (id, owner) = (id.to_string(), principal.user.id.clone());
            state
                .db
                .read(move |conn| {
                    Ok::<_, ApiError>(
                        session_rows::get(conn, &id)?
                            .is_some_and(|s| s.user_id == owner && !s.is_deleted()),
                    )
                })
                .await?
        }
        None => false,
    };
    let (code, message) = if exists {
        (
            "service_key_project_not_registered",
            "The session is not part of a registered project",
        )
    } else {
        (
            "service_key_project_required",
            "Service keys can only act on sessions of a registered project",
        )
    };
    Err(ApiError::structured(StatusCode::FORBIDDEN, code, message))
}

/// The boundary check for a route on an existing handoff (its source session decides).
async fn handoff_boundary(
    state: &AppState,
    principal: &Principal,
    handoff_id: &str,
) -> ApiResult<()> {
    if !principal.is_service_key() {
        return Ok(());
    }
    let key = handoff_id.to_string();
    let session = state
        .db
        .read(move |conn| Ok::<_, ApiError>(handoffs::get(conn, &key)?.map(|h| h.session_id)))
        .await?;
    service_key_boundary(state, principal, session.as_deref()).await
}

/// Most comments and events returned at once.
const LIST_CAP: i64 = 200;

#[utoipa::path(
    get, path = "/api/v1/handoffs/{id}", tag = "handoffs", operation_id = "get_handoff",
    summary = "A handoff, with its comments and events",
    description = "For its sender and recipient only (others get 404). The recipient's first read marks it viewed.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)")),
    responses(
        (status = 200, description = "The handoff", body = docs::HandoffDetail),
        (status = 404, description = "No such handoff for the caller", body = docs::ErrorEnvelope),
        (status = 410, description = "Expired", body = docs::ErrorEnvelope),
    ),
)]
async fn detail(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let h = rules::view(&state.db, &state.clock, &principal.user, &id).await?;
    let key = h.id.clone();
    let (comments, events) = state
        .db
        .read(move |conn| {
            Ok::<_, ApiError>((
                handoffs::comments(conn, &key, LIST_CAP)?,
                handoffs::events(conn, &key, LIST_CAP)?,
            ))
        })
        .await?;
    let mut out = handoff_json(&h, state.clock.now());
    out["comments"] = comments.iter().map(comment_json).collect();
    out["events"] = events.iter().map(event_json).collect();
    Ok(Json(out))
}

#[utoipa::path(
    post, path = "/api/v1/handoffs/{id}/claim", tag = "handoffs", operation_id = "claim_handoff",
    summary = "Claim a handoff",
    description = "The recipient gets their own copy of the session (`recipient_session_id`), sharing the stored archive.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)")),
    responses(
        (status = 200, description = "Claimed", body = docs::HandoffClaim),
        (status = 404, description = "No such handoff for the caller, or the source session is gone", body = docs::ErrorEnvelope),
        (status = 409, description = "Already claimed, revoked or declined", body = docs::ErrorEnvelope),
        (status = 410, description = "Expired", body = docs::ErrorEnvelope),
    ),
    security(("bearer" = ["handoffs:write"])),
)]
async fn claim(
    State(state): State<AppState>,
    Scoped(principal, ..): Scoped<HandoffsWrite>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    handoff_boundary(&state, &principal, &id).await?;
    let h = rules::claim(&state.db, &state.clock, &principal.user, &id).await?;
    if let Some(copy) = &h.recipient_session_id {
        crate::domain::search::refresh(&state.db, &state.blobs, &state.search, copy).await?;
    }
    tracing::info!(handoff = %h.id, recipient = %principal.user.id, session = ?h.recipient_session_id, "handoff claimed");
    let mut out = handoff_json(&h, state.clock.now());
    out["active_ticket_payload"] = Value::Null;
    out["dropped_attachments"] = json!([]);
    Ok(Json(out))
}

#[derive(Deserialize)]
struct RevokeBody {
    reason: String,
}

#[utoipa::path(
    post, path = "/api/v1/handoffs/{id}/revoke", tag = "handoffs", operation_id = "revoke_handoff",
    summary = "Revoke a pending handoff (sender)",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)")),
    request_body = docs::HandoffRevokeRequest,
    responses(
        (status = 200, description = "Revoked", body = docs::Handoff),
        (status = 404, description = "No such handoff sent by the caller", body = docs::ErrorEnvelope),
        (status = 409, description = "Not pending", body = docs::ErrorEnvelope),
        (status = 422, description = "No `reason`", body = docs::ErrorEnvelope),
    ),
    security(("bearer" = ["handoffs:write"])),
)]
async fn revoke(
    State(state): State<AppState>,
    Scoped(principal, ..): Scoped<HandoffsWrite>,
    Path(id): Path<String>,
    Json(body): Json<RevokeBody>,
) -> ApiResult<Json<Value>> {
    handoff_boundary(&state, &principal, &id).await?;
    let reason = text_field(Some(body.reason), "reason", 500, false)?.ok_or_else(|| {
        ApiError::invalid_value(&["body", "reason"], "reason must not be blank", Value::Null)
    })?;
    let h = rules::revoke(&state.db, &state.clock, &principal.user, &id, reason).await?;
    Ok(Json(handoff_json(&h, state.clock.now())))
}

#[derive(Deserialize, Default)]
struct DeclineBody {
    reason: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/handoffs/{id}/decline", tag = "handoffs", operation_id = "decline_handoff",
    summary = "Decline a pending handoff (recipient)",
    description = "The body may be empty.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)")),
    request_body(content = Option<docs::HandoffDeclineRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Declined", body = docs::Handoff),
        (status = 404, description = "No such handoff to the caller", body = docs::ErrorEnvelope),
        (status = 409, description = "Not pending", body = docs::ErrorEnvelope),
    ),
    security(("bearer" = ["handoffs:write"])),
)]
async fn decline(
    State(state): State<AppState>,
    Scoped(principal, ..): Scoped<HandoffsWrite>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<DeclineBody>,
) -> ApiResult<Json<Value>> {
    handoff_boundary(&state, &principal, &id).await?;
    let reason = text_field(body.reason, "reason", 500, false)?;
    let h = rules::decline(&state.db, &state.clock, &principal.user, &id, reason).await?;
    Ok(Json(handoff_json(&h, state.clock.now())))
}

#[derive(Deserialize)]
struct CommentBody {
    content: String,
}

#[utoipa::path(
    post, path = "/api/v1/handoffs/{id}/comments", tag = "handoffs", operation_id = "comment_on_handoff",
    summary = "Comment on a handoff",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)")),
    request_body = docs::HandoffCommentRequest,
    responses(
        (status = 201, description = "The comment", body = docs::HandoffComment),
        (status = 404, description = "No such handoff for the caller", body = docs::ErrorEnvelope),
        (status = 422, description = "`content` not 1–10000 characters", body = docs::ErrorEnvelope),
    ),
    security(("bearer" = ["handoffs:write"])),
)]
async fn add_comment(
    State(state): State<AppState>,
    Scoped(principal, ..): Scoped<HandoffsWrite>,
    Path(id): Path<String>,
    Json(body): Json<CommentBody>,
) -> ApiResult<Response> {
    handoff_boundary(&state, &principal, &id).await?;
    let n = body.content.chars().count();
    if n == 0 || n > 10_000 || body.content.trim().is_empty() {
        return Err(ApiError::validation(
            "string_too_long",
            &["body", "content"],
            "content must be 1 to 10000 characters",
            Value::Null,
        ));
    }
    let c = rules::comment(&state.db, &state.clock, &principal.user, &id, body.content).await?;
    Ok((StatusCode::CREATED, axum::Json(comment_json(&c))).into_response())
}

fn limit_of(q: &QueryPairs) -> i64 {
    q.last("limit")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(LIST_CAP)
        .clamp(1, LIST_CAP)
}

#[utoipa::path(
    get, path = "/api/v1/handoffs/{id}/comments", tag = "handoffs", operation_id = "list_handoff_comments",
    summary = "A handoff's comments",
    description = "Oldest first.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)"), ("limit" = Option<i64>, Query, description = "1–200, default 200")),
    responses(
        (status = 200, description = "The comments", body = Vec<docs::HandoffComment>),
        (status = 404, description = "No such handoff for the caller", body = docs::ErrorEnvelope),
    ),
)]
async fn list_comments(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    q: QueryPairs,
) -> ApiResult<Json<Value>> {
    let h = rules::load(&state.db, &state.clock, &principal.user, &id).await?;
    let limit = limit_of(&q);
    let list = state
        .db
        .read(move |conn| handoffs::comments(conn, &h.id, limit))
        .await?;
    Ok(Json(list.iter().map(comment_json).collect()))
}

#[utoipa::path(
    get, path = "/api/v1/handoffs/{id}/events", tag = "handoffs", operation_id = "list_handoff_events",
    summary = "A handoff's events",
    description = "Oldest first.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)"), ("limit" = Option<i64>, Query, description = "1–200, default 200")),
    responses(
        (status = 200, description = "The events", body = Vec<docs::HandoffEvent>),
        (status = 404, description = "No such handoff for the caller", body = docs::ErrorEnvelope),
    ),
)]
async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    q: QueryPairs,
) -> ApiResult<Json<Value>> {
    let h = rules::load(&state.db, &state.clock, &principal.user, &id).await?;
    let limit = limit_of(&q);
    let list = state
        .db
        .read(move |conn| handoffs::events(conn, &h.id, limit))
        .await?;
    Ok(Json(list.iter().map(event_json).collect()))
}

#[utoipa::path(
    get, path = "/api/v1/handoffs/{id}/preview", tag = "handoffs", operation_id = "preview_handoff",
    summary = "A handoff's preview, by its preview token",
    description = "No key: the token from the recipient's mail is the credential. Every failure is the same 404.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)"), ("X-Preview-Token" = String, Header, description = "The preview token (`hpr_…`)")),
    responses(
        (status = 200, description = "The preview", body = docs::HandoffPreview),
        (status = 404, description = "No such handoff, wrong token, or no longer pending", body = docs::ErrorEnvelope),
    ),
    security(),
)]
async fn preview(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let token = headers
        .get("x-preview-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(rules::not_found)?;
    let h = rules::by_preview_token(&state.db, &state.clock, &id, token).await?;
    let messages = serde_json::from_str::<Value>(&h.preview).unwrap_or_else(|_| json!([]));
    Ok(Json(json!({
        "title": h.session_title,
        "sender_email": h.sender_email,
        "tool": h.session_tool,
        "message_count": h.session_message_count,
        "status": rules::display_status(&h, state.clock.now()),
        "expires_at": h.expires_at,
        "preview_messages": messages,
    })))
}

/// Cut-offs of the handoff summary (02 §1.4).
const SUMMARY_FILES: usize = 10;
const SUMMARY_ERRORS: usize = 3;

fn handoff_summary_json(s: &Summary) -> Value {
    json!({
        "session_id": s.session_id,
        "title": s.title,
        "tool": s.tool,
        "model": s.model,
        "message_count": s.message_count,
        "files_modified": s.files_modified.iter().take(SUMMARY_FILES).collect::<Vec<_>>(),
        "commands_executed": s.commands_executed,
        "tests_run": s.tests_run,
        "tests_passed": s.tests_passed,
        "tests_failed": s.tests_failed,
        "errors_encountered": s.errors_encountered.iter().take(SUMMARY_ERRORS).collect::<Vec<_>>(),
        "last_assistant_messages": s.last_assistant_messages,
    })
}

/// The summary of a handoff's session. No key needed: the handoff id is the capability
/// (ruling 8); only the summary is revealed, never the archive or the messages.
#[utoipa::path(
    get, path = "/api/v1/handoffs/{id}/summary", tag = "handoffs", operation_id = "handoff_summary",
    summary = "The summary of a handoff's session",
    description = "No key: the handoff id (128 random bits) is the capability. Only the summary is \
shown, never the archive or the messages.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)")),
    responses(
        (status = 200, description = "The summary", body = docs::HandoffSummary),
        (status = 404, description = "No such handoff, or its session is gone", body = docs::ErrorEnvelope),
        (status = 410, description = "Expired, revoked or already claimed", body = docs::ErrorEnvelope),
    ),
    security(),
)]
async fn summary(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let (_, session) = rules::for_summary(&state.db, &state.clock, &id).await?;
    let (s, _) =
        summaries::for_session(&state.db, &state.clock, &state.blobs, &session, false).await?;
    Ok(Json(handoff_summary_json(&s)))
}

/// The same summary as a page for people.
#[utoipa::path(
    get, path = "/h/{id}", tag = "handoffs", operation_id = "handoff_page",
    summary = "A handoff's summary as a page",
    description = "The same summary as `GET /api/v1/handoffs/{id}/summary`, as a self-contained HTML page.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)")),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 404, description = "No such handoff", content_type = "text/html", body = String),
        (status = 410, description = "No longer available", content_type = "text/html", body = String),
    ),
    security(),
)]
async fn summary_page(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let found = match rules::for_summary(&state.db, &state.clock, &id).await {
        Ok((h, session)) => {
            summaries::for_session(&state.db, &state.clock, &state.blobs, &session, false)
                .await
                .map(|(s, _)| (h, s))
        }
        Err(e) => Err(e),
    };
    let (h, s) = match found {
        Ok(found) => found,
        Err(e) => {
            let e = ApiError::from(e);
            let title = if e.status == StatusCode::NOT_FOUND {
                "Handoff not found"
            } else {
                "This handoff is no longer available"
            };
            return pages::respond(e.status, pages::notice(title, &e.message));
        }
    };
    let esc = pages::escape;
    let list = |items: &[String]| -> String {
        if items.is_empty() {
            return "—".into();
        }
        format!(
            "<ul>{}</ul>",
            items
                .iter()
                .map(|i| format!("<li><code>{}</code></li>", esc(i)))
                .collect::<String>()
        )
    };
    let files: Vec<String> = s
        .files_modified
        .iter()
        .take(SUMMARY_FILES)
        .cloned()
        .collect();
    let errors: Vec<String> = s
        .errors_encountered
        .iter()
        .take(SUMMARY_ERRORS)
        .cloned()
        .collect();
    let rows = vec![
        ("From", esc(h.sender_email.as_deref().unwrap_or("unknown"))),
        ("Message", esc(h.message.as_deref().unwrap_or("—"))),
        ("Tool", esc(&s.tool)),
        ("Model", esc(s.model.as_deref().unwrap_or("—"))),
        ("Messages", s.message_count.to_string()),
        ("Commands run", s.commands_executed.to_string()),
        (
            "Tests",
            format!(
                "{} run, {} passed, {} failed",
                s.tests_run, s.tests_passed, s.tests_failed
            ),
        ),
        ("Files changed", list(&files)),
        ("Errors seen", list(&errors)),
        ("Expires", esc(&h.expires_at)),
    ];
    let last: String = s
        .last_assistant_messages
        .iter()
        .map(|m| format!("<div class=\"msg assistant\"><p>{}</p></div>", esc(m)))
        .collect();
    let extra = format!(
        "<h2>Latest from the assistant</h2>{last}<p class=\"meta\">Claim it with <code>sfs pull-handoff {}</code>.</p>",
        esc(&h.id)
    );
    pages::respond(StatusCode::OK, pages::facts(&s.title, &rows, &extra))
}
