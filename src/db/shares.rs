//! The `share_links` table. Tokens are stored as SHA-256 hashes only.

use rusqlite::{params, Connection, OptionalExtension};

use super::DbResult;

#[derive(Debug, Clone)]
pub struct ShareLink {
    pub id: String,
    pub session_id: String,
    pub user_id: String,
    pub password_hash: Option<String>,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

pub struct NewShareLink<'a> {
    pub id: &'a str,
    pub session_id: &'a str,
    pub user_id: &'a str,
    pub token_hash: &'a str,
    pub password_hash: Option<&'a str>,
    pub expires_at: &'a str,
    pub created_at: &'a str,
}

pub fn insert(conn: &Connection, link: &NewShareLink) -> DbResult<()> {
    conn.execute(
        "INSERT INTO share_links (id, session_id, user_id, token_hash, password_hash, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![link.id, link.session_id, link.user_id, link.token_hash, link.password_hash, link.expires_at, link.created_at],
    )?;
    Ok(())
}

pub fn find_by_token_hash(conn: &Connection, token_hash: &str) -> DbResult<Option<ShareLink>> {
    Ok(conn
        .query_row(
            "SELECT id, session_id, user_id, password_hash, expires_at, revoked_at FROM share_links WHERE token_hash = ?1",
            [token_hash],
            |r| {
                Ok(ShareLink {
                    id: r.get(0)?,
                    session_id: r.get(1)?,
                    user_id: r.get(2)?,
                    password_hash: r.get(3)?,
                    expires_at: r.get(4)?,
                    revoked_at: r.get(5)?,
                })
            },
        )
        .optional()?)
}

/// Revokes one of the user's links on one session. `false` when there is no such link.
pub fn revoke(
    conn: &Connection,
    user_id: &str,
    session_id: &str,
    link_id: &str,
    at: &str,
) -> DbResult<bool> {
    let n = conn.execute(
        "UPDATE share_links SET revoked_at = COALESCE(revoked_at, ?4)
         WHERE id = ?1 AND session_id = ?2 AND user_id = ?3",
        params![link_id, session_id, user_id, at],
    )?;
    Ok(n == 1)
}

/// Revokes every live link of a session (a session brought back from the trash starts clean).
pub fn revoke_all_for_session(conn: &Connection, session_id: &str, at: &str) -> DbResult<()> {
    conn.execute(
        "UPDATE share_links SET revoked_at = ?2 WHERE session_id = ?1 AND revoked_at IS NULL",
        params![session_id, at],
    )?;
    Ok(())
}
