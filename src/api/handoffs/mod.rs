//! Handoffs: create, inbox and sent (with and without the trailing slash the CLI uses), get,
//! claim, revoke, decline, comments, events, and the token-protected preview. A caller who is
//! not a party gets 404, never 403.

mod types;
pub use types::*;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::api;
use crate::api::extract::{Json, OptionalJson, QueryPairs};
use crate::api::pages;
use crate::auth::principal::{HandoffsWrite, Scoped};
use crate::auth::Principal;
use crate::clock::Timestamp;
use crate::db::handoffs::{self, Comment, Handoff};
use crate::domain::handoffs::{self as rules, CreateRequest};
use crate::domain::projects;
use crate::domain::summaries;
use crate::domain::summary::Summary;
use crate::error::{ApiError, ApiResult};
use crate::mail;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(inbox))
        .routes(api::alias(
            "/api/v1/handoffs/inbox/",
            routes!(inbox),
            "Same as `GET /api/v1/handoffs/inbox`; the `sfs` client uses this spelling.",
        ))
        .routes(routes!(sent))
        .routes(api::alias(
            "/api/v1/handoffs/sent/",
            routes!(sent),
            "Same as `GET /api/v1/handoffs/sent`; the `sfs` client uses this spelling.",
        ))
        .routes(routes!(detail))
        .routes(routes!(claim))
        .routes(routes!(revoke))
        .routes(routes!(decline))
        .routes(routes!(add_comment, list_comments))
        .routes(routes!(list_events))
        .routes(routes!(preview))
        .routes(routes!(summary))
        .routes(routes!(summary_page))
}

/// The Handoff object of the contract (02 §1.2).
impl HandoffView {
    /// The handoff as seen at `now` (an expired pending handoff shows as `expired`).
    fn at(h: &Handoff, now: Timestamp) -> Self {
        HandoffView {
            id: h.id.clone(),
            session_id: h.session_id.clone(),
            recipient_session_id: h.recipient_session_id.clone(),
            sender_email: h.sender_email.clone().unwrap_or_else(|| "unknown".into()),
            recipient_email: h.recipient_email.clone(),
            recipient_user_id: h.recipient_user_id.clone(),
            recipient_team_id: None,
            message: h.message.clone(),
            status: rules::display_status(h, now).to_string(),
            session_title: h.session_title.clone(),
            session_tool: h.session_tool.clone(),
            session_model_id: h.session_model_id.clone(),
            session_message_count: h.session_message_count,
            session_total_tokens: h.session_total_tokens,
            created_at: h.created_at.clone(),
            expires_at: h.expires_at.clone(),
            claimed_at: h.claimed_at.clone(),
            revoked_at: h.revoked_at.clone(),
            viewed_at: h.viewed_at.clone(),
            ticket_id: None,
            persona_name: None,
            revoked_by_user_id: h.revoked_by_user_id.clone(),
            revoke_reason: h.revoke_reason.clone(),
            handoff_kind: "individual".to_string(),
            snapshot_persona_name: None,
            snapshot_ticket_title: None,
            sender_tier_snapshot: h.sender_tier_snapshot.clone(),
            source_project_id: None,
            attachments: vec![],
        }
    }
}

impl From<&Comment> for HandoffComment {
    fn from(c: &Comment) -> Self {
        HandoffComment {
            id: c.id.clone(),
            handoff_id: c.handoff_id.clone(),
            author_user_id: c.author_user_id.clone(),
            content: c.content.clone(),
            created_at: c.created_at.clone(),
        }
    }
}

impl From<&handoffs::Event> for HandoffEvent {
    fn from(e: &handoffs::Event) -> Self {
        HandoffEvent {
            id: e.id,
            handoff_id: e.handoff_id.clone(),
            event_type: e.event_type.clone(),
            actor_user_id: e.actor_user_id.clone(),
            payload: e
                .payload
                .as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok()),
            created_at: e.created_at.clone(),
        }
    }
}

fn handoff_list(list: &[Handoff], now: Timestamp) -> HandoffList {
    HandoffList {
        handoffs: list.iter().map(|h| HandoffView::at(h, now)).collect(),
        total: list.len() as i64,
    }
}

