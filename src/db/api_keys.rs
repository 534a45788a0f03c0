//! The `api_keys` table. Only SHA-256 hashes of keys are stored.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::DbResult;

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
    pub revoke_reason: Option<String>,
    pub created_by_user_id: Option<String>,
    pub org_id: Option<String>,
    pub service_key_name: Option<String>,
    pub project_ids: Option<String>,
}

impl ApiKey {
    /// The scopes the key carries (user keys: `["*"]`).
    pub fn scope_list(&self) -> Vec<String> {
        serde_json::from_str(&self.scopes).unwrap_or_default()
    }

    /// The projects a service key is limited to; empty means every project of its org.
    pub fn project_list(&self) -> Vec<String> {
        self.project_ids
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default()
    }
}

const COLUMNS: &str = "k.id, k.user_id, k.key_prefix, k.name, k.created_at, k.last_used_at, \
    k.last_used_ip, k.is_active, k.key_kind, k.scopes, k.expires_at, k.revoked_at, k.revoke_reason, \
    k.created_by_user_id, k.org_id, k.service_key_name, k.project_ids";

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
        revoke_reason: r.get(12)?,
        created_by_user_id: r.get(13)?,
        org_id: r.get(14)?,
        service_key_name: r.get(15)?,
        project_ids: r.get(16)?,
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

pub fn insert(conn: &Connection, key: &NewKey) -> DbResult<()> {
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

pub fn get(conn: &Connection, id: &str) -> DbResult<Option<ApiKey>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys k WHERE k.id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
}

/// The key with this hash, for authentication (one indexed read).
pub fn find_by_hash(conn: &Connection, key_hash: &str) -> DbResult<Option<ApiKey>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys k WHERE k.key_hash = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([key_hash], from_row)
        .optional()?)
}

/// The legacy `/auth/keys` listing: active keys of the user, oldest first.
pub fn list_active(conn: &Connection, user_id: &str) -> DbResult<Vec<ApiKey>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys k WHERE k.user_id = ?1 AND k.is_active = 1
         ORDER BY k.created_at, k.rowid"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([user_id], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// `/auth/me/api-keys`: every user-kind key of the user, inactive ones too, newest first.
pub fn list_user_kind(conn: &Connection, user_id: &str) -> DbResult<Vec<ApiKey>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys k WHERE k.user_id = ?1 AND k.key_kind = 'user'
         ORDER BY k.created_at DESC, k.rowid DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([user_id], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deactivates one of the user's active keys (legacy delete). `false` when there is none.
pub fn deactivate(conn: &Connection, user_id: &str, key_id: &str) -> DbResult<bool> {
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
) -> DbResult<bool> {
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

pub fn touch(conn: &Connection, key_id: &str, at: &str, ip: Option<&str>) -> DbResult<()> {
    conn.prepare_cached("UPDATE api_keys SET last_used_at = ?2, last_used_ip = ?3 WHERE id = ?1")?
        .execute(params![key_id, at, ip])?;
    Ok(())
}

/// A new service key: org-scoped, with explicit scopes, running as its minter.
pub struct NewServiceKey<'a> {
    pub id: &'a str,
    pub minter_id: &'a str,
    pub created_by: &'a str,
    pub org_id: &'a str,
    pub name: &'a str,
    pub key_hash: &'a str,
    pub key_prefix: &'a str,
    pub scopes_json: &'a str,
    pub project_ids_json: Option<&'a str>,
    pub created_at: &'a str,
    pub expires_at: Option<&'a str>,
}

pub fn insert_service(conn: &Connection, k: &NewServiceKey) -> DbResult<()> {
    conn.execute(
        "INSERT INTO api_keys (id, user_id, key_hash, key_prefix, name, created_at, expires_at,
                created_by_user_id, key_kind, scopes, org_id, service_key_name, project_ids)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'service', ?9, ?10, ?5, ?11)",
        params![
            k.id,
            k.minter_id,
            k.key_hash,
            k.key_prefix,
            k.name,
            k.created_at,
            k.expires_at,
            k.created_by,
            k.scopes_json,
            k.org_id,
            k.project_ids_json
        ],
    )?;
    Ok(())
}

/// The org's service keys, revoked ones too, newest first.
pub fn list_service(conn: &Connection, org_id: &str) -> DbResult<Vec<ApiKey>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys k WHERE k.org_id = ?1 AND k.key_kind = 'service'
         ORDER BY k.created_at DESC, k.rowid DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([org_id], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get_service(conn: &Connection, org_id: &str, key_id: &str) -> DbResult<Option<ApiKey>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys k WHERE k.id = ?1 AND k.org_id = ?2 AND k.key_kind = 'service'");
    Ok(conn
        .query_row(&sql, params![key_id, org_id], from_row)
        .optional()?)
}

/// Revokes any key by id (idempotent: an already revoked key keeps its first reason).
pub fn revoke_by_id(
    conn: &Connection,
    key_id: &str,
    reason: Option<&str>,
    at: &str,
) -> DbResult<()> {
    conn.execute(
        "UPDATE api_keys SET is_active = 0, revoked_at = COALESCE(revoked_at, ?2),
                revoke_reason = CASE WHEN revoked_at IS NULL THEN ?3 ELSE revoke_reason END
         WHERE id = ?1",
        params![key_id, at, reason],
    )?;
    Ok(())
}

/// Revokes every active key of a user; returns how many.
pub fn revoke_all_for_user(
    conn: &Connection,
    user_id: &str,
    reason: &str,
    at: &str,
) -> DbResult<usize> {
    Ok(conn.execute(
        "UPDATE api_keys SET is_active = 0, revoked_at = ?2, revoke_reason = ?3
         WHERE user_id = ?1 AND revoked_at IS NULL AND is_active = 1",
        params![user_id, at, reason],
    )?)
}
