//! Operator actions for the `sessionfs-server admin …` command line: create accounts, set
//! tiers (tier `admin` makes a platform admin), disable and enable accounts, revoke keys —
//! without SQL, on a data dir the server may be serving. Each action is written to the admin
//! audit log with source `cli`.

use serde_json::json;

use crate::auth::keys::new_id;
use crate::clock::Clock;
use crate::db::{admin, api_keys, users, Db};
use crate::domain::accounts::normalize_email;
use crate::domain::keys::{mint, KeyKind, KeySpec, MintedKey};
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
        let minted = mint(
            tx,
            &KeySpec {
                user_id: &user_id,
                name: Some("default"),
                expires_at: None,
                created_by: None,
                kind: KeyKind::User { with_prefix: true },
                created_at: &now,
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
        Ok((user_id, minted.raw))
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
    set_active_by(db, clock, email, active, None, "cli").await
}

/// [`set_active`] by a named platform admin from `source` (`cli`, `dashboard`), as audited.
/// Disabling a user ends their browser sessions (V12 trigger) and every key stops working.
pub async fn set_active_by(
    db: &Db,
    clock: &Clock,
    email: &str,
    active: bool,
    actor: Option<String>,
    source: &'static str,
) -> DomainResult<()> {
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
        admin::record(
            tx,
            actor.as_deref(),
            action,
            "user",
            &user.id,
            &json!({}),
            source,
            &at,
        )?;
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

/// Lost-key recovery by a platform admin: a user key for an active user, written to the admin
/// audit log in the same transaction. Returns the key and the user's email.
pub async fn mint_for_user(
    db: &Db,
    clock: &Clock,
    admin_id: &str,
    user_id: &str,
    name: Option<String>,
) -> DomainResult<(MintedKey, String)> {
    let name = name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "admin-minted".into());
    if name.chars().count() > 255 {
        return Err(DomainError::Invalid {
            loc: vec!["body", "name"],
            message: "name must be at most 255 characters".into(),
            input: name.into(),
        });
    }
    let (admin_id, user_id, now) = (
        admin_id.to_string(),
        user_id.to_string(),
        clock.now_string(),
    );
    db.write(move |tx| {
        let user = users::get(tx, &user_id)?
            .ok_or_else(|| DomainError::NotFound("User not found".into()))?;
        if !user.is_active {
            return Err(DomainError::Forbidden(
                "Cannot mint key for inactive user".into(),
            ));
        }
        let minted = mint(
            tx,
            &KeySpec {
                user_id: &user.id,
                name: Some(&name),
                expires_at: None,
                created_by: Some(&admin_id),
                kind: KeyKind::User { with_prefix: true },
                created_at: &now,
            },
        )?;
        admin::record(
            tx,
            Some(&admin_id),
            "mint_api_key_on_behalf",
            "user",
            &user.id,
            &json!({"key_id": minted.key.id, "name": name}),
            "api",
            &now,
        )?;
        Ok((minted, user.email))
    })
    .await
}

pub async fn list_users(db: &Db) -> DomainResult<Vec<users::User>> {
    Ok(db.read(users::list).await?)
}

// ---------------------------------------------------------------------------------------------
// Platform admins over HTTP (03 §4.3) and the dashboard's users page: the same functions.

/// Largest page of the admin users list.
pub const MAX_USERS_PAGE: i64 = 200;
/// Longest reason an admin may give, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// One user in the admin list, with their live session count.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub user: users::User,
    pub session_count: i64,
}

/// A page of users matching `filter`, newest first, and how many match in all.
pub async fn users_page(
    db: &Db,
    filter: users::UserFilter,
    page: i64,
    page_size: i64,
) -> DomainResult<(i64, Vec<UserSummary>)> {
    let page_size = page_size.clamp(1, MAX_USERS_PAGE);
    let offset = (page.max(1) - 1) * page_size;
    Ok(db
        .read(move |conn| {
            let total = users::count_filtered(conn, &filter)?;
            let rows = users::page_filtered(conn, &filter, page_size, offset)?;
            Ok::<_, crate::db::DbError>((
                total,
                rows.into_iter()
                    .map(|(user, session_count)| UserSummary {
                        user,
                        session_count,
                    })
                    .collect(),
            ))
        })
        .await?)
}

