//! Dependencies (02 §5.7): validation on create and PUT, and what accepting a ticket does to
//! the tickets that depend on it.

use std::collections::HashSet;

use super::{new_id, Caller};
use crate::db::tickets::{self, Comment, Status, Ticket};
use crate::domain::{DomainError, DomainResult};

/// Order-keeping dedup.
fn dedup(list: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    list.iter()
        .filter(|d| seen.insert(d.as_str()))
        .cloned()
        .collect()
}

/// 02 §5.7: dedup, same project, no self-dependency, no cycle. Returns the list to store.
pub(super) fn validate_depends_on(
    conn: &rusqlite::Connection,
    project_id: &str,
    ticket_id: &str,
    wanted: &[String],
) -> DomainResult<Vec<String>> {
    let deps = dedup(wanted);
    let others: Vec<String> = deps.iter().filter(|d| *d != ticket_id).cloned().collect();
    let found: HashSet<String> = tickets::existing_in_project(conn, project_id, &others)?
        .into_iter()
        .collect();
    let mut unknown: Vec<&String> = others.iter().filter(|d| !found.contains(*d)).collect();
    if !unknown.is_empty() {
        unknown.sort();
        let listing = unknown
            .iter()
            .map(|d| format!("'{d}'"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(DomainError::Malformed(format!(
            "depends_on references unknown or cross-project ticket(s): [{listing}]. \
             Dependencies must exist in the same project."
        )));
    }
    if deps.iter().any(|d| d == ticket_id) {
        return Err(DomainError::Malformed(
            "A ticket cannot depend on itself".into(),
        ));
    }
    // From each new dependency, walk the existing edges; reaching the ticket is a cycle.
    for dep in &deps {
        let mut stack = vec![dep.clone()];
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(node) = stack.pop() {
            if node == ticket_id {
                return Err(DomainError::Malformed(format!(
                    "Adding dependency on '{dep}' would create a cycle reaching '{ticket_id}'."
                )));
            }
            if seen.insert(node.clone()) {
                stack.extend(tickets::depends_on(conn, &node)?);
            }
        }
    }
    Ok(deps)
}

/// After `done` is accepted (02 §5.6): each same-project dependent that is open, blocked or
/// suggested gets a comment with the completion notes and the completed ticket's knowledge ids
/// in its `context_refs`; a blocked one whose dependencies are all done moves to in_progress.
pub(super) fn unblock_dependents(
    tx: &rusqlite::Connection,
    caller: &Caller,
    done: &Ticket,
    now: &str,
) -> DomainResult<()> {
    let author = done
        .resolver_user_id
        .clone()
        .unwrap_or_else(|| done.created_by_user_id.clone());
    for dependent in tickets::dependents(tx, &done.id)? {
        if dependent.project_id != done.project_id
            || !matches!(
                dependent.status,
                Status::Open | Status::Blocked | Status::Suggested
            )
        {
            continue;
        }
        let notes = done
            .completion_notes
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or("(no completion notes were left)");
        let comment = Comment {
            id: new_id("tc_"),
            ticket_id: dependent.id.clone(),
            author_user_id: author.clone(),
            author_persona: done.assigned_to.clone(),
            content: format!(
                "Dependency #{} ({}) completed:\n\n{notes}",
                done.id, done.title
            ),
            session_id: None,
            source: "sessionfs".into(),
            verdict_trusted: false,
            created_at: now.to_string(),
        };
        tickets::insert_comment(tx, &comment, caller.key())?;
        let mut after = dependent.clone();
        after.depends_on = tickets::depends_on(tx, &dependent.id)?;
        let mut refs = after.context_refs.clone();
        for k in &done.knowledge_entry_ids {
            if !refs.contains(k) {
                refs.push(k.clone());
            }
        }
        after.context_refs = refs;
        if dependent.status == Status::Blocked {
            let mut all_done = true;
            for dep in &after.depends_on {
                let status = tickets::brief(tx, &done.project_id, dep)?.map(|b| b.0);
                if status != Some(Status::Done) {
                    all_done = false;
                    break;
                }
            }
            if all_done {
                after.status = Status::InProgress;
            }
        }
        if after != dependent {
            after.updated_at = now.to_string();
            tickets::save(tx, &after, dependent.status, dependent.lease_epoch)?;
        }
    }
    Ok(())
}
