//! Keeping the knowledge index (`search::knowledge`) in step with the entries, and asking it
//! which entries of a project are relevant to a piece of text.
//!
//! The database is the truth. After a write commits, the route queues the entries it touched
//! ([`reindex_entries`]), a batch change re-reads its project ([`reindex_project`]), a project
//! delete drops the project's documents ([`forget_project`]); [`rebuild`] refills the whole
//! index from the database (`reindex`, and at start when the index is missing or corrupt).
//!
//! No route of the API document searches knowledge by relevance: the entries list's `search`
//! filter is a substring match by contract and stays in SQL. [`relevant`] is for the server's
//! own use (context for agents: the entries that bear on a ticket or a question).

use crate::db::knowledge::{self, Entry};
use crate::db::Db;
use crate::domain::DomainResult;
use crate::search::knowledge::{EntryStatus, KnowledgeDoc, KnowledgeIndex, KnowledgeQuery};

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

/// Refills the whole index from the database (blocking); returns how many entries it holds.
/// The entries are read only once the index asks for the first one (after it queued the
/// rebuild), so a change committed meanwhile is applied after the rebuild, not lost.
pub fn rebuild(conn: &rusqlite::Connection, index: &KnowledgeIndex) -> Result<usize, String> {
    knowledge::with_entries(conn, None, |entries| {
        index.rebuild(entries.map(|e| doc(&e)))
    })
    .map_err(|e| e.to_string())?
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
