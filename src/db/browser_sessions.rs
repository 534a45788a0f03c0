//! The `browser_sessions` table (V12): signed-in browsers of the web dashboard. Only the
//! SHA-256 of a session id is stored; `handle` is the public name used to list and revoke.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::DbResult;

#[derive(Debug, Clone)]
pub struct BrowserSession {
    pub handle: String,
    pub user_id: String,
    pub api_key_id: String,
    pub csrf_token: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

const COLUMNS: &str =
    "handle, user_id, api_key_id, csrf_token, created_at, last_seen_at, expires_at, user_agent, ip";

fn from_row(r: &Row) -> rusqlite::Result<BrowserSession> {
    Ok(BrowserSession {
        handle: r.get(0)?,
        user_id: r.get(1)?,
        api_key_id: r.get(2)?,
        csrf_token: r.get(3)?,
        created_at: r.get(4)?,
        last_seen_at: r.get(5)?,
        expires_at: r.get(6)?,
        user_agent: r.get(7)?,
        ip: r.get(8)?,
    })
}

pub struct NewBrowserSession<'a> {
    pub id_hash: &'a str,
    pub session: &'a BrowserSession,
}

pub fn insert(conn: &Connection, new: &NewBrowserSession) -> DbResult<()> {
    let s = new.session;
    conn.execute(
        "INSERT INTO browser_sessions (id_hash, handle, user_id, api_key_id, csrf_token, created_at,
             last_seen_at, expires_at, user_agent, ip)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            new.id_hash,
            s.handle,
            s.user_id,
            s.api_key_id,
            s.csrf_token,
            s.created_at,
            s.last_seen_at,
            s.expires_at,
            s.user_agent,
            s.ip
        ],
    )?;
    Ok(())
}

pub fn find_by_hash(conn: &Connection, id_hash: &str) -> DbResult<Option<BrowserSession>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM browser_sessions WHERE id_hash = ?1"),
            [id_hash],
            from_row,
        )
        .optional()?)
}

/// A user's browser sessions, newest first.
pub fn list_for_user(conn: &Connection, user_id: &str) -> DbResult<Vec<BrowserSession>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM browser_sessions WHERE user_id = ?1 ORDER BY created_at DESC"
    ))?;
    let rows = stmt.query_map([user_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn touch(conn: &Connection, id_hash: &str, at: &str) -> DbResult<()> {
    conn.execute(
        "UPDATE browser_sessions SET last_seen_at = ?2 WHERE id_hash = ?1",
        params![id_hash, at],
    )?;
    Ok(())
}

pub fn delete_by_hash(conn: &Connection, id_hash: &str) -> DbResult<bool> {
    Ok(conn.execute("DELETE FROM browser_sessions WHERE id_hash = ?1", [id_hash])? > 0)
}

/// Ends one of the user's browser sessions by its handle; false when it is not theirs.
pub fn delete_by_handle(conn: &Connection, user_id: &str, handle: &str) -> DbResult<bool> {
    Ok(conn.execute(
        "DELETE FROM browser_sessions WHERE user_id = ?1 AND handle = ?2",
        params![user_id, handle],
    )? > 0)
}

/// Removes a user's sessions past their absolute end or idle since before `idle_before`.
pub fn delete_expired(
    conn: &Connection,
    user_id: &str,
    now: &str,
    idle_before: &str,
) -> DbResult<usize> {
    Ok(conn.execute(
        "DELETE FROM browser_sessions
         WHERE user_id = ?1 AND (expires_at <= ?2 OR last_seen_at <= ?3)",
        params![user_id, now, idle_before],
    )?)
}
