//! The `sessions` table: one row per session, naming its archive by hash.

use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::DbResult;
use crate::archive::Extracted;

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub blob_hash: String,
    pub blob_size_bytes: i64,
    pub title: Option<String>,
    pub alias: Option<String>,
    pub tags: String,
    pub source_tool: String,
    pub source_tool_version: Option<String>,
    pub original_session_id: Option<String>,
    pub model_provider: Option<String>,
    pub model_id: Option<String>,
    pub message_count: i64,
    pub turn_count: i64,
    pub tool_use_count: i64,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub duration_ms: Option<i64>,
    pub parent_session_id: Option<String>,
    pub retrieval_audit_id: Option<String>,
    pub dlp_scan_results: Option<String>,
    pub git_remote_normalized: String,
    pub git_branch: String,
    pub git_commit: String,
    pub persona_name: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub uploaded_at: String,
    pub deleted_at: Option<String>,
    pub deleted_by: Option<String>,
    pub delete_scope: Option<String>,
    pub purge_after: Option<String>,
}

impl SessionRow {
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

const COLUMNS: &str = "s.id, s.user_id, s.blob_hash, s.blob_size_bytes, s.title, s.alias, s.tags, \
    s.source_tool, s.source_tool_version, s.original_session_id, s.model_provider, s.model_id, \
    s.message_count, s.turn_count, s.tool_use_count, s.total_input_tokens, s.total_output_tokens, \
    s.duration_ms, s.parent_session_id, s.retrieval_audit_id, s.dlp_scan_results, \
    s.git_remote_normalized, s.created_at, s.updated_at, s.uploaded_at, s.deleted_at, \
    s.deleted_by, s.delete_scope, s.purge_after, s.git_branch, s.git_commit, s.persona_name";

fn from_row(r: &Row) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        blob_hash: r.get(2)?,
        blob_size_bytes: r.get(3)?,
        title: r.get(4)?,
        alias: r.get(5)?,
        tags: r.get(6)?,
        source_tool: r.get(7)?,
        source_tool_version: r.get(8)?,
        original_session_id: r.get(9)?,
        model_provider: r.get(10)?,
        model_id: r.get(11)?,
        message_count: r.get(12)?,
        turn_count: r.get(13)?,
        tool_use_count: r.get(14)?,
        total_input_tokens: r.get(15)?,
        total_output_tokens: r.get(16)?,
        duration_ms: r.get(17)?,
        parent_session_id: r.get(18)?,
        retrieval_audit_id: r.get(19)?,
        dlp_scan_results: r.get(20)?,
        git_remote_normalized: r.get(21)?,
        created_at: r.get(22)?,
        updated_at: r.get(23)?,
        uploaded_at: r.get(24)?,
        deleted_at: r.get(25)?,
        deleted_by: r.get(26)?,
        delete_scope: r.get(27)?,
        purge_after: r.get(28)?,
        git_branch: r.get(29)?,
        git_commit: r.get(30)?,
        persona_name: r.get(31)?,
    })
}

/// Any session with this id, whoever owns it (push needs to know the id is taken).
pub fn get(conn: &Connection, id: &str) -> DbResult<Option<SessionRow>> {
    let sql = format!("SELECT {COLUMNS} FROM sessions s WHERE s.id = ?1");
    Ok(conn.query_row(&sql, [id], from_row).optional()?)
}

/// Which sessions a lookup may see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Visibility {
    Live,
    LiveOrDeleted,
}

