//! The `api_keys` table. Only SHA-256 hashes of keys are stored.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::error::ApiResult;

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub key_prefix: Option<String>,
    pub name: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    pub is_active: bool,
    pub key_kind: String,
    pub scopes: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

const COLUMNS: &str = "k.id, k.user_id, k.key_prefix, k.name, k.created_at, k.last_used_at, \
    k.last_used_ip, k.is_active, k.key_kind, k.scopes, k.expires_at, k.revoked_at";

fn from_row(r: &Row) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: r.get(0)?,
        user_id: r.get(1)?,
        key_prefix: r.get(2)?,
        name: r.get(3)?,
        created_at: r.get(4)?,
        last_used_at: r.get(5)?,
        last_used_ip: r.get(6)?,
        is_active: r.get(7)?,
        key_kind: r.get(8)?,
        scopes: r.get(9)?,
        expires_at: r.get(10)?,
        revoked_at: r.get(11)?,
    })
}

pub struct NewKey<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub key_hash: &'a str,
    pub key_prefix: Option<&'a str>,
    pub name: Option<&'a str>,
    pub created_at: &'a str,
    pub expires_at: Option<&'a str>,
    pub created_by_user_id: Option<&'a str>,
}

pub fn insert(conn: &Connection, key: &NewKey) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO api_keys (id, user_id, key_hash, key_prefix, name, created_at, expires_at,
                               created_by_user_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            key.id,
            key.user_id,
            key.key_hash,
            key.key_prefix,
            key.name,
            key.created_at,
            key.expires_at,
            key.created_by_user_id
        ],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> ApiResult<Option<ApiKey>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys k WHERE k.id = ?1");
    Ok(conn.query_row(&sql, [id], from_row).optional()?)
}

/// The key with this hash, for authentication (one indexed read).
pub fn find_by_hash(conn: &Connection, key_hash: &str) -> ApiResult<Option<ApiKey>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys k WHERE k.key_hash = ?1");
    Ok(conn.query_row(&sql, [key_hash], from_row).optional()?)
}

/// The legacy `/auth/keys` listing: active keys of the user, oldest first.
pub fn list_active(conn: &Connection, user_id: &str) -> ApiResult<Vec<ApiKey>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys k WHERE k.user_id = ?1 AND k.is_active = 1
         ORDER BY k.created_at, k.rowid"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([user_id], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// `/auth/me/api-keys`: every user-kind key of the user, inactive ones too, newest first.
pub fn list_user_kind(conn: &Connection, user_id: &str) -> ApiResult<Vec<ApiKey>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys k WHERE k.user_id = ?1 AND k.key_kind = 'user'
         ORDER BY k.created_at DESC, k.rowid DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([user_id], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deactivates one of the user's active keys (legacy delete). `false` when there is none.
pub fn deactivate(conn: &Connection, user_id: &str, key_id: &str) -> ApiResult<bool> {
    let n = conn.execute(
        "UPDATE api_keys SET is_active = 0 WHERE id = ?1 AND user_id = ?2 AND is_active = 1",
        params![key_id, user_id],
    )?;
    Ok(n == 1)
}

/// Revokes one of the user's user-kind keys. Idempotent; `false` when the key is not theirs.
pub fn revoke(
    conn: &Connection,
    user_id: &str,
    key_id: &str,
    reason: &str,
    at: &str,
) -> ApiResult<bool> {
    let exists = conn
        .query_row(
            "SELECT 1 FROM api_keys WHERE id = ?1 AND user_id = ?2 AND key_kind = 'user'",
            params![key_id, user_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if exists {
        conn.execute(
            "UPDATE api_keys SET is_active = 0, revoked_at = COALESCE(revoked_at, ?2),
                                 revoke_reason = COALESCE(revoke_reason, ?3)
             WHERE id = ?1",
            params![key_id, at, reason],
        )?;
    }
    Ok(exists)
}

pub fn touch(conn: &Connection, key_id: &str, at: &str, ip: Option<&str>) -> ApiResult<()> {
    conn.execute(
        "UPDATE api_keys SET last_used_at = ?2, last_used_ip = ?3 WHERE id = ?1",
        params![key_id, at, ip],
    )?;
    Ok(())
}
