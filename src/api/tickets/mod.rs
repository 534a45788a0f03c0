//! Tickets (02 §5): list, create, get, the audited PUT, the lifecycle routes with the lease
//! (`start`, `complete`, `accept` = `resolve`, `block`, `unblock`, `reopen`, `approve`,
//! `dismiss`, `close`), `escalate`, comments, review state, watchers, and a ticket by id alone.
//!
//! Access: project read standing (or a service key inside its boundary holding the route's
//! scope), then the project plan's `agent_tickets` gate; the rules of who may act on a ticket
//! are in `crate::domain::tickets`. Scopes follow 02 §5.1 and the seed's opt-ins (§9): PUT,
//! `resolve`/`accept` and `escalate` take `tickets:write`; the other lifecycle routes and the
//! watchers are for user keys only.

mod types;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api;
use crate::api::extract::{Json, OptionalJson, QueryPairs};
use crate::auth::principal::Scoped;
use crate::auth::project::{ProjectAuth, TicketsRead, TicketsWrite};
use crate::auth::{ProjectReader, UserOnly};
use crate::clock;
use crate::db::projects::Project;
use crate::db::tickets::{Filter, Kind};
use crate::domain::tickets::{self as rules, Caller, Move, MoveRequest, Moved};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub use types::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_ticket, update))
        .routes(routes!(start))
        .routes(routes!(complete))
        .routes(routes!(accept))
        .routes(api::alias(
            "/api/v1/projects/{project_id}/tickets/{ticket_id}/resolve",
            routes!(accept),
            "The seed's name for `accept` (ruling 2): the same handler.",
        ))
        .routes(routes!(reopen))
        .routes(routes!(block))
        .routes(routes!(unblock))
        .routes(routes!(approve))
        .routes(routes!(dismiss))
        .routes(routes!(close))
        .routes(routes!(escalate))
        .routes(routes!(list_comments, add_comment))
        .routes(routes!(review_state))
        .routes(routes!(watch, unwatch))
        .routes(routes!(watchers))
        .routes(routes!(by_id))
}

/// A caller with standing on the project of the path, whose plan has `agent_tickets`.
pub struct TicketAccess<A> {
    pub project: Project,
    pub caller: Caller,
    _auth: std::marker::PhantomData<A>,
}

impl<A: ProjectAuth> FromRequestParts<AppState> for TicketAccess<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let access = ProjectReader::<A>::from_request_parts(parts, state).await?;
        rules::require_feature(&state.db, &access.project).await?;
        Ok(TicketAccess {
            caller: Caller {
                actor: access.principal.actor(),
                standing: access.standing,
                service_key: access.principal.service_key_ref(),
            },
            project: access.project,
            _auth: std::marker::PhantomData,
        })
    }
}

type Res<T> = ApiResult<axum::Json<T>>;

fn ok<T>(body: T) -> Res<T> {
    Ok(axum::Json(body))
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/tickets", tag = "tickets", operation_id = "list_tickets",
    summary = "Tickets of a project, newest first",
    description = "Filters: `status`, `assigned_to` (any case), `priority`, `kind` (`issue` or `task`).",
    params(("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, body = Vec<TicketBody>),
        (status = 400, description = "`kind` is not issue or task"),
        (status = 403, description = "Scope, boundary or plan"),
        (status = 404, description = "Project not found"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    access: TicketAccess<TicketsRead>,
    q: QueryPairs,
) -> Res<Vec<TicketBody>> {
    let kind = match q.last("kind") {
        None => None,
        Some(k) => Some(
            Kind::parse(k)
                .ok_or_else(|| ApiError::bad_request("kind must be one of: ['issue', 'task']"))?,
        ),
    };
    let filter = Filter {
        status: q.last("status").map(str::to_string),
        assigned_to: q.last("assigned_to").map(str::to_string),
        priority: q.last("priority").map(str::to_string),
        kind,
    };
    let list = rules::list(&state.db, access.project.id, filter).await?;
    ok(list.into_iter().map(TicketBody::from).collect())
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/tickets", tag = "tickets", operation_id = "create_ticket",
    summary = "Create a ticket",
    description = "A task starts `open` (`suggested` when filed by an agent or by a reader); an issue \
        (project admins only) starts `open`. `depends_on` must name tickets of this project.",
    params(("project_id" = String, Path, description = "Project id")),
    request_body = CreateTicket,
    responses(
        (status = 201, body = TicketBody),
        (status = 400, description = "An agent task without criteria or description, an issue with a parent, a bad dependency"),
        (status = 403, description = "An issue from a non-admin; scope, boundary or plan"),
        (status = 404, description = "Project not found"),
        (status = 422, description = "A bad field, or a parent that is missing or not an issue"),
        (status = 429, description = "Maximum 3 tickets per session"),
    ),
)]
async fn create(
    State(state): State<AppState>,
    access: TicketAccess<TicketsWrite>,
    Json(body): Json<CreateTicket>,
) -> ApiResult<impl IntoResponse> {
    let view = rules::create(
        &state.db,
        &state.clock,
        access.caller,
        access.project,
        body.into(),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(TicketBody::from(view))))
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}", tag = "tickets", operation_id = "get_ticket",
    summary = "One ticket with its children, dependents and three newest comments",
    params(TicketPath),
    responses(
        (status = 200, body = TicketBody),
        (status = 403, description = "Scope, boundary or plan"),
        (status = 404, description = "Project or ticket not found"),
    ),
)]
async fn get_ticket(
    State(state): State<AppState>,
    access: TicketAccess<TicketsRead>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
) -> Res<TicketBody> {
    ok(rules::get(&state.db, access.project.id, ticket_id)
        .await?
        .into())
}

