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
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
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
        .prepare_cached(&by_id)?
        .query_row(params![id_or_alias, user_id], from_row)
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
        .prepare_cached(&by_alias)?
        .query_row(params![id_or_alias, user_id], from_row)
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
    let wh = clauses.join(" AND ");
    let unfiltered = filter.source_tools.is_empty()
        && filter.tag.is_none()
        && filter.models.is_empty()
        && !filter.sort_by_model;
    // One snapshot for the total, the list version and the page.
    let tx = conn.unchecked_transaction()?;
    let (total, version) = if unfiltered {
        // Kept by triggers (V11, V13): one row, whatever the number of sessions.
        let column = if filter.deleted { "trashed" } else { "live" };
        tx.prepare_cached(&format!(
            "SELECT {column}, version FROM session_counts WHERE user_id = ?1"
        ))?
        .query_row([user_id], |r| Ok((r.get(0)?, Some(r.get::<_, i64>(1)?))))
        .optional()?
        .unwrap_or((0, None))
    } else {
        let refs: Vec<&dyn ToSql> = args.iter().map(|a| a.as_ref()).collect();
        let total = tx.query_row(
            &format!("SELECT COUNT(*) FROM sessions s WHERE {wh}"),
            &refs[..],
            |r| r.get(0),
        )?;
        (total, None)
    };
    // An unfiltered page starts from the nearest remembered row before it (keyset), when the
    // list has not changed since; the rest of the way is an OFFSET.
    let marks_key = match (version, tx.path()) {
        (Some(version), Some(path)) => Some((
            MarkKey {
                db: path.to_string(),
                user_id: user_id.to_string(),
                deleted: filter.deleted,
                ascending: filter.ascending,
            },
            version,
        )),
        _ => None,
    };
    let from = marks_key
        .as_ref()
        .and_then(|(key, version)| marks::nearest(key, *version, offset));
    let mut keyset_args: Vec<&dyn ToSql> = args.iter().map(|a| a.as_ref()).collect();
    let (keyset, skip) = match &from {
        Some((at, updated_at, id)) => {
            keyset_args.extend([updated_at as &dyn ToSql, updated_at, id]);
            let clause = if filter.ascending {
                " AND s.updated_at >= ? AND (s.updated_at > ? OR s.id < ?)"
            } else {
                " AND s.updated_at <= ? AND (s.updated_at < ? OR s.id > ?)"
            };
            (Some(clause), offset - at)
        }
        None => (None, offset),
    };
    let sql = page_ids_sql(filter, &wh, keyset, limit, skip);
    let ids = {
        let mut page = tx.prepare_cached(&sql)?;
        let ids = page.query_map(&keyset_args[..], |r| r.get::<_, i64>(0))?;
        ids.collect::<rusqlite::Result<Vec<_>>>()?
    };
    let mut by_rowid = tx.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sessions s WHERE s.rowid = ?1"
    ))?;
    let rows = ids
        .iter()
        .map(|rowid| by_rowid.query_row([rowid], from_row))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    drop(by_rowid);
    tx.finish()?;
    if let (Some((key, version)), Some(last)) = (marks_key, rows.last()) {
        marks::remember(
            key,
            version,
            offset + rows.len() as i64,
            &last.updated_at,
            &last.id,
        );
    }
    Ok((rows, total))
}

/// The row ids of one page, in order, from the owner index alone (it holds every column the
/// filter and the order by time need): a deep page skips index entries, never table rows.
/// Oldest first is that index read backwards, so ties in `updated_at` come in the reverse id
/// order of newest first (the exact reverse of that list) and neither order needs a sort.
/// `keyset` (bound after the filter's parameters) starts the page after a remembered row.
fn page_ids_sql(
    filter: &ListFilter,
    wh: &str,
    keyset: Option<&str>,
    limit: i64,
    offset: i64,
) -> String {
    let order = match (filter.sort_by_model, filter.ascending) {
        (true, ascending) => {
            let direction = if ascending { "ASC" } else { "DESC" };
            format!(
                "(s.model_id IS NULL OR s.model_id IN ('', 'unknown', '<synthetic>')), \
                 s.model_id {direction}, s.updated_at DESC, s.id"
            )
        }
        (false, false) => "s.updated_at DESC, s.id".to_string(),
        (false, true) => "s.updated_at ASC, s.id DESC".to_string(),
    };
    let keyset = keyset.unwrap_or_default();
    format!(
        "SELECT s.rowid FROM sessions s WHERE {wh}{keyset} ORDER BY {order} \
         LIMIT {limit} OFFSET {offset}"
    )
}

