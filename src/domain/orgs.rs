//! Organizations: creation, invites (with UPSERT over stale rows), membership and roles.
//!
//! Roles: owner > admin > member; "admin" checks accept the owner too. Every org has exactly
//! one owner, always: the owner's role cannot be changed by a role change and the owner cannot
//! be removed, so no sequence of calls leaves an org without one.

use chrono::Duration;

use crate::auth::keys::random_hex;
use crate::clock::{self, Clock, Timestamp};
use crate::db::orgs::{self, Invite, Org, OrgRole};
use crate::db::users::{self, User};
use crate::db::Db;
use crate::domain::{DomainError, DomainResult};

/// Days an invite stays valid after it is created or re-sent as a new invite.
pub const INVITE_DAYS: i64 = 7;
const GIB: i64 = 1024 * 1024 * 1024;

pub fn is_admin_role(role: OrgRole) -> bool {
    role.is_admin()
}

/// The contract's 403 for a caller without the admin role in their primary org.
pub fn insufficient_role(current: Option<OrgRole>) -> DomainError {
    DomainError::InsufficientRole {
        current: current.map(|r| r.to_string()),
    }
}

pub fn valid_slug(slug: &str) -> bool {
    let n = slug.chars().count();
    (3..=100).contains(&n)
        && slug
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_lowercase() || b.is_ascii_digit() || (b == b'-' && i > 0))
}

/// Creates an org with the caller as its owner.
pub async fn create(
    db: &Db,
    clock: &Clock,
    user: &User,
    name: String,
    slug: String,
) -> DomainResult<Org> {
    let user = user.clone();
    let clock = clock.clone();
    db.write(move |tx| {
        if !orgs::memberships(tx, &user.id)?.is_empty() {
            return Err(DomainError::Conflict(
                "You are already a member of an organization".into(),
            ));
        }
        let tier = match user.tier.as_str() {
            "team" => "team",
            "enterprise" | "admin" => "enterprise",
            _ => {
                return Err(DomainError::Forbidden(
                    "Organizations require Team tier or above.".into(),
                ))
            }
        };
        if orgs::slug_taken(tx, &slug)? {
            return Err(DomainError::Conflict(format!(
                "Organization slug '{slug}' is already taken"
            )));
        }
        let seats = if tier == "enterprise" { 25 } else { 5 };
        let now = clock.now_string();
        let org = Org {
            id: format!("org_{}", random_hex(8)),
            name,
            slug,
            tier: tier.to_string(),
            seats_limit: seats,
            storage_limit_bytes: if tier == "enterprise" { 0 } else { seats * GIB },
            created_at: now.clone(),
        };
        orgs::insert_org(tx, &org)?;
        orgs::add_member(tx, &org.id, &user.id, OrgRole::Owner, None, None, &now)?;
        Ok(org)
    })
    .await
}

fn seat_limit(conn: &rusqlite::Connection, org: &Org) -> DomainResult<()> {
    let used = orgs::count_members(conn, &org.id)?;
    if used >= org.seats_limit {
        return Err(DomainError::SeatLimit {
            used,
            limit: org.seats_limit,
        });
    }
    Ok(())
}

fn invite_is_active(inv: &Invite, now: Timestamp) -> bool {
    inv.accepted_at.is_none()
        && inv.declined_at.is_none()
        && clock::parse(&inv.expires_at).is_some_and(|t| t > now)
}

/// Which of the two invite routes is asking (their messages differ slightly).
#[derive(Clone, Copy, PartialEq)]
pub enum InvitePath {
    /// `POST /org/invite`: the caller's primary org.
    Primary,
    /// `POST /orgs/{org_id}/invite` and `/orgs/{org_id}/members/invite`.
    Named,
}

/// Invites an address (new row, or a stale row refreshed with a new id). Returns the invite and
/// its org. The caller's admin standing is checked by the caller of this function.
pub async fn invite(
    db: &Db,
    clock: &Clock,
    org_id: &str,
    inviter: &User,
    email: String,
    role: String,
    path: InvitePath,
) -> DomainResult<(Invite, Org)> {
    let (org_id, inviter_id) = (org_id.to_string(), inviter.id.clone());
    let clock = clock.clone();
    db.write(move |tx| {
        let now = clock.now();
        let org = orgs::get_org(tx, &org_id)?
            .ok_or_else(|| DomainError::NotFound("Org not found".into()))?;
        seat_limit(tx, &org)?;
        let existing = orgs::invite_for_email(tx, &org.id, &email)?;
        if existing.as_ref().is_some_and(|e| invite_is_active(e, now)) {
            return Err(DomainError::Conflict(
                "An active invite already exists for this email".into(),
            ));
        }
        if let Some(user) = users::find_by_email(tx, &email)? {
            if orgs::role_in(tx, &org.id, &user.id)?.is_some() {
                return Err(DomainError::Conflict(
                    match path {
                        InvitePath::Primary => "This user is already a member of your organization",
                        InvitePath::Named => "This user is already a member",
                    }
                    .into(),
                ));
            }
        }
        let inv = Invite {
            id: format!("inv_{}", random_hex(8)),
            org_id: org.id.clone(),
            email,
            role,
            invited_by: Some(inviter_id),
            created_at: existing
                .as_ref()
                .map(|e| e.created_at.clone())
                .unwrap_or_else(|| clock::format(now)),
            expires_at: clock::format(now + Duration::days(INVITE_DAYS)),
            accepted_at: None,
            declined_at: None,
            last_emailed_at: None,
        };
        orgs::upsert_invite(tx, &inv, existing.as_ref().map(|e| e.id.as_str()))?;
        Ok((inv, org))
    })
    .await
}