#[utoipa::path(
    put, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}", tag = "tickets", operation_id = "update_ticket",
    summary = "Partial update, fenced by lease_epoch when given, audited",
    description = "Creator or project admin. Each real change writes a `ticket_edits` row per field \
        and one `system` comment; a no-op writes nothing. With `lease_epoch` the write succeeds \
        only at that epoch and moves it on by one (409 `stale_lease_epoch` otherwise); \
        `lease_epoch` alone is 400.",
    params(TicketPath),
    request_body = UpdateTicket,
    responses(
        (status = 200, body = TicketBody),
        (status = 400, description = "No field to change, or a bad dependency"),
        (status = 403, description = "Neither creator nor admin; a reader changing a ticket under way"),
        (status = 404, description = "Project or ticket not found"),
        (status = 409, description = "Stale lease_epoch"),
        (status = 422, description = "A bad field"),
    ),
)]
async fn update(
    State(state): State<AppState>,
    access: TicketAccess<TicketsWrite>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
    Json(body): Json<UpdateTicket>,
) -> Res<TicketBody> {
    let view = rules::update(
        &state.db,
        &state.clock,
        access.caller,
        access.project,
        ticket_id,
        body.into(),
    )
    .await?;
    ok(view.into())
}

/// Runs one lifecycle move and answers the ticket.
async fn run_move<A>(
    state: &AppState,
    access: TicketAccess<A>,
    ticket_id: String,
    mv: Move,
    req: MoveRequest,
) -> ApiResult<Moved> {
    Ok(rules::transition(
        &state.db,
        &state.clock,
        access.caller,
        access.project,
        ticket_id,
        mv,
        req,
    )
    .await?)
}

