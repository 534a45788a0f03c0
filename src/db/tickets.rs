//! Tickets of a project (02 §5, §8): rows, dependencies, comments, the edit audit, retrieval
//! audit contexts and watchers. Plain SQL; the rules live in `crate::domain::tickets`.
//!
//! Status changes are compare-and-swap updates ([`save`] names the status and lease epoch it
//! read): with one writer they cannot race, and the check keeps them honest if that changes.

use std::collections::HashMap;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use crate::db::DbResult;

stored_enum!(
    /// How urgent a ticket is.
    Priority { Critical => "critical", High => "high", Medium => "medium", Low => "low" }
);
stored_enum!(
    /// A task (the full machine) or an issue (its own, shorter machine).
    Kind { Task => "task", Issue => "issue" }
);
stored_enum!(
    /// Who filed a ticket.
    Source { Human => "human", Agent => "agent" }
);
stored_enum!(
    /// Every status either machine knows (02 §5.3).
    Status {
        Suggested => "suggested",
        Open => "open",
        InProgress => "in_progress",
        Blocked => "blocked",
        Review => "review",
        Done => "done",
        Cancelled => "cancelled",
        Closed => "closed",
    }
);

impl Priority {
    /// One level up (`low → medium → high → critical`); `None` at the top.
    pub fn next(self) -> Option<Priority> {
        match self {
            Priority::Low => Some(Priority::Medium),
            Priority::Medium => Some(Priority::High),
            Priority::High => Some(Priority::Critical),
            Priority::Critical => None,
        }
    }
}

/// A ticket row. `depends_on` is filled from `ticket_dependencies` by [`get`] and [`list`].
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: String,
    pub project_id: String,
    pub title: String,
    pub description: String,
    pub priority: Priority,
    pub assigned_to: Option<String>,
    pub created_by_user_id: String,
    pub created_by_session_id: Option<String>,
    pub created_by_persona: Option<String>,
    pub source: Source,
    pub kind: Kind,
    pub status: Status,
    pub parent_ticket_id: Option<String>,
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
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
}

/// `(id, name)` of the service key that writes, if one does.
pub type KeyRef<'a> = Option<(&'a str, &'a str)>;

fn actor_type(key: KeyRef) -> &'static str {
    if key.is_some() {
        "service_key"
    } else {
        "user"
    }
}

const COLUMNS: &str = "id, project_id, title, description, priority, assigned_to, \
    created_by_user_id, created_by_session_id, created_by_persona, source, kind, status, \
    parent_ticket_id, lease_epoch, context_refs, file_refs, related_sessions, acceptance_criteria, \
    resolver_session_id, resolver_user_id, completion_notes, changed_files, knowledge_entry_ids, \
    created_at, updated_at, resolved_at";

