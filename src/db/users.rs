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
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
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

/// Which users a platform admin lists: one tier, an email substring, active only or all.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub tier: Option<String>,
    pub search: Option<String>,
    pub include_inactive: bool,
}

fn filter_sql(f: &UserFilter) -> (String, Vec<rusqlite::types::Value>) {
    let mut clauses = Vec::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if !f.include_inactive {
        clauses.push("is_active = 1".to_string());
    }
    if let Some(tier) = &f.tier {
        args.push(tier.clone().into());
        clauses.push(format!("tier = ?{}", args.len()));
    }
    if let Some(search) = &f.search {
        args.push(search.clone().into());
        clauses.push(format!("instr(email, ?{}) > 0", args.len()));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, args)
}

/// How many users match `f`.
pub fn count_filtered(conn: &Connection, f: &UserFilter) -> DbResult<i64> {
    let (filter, args) = filter_sql(f);
    let sql = format!("SELECT COUNT(*) FROM users {filter}");
    Ok(conn.query_row(&sql, rusqlite::params_from_iter(args), |r| r.get(0))?)
}

/// One page of the users matching `f`, newest first, each with its live session count.
pub fn page_filtered(
    conn: &Connection,
    f: &UserFilter,
    limit: i64,
    offset: i64,
) -> DbResult<Vec<(User, i64)>> {
    let (filter, mut args) = filter_sql(f);
    args.push(limit.into());
    let l = args.len();
    args.push(offset.into());
    let o = args.len();
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("u.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {cols}, (SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id AND s.deleted_at IS NULL) \
         FROM (SELECT * FROM users {filter} ORDER BY created_at DESC, id DESC LIMIT ?{l} OFFSET ?{o}) u \
         ORDER BY u.created_at DESC, u.id DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok((from_row(r)?, r.get(15)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A user's live sessions, their stored bytes and active keys.
pub fn usage(conn: &Connection, id: &str) -> DbResult<(i64, i64, i64)> {
    let (sessions, bytes): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(blob_size_bytes), 0) FROM sessions \
         WHERE user_id = ?1 AND deleted_at IS NULL",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let keys: i64 = conn.query_row(
        "SELECT COUNT(*) FROM api_keys WHERE user_id = ?1 AND is_active = 1",
        [id],
        |r| r.get(0),
    )?;
    Ok((sessions, bytes, keys))
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
    conn.prepare_cached(
        "UPDATE users SET last_client_version = COALESCE(?2, last_client_version),
                          last_client_platform = COALESCE(?3, last_client_platform),
                          last_client_device = COALESCE(?4, last_client_device),
                          last_sync_at = ?5
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        client.version,
        client.platform,
        client.device,
        at
    ])?;
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
