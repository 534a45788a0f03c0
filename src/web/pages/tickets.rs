//! A project's tickets: a board with one column per status and the counts per status as a
//! picture; a ticket's page with its comments and exactly the moves its machine allows the
//! user from its state (`tickets::offered_moves`); forms to create, move and comment. Every
//! form calls the same domain functions as the API's ticket routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use crate::db::projects::Project;
use crate::db::tickets::{Filter, Kind, Priority, Source, Status, Ticket};
use crate::domain::projects::{self, Need};
use crate::domain::tickets::{self as rules, Caller, Completion, Move, MoveRequest, NewTicket};
use crate::state::AppState;
use crate::web::auth::{CsrfForm, WebUser};
use crate::web::chart;
use crate::web::layout::{self, csrf, when};
use crate::web::{html, see_other, WebResult};

/// Cards shown in one column of the board (the count above it is of all).
const CARDS_PER_COLUMN: usize = 100;

/// Comments shown on a ticket's page.
const COMMENTS_SHOWN: i64 = 200;

/// The project (readable by the user, or 404) and the caller its ticket rules see; the plan
/// must have tickets (the API's 403 otherwise).
pub async fn open(state: &AppState, user: &WebUser, id: String) -> WebResult<(Project, Caller)> {
    let actor = user.principal.actor();
    let (project, standing) = projects::open(&state.db, actor.clone(), id, Need::Read).await?;
    rules::require_feature(&state.db, &project).await?;
    Ok((
        project,
        Caller {
            actor,
            standing,
            service_key: None,
        },
    ))
}

pub fn board_path(project_id: &str) -> String {
    format!("/ui/projects/{project_id}/tickets")
}

pub fn ticket_path(project_id: &str, ticket_id: &str) -> String {
    format!("/ui/projects/{project_id}/tickets/{ticket_id}")
}

fn status_label(s: Status) -> &'static str {
    match s {
        Status::Suggested => "Suggested",
        Status::Open => "Open",
        Status::InProgress => "In progress",
        Status::Blocked => "Blocked",
        Status::Review => "Review",
        Status::Done => "Done",
        Status::Cancelled => "Cancelled",
        Status::Closed => "Closed",
    }
}

fn move_label(mv: Move) -> &'static str {
    match mv {
        Move::Approve => "Approve",
        Move::Start { force: false } => "Start",
        Move::Start { force: true } => "Force start",
        Move::Block => "Block",
        Move::Unblock => "Unblock",
        Move::Complete => "Complete",
        Move::Accept => "Accept",
        Move::Reopen => "Reopen",
        Move::Dismiss => "Cancel",
        Move::Close => "Close",
    }
}

/// The form value naming a move (`start`, `start-force`, …).
fn move_value(mv: Move) -> &'static str {
    match mv {
        Move::Start { force: true } => "start-force",
        other => other.name(),
    }
}

fn parse_move(value: &str) -> Option<Move> {
    Move::ALL.into_iter().find(|mv| move_value(*mv) == value)
}

/// The board: one column per status, each ticket a card linking to its page.
pub fn board(project: &Project, tickets: &[Ticket], user: &WebUser) -> Markup {
    let columns: Vec<(Status, Vec<&Ticket>)> = Status::ALL
        .iter()
        .map(|s| (*s, tickets.iter().filter(|t| t.status == *s).collect()))
        .collect();
    let counts: Vec<(&str, usize)> = columns
        .iter()
        .map(|(s, list)| (status_label(*s), list.len()))
        .collect();
    html! {
        p { a href=(format!("/ui/projects/{}", project.id)) { "← " (project.name) } }
        (chart::counts("Tickets per status", &counts))
        div.board {
            @for (status, list) in &columns {
                section.column aria-labelledby=(format!("col-{}", status.as_str())) data-status=(status.as_str()) {
                    h2 id=(format!("col-{}", status.as_str())) {
                        (status_label(*status)) " " span.count data-count=(status.as_str()) { (list.len()) }
                    }
                    ul.cards {
                        @for t in list.iter().take(CARDS_PER_COLUMN) {
                            li.card-ticket {
                                a href=(ticket_path(&project.id, &t.id)) { (t.title) }
                                div.meta {
                                    span.tag { (t.kind.as_str()) } " " (t.priority.as_str())
                                    @if let Some(who) = &t.assigned_to { " · " (who) }
                                }
                            }
                        }
                    }
                    @if list.len() > CARDS_PER_COLUMN {
                        p.meta { "and " (list.len() - CARDS_PER_COLUMN) " older" }
                    }
                }
            }
        }
        details.actions open[tickets.is_empty()] {
            summary { h2 { "New ticket" } }
            form.card method="post" action=(board_path(&project.id)) {
                (csrf(user))
                label for="t-title" { "Title" }
                input #t-title type="text" name="title" required maxlength="200";
                label for="t-description" { "Description" }
                textarea #t-description name="description" rows="4" {}
                div.grid {
                    div {
                        label for="t-priority" { "Priority" }
                        select #t-priority name="priority" {
                            @for p in Priority::ALL { option value=(p.as_str()) selected[*p == Priority::Medium] { (p.as_str()) } }
                        }
                    }
                    div {
                        label for="t-kind" { "Kind" }
                        select #t-kind name="kind" {
                            @for k in Kind::ALL { option value=(k.as_str()) { (k.as_str()) } }
                        }
                    }
                    div {
                        label for="t-assigned" { "Assigned to (persona)" }
                        input #t-assigned type="text" name="assigned_to";
                    }
                }
                label for="t-criteria" { "Acceptance criteria (one a line)" }
                textarea #t-criteria name="acceptance_criteria" rows="3" {}
                button type="submit" { "Create ticket" }
            }
        }
    }
}

