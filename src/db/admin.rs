//! The `admin_actions` table: what platform admins (and operators at the command line) did.

use rusqlite::{params, Connection};

use super::DbResult;
use crate::auth::keys::new_id;

/// Records one admin action at `at`, in the caller's transaction.
#[allow(clippy::too_many_arguments)] // one column each
pub fn record(
    conn: &Connection,
    admin_id: Option<&str>,
    action: &str,
    target_type: &str,
    target_id: &str,
    details: &serde_json::Value,
    source: &str,
    at: &str,
) -> DbResult<()> {
    conn.execute(
        "INSERT INTO admin_actions (id, admin_id, action, target_type, target_id, details, source, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![new_id(), admin_id, action, target_type, target_id, details.to_string(), source, at],
    )?;
    Ok(())
}

/// [`record`] with the admin's stated reason.
#[allow(clippy::too_many_arguments)] // one column each
pub fn record_with_reason(
    conn: &Connection,
    admin_id: Option<&str>,
    action: &str,
    target_type: &str,
    target_id: &str,
    details: &serde_json::Value,
    reason: Option<&str>,
    source: &str,
    at: &str,
) -> DbResult<()> {
    conn.execute(
        "INSERT INTO admin_actions (id, admin_id, action, target_type, target_id, details, reason, source, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![new_id(), admin_id, action, target_type, target_id, details.to_string(), reason, source, at],
    )?;
    Ok(())
}

/// How many actions of a kind were recorded for a target (for tests and the doctor).
pub fn count(conn: &Connection, action: &str, target_id: &str) -> DbResult<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM admin_actions WHERE action = ?1 AND target_id = ?2",
        params![action, target_id],
        |r| r.get(0),
    )?)
}