/// One of the owner's sessions by id, then by alias.
pub fn find_owned(
    conn: &Connection,
    user_id: &str,
    id_or_alias: &str,
    vis: Visibility,
) -> DbResult<Option<SessionRow>> {
    let live = if vis == Visibility::Live {
        "AND s.deleted_at IS NULL"
    } else {
        ""
    };
    let by_id =
        format!("SELECT {COLUMNS} FROM sessions s WHERE s.id = ?1 AND s.user_id = ?2 {live}");
    if let Some(row) = conn
        .query_row(&by_id, params![id_or_alias, user_id], from_row)
        .optional()?
    {
        return Ok(Some(row));
    }
    // Aliases are unique among live sessions; a deleted one may share an alias, newest first.
    let by_alias = format!(
        "SELECT {COLUMNS} FROM sessions s WHERE s.user_id = ?2 AND s.alias = ?1 {live}
         ORDER BY s.deleted_at IS NOT NULL, s.updated_at DESC LIMIT 1"
    );
    Ok(conn
        .query_row(&by_alias, params![id_or_alias, user_id], from_row)
        .optional()?)
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub source_tools: Vec<String>,
    pub tag: Option<String>,
    pub deleted: bool,
    pub models: Vec<String>,
    pub sort_by_model: bool,
    pub ascending: bool,
}

/// One page of the owner's sessions and the total that match.
pub fn list(
    conn: &Connection,
    user_id: &str,
    filter: &ListFilter,
    limit: i64,
    offset: i64,
) -> DbResult<(Vec<SessionRow>, i64)> {
    let mut clauses = vec![
        "s.user_id = ?".to_string(),
        "(s.deleted_at IS NOT NULL) = ?".to_string(),
    ];
    let mut args: Vec<Box<dyn ToSql>> =
        vec![Box::new(user_id.to_string()), Box::new(filter.deleted)];
    if !filter.source_tools.is_empty() {
        let marks = vec!["?"; filter.source_tools.len()].join(", ");
        clauses.push(format!("s.source_tool IN ({marks})"));
        args.extend(
            filter
                .source_tools
                .iter()
                .map(|t| Box::new(t.clone()) as Box<dyn ToSql>),
        );
    }
    if let Some(tag) = &filter.tag {
        clauses.push("EXISTS (SELECT 1 FROM json_each(s.tags) WHERE json_each.value = ?)".into());
        args.push(Box::new(tag.clone()));
    }
    if !filter.models.is_empty() {
        let mut alternatives = Vec::new();
        for model in &filter.models {
            if model == "unknown" {
                alternatives.push(
                    "s.model_id IS NULL OR s.model_id IN ('', 'unknown', '<synthetic>')"
                        .to_string(),
                );
            } else {
                alternatives.push("s.model_id = ?".to_string());
                args.push(Box::new(model.clone()));
            }
        }
        clauses.push(format!("({})", alternatives.join(" OR ")));
    }
    let direction = if filter.ascending { "ASC" } else { "DESC" };
    let order = if filter.sort_by_model {
        format!(
            "(s.model_id IS NULL OR s.model_id IN ('', 'unknown', '<synthetic>')), s.model_id {direction}, \
             s.updated_at DESC, s.id"
        )
    } else {
        format!("s.updated_at {direction}, s.id")
    };
    let wh = clauses.join(" AND ");
    let refs: Vec<&dyn ToSql> = args.iter().map(|a| a.as_ref()).collect();
    let unfiltered =
        filter.source_tools.is_empty() && filter.tag.is_none() && filter.models.is_empty();
    let total: i64 = if unfiltered {
        // Kept by triggers (V11): one row, whatever the number of sessions.
        let column = if filter.deleted { "trashed" } else { "live" };
        conn.prepare_cached(&format!(
            "SELECT {column} FROM session_counts WHERE user_id = ?1"
        ))?
        .query_row([user_id], |r| r.get(0))
        .optional()?
        .unwrap_or(0)
    } else {
        conn.query_row(
            &format!("SELECT COUNT(*) FROM sessions s WHERE {wh}"),
            &refs[..],
            |r| r.get(0),
        )?
    };
    // The page's row ids first, from the owner index alone (it holds every column the
    // filter and the newest-first order need), then only those rows: a deep page skips
    // index entries, not table rows.
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions s WHERE s.rowid IN \
         (SELECT s.rowid FROM sessions s WHERE {wh} ORDER BY {order} LIMIT {limit} OFFSET {offset}) \
         ORDER BY {order}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(&refs[..], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((rows, total))
}

/// Columns filled from an archive, in the order of [`metadata_params`].
const METADATA_COLUMNS: [&str; 26] = [
    "blob_hash",
    "blob_size_bytes",
    "title",
    "tags",
    "source_tool",
    "source_tool_version",
    "original_session_id",
    "model_provider",
    "model_id",
    "message_count",
    "turn_count",
    "tool_use_count",
    "total_input_tokens",
    "total_output_tokens",
    "duration_ms",
    "parent_session_id",
    "persona_name",
    "ticket_id",
    "retrieval_audit_id",
    "rules_source",
    "rules_version",
    "rules_hash",
    "instruction_artifacts",
    "git_remote_normalized",
    "git_branch",
    "git_commit",
];

/// A pushed archive: its blob and what was read from it.
pub struct Contents<'a> {
    pub blob_hash: &'a str,
    pub blob_size_bytes: i64,
    pub meta: &'a Extracted,
    pub git_remote_normalized: &'a str,
}

