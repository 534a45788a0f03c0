//! Request and response bodies of the ticket routes (02 §5.2, §5.4–5.9).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, IntoResponses, ToSchema};

use crate::db::tickets::{Comment, Kind, Priority, Source, Status};
use crate::domain::tickets::review::ReviewState;
use crate::domain::tickets::{self as rules, TicketView};

/// The path of one ticket of a project (`…/projects/{project_id}/tickets/{ticket_id}…`).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TicketPath {
    /// Project id
    pub project_id: String,
    /// Ticket id
    pub ticket_id: String,
}

/// What the lifecycle routes without a body refuse, besides answering the ticket.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum MoveRefusals {
    #[response(status = 400, description = "Illegal transition")]
    Illegal,
    #[response(
        status = 403,
        description = "Not allowed for this caller; a service key; the plan"
    )]
    Forbidden,
    #[response(status = 404, description = "Project or ticket not found")]
    NotFound,
}

/// A ticket (02 §5.2). `GET` adds `dependents` and `recent_comments`; the by-id route adds
/// `project_name` and `comment_count` too.
#[derive(Serialize, ToSchema)]
pub struct TicketBody {
    pub id: String,
    pub project_id: String,
    pub title: String,
    pub description: String,
    pub priority: Priority,
    pub assigned_to: Option<String>,
    pub created_by_user_id: String,
    pub created_by_session_id: Option<String>,
    pub created_by_persona: Option<String>,
    pub status: Status,
    pub lease_epoch: i64,
    pub context_refs: Vec<String>,
    pub file_refs: Vec<String>,
    pub related_sessions: Vec<String>,
    pub acceptance_criteria: Vec<String>,
    pub resolver_session_id: Option<String>,
    pub resolver_user_id: Option<String>,
    pub completion_notes: Option<String>,
    pub changed_files: Vec<String>,
    pub knowledge_entry_ids: Vec<String>,
    pub depends_on: Vec<String>,
    pub kind: Kind,
    pub parent_ticket_id: Option<String>,
    pub child_ticket_ids: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    /// Always `null`: this server has no Jira integration.
    #[schema(value_type = Option<Object>)]
    pub jira: Option<Value>,
    pub jira_publish_in_progress: bool,
    pub jira_publish_unknown: bool,
    /// Ids of same-project tickets that depend on this one (GET only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependents: Option<Vec<String>>,
    /// The three newest comments, newest first (GET only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_comments: Option<Vec<CommentBody>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment_count: Option<i64>,
}

impl From<TicketView> for TicketBody {
    fn from(v: TicketView) -> Self {
        let t = v.ticket;
        TicketBody {
            id: t.id,
            project_id: t.project_id,
            title: t.title,
            description: t.description,
            priority: t.priority,
            assigned_to: t.assigned_to,
            created_by_user_id: t.created_by_user_id,
            created_by_session_id: t.created_by_session_id,
            created_by_persona: t.created_by_persona,
            status: t.status,
            lease_epoch: t.lease_epoch,
            context_refs: t.context_refs,
            file_refs: t.file_refs,
            related_sessions: t.related_sessions,
            acceptance_criteria: t.acceptance_criteria,
            resolver_session_id: t.resolver_session_id,
            resolver_user_id: t.resolver_user_id,
            completion_notes: t.completion_notes,
            changed_files: t.changed_files,
            knowledge_entry_ids: t.knowledge_entry_ids,
            depends_on: t.depends_on,
            kind: t.kind,
            parent_ticket_id: t.parent_ticket_id,
            child_ticket_ids: v.child_ticket_ids,
            created_at: t.created_at,
            updated_at: t.updated_at,
            resolved_at: t.resolved_at,
            jira: None,
            jira_publish_in_progress: false,
            jira_publish_unknown: false,
            dependents: v.dependents,
            recent_comments: v
                .recent_comments
                .map(|list| list.into_iter().map(CommentBody::from).collect()),
            project_name: v.project_name,
            comment_count: v.comment_count,
        }
    }
}

/// A comment (02 §5.8).
#[derive(Serialize, ToSchema)]
pub struct CommentBody {
    pub id: String,
    pub ticket_id: String,
    pub author_user_id: String,
    pub author_persona: Option<String>,
    pub content: String,
    pub session_id: Option<String>,
    pub created_at: String,
    /// `sessionfs` (or `jira` for comments synced from Jira).
    pub source: String,
}

impl From<Comment> for CommentBody {
    fn from(c: Comment) -> Self {
        CommentBody {
            id: c.id,
            ticket_id: c.ticket_id,
            author_user_id: c.author_user_id,
            author_persona: c.author_persona,
            content: c.content,
            session_id: c.session_id,
            created_at: c.created_at,
            source: c.source,
        }
    }
}