/// Checks shared by accept and decline, in the contract's order.
fn open_invite_for(
    conn: &rusqlite::Connection,
    invite_id: &str,
    user: &User,
    accepting: bool,
    now: Timestamp,
) -> DomainResult<Invite> {
    let inv = orgs::invite(conn, invite_id)?
        .ok_or_else(|| DomainError::NotFound("Invite not found".into()))?;
    if inv.accepted_at.is_some() {
        return Err(DomainError::Malformed("Invite already accepted".into()));
    }
    if inv.declined_at.is_some() {
        return Err(DomainError::Malformed(
            if accepting {
                "Invite was declined"
            } else {
                "Invite already declined"
            }
            .into(),
        ));
    }
    if clock::parse(&inv.expires_at).is_none_or(|t| t <= now) {
        return Err(DomainError::Malformed("Invite has expired".into()));
    }
    if !inv.email.eq_ignore_ascii_case(&user.email) {
        return Err(DomainError::Forbidden(
            "This invite is for a different email address".into(),
        ));
    }
    Ok(inv)
}

pub async fn accept(
    db: &Db,
    clock: &Clock,
    user: &User,
    invite_id: &str,
) -> DomainResult<(String, String)> {
    let (user, invite_id, clock) = (user.clone(), invite_id.to_string(), clock.clone());
    db.write(move |tx| {
        let at = clock.now();
        let inv = open_invite_for(tx, &invite_id, &user, true, at)?;
        if !user.is_active {
            return Err(DomainError::Forbidden("Account is inactive".into()));
        }
        if !orgs::memberships(tx, &user.id)?.is_empty() {
            return Err(DomainError::Conflict(
                "You are already a member of an organization".into(),
            ));
        }
        let org = orgs::get_org(tx, &inv.org_id)?
            .ok_or_else(|| DomainError::NotFound("Invite not found".into()))?;
        seat_limit(tx, &org)?;
        let now = clock::format(at);
        if !orgs::accept_invite(tx, &inv.id, &now)? {
            return Err(DomainError::Conflict(
                "Invite state changed concurrently; reload and retry".into(),
            ));
        }
        orgs::add_member(
            tx,
            &org.id,
            &user.id,
            inv.role.parse().unwrap_or(OrgRole::Member),
            inv.invited_by.as_deref(),
            Some(&inv.created_at),
            &now,
        )?;
        Ok((org.id, inv.role))
    })
    .await
}

pub async fn decline(
    db: &Db,
    clock: &Clock,
    user: &User,
    invite_id: &str,
    reason: Option<String>,
) -> DomainResult<(String, String)> {
    let (user, invite_id, clock) = (user.clone(), invite_id.to_string(), clock.clone());
    db.write(move |tx| {
        let at = clock.now();
        let inv = open_invite_for(tx, &invite_id, &user, false, at)?;
        let now = clock::format(at);
        if !orgs::decline_invite(tx, &inv.id, reason.as_deref(), &now)? {
            return Err(DomainError::Conflict(
                "Invite state changed concurrently; reload and retry".into(),
            ));
        }
        Ok((inv.id, now))
    })
    .await
}

