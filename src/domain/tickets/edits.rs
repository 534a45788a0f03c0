//! The PUT (02 §5.5): a partial update with the lease fence, the audit of every changed field
//! and its diff comment; and `escalate` (02 §5.9), which goes through the same audit.

use serde_json::Value;

use super::dependencies::validate_depends_on;
use super::{clean_title, json_text, load, new_id, resolve_persona, Caller, TicketView};
use crate::clock::Clock;
use crate::db::projects::Project;
use crate::db::tickets::{self, Comment, Edit, Priority, Status, Ticket};
use crate::db::Db;
use crate::domain::{DomainError, DomainResult};

/// The fields a PUT may change (02 §5.5); `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Patch {
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

impl Patch {
    fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.priority.is_none()
            && self.assigned_to.is_none()
            && self.context_refs.is_none()
            && self.file_refs.is_none()
            && self.related_sessions.is_none()
            && self.acceptance_criteria.is_none()
            && self.depends_on.is_none()
    }

    /// Fields a non-editor creator may no longer change once the ticket is under way.
    fn guarded_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (name, present) in [
            ("title", self.title.is_some()),
            ("description", self.description.is_some()),
            ("priority", self.priority.is_some()),
            ("assigned_to", self.assigned_to.is_some()),
            ("acceptance_criteria", self.acceptance_criteria.is_some()),
            ("depends_on", self.depends_on.is_some()),
        ] {
            if present {
                out.push(name);
            }
        }
        out
    }
}

/// One changed field: its name and old/new values as JSON.
struct Change {
    field: &'static str,
    old: Value,
    new: Value,
}

fn diff_fields(before: &Ticket, after: &Ticket) -> Vec<Change> {
    let mut out = Vec::new();
    let mut text = |field, old: &str, new: &str| {
        if old != new {
            out.push(Change {
                field,
                old: Value::from(old),
                new: Value::from(new),
            });
        }
    };
    text("title", &before.title, &after.title);
    text("description", &before.description, &after.description);
    text(
        "priority",
        before.priority.as_str(),
        after.priority.as_str(),
    );
    if before.assigned_to != after.assigned_to {
        out.push(Change {
            field: "assigned_to",
            old: before.assigned_to.clone().into(),
            new: after.assigned_to.clone().into(),
        });
    }
    let mut list = |field, old: &Vec<String>, new: &Vec<String>| {
        if old != new {
            out.push(Change {
                field,
                old: Value::from(old.clone()),
                new: Value::from(new.clone()),
            });
        }
    };
    list("context_refs", &before.context_refs, &after.context_refs);
    list("file_refs", &before.file_refs, &after.file_refs);
    list(
        "related_sessions",
        &before.related_sessions,
        &after.related_sessions,
    );
    list(
        "acceptance_criteria",
        &before.acceptance_criteria,
        &after.acceptance_criteria,
    );
    list("depends_on", &before.depends_on, &after.depends_on);
    out
}

/// A value as the diff comment shows it: strings quoted and cut at 200 characters, lists as
/// their length.
fn shown(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => {
            let cut: String = s.chars().take(200).collect();
            if s.chars().count() > 200 {
                format!("\"{cut}…\"")
            } else {
                format!("\"{cut}\"")
            }
        }
        Value::Array(items) => format!("[{} item(s)]", items.len()),
        other => other.to_string(),
    }
}

fn diff_comment(changes: &[Change], fenced: bool, reapproval: bool) -> String {
    let mut out = String::from("Ticket edited:\n");
    for c in changes {
        out.push_str(&format!(
            "- {}: {} → {}\n",
            c.field,
            shown(&c.old),
            shown(&c.new)
        ));
    }
    if !fenced {
        out.push_str("\nThis edit carried no lease_epoch: it was applied last-write-wins.\n");
    }
    if reapproval {
        out.push_str("\nThe ticket went back to 'suggested': an editor must approve it again.\n");
    }
    out.push_str("\nEvery changed field is recorded in ticket_edits.");
    out
}

/// The 409 of a fenced PUT whose epoch is behind (02 §5.5).
pub fn stale_fence(passed: i64, current: i64) -> DomainError {
    DomainError::StaleLease { passed, current }
}

/// The PUT (02 §5.5): checks, fence, dependency validation, diff, audit — one transaction.
/// Returns the ticket and whether anything changed.
pub async fn update(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    id: String,
    patch: Patch,
) -> DomainResult<TicketView> {
    if patch.is_empty() {
        return Err(DomainError::Malformed(
            "No updatable fields provided. lease_epoch alone is a fence, not a mutation: \
             send at least one of title, description, priority, assigned_to, context_refs, \
             file_refs, related_sessions, acceptance_criteria, depends_on."
                .into(),
        ));
    }
    let title = patch.title.as_deref().map(clean_title).transpose()?;
    let clock = clock.clone();
    db.write(move |tx| {
        let (view, _) = apply_patch(tx, &clock, &caller, &project, &id, &patch, title)?;
        Ok(view)
    })
    .await
}

