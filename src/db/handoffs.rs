//! The `handoffs`, `handoff_comments` and `handoff_events` tables.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::DbResult;

/// Where a handoff stands, stored as its lowercase name. Its legal moves are methods in
/// `crate::domain::handoffs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandoffStatus {
    Pending,
    Claimed,
    Declined,
    Revoked,
    Expired,
}

impl HandoffStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffStatus::Pending => "pending",
            HandoffStatus::Claimed => "claimed",
            HandoffStatus::Declined => "declined",
            HandoffStatus::Revoked => "revoked",
            HandoffStatus::Expired => "expired",
        }
    }
}

impl std::fmt::Display for HandoffStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for HandoffStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "pending" => HandoffStatus::Pending,
            "claimed" => HandoffStatus::Claimed,
            "declined" => HandoffStatus::Declined,
            "revoked" => HandoffStatus::Revoked,
            "expired" => HandoffStatus::Expired,
            other => return Err(format!("unknown handoff status '{other}'")),
        })
    }
}

impl rusqlite::types::ToSql for HandoffStatus {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for HandoffStatus {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|e: String| rusqlite::types::FromSqlError::Other(e.into()))
    }
}

#[derive(Debug, Clone)]
pub struct Handoff {
    pub id: String,
    pub session_id: String,
    pub sender_id: String,
    pub sender_email: Option<String>,
    pub recipient_email: Option<String>,
    pub recipient_user_id: Option<String>,
    pub recipient_id: Option<String>,
    pub recipient_session_id: Option<String>,
    pub message: Option<String>,
    pub status: HandoffStatus,
    pub session_title: Option<String>,
    pub session_tool: Option<String>,
    pub session_model_id: Option<String>,
    pub session_message_count: Option<i64>,
    pub session_total_tokens: Option<i64>,
    pub sender_tier_snapshot: Option<String>,
    pub preview_token_hash: Option<String>,
    pub preview: String,
    pub created_at: String,
    pub expires_at: String,
    pub claimed_at: Option<String>,
    pub revoked_at: Option<String>,
    pub viewed_at: Option<String>,
    pub revoked_by_user_id: Option<String>,
    pub revoke_reason: Option<String>,
}

const COLUMNS: &str =
    "h.id, h.session_id, h.sender_id, u.email, h.recipient_email, h.recipient_user_id, \
    h.recipient_id, h.recipient_session_id, h.message, h.status, h.session_title, h.session_tool, \
    h.session_model_id, h.session_message_count, h.session_total_tokens, h.sender_tier_snapshot, \
    h.preview_token_hash, h.preview, h.created_at, h.expires_at, h.claimed_at, h.revoked_at, \
    h.viewed_at, h.revoked_by_user_id, h.revoke_reason";

fn from_row(r: &Row) -> rusqlite::Result<Handoff> {
    Ok(Handoff {
        id: r.get(0)?,
        session_id: r.get(1)?,
        sender_id: r.get(2)?,
        sender_email: r.get(3)?,
        recipient_email: r.get(4)?,
        recipient_user_id: r.get(5)?,
        recipient_id: r.get(6)?,
        recipient_session_id: r.get(7)?,
        message: r.get(8)?,
        status: r.get(9)?,
        session_title: r.get(10)?,
        session_tool: r.get(11)?,
        session_model_id: r.get(12)?,
        session_message_count: r.get(13)?,
        session_total_tokens: r.get(14)?,
        sender_tier_snapshot: r.get(15)?,
        preview_token_hash: r.get(16)?,
        preview: r.get(17)?,
        created_at: r.get(18)?,
        expires_at: r.get(19)?,
        claimed_at: r.get(20)?,
        revoked_at: r.get(21)?,
        viewed_at: r.get(22)?,
        revoked_by_user_id: r.get(23)?,
        revoke_reason: r.get(24)?,
    })
}

pub struct NewHandoff<'a> {
    pub id: &'a str,
    pub session_id: &'a str,
    pub sender_id: &'a str,
    pub recipient_email: Option<&'a str>,
    pub recipient_user_id: Option<&'a str>,
    pub message: Option<&'a str>,
    pub session_title: Option<&'a str>,
    pub session_tool: &'a str,
    pub session_model_id: Option<&'a str>,
    pub session_message_count: i64,
    pub session_total_tokens: i64,
    pub sender_tier_snapshot: &'a str,
    pub preview_token_hash: &'a str,
    pub preview: &'a str,
    pub created_at: &'a str,
    pub expires_at: &'a str,
}

pub fn insert(conn: &Connection, h: &NewHandoff) -> DbResult<()> {
    conn.execute(
        "INSERT INTO handoffs (id, session_id, sender_id, recipient_email, recipient_user_id, message,
                session_title, session_tool, session_model_id, session_message_count,
                session_total_tokens, sender_tier_snapshot, preview_token_hash, preview, created_at,
                expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            h.id,
            h.session_id,
            h.sender_id,
            h.recipient_email,
            h.recipient_user_id,
            h.message,
            h.session_title,
            h.session_tool,
            h.session_model_id,
            h.session_message_count,
            h.session_total_tokens,
            h.sender_tier_snapshot,
            h.preview_token_hash,
            h.preview,
            h.created_at,
            h.expires_at
        ],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> DbResult<Option<Handoff>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM handoffs h LEFT JOIN users u ON u.id = h.sender_id WHERE h.id = ?1"
    );
    Ok(conn.query_row(&sql, [id], from_row).optional()?)
}

