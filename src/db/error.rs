//! What can go wrong in the database layer, in its own words.
//!
//! The SQL functions and the writer return [`DbError`]; a unique-constraint violation is told
//! apart once, here, so callers never match on SQLite codes. The API maps it to its envelope.

use rusqlite::ErrorCode;

pub type DbResult<T> = Result<T, DbError>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A row with the same unique key already exists.
    #[error("database: {0}")]
    Duplicate(rusqlite::Error),
    #[error("database: {0}")]
    Sqlite(rusqlite::Error),
    #[error("database pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// The writer could not open the batch's transaction.
    #[error("cannot start a transaction: {0}")]
    Begin(String),
    /// The batch this job was part of did not commit.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The batch broke before this job could finish (SQLite rolled the transaction back, or a
    /// savepoint could not be opened or released): nothing of the batch is committed.
    #[error("write not committed: {0}")]
    Broken(String),
    /// The writer's queue is full: the server is overloaded, the client may retry shortly.
    #[error("the database writer's queue is full")]
    QueueFull,
    #[error("the database writer has stopped")]
    WriterStopped,
    #[error("the database writer dropped a job")]
    JobDropped,
    #[error("a database job panicked")]
    JobPanicked,
    #[error("blocking task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<rusqlite::Error> for DbError {
    fn from(err: rusqlite::Error) -> Self {
        match &err {
            rusqlite::Error::SqliteFailure(e, _)
                if e.code == ErrorCode::ConstraintViolation
                    && e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                DbError::Duplicate(err)
            }
            _ => DbError::Sqlite(err),
        }
    }
}
