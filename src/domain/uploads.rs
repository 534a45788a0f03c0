//! Resumable chunked uploads (issue 14): the `sfs` client's path for archives over 8 MiB.
//!
//! An upload is declared first (session id, total size, SHA-256) after the checks a push makes;
//! its parts then arrive one at a time, each streamed to a file in the archive store's temp
//! area (`archives/tmp/uploads/<upload id>/<n>`), checked against its `X-Part-SHA256` and its
//! expected size, fsynced and recorded. Parts and rows survive a restart, so the client resumes
//! with the parts the server lists. Complete concatenates the parts in order into one staged
//! file (a buffer at a time), checks the declared size and hash, and hands it to the push path.
//! Its answer is kept on the upload until it expires, so a client that lost the response and
//! completes again gets the same answer. Unfinished uploads expire (`--upload-expiry-hours`);
//! [`sweep`] deletes them and their parts.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::Value;

use crate::archive::store::Staged;
use crate::archive::BlobStore;
use crate::clock::Clock;
use crate::db::sessions::{self, SessionRow};
use crate::db::uploads::{self as rows, UploadRow};
use crate::db::Db;
use crate::domain::{DomainError, DomainResult};

/// Size of every part but the last, as initiate announces it (`Config::upload_part_size`).
pub const PART_SIZE: u64 = 8 * 1024 * 1024;

/// Why an upload request is refused, in the uploads' words (statuses are the API's choice).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("Upload not found")]
    NotFound,
    #[error("Too many pending uploads (limit {limit}); finish or abort one first")]
    TooManyPending { limit: i64 },
    #[error("Upload has expired; start a new one")]
    Expired,
    #[error("Upload is already completed")]
    NotPending,
    #[error("Part {n} is beyond the upload's {count} parts")]
    PartOutOfRange { n: u64, count: u64 },
    #[error("Part {n} is larger than its expected {expected} bytes")]
    PartTooLarge { n: u64, expected: u64 },
    #[error("Part {n} has {got} bytes; expected {expected}")]
    PartSize { n: u64, got: u64, expected: u64 },
    #[error("X-Part-SHA256 header is required: the part's SHA-256 in hex")]
    PartHashMissing,
    #[error("Part {n} does not match its X-Part-SHA256")]
    PartChecksum { n: u64 },
    #[error("Parts missing: {missing:?}")]
    MissingParts { missing: Vec<u64> },
    #[error("The assembled upload does not match the declared size and SHA-256")]
    Checksum,
}

impl From<UploadError> for DomainError {
    fn from(e: UploadError) -> Self {
        DomainError::Upload(e)
    }
}

/// Where an upload stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Completed,
    Expired,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Completed => "completed",
            Phase::Expired => "expired",
        }
    }
}

/// An upload with its computed phase.
pub struct Upload {
    pub row: UploadRow,
    pub phase: Phase,
}

impl Upload {
    pub fn total_size(&self) -> u64 {
        self.row.total_size as u64
    }
    pub fn part_size(&self) -> u64 {
        self.row.part_size as u64
    }
    pub fn part_count(&self) -> u64 {
        part_count(self.total_size(), self.part_size())
    }
    /// The exact size of part `n` (1-based).
    fn part_len(&self, n: u64) -> u64 {
        let start = (n - 1) * self.part_size();
        self.part_size().min(self.total_size() - start)
    }
    fn require_pending(&self) -> Result<(), UploadError> {
        match self.phase {
            Phase::Pending => Ok(()),
            Phase::Completed => Err(UploadError::NotPending),
            Phase::Expired => Err(UploadError::Expired),
        }
    }
}

pub fn part_count(total: u64, part_size: u64) -> u64 {
    total.div_ceil(part_size)
}

/// `upl_` and 32 hex characters.
pub fn is_upload_id(s: &str) -> bool {
    s.strip_prefix("upl_")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What a caller may pend: their own limit and the server's.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub per_user: i64,
    pub total: i64,
    pub expiry: chrono::Duration,
    pub part_size: u64,
}

