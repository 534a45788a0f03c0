//! Audits: the latest report per session, the history of runs, and background jobs.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension};

use super::DbResult;

/// The latest report of a session (JSON text).
pub fn latest(conn: &Connection, user_id: &str, session_id: &str) -> DbResult<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT report FROM session_audits WHERE session_id = ?1 AND user_id = ?2",
            [session_id, user_id],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn put_latest(
    conn: &Connection,
    user_id: &str,
    session_id: &str,
    report: &str,
    now: &str,
) -> DbResult<()> {
    conn.execute(
        "INSERT INTO session_audits (session_id, user_id, report, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (session_id) DO UPDATE SET user_id = ?2, report = ?3, updated_at = ?4",
        params![session_id, user_id, report, now],
    )?;
    Ok(())
}

/// One run in the history.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub id: String,
    pub session_id: String,
    pub model: String,
    pub provider: String,
    pub base_url: String,
    pub trust_score: f64,
    pub total_claims: i64,
    pub verified: i64,
    pub unverified: i64,
    pub hallucinations: i64,
    pub findings: String,
    pub execution_time_ms: i64,
    pub created_at: String,
}

const HISTORY_COLUMNS: &str =
    "id, session_id, model, provider, base_url, trust_score, total_claims,
    verified, unverified, hallucinations, findings, execution_time_ms, created_at";

fn history_row(r: &rusqlite::Row) -> rusqlite::Result<HistoryRow> {
    Ok(HistoryRow {
        id: r.get(0)?,
        session_id: r.get(1)?,
        model: r.get(2)?,
        provider: r.get(3)?,
        base_url: r.get(4)?,
        trust_score: r.get(5)?,
        total_claims: r.get(6)?,
        verified: r.get(7)?,
        unverified: r.get(8)?,
        hallucinations: r.get(9)?,
        findings: r.get(10)?,
        execution_time_ms: r.get(11)?,
        created_at: r.get(12)?,
    })
}

pub fn insert_history(conn: &Connection, user_id: &str, row: &HistoryRow) -> DbResult<()> {
    conn.execute(
        &format!(
            "INSERT INTO audit_reports ({HISTORY_COLUMNS}, user_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ),
        params![
            row.id,
            row.session_id,
            row.model,
            row.provider,
            row.base_url,
            row.trust_score,
            row.total_claims,
            row.verified,
            row.unverified,
            row.hallucinations,
            row.findings,
            row.execution_time_ms,
            row.created_at,
            user_id
        ],
    )?;
    Ok(())
}

/// A session's runs, newest first.
pub fn history(conn: &Connection, user_id: &str, session_id: &str) -> DbResult<Vec<HistoryRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {HISTORY_COLUMNS} FROM audit_reports WHERE user_id = ?1 AND session_id = ?2
         ORDER BY created_at DESC, rowid DESC LIMIT 200"
    ))?;
    let rows = stmt
        .query_map([user_id, session_id], history_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn history_entry(
    conn: &Connection,
    user_id: &str,
    audit_id: &str,
) -> DbResult<Option<HistoryRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {HISTORY_COLUMNS} FROM audit_reports WHERE id = ?1 AND user_id = ?2"),
            [audit_id, user_id],
            history_row,
        )
        .optional()?)
}

/// The state of a background audit job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Running,
    Completed,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
        }
    }

    /// A job may only finish from `running`; a finished job is replaced by a new run.
    pub fn finish(self, ok: bool) -> Result<JobState, &'static str> {
        match self {
            JobState::Running if ok => Ok(JobState::Completed),
            JobState::Running => Ok(JobState::Failed),
            _ => Err("the job has already finished"),
        }
    }
}

impl ToSql for JobState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for JobState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_str()? {
            "running" => Ok(JobState::Running),
            "completed" => Ok(JobState::Completed),
            "failed" => Ok(JobState::Failed),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// Where a job's key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The user's saved judge key: read again when the job resumes.
    Saved,
    /// Sent with the request and never stored: the job cannot resume after a restart.
    Request,
    /// No key.
    None,
}

impl KeySource {
    fn as_str(self) -> &'static str {
        match self {
            KeySource::Saved => "saved",
            KeySource::Request => "request",
            KeySource::None => "none",
        }
    }
}

impl ToSql for KeySource {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for KeySource {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_str()? {
            "saved" => Ok(KeySource::Saved),
            "request" => Ok(KeySource::Request),
            "none" => Ok(KeySource::None),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Job {
    pub session_id: String,
    pub user_id: String,
    pub state: JobState,
    pub model: String,
    pub provider: String,
    pub base_url: String,
    pub key_source: KeySource,
    pub message_count: i64,
    pub error: Option<String>,
    pub audit_id: Option<String>,
    pub started_at: String,
}

const JOB_COLUMNS: &str = "session_id, user_id, state, model, provider, base_url, key_source,
    message_count, error, audit_id, started_at";

fn job_row(r: &rusqlite::Row) -> rusqlite::Result<Job> {
    Ok(Job {
        session_id: r.get(0)?,
        user_id: r.get(1)?,
        state: r.get(2)?,
        model: r.get(3)?,
        provider: r.get(4)?,
        base_url: r.get(5)?,
        key_source: r.get(6)?,
        message_count: r.get(7)?,
        error: r.get(8)?,
        audit_id: r.get(9)?,
        started_at: r.get(10)?,
    })
}

pub fn job(conn: &Connection, session_id: &str) -> DbResult<Option<Job>> {
    Ok(conn
        .query_row(
            &format!("SELECT {JOB_COLUMNS} FROM audit_jobs WHERE session_id = ?1"),
            [session_id],
            job_row,
        )
        .optional()?)
}

/// Starts a job: `false` when one is already running for the session (one job per session).
pub fn start_job(conn: &Connection, job: &Job) -> DbResult<bool> {
    let n = conn.execute(
        &format!(
            "INSERT INTO audit_jobs ({JOB_COLUMNS}) VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, NULL, NULL, ?8)
             ON CONFLICT (session_id) DO UPDATE SET user_id = ?2, state = 'running', model = ?3,
                 provider = ?4, base_url = ?5, key_source = ?6, message_count = ?7, error = NULL,
                 audit_id = NULL, started_at = ?8, finished_at = NULL
             WHERE audit_jobs.state <> 'running'"
        ),
        params![
            job.session_id,
            job.user_id,
            job.model,
            job.provider,
            job.base_url,
            job.key_source,
            job.message_count,
            job.started_at
        ],
    )?;
    Ok(n == 1)
}

/// Finishes a running job; `false` when it was not running (finished or replaced meanwhile).
pub fn finish_job(
    conn: &Connection,
    session_id: &str,
    ok: bool,
    error: Option<&str>,
    audit_id: Option<&str>,
    now: &str,
) -> DbResult<bool> {
    let Some(current) = job(conn, session_id)? else {
        return Ok(false);
    };
    let Ok(next) = current.state.finish(ok) else {
        return Ok(false);
    };
    let n = conn.execute(
        "UPDATE audit_jobs SET state = ?2, error = ?3, audit_id = ?4, finished_at = ?5
         WHERE session_id = ?1 AND state = 'running'",
        params![session_id, next, error, audit_id, now],
    )?;
    Ok(n == 1)
}

/// Jobs left `running` (by a stopped process).
pub fn running_jobs(conn: &Connection) -> DbResult<Vec<Job>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {JOB_COLUMNS} FROM audit_jobs WHERE state = 'running'"
    ))?;
    let rows = stmt
        .query_map([], job_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