fn list_column(r: &Row, i: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = r.get(i)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn from_row(r: &Row) -> rusqlite::Result<Ticket> {
    Ok(Ticket {
        id: r.get(0)?,
        project_id: r.get(1)?,
        title: r.get(2)?,
        description: r.get(3)?,
        priority: r.get(4)?,
        assigned_to: r.get(5)?,
        created_by_user_id: r.get(6)?,
        created_by_session_id: r.get(7)?,
        created_by_persona: r.get(8)?,
        source: r.get(9)?,
        kind: r.get(10)?,
        status: r.get(11)?,
        parent_ticket_id: r.get(12)?,
        lease_epoch: r.get(13)?,
        context_refs: list_column(r, 14)?,
        file_refs: list_column(r, 15)?,
        related_sessions: list_column(r, 16)?,
        acceptance_criteria: list_column(r, 17)?,
        resolver_session_id: r.get(18)?,
        resolver_user_id: r.get(19)?,
        completion_notes: r.get(20)?,
        changed_files: list_column(r, 21)?,
        knowledge_entry_ids: list_column(r, 22)?,
        depends_on: Vec::new(),
        created_at: r.get(23)?,
        updated_at: r.get(24)?,
        resolved_at: r.get(25)?,
    })
}

/// Inserts a new ticket and its dependency rows.
pub fn insert(conn: &Connection, t: &Ticket, key: KeyRef) -> DbResult<()> {
    conn.execute(
        &format!(
            "INSERT INTO tickets ({COLUMNS}, actor_type, service_key_id, service_key_name)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                     ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)"
        ),
        params![
            t.id,
            t.project_id,
            t.title,
            t.description,
            t.priority,
            t.assigned_to,
            t.created_by_user_id,
            t.created_by_session_id,
            t.created_by_persona,
            t.source,
            t.kind,
            t.status,
            t.parent_ticket_id,
            t.lease_epoch,
            to_json(&t.context_refs),
            to_json(&t.file_refs),
            to_json(&t.related_sessions),
            to_json(&t.acceptance_criteria),
            t.resolver_session_id,
            t.resolver_user_id,
            t.completion_notes,
            to_json(&t.changed_files),
            to_json(&t.knowledge_entry_ids),
            t.created_at,
            t.updated_at,
            t.resolved_at,
            actor_type(key),
            key.map(|k| k.0),
            key.map(|k| k.1),
        ],
    )?;
    set_dependencies(conn, &t.id, &t.depends_on)?;
    Ok(())
}

/// Writes every mutable column of `t` if the row still has `expected_status` and
/// `expected_epoch` (a compare-and-swap); `false` when it changed under us.
pub fn save(
    conn: &Connection,
    t: &Ticket,
    expected_status: Status,
    expected_epoch: i64,
) -> DbResult<bool> {
    let changed = conn.execute(
        "UPDATE tickets SET title = ?3, description = ?4, priority = ?5, assigned_to = ?6,
            status = ?7, lease_epoch = ?8, context_refs = ?9, file_refs = ?10,
            related_sessions = ?11, acceptance_criteria = ?12, resolver_session_id = ?13,
            resolver_user_id = ?14, completion_notes = ?15, changed_files = ?16,
            knowledge_entry_ids = ?17, updated_at = ?18, resolved_at = ?19
         WHERE id = ?1 AND project_id = ?2 AND status = ?20 AND lease_epoch = ?21",
        params![
            t.id,
            t.project_id,
            t.title,
            t.description,
            t.priority,
            t.assigned_to,
            t.status,
            t.lease_epoch,
            to_json(&t.context_refs),
            to_json(&t.file_refs),
            to_json(&t.related_sessions),
            to_json(&t.acceptance_criteria),
            t.resolver_session_id,
            t.resolver_user_id,
            t.completion_notes,
            to_json(&t.changed_files),
            to_json(&t.knowledge_entry_ids),
            t.updated_at,
            t.resolved_at,
            expected_status,
            expected_epoch,
        ],
    )?;
    Ok(changed == 1)
}

/// The ticket `id` of project `project_id`, with its dependencies.
pub fn get(conn: &Connection, project_id: &str, id: &str) -> DbResult<Option<Ticket>> {
    let ticket = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM tickets WHERE id = ?1 AND project_id = ?2"),
            params![id, project_id],
            from_row,
        )
        .optional()?;
    match ticket {
        Some(mut t) => {
            t.depends_on = depends_on(conn, &t.id)?;
            Ok(Some(t))
        }
        None => Ok(None),
    }
}

/// The ticket `id` in whichever project holds it (the `/api/v1/tickets/{id}` route).
pub fn get_any(conn: &Connection, id: &str) -> DbResult<Option<Ticket>> {
    let project: Option<String> = conn
        .query_row("SELECT project_id FROM tickets WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    match project {
        Some(p) => get(conn, &p, id),
        None => Ok(None),
    }
}

