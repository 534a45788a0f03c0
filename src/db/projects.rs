//! Projects and their linked repositories.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::db::DbResult;

#[derive(Debug, Clone)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub git_remote_normalized: String,
    pub context_document: String,
    pub owner_id: String,
    pub org_id: Option<String>,
    pub auto_narrative: bool,
    pub kb_retention_days: i64,
    pub kb_max_context_words: i64,
    pub kb_section_page_limit: i64,
    pub compile_schedule: String,
    pub compile_after_claims: Option<i64>,
    pub last_scheduled_compile_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "p.id, p.name, p.git_remote_normalized, p.context_document, p.owner_id, \
    p.org_id, p.auto_narrative, p.kb_retention_days, p.kb_max_context_words, \
    p.kb_section_page_limit, p.compile_schedule, p.compile_after_claims, \
    p.last_scheduled_compile_at, p.created_at, p.updated_at";

fn from_row(r: &Row) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        name: r.get(1)?,
        git_remote_normalized: r.get(2)?,
        context_document: r.get(3)?,
        owner_id: r.get(4)?,
        org_id: r.get(5)?,
        auto_narrative: r.get(6)?,
        kb_retention_days: r.get(7)?,
        kb_max_context_words: r.get(8)?,
        kb_section_page_limit: r.get(9)?,
        compile_schedule: r.get(10)?,
        compile_after_claims: r.get(11)?,
        last_scheduled_compile_at: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
    })
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub id: String,
    pub project_id: String,
    pub git_remote_normalized: String,
    pub provider: Option<String>,
    pub provider_repo_id: Option<String>,
    pub is_primary: bool,
    pub verified: bool,
    pub verification_method: Option<String>,
    pub added_by_user_id: Option<String>,
    pub created_at: String,
}

/// Inserts a project and its primary repository row.
pub fn insert(conn: &Connection, p: &Project, repo: &Repo) -> DbResult<()> {
    conn.execute(
        "INSERT INTO projects (id, name, git_remote_normalized, context_document, owner_id, org_id,
            auto_narrative, kb_retention_days, kb_max_context_words, kb_section_page_limit,
            compile_schedule, compile_after_claims, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            p.id,
            p.name,
            p.git_remote_normalized,
            p.context_document,
            p.owner_id,
            p.org_id,
            p.auto_narrative,
            p.kb_retention_days,
            p.kb_max_context_words,
            p.kb_section_page_limit,
            p.compile_schedule,
            p.compile_after_claims,
            p.created_at,
            p.updated_at
        ],
    )?;
    conn.execute(
        "INSERT INTO project_repos (id, project_id, git_remote_normalized, provider,
            provider_repo_id, is_primary, verified, verification_method, added_by_user_id,
            created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            repo.id,
            repo.project_id,
            repo.git_remote_normalized,
            repo.provider,
            repo.provider_repo_id,
            repo.is_primary,
            repo.verified,
            repo.verification_method,
            repo.added_by_user_id,
            repo.created_at
        ],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> DbResult<Option<Project>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM projects p WHERE p.id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

/// The project a remote names: a linked repository first, then the primary-remote column.
pub fn by_remote(conn: &Connection, remote: &str) -> DbResult<Option<Project>> {
    let linked = conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM project_repos r JOIN projects p ON p.id = r.project_id
                 WHERE r.git_remote_normalized = ?1"
            ),
            [remote],
            from_row,
        )
        .optional()?;
    if linked.is_some() {
        return Ok(linked);
    }
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM projects p WHERE p.git_remote_normalized = ?1
                 ORDER BY p.created_at LIMIT 1"
            ),
            [remote],
            from_row,
        )
        .optional()?)
}