#[utoipa::path(
    post, path = "/api/v1/handoffs", tag = "handoffs", operation_id = "create_handoff",
    summary = "Hand a session to a teammate",
    description = "Exactly one recipient. The recipient claims their own copy; with mail configured they \
are mailed. A service key needs the `handoffs:write` scope and a session in a registered project.",
    request_body = HandoffRequest,
    responses(
        (status = 201, description = "Created (`pending`)", body = HandoffView),
        (status = 403, description = "The tier has no handoffs, a service key outside its projects, or a scope missing (`insufficient_scope`)"),
        (status = 404, description = "No such session of the caller, or no such recipient"),
        (status = 422, description = "Not exactly one recipient, a field out of range, or provenance this server cannot resolve"),
    ),
    security(("bearer" = ["handoffs:write"])),
)]
async fn create(
    State(state): State<AppState>,
    Scoped(principal, ..): Scoped<HandoffsWrite>,
    Json(body): Json<HandoffRequest>,
) -> ApiResult<Response> {
    service_key_boundary(&state, &principal, &body.session_id).await?;
    let request = CreateRequest {
        session_id: body.session_id,
        recipient_email: body.recipient_email,
        recipient_user_id: body.recipient_user_id,
        recipient_team_id: body.recipient_team_id,
        message: body.message,
        ticket_id: body.ticket_id,
        persona_name: body.persona_name,
        expires_in_hours: body.expires_in_hours,
        attachments: body.attachments.len(),
    };
    // The preview token is for the recipient's notification mail; without a mail transport
    // the recipient finds the handoff in their inbox instead.
    let (handoff, _preview_token) = rules::create(
        &state.db,
        &state.clock,
        &state.blobs,
        &principal.user,
        principal.tier(),
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
        axum::Json(HandoffView::at(&handoff, state.clock.now())),
    )
        .into_response())
}

#[utoipa::path(
    get, path = "/api/v1/handoffs/inbox", tag = "handoffs", operation_id = "handoff_inbox",
    summary = "Handoffs to the caller",
    description = "Every status, newest first.",
    responses((status = 200, description = "The handoffs", body = HandoffList)),
)]
async fn inbox(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<HandoffList>> {
    let (id, email) = (principal.user.id.clone(), principal.user.email.clone());
    let list = state
        .db
        .read(move |conn| handoffs::inbox(conn, &id, &email))
        .await?;
    Ok(Json(handoff_list(&list, state.clock.now())))
}

#[utoipa::path(
    get, path = "/api/v1/handoffs/sent", tag = "handoffs", operation_id = "handoffs_sent",
    summary = "Handoffs from the caller",
    description = "Every status, newest first.",
    responses((status = 200, description = "The handoffs", body = HandoffList)),
)]
async fn sent(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<HandoffList>> {
    let id = principal.user.id.clone();
    let list = state.db.read(move |conn| handoffs::sent(conn, &id)).await?;
    Ok(Json(handoff_list(&list, state.clock.now())))
}

/// Service keys reach handoffs only inside a project of their org (03 §0.2 step 11): the
/// session's project, found by its remote, must pass the §0.3 boundary. For a new handoff the
/// session must be the caller's (404 first, as for user keys).
async fn service_key_boundary(
    state: &AppState,
    principal: &Principal,
    session_id: &str,
) -> ApiResult<()> {
    Ok(projects::session_boundary(
        &state.db,
        principal.actor(),
        session_id.to_string(),
        Some(principal.user.id.clone()),
    )
    .await?)
}

/// The boundary check for a route on an existing handoff: a caller who is not a party gets
/// the route's 404 first; then the handoff's source session decides (gone:
/// `service_key_project_required`).
async fn handoff_boundary(
    state: &AppState,
    principal: &Principal,
    handoff_id: &str,
) -> ApiResult<()> {
    if !principal.is_service_key() {
        return Ok(());
    }
    let h = rules::load(&state.db, &state.clock, &principal.user, handoff_id).await?;
    Ok(projects::session_boundary(&state.db, principal.actor(), h.session_id, None).await?)
}

/// Most comments and events returned at once.
const LIST_CAP: i64 = 200;

#[utoipa::path(
    get, path = "/api/v1/handoffs/{id}", tag = "handoffs", operation_id = "get_handoff",
    summary = "A handoff, with its comments and events",
    description = "For its sender and recipient only (others get 404). The recipient's first read marks it viewed.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)")),
    responses(
        (status = 200, description = "The handoff", body = HandoffDetail),
        (status = 404, description = "No such handoff for the caller"),
        (status = 410, description = "Expired"),
    ),
)]
async fn detail(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<HandoffDetail>> {
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
    Ok(Json(HandoffDetail {
        handoff: HandoffView::at(&h, state.clock.now()),
        comments: comments.iter().map(HandoffComment::from).collect(),
        events: events.iter().map(HandoffEvent::from).collect(),
    }))
}

#[utoipa::path(
    post, path = "/api/v1/handoffs/{id}/claim", tag = "handoffs", operation_id = "claim_handoff",
    summary = "Claim a handoff",
    description = "The recipient gets their own copy of the session (`recipient_session_id`), sharing the stored archive.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)")),
    responses(
        (status = 200, description = "Claimed", body = HandoffClaim),
        (status = 404, description = "No such handoff for the caller, or the source session is gone"),
        (status = 409, description = "Already claimed, revoked or declined"),
        (status = 410, description = "Expired"),
    ),
    security(("bearer" = ["handoffs:write"])),
)]
async fn claim(
    State(state): State<AppState>,
    Scoped(principal, ..): Scoped<HandoffsWrite>,
    Path(id): Path<String>,
) -> ApiResult<Json<HandoffClaim>> {
    handoff_boundary(&state, &principal, &id).await?;
    let h = rules::claim(&state.db, &state.clock, &principal.user, &id).await?;
    if let Some(copy) = &h.recipient_session_id {
        crate::domain::search::refresh(&state.db, &state.blobs, &state.search, copy).await?;
    }
    tracing::info!(handoff = %h.id, recipient = %principal.user.id, session = ?h.recipient_session_id, "handoff claimed");
    Ok(Json(HandoffClaim {
        handoff: HandoffView::at(&h, state.clock.now()),
        active_ticket_payload: None,
        dropped_attachments: vec![],
    }))
}