/// Whether `ticket_id` is a ticket of `project_id` (agent runs name tickets by id).
pub fn exists_in_project(conn: &Connection, project_id: &str, ticket_id: &str) -> DbResult<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM tickets WHERE id = ?1 AND project_id = ?2",
            params![ticket_id, project_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Tickets of the project assigned to `persona` (case-insensitively) that are not finished:
/// suggested, open, in_progress, blocked or review (the persona stranding guard, 02 §6).
pub fn count_unfinished_assigned(
    conn: &Connection,
    project_id: &str,
    persona: &str,
) -> DbResult<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM tickets
         WHERE project_id = ?1 AND assigned_to = ?2 COLLATE NOCASE
           AND status IN ('suggested', 'open', 'in_progress', 'blocked', 'review')",
        params![project_id, persona],
        |r| r.get(0),
    )?)
}

/// List filters (02 §5.4); `assigned_to` compares case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<String>,
    pub assigned_to: Option<String>,
    pub priority: Option<String>,
    pub kind: Option<Kind>,
}

/// The project's tickets, newest first, with dependencies and child ids.
pub fn list(
    conn: &Connection,
    project_id: &str,
    f: &Filter,
) -> DbResult<Vec<(Ticket, Vec<String>)>> {
    // One filter clause for the tickets and for their dependencies and children.
    let mut clause = String::from("project_id = ?1");
    let mut args: Vec<String> = vec![project_id.to_string()];
    let mut push = |column: &str, value: String| {
        args.push(value);
        clause.push_str(&format!(" AND {column} ?{}", args.len()));
    };
    if let Some(s) = &f.status {
        push("status =", s.clone());
    }
    if let Some(a) = &f.assigned_to {
        push("assigned_to COLLATE NOCASE =", a.clone());
    }
    if let Some(p) = &f.priority {
        push("priority =", p.clone());
    }
    if let Some(k) = f.kind {
        push("kind =", k.as_str().to_string());
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM tickets WHERE {clause} ORDER BY created_at DESC, id DESC"
    ))?;
    let tickets = stmt
        .query_map(params_from_iter(args.iter()), from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    if tickets.is_empty() {
        return Ok(Vec::new());
    }
    let mut deps: HashMap<String, Vec<String>> = HashMap::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT d.ticket_id, d.depends_on_id FROM ticket_dependencies d
         WHERE d.ticket_id IN (SELECT id FROM tickets WHERE {clause})
         ORDER BY d.ticket_id, d.position"
    ))?;
    let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
        Ok((r.get::<_, String>(0)?, r.get(1)?))
    })?;
    for row in rows {
        let (t, d) = row?;
        deps.entry(t).or_default().push(d);
    }
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT c.parent_ticket_id, c.id FROM tickets c
         WHERE c.project_id = ?1 AND c.parent_ticket_id IN (SELECT id FROM tickets WHERE {clause})
         ORDER BY c.created_at, c.id"
    ))?;
    let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
        Ok((r.get::<_, String>(0)?, r.get(1)?))
    })?;
    for row in rows {
        let (p, c) = row?;
        children.entry(p).or_default().push(c);
    }
    Ok(tickets
        .into_iter()
        .map(|mut t| {
            t.depends_on = deps.remove(&t.id).unwrap_or_default();
            let kids = children.remove(&t.id).unwrap_or_default();
            (t, kids)
        })
        .collect())
}

