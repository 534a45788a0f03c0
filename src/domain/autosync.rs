//! Autosync: the caller's sync mode, the sessions they watch and their sync status, and the
//! capture-health report of their watchers.

use serde_json::Value;

use crate::clock::Clock;
use crate::db::users::User;
use crate::db::{sessions, sync, Db};
use crate::domain::tiers::{Feature, Tier};
use crate::domain::{DomainError, DomainResult};

/// The sync modes a user may choose.
pub const MODES: [&str; 3] = ["off", "all", "selective"];
/// The statuses a watched session may report.
pub const WATCH_STATUSES: [&str; 4] = ["failed", "pending", "queued", "synced"];

/// Sets the sync mode (anything but `off` needs autosync) and the debounce, clamped to 5–300
/// seconds; returns the debounce now in force.
pub async fn set_settings(
    db: &Db,
    user: &User,
    tier: Tier,
    mode: &str,
    debounce_seconds: Option<i64>,
) -> DomainResult<i64> {
    if mode != MODES[0] {
        tier.require(Feature::Autosync)?;
    }
    if !MODES.contains(&mode) {
        return Err(DomainError::Malformed(
            "Mode must be 'off', 'all', or 'selective'".into(),
        ));
    }
    let debounce = debounce_seconds.map(|d| d.clamp(5, 300));
    let (user_id, mode) = (user.id.clone(), mode.to_string());
    db.write(move |tx| sync::set_settings(tx, &user_id, &mode, debounce))
        .await?;
    Ok(debounce.unwrap_or(user.sync_debounce))
}

/// Watches one of the user's live sessions (by exact id).
pub async fn watch(db: &Db, clock: &Clock, user_id: &str, session_id: &str) -> DomainResult<()> {
    let (user_id, session_id, now) = (
        user_id.to_string(),
        session_id.to_string(),
        clock.now_string(),
    );
    db.write(move |tx| {
        match sessions::get(tx, &session_id)? {
            Some(row) if row.user_id == user_id && !row.is_deleted() => {}
            _ => return Err(DomainError::NotFound("Session not found".into())),
        }
        Ok(sync::watch(tx, &user_id, &session_id, &now)?)
    })
    .await
}

pub async fn unwatch(db: &Db, user_id: &str, session_id: &str) -> DomainResult<()> {
    let (user_id, session_id) = (user_id.to_string(), session_id.to_string());
    db.write(move |tx| sync::unwatch(tx, &user_id, &session_id))
        .await?;
    Ok(())
}

/// Records a watched session's status; `false` when the session is not watched.
pub async fn set_status(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    session_id: &str,
    status: &str,
) -> DomainResult<bool> {
    if !WATCH_STATUSES.contains(&status) {
        return Err(DomainError::Malformed(format!(
            "Status must be one of: {}",
            WATCH_STATUSES.join(", ")
        )));
    }
    let (user_id, session_id, status, now) = (
        user_id.to_string(),
        session_id.to_string(),
        status.to_string(),
        clock.now_string(),
    );
    Ok(db
        .write(move |tx| sync::set_status(tx, &user_id, &session_id, &status, &now))
        .await?)
}

/// Stores the capture-health report (at most 100 watcher objects, 64 KiB); returns how many.
pub async fn store_capture_health(
    db: &Db,
    user_id: &str,
    watchers: Vec<Value>,
) -> DomainResult<usize> {
    if watchers.len() > 100 || watchers.iter().any(|w| !w.is_object()) {
        return Err(DomainError::Invalid {
            loc: vec!["body", "watchers"],
            message: "At most 100 watcher objects".into(),
            input: Value::Null,
        });
    }
    let count = watchers.len();
    let text = Value::Array(watchers).to_string();
    if text.len() > 64 * 1024 {
        return Err(DomainError::Malformed(
            "Capture health report is too large".into(),
        ));
    }
    let user_id = user_id.to_string();
    db.write(move |tx| sync::set_capture_health(tx, &user_id, &text))
        .await?;
    Ok(count)
}
