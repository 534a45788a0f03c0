//! Wiki pages of a project (`knowledge_pages`) and their revisions (`wiki_page_revisions`).

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::db::knowledge::WrittenBy;
use crate::db::DbResult;

/// A page written by compile for an entry type, or by a user (`section`), or a concept page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PageType {
    Section,
    Concept,
}

impl PageType {
    pub fn as_str(self) -> &'static str {
        match self {
            PageType::Section => "section",
            PageType::Concept => "concept",
        }
    }
}

impl rusqlite::types::ToSql for PageType {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for PageType {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        match v.as_str()? {
            "section" => Ok(PageType::Section),
            "concept" => Ok(PageType::Concept),
            other => Err(rusqlite::types::FromSqlError::Other(
                format!("unknown page type {other}").into(),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub id: String,
    pub project_id: String,
    pub slug: String,
    pub title: String,
    pub page_type: PageType,
    pub content: String,
    pub word_count: i64,
    pub entry_count: i64,
    pub auto_generated: bool,
    pub publish: bool,
    pub parent_slug: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, project_id, slug, title, page_type, content, word_count, entry_count, \
    auto_generated, publish, parent_slug, created_at, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<Page> {
    Ok(Page {
        id: r.get(0)?,
        project_id: r.get(1)?,
        slug: r.get(2)?,
        title: r.get(3)?,
        page_type: r.get(4)?,
        content: r.get(5)?,
        word_count: r.get(6)?,
        entry_count: r.get(7)?,
        auto_generated: r.get(8)?,
        publish: r.get(9)?,
        parent_slug: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

fn actor_type(by: WrittenBy) -> &'static str {
    if by.is_some() {
        "service_key"
    } else {
        "user"
    }
}

/// Every page of the project, last changed first.
pub fn list(conn: &Connection, project_id: &str) -> DbResult<Vec<Page>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM knowledge_pages WHERE project_id = ?1
         ORDER BY updated_at DESC, id"
    ))?;
    let rows = stmt.query_map([project_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every page (of one project, or of all), in id order, to `f` as it is read (an index
/// rebuild streams them). A read error ends the stream and is returned.
pub fn with_pages<T>(
    conn: &Connection,
    project_id: Option<&str>,
    f: impl FnOnce(&mut dyn Iterator<Item = Page>) -> T,
) -> DbResult<T> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM knowledge_pages WHERE ?1 IS NULL OR project_id = ?1 ORDER BY id"
    ))?;
    let mut failure = None;
    let rows = stmt.query_map([project_id], from_row)?;
    let mut pages = rows.map_while(|row| match row {
        Ok(p) => Some(p),
        Err(e) => {
            failure = Some(e);
            None
        }
    });
    let out = f(&mut pages);
    drop(pages);
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(out),
    }
}

/// The pages of one type.
pub fn of_type(conn: &Connection, project_id: &str, page_type: PageType) -> DbResult<Vec<Page>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM knowledge_pages WHERE project_id = ?1 AND page_type = ?2 ORDER BY slug"
    ))?;
    let rows = stmt.query_map(params![project_id, page_type], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn count_of_type(conn: &Connection, project_id: &str, page_type: PageType) -> DbResult<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM knowledge_pages WHERE project_id = ?1 AND page_type = ?2",
        params![project_id, page_type],
        |r| r.get(0),
    )?)
}

pub fn get(conn: &Connection, project_id: &str, slug: &str) -> DbResult<Option<Page>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM knowledge_pages WHERE project_id = ?1 AND slug = ?2"),
            params![project_id, slug],
            from_row,
        )
        .optional()?)
}

pub fn insert(conn: &Connection, p: &Page, by: WrittenBy) -> DbResult<()> {
    conn.execute(
        "INSERT INTO knowledge_pages (id, project_id, slug, title, page_type, content, word_count,
            entry_count, auto_generated, publish, parent_slug, created_at, updated_at, actor_type,
            service_key_id, service_key_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            p.id,
            p.project_id,
            p.slug,
            p.title,
            p.page_type,
            p.content,
            p.word_count,
            p.entry_count,
            p.auto_generated,
            p.publish,
            p.parent_slug,
            p.created_at,
            p.updated_at,
            actor_type(by),
            by.map(|k| k.0),
            by.map(|k| k.1)
        ],
    )?;
    Ok(())
}

/// Rewrites a page's row (by id) with `p`'s values.
pub fn update(conn: &Connection, p: &Page, by: WrittenBy) -> DbResult<()> {
    conn.execute(
        "UPDATE knowledge_pages SET title = ?2, page_type = ?3, content = ?4, word_count = ?5,
            entry_count = ?6, auto_generated = ?7, publish = ?8, parent_slug = ?9,
            updated_at = ?10, actor_type = ?11, service_key_id = ?12, service_key_name = ?13
         WHERE id = ?1",
        params![
            p.id,
            p.title,
            p.page_type,
            p.content,
            p.word_count,
            p.entry_count,
            p.auto_generated,
            p.publish,
            p.parent_slug,
            p.updated_at,
            actor_type(by),
            by.map(|k| k.0),
            by.map(|k| k.1)
        ],
    )?;
    Ok(())
}

