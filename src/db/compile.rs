//! Compile's rows: the knowledge entries as compile weighs and rewrites them, the compilation
//! history (`context_compilations`) and the project's compile bookkeeping and settings.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::db::knowledge::{ClaimClass, EntryType, Freshness, WrittenBy};
use crate::db::DbResult;

/// An entry as compile sees it: what its rules read and the columns they may change.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileEntry {
    pub id: i64,
    pub user_id: String,
    pub persona_name: Option<String>,
    pub entry_type: EntryType,
    pub content: String,
    pub entity_ref: Option<String>,
    /// Written by an editor (owner, org member) or a service key, not a captured-session reader.
    pub editor_authored: bool,
    pub created_at: String,
    // What compile may change:
    pub confidence: f64,
    pub claim_class: ClaimClass,
    pub dismissed: bool,
    pub superseded_by: Option<i64>,
    pub supersession_reason: Option<String>,
    pub freshness_class: Freshness,
    pub promoted_at: Option<String>,
    pub compiled_at: Option<String>,
    pub last_relevant_at: Option<String>,
    pub compiled_count: i64,
}

fn entry_from_row(r: &Row) -> rusqlite::Result<CompileEntry> {
    Ok(CompileEntry {
        id: r.get(0)?,
        user_id: r.get(1)?,
        persona_name: r.get(2)?,
        entry_type: r.get(3)?,
        content: r.get(4)?,
        entity_ref: r.get(5)?,
        editor_authored: !r.get::<_, bool>(6)?,
        created_at: r.get(7)?,
        confidence: r.get(8)?,
        claim_class: r.get(9)?,
        dismissed: r.get(10)?,
        superseded_by: r.get(11)?,
        supersession_reason: r.get(12)?,
        freshness_class: r.get(13)?,
        promoted_at: r.get(14)?,
        compiled_at: r.get(15)?,
        last_relevant_at: r.get(16)?,
        compiled_count: r.get(17)?,
    })
}

/// Every entry of the project, oldest first (through `knowledge_by_project`).
pub fn entries(conn: &Connection, project_id: &str) -> DbResult<Vec<CompileEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, user_id, persona_name, entry_type, content, entity_ref, reader_authored,
                created_at, confidence, claim_class, dismissed, superseded_by,
                supersession_reason, freshness_class, promoted_at, compiled_at, last_relevant_at,
                compiled_count
         FROM knowledge_entries WHERE project_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([project_id], entry_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Writes the columns compile may change of one entry.
pub fn save_entry(conn: &Connection, e: &CompileEntry) -> DbResult<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE knowledge_entries SET confidence = ?2, claim_class = ?3, dismissed = ?4,
            superseded_by = ?5, supersession_reason = ?6, freshness_class = ?7, promoted_at = ?8,
            compiled_at = ?9, last_relevant_at = ?10, compiled_count = ?11
         WHERE id = ?1",
    )?;
    stmt.execute(params![
        e.id,
        e.confidence,
        e.claim_class,
        e.dismissed,
        e.superseded_by,
        e.supersession_reason,
        e.freshness_class,
        e.promoted_at,
        e.compiled_at,
        e.last_relevant_at,
        e.compiled_count
    ])?;
    Ok(())
}

/// `(source_id, target_id)` of every entry→entry link of the project.
pub fn entry_links(conn: &Connection, project_id: &str) -> DbResult<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT source_id, target_id FROM knowledge_links
         WHERE project_id = ?1 AND source_type = 'entry' AND target_type = 'entry'",
    )?;
    let rows = stmt.query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The entry ids linked to a page (`contributes` links whose target is the page).
pub fn entries_linked_to_page(
    conn: &Connection,
    project_id: &str,
    page_id: &str,
) -> DbResult<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT source_id FROM knowledge_links
         WHERE project_id = ?1 AND target_type = 'page' AND target_id = ?2
           AND source_type = 'entry' ORDER BY id",
    )?;
    let rows = stmt.query_map(params![project_id, page_id], |r| r.get::<_, String>(0))?;
    let ids: Vec<String> = rows.collect::<Result<_, _>>()?;
    Ok(ids.iter().filter_map(|s| s.parse().ok()).collect())
}

