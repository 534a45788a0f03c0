//! The `organizations`, `org_members` and `org_invites` tables.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::DbResult;

/// A member's role in an org: owner > admin > member. Stored as its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrgRole {
    Member,
    Admin,
    Owner,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Member => "member",
            OrgRole::Admin => "admin",
            OrgRole::Owner => "owner",
        }
    }

    /// Admin checks accept the owner too.
    pub fn is_admin(self) -> bool {
        self >= OrgRole::Admin
    }
}

impl std::fmt::Display for OrgRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OrgRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "member" => Ok(OrgRole::Member),
            "admin" => Ok(OrgRole::Admin),
            "owner" => Ok(OrgRole::Owner),
            other => Err(format!("unknown org role '{other}'")),
        }
    }
}

impl rusqlite::types::ToSql for OrgRole {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for OrgRole {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|e: String| rusqlite::types::FromSqlError::Other(e.into()))
    }
}

#[derive(Debug, Clone)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub tier: String,
    pub seats_limit: i64,
    pub storage_limit_bytes: i64,
    pub created_at: String,
}

const ORG_COLUMNS: &str =
    "o.id, o.name, o.slug, o.tier, o.seats_limit, o.storage_limit_bytes, o.created_at";

fn org_from_row(r: &Row) -> rusqlite::Result<Org> {
    Ok(Org {
        id: r.get(0)?,
        name: r.get(1)?,
        slug: r.get(2)?,
        tier: r.get(3)?,
        seats_limit: r.get(4)?,
        storage_limit_bytes: r.get(5)?,
        created_at: r.get(6)?,
    })
}

pub fn insert_org(conn: &Connection, org: &Org) -> DbResult<()> {
    conn.execute(
        "INSERT INTO organizations (id, name, slug, tier, seats_limit, storage_limit_bytes, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![org.id, org.name, org.slug, org.tier, org.seats_limit, org.storage_limit_bytes, org.created_at],
    )?;
    Ok(())
}

pub fn get_org(conn: &Connection, id: &str) -> DbResult<Option<Org>> {
    let sql = format!("SELECT {ORG_COLUMNS} FROM organizations o WHERE o.id = ?1");
    Ok(conn.query_row(&sql, [id], org_from_row).optional()?)
}

pub fn slug_taken(conn: &Connection, slug: &str) -> DbResult<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM organizations WHERE slug = ?1",
            [slug],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// A user's membership with its org.
#[derive(Debug, Clone)]
pub struct Membership {
    pub org: Org,
    pub role: OrgRole,
    pub joined_at: String,
}

/// The user's primary org: the one named by `users.default_org_id`, else the earliest joined.
pub fn primary_membership(conn: &Connection, user_id: &str) -> DbResult<Option<Membership>> {
    let sql = format!(
        "SELECT {ORG_COLUMNS}, m.role, m.joined_at FROM org_members m
         JOIN organizations o ON o.id = m.org_id
         JOIN users u ON u.id = m.user_id
         WHERE m.user_id = ?1
         ORDER BY (u.default_org_id IS NOT NULL AND u.default_org_id = m.org_id) DESC, m.joined_at, m.org_id
         LIMIT 1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([user_id], |r| {
            Ok(Membership {
                org: org_from_row(r)?,
                role: r.get(7)?,
                joined_at: r.get(8)?,
            })
        })
        .optional()?)
}

