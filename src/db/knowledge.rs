//! Knowledge entries of a project: insert, read, the filtered list, curation updates.

use rusqlite::types::ToSql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use crate::db::DbResult;

stored_enum!(
    /// The six kinds of knowledge (02 §3.2).
    EntryType {
        Decision => "decision",
        Pattern => "pattern",
        Discovery => "discovery",
        Convention => "convention",
        Bug => "bug",
        Dependency => "dependency",
    }
);
stored_enum!(
    /// How much an entry is trusted: extracted evidence, a promoted claim, or a note.
    ClaimClass { Evidence => "evidence", Claim => "claim", Note => "note" }
);
stored_enum!(
    Freshness { Current => "current", Aging => "aging", Stale => "stale", Superseded => "superseded" }
);
stored_enum!(AuthorClass { Human => "human", Agent => "agent" });

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub project_id: String,
    pub session_id: String,
    pub user_id: String,
    pub entry_type: EntryType,
    pub content: String,
    pub confidence: f64,
    pub source_context: Option<String>,
    pub persona_name: Option<String>,
    pub author_class: AuthorClass,
    pub created_at: String,
    pub compiled_at: Option<String>,
    pub dismissed: bool,
    pub claim_class: ClaimClass,
    pub entity_ref: Option<String>,
    pub entity_type: Option<String>,
    pub freshness_class: Freshness,
    pub superseded_by: Option<i64>,
    pub supersession_reason: Option<String>,
    pub promoted_at: Option<String>,
    pub promoted_by: Option<String>,
    pub retrieved_count: i64,
    pub used_in_answer_count: i64,
    pub compiled_count: i64,
    pub last_relevant_at: Option<String>,
    pub dismissed_at: Option<String>,
    pub dismissed_by: Option<String>,
    pub dismissed_reason: Option<String>,
}

const COLUMNS: &str = "id, project_id, session_id, user_id, entry_type, content, confidence, \
    source_context, persona_name, author_class, created_at, compiled_at, dismissed, claim_class, \
    entity_ref, entity_type, freshness_class, superseded_by, supersession_reason, promoted_at, \
    promoted_by, retrieved_count, used_in_answer_count, compiled_count, last_relevant_at, \
    dismissed_at, dismissed_by, dismissed_reason";

fn from_row(r: &Row) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: r.get(0)?,
        project_id: r.get(1)?,
        session_id: r.get(2)?,
        user_id: r.get(3)?,
        entry_type: r.get(4)?,
        content: r.get(5)?,
        confidence: r.get(6)?,
        source_context: r.get(7)?,
        persona_name: r.get(8)?,
        author_class: r.get(9)?,
        created_at: r.get(10)?,
        compiled_at: r.get(11)?,
        dismissed: r.get(12)?,
        claim_class: r.get(13)?,
        entity_ref: r.get(14)?,
        entity_type: r.get(15)?,
        freshness_class: r.get(16)?,
        superseded_by: r.get(17)?,
        supersession_reason: r.get(18)?,
        promoted_at: r.get(19)?,
        promoted_by: r.get(20)?,
        retrieved_count: r.get(21)?,
        used_in_answer_count: r.get(22)?,
        compiled_count: r.get(23)?,
        last_relevant_at: r.get(24)?,
        dismissed_at: r.get(25)?,
        dismissed_by: r.get(26)?,
        dismissed_reason: r.get(27)?,
    })
}

/// A new entry's row; who wrote it is recorded with it.
pub struct NewEntry<'a> {
    pub project_id: &'a str,
    pub session_id: &'a str,
    pub user_id: &'a str,
    pub entry_type: EntryType,
    pub content: &'a str,
    pub confidence: f64,
    pub source_context: Option<&'a str>,
    pub persona_name: Option<&'a str>,
    pub author_class: AuthorClass,
    pub claim_class: ClaimClass,
    pub entity_ref: Option<&'a str>,
    pub entity_type: Option<&'a str>,
    pub reader_authored: bool,
    pub service_key: Option<(&'a str, &'a str)>,
    pub created_at: &'a str,
}

