//! The ticket side of the compiled context `start` hands an agent (02 §5.6).

use crate::db::personas::Persona;
use crate::db::projects::{self as project_rows, Project};
use crate::db::tickets::{self, Kind, Status, Ticket};
use crate::domain::agent_context::{self, ContextParts, TicketPart};
use crate::domain::DomainResult;

/// The text `start` hands the agent (02 §5.6), built by the one builder from the ticket side
/// collected here.
pub(super) fn compiled_context(
    tx: &rusqlite::Connection,
    project: &Project,
    t: &Ticket,
    persona: Option<&Persona>,
    tool: &str,
) -> DomainResult<String> {
    let part = ticket_part(tx, t)?;
    let persona = persona.map(|p| agent_context::PersonaPart {
        name: p.name.clone(),
        role: p.role.clone(),
        content: p.content.clone(),
    });
    let doc = project_rows::get(tx, &project.id)?
        .map(|p| p.context_document)
        .unwrap_or_default();
    Ok(agent_context::compile(&ContextParts {
        persona: persona.as_ref(),
        ticket: Some(&part),
        project_context: Some(&doc),
        tool,
    }))
}

/// The ticket side of the compiled context for ticket `ticket_id` of the project, if it exists
/// (agent runs compile the context of the ticket they name).
pub fn ticket_part_of(
    conn: &rusqlite::Connection,
    project_id: &str,
    ticket_id: &str,
) -> DomainResult<Option<TicketPart>> {
    match tickets::get(conn, project_id, ticket_id)? {
        Some(t) => Ok(Some(ticket_part(conn, &t)?)),
        None => Ok(None),
    }
}

/// The ticket side of the compiled context: the ticket, its parent issue, its children, its
/// done dependencies with notes, its comments and the knowledge its `context_refs` name.
pub fn ticket_part(conn: &rusqlite::Connection, t: &Ticket) -> DomainResult<TicketPart> {
    let parent = match &t.parent_ticket_id {
        Some(pid) => tickets::brief(conn, &t.project_id, pid)?.map(|(status, title, _)| {
            agent_context::ParentPart {
                id: pid.clone(),
                title,
                status: status.as_str().into(),
            }
        }),
        None => None,
    };
    let children = if t.kind == Kind::Issue {
        tickets::child_summaries(conn, &t.project_id, &t.id)?
            .into_iter()
            .map(|(id, status, title)| agent_context::ChildPart {
                id,
                title,
                status: status.as_str().into(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut completed = Vec::new();
    for dep in &t.depends_on {
        if let Some((Status::Done, title, Some(notes))) = tickets::brief(conn, &t.project_id, dep)?
        {
            if !notes.trim().is_empty() {
                completed.push(agent_context::DependencyPart {
                    id: dep.clone(),
                    title,
                    notes,
                });
            }
        }
    }
    let comments = tickets::recent_comments(conn, &t.id, agent_context::MAX_COMMENTS as i64)?
        .into_iter()
        .map(|c| agent_context::CommentPart {
            author_persona: c.author_persona,
            created_at: c.created_at,
            content: c.content,
        })
        .collect();
    Ok(TicketPart {
        title: t.title.clone(),
        kind: t.kind.as_str().into(),
        priority: t.priority.as_str().into(),
        status: t.status.as_str().into(),
        parent,
        children,
        description: t.description.clone(),
        acceptance_criteria: t.acceptance_criteria.clone(),
        file_refs: t.file_refs.clone(),
        knowledge: agent_context::relevant_knowledge(conn, &t.project_id, &t.context_refs)?,
        completed_dependencies: completed,
        comments,
    })
}