/// Records a new upload for `session_id` (the push checks already passed).
pub async fn initiate(
    db: &Db,
    clock: &Clock,
    budget: Budget,
    user_id: &str,
    session_id: &str,
    total_size: u64,
    sha256: &str,
) -> DomainResult<Upload> {
    let row = UploadRow {
        id: format!("upl_{}", crate::auth::keys::random_hex(16)),
        user_id: user_id.to_string(),
        session_id: session_id.to_string(),
        total_size: total_size as i64,
        sha256: sha256.to_string(),
        part_size: budget.part_size.max(1) as i64,
        status: "pending".into(),
        created_at: clock.now_string(),
        expires_at: clock.from_now(budget.expiry),
        result_status: None,
        result_body: None,
    };
    let inserted = row.clone();
    db.write(move |tx| {
        let (mine, all) = rows::count_pending(tx, &inserted.user_id, &inserted.created_at)?;
        if mine >= budget.per_user {
            return Err(UploadError::TooManyPending {
                limit: budget.per_user,
            }
            .into());
        }
        if all >= budget.total {
            return Err(UploadError::TooManyPending {
                limit: budget.total,
            }
            .into());
        }
        rows::insert(tx, &inserted)?;
        Ok::<_, DomainError>(())
    })
    .await?;
    Ok(Upload {
        row,
        phase: Phase::Pending,
    })
}

/// The caller's upload (404 for a malformed id, another user's or an unknown one).
pub async fn find_owned(db: &Db, clock: &Clock, user_id: &str, id: &str) -> DomainResult<Upload> {
    if !is_upload_id(id) {
        return Err(UploadError::NotFound.into());
    }
    let key = id.to_string();
    let row = db
        .read(move |conn| rows::get(conn, &key))
        .await?
        .filter(|r| r.user_id == user_id)
        .ok_or(UploadError::NotFound)?;
    let now = clock.now_string();
    let phase = match row.status.as_str() {
        _ if row.expires_at <= now => Phase::Expired,
        "completed" => Phase::Completed,
        _ => Phase::Pending,
    };
    Ok(Upload { row, phase })
}

/// The caller's upload and the parts received.
pub async fn status(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    id: &str,
) -> DomainResult<(Upload, Vec<i64>)> {
    let upload = find_owned(db, clock, user_id, id).await?;
    let key = upload.row.id.clone();
    let parts = db.read(move |conn| rows::parts(conn, &key)).await?;
    Ok((upload, parts))
}

/// One lock per upload: a part, a complete and an abort of the same upload run one at a time.
static LOCKS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Mutex::default);

async fn lock(id: &str) -> tokio::sync::OwnedMutexGuard<()> {
    let lock = {
        let mut locks = LOCKS.lock().unwrap_or_else(PoisonError::into_inner);
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(id.to_string()).or_default().clone()
    };
    lock.lock_owned().await
}

/// Which part a request sends, and the SHA-256 it claims (`X-Part-SHA256`).
pub struct Part {
    /// 1-based; 0 for a number that did not parse.
    pub number: u64,
    pub sha256: Option<String>,
}

/// Receives part `n` of the caller's upload from `body`, streamed to disk and checked against
/// its expected size and `sha256` (hex) before it is recorded. Re-sending a part replaces it.
pub async fn receive_part<S, E>(
    db: &Db,
    blobs: &BlobStore,
    clock: &Clock,
    user_id: &str,
    id: &str,
    part: Part,
    mut body: S,
) -> DomainResult<(u64, String)>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let Part { number: n, sha256 } = part;
    let upload = find_owned(db, clock, user_id, id).await?;
    let _guard = lock(id).await;
    upload.require_pending()?;
    let count = upload.part_count();
    if n == 0 || n > count {
        return Err(UploadError::PartOutOfRange { n, count }.into());
    }
    let declared = sha256
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| crate::archive::store::is_hash(h))
        .ok_or(UploadError::PartHashMissing)?;
    let expected = upload.part_len(n);
    let mut staged = blobs.stage_part(id).await?;
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| DomainError::Malformed(format!("Invalid request body: {e}")))?;
        if staged.size() + chunk.len() as u64 > expected {
            return Err(UploadError::PartTooLarge { n, expected }.into());
        }
        staged.write(&chunk).await?;
    }
    let staged = staged.finish().await?;
    if staged.size != expected {
        return Err(UploadError::PartSize {
            n,
            got: staged.size,
            expected,
        }
        .into());
    }
    if staged.hash != declared {
        return Err(UploadError::PartChecksum { n }.into());
    }
    let (size, hash) = (staged.size as i64, staged.hash.clone());
    let (store, key) = (blobs.clone(), id.to_string());
    tokio::task::spawn_blocking(move || store.commit_part(&key, n, staged)).await??;
    let key = id.to_string();
    let recorded = hash.clone();
    db.write(move |tx| rows::put_part(tx, &key, n as i64, size, &recorded))
        .await?;
    Ok((size as u64, hash))
}

/// What complete found.
pub enum Completion {
    /// Completed before: the push's stored answer (status, JSON body).
    Replay { status: u16, body: Value },
    /// Every part is here: assemble and push it.
    Ready {
        upload: Upload,
        /// Held until the push is answered: no part, abort or second complete meanwhile.
        guard: tokio::sync::OwnedMutexGuard<()>,
    },
}