fn metadata_params<'a>(
    c: &'a Contents<'a>,
    tags: &'a dyn ToSql,
    artifacts: &'a dyn ToSql,
) -> Vec<&'a dyn ToSql> {
    let m = c.meta;
    vec![
        &c.blob_hash,
        &c.blob_size_bytes,
        &m.title,
        tags,
        &m.source_tool,
        &m.source_tool_version,
        &m.original_session_id,
        &m.model_provider,
        &m.model_id,
        &m.message_count,
        &m.turn_count,
        &m.tool_use_count,
        &m.total_input_tokens,
        &m.total_output_tokens,
        &m.duration_ms,
        &m.parent_session_id,
        &m.persona_name,
        &m.ticket_id,
        &m.retrieval_audit_id,
        &m.rules_source,
        &m.rules_version,
        &m.rules_hash,
        artifacts,
        &c.git_remote_normalized,
        &m.git_branch,
        &m.git_commit,
    ]
}

pub fn insert(conn: &Connection, id: &str, user_id: &str, c: &Contents, now: &str) -> DbResult<()> {
    let tags = serde_json::to_string(&c.meta.tags).unwrap_or_else(|_| "[]".into());
    let artifacts = c.meta.instruction_artifacts.to_string();
    let mut values = metadata_params(c, &tags, &artifacts);
    let id = id.to_string();
    let user_id = user_id.to_string();
    let now = now.to_string();
    values.extend([&id as &dyn ToSql, &user_id, &now, &now, &now]);
    let columns = METADATA_COLUMNS.join(", ");
    let marks = vec!["?"; values.len()].join(", ");
    conn.execute(
        &format!("INSERT INTO sessions ({columns}, id, user_id, created_at, updated_at, uploaded_at) VALUES ({marks})"),
        &values[..],
    )?;
    Ok(())
}

/// Replaces a session's archive and metadata; clears any soft delete.
pub fn replace_contents(conn: &Connection, id: &str, c: &Contents, now: &str) -> DbResult<()> {
    let tags = serde_json::to_string(&c.meta.tags).unwrap_or_else(|_| "[]".into());
    let artifacts = c.meta.instruction_artifacts.to_string();
    let mut values = metadata_params(c, &tags, &artifacts);
    let id = id.to_string();
    let now = now.to_string();
    values.extend([&now as &dyn ToSql, &now, &id]);
    let sets: Vec<String> = METADATA_COLUMNS
        .iter()
        .map(|c| format!("{c} = ?"))
        .collect();
    conn.execute(
        &format!(
            "UPDATE sessions SET {}, updated_at = ?, uploaded_at = ?, deleted_at = NULL,
                    deleted_by = NULL, delete_scope = NULL, purge_after = NULL
             WHERE id = ?",
            sets.join(", ")
        ),
        &values[..],
    )?;
    Ok(())
}

pub fn soft_delete(
    conn: &Connection,
    id: &str,
    by: &str,
    scope: &str,
    at: &str,
    purge_after: &str,
) -> DbResult<()> {
    conn.execute(
        "UPDATE sessions SET deleted_at = ?2, deleted_by = ?3, delete_scope = ?4, purge_after = ?5
         WHERE id = ?1",
        params![id, at, by, scope, purge_after],
    )?;
    Ok(())
}