/// `GET /ui/projects/{id}/tickets`.
pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let (project, _) = open(&state, &user, id).await?;
    let list = rules::list(&state.db, project.id.clone(), Filter::default()).await?;
    let tickets: Vec<Ticket> = list.into_iter().map(|v| v.ticket).collect();
    let title = format!("Tickets · {}", project.name);
    Ok(html(
        StatusCode::OK,
        layout::page(&user, &title, "projects", board(&project, &tickets, &user)),
    ))
}

#[derive(Deserialize)]
pub struct CreateForm {
    title: String,
    #[serde(default)]
    description: String,
    priority: Option<String>,
    kind: Option<String>,
    assigned_to: Option<String>,
    acceptance_criteria: Option<String>,
}

fn bad(message: String) -> crate::domain::DomainError {
    crate::domain::DomainError::Malformed(message)
}

/// `POST /ui/projects/{id}/tickets`.
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<CreateForm>,
) -> WebResult<Response> {
    let (project, caller) = open(&state, &user, id).await?;
    let priority = match form.priority.as_deref().filter(|p| !p.is_empty()) {
        None => Priority::Medium,
        Some(p) => Priority::parse(p)
            .ok_or_else(|| bad(format!("priority must be one of: {}", Priority::listing())))?,
    };
    let kind = match form.kind.as_deref().filter(|k| !k.is_empty()) {
        None => Kind::Task,
        Some(k) => Kind::parse(k)
            .ok_or_else(|| bad(format!("kind must be one of: {}", Kind::listing())))?,
    };
    let criteria = form
        .acceptance_criteria
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let view = rules::create(
        &state.db,
        &state.clock,
        caller,
        project.clone(),
        NewTicket {
            title: form.title,
            description: form.description,
            priority,
            assigned_to: form
                .assigned_to
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty()),
            context_refs: Vec::new(),
            file_refs: Vec::new(),
            related_sessions: Vec::new(),
            acceptance_criteria: criteria,
            depends_on: Vec::new(),
            source: Source::Human,
            created_by_session_id: None,
            created_by_persona: None,
            kind,
            parent_ticket_id: None,
        },
    )
    .await?;
    let _ = view;
    Ok(see_other(&board_path(&project.id)))
}