fn ticket_of(moved: Moved) -> Res<TicketBody> {
    match moved {
        Moved::Ticket(view) => ok((*view).into()),
        Moved::Started(s) => ok(s.ticket.into()),
    }
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/start", tag = "tickets", operation_id = "start_ticket",
    summary = "Take the ticket: open → in_progress, lease_epoch + 1, compiled context",
    description = "Atomic: of concurrent starts exactly one wins; the others get 409. `force=true` \
        also starts a blocked task. `tool` sets the context's budget (default `generic`). A \
        ticket assigned to a name that is not an active persona cannot be started (400).",
    params(
        TicketPath,
        ("force" = Option<bool>, Query, description = "Also start a blocked task"),
        ("tool" = Option<String>, Query, description = "The agent's tool (context budget)"),
    ),
    responses(
        (status = 200, body = StartBody),
        (status = 400, description = "Assigned to an unknown persona"),
        (status = 403, description = "A reader who neither created nor resolved it; scope, boundary or plan"),
        (status = 404, description = "Project or ticket not found"),
        (status = 409, description = "Not open (already started)"),
    ),
)]
async fn start(
    State(state): State<AppState>,
    access: TicketAccess<TicketsWrite>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
    q: QueryPairs,
) -> Res<StartBody> {
    let force = q.bool("force", false)?;
    let tool = q
        .last("tool")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or("generic")
        .to_string();
    let req = MoveRequest {
        tool: Some(tool),
        ..MoveRequest::default()
    };
    match run_move(&state, access, ticket_id, Move::Start { force }, req).await? {
        Moved::Started(s) => ok(StartBody {
            ticket: s.ticket.into(),
            compiled_context: s.compiled_context,
            retrieval_audit_id: s.retrieval_audit_id,
            persona_name: s.persona_name,
        }),
        Moved::Ticket(_) => Err(ApiError::internal("start answered without a context")),
    }
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/complete", tag = "tickets", operation_id = "complete_ticket",
    summary = "Hand the work in: in_progress → review, fenced by lease_epoch",
    params(TicketPath),
    request_body = CompleteTicket,
    responses(
        (status = 200, body = TicketBody),
        (status = 400, description = "Not in progress (illegal transition)"),
        (status = 403, description = "A reader who neither created nor resolved it; scope, boundary or plan"),
        (status = 404, description = "Project or ticket not found"),
        (status = 409, description = "Stale lease"),
        (status = 422, description = "No notes"),
    ),
)]
async fn complete(
    State(state): State<AppState>,
    access: TicketAccess<TicketsWrite>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
    Json(body): Json<CompleteTicket>,
) -> Res<TicketBody> {
    let req = MoveRequest {
        lease_epoch: body.lease_epoch,
        completion: Some(rules::Completion {
            notes: body.notes,
            changed_files: body.changed_files,
            knowledge_entry_ids: body.knowledge_entry_ids,
            resolver_session_id: body.resolver_session_id,
        }),
        tool: None,
    };
    ticket_of(run_move(&state, access, ticket_id, Move::Complete, req).await?)
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/accept", tag = "tickets", operation_id = "accept_ticket",
    summary = "Accept the work: review → done; dependents are told and unblocked",
    description = "`lease_epoch` as a query parameter or in the body fences it. Dependents that are \
        open, blocked or suggested get a comment with the completion notes and the completed \
        ticket's knowledge ids; a blocked one whose dependencies are all done moves to in_progress.",
    params(
        TicketPath,
        ("lease_epoch" = Option<i64>, Query, description = "The lease to check"),
    ),
    request_body(content = Option<AcceptTicket>, description = "Optional"),
    responses(
        (status = 200, body = TicketBody),
        (status = 403, description = "A reader who resolved it or did not create it; scope, boundary or plan"),
        (status = 404, description = "Project or ticket not found"),
        (status = 409, description = "Not in review, or a stale lease"),
    ),
)]
async fn accept(
    State(state): State<AppState>,
    access: TicketAccess<TicketsWrite>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
    q: QueryPairs,
    OptionalJson(body): OptionalJson<Option<AcceptTicket>>,
) -> Res<TicketBody> {
    let query_lease = match q.last("lease_epoch") {
        Some(_) => Some(q.int("lease_epoch", 0, i64::MIN, i64::MAX)?),
        None => None,
    };
    let req = MoveRequest {
        lease_epoch: query_lease.or(body.and_then(|b| b.lease_epoch)),
        ..MoveRequest::default()
    };
    ticket_of(run_move(&state, access, ticket_id, Move::Accept, req).await?)
}