/// Changes a member's role between admin and member. The owner's role never changes here.
pub async fn change_role(
    db: &Db,
    org_id: &str,
    actor: &User,
    target: &str,
    role: String,
) -> DomainResult<()> {
    let role = match role.parse::<OrgRole>() {
        Ok(OrgRole::Owner) => {
            return Err(DomainError::Malformed(
                "Ownership cannot be given by a role change".into(),
            ))
        }
        Ok(role) => role,
        Err(_) => {
            return Err(DomainError::Malformed(
                "Role must be 'admin' or 'member'".into(),
            ))
        }
    };
    let (org_id, actor, target) = (org_id.to_string(), actor.id.clone(), target.to_string());
    db.write(move |tx| {
        let current = orgs::role_in(tx, &org_id, &target)?
            .ok_or_else(|| DomainError::NotFound("Member not found in this org".into()))?;
        if current == OrgRole::Owner {
            return Err(DomainError::Forbidden(
                "The owner's role cannot be changed; the org must keep its owner".into(),
            ));
        }
        if target == actor {
            return Err(DomainError::Malformed("Cannot change your own role".into()));
        }
        if current == OrgRole::Admin
            && role == OrgRole::Member
            && orgs::count_administrators(tx, &org_id)? <= 1
        {
            return Err(DomainError::Malformed(
                "Cannot demote the last administrator of the org".into(),
            ));
        }
        orgs::set_role(tx, &org_id, &target, role)?;
        Ok(())
    })
    .await
}

/// Removes a member (not the owner, not oneself). Their sessions stay theirs.
pub async fn remove_member(db: &Db, org_id: &str, actor: &User, target: &str) -> DomainResult<()> {
    let (org_id, actor, target) = (org_id.to_string(), actor.id.clone(), target.to_string());
    db.write(move |tx| {
        let current = orgs::role_in(tx, &org_id, &target)?
            .ok_or_else(|| DomainError::NotFound("Member not found in this org".into()))?;
        if current == OrgRole::Owner {
            return Err(DomainError::Conflict(
                "The owner cannot be removed from the org".into(),
            ));
        }
        if target == actor {
            return Err(DomainError::Malformed(
                "Cannot remove yourself from the org".into(),
            ));
        }
        if current.is_admin() && orgs::count_administrators(tx, &org_id)? <= 1 {
            return Err(DomainError::Malformed(
                "Cannot remove the last administrator; promote another member first".into(),
            ));
        }
        orgs::remove_member(tx, &org_id, &target)?;
        Ok(())
    })
    .await
}

/// The members of an org.
pub async fn members(db: &Db, org_id: &str) -> DomainResult<Vec<orgs::Member>> {
    let org_id = org_id.to_string();
    Ok(db.read(move |conn| orgs::members(conn, &org_id)).await?)
}

/// An invite of the org that may be mailed again: not accepted, declined or expired.
pub async fn resendable_invite(
    db: &Db,
    clock: &Clock,
    org_id: &str,
    invite_id: &str,
) -> DomainResult<Invite> {
    let (org_id, invite_id, now) = (org_id.to_string(), invite_id.to_string(), clock.now());
    db.read(move |conn| {
        let inv = orgs::invite(conn, &invite_id)?
            .filter(|i| i.org_id == org_id)
            .ok_or_else(|| DomainError::NotFound("Invite not found".into()))?;
        if inv.accepted_at.is_some() {
            return Err(DomainError::Conflict("Invite already accepted".into()));
        }
        if inv.declined_at.is_some() {
            return Err(DomainError::Conflict("Invite was declined".into()));
        }
        if clock::parse(&inv.expires_at).is_none_or(|t| t <= now) {
            return Err(DomainError::Conflict(
                "Invite expired — create a fresh invite instead of resending".into(),
            ));
        }
        Ok(inv)
    })
    .await
}

/// Deletes an invite of the org (404 when there is none).
pub async fn delete_invite(db: &Db, org_id: &str, invite_id: &str) -> DomainResult<()> {
    let (org_id, id) = (org_id.to_string(), invite_id.to_string());
    if db
        .write(move |tx| orgs::delete_invite(tx, &org_id, &id))
        .await?
    {
        Ok(())
    } else {
        Err(DomainError::NotFound("Invite not found".into()))
    }
}

/// Records that an invite was mailed.
pub async fn mark_emailed(db: &Db, clock: &Clock, invite_id: &str) -> DomainResult<()> {
    let (id, now) = (invite_id.to_string(), clock.now_string());
    db.write(move |tx| orgs::mark_emailed(tx, &id, &now))
        .await?;
    Ok(())
}

/// Chooses the user's default org (one they are a member of), or clears it.
pub async fn set_default_org(db: &Db, user_id: &str, org_id: Option<String>) -> DomainResult<()> {
    let user_id = user_id.to_string();
    db.write(move |tx| {
        if let Some(org) = &org_id {
            if orgs::role_in(tx, org, &user_id)?.is_none() {
                return Err(DomainError::Forbidden(
                    "You are not a member of that org".into(),
                ));
            }
        }
        Ok(orgs::set_default_org(tx, &user_id, org_id.as_deref())?)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(valid_slug("acme"));
        assert!(valid_slug("acme-2"));
        assert!(!valid_slug("ac"));
        assert!(!valid_slug("-acme"));
        assert!(!valid_slug("Acme"));
        assert!(!valid_slug("acme_co"));
    }
}
