//! Keeping the search index in step with the sessions, and rebuilding it from the archives.
//!
//! The index is derived data. Each change to a session (push, upload, edit, delete, restore,
//! claim) is queued to the index's writer without waiting; a rebuild reads every live
//! session's archive again, so the archives and the database are the only truth.

use crate::archive::line::Line;
use crate::archive::messages::for_each_line;
use crate::archive::metadata::MessageScan;
use crate::archive::{ArchiveError, BlobStore};
use crate::clock;
use crate::db::sessions::{self, SessionRow};
use crate::db::Db;
use crate::domain::{DomainError, DomainResult};
use crate::search::{SearchIndex, SessionDoc};

/// The index document of a session, with its message text.
pub fn doc(row: &SessionRow, text: String) -> SessionDoc {
    SessionDoc {
        session_id: row.id.clone(),
        user_id: row.user_id.clone(),
        title: row.title.clone(),
        alias: row.alias.clone(),
        tags: serde_json::from_str(&row.tags).unwrap_or_default(),
        source_tool: row.source_tool.clone(),
        updated_at_micros: clock::parse(&row.updated_at)
            .map(|t| t.timestamp_micros())
            .unwrap_or(0),
        text,
    }
}

/// The searchable text of an archive's messages (blocking). A missing archive has none.
pub fn archive_text(blobs: &BlobStore, hash: &str) -> Result<String, ArchiveError> {
    let Ok(file) = blobs.open_blob_sync(hash) else {
        return Ok(String::new());
    };
    let mut scan = MessageScan::default();
    for_each_line(file, |_, line| {
        if let Some(message) = Line::parse(line) {
            scan.add(&message);
        }
    })?;
    Ok(scan.text)
}

/// Re-indexes one session from the database and its archive: live sessions are (re)added,
/// deleted or missing ones removed.
pub async fn refresh(
    db: &Db,
    blobs: &BlobStore,
    index: &SearchIndex,
    session_id: &str,
) -> DomainResult<()> {
    let id = session_id.to_string();
    let row = db.read(move |conn| sessions::get(conn, &id)).await?;
    match row {
        Some(row) if !row.is_deleted() => {
            let (blobs, index) = (blobs.clone(), index.clone());
            tokio::task::spawn_blocking(move || {
                let text = archive_text(&blobs, &row.blob_hash)?;
                index.upsert(doc(&row, text));
                Ok::<_, DomainError>(())
            })
            .await?
        }
        _ => {
            index.remove(session_id);
            Ok(())
        }
    }
}

/// Rebuilds the whole index from the live sessions and their archives (blocking). Returns how
/// many sessions were indexed. The sessions are listed only when the index asks for the first
/// document — after it has queued the rebuild — so a push that lands meanwhile is not lost.
pub fn rebuild(
    db_conn: &rusqlite::Connection,
    blobs: &BlobStore,
    index: &SearchIndex,
) -> Result<usize, String> {
    let rows = std::iter::once(()).flat_map(|()| {
        sessions::all_live(db_conn).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot list sessions for the search rebuild");
            Vec::new()
        })
    });
    let docs = rows.map(|row| {
        let text = archive_text(blobs, &row.blob_hash).unwrap_or_else(|e| {
            tracing::warn!(session = %row.id, error = %e, "archive unreadable; indexed without its messages");
            String::new()
        });
        doc(&row, text)
    });
    index.rebuild(docs)
}