/// Clears a soft delete. The alias is dropped if a live session took it meanwhile.
pub fn restore(conn: &Connection, id: &str) -> DbResult<()> {
    conn.execute(
        "UPDATE sessions SET deleted_at = NULL, deleted_by = NULL, delete_scope = NULL,
                purge_after = NULL,
                alias = CASE WHEN alias IS NOT NULL AND EXISTS (
                            SELECT 1 FROM sessions o WHERE o.user_id = sessions.user_id
                            AND o.alias = sessions.alias AND o.deleted_at IS NULL AND o.id <> sessions.id)
                        THEN NULL ELSE alias END
         WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

/// `true` when another live session of the user already has this alias.
pub fn alias_taken(
    conn: &Connection,
    user_id: &str,
    alias: &str,
    except_id: &str,
) -> DbResult<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sessions WHERE user_id = ?1 AND alias = ?2 AND deleted_at IS NULL AND id <> ?3",
            params![user_id, alias, except_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The editable fields of `PATCH /sessions/{id}` and the alias routes; `None` leaves a field.
#[derive(Debug, Default)]
pub struct Edit {
    pub title: Option<String>,
    pub tags: Option<Vec<String>>,
    pub alias: Option<Option<String>>,
}

pub fn edit(conn: &Connection, id: &str, edit: &Edit, now: &str) -> DbResult<()> {
    let tags = edit
        .tags
        .as_ref()
        .map(|t| serde_json::to_string(t).unwrap_or_else(|_| "[]".into()));
    conn.execute(
        "UPDATE sessions SET title = COALESCE(?2, title), tags = COALESCE(?3, tags),
                alias = CASE WHEN ?4 THEN ?5 ELSE alias END, updated_at = ?6
         WHERE id = ?1",
        params![
            id,
            edit.title,
            tags,
            edit.alias.is_some(),
            edit.alias.clone().flatten(),
            now
        ],
    )?;
    Ok(())
}

/// A claimed handoff: a new session for `new_user` that shares the source's archive blob
/// (a row is copied, never the bytes). Project, alias, persona and ticket are not carried over.
pub fn copy_for_claim(
    conn: &Connection,
    source_id: &str,
    new_id: &str,
    new_user: &str,
    now: &str,
) -> DbResult<()> {
    conn.execute(
        "INSERT INTO sessions (id, user_id, blob_hash, blob_size_bytes, title, tags, source_tool,
                source_tool_version, original_session_id, model_provider, model_id, message_count,
                turn_count, tool_use_count, total_input_tokens, total_output_tokens, duration_ms,
                parent_session_id, rules_source, rules_version, rules_hash, instruction_artifacts,
                git_remote_normalized, git_branch, git_commit, created_at, updated_at, uploaded_at)
         SELECT ?2, ?3, blob_hash, blob_size_bytes, title, tags, source_tool, source_tool_version,
                ?1, model_provider, model_id, message_count, turn_count, tool_use_count,
                total_input_tokens, total_output_tokens, duration_ms, ?1, rules_source, rules_version,
                rules_hash, instruction_artifacts, git_remote_normalized, git_branch, git_commit,
                created_at, ?4, ?4
         FROM sessions WHERE id = ?1",
        params![source_id, new_id, new_user, now],
    )?;
    Ok(())
}

/// Whether any session row (live or in the trash) names the archive `hash` (garbage
/// collection asks this before deleting a blob).
pub fn names_blob(conn: &Connection, hash: &str) -> DbResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM sessions WHERE blob_hash = ?1 LIMIT 1")?
        .exists([hash])?)
}

/// Totals for metrics: live sessions, distinct archives referenced, and their bytes.
pub fn storage_totals(conn: &Connection) -> DbResult<(i64, i64, i64)> {
    let live: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sessions WHERE deleted_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    let (archives, bytes) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM
            (SELECT blob_hash, MAX(blob_size_bytes) AS size FROM sessions GROUP BY blob_hash)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((live, archives, bytes))
}

/// Every live session, for rebuilding the search index.
pub fn all_live(conn: &Connection) -> DbResult<Vec<SessionRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM sessions s WHERE s.deleted_at IS NULL ORDER BY s.rowid");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