/// Handoffs addressed to the user (by email or id) or claimed by them, newest first.
pub fn inbox(conn: &Connection, user_id: &str, email: &str) -> DbResult<Vec<Handoff>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM handoffs h LEFT JOIN users u ON u.id = h.sender_id
         WHERE h.id IN (SELECT id FROM handoffs WHERE recipient_email = ?2
                        UNION SELECT id FROM handoffs WHERE recipient_user_id = ?1
                        UNION SELECT id FROM handoffs WHERE recipient_id = ?1)
         ORDER BY h.created_at DESC, h.id DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![user_id, email], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn sent(conn: &Connection, user_id: &str) -> DbResult<Vec<Handoff>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM handoffs h LEFT JOIN users u ON u.id = h.sender_id
         WHERE h.sender_id = ?1 ORDER BY h.created_at DESC, h.id DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([user_id], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Moves a handoff from `from` to `to` status, only if it is still in `from`. `true` if it moved.
pub fn transition(
    conn: &Connection,
    id: &str,
    from: HandoffStatus,
    to: HandoffStatus,
) -> DbResult<bool> {
    let n = conn.execute(
        "UPDATE handoffs SET status = ?3 WHERE id = ?1 AND status = ?2",
        params![id, from, to],
    )?;
    Ok(n == 1)
}

pub fn mark_claimed(
    conn: &Connection,
    id: &str,
    claimer: &str,
    new_session_id: &str,
    at: &str,
) -> DbResult<bool> {
    let n = conn.execute(
        "UPDATE handoffs SET status = 'claimed', recipient_id = ?2, recipient_session_id = ?3, claimed_at = ?4
         WHERE id = ?1 AND status = 'pending'",
        params![id, claimer, new_session_id, at],
    )?;
    Ok(n == 1)
}

pub fn mark_revoked(
    conn: &Connection,
    id: &str,
    by: &str,
    reason: &str,
    at: &str,
) -> DbResult<bool> {
    let n = conn.execute(
        "UPDATE handoffs SET status = 'revoked', revoked_at = ?4, revoked_by_user_id = ?2, revoke_reason = ?3
         WHERE id = ?1 AND status = 'pending'",
        params![id, by, reason, at],
    )?;
    Ok(n == 1)
}

pub fn mark_viewed(conn: &Connection, id: &str, at: &str) -> DbResult<bool> {
    let n = conn.execute(
        "UPDATE handoffs SET viewed_at = ?2 WHERE id = ?1 AND viewed_at IS NULL",
        params![id, at],
    )?;
    Ok(n == 1)
}

/// Pending handoffs of a session, for expiring them when the session comes back from the trash.
pub fn pending_for_session(conn: &Connection, session_id: &str) -> DbResult<Vec<String>> {
    let mut stmt =
        conn.prepare("SELECT id FROM handoffs WHERE session_id = ?1 AND status = 'pending'")?;
    let rows = stmt.query_map([session_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Most bytes of an event's payload; larger ones are stored as `{"_truncated": true}`.
const EVENT_PAYLOAD_CAP: usize = 16 * 1024;

pub fn add_event(
    conn: &Connection,
    handoff_id: &str,
    kind: &str,
    actor: Option<&str>,
    payload: &serde_json::Value,
    at: &str,
) -> DbResult<()> {
    let mut text = payload.to_string();
    if text.len() > EVENT_PAYLOAD_CAP {
        text = r#"{"_truncated":true}"#.to_string();
    }
    conn.execute(
        "INSERT INTO handoff_events (handoff_id, event_type, actor_user_id, payload, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![handoff_id, kind, actor, text, at],
    )?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: String,
    pub handoff_id: String,
    pub author_user_id: Option<String>,
    pub content: String,
    pub created_at: String,
}

pub fn add_comment(conn: &Connection, c: &Comment) -> DbResult<()> {
    conn.execute(
        "INSERT INTO handoff_comments (id, handoff_id, author_user_id, content, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![c.id, c.handoff_id, c.author_user_id, c.content, c.created_at],
    )?;
    Ok(())
}

pub fn comments(conn: &Connection, handoff_id: &str, limit: i64) -> DbResult<Vec<Comment>> {
    let mut stmt = conn.prepare(
        "SELECT id, handoff_id, author_user_id, content, created_at FROM handoff_comments
         WHERE handoff_id = ?1 ORDER BY created_at, rowid LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![handoff_id, limit], |r| {
        Ok(Comment {
            id: r.get(0)?,
            handoff_id: r.get(1)?,
            author_user_id: r.get(2)?,
            content: r.get(3)?,
            created_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub handoff_id: String,
    pub event_type: String,
    pub actor_user_id: Option<String>,
    pub payload: Option<String>,
    pub created_at: String,
}

pub fn events(conn: &Connection, handoff_id: &str, limit: i64) -> DbResult<Vec<Event>> {
    let mut stmt = conn.prepare(
        "SELECT id, handoff_id, event_type, actor_user_id, payload, created_at FROM handoff_events
         WHERE handoff_id = ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![handoff_id, limit], |r| {
        Ok(Event {
            id: r.get(0)?,
            handoff_id: r.get(1)?,
            event_type: r.get(2)?,
            actor_user_id: r.get(3)?,
            payload: r.get(4)?,
            created_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