/// The body of a PUT inside a transaction; `true` when something changed.
fn apply_patch(
    tx: &rusqlite::Connection,
    clock: &Clock,
    caller: &Caller,
    project: &Project,
    id: &str,
    patch: &Patch,
    title: Option<String>,
) -> DomainResult<(TicketView, bool)> {
    let before = load(tx, &project.id, id)?;
    let creator = before.created_by_user_id == caller.user();
    if !creator && !caller.standing.admin {
        return Err(DomainError::Forbidden(
            "Only the ticket creator or a project admin may update this ticket.".into(),
        ));
    }
    if caller.is_reader()
        && !matches!(before.status, Status::Suggested | Status::Open)
        && !patch.guarded_fields().is_empty()
    {
        return Err(DomainError::EditForbiddenFields(patch.guarded_fields()));
    }
    let mut after = before.clone();
    if let Some(given) = patch.lease_epoch {
        if given != before.lease_epoch {
            return Err(stale_fence(given, before.lease_epoch));
        }
        after.lease_epoch = given + 1;
    }
    if let Some(deps) = &patch.depends_on {
        after.depends_on = validate_depends_on(tx, &project.id, &before.id, deps)?;
    }
    if let Some(t) = title {
        after.title = t;
    }
    if let Some(d) = &patch.description {
        after.description = d.clone();
    }
    if let Some(p) = patch.priority {
        after.priority = p;
    }
    if let Some(a) = &patch.assigned_to {
        after.assigned_to = Some(
            resolve_persona(tx, project, &caller.actor, a)?
                .map(|p| p.name)
                .unwrap_or_else(|| a.clone()),
        );
    }
    for (slot, value) in [
        (&mut after.context_refs, &patch.context_refs),
        (&mut after.file_refs, &patch.file_refs),
        (&mut after.related_sessions, &patch.related_sessions),
        (&mut after.acceptance_criteria, &patch.acceptance_criteria),
    ] {
        if let Some(v) = value {
            *slot = v.clone();
        }
    }
    let mut changes = diff_fields(&before, &after);
    let fenced = patch.lease_epoch.is_some();
    if changes.is_empty() {
        if fenced {
            // A fenced no-op still takes the lease (02 §5.5, kept for compatibility).
            let now = clock.now_string();
            after.updated_at = now;
            if !tickets::save(tx, &after, before.status, before.lease_epoch)? {
                return Err(stale_fence(before.lease_epoch, before.lease_epoch + 1));
            }
            return Ok((TicketView::plain(after), false));
        }
        return Ok((TicketView::plain(before), false));
    }
    let reapproval = caller.is_reader() && before.status == Status::Open;
    if reapproval {
        after.status = Status::Suggested;
        changes.push(Change {
            field: "status",
            old: Value::from(before.status.as_str()),
            new: Value::from(after.status.as_str()),
        });
    }
    let now = clock.now_string();
    after.updated_at = now.clone();
    if !tickets::save(tx, &after, before.status, before.lease_epoch)? {
        return Err(DomainError::Conflict(
            "Ticket changed during the request (concurrent update); re-fetch and retry.".into(),
        ));
    }
    if patch.depends_on.is_some() && after.depends_on != before.depends_on {
        tickets::set_dependencies(tx, &after.id, &after.depends_on)?;
    }
    for c in &changes {
        tickets::insert_edit(
            tx,
            &Edit {
                id: new_id("te_"),
                ticket_id: &after.id,
                edited_by_user_id: caller.user(),
                field_name: c.field,
                old_value: json_text(&c.old),
                new_value: json_text(&c.new),
                edited_at: &now,
                lease_epoch: after.lease_epoch,
            },
            caller.key(),
        )?;
    }
    tickets::insert_comment(
        tx,
        &Comment {
            id: new_id("tc_"),
            ticket_id: after.id.clone(),
            author_user_id: caller.user().to_string(),
            author_persona: Some("system".into()),
            content: diff_comment(&changes, fenced, reapproval),
            session_id: None,
            source: "sessionfs".into(),
            verdict_trusted: false,
            created_at: now,
        },
        caller.key(),
    )?;
    Ok((TicketView::plain(after), true))
}

/// What `escalate` answers.
#[derive(Debug, Clone)]
pub struct Escalation {
    pub ticket: TicketView,
    pub from: Priority,
    pub to: Option<Priority>,
}

/// Raises the priority one level (02 §5.9): the PUT's audit, then a comment saying so. At
/// `critical` nothing is written.
pub async fn escalate(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    id: String,
    reason: Option<String>,
) -> DomainResult<Escalation> {
    let clock = clock.clone();
    db.write(move |tx| {
        let before = load(tx, &project.id, &id)?;
        let creator = before.created_by_user_id == caller.user();
        if !creator && !caller.standing.admin {
            return Err(DomainError::Forbidden(
                "Only the ticket creator or a project admin may update this ticket.".into(),
            ));
        }
        let Some(next) = before.priority.next() else {
            return Ok(Escalation {
                ticket: TicketView::plain(before),
                from: Priority::Critical,
                to: None,
            });
        };
        let patch = Patch {
            priority: Some(next),
            ..Patch::default()
        };
        let (view, _) = apply_patch(tx, &clock, &caller, &project, &id, &patch, None)?;
        let reason = reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        tickets::insert_comment(
            tx,
            &Comment {
                id: new_id("tc_"),
                ticket_id: before.id.clone(),
                author_user_id: caller.user().to_string(),
                author_persona: None,
                content: format!(
                    "Escalated {} → {}{reason}",
                    before.priority.as_str(),
                    next.as_str()
                ),
                session_id: None,
                source: "sessionfs".into(),
                verdict_trusted: false,
                // After the diff comment, even within one clock tick.
                created_at: crate::clock::format(
                    crate::clock::parse(&view.ticket.updated_at)
                        .map(|t| t + chrono::Duration::microseconds(1))
                        .map_or_else(|| clock.now(), |t| t.max(clock.now())),
                ),
            },
            caller.key(),
        )?;
        Ok(Escalation {
            ticket: view,
            from: before.priority,
            to: Some(next),
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_values() {
        assert_eq!(shown(&Value::from("x")), "\"x\"");
        assert_eq!(shown(&Value::from(vec!["a", "b"])), "[2 item(s)]");
        let long = "y".repeat(250);
        assert!(shown(&Value::from(long)).ends_with("…\""));
    }
}
