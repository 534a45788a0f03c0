//! Session rules that are not HTTP: id and alias formats, owner-scoped lookup, the push
//! compare-and-swap, soft delete and restore, renames and aliases.

use std::sync::LazyLock;

use chrono::Duration;
use regex::Regex;

use crate::archive::Extracted;
use crate::clock::{self, Clock};
use crate::db::sessions::{self, Contents, Edit, SessionRow, Visibility};
use crate::db::shares;
use crate::db::users::{self, ClientInfo};
use crate::db::Db;
use crate::domain::git_remote;
use crate::domain::{DomainError, DomainResult};

static SESSION_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ses_[a-z0-9]{8,40}$").expect("regex compiles"));
static ALIAS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,99}$").expect("regex compiles"));

/// Days a soft-deleted session waits before it may be purged.
pub const PURGE_AFTER_DAYS: i64 = 30;

pub fn is_session_id(s: &str) -> bool {
    SESSION_ID.is_match(s)
}

pub fn is_alias(s: &str) -> bool {
    ALIAS.is_match(s)
}

/// A fresh server-assigned id: `ses_` + 16 hex characters.
pub fn new_session_id() -> String {
    format!("ses_{}", crate::auth::keys::random_hex(8))
}

/// The caller's session by id or alias (400 for a value that is neither, 404 when not theirs).
pub async fn find_owned(
    db: &Db,
    user_id: &str,
    id_or_alias: &str,
    vis: Visibility,
) -> DomainResult<SessionRow> {
    if !is_session_id(id_or_alias) && !is_alias(id_or_alias) {
        return Err(malformed_session_id());
    }
    let (user_id, key) = (user_id.to_string(), id_or_alias.to_string());
    db.read(move |conn| sessions::find_owned(conn, &user_id, &key, vis))
        .await?
        .ok_or_else(session_not_found)
}

/// A path value that is neither a session id nor an alias.
pub fn malformed_session_id() -> DomainError {
    DomainError::Malformed("Invalid session ID or alias format".into())
}

/// No such session of the caller (or not in the state asked for).
pub fn session_not_found() -> DomainError {
    DomainError::NotFound("Session not found".into())
}

/// What a push asks for besides the archive.
#[derive(Debug, Clone, Default)]
pub struct PushConditions {
    pub if_match: Option<String>,
    pub undelete: bool,
}

fn etag_mismatch(message: &'static str, current: &str) -> DomainError {
    DomainError::StaleEtag {
        message,
        current: current.to_string(),
    }
}

