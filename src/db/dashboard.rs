//! Read-only aggregates for the web dashboard's pictures.

use rusqlite::{params, Connection};

use super::DbResult;

/// Sessions created per day and tool since `since` (an RFC 3339 instant): `(day, tool, count)`,
/// days as `YYYY-MM-DD`, oldest first. Live sessions of the user only (`sessions_by_owner`).
pub fn sessions_per_day(
    conn: &Connection,
    user_id: &str,
    since: &str,
) -> DbResult<Vec<(String, String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT substr(created_at, 1, 10) AS day, source_tool, COUNT(*)
         FROM sessions
         WHERE user_id = ?1 AND (deleted_at IS NOT NULL) = 0 AND created_at >= ?2
         GROUP BY day, source_tool
         ORDER BY day, source_tool",
    )?;
    let rows = stmt.query_map(params![user_id, since], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Archive bytes per tool of the user's sessions, live and trashed: `(tool, bytes, live)`.
pub fn storage_by_tool(conn: &Connection, user_id: &str) -> DbResult<Vec<(String, i64, bool)>> {
    let mut stmt = conn.prepare(
        "SELECT source_tool, COALESCE(SUM(blob_size_bytes), 0), (deleted_at IS NULL) AS live
         FROM sessions WHERE user_id = ?1
         GROUP BY source_tool, live ORDER BY source_tool, live DESC",
    )?;
    let rows = stmt.query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