/// A lifecycle move without a body, for user keys.
async fn plain(
    state: &AppState,
    access: TicketAccess<UserOnly>,
    ticket_id: String,
    mv: Move,
) -> Res<TicketBody> {
    ticket_of(run_move(state, access, ticket_id, mv, MoveRequest::default()).await?)
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/reopen", tag = "tickets", operation_id = "reopen_ticket",
    summary = "Send back: review → open (task), in_progress → open (issue)",
    params(TicketPath),
    responses(
        (status = 200, body = TicketBody),
        MoveRefusals,
    ),
)]
async fn reopen(
    State(state): State<AppState>,
    access: TicketAccess<UserOnly>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
) -> Res<TicketBody> {
    plain(&state, access, ticket_id, Move::Reopen).await
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/block", tag = "tickets", operation_id = "block_ticket",
    summary = "in_progress → blocked (tasks)",
    params(TicketPath),
    responses(
        (status = 200, body = TicketBody),
        MoveRefusals,
    ),
)]
async fn block(
    State(state): State<AppState>,
    access: TicketAccess<UserOnly>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
) -> Res<TicketBody> {
    plain(&state, access, ticket_id, Move::Block).await
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/unblock", tag = "tickets", operation_id = "unblock_ticket",
    summary = "blocked → in_progress (tasks)",
    params(TicketPath),
    responses(
        (status = 200, body = TicketBody),
        MoveRefusals,
    ),
)]
async fn unblock(
    State(state): State<AppState>,
    access: TicketAccess<UserOnly>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
) -> Res<TicketBody> {
    plain(&state, access, ticket_id, Move::Unblock).await
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/approve", tag = "tickets", operation_id = "approve_ticket",
    summary = "suggested → open (tasks; editors only)",
    params(TicketPath),
    responses(
        (status = 200, body = TicketBody),
        MoveRefusals,
    ),
)]
async fn approve(
    State(state): State<AppState>,
    access: TicketAccess<UserOnly>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
) -> Res<TicketBody> {
    plain(&state, access, ticket_id, Move::Approve).await
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/dismiss", tag = "tickets", operation_id = "dismiss_ticket",
    summary = "→ cancelled: suggested/open tasks, open/in_progress issues",
    params(TicketPath),
    responses(
        (status = 200, body = TicketBody),
        MoveRefusals,
    ),
)]
async fn dismiss(
    State(state): State<AppState>,
    access: TicketAccess<UserOnly>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
) -> Res<TicketBody> {
    plain(&state, access, ticket_id, Move::Dismiss).await
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/close", tag = "tickets", operation_id = "close_ticket",
    summary = "in_progress → closed (issues; project admins)",
    params(TicketPath),
    responses(
        (status = 200, body = TicketBody),
        (status = 400, description = "A task, or an illegal transition"),
        (status = 403, description = "Not allowed for this caller; a service key; the plan"),
        (status = 404, description = "Project or ticket not found"),
    ),
)]
async fn close(
    State(state): State<AppState>,
    access: TicketAccess<UserOnly>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
) -> Res<TicketBody> {
    plain(&state, access, ticket_id, Move::Close).await
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/escalate", tag = "tickets", operation_id = "escalate_ticket",
    summary = "Raise the priority one level, audited",
    description = "low → medium → high → critical, with the PUT's audit and a comment \
        `Escalated <old> → <new>[: reason]` on every call. At critical: 200, `escalated: false`, \
        nothing written.",
    params(TicketPath),
    request_body(content = Option<EscalateTicket>, description = "Optional"),
    responses(
        (status = 200, body = EscalatedBody),
        (status = 403, description = "Neither creator nor admin; scope, boundary or plan"),
        (status = 404, description = "Project or ticket not found"),
    ),
)]
async fn escalate(
    State(state): State<AppState>,
    access: TicketAccess<TicketsWrite>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
    OptionalJson(body): OptionalJson<Option<EscalateTicket>>,
) -> Res<EscalatedBody> {
    let e = rules::escalate(
        &state.db,
        &state.clock,
        access.caller,
        access.project,
        ticket_id,
        body.and_then(|b| b.reason),
    )
    .await?;
    ok(EscalatedBody {
        ticket: e.ticket.into(),
        escalated: e.to.is_some(),
        escalated_from: e.from,
        escalated_to: e.to.unwrap_or(e.from),
    })
}

/// A `since` value: RFC 3339, or a naive ISO datetime read as UTC, as stored text.
fn since_param(raw: &str) -> ApiResult<String> {
    if let Some(t) = clock::parse(raw) {
        return Ok(clock::format(t));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw, fmt) {
            return Ok(clock::format(t.and_utc()));
        }
    }
    Err(ApiError::validation(
        "datetime_from_date_parsing",
        &["query", "since"],
        "Input should be a valid datetime",
        Value::from(raw),
    ))
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/comments", tag = "tickets", operation_id = "list_ticket_comments",
    summary = "Comments, oldest first, after a cursor",
    description = "`since` (ISO datetime; naive is UTC) and `since_id` resume after the last comment \
        seen; `since_id` alone is ignored. `limit` 1–500 (default 200).",
    params(
        TicketPath,
        ("since" = Option<String>, Query, description = "Only comments after this time"),
        ("since_id" = Option<String>, Query, description = "With `since`: after this id at that time"),
        ("limit" = Option<i64>, Query, description = "1–500, default 200"),
    ),
    responses(
        (status = 200, body = Vec<CommentBody>),
        (status = 404, description = "Project or ticket not found"),
        (status = 422, description = "A bad `since` or `limit`"),
    ),
)]
async fn list_comments(
    State(state): State<AppState>,
    access: TicketAccess<TicketsRead>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
    q: QueryPairs,
) -> Res<Vec<CommentBody>> {
    let limit = q.int("limit", 200, 1, 500)?;
    let since = q.last("since").map(since_param).transpose()?;
    let since_id = q.last("since_id").map(str::to_string);
    let list = rules::comments(
        &state.db,
        access.project.id,
        ticket_id,
        since,
        since_id,
        limit,
    )
    .await?;
    ok(list.into_iter().map(CommentBody::from).collect())
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/comments", tag = "tickets", operation_id = "add_ticket_comment",
    summary = "Comment on a ticket (fenced by lease_epoch when given)",
    params(TicketPath),
    request_body = CreateComment,
    responses(
        (status = 201, body = CommentBody),
        (status = 404, description = "Project or ticket not found"),
        (status = 409, description = "Stale lease, or `send_to_jira` without a Jira link"),
        (status = 422, description = "Empty or too long content"),
    ),
)]
async fn add_comment(
    State(state): State<AppState>,
    access: TicketAccess<TicketsWrite>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
    Json(body): Json<CreateComment>,
) -> ApiResult<impl IntoResponse> {
    let comment = rules::add_comment(
        &state.db,
        &state.clock,
        access.caller,
        access.project,
        ticket_id,
        rules::NewComment {
            content: body.content,
            author_persona: body.author_persona,
            session_id: body.session_id,
            lease_epoch: body.lease_epoch,
            send_to_jira: body.send_to_jira.unwrap_or(false),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(CommentBody::from(comment))))
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/review-state", tag = "tickets", operation_id = "ticket_review_state",
    summary = "Review rounds and findings from trusted reviewer comments",
    description = "`review_state` is null until a trusted reviewer's comment holds a review round; \
        this server has no trusted-reviewer registry yet, so it is null.",
    params(TicketPath),
    responses(
        (status = 200, body = ReviewStateBody),
        (status = 404, description = "Project or ticket not found"),
    ),
)]
async fn review_state(
    State(state): State<AppState>,
    access: TicketAccess<TicketsRead>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
) -> Res<ReviewStateBody> {
    let review = rules::review_state(&state.db, access.project.id, ticket_id.clone()).await?;
    ok(ReviewStateBody {
        ticket_id,
        review_state: review,
    })
}