#[utoipa::path(
    post, path = "/api/v1/handoffs/{id}/revoke", tag = "handoffs", operation_id = "revoke_handoff",
    summary = "Revoke a pending handoff (sender)",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)")),
    request_body = HandoffRevokeRequest,
    responses(
        (status = 200, description = "Revoked", body = HandoffView),
        (status = 404, description = "No such handoff sent by the caller"),
        (status = 409, description = "Not pending"),
        (status = 422, description = "No `reason`"),
    ),
    security(("bearer" = ["handoffs:write"])),
)]
async fn revoke(
    State(state): State<AppState>,
    Scoped(principal, ..): Scoped<HandoffsWrite>,
    Path(id): Path<String>,
    Json(body): Json<HandoffRevokeRequest>,
) -> ApiResult<Json<HandoffView>> {
    handoff_boundary(&state, &principal, &id).await?;
    let h = rules::revoke(&state.db, &state.clock, &principal.user, &id, body.reason).await?;
    Ok(Json(HandoffView::at(&h, state.clock.now())))
}

#[utoipa::path(
    post, path = "/api/v1/handoffs/{id}/decline", tag = "handoffs", operation_id = "decline_handoff",
    summary = "Decline a pending handoff (recipient)",
    description = "The body may be empty.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)")),
    request_body(content = Option<HandoffDeclineRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Declined", body = HandoffView),
        (status = 404, description = "No such handoff to the caller"),
        (status = 409, description = "Not pending"),
    ),
    security(("bearer" = ["handoffs:write"])),
)]
async fn decline(
    State(state): State<AppState>,
    Scoped(principal, ..): Scoped<HandoffsWrite>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<HandoffDeclineRequest>,
) -> ApiResult<Json<HandoffView>> {
    handoff_boundary(&state, &principal, &id).await?;
    let h = rules::decline(&state.db, &state.clock, &principal.user, &id, body.reason).await?;
    Ok(Json(HandoffView::at(&h, state.clock.now())))
}

#[utoipa::path(
    post, path = "/api/v1/handoffs/{id}/comments", tag = "handoffs", operation_id = "comment_on_handoff",
    summary = "Comment on a handoff",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)")),
    request_body = HandoffCommentRequest,
    responses(
        (status = 201, description = "The comment", body = HandoffComment),
        (status = 404, description = "No such handoff for the caller"),
        (status = 422, description = "`content` not 1–10000 characters"),
    ),
    security(("bearer" = ["handoffs:write"])),
)]
async fn add_comment(
    State(state): State<AppState>,
    Scoped(principal, ..): Scoped<HandoffsWrite>,
    Path(id): Path<String>,
    Json(body): Json<HandoffCommentRequest>,
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
    Ok((StatusCode::CREATED, axum::Json(HandoffComment::from(&c))).into_response())
}

/// `limit`: an integer (422 otherwise), silently clamped to 1..=200 (contract 02).
fn limit_of(q: &QueryPairs) -> ApiResult<i64> {
    Ok(q.int("limit", LIST_CAP, i64::MIN, i64::MAX)?
        .clamp(1, LIST_CAP))
}

#[utoipa::path(
    get, path = "/api/v1/handoffs/{id}/comments", tag = "handoffs", operation_id = "list_handoff_comments",
    summary = "A handoff's comments",
    description = "Oldest first.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)"), ("limit" = Option<i64>, Query, description = "1–200, default 200")),
    responses(
        (status = 200, description = "The comments", body = Vec<HandoffComment>),
        (status = 404, description = "No such handoff for the caller"),
    ),
)]
async fn list_comments(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    q: QueryPairs,
) -> ApiResult<Json<Vec<HandoffComment>>> {
    let h = rules::load(&state.db, &state.clock, &principal.user, &id).await?;
    let limit = limit_of(&q)?;
    let list = state
        .db
        .read(move |conn| handoffs::comments(conn, &h.id, limit))
        .await?;
    Ok(Json(list.iter().map(HandoffComment::from).collect()))
}

