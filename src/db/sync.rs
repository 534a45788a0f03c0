//! Autosync: the user's sync settings (on `users`) and the `sync_watchlist` table.

use rusqlite::{params, Connection, OptionalExtension};

use super::DbResult;

pub fn set_settings(
    conn: &Connection,
    user_id: &str,
    mode: &str,
    debounce: Option<i64>,
) -> DbResult<()> {
    conn.execute(
        "UPDATE users SET sync_mode = ?2, sync_debounce = COALESCE(?3, sync_debounce) WHERE id = ?1",
        params![user_id, mode, debounce],
    )?;
    Ok(())
}

pub fn set_capture_health(conn: &Connection, user_id: &str, watchers_json: &str) -> DbResult<()> {
    conn.execute(
        "UPDATE users SET capture_health = ?2 WHERE id = ?1",
        params![user_id, watchers_json],
    )?;
    Ok(())
}

/// Adds a watch (idempotent: an existing watch keeps its status).
pub fn watch(conn: &Connection, user_id: &str, session_id: &str, at: &str) -> DbResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO sync_watchlist (user_id, session_id, status, created_at) VALUES (?1, ?2, 'pending', ?3)",
        params![user_id, session_id, at],
    )?;
    Ok(())
}

pub fn unwatch(conn: &Connection, user_id: &str, session_id: &str) -> DbResult<()> {
    conn.execute(
        "DELETE FROM sync_watchlist WHERE user_id = ?1 AND session_id = ?2",
        params![user_id, session_id],
    )?;
    Ok(())
}

/// Sets a watch's status; `false` when the session is not watched.
pub fn set_status(
    conn: &Connection,
    user_id: &str,
    session_id: &str,
    status: &str,
    at: &str,
) -> DbResult<bool> {
    let n = conn.execute(
        "UPDATE sync_watchlist SET status = ?3,
                last_synced_at = CASE WHEN ?3 = 'synced' THEN ?4 ELSE last_synced_at END
         WHERE user_id = ?1 AND session_id = ?2",
        params![user_id, session_id, status, at],
    )?;
    Ok(n == 1)
}

pub struct Watched {
    pub session_id: String,
    pub title: Option<String>,
    pub source_tool: Option<String>,
    pub message_count: i64,
    pub status: String,
    pub last_synced_at: Option<String>,
}

/// The user's watches, newest first, with what is known of each session.
pub fn watchlist(conn: &Connection, user_id: &str) -> DbResult<Vec<Watched>> {
    let mut stmt = conn.prepare(
        "SELECT w.session_id, s.title, s.source_tool, COALESCE(s.message_count, 0), w.status, w.last_synced_at
         FROM sync_watchlist w
         LEFT JOIN sessions s ON s.id = w.session_id AND s.user_id = w.user_id
         WHERE w.user_id = ?1
         ORDER BY w.created_at DESC, w.rowid DESC",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(Watched {
            session_id: r.get(0)?,
            title: r.get(1)?,
            source_tool: r.get(2)?,
            message_count: r.get(3)?,
            status: r.get(4)?,
            last_synced_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub struct Overview {
    pub total_sessions: i64,
    pub storage_used_bytes: i64,
    pub watched: i64,
    pub queued: i64,
    pub failed: i64,
}

pub fn overview(conn: &Connection, user_id: &str) -> DbResult<Overview> {
    let (total_sessions, storage_used_bytes) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(blob_size_bytes), 0) FROM sessions
         WHERE user_id = ?1 AND (deleted_at IS NOT NULL) = 0",
        [user_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (watched, queued, failed) = conn
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(status = 'queued'), 0), COALESCE(SUM(status = 'failed'), 0)
             FROM sync_watchlist WHERE user_id = ?1",
            [user_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .unwrap_or((0, 0, 0));
    Ok(Overview {
        total_sessions,
        storage_used_bytes,
        watched,
        queued,
        failed,
    })
}