#[utoipa::path(
    put, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/watch", tag = "tickets", operation_id = "watch_ticket",
    summary = "Follow a ticket",
    params(TicketPath),
    responses(
        (status = 200, body = WatchBody),
        (status = 404, description = "Project or ticket not found"),
    ),
)]
async fn watch(
    State(state): State<AppState>,
    access: TicketAccess<UserOnly>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
) -> Res<WatchBody> {
    set_watch(state, access, ticket_id, true).await
}

#[utoipa::path(
    delete, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/watch", tag = "tickets", operation_id = "unwatch_ticket",
    summary = "Stop following a ticket",
    params(TicketPath),
    responses(
        (status = 200, body = WatchBody),
        (status = 404, description = "Project or ticket not found"),
    ),
)]
async fn unwatch(
    State(state): State<AppState>,
    access: TicketAccess<UserOnly>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
) -> Res<WatchBody> {
    set_watch(state, access, ticket_id, false).await
}

async fn set_watch(
    state: AppState,
    access: TicketAccess<UserOnly>,
    ticket_id: String,
    on: bool,
) -> Res<WatchBody> {
    let watching = rules::set_watch(
        &state.db,
        &state.clock,
        access.caller,
        access.project.id,
        ticket_id.clone(),
        on,
    )
    .await?;
    ok(WatchBody {
        ticket_id,
        watching,
    })
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/tickets/{ticket_id}/watchers", tag = "tickets", operation_id = "ticket_watchers",
    summary = "Who follows a ticket",
    params(TicketPath),
    responses(
        (status = 200, body = Vec<WatcherBody>),
        (status = 404, description = "Project or ticket not found"),
    ),
)]
async fn watchers(
    State(state): State<AppState>,
    access: TicketAccess<UserOnly>,
    Path(TicketPath { ticket_id, .. }): Path<TicketPath>,
) -> Res<Vec<WatcherBody>> {
    let list = rules::watchers(&state.db, access.project.id, ticket_id).await?;
    ok(list
        .into_iter()
        .map(|(user_id, email, since)| WatcherBody {
            user_id,
            email,
            since,
        })
        .collect())
}

#[utoipa::path(
    get, path = "/api/v1/tickets/{ticket_id}", tag = "tickets", operation_id = "get_ticket_by_id",
    summary = "A ticket by id alone, with its project's name and comment count",
    description = "A missing ticket and a ticket of a project the caller cannot read are both \
        404 \"Ticket not found\".",
    params(("ticket_id" = String, Path, description = "Ticket id")),
    responses(
        (status = 200, body = TicketBody),
        (status = 403, description = "Scope or plan"),
        (status = 404, description = "Ticket not found"),
    ),
)]
async fn by_id(
    State(state): State<AppState>,
    Scoped(principal, _): Scoped<TicketsRead>,
    Path(ticket_id): Path<String>,
) -> Res<TicketBody> {
    ok(rules::get_by_id(&state.db, principal.actor(), ticket_id)
        .await?
        .into())
}