/// Which list a keyset mark belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MarkKey {
    /// The database file (several databases may be open in one process).
    db: String,
    user_id: String,
    deleted: bool,
    ascending: bool,
}

/// Remembered page boundaries of unfiltered session lists: for a list at a version, the
/// order key (`updated_at`, `id`) of the row that ends at each offset a page ended at.
/// Bounded: at most [`marks::LISTS`] lists of [`marks::PER_LIST`] marks each; a list whose
/// version moved on forgets its marks.
mod marks {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::{LazyLock, Mutex};

    use super::MarkKey;

    pub const LISTS: usize = 4_096;
    pub const PER_LIST: usize = 1_024;

    struct Marks {
        version: i64,
        /// Rows before the mark → the order key of the last of them.
        at: BTreeMap<i64, (String, String)>,
    }

    static MARKS: LazyLock<Mutex<HashMap<MarkKey, Marks>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));

    fn lock() -> std::sync::MutexGuard<'static, HashMap<MarkKey, Marks>> {
        MARKS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The mark nearest before `offset` (and not 0) for this list at `version`: how many rows
    /// it stands after, and its `updated_at` and `id`.
    pub fn nearest(key: &MarkKey, version: i64, offset: i64) -> Option<(i64, String, String)> {
        if offset < 1 {
            return None;
        }
        let all = lock();
        let marks = all.get(key).filter(|m| m.version == version)?;
        let (at, (updated_at, id)) = marks.at.range(1..=offset).next_back()?;
        Some((*at, updated_at.clone(), id.clone()))
    }

    /// Remembers that the first `at` rows of the list at `version` end with this row.
    pub fn remember(key: MarkKey, version: i64, at: i64, updated_at: &str, id: &str) {
        let mut all = lock();
        if all.len() >= LISTS && !all.contains_key(&key) {
            all.clear();
        }
        let marks = all.entry(key).or_insert_with(|| Marks {
            version,
            at: BTreeMap::new(),
        });
        if marks.version != version {
            if marks.version > version {
                return;
            }
            marks.version = version;
            marks.at.clear();
        }
        if marks.at.len() >= PER_LIST {
            marks.at.clear();
        }
        marks
            .at
            .insert(at, (updated_at.to_string(), id.to_string()));
    }
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
    conn.prepare_cached(&format!(
        "INSERT INTO sessions ({columns}, id, user_id, created_at, updated_at, uploaded_at) VALUES ({marks})"
    ))?
    .execute(&values[..])?;
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
    conn.prepare_cached(&format!(
        "UPDATE sessions SET {}, updated_at = ?, uploaded_at = ?, deleted_at = NULL,
                deleted_by = NULL, delete_scope = NULL, purge_after = NULL
         WHERE id = ?",
        sets.join(", ")
    ))?
    .execute(&values[..])?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(
                rusqlite::params_from_iter((0..stmt.parameter_count()).map(|_| "x")),
                |r| r.get::<_, String>(3),
            )
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.join("; ")
    }

    fn store(dir: &tempfile::TempDir) -> Connection {
        let conn = crate::db::open_writer_connection(&dir.path().join("db.sqlite")).unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, email, tier, created_at) VALUES
                ('u1', 'a@example.com', 'free', '2026-01-01T00:00:00.000000Z'),
                ('u2', 'b@example.com', 'free', '2026-01-01T00:00:00.000000Z');",
        )
        .unwrap();
        conn
    }

    /// `n` sessions of `user`, with many ties in `updated_at` (ten per instant).
    fn add(conn: &Connection, user: &str, n: usize) {
        for i in 0..n {
            let at = format!("2026-02-01T00:00:{:02}.000000Z", i / 10);
            conn.execute(
                "INSERT INTO sessions (id, user_id, blob_hash, blob_size_bytes, created_at, \
                 updated_at, uploaded_at) VALUES (?1, ?2, 'h', 1, ?3, ?3, ?3)",
                params![format!("ses_{user}_{i:04}"), user, at],
            )
            .unwrap();
        }
    }

    /// The live list of u1 as a full sort orders it.
    fn oracle(conn: &Connection, ascending: bool) -> Vec<String> {
        let order = if ascending {
            "updated_at ASC, id DESC"
        } else {
            "updated_at DESC, id ASC"
        };
        let sql = format!(
            "SELECT id FROM sessions WHERE user_id = 'u1' AND deleted_at IS NULL ORDER BY {order}"
        );
        let mut stmt = conn.prepare(&sql).unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    fn ids(conn: &Connection, filter: &ListFilter, limit: i64, offset: i64) -> Vec<String> {
        let (rows, _) = list(conn, "u1", filter, limit, offset).unwrap();
        rows.into_iter().map(|r| r.id).collect()
    }

    #[test]
    fn both_orders_are_read_from_the_owner_index_without_a_sort() {
        let dir = tempfile::tempdir().unwrap();
        let conn = store(&dir);
        let wh = "s.user_id = ? AND (s.deleted_at IS NOT NULL) = ?";
        for ascending in [false, true] {
            let filter = ListFilter {
                ascending,
                ..ListFilter::default()
            };
            for keyset in [
                None,
                Some(" AND s.updated_at >= ? AND (s.updated_at > ? OR s.id < ?)"),
            ] {
                let keyset = keyset.map(|k| {
                    if ascending {
                        k.to_string()
                    } else {
                        k.replace(">=", "<=")
                            .replace("> ?", "< ?")
                            .replace("s.id < ?", "s.id > ?")
                    }
                });
                let sql = page_ids_sql(&filter, wh, keyset.as_deref(), 20, 40);
                let plan = plan(&conn, &sql);
                assert!(
                    plan.contains("USING COVERING INDEX sessions_by_owner"),
                    "{plan}"
                );
                assert!(!plan.contains("TEMP B-TREE"), "{ascending}: {plan}");
            }
        }
    }

    #[test]
    fn keyset_pages_are_the_offset_pages() {
        let dir = tempfile::tempdir().unwrap();
        let conn = store(&dir);
        add(&conn, "u1", 237);
        add(&conn, "u2", 20);
        for ascending in [false, true] {
            let filter = ListFilter {
                ascending,
                ..ListFilter::default()
            };
            // The whole list in one page (no mark is used for offset 0), as a plain sort says.
            let all = ids(&conn, &filter, 1_000, 0);
            assert_eq!(all, oracle(&conn, ascending));
            assert_eq!(all.len(), 237);
            for page_size in [7i64, 20, 50] {
                // Walking page by page (marks from each page), then jumping back and forth.
                let mut walked = Vec::new();
                let mut offset = 0;
                while offset < 237 {
                    walked.extend(ids(&conn, &filter, page_size, offset));
                    offset += page_size;
                }
                assert_eq!(walked, all, "page size {page_size}");
                for offset in [150, 3, 236, 200, 49, 237, 500] {
                    let page = ids(&conn, &filter, page_size, offset);
                    let end = (offset + page_size).min(237).max(offset.min(237));
                    assert_eq!(page, all[offset.min(237) as usize..end as usize].to_vec());
                }
            }
            // A change moves the order on: a touched session comes first (or last), and marks
            // taken before the change are not used.
            let touched = all[100].clone();
            conn.execute(
                "UPDATE sessions SET updated_at = '2026-03-01T00:00:00.000000Z' WHERE id = ?1",
                [&touched],
            )
            .unwrap();
            assert_eq!(
                ids(&conn, &filter, 20, 100),
                oracle(&conn, ascending)[100..120]
            );
            let walked: Vec<String> = (0..12)
                .flat_map(|p| ids(&conn, &filter, 20, p * 20))
                .collect();
            assert_eq!(walked, oracle(&conn, ascending));
        }
        // Trashing changes the live list too.
        conn.execute(
            "UPDATE sessions SET deleted_at = '2026-03-01T00:00:00.000000Z' WHERE id = 'ses_u1_0230'",
            [],
        )
        .unwrap();
        let live = ids(&conn, &ListFilter::default(), 1_000, 0);
        assert_eq!(live.len(), 236);
        assert_eq!(
            ids(&conn, &ListFilter::default(), 20, 220),
            live[220..].to_vec()
        );
        assert_eq!(
            list(&conn, "u1", &ListFilter::default(), 5, 0).unwrap().1,
            236
        );
    }
}
