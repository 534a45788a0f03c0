//! Session summaries as the routes serve them: built by [`crate::domain::summary`] from the
//! archive on the blocking pool, cached per session and archive, rebuilt on demand.

use crate::archive::BlobStore;
use crate::clock::Clock;
use crate::db::sessions::SessionRow;
use crate::db::{summaries, Db};
use crate::domain::summary::{summarize, SessionFacts, Summary};
use crate::domain::{DomainError, DomainResult};

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Builds the summary of a session from its archive (blocking work on the blocking pool).
async fn build(blobs: &BlobStore, row: &SessionRow) -> DomainResult<Summary> {
    let (blobs, row) = (blobs.clone(), row.clone());
    tokio::task::spawn_blocking(move || {
        let file = match blobs.open_blob_sync(&row.blob_hash) {
            Ok(file) => file,
            // A row names it, so the store must have it: our fault (a lost file), not the
            // client's — a 500 and a log line, never "no messages".
            Err(e) => {
                return Err(DomainError::Fault(format!(
                    "archive {} of session {} cannot be opened: {e}",
                    row.blob_hash, row.id
                )))
            }
        };
        let facts = SessionFacts {
            session_id: &row.id,
            title: row.title.as_deref(),
            tool: &row.source_tool,
            model: row.model_id.as_deref(),
            message_count: row.message_count,
            branch: non_empty(&row.git_branch),
            commit: non_empty(&row.git_commit),
            manifest_persona: row.persona_name.as_deref(),
        };
        summarize(file, &facts)?.ok_or(DomainError::NoMessages)
    })
    .await?
}

/// The session's summary and when it was generated: the cached one if it was built from the
/// current archive (unless `rebuild`), else a fresh one, which is then cached.
pub async fn for_session(
    db: &Db,
    clock: &Clock,
    blobs: &BlobStore,
    row: &SessionRow,
    rebuild: bool,
) -> DomainResult<(Summary, String)> {
    if !rebuild {
        let id = row.id.clone();
        if let Some((hash, json, at)) = db.read(move |conn| summaries::get(conn, &id)).await? {
            if hash == row.blob_hash {
                if let Ok(summary) = serde_json::from_str::<Summary>(&json) {
                    return Ok((summary, at));
                }
            }
        }
    }
    let summary = build(blobs, row).await?;
    let at = clock.now_string();
    let text = serde_json::to_string(&summary).map_err(|e| DomainError::Fault(e.to_string()))?;
    let (id, hash, when) = (row.id.clone(), row.blob_hash.clone(), at.clone());
    db.write(move |tx| summaries::put(tx, &id, &hash, &text, &when))
        .await?;
    Ok((summary, at))
}