pub fn insert(conn: &Connection, e: &NewEntry) -> DbResult<i64> {
    conn.execute(
        "INSERT INTO knowledge_entries (project_id, session_id, user_id, entry_type, content,
            confidence, source_context, persona_name, author_class, claim_class, entity_ref,
            entity_type, reader_authored, actor_type, service_key_id, service_key_name, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        params![
            e.project_id,
            e.session_id,
            e.user_id,
            e.entry_type,
            e.content,
            e.confidence,
            e.source_context,
            e.persona_name,
            e.author_class,
            e.claim_class,
            e.entity_ref,
            e.entity_type,
            e.reader_authored,
            if e.service_key.is_some() {
                "service_key"
            } else {
                "user"
            },
            e.service_key.map(|k| k.0),
            e.service_key.map(|k| k.1),
            e.created_at
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, project_id: &str, id: i64) -> DbResult<Option<Entry>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM knowledge_entries WHERE id = ?1 AND project_id = ?2"),
            params![id, project_id],
            from_row,
        )
        .optional()?)
}

/// Runs `f` over every entry of `project_id` (or of every project), oldest first, read one row
/// at a time as `f` pulls them (the knowledge index rebuild streams 100,000s; the read starts
/// at the first pull). A row that cannot be read ends the iteration and is returned as the error.
pub fn with_entries<T>(
    conn: &Connection,
    project_id: Option<&str>,
    f: impl FnOnce(&mut dyn Iterator<Item = Entry>) -> T,
) -> DbResult<T> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM knowledge_entries WHERE ?1 IS NULL OR project_id = ?1 ORDER BY id"
    ))?;
    let mut failure = None;
    let rows = stmt.query_map([project_id], from_row)?;
    let mut entries = rows.map_while(|row| match row {
        Ok(e) => Some(e),
        Err(e) => {
            failure = Some(e);
            None
        }
    });
    let out = f(&mut entries);
    drop(entries);
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(out),
    }
}

/// The entries of the project with these ids (missing ids are skipped), in id order.
pub fn by_ids(conn: &Connection, project_id: &str, ids: &[i64]) -> DbResult<Vec<Entry>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM knowledge_entries WHERE project_id = ? AND id IN ({marks})"
        ))?;
        let mut args: Vec<&dyn ToSql> = vec![&project_id];
        args.extend(chunk.iter().map(|i| i as &dyn ToSql));
        let rows = stmt.query_map(params_from_iter(args), from_row)?;
        for row in rows {
            out.push(row?);
        }
    }
    out.sort_by_key(|e| e.id);
    Ok(out)
}

/// Entries of `user_id` in the project created at or after `since` (the hourly quota).
pub fn count_by_author_since(
    conn: &Connection,
    project_id: &str,
    user_id: &str,
    since: &str,
) -> DbResult<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM knowledge_entries
         WHERE project_id = ?1 AND user_id = ?2 AND created_at >= ?3",
        params![project_id, user_id, since],
        |r| r.get(0),
    )?)
}

/// The contents of the `limit` newest entries matching `filter` (for duplicate checks).
pub fn newest_contents(
    conn: &Connection,
    project_id: &str,
    only_claims: bool,
    limit: i64,
) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT content FROM knowledge_entries
         WHERE project_id = ?1 AND dismissed = 0 AND (?2 = 0 OR claim_class = 'claim')
         ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![project_id, only_claims, limit], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Claims already recorded for one (project, session).
pub fn count_claims_for_session(
    conn: &Connection,
    project_id: &str,
    session_id: &str,
) -> DbResult<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM knowledge_entries
         WHERE project_id = ?1 AND session_id = ?2 AND claim_class = 'claim'",
        params![project_id, session_id],
        |r| r.get(0),
    )?)
}

/// Dismisses every active entry with `entity_ref` (an upsert replaced them); returns their ids.
pub fn supersede_entity(
    conn: &Connection,
    project_id: &str,
    entity_ref: &str,
    new_id: i64,
    by: &str,
    at: &str,
) -> DbResult<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "UPDATE knowledge_entries SET dismissed = 1, dismissed_at = ?5, dismissed_by = ?4,
            dismissed_reason = 'Replaced by entry ' || ?3 || ' (entity_ref upsert)',
            superseded_by = ?3, supersession_reason = 'entity_ref upsert'
         WHERE project_id = ?1 AND entity_ref = ?2 AND id <> ?3 AND dismissed = 0
           AND superseded_by IS NULL
         RETURNING id",
    )?;
    let rows = stmt.query_map(params![project_id, entity_ref, new_id, by, at], |r| {
        r.get(0)
    })?;
    let mut ids: Vec<i64> = rows.collect::<Result<_, _>>()?;
    ids.sort_unstable();
    Ok(ids)
}