/// The checks a push makes against the row it would replace (contract 01 §5.5 step 7).
/// Run once before the upload is read (to fail fast) and again inside the write transaction.
pub fn check_push(
    row: Option<&SessionRow>,
    user_id: &str,
    cond: &PushConditions,
) -> DomainResult<()> {
    let Some(row) = row else { return Ok(()) };
    if row.user_id != user_id {
        return Err(DomainError::Conflict(
            "Session ID already claimed by another user".into(),
        ));
    }
    let stale = cond
        .if_match
        .as_deref()
        .is_some_and(|tag| tag != row.blob_hash);
    match (row.is_deleted(), cond.undelete) {
        (true, false) => Err(DomainError::Gone(
            "Session is deleted. Send X-SessionFS-Undelete: true to restore.".into(),
        )),
        (true, true) if stale => Err(etag_mismatch(
            "ETag mismatch — session was modified before deletion",
            &row.blob_hash,
        )),
        (false, _) if stale => Err(etag_mismatch(
            "ETag mismatch — session has been updated",
            &row.blob_hash,
        )),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PushOutcome {
    Created,
    Updated,
}

/// A validated archive already in the blob store.
pub struct StoredArchive {
    pub hash: String,
    pub size: u64,
    pub meta: Extracted,
    /// Keeps garbage collection off the archive until the row naming it is committed.
    pub pin: Option<crate::archive::BlobPin>,
}

/// Points session `id` at the stored archive, as one compare-and-swap in the writer.
/// `existed` says whether the row was there when the push began.
#[allow(clippy::too_many_arguments)] // the push's parts, each already checked by the caller
pub async fn commit_push(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    id: &str,
    existed: bool,
    cond: PushConditions,
    mut archive: StoredArchive,
    client: ClientInfo,
) -> DomainResult<(PushOutcome, SessionRow)> {
    let (user_id, id) = (user_id.to_string(), id.to_string());
    let _pin = archive.pin.take(); // released once the row is committed (or the push failed)
    let clock = clock.clone();
    db.write(move |tx| {
        let row = sessions::get(tx, &id)?;
        if row.is_some() && !existed {
            return Err(DomainError::Conflict(
                "Session created by another request during upload".into(),
            ));
        }
        check_push(row.as_ref(), &user_id, &cond)?;
        let now = clock.now_string();
        let remote = git_remote::normalize(&archive.meta.git_remote_url);
        let contents = Contents {
            blob_hash: &archive.hash,
            blob_size_bytes: archive.size as i64,
            meta: &archive.meta,
            git_remote_normalized: &remote,
        };
        let outcome = if let Some(row) = &row {
            if row.is_deleted() {
                // Back from the trash: links shared before the delete stay dead.
                shares::revoke_all_for_session(tx, &id, &now)?;
                crate::domain::handoffs::expire_for_session(tx, &id, &now)?;
            }
            sessions::replace_contents(tx, &id, &contents, &now)?;
            PushOutcome::Updated
        } else {
            sessions::insert(tx, &id, &user_id, &contents, &now)?;
            PushOutcome::Created
        };
        if client.version.is_some() || client.platform.is_some() {
            users::record_client(tx, &user_id, &client, &now)?;
        }
        Ok((outcome, reread(tx, &id)?))
    })
    .await
}

/// Stores an uploaded archive as a new session with a server-assigned id.
pub async fn create_uploaded(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    mut archive: StoredArchive,
) -> DomainResult<SessionRow> {
    let user_id = user_id.to_string();
    let _pin = archive.pin.take(); // released once the row is committed (or the upload failed)
    let clock = clock.clone();
    db.write(move |tx| {
        let now = clock.now_string();
        let remote = git_remote::normalize(&archive.meta.git_remote_url);
        let contents = Contents {
            blob_hash: &archive.hash,
            blob_size_bytes: archive.size as i64,
            meta: &archive.meta,
            git_remote_normalized: &remote,
        };
        let mut id = new_session_id();
        while sessions::get(tx, &id)?.is_some() {
            id = new_session_id();
        }
        sessions::insert(tx, &id, &user_id, &contents, &now)?;
        reread(tx, &id)
    })
    .await
}

/// How a soft delete is recorded: `cloud`, or `everywhere` (stored as `both`).
pub fn delete_scope(query: Option<&str>) -> DomainResult<&'static str> {
    match query {
        None | Some("cloud") => Ok("cloud"),
        Some("everywhere") => Ok("both"),
        Some(_) => Err(DomainError::Malformed(
            "scope must be 'cloud' or 'everywhere'".into(),
        )),
    }
}

/// Soft-deletes the caller's session. 410 when it is already deleted.
pub async fn soft_delete(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    id_or_alias: &str,
    scope: &'static str,
) -> DomainResult<SessionRow> {
    let row = find_owned(db, user_id, id_or_alias, Visibility::LiveOrDeleted).await?;
    let (user_id, id) = (user_id.to_string(), row.id);
    let clock = clock.clone();
    db.write(move |tx| {
        let row = sessions::get(tx, &id)?
            .ok_or_else(|| DomainError::NotFound("Session not found".into()))?;
        if row.is_deleted() {
            return Err(DomainError::Gone("Session already deleted".into()));
        }
        let now = clock.now();
        let purge = clock::format(now + Duration::days(PURGE_AFTER_DAYS));
        sessions::soft_delete(tx, &id, &user_id, scope, &clock::format(now), &purge)?;
        reread(tx, &id)
    })
    .await
}

/// Restores a soft-deleted session; returns it and the scope it had been deleted with.
pub async fn restore(
    db: &Db,
    user_id: &str,
    id_or_alias: &str,
) -> DomainResult<(SessionRow, String)> {
    let lookup = find_owned(db, user_id, id_or_alias, Visibility::LiveOrDeleted).await;
    let row = match lookup {
        Ok(row) => row,
        Err(DomainError::NotFound(_)) => {
            return Err(DomainError::Gone(
                "Session not found or already purged".into(),
            ))
        }
        Err(e) => return Err(e),
    };
    let id = row.id;
    db.write(move |tx| {
        let row = sessions::get(tx, &id)?
            .ok_or_else(|| DomainError::Gone("Session not found or already purged".into()))?;
        let Some(scope) = row.delete_scope.clone().filter(|_| row.is_deleted()) else {
            return Err(DomainError::Conflict("Session is not deleted".into()));
        };
        sessions::restore(tx, &id)?;
        Ok((reread(tx, &id)?, scope))
    })
    .await
}

fn reread(conn: &rusqlite::Connection, id: &str) -> DomainResult<SessionRow> {
    sessions::get(conn, id)?
        .ok_or_else(|| DomainError::Fault("session vanished inside its transaction".into()))
}

/// Applies an edit to one of the caller's live sessions. An alias must be free among the
/// caller's other live sessions (409 otherwise).
pub async fn edit(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    id_or_alias: &str,
    change: Edit,
) -> DomainResult<SessionRow> {
    let row = find_owned(db, user_id, id_or_alias, Visibility::Live).await?;
    let (user_id, id) = (user_id.to_string(), row.id);
    let clock = clock.clone();
    db.write(move |tx| {
        if let Some(Some(alias)) = &change.alias {
            if sessions::alias_taken(tx, &user_id, alias, &id)? {
                return Err(DomainError::Conflict(format!(
                    "Alias '{alias}' is already in use"
                )));
            }
        }
        sessions::edit(tx, &id, &change, &clock.now_string())?;
        reread(tx, &id)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_aliases() {
        assert!(is_session_id("ses_0123456789abcdef"));
        assert!(is_session_id(&new_session_id()));
        assert!(!is_session_id("ses_ABC12345"));
        assert!(!is_session_id("ses_short"));
        assert!(is_alias("login-fix"));
        assert!(!is_alias("x!"));
        assert!(!is_alias("-lead"));
        assert_eq!(delete_scope(Some("everywhere")).unwrap(), "both");
        assert!(delete_scope(Some("local")).is_err());
    }
}