/// Removes the links whose target is a page (before its concept links are rewritten).
pub fn delete_page_links(conn: &Connection, project_id: &str, page_id: &str) -> DbResult<()> {
    conn.execute(
        "DELETE FROM knowledge_links WHERE project_id = ?1 AND target_type = 'page'
           AND target_id = ?2 AND link_type = 'contributes'",
        params![project_id, page_id],
    )?;
    Ok(())
}

/// Compile's bookkeeping of a project.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileSettings {
    pub context_document: String,
    pub last_decay_at: Option<String>,
    pub kb_retention_days: i64,
    pub kb_max_context_words: i64,
    pub kb_section_page_limit: i64,
}

pub fn settings(conn: &Connection, project_id: &str) -> DbResult<Option<CompileSettings>> {
    Ok(conn
        .query_row(
            "SELECT context_document, last_decay_at, kb_retention_days, kb_max_context_words,
                    kb_section_page_limit FROM projects WHERE id = ?1",
            [project_id],
            |r| {
                Ok(CompileSettings {
                    context_document: r.get(0)?,
                    last_decay_at: r.get(1)?,
                    kb_retention_days: r.get(2)?,
                    kb_max_context_words: r.get(3)?,
                    kb_section_page_limit: r.get(4)?,
                })
            },
        )
        .optional()?)
}

pub fn set_last_decay_at(conn: &Connection, project_id: &str, at: &str) -> DbResult<()> {
    conn.execute(
        "UPDATE projects SET last_decay_at = ?2 WHERE id = ?1",
        params![project_id, at],
    )?;
    Ok(())
}

/// The project settings of `PUT /settings` (02 §4).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectSettings {
    pub auto_narrative: bool,
    pub kb_retention_days: i64,
    pub kb_max_context_words: i64,
    pub kb_section_page_limit: i64,
    pub compile_schedule: String,
    pub compile_after_claims: Option<i64>,
    pub last_scheduled_compile_at: Option<String>,
}

pub fn project_settings(conn: &Connection, project_id: &str) -> DbResult<Option<ProjectSettings>> {
    Ok(conn
        .query_row(
            "SELECT auto_narrative, kb_retention_days, kb_max_context_words,
                    kb_section_page_limit, compile_schedule, compile_after_claims,
                    last_scheduled_compile_at FROM projects WHERE id = ?1",
            [project_id],
            |r| {
                Ok(ProjectSettings {
                    auto_narrative: r.get(0)?,
                    kb_retention_days: r.get(1)?,
                    kb_max_context_words: r.get(2)?,
                    kb_section_page_limit: r.get(3)?,
                    compile_schedule: r.get(4)?,
                    compile_after_claims: r.get(5)?,
                    last_scheduled_compile_at: r.get(6)?,
                })
            },
        )
        .optional()?)
}

pub fn set_project_settings(
    conn: &Connection,
    project_id: &str,
    s: &ProjectSettings,
    at: &str,
) -> DbResult<()> {
    conn.execute(
        "UPDATE projects SET auto_narrative = ?2, kb_retention_days = ?3,
            kb_max_context_words = ?4, kb_section_page_limit = ?5, compile_schedule = ?6,
            compile_after_claims = ?7, updated_at = ?8 WHERE id = ?1",
        params![
            project_id,
            s.auto_narrative,
            s.kb_retention_days,
            s.kb_max_context_words,
            s.kb_section_page_limit,
            s.compile_schedule,
            s.compile_after_claims,
            at
        ],
    )?;
    Ok(())
}

/// Replaces the context document (compile, admin restore).
pub fn set_document(conn: &Connection, project_id: &str, document: &str, at: &str) -> DbResult<()> {
    conn.execute(
        "UPDATE projects SET context_document = ?2, updated_at = ?3 WHERE id = ?1",
        params![project_id, document, at],
    )?;
    Ok(())
}

/// What wrote a compilation row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompilationKind {
    Compile,
    Rebuild,
    Regenerate,
}