/// The sort orders of the list (id descending breaks every tie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    CreatedAtDesc,
    LastRelevantAtDesc,
    ConfidenceDesc,
}

/// The list's filters (02 §3.3); `None` means "any".
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub entry_type: Option<String>,
    pub pending: Option<bool>,
    pub search: Option<String>,
    pub claim_class: Option<ClaimClass>,
    pub freshness_class: Option<Freshness>,
    pub dismissed: Option<bool>,
    pub session_id: Option<String>,
    pub persona_name: Option<String>,
    pub author_class: Option<AuthorClass>,
    pub source_filter: Option<String>,
}

/// The list's SQL and arguments, without the page window (`LIMIT`/`OFFSET`); shared by
/// [`list`] and the query-plan checks (unit test, `benches/knowledge.rs`).
pub fn list_sql(
    project_id: &str,
    f: &Filter,
    sort: Sort,
    cursor: Option<i64>,
) -> (String, Vec<Box<dyn ToSql>>) {
    let mut sql = format!("SELECT {COLUMNS} FROM knowledge_entries WHERE project_id = ?");
    let mut args: Vec<Box<dyn ToSql>> = vec![Box::new(project_id.to_string())];
    let mut add = |clause: &str, value: Box<dyn ToSql>| {
        sql.push_str(" AND ");
        sql.push_str(clause);
        args.push(value);
    };
    if let Some(t) = &f.entry_type {
        add("entry_type = ?", Box::new(t.clone()));
    }
    if let Some(c) = f.claim_class {
        add("claim_class = ?", Box::new(c));
    }
    if let Some(c) = f.freshness_class {
        add("freshness_class = ?", Box::new(c));
    }
    if let Some(d) = f.dismissed {
        add("dismissed = ?", Box::new(d));
    }
    if let Some(s) = &f.session_id {
        add("session_id = ?", Box::new(s.clone()));
    }
    if let Some(p) = &f.persona_name {
        add("persona_name = ?", Box::new(p.clone()));
    }
    if let Some(a) = f.author_class {
        add("author_class = ?", Box::new(a));
    }
    if let Some(s) = &f.search {
        // Case-insensitive for every script: both sides folded by Unicode's rules (`fold`,
        // registered on every connection), then a literal substring test.
        add("instr(fold(content), ?) > 0", Box::new(s.to_lowercase()));
    }
    if let Some(s) = &f.source_filter {
        add("instr(source_context, ?) > 0", Box::new(s.clone()));
    }
    if let Some(c) = cursor {
        add("id < ?", Box::new(c));
    }
    match f.pending {
        Some(true) => sql.push_str(" AND compiled_at IS NULL AND dismissed = 0"),
        Some(false) => sql.push_str(" AND compiled_at IS NOT NULL"),
        None => {}
    }
    sql.push_str(match sort {
        Sort::CreatedAtDesc => " ORDER BY id DESC",
        // SQLite orders NULL below every value, so DESC already puts nulls last; written
        // this way the order is the index's (knowledge_by_relevance), not a sort of the project.
        Sort::LastRelevantAtDesc => " ORDER BY last_relevant_at DESC, id DESC",
        Sort::ConfidenceDesc => " ORDER BY confidence DESC, id DESC",
    });
    (sql, args)
}

