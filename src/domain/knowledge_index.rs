//! Keeping the knowledge index (`search::knowledge`) in step with the entries and the wiki
//! pages, and asking it which entries (or pages) of a project are relevant to a piece of text.
//!
//! The database is the truth. After a write commits, the route queues the entries it touched
//! ([`reindex_entries`]), a batch change re-reads its project ([`reindex_project`]), a project
//! delete drops the project's documents ([`forget_project`]); a page write (put, regenerate,
//! delete, compile's section and concept pages) re-reads the project's pages
//! ([`pages_touched`]); [`rebuild`] refills the whole index, entries and pages, from the
//! database (`reindex`, and at start when the index is missing, corrupt or of an older schema).
//!
//! No route of the API document searches knowledge or pages by relevance (02 §3–§4 have no
//! page search; `GET /sessions/search` searches sessions only and keeps its shape): the
//! entries list's `search` filter is a substring match by contract and stays in SQL.
//! [`relevant`] and [`relevant_pages`] are for the server's own use (context for agents: the
//! entries and pages that bear on a ticket or a question).

use crate::db::knowledge::{self, Entry};
use crate::db::wiki::{self, Page};
use crate::db::Db;
use crate::domain::{DomainError, DomainResult};
use crate::search::knowledge::{
    EntryStatus, IndexDoc, KnowledgeDoc, KnowledgeIndex, KnowledgeQuery, PageDoc, PageQuery,
};

/// The index document of an entry.
pub fn doc(e: &Entry) -> KnowledgeDoc {
    let status = if e.dismissed {
        EntryStatus::Dismissed
    } else if e.superseded_by.is_some() {
        EntryStatus::Superseded
    } else {
        EntryStatus::Active
    };
    KnowledgeDoc {
        entry_id: e.id,
        project_id: e.project_id.clone(),
        entry_type: e.entry_type.as_str().to_string(),
        claim_class: e.claim_class.as_str().to_string(),
        status,
        content: e.content.clone(),
        entity_ref: e.entity_ref.clone(),
    }
}

/// The index document of a page.
pub fn page_doc(p: &Page) -> PageDoc {
    PageDoc {
        page_id: p.id.clone(),
        project_id: p.project_id.clone(),
        title: p.title.clone(),
        content: p.content.clone(),
    }
}

/// Re-indexes every page of a project from the database (after a page write committed).
pub async fn reindex_pages(db: &Db, index: &KnowledgeIndex, project_id: &str) -> DomainResult<()> {
    let pid = project_id.to_string();
    let pages = db.read(move |conn| wiki::list(conn, &pid)).await?;
    index.replace_pages(project_id, pages.iter().map(page_doc).collect());
    Ok(())
}

/// What a route calls after a page write committed. Never fails the request (see [`touched`]).
pub async fn pages_touched(db: &Db, index: &KnowledgeIndex, project_id: &str) {
    if let Err(e) = reindex_pages(db, index, project_id).await {
        tracing::error!(project = %project_id, error = %e, "knowledge index update (pages) failed; run `reindex` to repair");
    }
}

/// Re-indexes these entries of a project from the database (after the write committed).
pub async fn reindex_entries(
    db: &Db,
    index: &KnowledgeIndex,
    project_id: &str,
    ids: Vec<i64>,
) -> DomainResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let pid = project_id.to_string();
    let entries = db
        .read(move |conn| knowledge::by_ids(conn, &pid, &ids))
        .await?;
    for e in &entries {
        index.upsert(doc(e));
    }
    Ok(())
}

/// What a route calls after its write committed: queues the touched entries (`None`: the
/// whole project) for the index. Never fails the request (the write is done; an index that
/// misses it is repaired by `reindex`): a read error is logged.
pub async fn touched(db: &Db, index: &KnowledgeIndex, project_id: &str, ids: Option<Vec<i64>>) {
    let result = match ids {
        Some(ids) => reindex_entries(db, index, project_id, ids).await,
        None => reindex_project(db, index, project_id).await,
    };
    if let Err(e) = result {
        tracing::error!(project = %project_id, error = %e, "knowledge index update failed; run `reindex` to repair");
    }
}