/// `GET /ui/projects/{id}/tickets/{ticket_id}`.
pub async fn view(
    State(state): State<AppState>,
    user: WebUser,
    Path((id, ticket_id)): Path<(String, String)>,
) -> WebResult<Response> {
    let (project, caller) = open(&state, &user, id).await?;
    let t = rules::get(&state.db, project.id.clone(), ticket_id.clone())
        .await?
        .ticket;
    let comments = rules::comments(
        &state.db,
        project.id.clone(),
        ticket_id,
        None,
        None,
        COMMENTS_SHOWN,
    )
    .await?;
    let moves = rules::offered_moves(&caller, &t);
    let here = ticket_path(&project.id, &t.id);
    let body = html! {
        p { a href=(board_path(&project.id)) { "← Board" } }
        dl.facts {
            dt { "Status" } dd { span.status data-status=(t.status.as_str()) { (status_label(t.status)) } }
            dt { "Kind" } dd { (t.kind.as_str()) }
            dt { "Priority" } dd { (t.priority.as_str()) }
            dt { "Assigned to" } dd { (t.assigned_to.as_deref().unwrap_or("—")) }
            dt { "Source" } dd { (t.source.as_str()) }
            dt { "Created" } dd { (when(&t.created_at)) }
            dt { "Updated" } dd { (when(&t.updated_at)) }
            dt { "Lease" } dd { (t.lease_epoch) }
        }
        @if !t.description.is_empty() { h2 { "Description" } p.text { (t.description) } }
        @if !t.acceptance_criteria.is_empty() {
            h2 { "Acceptance criteria" }
            ul { @for c in &t.acceptance_criteria { li { (c) } } }
        }
        @if let Some(notes) = &t.completion_notes { h2 { "Completion notes" } p.text { (notes) } }
        section.moves aria-label="Move this ticket" {
            h2 { "Move" }
            @if moves.is_empty() { p.empty { "No move is open to you from " (status_label(t.status)) "." } }
            div.actions-row {
                @for mv in &moves {
                    @if *mv == Move::Complete {
                        form.inline method="post" action=(format!("{here}/move")) {
                            (csrf(&user))
                            input type="hidden" name="move" value=(move_value(*mv));
                            input type="hidden" name="lease_epoch" value=(t.lease_epoch);
                            label.sr for="complete-notes" { "Completion notes" }
                            input #complete-notes type="text" name="notes" placeholder="Completion notes";
                            button type="submit" { (move_label(*mv)) }
                        }
                    } @else {
                        form.inline method="post" action=(format!("{here}/move")) {
                            (csrf(&user))
                            input type="hidden" name="move" value=(move_value(*mv));
                            input type="hidden" name="lease_epoch" value=(t.lease_epoch);
                            button type="submit" class=(if *mv == Move::Dismiss { "danger" } else { "" }) { (move_label(*mv)) }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Comments" }
            @if comments.is_empty() { p.empty { "No comments yet." } }
            ul.comments {
                @for c in &comments {
                    li {
                        span.meta {
                            @if let Some(persona) = &c.author_persona { (persona) }
                            @else if c.author_user_id == user.principal.user.id { "you" }
                            @else { code { (c.author_user_id) } }
                            " · " (when(&c.created_at))
                        }
                        p.text { (c.content) }
                    }
                }
            }
            form.card method="post" action=(format!("{here}/comment")) {
                (csrf(&user))
                label for="comment" { "Comment" }
                textarea #comment name="content" rows="3" required {}
                button type="submit" { "Add comment" }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, &t.title, "projects", body),
    ))
}

#[derive(Deserialize)]
pub struct MoveForm {
    #[serde(rename = "move")]
    mv: String,
    lease_epoch: Option<i64>,
    notes: Option<String>,
}

/// `POST /ui/projects/{id}/tickets/{ticket_id}/move`: one lifecycle move, through the same
/// `tickets::transition` the API's routes call (an illegal one is refused with its message).
pub async fn move_ticket(
    State(state): State<AppState>,
    Path((id, ticket_id)): Path<(String, String)>,
    CsrfForm { user, form }: CsrfForm<MoveForm>,
) -> WebResult<Response> {
    let (project, caller) = open(&state, &user, id).await?;
    let mv = parse_move(&form.mv).ok_or_else(|| bad(format!("Unknown move '{}'", form.mv)))?;
    let req = match mv {
        Move::Complete => MoveRequest {
            lease_epoch: form.lease_epoch,
            completion: Some(Completion {
                notes: form.notes.unwrap_or_default().trim().to_string(),
                ..Completion::default()
            }),
            tool: None,
        },
        Move::Accept => MoveRequest {
            lease_epoch: form.lease_epoch,
            ..MoveRequest::default()
        },
        _ => MoveRequest::default(),
    };
    rules::transition(
        &state.db,
        &state.clock,
        caller,
        project.clone(),
        ticket_id.clone(),
        mv,
        req,
    )
    .await?;
    Ok(see_other(&ticket_path(&project.id, &ticket_id)))
}

#[derive(Deserialize)]
pub struct CommentForm {
    content: String,
}

/// `POST /ui/projects/{id}/tickets/{ticket_id}/comment`.
pub async fn comment(
    State(state): State<AppState>,
    Path((id, ticket_id)): Path<(String, String)>,
    CsrfForm { user, form }: CsrfForm<CommentForm>,
) -> WebResult<Response> {
    let (project, caller) = open(&state, &user, id).await?;
    rules::add_comment(
        &state.db,
        &state.clock,
        caller,
        project.clone(),
        ticket_id.clone(),
        rules::NewComment {
            content: form.content,
            ..rules::NewComment::default()
        },
    )
    .await?;
    Ok(see_other(&ticket_path(&project.id, &ticket_id)))
}
