//! Per-user settings: judge settings, the audit/summarize triggers, GitLab settings.

use rusqlite::{params, Connection, OptionalExtension};

use super::DbResult;

#[derive(Debug, Clone)]
pub struct JudgeRow {
    pub provider: String,
    pub model: String,
    /// The sealed key (see `secrets`), `None` when no key is stored.
    pub sealed_key: Option<String>,
    pub base_url: Option<String>,
}

pub fn judge(conn: &Connection, user_id: &str) -> DbResult<Option<JudgeRow>> {
    Ok(conn
        .query_row(
            "SELECT provider, model, encrypted_api_key, base_url FROM user_judge_settings
             WHERE user_id = ?1",
            [user_id],
            |r| {
                Ok(JudgeRow {
                    provider: r.get(0)?,
                    model: r.get(1)?,
                    sealed_key: r.get(2)?,
                    base_url: r.get(3)?,
                })
            },
        )
        .optional()?)
}

pub fn put_judge(conn: &Connection, user_id: &str, row: &JudgeRow, now: &str) -> DbResult<()> {
    conn.execute(
        "INSERT INTO user_judge_settings (user_id, provider, model, encrypted_api_key, base_url, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (user_id) DO UPDATE SET provider = ?2, model = ?3, encrypted_api_key = ?4,
             base_url = ?5, updated_at = ?6",
        params![user_id, row.provider, row.model, row.sealed_key, row.base_url, now],
    )?;
    Ok(())
}

pub fn delete_judge(conn: &Connection, user_id: &str) -> DbResult<()> {
    conn.execute(
        "DELETE FROM user_judge_settings WHERE user_id = ?1",
        [user_id],
    )?;
    Ok(())
}

/// Which trigger: `audit_trigger` or `summarize_trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    Audit,
    Summarize,
}

impl TriggerKind {
    fn column(self) -> &'static str {
        match self {
            TriggerKind::Audit => "audit_trigger",
            TriggerKind::Summarize => "summarize_trigger",
        }
    }
}

pub fn trigger(conn: &Connection, user_id: &str, kind: TriggerKind) -> DbResult<Option<String>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {} FROM user_triggers WHERE user_id = ?1",
                kind.column()
            ),
            [user_id],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn set_trigger(
    conn: &Connection,
    user_id: &str,
    kind: TriggerKind,
    value: &str,
) -> DbResult<()> {
    let col = kind.column();
    conn.execute(
        &format!(
            "INSERT INTO user_triggers (user_id, {col}) VALUES (?1, ?2)
             ON CONFLICT (user_id) DO UPDATE SET {col} = ?2"
        ),
        params![user_id, value],
    )?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct GitlabRow {
    pub instance_url: String,
    pub sealed_token: String,
    pub webhook_secret: Option<String>,
}

pub fn gitlab(conn: &Connection, user_id: &str) -> DbResult<Option<GitlabRow>> {
    Ok(conn
        .query_row(
            "SELECT instance_url, encrypted_access_token, webhook_secret FROM gitlab_settings
             WHERE user_id = ?1",
            [user_id],
            |r| {
                Ok(GitlabRow {
                    instance_url: r.get(0)?,
                    sealed_token: r.get(1)?,
                    webhook_secret: r.get(2)?,
                })
            },
        )
        .optional()?)
}

pub fn put_gitlab(conn: &Connection, user_id: &str, row: &GitlabRow, now: &str) -> DbResult<()> {
    conn.execute(
        "INSERT INTO gitlab_settings (user_id, instance_url, encrypted_access_token, webhook_secret, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (user_id) DO UPDATE SET instance_url = ?2, encrypted_access_token = ?3,
             webhook_secret = ?4, updated_at = ?5",
        params![user_id, row.instance_url, row.sealed_token, row.webhook_secret, now],
    )?;
    Ok(())
}

pub fn delete_gitlab(conn: &Connection, user_id: &str) -> DbResult<()> {
    conn.execute("DELETE FROM gitlab_settings WHERE user_id = ?1", [user_id])?;
    Ok(())
}

/// A stored sealed value, for rotating the install secret.
#[derive(Debug, Clone)]
pub struct SealedValue {
    pub table: SealedTable,
    pub user_id: String,
    pub sealed: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedTable {
    Judge,
    Gitlab,
}

impl SealedTable {
    /// The associated data every value of this table is sealed with.
    pub fn purpose(self, user_id: &str) -> String {
        match self {
            SealedTable::Judge => format!("judge:{user_id}"),
            SealedTable::Gitlab => format!("gitlab:{user_id}"),
        }
    }
}

/// Every sealed value stored.
pub fn sealed_values(conn: &Connection) -> DbResult<Vec<SealedValue>> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT user_id, encrypted_api_key FROM user_judge_settings WHERE encrypted_api_key IS NOT NULL",
    )?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (user_id, sealed) = row?;
        out.push(SealedValue {
            table: SealedTable::Judge,
            user_id,
            sealed,
        });
    }
    let mut stmt = conn.prepare("SELECT user_id, encrypted_access_token FROM gitlab_settings")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (user_id, sealed) = row?;
        out.push(SealedValue {
            table: SealedTable::Gitlab,
            user_id,
            sealed,
        });
    }
    Ok(out)
}

pub fn replace_sealed(
    conn: &Connection,
    table: SealedTable,
    user_id: &str,
    sealed: &str,
) -> DbResult<()> {
    let sql = match table {
        SealedTable::Judge => {
            "UPDATE user_judge_settings SET encrypted_api_key = ?2 WHERE user_id = ?1"
        }
        SealedTable::Gitlab => {
            "UPDATE gitlab_settings SET encrypted_access_token = ?2 WHERE user_id = ?1"
        }
    };
    conn.execute(sql, params![user_id, sealed])?;
    Ok(())
}