/// Re-indexes every entry of a project (after a batch change such as dismiss-stale).
pub async fn reindex_project(
    db: &Db,
    index: &KnowledgeIndex,
    project_id: &str,
) -> DomainResult<()> {
    let (pid, index) = (project_id.to_string(), index.clone());
    db.read(move |conn| {
        knowledge::with_entries(conn, Some(&pid), |entries| {
            entries.for_each(|e| index.upsert(doc(&e)))
        })
    })
    .await?;
    Ok(())
}

/// Drops a deleted project's entries from the index.
pub fn forget_project(index: &KnowledgeIndex, project_id: &str) {
    index.remove_project(project_id);
}

/// Refills the whole index from the database (blocking); returns how many entries and pages
/// it holds. The rows are read only once the index asks for the first one (after it queued
/// the rebuild), so a change committed meanwhile is applied after the rebuild, not lost.
pub fn rebuild(conn: &rusqlite::Connection, index: &KnowledgeIndex) -> Result<usize, String> {
    knowledge::with_entries(conn, None, |entries| {
        wiki::with_pages(conn, None, |pages| {
            index.rebuild(
                entries
                    .map(|e| IndexDoc::Entry(doc(&e)))
                    .chain(pages.map(|p| IndexDoc::Page(page_doc(&p)))),
            )
        })
    })
    .and_then(|r| r)
    .map_err(|e| e.to_string())?
}

/// Rebuilds the index from the database when a failed commit left it stale (the server's
/// upkeep calls this every minute). Returns whether a rebuild ran and succeeded.
pub async fn repair(db: &Db, index: &KnowledgeIndex) -> bool {
    if !index.begin_repair() {
        return false;
    }
    tracing::warn!("knowledge index is stale after a failed commit; rebuilding it");
    let (db, index) = (db.clone(), index.clone());
    let result = tokio::task::spawn_blocking(move || {
        db.read_blocking(|conn| rebuild(conn, &index).map_err(DomainError::Fault))
    })
    .await;
    match result {
        Ok(Ok(n)) => {
            tracing::info!(documents = n, "knowledge index rebuilt");
            true
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "knowledge index rebuild failed; retrying later");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "knowledge index rebuild task failed; retrying later");
            false
        }
    }
}

/// The active entries of a project most relevant to `text`, best first (at most `limit`),
/// read back from the database so nothing shown is older than the last commit.
pub async fn relevant(
    db: &Db,
    index: &KnowledgeIndex,
    project_id: &str,
    text: &str,
    limit: usize,
) -> DomainResult<Vec<Entry>> {
    let query = KnowledgeQuery {
        project_id: project_id.to_string(),
        text: text.to_string(),
        entry_types: vec![],
        include_inactive: false,
        limit,
    };
    let index = index.clone();
    let hits = tokio::task::spawn_blocking(move || index.search(&query)).await??;
    let ids: Vec<i64> = hits.iter().map(|h| h.entry_id).collect();
    let pid = project_id.to_string();
    let mut entries = db
        .read(move |conn| knowledge::by_ids(conn, &pid, &ids))
        .await?;
    entries.retain(|e| !e.dismissed && e.superseded_by.is_none());
    let rank = |id: i64| {
        hits.iter()
            .position(|h| h.entry_id == id)
            .unwrap_or(usize::MAX)
    };
    entries.sort_by_key(|e| rank(e.id));
    Ok(entries)
}

/// The pages of a project most relevant to `text`, best first (at most `limit`), read back
/// from the database.
pub async fn relevant_pages(
    db: &Db,
    index: &KnowledgeIndex,
    project_id: &str,
    text: &str,
    limit: usize,
) -> DomainResult<Vec<Page>> {
    let query = PageQuery {
        project_id: project_id.to_string(),
        text: text.to_string(),
        limit,
    };
    let index = index.clone();
    let hits = tokio::task::spawn_blocking(move || index.search_pages(&query)).await??;
    let pid = project_id.to_string();
    let pages = db.read(move |conn| wiki::list(conn, &pid)).await?;
    Ok(hits
        .iter()
        .filter_map(|h| pages.iter().find(|p| p.id == h.page_id).cloned())
        .collect())
}