pub fn set_publish(conn: &Connection, id: &str, publish: bool) -> DbResult<()> {
    conn.execute(
        "UPDATE knowledge_pages SET publish = ?2 WHERE id = ?1",
        params![id, publish],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, id: &str) -> DbResult<bool> {
    Ok(conn.execute("DELETE FROM knowledge_pages WHERE id = ?1", [id])? == 1)
}

/// A revision of a page (its content kept in the row, not returned by the history).
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub id: i64,
    pub revision_number: i64,
    pub revised_at: String,
    pub title: String,
    pub word_count: i64,
    pub user_id: String,
    pub persona_name: Option<String>,
    pub ticket_id: Option<String>,
}

pub struct NewRevision<'a> {
    pub project_id: &'a str,
    pub page_slug: &'a str,
    pub title: &'a str,
    pub content: &'a str,
    pub word_count: i64,
    pub user_id: &'a str,
    pub persona_name: Option<&'a str>,
    pub ticket_id: Option<&'a str>,
    pub revised_at: &'a str,
    pub by: WrittenBy<'a>,
}

/// Appends a revision numbered one past the page's highest; a numbering race is
/// `DbError::Duplicate`.
pub fn insert_revision(conn: &Connection, r: &NewRevision) -> DbResult<i64> {
    conn.execute(
        "INSERT INTO wiki_page_revisions (project_id, page_slug, revision_number, title,
            content_snapshot, word_count, user_id, persona_name, ticket_id, revised_at,
            actor_type, service_key_id, service_key_name)
         VALUES (?1, ?2,
            (SELECT COALESCE(MAX(revision_number), 0) + 1 FROM wiki_page_revisions
             WHERE project_id = ?1 AND page_slug = ?2),
            ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            r.project_id,
            r.page_slug,
            r.title,
            r.content,
            r.word_count,
            r.user_id,
            r.persona_name,
            r.ticket_id,
            r.revised_at,
            actor_type(r.by),
            r.by.map(|k| k.0),
            r.by.map(|k| k.1)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// One page of a slug's history, newest first; `cursor` (a revision id) returns older rows.
pub fn revisions(
    conn: &Connection,
    project_id: &str,
    slug: &str,
    cursor: Option<i64>,
    limit: i64,
) -> DbResult<Vec<Revision>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, revision_number, revised_at, title, word_count, user_id, persona_name,
                ticket_id
         FROM wiki_page_revisions
         WHERE project_id = ?1 AND page_slug = ?2
           AND (?3 IS NULL OR (revised_at, id) < (
                SELECT revised_at, id FROM wiki_page_revisions WHERE id = ?3))
         ORDER BY revised_at DESC, id DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![project_id, slug, cursor, limit], |r| {
        Ok(Revision {
            id: r.get(0)?,
            revision_number: r.get(1)?,
            revised_at: r.get(2)?,
            title: r.get(3)?,
            word_count: r.get(4)?,
            user_id: r.get(5)?,
            persona_name: r.get(6)?,
            ticket_id: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use crate::db::test_support::{migrated, query_plan};

    /// Every page, revision and compilation query reads through an index of the project.
    #[test]
    fn wiki_and_compile_queries_use_indexes() {
        let (_dir, conn) = migrated();
        for (sql, index) in [
            (
                "SELECT id FROM knowledge_pages WHERE project_id = ?1 ORDER BY updated_at DESC, id",
                "knowledge_pages_by_update",
            ),
            (
                "SELECT id FROM knowledge_pages WHERE project_id = ?1 AND slug = ?2",
                "sqlite_autoindex_knowledge_pages",
            ),
            (
                "SELECT COUNT(*) FROM knowledge_pages WHERE project_id = ?1 AND page_type = ?2",
                "knowledge_pages_by_type",
            ),
            (
                "SELECT id FROM wiki_page_revisions WHERE project_id = ?1 AND page_slug = ?2
                 ORDER BY revised_at DESC, id DESC LIMIT ?3",
                "wiki_revisions_by_page",
            ),
            (
                "SELECT id FROM context_compilations WHERE project_id = ?1 AND kind <> 'regenerate'
                 ORDER BY id DESC LIMIT 1",
                "compilations_by_project",
            ),
            (
                "SELECT id FROM knowledge_entries WHERE project_id = ?1 ORDER BY id",
                "knowledge_by_project",
            ),
        ] {
            let plan = query_plan(&conn, sql);
            assert!(
                plan.contains(index)
                    && !plan.contains("SCAN knowledge_pages")
                    && !plan.contains("SCAN wiki")
                    && !plan.contains("SCAN context"),
                "{sql}\n=> {plan}"
            );
        }
    }
}
