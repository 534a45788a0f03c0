//! The `uploads` and `upload_parts` tables: resumable chunked uploads (issue 14).

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::DbResult;

#[derive(Debug, Clone)]
pub struct UploadRow {
    pub id: String,
    pub user_id: String,
    pub session_id: String,
    pub total_size: i64,
    pub sha256: String,
    pub part_size: i64,
    /// `pending` or `completed`.
    pub status: String,
    pub created_at: String,
    pub expires_at: String,
    pub result_status: Option<i64>,
    pub result_body: Option<String>,
}

const COLUMNS: &str = "id, user_id, session_id, total_size, sha256, part_size, status, \
    created_at, expires_at, result_status, result_body";

fn from_row(r: &Row) -> rusqlite::Result<UploadRow> {
    Ok(UploadRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        session_id: r.get(2)?,
        total_size: r.get(3)?,
        sha256: r.get(4)?,
        part_size: r.get(5)?,
        status: r.get(6)?,
        created_at: r.get(7)?,
        expires_at: r.get(8)?,
        result_status: r.get(9)?,
        result_body: r.get(10)?,
    })
}

pub fn get(conn: &Connection, id: &str) -> DbResult<Option<UploadRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM uploads WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

/// Pending uploads that have not expired at `now`: the user's, and the server's.
pub fn count_pending(conn: &Connection, user_id: &str, now: &str) -> DbResult<(i64, i64)> {
    let mine = conn.query_row(
        "SELECT COUNT(*) FROM uploads WHERE user_id = ?1 AND status = 'pending' AND expires_at > ?2",
        params![user_id, now],
        |r| r.get(0),
    )?;
    let all = conn.query_row(
        "SELECT COUNT(*) FROM uploads WHERE status = 'pending' AND expires_at > ?1",
        [now],
        |r| r.get(0),
    )?;
    Ok((mine, all))
}

pub fn insert(conn: &Connection, row: &UploadRow) -> DbResult<()> {
    conn.execute(
        "INSERT INTO uploads (id, user_id, session_id, total_size, sha256, part_size, status, \
         created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)",
        params![
            row.id,
            row.user_id,
            row.session_id,
            row.total_size,
            row.sha256,
            row.part_size,
            row.created_at,
            row.expires_at
        ],
    )?;
    Ok(())
}

/// Records a received part (a re-sent part replaces the record).
pub fn put_part(
    conn: &Connection,
    upload_id: &str,
    n: i64,
    size: i64,
    sha256: &str,
) -> DbResult<()> {
    conn.execute(
        "INSERT INTO upload_parts (upload_id, part_number, size, sha256) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (upload_id, part_number) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256",
        params![upload_id, n, size, sha256],
    )?;
    Ok(())
}

/// The part numbers received, in order.
pub fn parts(conn: &Connection, upload_id: &str) -> DbResult<Vec<i64>> {
    let mut stmt = conn.prepare(
        "SELECT part_number FROM upload_parts WHERE upload_id = ?1 ORDER BY part_number",
    )?;
    let rows = stmt.query_map([upload_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks the upload completed with the push's answer, kept until `expires_at` for a replay.
pub fn complete(
    conn: &Connection,
    id: &str,
    status: i64,
    body: &str,
    expires_at: &str,
) -> DbResult<()> {
    conn.execute(
        "UPDATE uploads SET status = 'completed', result_status = ?2, result_body = ?3, \
         expires_at = ?4 WHERE id = ?1",
        params![id, status, body, expires_at],
    )?;
    conn.execute("DELETE FROM upload_parts WHERE upload_id = ?1", [id])?;
    Ok(())
}

pub fn delete(conn: &Connection, id: &str) -> DbResult<bool> {
    Ok(conn.execute("DELETE FROM uploads WHERE id = ?1", [id])? > 0)
}

/// Ids of the uploads expired at `now` (pending or completed).
pub fn expired(conn: &Connection, now: &str, limit: i64) -> DbResult<Vec<String>> {
    let mut stmt =
        conn.prepare("SELECT id FROM uploads WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2")?;
    let rows = stmt.query_map(params![now, limit], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every upload id (to find part directories no row names).
pub fn all_ids(conn: &Connection) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare("SELECT id FROM uploads")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