/// One page of entries: keyset (`id < cursor`) when `cursor` is set, else `offset`.
pub fn list(
    conn: &Connection,
    project_id: &str,
    f: &Filter,
    sort: Sort,
    cursor: Option<i64>,
    offset: i64,
    limit: i64,
) -> DbResult<Vec<Entry>> {
    let (mut sql, mut args) = list_sql(project_id, f, sort, cursor);
    sql.push_str(" LIMIT ? OFFSET ?");
    args.push(Box::new(limit));
    args.push(Box::new(if cursor.is_some() { 0 } else { offset }));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The retrieval side effect of a search (02 §3.3) on the returned ids.
pub fn record_retrieval(conn: &Connection, ids: &[i64], used: bool, at: &str) -> DbResult<()> {
    let sql = if used {
        "UPDATE knowledge_entries SET used_in_answer_count = used_in_answer_count + 1,
            last_relevant_at = ?2 WHERE id = ?1"
    } else {
        "UPDATE knowledge_entries SET retrieved_count = retrieved_count + 1 WHERE id = ?1 AND ?2 = ?2"
    };
    let mut stmt = conn.prepare_cached(sql)?;
    for id in ids {
        stmt.execute(params![id, at])?;
    }
    Ok(())
}

/// The dismissal fields of one entry, set as given.
pub fn set_dismissal(
    conn: &Connection,
    id: i64,
    dismissed: bool,
    at: Option<&str>,
    by: Option<&str>,
    reason: Option<&str>,
) -> DbResult<()> {
    conn.execute(
        "UPDATE knowledge_entries SET dismissed = ?2, dismissed_at = ?3, dismissed_by = ?4,
            dismissed_reason = ?5 WHERE id = ?1",
        params![id, dismissed, at, by, reason],
    )?;
    Ok(())
}

/// The contents of the `limit` newest active (not dismissed) claims: the promote duplicate window.
pub fn newest_claim_contents(
    conn: &Connection,
    project_id: &str,
    limit: i64,
) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT content FROM knowledge_entries
         WHERE project_id = ?1 AND claim_class = 'claim' AND dismissed = 0
         ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![project_id, limit], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Who last wrote a row: `None` for a user key, `(id, name)` for a service key.
pub type WrittenBy<'a> = Option<(&'a str, &'a str)>;

fn actor_type(by: WrittenBy) -> &'static str {
    if by.is_some() {
        "service_key"
    } else {
        "user"
    }
}

/// Marks an entry still valid: relevant now and `current`.
pub fn refresh(conn: &Connection, id: i64, at: &str, by: WrittenBy) -> DbResult<()> {
    conn.execute(
        "UPDATE knowledge_entries SET last_relevant_at = ?2, freshness_class = 'current',
            actor_type = ?3, service_key_id = ?4, service_key_name = ?5 WHERE id = ?1",
        params![id, at, actor_type(by), by.map(|k| k.0), by.map(|k| k.1)],
    )?;
    Ok(())
}

/// Marks `id` superseded by `by_entry` with `reason`.
pub fn mark_superseded(
    conn: &Connection,
    id: i64,
    by_entry: i64,
    reason: &str,
    by: WrittenBy,
) -> DbResult<()> {
    conn.execute(
        "UPDATE knowledge_entries SET superseded_by = ?2, supersession_reason = ?3,
            freshness_class = 'superseded', actor_type = ?4, service_key_id = ?5,
            service_key_name = ?6 WHERE id = ?1",
        params![
            id,
            by_entry,
            reason,
            actor_type(by),
            by.map(|k| k.0),
            by.map(|k| k.1)
        ],
    )?;
    Ok(())
}

/// Makes a note a claim; `confidence` raises the confidence first when given.
pub fn promote(
    conn: &Connection,
    id: i64,
    promoted_by: &str,
    at: &str,
    raise_confidence_to: Option<f64>,
    by: WrittenBy,
) -> DbResult<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE knowledge_entries SET claim_class = 'claim', promoted_at = ?3, promoted_by = ?2,
            confidence = CASE WHEN ?4 IS NOT NULL AND confidence < ?4 THEN ?4 ELSE confidence END,
            actor_type = ?5, service_key_id = ?6, service_key_name = ?7
         WHERE id = ?1",
    )?;
    stmt.execute(params![
        id,
        promoted_by,
        at,
        raise_confidence_to,
        actor_type(by),
        by.map(|k| k.0),
        by.map(|k| k.1)
    ])?;
    Ok(())
}

pub fn set_confidence(conn: &Connection, id: i64, confidence: f64) -> DbResult<()> {
    conn.execute(
        "UPDATE knowledge_entries SET confidence = ?2 WHERE id = ?1",
        params![id, confidence],
    )?;
    Ok(())
}

/// Dismisses (without audit fields) the active entries with confidence < 0.5 that were never
/// relevant and created before `before`, or last relevant before `before`.
pub fn dismiss_stale(conn: &Connection, project_id: &str, before: &str) -> DbResult<i64> {
    let n = conn.execute(
        "UPDATE knowledge_entries SET dismissed = 1
         WHERE project_id = ?1 AND dismissed = 0 AND confidence < 0.5
           AND ((last_relevant_at IS NULL AND created_at < ?2) OR last_relevant_at < ?2)",
        params![project_id, before],
    )?;
    Ok(n as i64)
}