#[utoipa::path(
    get, path = "/api/v1/handoffs/{id}/events", tag = "handoffs", operation_id = "list_handoff_events",
    summary = "A handoff's events",
    description = "Oldest first.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)"), ("limit" = Option<i64>, Query, description = "1–200, default 200")),
    responses(
        (status = 200, description = "The events", body = Vec<HandoffEvent>),
        (status = 404, description = "No such handoff for the caller"),
    ),
)]
async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    q: QueryPairs,
) -> ApiResult<Json<Vec<HandoffEvent>>> {
    let h = rules::load(&state.db, &state.clock, &principal.user, &id).await?;
    let limit = limit_of(&q)?;
    let list = state
        .db
        .read(move |conn| handoffs::events(conn, &h.id, limit))
        .await?;
    Ok(Json(list.iter().map(HandoffEvent::from).collect()))
}

#[utoipa::path(
    get, path = "/api/v1/handoffs/{id}/preview", tag = "handoffs", operation_id = "preview_handoff",
    summary = "A handoff's preview, by its preview token",
    description = "No key: the token from the recipient's mail is the credential. Every failure is the same 404.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)"), ("X-Preview-Token" = String, Header, description = "The preview token (`hpr_…`)")),
    responses(
        (status = 200, description = "The preview", body = HandoffPreview),
        (status = 404, description = "No such handoff, wrong token, or no longer pending"),
    ),
    security(),
)]
async fn preview(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<HandoffPreview>> {
    let token = headers
        .get("x-preview-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(rules::not_found)?;
    let h = rules::by_preview_token(&state.db, &state.clock, &id, token).await?;
    let preview_messages = serde_json::from_str(&h.preview).unwrap_or_default();
    Ok(Json(HandoffPreview {
        status: rules::display_status(&h, state.clock.now()).to_string(),
        title: h.session_title,
        sender_email: h.sender_email,
        tool: h.session_tool,
        message_count: h.session_message_count,
        expires_at: h.expires_at,
        preview_messages,
    }))
}

/// Cut-offs of the handoff summary (02 §1.4).
const SUMMARY_FILES: usize = 10;
const SUMMARY_ERRORS: usize = 3;

fn handoff_summary(s: Summary) -> HandoffSummary {
    HandoffSummary {
        session_id: s.session_id,
        title: s.title,
        tool: s.tool,
        model: s.model,
        message_count: s.message_count,
        files_modified: s.files_modified.into_iter().take(SUMMARY_FILES).collect(),
        commands_executed: s.commands_executed,
        tests_run: s.tests_run,
        tests_passed: s.tests_passed,
        tests_failed: s.tests_failed,
        errors_encountered: s
            .errors_encountered
            .into_iter()
            .take(SUMMARY_ERRORS)
            .collect(),
        last_assistant_messages: s.last_assistant_messages,
    }
}

/// The summary of a handoff's session. No key needed: the handoff id is the capability
/// (ruling 8); only the summary is revealed, never the archive or the messages.
#[utoipa::path(
    get, path = "/api/v1/handoffs/{id}/summary", tag = "handoffs", operation_id = "handoff_summary",
    summary = "The summary of a handoff's session",
    description = "No key: the handoff id (128 random bits) is the capability. Only the summary is \
shown, never the archive or the messages. Once the handoff is claimed, declined, revoked or \
expired the keyless answer is 410; the sender and the recipient still get it with their key.",
    params(("id" = String, Path, description = "Handoff id (`hnd_…`)")),
    responses(
        (status = 200, description = "The summary", body = HandoffSummary),
        (status = 404, description = "No such handoff, or its session is gone"),
        (status = 410, description = "Without the sender's or recipient's key: claimed, declined, revoked or expired"),
    ),
    security(),
)]
async fn summary(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    principal: Result<Principal, ApiError>,
) -> ApiResult<Json<HandoffSummary>> {
    // Keyless is allowed; a key that is sent must be valid.
    let viewer = match principal {
        Ok(principal) => Some(principal.user),
        Err(err) if headers.contains_key(axum::http::header::AUTHORIZATION) => return Err(err),
        Err(_) => None,
    };
    let (_, session) = rules::for_summary(&state.db, &state.clock, &id, viewer.as_ref()).await?;
    let (s, _) =
        summaries::for_session(&state.db, &state.clock, &state.blobs, &session, false).await?;
    Ok(Json(handoff_summary(s)))
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
    let found = match rules::for_summary(&state.db, &state.clock, &id, None).await {
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
