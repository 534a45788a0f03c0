//! The `users` and `email_verifications` tables.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::DbResult;

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub tier: String,
    pub email_verified: bool,
    pub is_active: bool,
    pub created_at: String,
    pub sync_mode: String,
    pub sync_debounce: i64,
    pub last_client_version: Option<String>,
    pub last_client_platform: Option<String>,
    pub last_client_device: Option<String>,
    pub last_sync_at: Option<String>,
    pub default_org_id: Option<String>,
    pub capture_health: Option<String>,
}

const COLUMNS: &str = "id, email, display_name, tier, email_verified, is_active, created_at, \
    sync_mode, sync_debounce, last_client_version, last_client_platform, last_client_device, \
    last_sync_at, default_org_id, capture_health";

fn from_row(r: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        display_name: r.get(2)?,
        tier: r.get(3)?,
        email_verified: r.get(4)?,
        is_active: r.get(5)?,
        created_at: r.get(6)?,
        sync_mode: r.get(7)?,
        sync_debounce: r.get(8)?,
        last_client_version: r.get(9)?,
        last_client_platform: r.get(10)?,
        last_client_device: r.get(11)?,
        last_sync_at: r.get(12)?,
        default_org_id: r.get(13)?,
        capture_health: r.get(14)?,
    })
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub tier: &'a str,
    pub email_verified: bool,
    pub created_at: &'a str,
}

pub fn insert(conn: &Connection, user: &NewUser) -> DbResult<()> {
    conn.execute(
        "INSERT INTO users (id, email, tier, email_verified, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user.id, user.email, user.tier, user.email_verified, user.created_at],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> DbResult<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = ?1");
    Ok(conn.query_row(&sql, [id], from_row).optional()?)
}

pub fn find_by_email(conn: &Connection, email: &str) -> DbResult<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email = ?1");
    Ok(conn.query_row(&sql, [email], from_row).optional()?)
}

pub fn list(conn: &Connection) -> DbResult<Vec<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY created_at, id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn set_tier(conn: &Connection, id: &str, tier: &str) -> DbResult<()> {
    conn.execute("UPDATE users SET tier = ?2 WHERE id = ?1", [id, tier])?;
    Ok(())
}

pub fn set_active(conn: &Connection, id: &str, active: bool) -> DbResult<()> {
    conn.execute(
        "UPDATE users SET is_active = ?2 WHERE id = ?1",
        rusqlite::params![id, active],
    )?;
    Ok(())
}

pub fn set_email_verified(conn: &Connection, id: &str) -> DbResult<()> {
    conn.execute("UPDATE users SET email_verified = 1 WHERE id = ?1", [id])?;
    Ok(())
}

/// What the client said about itself on a push (`X-Client-*` headers).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub version: Option<String>,
    pub platform: Option<String>,
    pub device: Option<String>,
}

pub fn record_client(conn: &Connection, id: &str, client: &ClientInfo, at: &str) -> DbResult<()> {
    conn.execute(
        "UPDATE users SET last_client_version = COALESCE(?2, last_client_version),
                          last_client_platform = COALESCE(?3, last_client_platform),
                          last_client_device = COALESCE(?4, last_client_device),
                          last_sync_at = ?5
         WHERE id = ?1",
        params![id, client.version, client.platform, client.device, at],
    )?;
    Ok(())
}

pub fn insert_verification(
    conn: &Connection,
    token_hash: &str,
    user_id: &str,
    email: &str,
    expires_at: &str,
    created_at: &str,
) -> DbResult<()> {
    conn.execute(
        "INSERT INTO email_verifications (token_hash, user_id, email, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![token_hash, user_id, email, expires_at, created_at],
    )?;
    Ok(())
}

/// A verification link's row: `(user_id, email, expires_at)`.
pub fn find_verification(
    conn: &Connection,
    token_hash: &str,
) -> DbResult<Option<(String, String, String)>> {
    Ok(conn
        .query_row(
            "SELECT user_id, email, expires_at FROM email_verifications WHERE token_hash = ?1",
            [token_hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}