/// A user with what they hold.
#[derive(Debug, Clone)]
pub struct UserDetail {
    pub user: users::User,
    pub session_count: i64,
    pub storage_used_bytes: i64,
    pub api_key_count: i64,
}

fn user_not_found() -> DomainError {
    DomainError::NotFound("User not found".into())
}

pub async fn user_detail(db: &Db, user_id: String) -> DomainResult<UserDetail> {
    db.read(move |conn| {
        let user = users::get(conn, &user_id)?.ok_or_else(user_not_found)?;
        let (session_count, storage_used_bytes, api_key_count) = users::usage(conn, &user.id)?;
        Ok(UserDetail {
            user,
            session_count,
            storage_used_bytes,
            api_key_count,
        })
    })
    .await
}

/// An admin's optional reason: trimmed, blank is none, at most [`MAX_REASON_CHARS`] (422).
pub fn clean_reason(reason: Option<String>) -> DomainResult<Option<String>> {
    let Some(reason) = reason.map(|r| r.trim().to_string()) else {
        return Ok(None);
    };
    if reason.is_empty() {
        return Ok(None);
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(DomainError::Unprocessable(format!(
            "reason must be at most {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(Some(reason))
}

/// The tiers an admin may set over HTTP, sorted (the reference's listing).
pub const TIERS: [&str; 6] = ["admin", "enterprise", "free", "pro", "starter", "team"];

/// A tier change by platform admin `admin_id` (from `source`: `api`, `dashboard`), audited as
/// `tier_change` with the reason in the same transaction. An admin cannot demote themselves.
/// Returns `(old_tier, new_tier)`.
pub async fn change_tier(
    db: &Db,
    clock: &Clock,
    admin_id: &str,
    user_id: &str,
    tier: &str,
    reason: Option<String>,
    source: &'static str,
) -> DomainResult<(String, String)> {
    if !TIERS.contains(&tier) {
        return Err(DomainError::Malformed(format!(
            "Invalid tier. Must be one of: {}",
            TIERS.join(", ")
        )));
    }
    let reason = clean_reason(reason)?;
    if user_id == admin_id && tier != "admin" {
        return Err(DomainError::Malformed(
            "Cannot demote your own admin account".into(),
        ));
    }
    let (admin_id, user_id, tier, now) = (
        admin_id.to_string(),
        user_id.to_string(),
        tier.to_string(),
        clock.now_string(),
    );
    db.write(move |tx| {
        let user = users::get(tx, &user_id)?.ok_or_else(user_not_found)?;
        users::set_tier(tx, &user.id, &tier)?;
        admin::record_with_reason(
            tx,
            Some(&admin_id),
            "tier_change",
            "user",
            &user.id,
            &json!({"old_tier": user.tier, "new_tier": tier}),
            reason.as_deref(),
            source,
            &now,
        )?;
        Ok((user.tier, tier))
    })
    .await
}

/// Enables or disables a user by id, by platform admin `admin_id` (an admin cannot disable
/// themselves), audited as `enable_user` / `disable_user`. Disabling ends the user's browser
/// sessions (V12 trigger) and every key of theirs stops working. Returns the user.
pub async fn set_active_by_id(
    db: &Db,
    clock: &Clock,
    admin_id: &str,
    user_id: &str,
    active: bool,
    reason: Option<String>,
    source: &'static str,
) -> DomainResult<users::User> {
    let reason = clean_reason(reason)?;
    if user_id == admin_id && !active {
        return Err(DomainError::Malformed(
            "Cannot disable your own account".into(),
        ));
    }
    let (admin_id, user_id, now) = (
        admin_id.to_string(),
        user_id.to_string(),
        clock.now_string(),
    );
    db.write(move |tx| {
        let mut user = users::get(tx, &user_id)?.ok_or_else(user_not_found)?;
        users::set_active(tx, &user.id, active)?;
        let action = if active {
            "enable_user"
        } else {
            "disable_user"
        };
        admin::record_with_reason(
            tx,
            Some(&admin_id),
            action,
            "user",
            &user.id,
            &json!({"email": user.email}),
            reason.as_deref(),
            source,
            &now,
        )?;
        user.is_active = active;
        Ok(user)
    })
    .await
}
