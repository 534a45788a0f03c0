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

/// A share link as listed on its session's page (the token is never stored, so never shown).
#[derive(Debug, Clone)]
pub struct ListedShare {
    pub id: String,
    pub has_password: bool,
    pub created_at: String,
    pub expires_at: String,
}

/// The unrevoked, unexpired links of one of the user's sessions (`share_links_by_session`).
pub fn active_shares(
    conn: &Connection,
    user_id: &str,
    session_id: &str,
    now: &str,
) -> DbResult<Vec<ListedShare>> {
    let mut stmt = conn.prepare(
        "SELECT id, password_hash IS NOT NULL, created_at, expires_at FROM share_links
         WHERE session_id = ?1 AND user_id = ?2 AND revoked_at IS NULL AND expires_at > ?3
         ORDER BY created_at DESC",
    )?;
    let rows = stmt.query_map(params![session_id, user_id, now], |r| {
        Ok(ListedShare {
            id: r.get(0)?,
            has_password: r.get(1)?,
            created_at: r.get(2)?,
            expires_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
