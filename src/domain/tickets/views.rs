//! What the read routes answer: the list, one ticket with its children, dependents and
//! newest comments, and a ticket by id alone.

use super::{load, not_found, RECENT_COMMENTS};
use crate::db::projects as project_rows;
use crate::db::tickets::{self, Comment, Filter, Ticket};
use crate::db::Db;
use crate::domain::projects::{self, Actor};
use crate::domain::tiers::Feature;
use crate::domain::{DomainError, DomainResult};

/// A ticket as answered, with what the route adds.
#[derive(Debug, Clone)]
pub struct TicketView {
    pub ticket: Ticket,
    pub child_ticket_ids: Vec<String>,
    /// Filled by GET (detail and by id); `None` elsewhere.
    pub dependents: Option<Vec<String>>,
    pub recent_comments: Option<Vec<Comment>>,
    pub project_name: Option<String>,
    pub comment_count: Option<i64>,
}

impl TicketView {
    pub(super) fn plain(ticket: Ticket) -> TicketView {
        TicketView {
            ticket,
            child_ticket_ids: Vec::new(),
            dependents: None,
            recent_comments: None,
            project_name: None,
            comment_count: None,
        }
    }
}

/// The project's tickets (02 §5.4), newest first.
pub async fn list(db: &Db, project_id: String, filter: Filter) -> DomainResult<Vec<TicketView>> {
    db.read(move |conn| {
        Ok(tickets::list(conn, &project_id, &filter)?
            .into_iter()
            .map(|(ticket, kids)| TicketView {
                child_ticket_ids: kids,
                ..TicketView::plain(ticket)
            })
            .collect())
    })
    .await
}

pub(super) fn detail(conn: &rusqlite::Connection, ticket: Ticket) -> DomainResult<TicketView> {
    let child_ticket_ids = tickets::children(conn, &ticket.project_id, &ticket.id)?;
    let dependents = tickets::dependents(conn, &ticket.id)?
        .into_iter()
        .filter(|d| d.project_id == ticket.project_id)
        .map(|d| d.id)
        .collect();
    let recent = tickets::recent_comments(conn, &ticket.id, RECENT_COMMENTS)?;
    Ok(TicketView {
        child_ticket_ids,
        dependents: Some(dependents),
        recent_comments: Some(recent),
        ..TicketView::plain(ticket)
    })
}

/// One ticket with its children, dependents and newest comments.
pub async fn get(db: &Db, project_id: String, id: String) -> DomainResult<TicketView> {
    db.read(move |conn| {
        let ticket = load(conn, &project_id, &id)?;
        detail(conn, ticket)
    })
    .await
}

/// A ticket by id alone (`GET /api/v1/tickets/{id}`): the caller must be able to read its
/// project (and its plan must have tickets); anything else is "Ticket not found".
pub async fn get_by_id(db: &Db, actor: Actor, id: String) -> DomainResult<TicketView> {
    db.read(move |conn| {
        let ticket = tickets::get_any(conn, &id)?.ok_or_else(not_found)?;
        let project = project_rows::get(conn, &ticket.project_id)?.ok_or_else(not_found)?;
        match projects::standing(conn, &actor, &project) {
            Ok(s) if s.read => {}
            Ok(_) | Err(DomainError::Boundary(_)) => return Err(not_found()),
            Err(e) => return Err(e),
        }
        projects::require_plan(conn, &project, Feature::AgentTickets)?;
        let count = tickets::count_comments(conn, &ticket.id)?;
        let mut view = detail(conn, ticket)?;
        view.project_name = Some(project.name);
        view.comment_count = Some(count);
        Ok(view)
    })
    .await
}
