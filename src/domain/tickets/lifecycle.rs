//! The lifecycle routes and the lease: one move per route, the actor rule, the lease fence, and
//! the side effects of `start` and `accept`, in one transaction.

use serde_json::Value;

use super::context::compiled_context;
use super::dependencies::unblock_dependents;
use super::{json_text, load, new_id, new_id_long, resolve_persona, Caller, Move, TicketView};
use crate::clock::Clock;
use crate::db::projects::Project;
use crate::db::tickets::{self, Edit, Kind};
use crate::db::Db;
use crate::domain::{DomainError, DomainResult};

/// What `complete` records.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub notes: String,
    pub changed_files: Vec<String>,
    pub knowledge_entry_ids: Vec<String>,
    pub resolver_session_id: Option<String>,
}

/// What a lifecycle route carries besides the move.
#[derive(Debug, Clone, Default)]
pub struct MoveRequest {
    /// The caller's lease (complete, accept): a stale one is refused.
    pub lease_epoch: Option<i64>,
    pub completion: Option<Completion>,
    /// The tool the agent runs in (start: the context budget).
    pub tool: Option<String>,
}

/// What `start` answers.
#[derive(Debug, Clone)]
pub struct Started {
    pub ticket: TicketView,
    pub compiled_context: String,
    pub retrieval_audit_id: String,
    pub persona_name: Option<String>,
}

/// The outcome of a move: the ticket, and for `start` what the agent works from.
#[derive(Debug, Clone)]
pub enum Moved {
    Ticket(Box<TicketView>),
    Started(Box<Started>),
}

/// The 409 for a lease the ticket has moved past (complete, accept, comments).
pub fn stale_lease(given: i64, current: i64) -> DomainError {
    DomainError::Conflict(format!(
        "Stale ticket lease: provided lease_epoch={given}, current lease_epoch={current}."
    ))
}

/// Makes `mv` on ticket `id`: the actor rule, the lease fence, the route's move, its side
/// effects — one transaction.
pub async fn transition(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    id: String,
    mv: Move,
    req: MoveRequest,
) -> DomainResult<Moved> {
    let clock = clock.clone();
    db.write(move |tx| {
        let before = load(tx, &project.id, &id)?;
        if mv == Move::Close && before.kind == Kind::Task {
            return Err(DomainError::Malformed(format!(
                "Cannot close ticket '{}': kind='task'. Only issues can be closed; \
                 tasks finish through complete and accept.",
                before.id
            )));
        }
        if mv == Move::Close && !caller.standing.admin {
            return Err(DomainError::Forbidden(
                "Only the project owner or an org admin can close an issue".into(),
            ));
        }
        caller.may(mv, &before)?;
        if let Some(given) = req.lease_epoch {
            if given != before.lease_epoch {
                return Err(stale_lease(given, before.lease_epoch));
            }
        }
        let mut persona = None;
        if let (Move::Start { .. }, Some(name)) = (mv, &before.assigned_to) {
            let found = resolve_persona(tx, &project, &caller.actor, name)?;
            let Some(found) = found else {
                return Err(DomainError::Malformed(format!(
                    "Ticket is assigned to '{name}', which is not an active persona of this \
                     project or its org; reassign it before starting."
                )));
            };
            persona = Some(found);
        }
        let to = mv.check(before.kind, before.status)?;
        let now = clock.now_string();
        let mut after = before.clone();
        after.status = to;
        after.updated_at = now.clone();
        match mv {
            Move::Start { .. } => after.lease_epoch += 1,
            Move::Complete => {
                let c = req.completion.clone().unwrap_or_default();
                after.completion_notes = Some(c.notes);
                after.changed_files = c.changed_files;
                after.knowledge_entry_ids = c.knowledge_entry_ids;
                after.resolver_session_id = c.resolver_session_id;
                after.resolver_user_id = Some(caller.user().to_string());
            }
            Move::Accept | Move::Close => after.resolved_at = Some(now.clone()),
            _ => {}
        }
        if !tickets::save(tx, &after, before.status, before.lease_epoch)? {
            return Err(DomainError::Conflict(
                "Ticket changed during the request (concurrent update); re-fetch and retry.".into(),
            ));
        }
        match mv {
            Move::Approve => {
                tickets::insert_edit(
                    tx,
                    &Edit {
                        id: new_id("te_"),
                        ticket_id: &after.id,
                        edited_by_user_id: caller.user(),
                        field_name: "status",
                        old_value: json_text(&Value::from(before.status.as_str())),
                        new_value: json_text(&Value::from(after.status.as_str())),
                        edited_at: &now,
                        lease_epoch: after.lease_epoch,
                    },
                    caller.key(),
                )?;
            }
            Move::Accept => unblock_dependents(tx, &caller, &after, &now)?,
            Move::Start { .. } => {
                let tool = req.tool.clone().unwrap_or_else(|| "generic".into());
                let text = compiled_context(tx, &project, &after, persona.as_ref(), &tool)?;
                let audit = new_id_long("ra_");
                tickets::insert_retrieval_audit(
                    tx,
                    &tickets::RetrievalAudit {
                        id: &audit,
                        project_id: &project.id,
                        ticket_id: &after.id,
                        persona_name: persona.as_ref().map(|p| p.name.as_str()),
                        lease_epoch: after.lease_epoch,
                        tool: &tool,
                        context_chars: text.chars().count() as i64,
                        created_by_user_id: caller.user(),
                        created_at: &now,
                    },
                    caller.key(),
                )?;
                return Ok(Moved::Started(Box::new(Started {
                    ticket: TicketView::plain(after),
                    compiled_context: text,
                    retrieval_audit_id: audit,
                    persona_name: persona.map(|p| p.name),
                })));
            }
            _ => {}
        }
        Ok(Moved::Ticket(Box::new(TicketView::plain(after))))
    })
    .await
}