impl CompilationKind {
    fn as_str(self) -> &'static str {
        match self {
            CompilationKind::Compile => "compile",
            CompilationKind::Rebuild => "rebuild",
            CompilationKind::Regenerate => "regenerate",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Compilation {
    pub id: i64,
    pub project_id: String,
    pub user_id: String,
    pub entries_compiled: i64,
    pub context_before: Option<String>,
    pub context_after: Option<String>,
    pub source_manifest: String,
    pub trigger: String,
    pub compiled_at: String,
}

pub struct NewCompilation<'a> {
    pub project_id: &'a str,
    pub user_id: &'a str,
    pub entries_compiled: i64,
    pub context_before: Option<&'a str>,
    pub context_after: Option<&'a str>,
    pub source_manifest: &'a str,
    pub kind: CompilationKind,
    pub page_slug: Option<&'a str>,
    pub compiled_at: &'a str,
    pub by: WrittenBy<'a>,
}

pub fn insert_compilation(conn: &Connection, c: &NewCompilation) -> DbResult<i64> {
    conn.execute(
        "INSERT INTO context_compilations (project_id, user_id, entries_compiled, context_before,
            context_after, source_manifest, \"trigger\", kind, page_slug, compiled_at, actor_type,
            service_key_id, service_key_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'manual', ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            c.project_id,
            c.user_id,
            c.entries_compiled,
            c.context_before,
            c.context_after,
            c.source_manifest,
            c.kind.as_str(),
            c.page_slug,
            c.compiled_at,
            if c.by.is_some() {
                "service_key"
            } else {
                "user"
            },
            c.by.map(|k| k.0),
            c.by.map(|k| k.1)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

const COMPILATION_COLUMNS: &str = "id, project_id, user_id, entries_compiled, context_before, \
    context_after, source_manifest, \"trigger\", compiled_at";

fn compilation_from_row(r: &Row) -> rusqlite::Result<Compilation> {
    Ok(Compilation {
        id: r.get(0)?,
        project_id: r.get(1)?,
        user_id: r.get(2)?,
        entries_compiled: r.get(3)?,
        context_before: r.get(4)?,
        context_after: r.get(5)?,
        source_manifest: r.get(6)?,
        trigger: r.get(7)?,
        compiled_at: r.get(8)?,
    })
}

/// The newest `limit` compilations of the project (regenerate rows included), newest first.
pub fn compilations(conn: &Connection, project_id: &str, limit: i64) -> DbResult<Vec<Compilation>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COMPILATION_COLUMNS} FROM context_compilations WHERE project_id = ?1
         ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![project_id, limit], compilation_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The newest compilation of the context document (compile or rebuild, not a page regenerate).
pub fn latest_compilation(conn: &Connection, project_id: &str) -> DbResult<Option<Compilation>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COMPILATION_COLUMNS} FROM context_compilations
                 WHERE project_id = ?1 AND kind <> 'regenerate' ORDER BY id DESC LIMIT 1"
            ),
            [project_id],
            compilation_from_row,
        )
        .optional()?)
}

pub fn compilation(conn: &Connection, project_id: &str, id: i64) -> DbResult<Option<Compilation>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COMPILATION_COLUMNS} FROM context_compilations
                 WHERE id = ?1 AND project_id = ?2"
            ),
            params![id, project_id],
            compilation_from_row,
        )
        .optional()?)
}

pub fn count_compilations(conn: &Connection, project_id: &str) -> DbResult<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM context_compilations WHERE project_id = ?1",
        [project_id],
        |r| r.get(0),
    )?)
}

/// Sets `compiled_at` of the listed entries of the project (admin restore); returns the count.
pub fn set_compiled_at(
    conn: &Connection,
    project_id: &str,
    ids: &[i64],
    at: &str,
) -> DbResult<usize> {
    let list = format!(
        "[{}]",
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    );
    Ok(conn.execute(
        "UPDATE knowledge_entries SET compiled_at = ?3
         WHERE project_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
        params![project_id, list, at],
    )?)
}
