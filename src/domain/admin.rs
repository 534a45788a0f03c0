//! Operator actions for the `sessionfs-server admin …` command line: create accounts, set
//! tiers (tier `admin` makes a platform admin), disable and enable accounts, revoke keys —
//! without SQL, on a data dir the server may be serving. Each action is written to the admin
//! audit log with source `cli`.

use serde_json::json;

use crate::auth::keys::{self, new_id};
use crate::clock::Clock;
use crate::db::{admin, api_keys, users, Db};
use crate::domain::accounts::normalize_email;
use crate::domain::tiers::Tier;
use crate::domain::{DomainError, DomainResult};

/// Tiers an operator may set: the five plans, and `admin` (platform admin, enterprise features).
pub fn valid_tier(tier: &str) -> Result<String, String> {
    let t = tier.trim().to_ascii_lowercase();
    if t == "admin" || t.parse::<Tier>().is_ok() {
        Ok(t)
    } else {
        Err(format!(
            "unknown tier '{tier}' (one of: free, starter, pro, team, enterprise, admin)"
        ))
    }
}

fn user_by_email(conn: &rusqlite::Connection, email: &str) -> DomainResult<users::User> {
    users::find_by_email(conn, email)?
        .ok_or_else(|| DomainError::NotFound(format!("no account with email {email}")))
}

/// Creates a verified account with a first key; returns the user id and the raw key.
pub async fn create_user(
    db: &Db,
    clock: &Clock,
    email: &str,
    tier: &str,
) -> DomainResult<(String, String)> {
    let email = normalize_email(email).map_err(DomainError::Malformed)?;
    let tier = valid_tier(tier).map_err(DomainError::Malformed)?;
    let clock = clock.clone();
    db.write(move |tx| {
        if users::find_by_email(tx, &email)?.is_some() {
            return Err(DomainError::Conflict(format!(
                "an account with email {email} already exists"
            )));
        }
        let now = clock.now_string();
        let user_id = new_id();
        users::insert(
            tx,
            &users::NewUser {
                id: &user_id,
                email: &email,
                tier: &tier,
                email_verified: true,
                created_at: &now,
            },
        )?;
        let raw = keys::generate();
        api_keys::insert(
            tx,
            &api_keys::NewKey {
                id: &new_id(),
                user_id: &user_id,
                key_hash: &raw.hash,
                key_prefix: Some(&raw.display_prefix()),
                name: Some("default"),
                created_at: &now,
                expires_at: None,
                created_by_user_id: None,
            },
        )?;
        admin::record(
            tx,
            None,
            "create_user",
            "user",
            &user_id,
            &json!({"email": email, "tier": tier}),
            "cli",
            &now,
        )?;
        Ok((user_id, raw.raw))
    })
    .await
}

pub async fn set_tier(db: &Db, clock: &Clock, email: &str, tier: &str) -> DomainResult<String> {
    let (email, tier) = (
        email.trim().to_lowercase(),
        valid_tier(tier).map_err(DomainError::Malformed)?,
    );
    let clock = clock.clone();
    db.write(move |tx| {
        let user = user_by_email(tx, &email)?;
        users::set_tier(tx, &user.id, &tier)?;
        admin::record(
            tx,
            None,
            "set_tier",
            "user",
            &user.id,
            &json!({"from": user.tier, "to": tier}),
            "cli",
            &clock.now_string(),
        )?;
        Ok(user.tier)
    })
    .await
}

pub async fn set_active(db: &Db, clock: &Clock, email: &str, active: bool) -> DomainResult<()> {
    let email = email.trim().to_lowercase();
    let clock = clock.clone();
    db.write(move |tx| {
        let user = user_by_email(tx, &email)?;
        users::set_active(tx, &user.id, active)?;
        let action = if active {
            "enable_user"
        } else {
            "disable_user"
        };
        let at = clock.now_string();
        admin::record(tx, None, action, "user", &user.id, &json!({}), "cli", &at)?;
        Ok(())
    })
    .await
}

pub async fn revoke_keys(db: &Db, clock: &Clock, email: &str) -> DomainResult<usize> {
    let email = email.trim().to_lowercase();
    let clock = clock.clone();
    db.write(move |tx| {
        let user = user_by_email(tx, &email)?;
        let now = clock.now_string();
        let n = api_keys::revoke_all_for_user(tx, &user.id, "revoked by operator", &now)?;
        admin::record(
            tx,
            None,
            "revoke_keys",
            "user",
            &user.id,
            &json!({"revoked": n}),
            "cli",
            &now,
        )?;
        Ok(n)
    })
    .await
}

pub async fn list_users(db: &Db) -> DomainResult<Vec<users::User>> {
    Ok(db.read(users::list).await?)
}