/// Every project a remote names, through a linked repository or the primary-remote column,
/// oldest first (more than one only in a database where the two disagree).
pub fn all_by_remote(conn: &Connection, remote: &str) -> DbResult<Vec<Project>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM projects p
         WHERE p.id IN (SELECT project_id FROM project_repos WHERE git_remote_normalized = ?1)
            OR p.git_remote_normalized = ?1
         ORDER BY p.created_at, p.id"
    ))?;
    let rows = stmt.query_map([remote], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether a project or a linked repository already uses `remote`.
pub fn remote_taken(conn: &Connection, remote: &str) -> DbResult<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM project_repos WHERE git_remote_normalized = ?1)
             OR EXISTS (SELECT 1 FROM projects WHERE git_remote_normalized = ?1)",
        [remote],
        |r| r.get(0),
    )?)
}

pub fn repos(conn: &Connection, project_id: &str) -> DbResult<Vec<Repo>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, project_id, git_remote_normalized, provider, provider_repo_id, is_primary,
                verified, verification_method, added_by_user_id, created_at
         FROM project_repos WHERE project_id = ?1 ORDER BY is_primary DESC, created_at, id",
    )?;
    let rows = stmt.query_map([project_id], |r| {
        Ok(Repo {
            id: r.get(0)?,
            project_id: r.get(1)?,
            git_remote_normalized: r.get(2)?,
            provider: r.get(3)?,
            provider_repo_id: r.get(4)?,
            is_primary: r.get(5)?,
            verified: r.get(6)?,
            verification_method: r.get(7)?,
            added_by_user_id: r.get(8)?,
            created_at: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The remotes of a project, as a subquery on `?pid` (linked repositories and the primary).
const REMOTES_OF: &str = "SELECT git_remote_normalized FROM project_repos WHERE project_id = p.id
     UNION SELECT p.git_remote_normalized WHERE p.git_remote_normalized <> ''";

/// Whether `user_id` has a live session on one of the project's remotes.
pub fn has_session_on(conn: &Connection, project_id: &str, user_id: &str) -> DbResult<bool> {
    Ok(conn.query_row(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM projects p JOIN sessions s
                ON s.git_remote_normalized IN ({REMOTES_OF})
             WHERE p.id = ?1 AND s.user_id = ?2 AND s.deleted_at IS NULL)"
        ),
        params![project_id, user_id],
        |r| r.get(0),
    )?)
}

/// Every project `user_id` may read (owner, org member, or a captured session on one of its
/// remotes), newest change first, each with the caller's live session count on its remotes.
pub fn readable_by(conn: &Connection, user_id: &str) -> DbResult<Vec<(Project, i64)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "WITH counts AS (
             SELECT p.id AS pid, COUNT(s.id) AS n FROM projects p
             JOIN sessions s ON s.git_remote_normalized IN ({REMOTES_OF})
             WHERE s.user_id = ?1 AND s.deleted_at IS NULL GROUP BY p.id)
         SELECT {COLUMNS}, COALESCE(c.n, 0) FROM projects p LEFT JOIN counts c ON c.pid = p.id
         WHERE p.owner_id = ?1
            OR p.org_id IN (SELECT org_id FROM org_members WHERE user_id = ?1)
            OR c.n > 0
         ORDER BY p.updated_at DESC, p.id"
    ))?;
    let rows = stmt.query_map([user_id], |r| Ok((from_row(r)?, r.get(15)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn set_context(conn: &Connection, id: &str, document: &str, at: &str) -> DbResult<()> {
    conn.execute(
        "UPDATE projects SET context_document = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, document, at],
    )?;
    Ok(())
}

pub fn rename(conn: &Connection, id: &str, name: &str, at: &str) -> DbResult<()> {
    conn.execute(
        "UPDATE projects SET name = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, name, at],
    )?;
    Ok(())
}

/// Deletes a project; its repositories and entries go with it (foreign keys cascade).
pub fn delete(conn: &Connection, id: &str) -> DbResult<bool> {
    Ok(conn.execute("DELETE FROM projects WHERE id = ?1", [id])? == 1)
}
