//! What can go wrong when the index is searched: faults of tantivy or of the files under it.
//!
//! A search never fails because of what the caller typed, so every variant is our fault; the
//! API answers them with its generic 500 and logs the cause.

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The index lacks the fast column that maps a hit to its session.
    #[error("session_id has no fast column")]
    NoSessionIdColumn,
}