/// `POST /tickets`.
#[derive(Deserialize, ToSchema)]
pub struct CreateTicket {
    /// 1–200 characters once trimmed.
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub priority: Option<Priority>,
    /// A persona name; its canonical spelling is stored when it resolves.
    #[serde(default)]
    pub assigned_to: Option<String>,
    #[serde(default)]
    pub context_refs: Vec<String>,
    #[serde(default)]
    pub file_refs: Vec<String>,
    #[serde(default)]
    pub related_sessions: Vec<String>,
    #[serde(default)]
    pub acceptance_criteria: Vec<String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub source: Option<Source>,
    #[serde(default)]
    pub created_by_session_id: Option<String>,
    #[serde(default)]
    pub created_by_persona: Option<String>,
    #[serde(default)]
    pub kind: Option<Kind>,
    #[serde(default)]
    pub parent_ticket_id: Option<String>,
}

impl From<CreateTicket> for rules::NewTicket {
    fn from(b: CreateTicket) -> Self {
        rules::NewTicket {
            title: b.title,
            description: b.description,
            priority: b.priority.unwrap_or(Priority::Medium),
            assigned_to: b.assigned_to,
            context_refs: b.context_refs,
            file_refs: b.file_refs,
            related_sessions: b.related_sessions,
            acceptance_criteria: b.acceptance_criteria,
            depends_on: b.depends_on,
            source: b.source.unwrap_or(Source::Human),
            created_by_session_id: b.created_by_session_id,
            created_by_persona: b.created_by_persona,
            kind: b.kind.unwrap_or(Kind::Task),
            parent_ticket_id: b.parent_ticket_id,
        }
    }
}

/// `PUT /tickets/{id}`: every field optional; `null` or absent leaves it unchanged. Lists
/// replace the stored list. `lease_epoch` fences the write (409 when the ticket moved on).
#[derive(Deserialize, ToSchema)]
pub struct UpdateTicket {
    pub title: Option<String>,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    pub assigned_to: Option<String>,
    pub context_refs: Option<Vec<String>>,
    pub file_refs: Option<Vec<String>>,
    pub related_sessions: Option<Vec<String>>,
    pub acceptance_criteria: Option<Vec<String>>,
    pub depends_on: Option<Vec<String>>,
    pub lease_epoch: Option<i64>,
}

impl From<UpdateTicket> for rules::Patch {
    fn from(b: UpdateTicket) -> Self {
        rules::Patch {
            title: b.title,
            description: b.description,
            priority: b.priority,
            assigned_to: b.assigned_to,
            context_refs: b.context_refs,
            file_refs: b.file_refs,
            related_sessions: b.related_sessions,
            acceptance_criteria: b.acceptance_criteria,
            depends_on: b.depends_on,
            lease_epoch: b.lease_epoch,
        }
    }
}

/// `POST /tickets/{id}/complete`.
#[derive(Deserialize, ToSchema)]
pub struct CompleteTicket {
    pub notes: String,
    #[serde(default)]
    pub changed_files: Vec<String>,
    #[serde(default)]
    pub knowledge_entry_ids: Vec<String>,
    #[serde(default)]
    pub resolver_session_id: Option<String>,
    /// The lease from `start`; a stale one is 409.
    #[serde(default)]
    pub lease_epoch: Option<i64>,
}

/// `POST /tickets/{id}/accept` (or `/resolve`): the lease may come as `?lease_epoch=` or here.
#[derive(Deserialize, ToSchema, Default)]
pub struct AcceptTicket {
    #[serde(default)]
    pub lease_epoch: Option<i64>,
}

/// `POST /tickets/{id}/escalate`.
#[derive(Deserialize, ToSchema, Default)]
pub struct EscalateTicket {
    #[serde(default)]
    pub reason: Option<String>,
}

/// What `escalate` answers: the ticket and what changed.
#[derive(Serialize, ToSchema)]
pub struct EscalatedBody {
    #[serde(flatten)]
    pub ticket: TicketBody,
    pub escalated: bool,
    pub escalated_from: Priority,
    pub escalated_to: Priority,
}

/// `POST /tickets/{id}/comments`.
#[derive(Deserialize, ToSchema)]
pub struct CreateComment {
    /// 1–10000 characters once trimmed.
    pub content: String,
    #[serde(default)]
    pub author_persona: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub lease_epoch: Option<i64>,
    #[serde(default)]
    pub send_to_jira: Option<bool>,
}

/// What `start` answers (02 §5.6).
#[derive(Serialize, ToSchema)]
pub struct StartBody {
    pub ticket: TicketBody,
    /// Persona, ticket, comments and project context, cut to the tool's budget.
    pub compiled_context: String,
    /// `ra_` + 24 hex: the record of what this start handed out.
    pub retrieval_audit_id: String,
    pub persona_name: Option<String>,
}

/// `GET /tickets/{id}/review-state`.
#[derive(Serialize, ToSchema)]
pub struct ReviewStateBody {
    pub ticket_id: String,
    pub review_state: Option<ReviewState>,
}

/// A watcher of a ticket.
#[derive(Serialize, ToSchema)]
pub struct WatcherBody {
    pub user_id: String,
    pub email: String,
    pub since: String,
}

/// `PUT`/`DELETE /tickets/{id}/watch`.
#[derive(Serialize, ToSchema)]
pub struct WatchBody {
    pub ticket_id: String,
    pub watching: bool,
}