/// What `ticket_id` depends on, in the order given.
pub fn depends_on(conn: &Connection, ticket_id: &str) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT depends_on_id FROM ticket_dependencies WHERE ticket_id = ?1 ORDER BY position",
    )?;
    let rows = stmt.query_map([ticket_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Tickets that depend on `ticket_id`, oldest first.
pub fn dependents(conn: &Connection, ticket_id: &str) -> DbResult<Vec<Ticket>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM ticket_dependencies d JOIN tickets t ON t.id = d.ticket_id
         WHERE d.depends_on_id = ?1 ORDER BY t.created_at, t.id",
        COLUMNS
            .split(", ")
            .map(|c| format!("t.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    let rows = stmt.query_map([ticket_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Ids of the project's tickets whose parent is `ticket_id`.
pub fn children(conn: &Connection, project_id: &str, ticket_id: &str) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM tickets WHERE parent_ticket_id = ?1 AND project_id = ?2
         ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map(params![ticket_id, project_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Child tickets of an issue as `(id, status, title)` (the compiled context's child list).
pub fn child_summaries(
    conn: &Connection,
    project_id: &str,
    ticket_id: &str,
) -> DbResult<Vec<(String, Status, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, status, title FROM tickets WHERE parent_ticket_id = ?1 AND project_id = ?2
         ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map(params![ticket_id, project_id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replaces the dependencies of `ticket_id` (wipe and reinsert, order kept).
pub fn set_dependencies(conn: &Connection, ticket_id: &str, deps: &[String]) -> DbResult<()> {
    conn.execute(
        "DELETE FROM ticket_dependencies WHERE ticket_id = ?1",
        [ticket_id],
    )?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO ticket_dependencies (ticket_id, depends_on_id, position) VALUES (?1, ?2, ?3)",
    )?;
    for (i, dep) in deps.iter().enumerate() {
        stmt.execute(params![ticket_id, dep, i as i64])?;
    }
    Ok(())
}

/// Which of `ids` are tickets of `project_id`.
pub fn existing_in_project(
    conn: &Connection,
    project_id: &str,
    ids: &[String],
) -> DbResult<Vec<String>> {
    let mut out = Vec::new();
    let mut stmt =
        conn.prepare_cached("SELECT 1 FROM tickets WHERE id = ?1 AND project_id = ?2")?;
    for id in ids {
        if stmt.exists(params![id, project_id])? {
            out.push(id.clone());
        }
    }
    Ok(out)
}

/// Tickets already created from session `session_id`.
pub fn count_by_session(conn: &Connection, session_id: &str) -> DbResult<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM tickets WHERE created_by_session_id = ?1",
        [session_id],
        |r| r.get(0),
    )?)
}

/// `(status, title, completion_notes)` of a ticket of the project.
pub fn brief(
    conn: &Connection,
    project_id: &str,
    id: &str,
) -> DbResult<Option<(Status, String, Option<String>)>> {
    Ok(conn
        .query_row(
            "SELECT status, title, completion_notes FROM tickets WHERE id = ?1 AND project_id = ?2",
            params![id, project_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

// ---------------------------------------------------------------------------------------------
// Comments

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: String,
    pub ticket_id: String,
    pub author_user_id: String,
    pub author_persona: Option<String>,
    pub content: String,
    pub session_id: Option<String>,
    pub source: String,
    pub verdict_trusted: bool,
    pub created_at: String,
}

const COMMENT_COLUMNS: &str = "id, ticket_id, author_user_id, author_persona, content, \
    session_id, source, verdict_trusted, created_at";

fn comment_from_row(r: &Row) -> rusqlite::Result<Comment> {
    Ok(Comment {
        id: r.get(0)?,
        ticket_id: r.get(1)?,
        author_user_id: r.get(2)?,
        author_persona: r.get(3)?,
        content: r.get(4)?,
        session_id: r.get(5)?,
        source: r.get(6)?,
        verdict_trusted: r.get(7)?,
        created_at: r.get(8)?,
    })
}

pub fn insert_comment(conn: &Connection, c: &Comment, key: KeyRef) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO ticket_comments (id, ticket_id, author_user_id, author_persona, content,
            session_id, source, verdict_trusted, created_at, actor_type, service_key_id,
            service_key_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        c.id,
        c.ticket_id,
        c.author_user_id,
        c.author_persona,
        c.content,
        c.session_id,
        c.source,
        c.verdict_trusted,
        c.created_at,
        actor_type(key),
        key.map(|k| k.0),
        key.map(|k| k.1),
    ])?;
    Ok(())
}

/// A page of comments in `(created_at, id)` order after the cursor (02 §5.8).
pub fn comments(
    conn: &Connection,
    ticket_id: &str,
    since: Option<&str>,
    since_id: Option<&str>,
    limit: i64,
) -> DbResult<Vec<Comment>> {
    let base = format!("SELECT {COMMENT_COLUMNS} FROM ticket_comments WHERE ticket_id = ?1");
    let order = " ORDER BY created_at, id LIMIT ?";
    let rows = match (since, since_id) {
        (Some(s), Some(sid)) => {
            let mut stmt = conn.prepare(&format!(
                "{base} AND (created_at > ?2 OR (created_at = ?2 AND id > ?3)){order}4"
            ))?;
            let rows = stmt.query_map(params![ticket_id, s, sid, limit], comment_from_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        }
        (Some(s), None) => {
            let mut stmt = conn.prepare(&format!("{base} AND created_at > ?2{order}3"))?;
            let rows = stmt.query_map(params![ticket_id, s, limit], comment_from_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        }
        _ => {
            let mut stmt = conn.prepare(&format!("{base}{order}2"))?;
            let rows = stmt.query_map(params![ticket_id, limit], comment_from_row)?;
            rows.collect::<Result<Vec<_>, _>>()?
        }
    };
    Ok(rows)
}

/// The `n` newest comments, newest first.
pub fn recent_comments(conn: &Connection, ticket_id: &str, n: i64) -> DbResult<Vec<Comment>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COMMENT_COLUMNS} FROM ticket_comments WHERE ticket_id = ?1
         ORDER BY created_at DESC, id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![ticket_id, n], comment_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn count_comments(conn: &Connection, ticket_id: &str) -> DbResult<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM ticket_comments WHERE ticket_id = ?1",
        [ticket_id],
        |r| r.get(0),
    )?)
}

// ---------------------------------------------------------------------------------------------
// Edits, retrieval audit, watchers

/// One changed field of a ticket (values as JSON text).
pub struct Edit<'a> {
    pub id: String,
    pub ticket_id: &'a str,
    pub edited_by_user_id: &'a str,
    pub field_name: &'a str,
    pub old_value: String,
    pub new_value: String,
    pub edited_at: &'a str,
    pub lease_epoch: i64,
}

pub fn insert_edit(conn: &Connection, e: &Edit, key: KeyRef) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO ticket_edits (id, ticket_id, edited_by_user_id, edited_by_persona,
            field_name, old_value, new_value, edited_at, lease_epoch, actor_type,
            service_key_id, service_key_name)
         VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        e.id,
        e.ticket_id,
        e.edited_by_user_id,
        e.field_name,
        e.old_value,
        e.new_value,
        e.edited_at,
        e.lease_epoch,
        actor_type(key),
        key.map(|k| k.0),
        key.map(|k| k.1),
    ])?;
    Ok(())
}

/// `(field_name, old_value, new_value)` of a ticket's edits, oldest first.
pub fn edits(conn: &Connection, ticket_id: &str) -> DbResult<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT field_name, old_value, new_value FROM ticket_edits WHERE ticket_id = ?1
         ORDER BY edited_at, rowid",
    )?;
    let rows = stmt.query_map([ticket_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub struct RetrievalAudit<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub ticket_id: &'a str,
    pub persona_name: Option<&'a str>,
    pub lease_epoch: i64,
    pub tool: &'a str,
    pub context_chars: i64,
    pub created_by_user_id: &'a str,
    pub created_at: &'a str,
}

/// Whether `user_id` started the ticket's lease `lease_epoch` (a retrieval-audit row of `start`).
pub fn started_lease(
    conn: &Connection,
    ticket_id: &str,
    user_id: &str,
    lease_epoch: i64,
) -> DbResult<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM retrieval_audit_contexts \
             WHERE ticket_id = ?1 AND lease_epoch = ?2 AND created_by_user_id = ?3 LIMIT 1",
            rusqlite::params![ticket_id, lease_epoch, user_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub fn insert_retrieval_audit(conn: &Connection, a: &RetrievalAudit, key: KeyRef) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO retrieval_audit_contexts (id, project_id, ticket_id, persona_name,
            lease_epoch, tool, context_chars, created_by_user_id, actor_type, service_key_id,
            service_key_name, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        a.id,
        a.project_id,
        a.ticket_id,
        a.persona_name,
        a.lease_epoch,
        a.tool,
        a.context_chars,
        a.created_by_user_id,
        actor_type(key),
        key.map(|k| k.0),
        key.map(|k| k.1),
        a.created_at,
    ])?;
    Ok(())
}