/// Every membership of the user, by org name.
pub fn memberships(conn: &Connection, user_id: &str) -> DbResult<Vec<Membership>> {
    let sql = format!(
        "SELECT {ORG_COLUMNS}, m.role, m.joined_at FROM org_members m JOIN organizations o ON o.id = m.org_id
         WHERE m.user_id = ?1 ORDER BY o.name, o.id"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(Membership {
            org: org_from_row(r)?,
            role: r.get(7)?,
            joined_at: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn role_in(conn: &Connection, org_id: &str, user_id: &str) -> DbResult<Option<OrgRole>> {
    Ok(conn
        .query_row(
            "SELECT role FROM org_members WHERE org_id = ?1 AND user_id = ?2",
            params![org_id, user_id],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn add_member(
    conn: &Connection,
    org_id: &str,
    user_id: &str,
    role: OrgRole,
    invited_by: Option<&str>,
    invited_at: Option<&str>,
    joined_at: &str,
) -> DbResult<()> {
    conn.execute(
        "INSERT INTO org_members (org_id, user_id, role, invited_by, invited_at, joined_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![org_id, user_id, role, invited_by, invited_at, joined_at],
    )?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub role: String,
    pub joined_at: String,
}

pub fn members(conn: &Connection, org_id: &str) -> DbResult<Vec<Member>> {
    let mut stmt = conn.prepare(
        "SELECT m.user_id, u.email, u.display_name, m.role, m.joined_at FROM org_members m
         JOIN users u ON u.id = m.user_id WHERE m.org_id = ?1 ORDER BY m.joined_at, m.user_id",
    )?;
    let rows = stmt.query_map([org_id], |r| {
        Ok(Member {
            user_id: r.get(0)?,
            email: r.get(1)?,
            display_name: r.get(2)?,
            role: r.get(3)?,
            joined_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn count_members(conn: &Connection, org_id: &str) -> DbResult<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM org_members WHERE org_id = ?1",
        [org_id],
        |r| r.get(0),
    )?)
}

/// Owners plus admins: who can still administer the org.
pub fn count_administrators(conn: &Connection, org_id: &str) -> DbResult<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM org_members WHERE org_id = ?1 AND role IN ('owner', 'admin')",
        [org_id],
        |r| r.get(0),
    )?)
}

pub fn set_role(conn: &Connection, org_id: &str, user_id: &str, role: OrgRole) -> DbResult<()> {
    conn.execute(
        "UPDATE org_members SET role = ?3 WHERE org_id = ?1 AND user_id = ?2",
        params![org_id, user_id, role],
    )?;
    Ok(())
}

/// Removes a member; clears their default org if it pointed here.
pub fn remove_member(conn: &Connection, org_id: &str, user_id: &str) -> DbResult<()> {
    conn.execute(
        "DELETE FROM org_members WHERE org_id = ?1 AND user_id = ?2",
        params![org_id, user_id],
    )?;
    conn.execute(
        "UPDATE users SET default_org_id = NULL WHERE id = ?1 AND default_org_id = ?2",
        params![user_id, org_id],
    )?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Invite {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub role: String,
    pub invited_by: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub accepted_at: Option<String>,
    pub declined_at: Option<String>,
    pub last_emailed_at: Option<String>,
}

const INVITE_COLUMNS: &str =
    "i.id, i.org_id, i.email, i.role, i.invited_by, i.created_at, i.expires_at, i.accepted_at, i.declined_at, i.last_emailed_at";

fn invite_from_row(r: &Row) -> rusqlite::Result<Invite> {
    Ok(Invite {
        id: r.get(0)?,
        org_id: r.get(1)?,
        email: r.get(2)?,
        role: r.get(3)?,
        invited_by: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        accepted_at: r.get(7)?,
        declined_at: r.get(8)?,
        last_emailed_at: r.get(9)?,
    })
}

pub fn invite(conn: &Connection, id: &str) -> DbResult<Option<Invite>> {
    let sql = format!("SELECT {INVITE_COLUMNS} FROM org_invites i WHERE i.id = ?1");
    Ok(conn.query_row(&sql, [id], invite_from_row).optional()?)
}

pub fn invite_for_email(conn: &Connection, org_id: &str, email: &str) -> DbResult<Option<Invite>> {
    let sql =
        format!("SELECT {INVITE_COLUMNS} FROM org_invites i WHERE i.org_id = ?1 AND i.email = ?2");
    Ok(conn
        .query_row(&sql, params![org_id, email], invite_from_row)
        .optional()?)
}

/// Writes an invite for (org, email): a new row, or the stale row refreshed in place with a new
/// id (old links stop working) while its `created_at` is kept.
pub fn upsert_invite(conn: &Connection, inv: &Invite, replacing: Option<&str>) -> DbResult<()> {
    match replacing {
        Some(old_id) => conn.execute(
            "UPDATE org_invites SET id = ?2, role = ?3, invited_by = ?4, expires_at = ?5, accepted_at = NULL,
                    declined_at = NULL, decline_reason = NULL, last_emailed_at = NULL
             WHERE id = ?1",
            params![old_id, inv.id, inv.role, inv.invited_by, inv.expires_at],
        )?,
        None => conn.execute(
            "INSERT INTO org_invites (id, org_id, email, role, invited_by, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![inv.id, inv.org_id, inv.email, inv.role, inv.invited_by, inv.created_at, inv.expires_at],
        )?,
    };
    Ok(())
}

/// Active (not accepted, not declined, not expired) invites of an org, oldest first.
pub fn active_invites(conn: &Connection, org_id: &str, now: &str) -> DbResult<Vec<Invite>> {
    let sql = format!(
        "SELECT {INVITE_COLUMNS} FROM org_invites i WHERE i.org_id = ?1 AND i.accepted_at IS NULL
         AND i.declined_at IS NULL AND i.expires_at > ?2 ORDER BY i.created_at, i.id"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![org_id, now], invite_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Active invites addressed to an email, newest first, with the org's name and inviter's email.
pub fn invites_for_me(
    conn: &Connection,
    email: &str,
    now: &str,
) -> DbResult<Vec<(Invite, String, Option<String>)>> {
    let sql = format!(
        "SELECT {INVITE_COLUMNS}, o.name, u.email FROM org_invites i
         JOIN organizations o ON o.id = i.org_id LEFT JOIN users u ON u.id = i.invited_by
         WHERE i.email = ?1 AND i.accepted_at IS NULL AND i.declined_at IS NULL AND i.expires_at > ?2
         ORDER BY i.created_at DESC, i.id"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![email, now], |r| {
        Ok((invite_from_row(r)?, r.get(10)?, r.get(11)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Marks an invite accepted if it is still open; `false` when it changed meanwhile.
pub fn accept_invite(conn: &Connection, id: &str, at: &str) -> DbResult<bool> {
    let n = conn.execute(
        "UPDATE org_invites SET accepted_at = ?2 WHERE id = ?1 AND accepted_at IS NULL AND declined_at IS NULL",
        params![id, at],
    )?;
    Ok(n == 1)
}

pub fn decline_invite(
    conn: &Connection,
    id: &str,
    reason: Option<&str>,
    at: &str,
) -> DbResult<bool> {
    let n = conn.execute(
        "UPDATE org_invites SET declined_at = ?2, decline_reason = ?3
         WHERE id = ?1 AND accepted_at IS NULL AND declined_at IS NULL",
        params![id, at, reason],
    )?;
    Ok(n == 1)
}

pub fn delete_invite(conn: &Connection, org_id: &str, id: &str) -> DbResult<bool> {
    Ok(conn.execute(
        "DELETE FROM org_invites WHERE id = ?1 AND org_id = ?2",
        params![id, org_id],
    )? == 1)
}

pub fn mark_emailed(conn: &Connection, id: &str, at: &str) -> DbResult<()> {
    conn.execute(
        "UPDATE org_invites SET last_emailed_at = ?2 WHERE id = ?1",
        params![id, at],
    )?;
    Ok(())
}

pub fn set_default_org(conn: &Connection, user_id: &str, org_id: Option<&str>) -> DbResult<()> {
    conn.execute(
        "UPDATE users SET default_org_id = ?2 WHERE id = ?1",
        params![user_id, org_id],
    )?;
    Ok(())
}