/// A note as bulk-promote weighs it (its content is fetched only for the survivors).
#[derive(Debug, Clone)]
pub struct NoteGate {
    pub id: i64,
    /// Written by the owner, an org member or a service key.
    pub editor_authored: bool,
    pub dismissed: bool,
    pub superseded: bool,
    pub entry_type: EntryType,
    pub length: usize,
    pub confidence: f64,
}

/// Every note of the project, oldest first.
pub fn notes(
    conn: &Connection,
    project_id: &str,
    owner_id: &str,
    org_id: Option<&str>,
) -> DbResult<Vec<NoteGate>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.id,
                e.user_id = ?2 OR e.actor_type = 'service_key' OR EXISTS (
                    SELECT 1 FROM org_members m WHERE m.org_id = ?3 AND m.user_id = e.user_id),
                e.dismissed, e.superseded_by IS NOT NULL, e.entry_type, length(e.content),
                e.confidence
         FROM knowledge_entries e
         WHERE e.project_id = ?1 AND e.claim_class = 'note'
         ORDER BY e.id",
    )?;
    let rows = stmt.query_map(params![project_id, owner_id, org_id], |r| {
        Ok(NoteGate {
            id: r.get(0)?,
            editor_authored: r.get(1)?,
            dismissed: r.get(2)?,
            superseded: r.get(3)?,
            entry_type: r.get(4)?,
            length: r.get::<_, i64>(5)? as usize,
            confidence: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `(id, content)` of the given entries of the project, in id order, in one query.
pub fn contents(conn: &Connection, project_id: &str, ids: &[i64]) -> DbResult<Vec<(i64, String)>> {
    let list = format!(
        "[{}]",
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    );
    let mut stmt = conn.prepare_cached(
        "SELECT id, content FROM knowledge_entries
         WHERE project_id = ?1 AND id IN (SELECT value FROM json_each(?2))
         ORDER BY id",
    )?;
    let rows = stmt.query_map(params![project_id, list], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

stored_enum!(
    /// What a link joins: an entry (id as a decimal string) or a page (page id).
    LinkNode { Entry => "entry", Page => "page" }
);
stored_enum!(
    /// Link types in use (02 §4).
    LinkType { Supersedes => "supersedes", Contradicts => "contradicts", Contributes => "contributes" }
);

pub struct NewLink<'a> {
    pub project_id: &'a str,
    pub source: (LinkNode, &'a str),
    pub target: (LinkNode, &'a str),
    pub link_type: LinkType,
    pub confidence: f64,
    pub created_at: &'a str,
    pub by: WrittenBy<'a>,
}

/// Inserts a link; a second link between the same source and target is `DbError::Duplicate`.
pub fn insert_link(conn: &Connection, l: &NewLink) -> DbResult<i64> {
    conn.execute(
        "INSERT INTO knowledge_links (project_id, source_type, source_id, target_type, target_id,
            link_type, confidence, created_at, actor_type, service_key_id, service_key_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            l.project_id,
            l.source.0,
            l.source.1,
            l.target.0,
            l.target.1,
            l.link_type,
            l.confidence,
            l.created_at,
            actor_type(l.by),
            l.by.map(|k| k.0),
            l.by.map(|k| k.1)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// A link as its target sees it.
#[derive(Debug, Clone)]
pub struct Backlink {
    pub source_type: LinkNode,
    pub source_id: String,
    pub link_type: LinkType,
    pub confidence: f64,
}

/// Links whose target is (`target_type`, `target_id`), oldest first.
pub fn backlinks(
    conn: &Connection,
    project_id: &str,
    target_type: LinkNode,
    target_id: &str,
) -> DbResult<Vec<Backlink>> {
    let mut stmt = conn.prepare_cached(
        "SELECT source_type, source_id, link_type, confidence FROM knowledge_links
         WHERE project_id = ?1 AND target_type = ?2 AND target_id = ?3 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![project_id, target_type, target_id], |r| {
        Ok(Backlink {
            source_type: r.get(0)?,
            source_id: r.get(1)?,
            link_type: r.get(2)?,
            confidence: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use crate::db::test_support::{migrated, query_plan, query_plan_with};

    /// Every list filter (02 §3.3), each sort and the keyset cursor read through an index of
    /// the project, never a scan of the table. (`search` and `source_filter` are substring
    /// matches no index can answer: they narrow the project's rows read through its index.)
    #[test]
    fn every_list_filter_uses_an_index() {
        use super::*;
        let (_dir, conn) = migrated();
        let with = |edit: fn(&mut Filter)| {
            let mut f = Filter::default();
            edit(&mut f);
            f
        };
        let cases: Vec<(Filter, Sort, Option<i64>, &str)> = vec![
            (
                Filter::default(),
                Sort::CreatedAtDesc,
                None,
                "knowledge_by_project",
            ),
            (
                with(|f| f.entry_type = Some("bug".into())),
                Sort::CreatedAtDesc,
                None,
                "knowledge_by_type",
            ),
            (
                with(|f| f.pending = Some(true)),
                Sort::CreatedAtDesc,
                None,
                "knowledge_pending",
            ),
            (
                with(|f| f.pending = Some(false)),
                Sort::CreatedAtDesc,
                None,
                "knowledge_",
            ),
            (
                with(|f| f.claim_class = Some(ClaimClass::Note)),
                Sort::CreatedAtDesc,
                None,
                "knowledge_by_claim_class",
            ),
            (
                with(|f| f.freshness_class = Some(Freshness::Stale)),
                Sort::CreatedAtDesc,
                None,
                "knowledge_by_freshness",
            ),
            (
                with(|f| f.dismissed = Some(true)),
                Sort::CreatedAtDesc,
                None,
                "knowledge_",
            ),
            (
                with(|f| f.session_id = Some("s".into())),
                Sort::CreatedAtDesc,
                None,
                "knowledge_by_session",
            ),
            (
                with(|f| f.persona_name = Some("p".into())),
                Sort::CreatedAtDesc,
                None,
                "knowledge_by_persona",
            ),
            (
                with(|f| f.author_class = Some(AuthorClass::Agent)),
                Sort::CreatedAtDesc,
                None,
                "knowledge_",
            ),
            (
                with(|f| f.search = Some("abc".into())),
                Sort::CreatedAtDesc,
                None,
                "knowledge_",
            ),
            (
                with(|f| f.source_filter = Some("abc".into())),
                Sort::CreatedAtDesc,
                None,
                "knowledge_",
            ),
            (
                Filter::default(),
                Sort::LastRelevantAtDesc,
                None,
                "knowledge_by_relevance",
            ),
            (
                Filter::default(),
                Sort::ConfidenceDesc,
                None,
                "knowledge_by_confidence",
            ),
            (
                Filter::default(),
                Sort::CreatedAtDesc,
                Some(10),
                "knowledge_by_project",
            ),
            (
                with(|f| f.pending = Some(true)),
                Sort::CreatedAtDesc,
                Some(10),
                "knowledge_",
            ),
        ];
        for (f, sort, cursor, index) in cases {
            let (sql, args) = list_sql("proj_x", &f, sort, cursor);
            let plan = query_plan_with(&conn, &sql, params_from_iter(args.iter()));
            let bare_scan = plan
                .split(" | ")
                .any(|step| step.starts_with("SCAN knowledge_entries") && !step.contains("USING"));
            assert!(
                plan.contains(index) && !bare_scan,
                "{f:?} {sort:?} {cursor:?}\n=> {plan}"
            );
        }
    }

    /// Every curation query reads through an index of the project, never a full scan.
    #[test]
    fn curation_queries_use_indexes() {
        let (_dir, conn) = migrated();
        for (sql, index) in [
            (
                "SELECT content FROM knowledge_entries
                 WHERE project_id = ?1 AND claim_class = 'claim' AND dismissed = 0
                 ORDER BY id DESC LIMIT ?2",
                "knowledge_by_claim_class",
            ),
            (
                "SELECT e.id FROM knowledge_entries e
                 WHERE e.project_id = ?1 AND e.claim_class = 'note' ORDER BY e.id",
                "knowledge_by_claim_class",
            ),
            (
                "UPDATE knowledge_entries SET dismissed = 1
                 WHERE project_id = ?1 AND dismissed = 0 AND confidence < 0.5
                   AND ((last_relevant_at IS NULL AND created_at < ?2) OR last_relevant_at < ?2)",
                "knowledge_",
            ),
            (
                "SELECT source_type FROM knowledge_links
                 WHERE project_id = ?1 AND target_type = ?2 AND target_id = ?3 ORDER BY id",
                "knowledge_links_by_target",
            ),
        ] {
            let plan = query_plan(&conn, sql);
            assert!(
                plan.contains(index)
                    && !plan.contains("SCAN knowledge")
                    && !plan.contains("SCAN e"),
                "{sql}\n=> {plan}"
            );
        }
    }
}