/// Adds a watcher (no-op when already watching).
pub fn watch(conn: &Connection, ticket_id: &str, user_id: &str, at: &str) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO ticket_watchers (ticket_id, user_id, created_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![ticket_id, user_id, at])?;
    Ok(())
}

/// Removes a watcher; `false` when they were not watching.
pub fn unwatch(conn: &Connection, ticket_id: &str, user_id: &str) -> DbResult<bool> {
    Ok(conn.execute(
        "DELETE FROM ticket_watchers WHERE ticket_id = ?1 AND user_id = ?2",
        params![ticket_id, user_id],
    )? == 1)
}

/// `(user_id, email, since)` of a ticket's watchers, oldest first.
pub fn watchers(conn: &Connection, ticket_id: &str) -> DbResult<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT w.user_id, u.email, w.created_at FROM ticket_watchers w
         JOIN users u ON u.id = w.user_id WHERE w.ticket_id = ?1 ORDER BY w.created_at, w.user_id",
    )?;
    let rows = stmt.query_map([ticket_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::test_support::{migrated, query_plan};

    /// The list filters, the lookups of the lifecycle and the comment pages read through an
    /// index, never a scan of a whole table.
    #[test]
    fn ticket_queries_use_indexes() {
        let (_dir, conn) = migrated();
        for (sql, index) in [
            (
                "SELECT id FROM tickets WHERE project_id = ?1 AND status = ?2
                 ORDER BY created_at DESC, id DESC",
                "tickets_by_status",
            ),
            (
                "SELECT id FROM tickets WHERE project_id = ?1 AND assigned_to COLLATE NOCASE = ?2
                 ORDER BY created_at DESC, id DESC",
                "tickets_by_assignee",
            ),
            (
                "SELECT id FROM tickets WHERE project_id = ?1 ORDER BY created_at DESC, id DESC",
                "tickets_by_project",
            ),
            (
                "SELECT COUNT(*) FROM tickets WHERE project_id = ?1 AND assigned_to = ?2 COLLATE NOCASE
                 AND status IN ('suggested', 'open', 'in_progress', 'blocked', 'review')",
                "tickets_by_",
            ),
            (
                "SELECT t.id FROM ticket_dependencies d JOIN tickets t ON t.id = d.ticket_id
                 WHERE d.depends_on_id = ?1",
                "ticket_dependents",
            ),
            (
                "SELECT id FROM tickets WHERE parent_ticket_id = ?1 AND project_id = ?2",
                "tickets_by_",
            ),
            (
                "SELECT COUNT(*) FROM tickets WHERE created_by_session_id = ?1",
                "tickets_by_session",
            ),
            (
                "SELECT id FROM ticket_comments WHERE ticket_id = ?1
                 AND (created_at > ?2 OR (created_at = ?2 AND id > ?3)) ORDER BY created_at, id",
                "ticket_comments_by_ticket",
            ),
        ] {
            let plan = query_plan(&conn, sql);
            assert!(
                plan.contains(index) && !plan.contains("SCAN tickets") && !plan.contains("SCAN t "),
                "{sql}\n=> {plan}"
            );
        }
    }

    #[test]
    fn vocabularies_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(*s));
        }
        assert_eq!(Priority::Low.next(), Some(Priority::Medium));
        assert_eq!(Priority::Critical.next(), None);
    }
}