/// Starts completing the caller's upload: its stored answer when it was completed before,
/// otherwise the upload once every part is here.
pub async fn begin_complete(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    id: &str,
) -> DomainResult<Completion> {
    find_owned(db, clock, user_id, id).await?;
    let guard = lock(id).await;
    let (upload, received) = status(db, clock, user_id, id).await?;
    if upload.phase == Phase::Completed {
        let status = upload.row.result_status.unwrap_or(200) as u16;
        let body = upload
            .row
            .result_body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
            .ok_or_else(|| DomainError::Fault("a completed upload without its answer".into()))?;
        return Ok(Completion::Replay { status, body });
    }
    upload.require_pending()?;
    let missing: Vec<u64> = (1..=upload.part_count())
        .filter(|n| !received.contains(&(*n as i64)))
        .collect();
    if !missing.is_empty() {
        return Err(UploadError::MissingParts { missing }.into());
    }
    Ok(Completion::Ready { upload, guard })
}

/// Concatenates the upload's parts into one staged file (on the blocking pool, a buffer at a
/// time) and checks it has the declared size and SHA-256.
pub async fn assemble(blobs: &BlobStore, upload: &Upload) -> DomainResult<Staged> {
    let (store, key, count) = (blobs.clone(), upload.row.id.clone(), upload.part_count());
    let staged = tokio::task::spawn_blocking(move || store.assemble(&key, count)).await??;
    if staged.size != upload.total_size() || staged.hash != upload.row.sha256 {
        return Err(UploadError::Checksum.into());
    }
    Ok(staged)
}

/// The session already names exactly this upload's bytes (their SHA-256 is the session's
/// ETag): the push landed, but its answer was lost or the server stopped before the upload was
/// marked completed. A repeated complete then answers the push's success instead of a
/// conflict with its own result.
pub async fn landed(db: &Db, upload: &Upload) -> DomainResult<Option<SessionRow>> {
    let (session_id, user_id, hash) = (
        upload.row.session_id.clone(),
        upload.row.user_id.clone(),
        upload.row.sha256.clone(),
    );
    let row = db
        .read(move |conn| sessions::get(conn, &session_id))
        .await?;
    Ok(row.filter(|r| r.user_id == user_id && !r.is_deleted() && r.blob_hash == hash))
}

/// Marks the upload completed with the push's answer (kept for a replay until it expires) and
/// deletes its parts.
pub async fn finish(
    db: &Db,
    blobs: &BlobStore,
    clock: &Clock,
    expiry: chrono::Duration,
    id: &str,
    status: u16,
    body: &Value,
) -> DomainResult<()> {
    let (key, body, expires) = (id.to_string(), body.to_string(), clock.from_now(expiry));
    db.write(move |tx| rows::complete(tx, &key, status.into(), &body, &expires))
        .await?;
    let (store, key) = (blobs.clone(), id.to_string());
    tokio::task::spawn_blocking(move || store.remove_upload(&key)).await??;
    Ok(())
}

/// Aborts the caller's upload: its row and parts are deleted.
pub async fn abort(
    db: &Db,
    blobs: &BlobStore,
    clock: &Clock,
    user_id: &str,
    id: &str,
) -> DomainResult<()> {
    let upload = find_owned(db, clock, user_id, id).await?;
    let _guard = lock(id).await;
    let key = upload.row.id.clone();
    db.write(move |tx| rows::delete(tx, &key)).await?;
    let (store, key) = (blobs.clone(), id.to_string());
    tokio::task::spawn_blocking(move || store.remove_upload(&key)).await??;
    Ok(())
}

/// Deletes expired uploads and their parts, and part directories no upload names (an abort
/// that raced a part). Returns how many uploads were removed.
pub async fn sweep(db: &Db, blobs: &BlobStore, clock: &Clock) -> DomainResult<usize> {
    let now = clock.now_string();
    let expired = db
        .write(move |tx| {
            let ids = rows::expired(tx, &now, 1_000)?;
            for id in &ids {
                rows::delete(tx, id)?;
            }
            Ok::<_, DomainError>(ids)
        })
        .await?;
    let known = db.read(rows::all_ids).await?;
    let store = blobs.clone();
    let removed = expired.len();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        for id in &expired {
            store.remove_upload(id)?;
        }
        // Young directories may belong to an upload initiated after `known` was read.
        for dir in store.upload_ids_older_than(std::time::Duration::from_secs(3600))? {
            if is_upload_id(&dir) && !known.contains(&dir) {
                store.remove_upload(&dir)?;
            }
        }
        Ok(())
    })
    .await??;
    Ok(removed)
}
