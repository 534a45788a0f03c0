//! Creating a ticket (02 §5.4), with its checks in the contract's order.

use serde_json::Value;

use super::dependencies::validate_depends_on;
use super::{
    new_id, resolve_persona, Caller, TicketView, AGENT_MIN_DESCRIPTION, MAX_TITLE_CHARS,
    TICKETS_PER_SESSION,
};
use crate::clock::Clock;
use crate::db::projects::Project;
use crate::db::tickets::{self, Kind, Priority, Source, Ticket};
use crate::db::Db;
use crate::domain::{DomainError, DomainResult};

/// The body of a create, typed.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub title: String,
    pub description: String,
    pub priority: Priority,
    pub assigned_to: Option<String>,
    pub context_refs: Vec<String>,
    pub file_refs: Vec<String>,
    pub related_sessions: Vec<String>,
    pub acceptance_criteria: Vec<String>,
    pub depends_on: Vec<String>,
    pub source: Source,
    pub created_by_session_id: Option<String>,
    pub created_by_persona: Option<String>,
    pub kind: Kind,
    pub parent_ticket_id: Option<String>,
}

/// A title trimmed and within 1..=200 characters (422 otherwise).
pub fn clean_title(title: &str) -> DomainResult<String> {
    let title = title.trim();
    let n = title.chars().count();
    if n == 0 {
        return Err(DomainError::Schema {
            kind: "string_too_short",
            loc: vec!["body", "title"],
            message: "String should have at least 1 character".into(),
            input: Box::new(Value::from(title)),
        });
    }
    if n > MAX_TITLE_CHARS {
        return Err(DomainError::Schema {
            kind: "string_too_long",
            loc: vec!["body", "title"],
            message: format!("String should have at most {MAX_TITLE_CHARS} characters"),
            input: Box::new(Value::from(title)),
        });
    }
    Ok(title.to_string())
}

/// Creates a ticket (02 §5.4), checks in the contract's order.
pub async fn create(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    req: NewTicket,
) -> DomainResult<TicketView> {
    let title = clean_title(&req.title)?;
    if req.kind == Kind::Issue {
        if !caller.standing.admin {
            return Err(DomainError::Forbidden(
                "Only a project admin may create issues".into(),
            ));
        }
        if req.parent_ticket_id.is_some() {
            return Err(DomainError::Malformed(
                "An issue cannot have a parent ticket".into(),
            ));
        }
    }
    if req.source == Source::Agent && req.kind == Kind::Task {
        if req.acceptance_criteria.iter().all(|c| c.trim().is_empty()) {
            return Err(DomainError::Malformed(
                "Agent-created tickets require at least one acceptance criterion".into(),
            ));
        }
        if req.description.trim().chars().count() < AGENT_MIN_DESCRIPTION {
            return Err(DomainError::Malformed(format!(
                "Agent-created tickets require a description of at least \
                 {AGENT_MIN_DESCRIPTION} characters"
            )));
        }
    }
    let clock = clock.clone();
    db.write(move |tx| {
        if let Some(parent) = &req.parent_ticket_id {
            let parent = tickets::get(tx, &project.id, parent)?.ok_or_else(|| {
                DomainError::Unprocessable(format!(
                    "Parent ticket '{parent}' not found in this project"
                ))
            })?;
            if parent.kind != Kind::Issue {
                return Err(DomainError::Unprocessable(format!(
                    "Parent ticket '{}' is not an issue (kind='{}')",
                    parent.id,
                    parent.kind.as_str()
                )));
            }
        }
        if req.source == Source::Agent && req.kind == Kind::Task {
            if let Some(session) = &req.created_by_session_id {
                if tickets::count_by_session(tx, session)? >= TICKETS_PER_SESSION {
                    return Err(DomainError::TooMany {
                        message: "Maximum 3 tickets per session".into(),
                        retry_after: None,
                    });
                }
            }
        }
        let id = new_id("tk_");
        let depends_on = validate_depends_on(tx, &project.id, &id, &req.depends_on)?;
        let assigned_to = match &req.assigned_to {
            Some(name) => Some(
                resolve_persona(tx, &project, &caller.actor, name)?
                    .map(|p| p.name)
                    .unwrap_or_else(|| name.clone()),
            ),
            None => None,
        };
        let now = clock.now_string();
        let ticket = Ticket {
            id,
            project_id: project.id.clone(),
            title,
            description: req.description,
            priority: req.priority,
            assigned_to,
            created_by_user_id: caller.user().to_string(),
            created_by_session_id: req.created_by_session_id,
            created_by_persona: req.created_by_persona,
            source: req.source,
            kind: req.kind,
            status: req.kind.initial(req.source, caller.is_reader()),
            parent_ticket_id: req.parent_ticket_id,
            lease_epoch: 0,
            context_refs: req.context_refs,
            file_refs: req.file_refs,
            related_sessions: req.related_sessions,
            acceptance_criteria: req.acceptance_criteria,
            resolver_session_id: None,
            resolver_user_id: None,
            completion_notes: None,
            changed_files: Vec::new(),
            knowledge_entry_ids: Vec::new(),
            depends_on,
            created_at: now.clone(),
            updated_at: now.clone(),
            resolved_at: None,
        };
        tickets::insert(tx, &ticket, caller.key())?;
        if caller.service_key.is_none() {
            tickets::watch(tx, &ticket.id, caller.user(), &now)?;
        }
        Ok(TicketView::plain(ticket))
    })
    .await
}
