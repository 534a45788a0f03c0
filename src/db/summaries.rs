//! The `session_summaries` table: a cached summary per session, tied to the archive it was
//! built from (a new push makes it stale).

use rusqlite::{params, Connection, OptionalExtension};

use super::DbResult;

/// The cached summary of a session: `(blob_hash, summary JSON, created_at)`.
pub fn get(conn: &Connection, session_id: &str) -> DbResult<Option<(String, String, String)>> {
    Ok(conn
        .query_row(
            "SELECT blob_hash, summary, created_at FROM session_summaries WHERE session_id = ?1",
            [session_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

pub fn put(
    conn: &Connection,
    session_id: &str,
    blob_hash: &str,
    summary: &str,
    at: &str,
) -> DbResult<()> {
    conn.execute(
        "INSERT INTO session_summaries (session_id, blob_hash, summary, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(session_id) DO UPDATE SET blob_hash = excluded.blob_hash, summary = excluded.summary,
                created_at = excluded.created_at",
        params![session_id, blob_hash, summary, at],
    )?;
    Ok(())
}
