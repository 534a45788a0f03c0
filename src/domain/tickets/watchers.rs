//! Watchers: following and unfollowing a ticket, and who follows it.

use super::{load, Caller};
use crate::clock::Clock;
use crate::db::tickets;
use crate::db::Db;
use crate::domain::DomainResult;

/// Follows (`true`) or unfollows a ticket; returns whether the caller now watches it.
pub async fn set_watch(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project_id: String,
    id: String,
    on: bool,
) -> DomainResult<bool> {
    let clock = clock.clone();
    db.write(move |tx| {
        load(tx, &project_id, &id)?;
        if on {
            tickets::watch(tx, &id, caller.user(), &clock.now_string())?;
        } else {
            tickets::unwatch(tx, &id, caller.user())?;
        }
        Ok(on)
    })
    .await
}

/// `(user_id, email, since)` of the ticket's watchers.
pub async fn watchers(
    db: &Db,
    project_id: String,
    id: String,
) -> DomainResult<Vec<(String, String, String)>> {
    db.read(move |conn| {
        load(conn, &project_id, &id)?;
        Ok(tickets::watchers(conn, &id)?)
    })
    .await
}
